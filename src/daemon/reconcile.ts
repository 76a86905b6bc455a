/**
 * Whether a running node can move from one rendered config to another (mco.md §5.4 step 4,
 * `reconcilable`), and what the move changes (the diff flags the update logs). Pure: the
 * daemon refuses an unreconcilable change before it drains or writes anything.
 */
import type { MachineConfig } from '../api/machineconfig.js';
import { UnreconcilableError } from './errors.js';

/** What an update changes, as the original logs it (`Starting update from A to B: &{…}`). */
export interface ConfigDiff {
  osUpdate: boolean;
  kargs: boolean;
  fips: boolean;
  passwd: boolean;
  files: boolean;
  units: boolean;
  kernelType: boolean;
  extensions: boolean;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const section = (mc: MachineConfig | null, name: string): Record<string, unknown> => {
  const v = (mc?.spec.config as Record<string, unknown> | undefined)?.[name];
  return isObject(v) ? v : {};
};
const list = (obj: Record<string, unknown>, key: string): unknown[] => (Array.isArray(obj[key]) ? obj[key] : []);
const same = (a: unknown, b: unknown): boolean => JSON.stringify(a ?? null) === JSON.stringify(b ?? null);

/** The empty config an update starts from when the node has none (`mco-empty-mc`). */
export function emptyMachineConfig(): MachineConfig {
  return { apiVersion: 'machineconfiguration.openshift.io/v1', kind: 'MachineConfig', metadata: { name: 'mco-empty-mc' }, spec: { config: { ignition: { version: '3.1.0' } } } };
}

export function diffConfigs(oldMc: MachineConfig, newMc: MachineConfig): ConfigDiff {
  const o = oldMc.spec;
  const n = newMc.spec;
  return {
    osUpdate: (o.osImageURL ?? '') !== (n.osImageURL ?? ''),
    kargs: !same(o.kernelArguments ?? [], n.kernelArguments ?? []),
    fips: (o.fips ?? false) !== (n.fips ?? false),
    passwd: !same(section(oldMc, 'passwd'), section(newMc, 'passwd')),
    files: !same(list(section(oldMc, 'storage'), 'files'), list(section(newMc, 'storage'), 'files')),
    units: !same(list(section(oldMc, 'systemd'), 'units'), list(section(newMc, 'systemd'), 'units')),
    kernelType: (o.kernelType || 'default') !== (n.kernelType || 'default'),
    extensions: !same(o.extensions ?? [], n.extensions ?? []),
  };
}

/** `&{osUpdate:true kargs:false …}`, Go's `%+v` of the diff, as the update's first log line prints it. */
export const formatDiff = (d: ConfigDiff): string => `&{${Object.entries(d).map(([k, v]) => `${k}:${String(v)}`).join(' ')}}`;

/**
 * Throws an UnreconcilableError saying what cannot change on a running node; returns the diff
 * otherwise. The message is the original's (`ignition storage section contains changes`…).
 */
export function reconcilable(oldMc: MachineConfig, newMc: MachineConfig): ConfigDiff {
  const refuse = (why: string): never => {
    throw new UnreconcilableError(`can't reconcile config ${oldMc.metadata.name} with ${newMc.metadata.name}: ${why}`);
  };
  const oldPasswd = section(oldMc, 'passwd');
  const newPasswd = section(newMc, 'passwd');
  if (!same(list(oldPasswd, 'groups'), list(newPasswd, 'groups'))) refuse('ignition Passwd Groups section contains changes');
  const newUsers = list(newPasswd, 'users');
  if (!same(list(oldPasswd, 'users'), newUsers) && newUsers.length > 0) {
    for (const u of newUsers) {
      if (!isObject(u) || u['name'] !== 'core') refuse('ignition passwd user section contains unsupported changes: non-core user');
      const keys = (u as Record<string, unknown>)['sshAuthorizedKeys'];
      if (Object.keys(u as object).some((k) => k !== 'name' && k !== 'sshAuthorizedKeys')) refuse('ignition passwd user section contains unsupported changes: non-sshKey changes');
      if (!Array.isArray(keys) || keys.length === 0) refuse('ignition passwd user section contains unsupported changes: user must be core and have 1 or more sshKeys');
    }
  }
  const oldStorage = section(oldMc, 'storage');
  const newStorage = section(newMc, 'storage');
  for (const part of ['disks', 'filesystems', 'raid', 'directories']) {
    if (!same(list(oldStorage, part), list(newStorage, part))) refuse(`ignition ${part} section contains changes`);
  }
  const oldLinks = list(oldStorage, 'links').map((l) => JSON.stringify(l));
  if (list(newStorage, 'links').some((l) => !oldLinks.includes(JSON.stringify(l)))) refuse('ignition links section contains changes');
  for (const f of list(newStorage, 'files')) {
    const append = isObject(f) ? f['append'] : undefined;
    if (Array.isArray(append) ? append.length > 0 : append !== undefined && append !== null) refuse(`ignition file ${String((f as Record<string, unknown>)['path'])} includes append`);
  }
  const diff = diffConfigs(oldMc, newMc);
  if (diff.fips) refuse('detected change to FIPS flag; refusing to modify FIPS on a running cluster');
  // This host model has no realtime kernel or extension packages to layer.
  if (diff.kernelType) refuse(`spec.kernelType: changing the kernel type to "${newMc.spec.kernelType}" is not supported on this host`);
  if ((newMc.spec.extensions ?? []).length > 0 && diff.extensions) refuse(`spec.extensions: invalid extensions found: [${(newMc.spec.extensions ?? []).join(' ')}]`);
  return diff;
}

/**
 * `rpm-ostree kargs`: kernel arguments are per deployment, so changing them makes a new
 * deployment of the same commit (same origin) with the edited arguments, switched to
 * atomically like any deploy.
 */
import { keyOf } from './deploy-kargs.js';
import { deploy, type DeployResult } from './deploy.js';
import { loadSysroot, SysrootError } from './sysroot.js';
import type { CrashPoint } from './swap.js';
import type { KernelCmdlineReader } from './types.js';

export interface KargsEdit {
  append?: string[];
  delete?: string[];
  replace?: string[];
}

/** Applies deletions, replacements, then appends, with rpm-ostree's refusals. Pure. */
export function editKargs(current: readonly string[], edit: KargsEdit): string[] {
  let kargs = [...current];
  for (const del of edit.delete ?? []) {
    const matches = kargs.filter((a) => (del.includes('=') ? a === del : keyOf(a) === del));
    if (matches.length === 0) throw new SysrootError(`No karg '${del}' found`);
    if (matches.length > 1) throw new SysrootError(`Multiple values for key '${del}' found: use '${del}=VALUE' to say which`);
    kargs = kargs.filter((a) => a !== matches[0]);
  }
  for (const rep of edit.replace ?? []) {
    if (!rep.includes('=')) throw new SysrootError(`Invalid --replace '${rep}': expected KEY=VALUE`);
    const key = keyOf(rep);
    const matches = kargs.filter((a) => keyOf(a) === key);
    if (matches.length === 0) throw new SysrootError(`No karg with key '${key}' to replace`);
    if (matches.length > 1) throw new SysrootError(`Multiple values for key '${key}' found: delete the ones you don't want first`);
    kargs = kargs.map((a) => (a === matches[0] ? rep : a));
  }
  for (const add of edit.append ?? []) {
    if (kargs.includes(add)) throw new SysrootError(`Karg '${add}' already exists`);
    kargs.push(add);
  }
  return kargs;
}

export interface KargsOptions {
  readCmdline?: KernelCmdlineReader;
  crashPoint?: CrashPoint;
}

/** The kernel arguments of the booted deployment (offline: the default one). */
export async function currentKargs(sysroot: string, options: KargsOptions = {}): Promise<string[]> {
  const state = await loadSysroot(sysroot, options.readCmdline ? { readCmdline: options.readCmdline } : {});
  const base = state.booted ?? state.deployments[0];
  if (!base) throw new SysrootError(`No deployments in ${sysroot}`);
  return base.kargs;
}

/** Deploys the booted (offline: default) deployment's commit again with edited arguments. */
export async function changeKargs(sysroot: string, edit: KargsEdit, options: KargsOptions = {}): Promise<DeployResult> {
  const state = await loadSysroot(sysroot, options.readCmdline ? { readCmdline: options.readCmdline } : {});
  const base = state.booted ?? state.deployments[0];
  if (!base) throw new SysrootError(`No deployments in ${sysroot}`);
  return deploy(sysroot, base.checksum, {
    osname: base.osname,
    kargs: editKargs(base.kargs, edit),
    // As every rpm-ostree deployment: the booted one's rollback stays.
    retainRollback: true,
    ...(base.origin ? { origin: base.origin } : {}),
    ...(options.readCmdline ? { readCmdline: options.readCmdline } : {}),
    ...(options.crashPoint ? { crashPoint: options.crashPoint } : {}),
  });
}

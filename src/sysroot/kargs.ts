/**
 * `rpm-ostree kargs`: kernel arguments are per deployment, so changing them makes a new
 * deployment of the same commit (same origin) with the edited arguments, switched to
 * atomically like any deploy.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { atomicWrite } from '../ostree/repo.js';
import { blsEntryFileName, parseBlsEntry, serializeBlsEntry, splitKargs } from './bls.js';
import { deployKargs, keyOf, type DeployKargsEdit } from './deploy-kargs.js';
import { commitDeploymentList, deploy, type DeployResult, type ListWriteResult } from './deploy.js';
import { lockSysroot } from './lock.js';
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

/**
 * `ostree admin instutil set-kargs`: the default deployment keeps its directory and gets a boot
 * entry with new kernel arguments — none to start from, the merge of its own (`merge`), or a
 * command line — edited by `replace` and `append`, through a new bootversion as any list write.
 */
export async function setDefaultKargs(sysroot: string, edit: Omit<DeployKargsEdit, 'none' | 'delete'> & { merge?: boolean }, options: KargsOptions = {}): Promise<ListWriteResult> {
  const lock = lockSysroot(sysroot, 'instutil set-kargs');
  try {
    const state = await loadSysroot(sysroot, options.readCmdline ? { readCmdline: options.readCmdline } : {});
    const [first, ...rest] = state.deployments;
    if (!first) throw new SysrootError('Unable to find a deployment in sysroot');
    const { merge, ...kargsEdit } = edit;
    const base = merge && edit.procCmdline === undefined ? first.kargs : null;
    const kargs = deployKargs(base, { ...kargsEdit, none: base === null && edit.procCmdline === undefined }) ?? [...first.kargs];
    return await commitDeploymentList(state, [{ ...first, kargs }, ...rest], { keepStaged: true, ...(options.crashPoint ? { crashPoint: options.crashPoint } : {}) });
  } finally {
    lock.release();
  }
}

/**
 * `ostree admin kargs edit-in-place --append-if-missing=ARG…`: each boot entry of the current
 * bootversion gets each ARG whose key it lacks, rewritten in place (each file replaced
 * atomically; no new bootversion). Returns the entry files rewritten.
 */
export async function appendKargsInPlace(sysroot: string, args: readonly string[]): Promise<string[]> {
  const lock = lockSysroot(sysroot, 'kargs edit-in-place');
  try {
    const state = await loadSysroot(sysroot);
    if (state.deployments.length === 0) throw new SysrootError('Unable to find a deployment in sysroot');
    const dir = join(sysroot, 'boot', `loader.${state.bootversion}`, 'entries');
    const written: string[] = [];
    for (const [index, d] of state.deployments.entries()) {
      const file = join(dir, blsEntryFileName(state.deployments.length - index, d.osname));
      const entry = parseBlsEntry(readFileSync(file, 'utf8'));
      const kargs = splitKargs(entry.fields.get('options') ?? '');
      for (const arg of args) if (!kargs.some((a) => keyOf(a) === keyOf(arg))) kargs.push(arg);
      entry.fields.set('options', kargs.join(' '));
      await atomicWrite(file, dir, serializeBlsEntry(entry), 0o644);
      written.push(file);
    }
    return written;
  } finally {
    lock.release();
  }
}

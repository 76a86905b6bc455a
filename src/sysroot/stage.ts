/**
 * Staged deployments (ostree.md §4.11): `deploy --stage` checks the new deployment out now and
 * records it in `run/ostree/staged-deployment`; nothing about the boot changes until
 * `finalize-staged` (run at shutdown, or by the lab's "reboot") merges /etc and switches the
 * boot entries. A crash anywhere before that switch leaves the node booting what it booted.
 */
import { existsSync, mkdirSync, rmSync, utimesSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { serialize, type GValue, type Variant } from '../ostree/gvariant.js';
import { atomicWrite } from '../ostree/repo.js';
import { cleanupSysroot, type CleanupResult } from './cleanup.js';
import { commitDeploymentList, makeImmutable, prepareDeployment, retainedDeployments, type DeployOptions } from './deploy.js';
import { mergeEtc, removeUpdatedStamps } from './etc-merge.js';
import { lockSysroot } from './lock.js';
import { loadSysroot, readStagedDeployment, SysrootError, stagedDeploymentPath, type StagedDeploymentFile } from './sysroot.js';
import { ostreeKargFor, type CrashPoint } from './swap.js';
import { deploymentPath, type Deployment, type KernelCmdlineReader, type SysrootState } from './types.js';

/** `run/ostree/staged-deployment-locked`: while it exists, finalization is refused. */
export const stagedLockPath = (sysroot: string): string => join(sysroot, 'run', 'ostree', 'staged-deployment-locked');

/** `boot/ostree/finalize-failure.stamp`: why the last finalization failed, as libostree keeps it. */
export const finalizeFailureStampPath = (sysroot: string): string => join(sysroot, 'boot', 'ostree', 'finalize-failure.stamp');

const deploymentVariant = (d: Pick<Deployment, 'osname' | 'checksum' | 'serial' | 'bootcsum'>): Variant => ({
  type: 'a{sv}',
  value: [
    ['name', { type: 's', value: `${d.checksum}.${d.serial}` }],
    ['osname', { type: 's', value: d.osname }],
    ['bootcsum', { type: 's', value: d.bootcsum }],
  ],
});

/**
 * The bytes of `run/ostree/staged-deployment`, keys in libostree's order. `kargs` only when
 * the caller set arguments; finalization otherwise takes the merge deployment's.
 */
export function serializeStagedDeployment(target: Deployment, merge: Deployment | null, kargs: string[] | null): Buffer {
  const entries: [string, Variant][] = [['target', deploymentVariant(target)]];
  if (merge) entries.push(['merge-deployment', deploymentVariant(merge)]);
  if (kargs) entries.push(['kargs', { type: 'as', value: kargs }]);
  return serialize('a{sv}', entries as GValue);
}

/**
 * Records `target` as the staged deployment (written atomically, then the mtime of
 * `ostree/deploy` bumped as libostree does so watchers notice).
 */
export async function writeStagedDeployment(sysroot: string, target: Deployment, merge: Deployment | null, kargs: string[] | null): Promise<void> {
  const file = stagedDeploymentPath(sysroot);
  mkdirSync(dirname(file), { recursive: true });
  await atomicWrite(file, dirname(file), serializeStagedDeployment(target, merge, kargs), 0o644);
  const now = new Date();
  utimesSync(join(sysroot, 'ostree', 'deploy'), now, now);
}

/** Forgets the staged deployment; its directory goes with the next cleanup. */
export function discardStagedDeployment(sysroot: string): void {
  rmSync(stagedDeploymentPath(sysroot), { force: true });
}

export interface StageResult {
  deployment: Deployment;
  merge: Deployment | null;
  cleanup: CleanupResult;
}

/**
 * `ostree admin deploy --stage`: the deployment is checked out and recorded, but neither
 * merged nor made immutable, and no boot entry changes until `finalizeStaged`. Only a booted
 * system can stage: the state lives in its /run.
 */
export async function stageDeployment(sysroot: string, revision: string, options: DeployOptions = {}): Promise<StageResult> {
  const lock = lockSysroot(sysroot, `deploy --stage ${revision}`);
  try {
    const state = await loadSysroot(sysroot, options.readCmdline ? { readCmdline: options.readCmdline } : {});
    if (!state.booted) throw new SysrootError('Cannot stage deployment: Not currently booted into an OSTree system');
    const { deployment, merge, kargsGiven } = await prepareDeployment(state, revision, options, { mergeEtc: false });
    await writeStagedDeployment(sysroot, deployment, merge, kargsGiven ? recordedKargs(state, deployment, merge) : null);
    // Clean up without pruning, keeping the new staged deployment (a previous one goes).
    const cleanup = await cleanupSysroot(sysroot, { deployments: state.deployments, staged: deployment, bootversion: state.bootversion, subbootversion: state.subbootversion, prune: false });
    return { deployment, merge, cleanup };
  } finally {
    lock.release();
  }
}

/**
 * The kernel arguments the staged file records. libostree starts from the merge deployment's
 * entry as it stands, so its `ostree=` (a bootlink of the current boot entries) comes along,
 * after the inherited arguments; finalization replaces it.
 */
function recordedKargs(state: SysrootState, d: Deployment, merge: Deployment | null): string[] {
  if (!merge) return d.kargs;
  const inherited = merge.kargs.length;
  const appended = d.kargs.slice(0, inherited).every((k, i) => k === merge.kargs[i]);
  const at = appended ? inherited : d.kargs.length;
  return [...d.kargs.slice(0, at), ostreeKargFor(merge, state.bootversion), ...d.kargs.slice(at)];
}

export interface FinalizeOptions {
  /** Leave the deployment directory mutable (OSTREE_SYSROOT_DEBUG=mutable-deployments). */
  mutableDeployments?: boolean;
  readCmdline?: KernelCmdlineReader;
  crashPoint?: CrashPoint;
}

export type FinalizeResult =
  | { finalized: false; reason: 'none' | 'locked' }
  | { finalized: true; deployment: Deployment; etc: string | null; cleanup: CleanupResult };

/**
 * `ostree admin finalize-staged`: turns the staged deployment into the new default boot entry.
 * The state file goes first, so a finalization that fails is not retried at every shutdown;
 * the failure is kept in `boot/ostree/finalize-failure.stamp` and the node boots what it
 * booted before.
 */
export async function finalizeStaged(sysroot: string, options: FinalizeOptions = {}): Promise<FinalizeResult> {
  const lock = lockSysroot(sysroot, 'finalize-staged');
  try {
    const state = await loadSysroot(sysroot, options.readCmdline ? { readCmdline: options.readCmdline } : {});
    const recorded = await readStagedDeployment(sysroot);
    if (!state.staged || !recorded) return { finalized: false, reason: 'none' };
    if (existsSync(stagedLockPath(sysroot))) return { finalized: false, reason: 'locked' };
    try {
      return await finalizeLocked(state, state.staged, recorded, options.crashPoint ?? (() => undefined), options.mutableDeployments ?? false);
    } catch (e) {
      const stamp = finalizeFailureStampPath(sysroot);
      mkdirSync(dirname(stamp), { recursive: true });
      await atomicWrite(stamp, dirname(stamp), `${(e as Error).message}\n`, 0o644);
      throw new SysrootError(`Finalizing the staged deployment ${deploymentPath(sysroot, state.staged)}: ${(e as Error).message}`, { cause: e });
    }
  } finally {
    lock.release();
  }
}

async function finalizeLocked(state: SysrootState, staged: Deployment, recorded: StagedDeploymentFile, crash: CrashPoint, mutable: boolean): Promise<FinalizeResult> {
  const sysroot = state.path;
  discardStagedDeployment(sysroot);
  crash('finalize-state-removed');
  const dir = deploymentPath(sysroot, staged);
  const named = recorded.merge;
  // The deployment the file names, else (as libostree) the booted one.
  const merge = (named && state.deployments.find((d) => d.osname === named.osname && d.checksum === named.checksum && d.serial === named.serial)) ?? state.booted;
  const etc = merge ? mergeEtc(deploymentPath(sysroot, merge), dir).message : null;
  removeUpdatedStamps(dir, join(sysroot, 'ostree', 'deploy', staged.osname, 'var'));
  if (!mutable) makeImmutable(dir);
  crash('finalize-etc-merged');
  const list = [staged, ...retainedDeployments(state, staged.osname, merge, {})];
  const cleanup = await commitDeploymentList({ ...state, staged: null }, list, { prune: false, crashPoint: crash });
  return { finalized: true, deployment: staged, etc, cleanup };
}

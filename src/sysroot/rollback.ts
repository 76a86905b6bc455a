/**
 * `rpm-ostree rollback` and `ostree admin undeploy`: rewrite the deployment list without
 * creating a deployment, through the same atomic switch of the boot entries as deploy.
 */
import { commitDeploymentList } from './deploy.js';
import { lockSysroot } from './lock.js';
import { loadSysroot, pendingDeployment, rollbackDeployment, SysrootError } from './sysroot.js';
import type { CrashPoint } from './swap.js';
import { sameDeployment, type Deployment, type KernelCmdlineReader, type SysrootState } from './types.js';

export interface ListEditOptions {
  readCmdline?: KernelCmdlineReader;
  crashPoint?: CrashPoint;
}

/**
 * The list after a rollback: the rollback deployment (first after the booted one in its
 * stateroot) becomes the default; with only a pending one, the booted one becomes the default
 * again. Offline (nothing booted), the default counts as booted.
 */
export function rollbackList(state: SysrootState): Deployment[] {
  if (state.staged) throw new SysrootError('Cannot roll back while a deployment is staged; finalize or clean it up first');
  const list = state.deployments;
  const booted = state.booted ?? list[0];
  if (!booted) throw new SysrootError(`No deployments in ${state.path}: nothing to roll back to`);
  const at = list.findIndex((d) => sameDeployment(d, booted));
  const rollback = list.slice(at + 1).find((d) => d.osname === booted.osname);
  const target = at === 0 ? rollback : booted;
  if (!target) throw new SysrootError(`No rollback deployment in ${state.path}`);
  return [target, ...list.filter((d) => !sameDeployment(d, target))];
}

/** Rewrites the list as `edit` says; a staged deployment survives only when `keepStaged`. */
async function editList(sysroot: string, what: string, options: ListEditOptions & { keepStaged?: boolean }, edit: (state: SysrootState) => Deployment[]): Promise<{ before: SysrootState; after: Deployment[] }> {
  const lock = lockSysroot(sysroot, what);
  try {
    const before = await loadSysroot(sysroot, options.readCmdline ? { readCmdline: options.readCmdline } : {});
    const after = edit(before);
    await commitDeploymentList(before, after, { keepStaged: options.keepStaged ?? false, ...(options.crashPoint ? { crashPoint: options.crashPoint } : {}) });
    return { before, after };
  } finally {
    lock.release();
  }
}

export function rollback(sysroot: string, options: ListEditOptions = {}): Promise<{ before: SysrootState; after: Deployment[] }> {
  return editList(sysroot, 'rollback', options, rollbackList);
}

/** `ostree admin undeploy INDEX`: drops one deployment (never the booted one). */
export function undeploy(sysroot: string, index: number, options: ListEditOptions = {}): Promise<{ before: SysrootState; after: Deployment[] }> {
  return editList(sysroot, `undeploy ${index}`, { ...options, keepStaged: true }, (state) => {
    const doomed = state.deployments[index];
    if (!doomed) throw new SysrootError(`Out of range deployment index ${index}, must be less than ${state.deployments.length}`);
    if (state.booted && sameDeployment(doomed, state.booted)) throw new SysrootError(`Cannot undeploy currently booted deployment ${index}`);
    return state.deployments.filter((_, i) => i !== index);
  });
}

/**
 * `rpm-ostree cleanup -p/-r`: drops the pending and/or rollback deployment (as seen from the
 * booted one; offline, the default counts as booted). A staged deployment is the pending one:
 * `-p` discards it (what the MCO does when a step after its rebase fails). Nothing to drop is
 * not an error.
 */
export function cleanupDeployments(sysroot: string, which: { pending?: boolean; rollback?: boolean }, options: ListEditOptions = {}): Promise<{ before: SysrootState; after: Deployment[] }> {
  return editList(sysroot, 'cleanup', { ...options, keepStaged: !which.pending }, (state) => {
    const view = state.booted ? state : { ...state, booted: state.deployments[0] ?? null };
    const doomed = [which.pending ? pendingDeployment(view) : null, which.rollback ? rollbackDeployment(view) : null].filter((d): d is Deployment => d !== null);
    return state.deployments.filter((d) => !doomed.some((x) => sameDeployment(x, d)));
  });
}

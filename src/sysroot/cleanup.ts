/**
 * Sysroot cleanup, as `ostree admin cleanup` and the end of every deploy (ostree.md §4.12):
 * removes what the current boot entries no longer use — the other bootversion's entries and
 * bootlinks, deployment directories not in the list, kernels nobody boots — rewrites the
 * deployment refs that keep deployed commits safe, and prunes the repository.
 * Everything here is garbage by then: a crash part-way leaves only more garbage for the
 * next cleanup, never a broken boot entry.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { pruneRepo, type PruneResult } from '../ostree/prune.js';
import { Repo } from '../ostree/repo.js';
import { lockSysroot } from './lock.js';
import type { CrashPoint } from './swap.js';
import { loadSysroot } from './sysroot.js';
import { deploymentPath, type Deployment, type KernelCmdlineReader } from './types.js';

export interface CleanupOptions {
  /** The list the boot entries now hold, in order, with the bootversion in force. */
  deployments: Deployment[];
  bootversion: 0 | 1;
  subbootversion: 0 | 1;
  /** A staged deployment to keep: its directory stays, and its commit gets deployment ref 0. */
  staged?: Deployment | null;
  /** Prune the repository afterwards (default true). */
  prune?: boolean;
  crashPoint?: CrashPoint;
  /** The sysroot's repository, when the caller has it open already (its decoded trees are reused). */
  repo?: Repo;
}

export interface CleanupResult {
  removedDeployments: string[];
  removedKernels: string[];
  pruned: PruneResult | null;
}

/** Clears the immutable flag libostree (and we) set on deployment directories. */
export function makeMutable(dir: string): void {
  if (!existsSync(dir)) return;
  const r = spawnSync('chattr', ['-i', dir], { stdio: 'ignore' });
  // No chattr, or a filesystem without the flag: then nothing was immutable either.
  if (r.error && (r.error as NodeJS.ErrnoException).code !== 'ENOENT') throw r.error;
}

const list = (dir: string): string[] => (existsSync(dir) ? readdirSync(dir) : []);

export async function cleanupSysroot(sysroot: string, options: CleanupOptions): Promise<CleanupResult> {
  const crash = options.crashPoint ?? (() => undefined);
  const { bootversion: b, subbootversion: s, deployments } = options;
  const other = b === 0 ? 1 : 0;

  // 1. The other bootversion, the other subbootversion of this one, and the temporary links
  //    of a swap that was killed before its rename.
  for (const stale of [
    join(sysroot, 'boot', 'loader.tmp'),
    join(sysroot, 'ostree', 'boot.0.tmp'),
    join(sysroot, 'ostree', 'boot.1.tmp'),
    join(sysroot, 'boot', `loader.${other}`),
    join(sysroot, 'ostree', `boot.${other}`),
    join(sysroot, 'ostree', `boot.${other}.0`),
    join(sysroot, 'ostree', `boot.${other}.1`),
    join(sysroot, 'ostree', `boot.${b}.${s === 0 ? 1 : 0}`),
  ]) rmSync(stale, { recursive: true, force: true });
  crash('cleanup-bootversions-removed');

  // 2. Deployment directories no entry points at.
  // libostree counts a staged deployment as the first of the list.
  const all = options.staged ? [options.staged, ...deployments] : deployments;
  const keep = new Set(all.map((d) => deploymentPath(sysroot, d)));
  const removedDeployments: string[] = [];
  for (const os of list(join(sysroot, 'ostree', 'deploy'))) {
    const dir = join(sysroot, 'ostree', 'deploy', os, 'deploy');
    for (const name of list(dir)) {
      const m = /^([0-9a-f]{64}\.\d+)(\.origin)?$/.exec(name);
      if (!m || keep.has(join(dir, m[1]!))) continue;
      const path = join(dir, name);
      if (!m[2]) {
        makeMutable(path);
        removedDeployments.push(`${os}/${name}`);
      }
      rmSync(path, { recursive: true, force: true });
      crash('cleanup-deployment-removed');
    }
  }

  // 3. Kernels no deployment boots.
  const usedKernels = new Set(deployments.map((d) => `${d.osname}-${d.bootcsum}`));
  const removedKernels: string[] = [];
  for (const name of list(join(sysroot, 'boot', 'ostree'))) {
    if (!/^.+-[0-9a-f]{64}$/.test(name) || usedKernels.has(name)) continue;
    rmSync(join(sysroot, 'boot', 'ostree', name), { recursive: true, force: true });
    removedKernels.push(name);
  }
  crash('cleanup-kernels-removed');

  // 4. Deployment refs ostree/B/S/I keep each deployed commit out of any prune.
  const repo = options.repo ?? (await Repo.open(join(sysroot, 'ostree', 'repo')));
  for (const [ref] of await repo.listRefs()) if (ref.startsWith('ostree/')) await repo.setRef(ref, null);
  for (const [i, d] of all.entries()) await repo.setRef(`ostree/${b}/${s}/${i}`, d.checksum);
  crash('cleanup-refs-written');

  // 5. Prune: refs only, no history (libostree's sysroot cleanup deletes historical parents).
  const pruned = options.prune === false ? null : await pruneRepo(repo, { refsOnly: true, depth: 0 });
  return { removedDeployments, removedKernels, pruned };
}

/** `ostree admin cleanup`: cleans up around the sysroot's current deployment list, under its lock. */
export async function cleanupLoadedSysroot(sysroot: string, options: { prune?: boolean; crashPoint?: CrashPoint; readCmdline?: KernelCmdlineReader } = {}): Promise<CleanupResult> {
  const lock = lockSysroot(sysroot, 'cleanup');
  try {
    const { readCmdline, ...rest } = options;
    const state = await loadSysroot(sysroot, readCmdline ? { readCmdline } : {});
    return await cleanupSysroot(sysroot, { ...rest, deployments: state.deployments, staged: state.staged, bootversion: state.bootversion, subbootversion: state.subbootversion });
  } finally {
    lock.release();
  }
}

/**
 * `ostree prune`: deletes every object that nothing keeps. What keeps objects: with
 * `--refs-only`, the commits the refs (local and remote) point at; otherwise every commit
 * object in the repository. From each of those, the walk takes its tree and follows parents
 * up to `depth` (-1: all). Detached metadata is not an object of its own here, as in ostree:
 * it is neither counted nor listed, and goes when its commit goes.
 */
import { lstatSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { isChecksum, type ObjectType } from './objects.js';
import { RepoError, type Repo } from './repo.js';
import { objectKey, traverseCommits } from './traverse.js';

export interface PruneOptions {
  /** Only refs keep commits (`--refs-only`); otherwise every commit object does. */
  refsOnly?: boolean;
  /** Parents to keep behind each kept commit: -1 (the default) for all. */
  depth?: number;
  /** Only count what would go (`--no-prune`). */
  noPrune?: boolean;
  signal?: AbortSignal;
}

export interface PruneResult {
  /** Objects in the repository before pruning (detached metadata not counted). */
  total: number;
  /** Objects deleted, or that would be with `noPrune`. */
  pruned: number;
  /** Their size on disk, in bytes, hard links or not (ostree counts it so). */
  freedBytes: number;
}

export async function pruneRepo(repo: Repo, options: PruneOptions = {}): Promise<PruneResult> {
  const depth = options.depth ?? -1;
  if (!Number.isInteger(depth) || depth < -1) throw new RepoError(`Invalid depth ${depth}: expected -1 or more`);
  const scan = repo.scanObjects();
  const objects = scan.objects.filter(([, type]) => type !== 'commitmeta');

  const roots = new Set<string>();
  for (const [name, value] of await repo.listRefs()) {
    if (!isChecksum(value)) throw new RepoError(`Ref ${name} holds an invalid checksum "${value.slice(0, 80)}"`);
    roots.add(value);
  }
  if (!options.refsOnly) for (const [checksum, type] of objects) if (type === 'commit') roots.add(checksum);
  // A ref to a commit that is not there keeps nothing (ostree prunes quietly past it); a
  // missing dirtree under a kept commit is an error, raised before anything is deleted.
  const reachable = await traverseCommits(repo, roots, {
    depth,
    skipMissingCommit: true,
    ...(options.signal ? { signal: options.signal } : {}),
  });

  const doomed = objects.filter(([checksum, type]) => !reachable.has(objectKey(checksum, type)));
  // Synchronous on purpose: an lstat and an unlink per object, where a promise each would
  // cost more than the syscalls.
  let freedBytes = 0;
  for (const [checksum, type] of doomed) {
    options.signal?.throwIfAborted();
    const path = repo.objectPath(type, checksum);
    freedBytes += lstatSync(path, { throwIfNoEntry: false })?.size ?? 0; // gone meanwhile: nothing freed
    if (!options.noPrune) remove(repo, path, type, checksum);
  }
  // Temporary files of writers that crashed mid-object are garbage too (ostree's tmp expiry).
  if (!options.noPrune) repo.removeStaleTemporaries(undefined, scan.staging);
  return { total: objects.length, pruned: doomed.length, freedBytes };
}

function remove(repo: Repo, path: string, type: ObjectType, checksum: string): void {
  rmSync(path, { force: true });
  if (type === 'commit') {
    // A commit's detached metadata and its partial-pull mark mean nothing without it.
    rmSync(repo.objectPath('commitmeta', checksum), { force: true });
    rmSync(join(repo.path, 'state', `${checksum}.commitpartial`), { force: true });
  }
}

/** The summary `ostree prune` prints. */
export function formatPruneResult(result: PruneResult, options: { noPrune?: boolean } = {}): string {
  const lines = [`Total objects: ${result.total}`];
  if (result.pruned === 0) lines.push('No unreachable objects');
  else if (options.noPrune) lines.push(`Would delete: ${result.pruned} objects, freeing ${formatSize(result.freedBytes)}`);
  else lines.push(`Deleted ${result.pruned} objects, ${formatSize(result.freedBytes)} freed`);
  return lines.join('\n') + '\n';
}

const UNITS = ['kB', 'MB', 'GB', 'TB', 'PB', 'EB'];

/**
 * A byte count as GLib's g_format_size writes it, which ostree prints: SI units, one
 * decimal, and a no-break space (U+00A0) before the unit; "N bytes" below 1000.
 */
export function formatSize(bytes: number): string {
  if (bytes < 1000) return `${bytes} ${bytes === 1 ? 'byte' : 'bytes'}`;
  let unit = 0;
  while (unit < UNITS.length - 1 && bytes >= 1000 ** (unit + 2)) unit++;
  const value = bytes / 1000 ** (unit + 1);
  return `${printfOneDecimal(value)}\u00a0${UNITS[unit]}`;
}

/**
 * printf's `%.1f`. JS's toFixed breaks an exact tie upwards; glibc breaks it to even. Exact
 * ties at one decimal are the doubles ending in .25 or .75.
 */
function printfOneDecimal(value: number): string {
  const quarters = value * 4;
  if (Number.isInteger(quarters) && quarters % 2 === 1) {
    const tenthsDown = Math.floor(value * 10);
    const tenths = tenthsDown % 2 === 0 ? tenthsDown : tenthsDown + 1;
    return (tenths / 10).toFixed(1);
  }
  return value.toFixed(1);
}

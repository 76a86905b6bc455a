/**
 * Partial downloads of one pull, kept so that the next pull resumes them (a Range request), and
 * never shared by two pulls running at once (a second `mco ostree pull`, or the node's pivot
 * beside a manual pull, into the same repo).
 *
 * A cut-short body rests in `tmp/pull-CSUM.TYPE.partial`, owned by no pull. A pull never writes
 * there: it takes such a file by renaming it to a name of its own,
 * `tmp/pull-CSUM.TYPE.PID-THREAD-N.partial`, writes only that file, and renames it back to the
 * resting name when the body is cut short again. A pull killed (SIGKILL) leaves its own-named
 * file: the next pull, as it starts, puts those of processes that are gone back to rest.
 *
 * Why renames rather than a lock: Node has no flock, and a claim file made with an exclusive
 * create cannot be taken over safely once its owner is dead (two pulls finding it stale race
 * between seeing that and replacing it, and both may end up holding it). A rename is atomic:
 * of the pulls taking the same file, exactly one gets it; the others find nothing and start
 * from zero in files of their own. Whether an owner is alive is told by its PID, which assumes
 * the pulls into one repo see one PID namespace (the node daemon runs in the host's); were it
 * wrong, a live download would be taken, and its verification would fail, never store it.
 */
import { readdirSync, renameSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { threadId } from 'node:worker_threads';
import { isAlive } from './process.js';

const OWN = /^(pull-[0-9a-f]{64}\.[a-z]+)\.(\d+)-\d+-\d+\.partial$/;
let counter = 0;

/**
 * The file this pull writes an object's body to: `resting` (`tmp/pull-CSUM.TYPE.partial`)
 * renamed to a name of this pull's own when it is there (the kept part of an earlier pull, to
 * be continued: `taken`), else a name of its own where nothing is yet.
 */
export function takePartial(resting: string): { path: string; taken: boolean } {
  const path = `${resting.slice(0, -'.partial'.length)}.${process.pid}-${threadId}-${counter++}.partial`;
  // Looked for first: most objects have none, and a failed rename costs an exception (7× a stat).
  if (!statSync(resting, { throwIfNoEntry: false })) return { path, taken: false };
  try {
    renameSync(resting, path);
    return { path, taken: true };
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    return { path, taken: false };
  }
}

/** Puts the part of a body kept in `own` back to rest at `resting`, for the next pull to take. */
export function releasePartial(own: string, resting: string): void {
  try {
    renameSync(own, resting);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
}

/** Puts the own-named partial downloads of pulls whose processes are gone back to rest; returns how many. */
export function reclaimDeadPartials(tmpDir: string): number {
  let reclaimed = 0;
  for (const name of readdirSync(tmpDir)) {
    const m = OWN.exec(name);
    if (!m || Number(m[2]) === process.pid || isAlive(Number(m[2]))) continue;
    releasePartial(join(tmpDir, name), join(tmpDir, `${m[1]}.partial`));
    reclaimed++;
  }
  return reclaimed;
}

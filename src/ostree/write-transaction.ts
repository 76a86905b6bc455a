/**
 * Crash safety of a writer that renames objects into place and makes them durable with one
 * sync at its end (`commit`; the pulls also keep `commitpartial` marks of their own): a power
 * cut before that sync can leave a renamed object empty under its name, and any later writer
 * finding it there would trust it and build on it. So a writer holds a mark,
 * `tmp/mco-transaction-PID-N`, from before its first object until after its sync. A mark whose
 * process is gone means a writer died before its sync: the next writer first re-hashes every
 * object whose inode changed since that mark was made (those the dead writer may have left
 * torn), removes each one that does not match its name, and then drops the mark. As for pull
 * partials (pull-partial.ts), a PID tells whether a writer lives: the writers of one repo are
 * assumed to share a PID namespace.
 */
import { lstatSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { threadId } from 'node:worker_threads';
import { storedContentIntact, storedMetadataIntact } from './fsck.js';
import { isAlive } from './pull-partial.js';
import type { Repo } from './repo.js';

const MARK = /^mco-transaction-(\d+)-\d+-\d+$/;
let counter = 0;

export interface WriteTransaction {
  /** Call once what was written is durable (after the writer's sync), or when nothing was written. */
  end(): void;
}

/** Marks the start of a write into `repo`; objects written before `end()` are repaired if the writer dies. */
export function beginWriteTransaction(repo: Repo): WriteTransaction {
  const mark = join(repo.tmpDir, `mco-transaction-${process.pid}-${threadId}-${counter++}`);
  mkdirSync(repo.tmpDir, { recursive: true });
  writeFileSync(mark, '');
  return { end: () => rmSync(mark, { force: true }) };
}

/**
 * Repairs what writers that died mid-transaction may have left (see the module comment);
 * returns how many torn objects were removed. Without such a mark: one listing of `tmp/`.
 */
export async function repairAfterCrashedWriters(repo: Repo): Promise<number> {
  let names: string[];
  try {
    names = readdirSync(repo.tmpDir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return 0;
    throw e;
  }
  const dead = names.filter((n) => {
    const m = MARK.exec(n);
    return m !== null && !isAlive(Number(m[1]));
  }).map((n) => join(repo.tmpDir, n));
  if (dead.length === 0) return 0;
  // The oldest dead mark's inode change time, less a second of clock granularity to spare.
  const since = Math.min(...dead.map((p) => lstatSync(p, { throwIfNoEntry: false })?.ctimeMs ?? 0)) - 1000;
  let removed = 0;
  for (const [checksum, type] of repo.scanObjects().objects) {
    if (type === 'commitmeta' || type === 'tombstone-commit') continue; // not named by their content's checksum
    const path = repo.objectPath(type, checksum);
    const st = lstatSync(path, { throwIfNoEntry: false });
    if (!st || st.ctimeMs < since) continue;
    const intact = type === 'file' ? await storedContentIntact(repo, checksum) : storedMetadataIntact(repo, type, checksum);
    if (intact) continue;
    rmSync(path, { force: true });
    removed++;
  }
  for (const mark of dead) rmSync(mark, { force: true });
  return removed;
}

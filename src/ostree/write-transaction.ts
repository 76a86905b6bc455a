/**
 * Crash safety of a writer that renames objects into place and makes them durable with one
 * sync at its end (commit, HTTP pull, pull-local): a power cut before that sync can leave a
 * renamed object empty under its name, and any later writer finding it there would trust it
 * and build on it. So a writer holds a mark, `tmp/mco-transaction-PID-THREAD-N`, from before
 * its first object until after its sync. A mark whose writer is gone means it died before its
 * sync: the next writer first re-hashes every object whose inode changed since that mark was
 * made (those the dead writer may have left torn), removes each one that does not match its
 * name, and then drops the mark.
 *
 * Whether a writer is gone: the mark holds the boot it was made in and its process's start
 * time. A power cut always means a new boot, where the same PID may well be alive again (this
 * very process, even), so a PID alone would hide the dead writer. Where /proc is missing, the
 * PID alone is asked. libostree's own tmp/ cleanup deletes entries older than a day: a repo
 * also written by the real ostree may lose an old mark before we act on it.
 */
import { lstatSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { threadId } from 'node:worker_threads';
import { storedContentIntact, storedMetadataIntact } from './fsck.js';
import { isAlive } from './process.js';
import type { Repo } from './repo.js';

const MARK = /^mco-transaction-(\d+)-\d+-\d+$/;
let counter = 0;

export interface WriteTransaction {
  /** Call once what was written is durable (after the writer's sync), or when nothing was written. */
  end(): void;
  /**
   * After the writer failed: what it wrote is synced and the mark dropped, so a long-lived
   * process does not keep marks of failures; if the sync fails too, the mark stays.
   */
  abandon(): void;
}

/** Marks the start of a write into `repo`; objects written before `end()` are repaired if the writer dies. */
export function beginWriteTransaction(repo: Repo): WriteTransaction {
  const mark = join(repo.tmpDir, `mco-transaction-${process.pid}-${threadId}-${counter++}`);
  mkdirSync(repo.tmpDir, { recursive: true });
  writeFileSync(mark, identity(process.pid) ?? '');
  const end = (): void => rmSync(mark, { force: true });
  return {
    end,
    abandon() {
      try {
        repo.sync();
      } catch {
        return; // the mark stays: what the writer stored may tear, and the next writer re-checks it
      }
      end();
    },
  };
}

export interface Repair {
  /** Objects re-hashed: those whose inodes changed since the oldest dead writer's mark. */
  checked: number;
  /** Of those, torn ones removed (to be written or fetched again). */
  removed: number;
}

/** Repairs what writers that died mid-transaction may have left (see the module comment). Without such a mark: one listing of `tmp/`. */
export async function repairAfterCrashedWriters(repo: Repo): Promise<Repair> {
  let names: string[];
  try {
    names = readdirSync(repo.tmpDir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { checked: 0, removed: 0 };
    throw e;
  }
  const dead: { path: string; ctimeMs: number }[] = [];
  for (const name of names) {
    const m = MARK.exec(name);
    if (!m) continue;
    const path = join(repo.tmpDir, name);
    const st = lstatSync(path, { throwIfNoEntry: false });
    if (st && !writerAlive(Number(m[1]), path)) dead.push({ path, ctimeMs: st.ctimeMs });
  }
  if (dead.length === 0) return { checked: 0, removed: 0 };
  // The oldest dead mark's inode change time, less a second of clock granularity to spare.
  const since = Math.min(...dead.map((d) => d.ctimeMs)) - 1000;
  const repair: Repair = { checked: 0, removed: 0 };
  for (const [checksum, type] of repo.scanObjects().objects) {
    if (type === 'commitmeta' || type === 'tombstone-commit') continue; // not named by their content's checksum
    const path = repo.objectPath(type, checksum);
    const st = lstatSync(path, { throwIfNoEntry: false });
    if (!st || st.ctimeMs < since) continue;
    repair.checked++;
    const intact = type === 'file' ? await storedContentIntact(repo, checksum) : storedMetadataIntact(repo, type, checksum);
    if (intact) continue;
    // Only the inode hashed: another writer repairing at the same time may have put a good one there since.
    const now = lstatSync(path, { throwIfNoEntry: false });
    if (now?.ino !== st.ino || now.dev !== st.dev) continue;
    rmSync(path, { force: true });
    repair.removed++;
  }
  for (const d of dead) rmSync(d.path, { force: true });
  return repair;
}

/** `BOOT_ID START_TIME` of process `pid`, or null without /proc. */
function identity(pid: number): string | null {
  try {
    const bootId = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    // Field 22 of /proc/PID/stat, counted after the command name (which may hold spaces).
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const startTime = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
    return `${bootId} ${startTime}`;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
}

/** Whether the writer of `mark` lives; a mark that is gone counts as alive (another writer repaired after it). */
function writerAlive(pid: number, mark: string): boolean {
  let recorded: string;
  try {
    recorded = readFileSync(mark, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return true;
    throw e;
  }
  if (recorded === '') return isAlive(pid); // made where /proc was missing
  return identity(pid) === recorded;
}

/**
 * The sysroot lock: one mutating operation at a time. Node has no flock(), so the lock is a
 * file created atomically (link(2) fails if it exists) holding the owner's pid; a lock whose owner is dead (crashed or
 * killed) is taken over, so a kill -9 never wedges the node. A second live operation fails
 * at once with a message naming the holder.
 */
import { linkSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { isAlive } from '../ostree/process.js';

export class SysrootLockedError extends Error {
  override name = 'SysrootLockedError';
}

export interface SysrootLock {
  release(): void;
}

/**
 * Creates `path` holding `line`, or returns the line of whoever holds it (undefined when it
 * was released meanwhile). The content is written before the name exists (a temporary file
 * hard-linked into place), so a lock file is never seen empty, even after a kill -9.
 */
function tryCreate(path: string, line: string): string | null | undefined {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, line, { mode: 0o600 });
  try {
    linkSync(tmp, path);
    return null;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
  } finally {
    rmSync(tmp, { force: true });
  }
  try {
    return readFileSync(path, 'utf8').trim();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

/**
 * Removes a dead holder's lock file, under a second "break" lock so that two processes
 * taking over the same dead lock cannot both win: the one holding the break lock removes the
 * file only if it still names the dead holder; the other fails fast as for a live lock.
 */
function breakStaleLock(path: string, deadHolder: string): void {
  const breaker = `${path}.break`;
  for (let attempt = 0; ; attempt++) {
    const other = tryCreate(breaker, `${process.pid} breaking a stale lock\n`);
    if (other === null) break;
    if (other === undefined) continue;
    const pid = Number(other.split(' ')[0]);
    if (attempt > 0 || (Number.isInteger(pid) && pid > 0 && isAlive(pid))) {
      throw new SysrootLockedError(`Another operation is taking over the stale lock ${path} (pid ${pid}); try again`);
    }
    rmSync(breaker, { force: true }); // a breaker that died too
  }
  try {
    let now: string | null = null;
    try {
      now = readFileSync(path, 'utf8').trim();
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
    if (now === deadHolder) rmSync(path, { force: true });
  } finally {
    rmSync(breaker, { force: true });
  }
}

/** Takes the lock of the sysroot at `sysroot` for `operation` (named in the holder's file). */
export function lockSysroot(sysroot: string, operation: string): SysrootLock {
  return takeLock(join(sysroot, 'ostree', 'mco.lock'), operation, sysroot);
}

/**
 * Takes the lock file at `path` for `operation`, on behalf of `sysroot` (named in errors); a
 * dead holder's lock is taken over. Other host-wide operations lock their own files this way.
 */
export function takeLock(path: string, operation: string, sysroot: string): SysrootLock {
  for (let attempt = 0; attempt < 3; attempt++) {
    const holder = tryCreate(path, `${process.pid} ${operation}\n`);
    if (holder === null) return { release: () => rmSync(path, { force: true }) };
    if (holder === undefined) continue;
    const pid = Number(holder.split(' ')[0]);
    if (Number.isInteger(pid) && pid > 0 && isAlive(pid)) {
      throw new SysrootLockedError(`Another operation is running on ${sysroot}: ${holder.split(' ').slice(1).join(' ') || 'unknown'} (pid ${pid}); try again when it has finished`);
    }
    // The holder died without releasing it: remove its file, then retry.
    breakStaleLock(path, holder);
  }
  throw new SysrootLockedError(`Could not take the lock of ${sysroot}: it changed hands while trying`);
}

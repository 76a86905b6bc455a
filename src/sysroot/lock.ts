/**
 * The sysroot lock: one mutating operation at a time. Node has no flock(), so the lock is a
 * file created with O_EXCL holding the owner's pid; a lock whose owner is dead (crashed or
 * killed) is taken over, so a kill -9 never wedges the node. A second live operation fails
 * at once with a message naming the holder.
 */
import { closeSync, constants, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';

export class SysrootLockedError extends Error {
  override name = 'SysrootLockedError';
}

export interface SysrootLock {
  release(): void;
}

/** Whether a process with this pid exists (signal 0 checks without sending). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Takes the lock of the sysroot at `sysroot` for `operation` (named in the holder's file). */
export function lockSysroot(sysroot: string, operation: string): SysrootLock {
  const path = join(sysroot, 'ostree', 'mco.lock');
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
      writeSync(fd, `${process.pid} ${operation}\n`);
      closeSync(fd);
      return { release: () => rmSync(path, { force: true }) };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    let holder = '';
    try {
      holder = readFileSync(path, 'utf8').trim();
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') continue; // released meanwhile
      throw e;
    }
    const pid = Number(holder.split(' ')[0]);
    if (Number.isInteger(pid) && pid > 0 && alive(pid)) {
      throw new SysrootLockedError(`Another operation is running on ${sysroot}: ${holder.split(' ').slice(1).join(' ') || 'unknown'} (pid ${pid}); try again when it has finished`);
    }
    // The holder died without releasing: move its file aside atomically, then retry.
    renameSync(path, `${path}.stale-${process.pid}`);
    rmSync(`${path}.stale-${process.pid}`, { force: true });
  }
  throw new SysrootLockedError(`Could not take the lock of ${sysroot}: it changed hands while trying`);
}

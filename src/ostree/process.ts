import { createRequire } from 'node:module';

// Loaded on first use: most callers only ask whether a PID lives.
const require = createRequire(import.meta.url);

/** Whether a process with this PID exists (signal 0 checks without sending; EPERM: it runs, as another user). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Starts `sync -f PATH` and does not wait for it: the filesystem begins writing back what was
 * just written while the caller goes on, so the sync that makes it durable later (the caller's
 * own, always still done) has less to wait for.
 */
export function startWriteback(path: string): void {
  const { spawn } = require('node:child_process') as typeof import('node:child_process');
  const child = spawn('sync', ['-f', path], { stdio: 'ignore' });
  // Only a head start: the later sync is the one that reports a failure to flush.
  child.on('error', () => undefined);
  child.unref();
}

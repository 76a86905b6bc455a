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

/** `sync -f PATH`, waited for: syncfs(2) of the filesystem holding PATH. False when it failed. */
export function syncFilesystem(path: string): boolean {
  const { spawnSync } = require('node:child_process') as typeof import('node:child_process');
  const r = spawnSync('sync', ['-f', path], { stdio: 'ignore' });
  return !r.error && r.status === 0;
}

/** Background writebacks not yet settled (settleWritebacks): the path each flushes, its process, and whether it succeeded. */
const writebacks = new Set<{ path: string; child: import('node:child_process').ChildProcess; succeeded: Promise<boolean> }>();

/**
 * Starts `sync -f PATH` and does not wait for it: the filesystem begins writing back what was
 * just written while the caller goes on, so the sync that makes it durable later has less to
 * wait for. That later sync cannot stand in for this one's result: syncfs(2) reports a write
 * error only to files opened before it happened, and `sync -f` opens its file afresh. So
 * settleWritebacks() must be awaited before anything relies on the data being on disk.
 */
export function startWriteback(path: string): void {
  const { spawn } = require('node:child_process') as typeof import('node:child_process');
  const child = spawn('sync', ['-f', path], { stdio: 'ignore' });
  const succeeded = new Promise<boolean>((resolve) => {
    // No sync(1) to run: nothing flushed and nothing failed; the later sync, the same program, fails loudly.
    child.on('error', () => resolve(true));
    child.on('exit', (code) => resolve(code === 0));
  });
  writebacks.add({ path, child, succeeded });
  // Nobody waits for it unless settleWritebacks() is called: it must not keep the process alive.
  child.unref();
}

/** Waits for every writeback startWriteback() began in this process; throws naming those that failed to flush. */
export async function settleWritebacks(): Promise<void> {
  const started = [...writebacks];
  writebacks.clear();
  const failed: string[] = [];
  for (const w of started) {
    // Waited for now: held again, or a process with nothing else to do would end before it answers.
    w.child.ref();
    if (!(await w.succeeded)) failed.push(w.path);
  }
  if (failed.length) throw new Error(`Writing ${failed.join(', ')} to disk failed (sync -f)`);
}

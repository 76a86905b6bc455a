/**
 * Test helpers for HTTP pulls: the real `ostree-trivial-httpd` serving a directory, started
 * as our child (so the test knows its PID and kills it), with `--autoexit` as a second line
 * of defence (it exits when its directory goes). Test-only.
 */
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';

export const TRIVIAL_HTTPD = '/usr/libexec/libostree/ostree-trivial-httpd';

export interface Httpd {
  url: string;
  pid: number;
  kill(): void;
}

/**
 * Starts trivial-httpd on `dir` in the foreground (not `--daemonize`: then the PID we could
 * kill would be gone) and waits until its port file says it listens.
 */
export function startTrivialHttpd(dir: string, extraArgs: string[] = []): Httpd {
  const portFile = `${dir}.httpd-port`;
  fs.rmSync(portFile, { force: true });
  const child = spawn(TRIVIAL_HTTPD, ['--autoexit', '-p', portFile, ...extraArgs, dir], { stdio: 'ignore', detached: false });
  const deadline = Date.now() + 30_000;
  while (!fs.existsSync(portFile) || fs.readFileSync(portFile, 'utf8').trim() === '') {
    if (Date.now() > deadline || child.exitCode !== null) {
      child.kill('SIGKILL');
      throw new Error(`${TRIVIAL_HTTPD} did not start serving ${dir}`);
    }
    spawnSync('sleep', ['0.05']);
  }
  const port = Number(fs.readFileSync(portFile, 'utf8').trim());
  fs.rmSync(portFile, { force: true });
  return {
    url: `http://127.0.0.1:${port}/`,
    pid: child.pid!,
    kill: () => {
      if (child.exitCode === null) child.kill('SIGKILL');
    },
  };
}

/**
 * Runs the real ostree without blocking the event loop: needed when the server it talks to
 * (serveRepo) runs in the test's own process.
 */
export function ostreeAsync(args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('/usr/bin/ostree', args, { env: { ...process.env, LC_ALL: 'C.UTF-8' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

/**
 * Shared helpers for the tests of the image layer against real peers: Debian's
 * `docker-registry` (distribution 2.8) started per test on a loopback port with its own
 * storage, and `skopeo`. Test-only: imported by *.test.ts, never by the library.
 */
import { spawn, spawnSync, type ChildProcess, type SpawnSyncOptions } from 'node:child_process';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import type { TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import bcrypt from 'bcryptjs';

export const DOCKER_REGISTRY_BIN = '/usr/bin/docker-registry';
export const SKOPEO_BIN = '/usr/bin/skopeo';
export const hasDockerRegistry = fs.existsSync(DOCKER_REGISTRY_BIN);
export const hasSkopeo = fs.existsSync(SKOPEO_BIN);
/** `{ skip }` for tests that drive the real registry: they say why instead of passing silently. */
export const needsDockerRegistry = {
  skip: !hasDockerRegistry && 'docker-registry not installed (scripts/setup.sh installs it)',
};
export const needsSkopeo = { skip: !hasSkopeo && 'skopeo not installed (scripts/setup.sh installs it)' };
export const needsRegistryAndSkopeo = {
  skip: (!hasDockerRegistry || !hasSkopeo) && 'docker-registry and skopeo needed (scripts/setup.sh installs them)',
};

export interface RealRegistry {
  /** `127.0.0.1:PORT`: the registry part of an image reference. */
  host: string;
  /** `http://127.0.0.1:PORT` */
  url: string;
  /** Storage root: `<root>/docker/registry/v2/blobs/sha256/XX/HEX/data` holds each blob. */
  storage: string;
  /** Path of the stored blob with this digest (`sha256:…`), to corrupt it in a test. */
  blobPath(digest: string): string;
  stop(): Promise<void>;
}

export interface RealRegistryOptions {
  /** Users and passwords for htpasswd (Basic) auth; anonymous access when absent. */
  users?: Record<string, string>;
}

/**
 * Starts Debian's docker-registry on 127.0.0.1 with a port the kernel picks (parsed from its
 * "listening on" log line) and a temporary storage directory; stopped and removed when the
 * test ends.
 */
export async function startDockerRegistry(t: TestContext, options: RealRegistryOptions = {}): Promise<RealRegistry> {
  const dir = fs.mkdtempSync(join(tmpdir(), 'mco-registry-'));
  const storage = join(dir, 'store');
  let auth = '';
  if (options.users) {
    const lines = Object.entries(options.users).map(([user, password]) => `${user}:${bcrypt.hashSync(password, 5)}`);
    fs.writeFileSync(join(dir, 'htpasswd'), `${lines.join('\n')}\n`);
    auth = `auth: {htpasswd: {realm: test-realm, path: ${join(dir, 'htpasswd')}}}\n`;
  }
  fs.writeFileSync(
    join(dir, 'config.yml'),
    'version: 0.1\n' +
      'log: {level: info, accesslog: {disabled: true}}\n' +
      `storage: {filesystem: {rootdirectory: ${storage}}, delete: {enabled: true}}\n` +
      'http: {addr: "127.0.0.1:0", secret: test-only-not-secret}\n' +
      auth,
  );
  const child = spawn(DOCKER_REGISTRY_BIN, ['serve', join(dir, 'config.yml')], { stdio: ['ignore', 'ignore', 'pipe'] });
  const stop = stopper(child, dir);
  t.after(stop);

  const host = await listeningAddress(child, child.stderr!, /listening on (127\.0\.0\.1:\d+)/, 'docker-registry');
  return {
    host,
    url: `http://${host}`,
    storage,
    blobPath: (digest) => {
      const hex = digest.replace(/^sha256:/, '');
      return join(storage, 'docker/registry/v2/blobs/sha256', hex.slice(0, 2), hex, 'data');
    },
    stop,
  };
}

export interface SkopeoResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the real `skopeo ARGS…` (no policy file needed: `--insecure-policy` is added). */
export function skopeo(args: string[], options: SpawnSyncOptions = {}): SkopeoResult {
  const r = spawnSync(SKOPEO_BIN, ['--insecure-policy', ...args], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, ...options });
  if (r.error) throw r.error;
  return { status: r.status, stdout: String(r.stdout), stderr: String(r.stderr) };
}

/** A docker `config.json` granting USER:PASSWORD on HOST, written into DIR. */
export function writeAuthFile(dir: string, host: string, user: string, password: string): string {
  const path = join(dir, 'config.json');
  const auth = Buffer.from(`${user}:${password}`).toString('base64');
  fs.writeFileSync(path, JSON.stringify({ auths: { [host]: { auth } } }));
  return path;
}

/**
 * `skopeo ARGS…` without blocking the event loop: for tests whose registry runs in the test
 * process itself (the embedded registry), where `skopeo()` would wait on a server that
 * cannot answer.
 */
export function skopeoAsync(args: string[]): Promise<SkopeoResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(SKOPEO_BIN, ['--insecure-policy', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout!.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    child.stderr!.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    child.once('error', reject);
    child.once('close', (status) => resolve({ status, stdout, stderr }));
  });
}

/** Stops a server child process (SIGTERM, waiting for its exit) and removes its directory. */
function stopper(child: ChildProcess, dir: string): () => Promise<void> {
  return async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    }
    fs.rmSync(dir, { recursive: true, force: true });
  };
}

/**
 * Waits for a server child process to print the address it listens on (matched by `pattern`'s
 * first group) on `stream`, then keeps draining the stream so the child never blocks on a
 * full pipe.
 */
function listeningAddress(child: ChildProcess, stream: Readable, pattern: RegExp, what: string): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    let log = '';
    const timer = setTimeout(() => reject(new Error(`${what} did not start in 20 s:\n${log}`)), 20_000);
    stream.setEncoding('utf8');
    const onData = (chunk: string): void => {
      log += chunk;
      const m = pattern.exec(log);
      if (!m) return;
      clearTimeout(timer);
      stream.off('data', onData);
      stream.resume();
      resolve(m[1]!);
    };
    stream.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${what} exited with ${code}:\n${log}`));
    });
  });
}

/** dist/src/image/testing.js → dist/src/cli/mco.js: the built CLI. */
const MCO_JS = fileURLToPath(new URL('../cli/mco.js', import.meta.url));

/**
 * Our embedded registry (`mco registry serve`) as its own process, on a kernel-picked loopback
 * port with a temporary root; stopped and removed when the test ends. A separate process, so
 * tests may run clients with spawnSync.
 */
export async function startEmbeddedRegistry(t: TestContext): Promise<Pick<RealRegistry, 'host' | 'url' | 'stop'> & { root: string }> {
  const dir = fs.mkdtempSync(join(tmpdir(), 'mco-embedded-registry-'));
  const root = join(dir, 'root');
  const child = spawn(process.execPath, [MCO_JS, 'registry', 'serve', '--root', root, '--listen', '127.0.0.1:0'], { stdio: ['ignore', 'pipe', 'ignore'] });
  const stop = stopper(child, dir);
  t.after(stop);
  const host = await listeningAddress(child, child.stdout!, /listening on (127\.0\.0\.1:\d+)/, 'mco registry serve');
  return { host, url: `http://${host}`, root, stop };
}

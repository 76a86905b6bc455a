/**
 * Shared helpers for the tests of the image layer against real peers: Debian's
 * `docker-registry` (distribution 2.8) started per test on a loopback port with its own
 * storage, and `skopeo`. Test-only: imported by *.test.ts, never by the library.
 */
import { spawn, spawnSync, type SpawnSyncOptions } from 'node:child_process';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
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
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    }
    fs.rmSync(dir, { recursive: true, force: true });
  };
  t.after(stop);

  const host = await new Promise<string>((resolve, reject) => {
    let log = '';
    const timer = setTimeout(() => reject(new Error(`docker-registry did not start in 20 s:\n${log}`)), 20_000);
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (chunk: string) => {
      log += chunk;
      const m = /listening on (127\.0\.0\.1:\d+)/.exec(log);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`docker-registry exited with ${code}:\n${log}`));
    });
  });
  child.stderr!.resume(); // keep draining its log so it never blocks on a full pipe
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

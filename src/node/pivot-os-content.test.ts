/**
 * The pivot's object path end to end (issue 15): OS images built by the real ostree and `mco
 * image build`, pushed to our registry (its own process), an OS content cache serving them
 * (`serveOsContent`, in this process so the tests can read its counters and spoil its repos),
 * and nodes installed on v1 pivoting to v2 through the cache with ostree's HTTP pull. A cache
 * that is wrong, down, or lacks the commit is refused with a warning and the whole image is
 * pulled; a pivot killed mid-pull resumes. The real `ostree` checks every node's repo.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { createServer, request } from 'node:http';
import { tmpdir } from 'node:os';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { describe, test, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { OsContentCache } from '../image/os-content-cache.js';
import { serveOsContent, type RunningOsContentServer } from '../image/os-content-server.js';
import { RegistryClient } from '../image/registry-client.js';
import { startEmbeddedRegistry } from '../image/testing.js';
import { ok, ostree } from '../ostree/testing.js';
import { simulatedBoot } from '../sysroot/boot.js';
import { needsOstree } from '../sysroot/sysroot-fixtures.js';
import { cacheContentSource } from './os-content.js';
import { registryImageSource } from './os-image.js';
import { buildOsImages, installNode, removeNodeDir, type OsImages, type TestNode } from './os-images-testing.js';
import { pivot, type PivotResult } from './pivot.js';

const DAEMON_JS = fileURLToPath(new URL('../cli/machine-config-daemon.js', import.meta.url));

interface World {
  dir: string;
  /** Node directories, removed (immutable deployments and all) before the world's directory. */
  nodes: string[];
  os: OsImages;
  cache: OsContentCache;
  server: RunningOsContentServer;
}

async function world(t: TestContext, shape: { files?: number; changed?: number } = {}): Promise<World> {
  const dir = fs.mkdtempSync(join(tmpdir(), 'mco-pivot-os-content-'));
  const nodes: string[] = [];
  t.after(() => {
    for (const n of nodes) removeNodeDir(n);
    fs.rmSync(dir, { recursive: true, force: true });
  });
  const registry = await startEmbeddedRegistry(t);
  const os = buildOsImages(dir, registry.host, shape);
  const client = new RegistryClient({ insecure: true });
  const cache = OsContentCache.open({ cacheDir: join(dir, 'cache'), client });
  const server = await serveOsContent(cache, { listen: '127.0.0.1:0' });
  t.after(async () => {
    await server.close();
    await client.close();
  });
  return { dir, nodes, os, cache, server };
}

async function node(w: World, name: string): Promise<TestNode> {
  const dir = join(w.dir, name);
  w.nodes.push(dir);
  return installNode(dir, w.os);
}

interface Pivoted {
  result: PivotResult;
  lines: string[];
  warnings: string[];
}

/** The pivot to v2 as the daemon runs it, with the cache at URL when given. */
async function pivotToV2(w: World, n: TestNode, url?: string): Promise<Pivoted> {
  const client = new RegistryClient({ insecure: true });
  const lines: string[] = [];
  const warnings: string[] = [];
  try {
    const result = await pivot(n.sysroot, w.os.images.v2, {
      source: registryImageSource(client),
      ...(url ? { osContent: cacheContentSource(url, { timeoutMs: 10_000 }) } : {}),
      log: (line) => void lines.push(line),
      warn: (line) => void warnings.push(line),
      readCmdline: simulatedBoot(n.sysroot, n.cmdline),
    }, { retryDelaysMs: [] });
    return { result, lines, warnings };
  } finally {
    await client.close();
  }
}

/** `ostree admin status` by the real tool, the sysroot's own path taken out (two nodes compare equal). */
const status = (n: TestNode): string => ok(ostree(['admin', 'status', `--sysroot=${n.sysroot}`]), 'admin status').stdout;
const fsck = (n: TestNode): void => void ok(ostree(['fsck', `--repo=${join(n.sysroot, 'ostree', 'repo')}`]), 'fsck');
const nodeRepo = (n: TestNode): string => join(n.sysroot, 'ostree', 'repo');
const partialMarks = (n: TestNode): string[] => fs.readdirSync(join(nodeRepo(n), 'state')).filter((f) => f.endsWith('.commitpartial'));
const deploymentsOf = (n: TestNode): string[] => fs.readdirSync(join(n.sysroot, 'ostree', 'deploy', 'rhcos', 'deploy')).sort();

/** Content objects of the image's repo on the cache that the node lacks: what a pivot fetches. */
function missingContent(w: World, n: TestNode, digest: string): string[] {
  const cacheObjects = join(w.cache.repoPath(digest), 'objects');
  const out: string[] = [];
  for (const dir of fs.readdirSync(cacheObjects)) {
    for (const name of fs.readdirSync(join(cacheObjects, dir))) {
      // lstat: a symlink's object in a bare repo is a symlink, dangling as likely as not.
      const have = fs.lstatSync(join(nodeRepo(n), 'objects', dir, name.replace(/\.filez$/, '.file')), { throwIfNoEntry: false });
      if (name.endsWith('.filez') && !have) out.push(join(cacheObjects, dir, name));
    }
  }
  return out;
}

const digestOf = (image: string): string => image.slice(image.indexOf('@') + 1);

async function cached(w: World): Promise<void> {
  const res = await fetch(`${w.server.url}/images?ref=${encodeURIComponent(w.os.images.v2)}`, { method: 'POST' });
  assert.equal(res.status, 200, await res.text());
}

describe('pivot through the OS content cache', needsOstree, () => {
  test('pulls only the objects the node lacks, verified, and leaves the deployment the whole-image pivot leaves', async (t) => {
    const w = await world(t);
    const [viaCache, viaImage] = [await node(w, 'node-cache'), await node(w, 'node-image')];
    const p = await pivotToV2(w, viaCache, w.server.url);
    assert.deepEqual(p.warnings, []);
    assert.equal(p.result.changed, true);
    const fetched = /^Fetched (\d+) objects \((\d+) bytes\) new to the node's repository from the OS content cache (.*)$/m.exec(p.lines.join('\n'));
    assert.ok(fetched, p.lines.join('\n'));
    assert.equal(fetched[3], w.server.url);
    assert.equal(w.server.stats().extractions, 1);
    assert.equal(Number(fetched[2]), w.server.stats().bytesServed, 'the node received what the cache served');
    await pivotToV2(w, viaImage);
    assert.equal(status(viaCache).replaceAll(viaCache.sysroot, 'SYSROOT'), status(viaImage).replaceAll(viaImage.sysroot, 'SYSROOT'), 'the same deployments, origins and versions');
    assert.match(status(viaCache), new RegExp(`^  rhcos ${w.os.commits.v2}\\.0\\n`));
    fsck(viaCache);
    assert.deepEqual(partialMarks(viaCache), [], 'the deploy synced what the pull stored: no commit is left marked partial');
  });

  test('a deploy that fails after the pull leaves the commit marked partial (its objects were never synced); the next pivot completes and clears it', async (t) => {
    const w = await world(t);
    const n = await node(w, 'node');
    const client = new RegistryClient({ insecure: true });
    t.after(() => client.close());
    const before = { status: status(n), deployments: deploymentsOf(n) };
    await assert.rejects(pivot(n.sysroot, w.os.images.v2, {
      source: registryImageSource(client),
      osContent: cacheContentSource(w.server.url, { timeoutMs: 10_000 }),
      log: () => undefined,
      readCmdline: simulatedBoot(n.sysroot, n.cmdline),
      crashPoint: (point) => {
        if (point === 'deploy-finalized') throw new Error('simulated crash before the deploy syncs');
      },
    }, { retryDelaysMs: [] }), /simulated crash/);
    assert.deepEqual(partialMarks(n), [`${w.os.commits.v2}.commitpartial`], 'the pull stored objects no sync made durable: the next pull must re-check them');
    assert.equal(status(n), before.status);

    const p = await pivotToV2(w, n, w.server.url);
    assert.deepEqual(p.warnings, []);
    // Serial 1: the crashed deploy's directory (serial 0) is there until the next cleanup.
    assert.match(status(n), new RegExp(`^  rhcos ${w.os.commits.v2}\\.1\\n`));
    assert.deepEqual(partialMarks(n), []);
    fsck(n);
  });

  test('a cache serving a wrong object is refused naming the object, the node unchanged; the pivot then pulls the whole image', async (t) => {
    const w = await world(t);
    const n = await node(w, 'node');
    await cached(w);
    const [victim, other] = missingContent(w, n, digestOf(w.os.images.v2));
    assert.ok(victim && other, 'v2 has content objects v1 lacks');
    fs.copyFileSync(other, victim); // a well-formed object under another's name
    const before = { status: status(n), deployments: deploymentsOf(n) };
    const victimName = victim.split('/').slice(-2).join('');
    await assert.rejects(cacheContentSource(w.server.url).pullCommit(w.os.images.v2, w.os.commits.v2, nodeRepo(n)), (e: Error) => e.message.includes(victimName.replace(/\.filez$/, '')));
    assert.deepEqual({ status: status(n), deployments: deploymentsOf(n) }, before, 'nothing deployed');
    fsck(n); // nothing unverified was stored

    const p = await pivotToV2(w, n, w.server.url);
    assert.equal(p.warnings.length, 1);
    assert.match(p.warnings[0]!, new RegExp(`^Pulling ${w.os.images.v2.replace(/[.]/g, '\\.')} \\(commit ${w.os.commits.v2}\\) from the OS content cache ${w.server.url} failed; pulling the whole image instead: .*${victimName.slice(0, 12)}`));
    assert.match(status(n), new RegExp(`^  rhcos ${w.os.commits.v2}\\.0\\n`));
    fsck(n);
  });

  test('a cache that is down: one warning naming the cache, the image and the reason, then the whole image', async (t) => {
    const w = await world(t);
    const n = await node(w, 'node');
    const down = await closedPort();
    const p = await pivotToV2(w, n, down);
    assert.equal(p.warnings.length, 1);
    assert.match(p.warnings[0]!, new RegExp(`^Pulling .*@sha256:[0-9a-f]{64} \\(commit ${w.os.commits.v2}\\) from the OS content cache ${down} failed; pulling the whole image instead: The OS content cache ${down} cannot be reached: .*ECONNREFUSED`));
    assert.match(status(n), new RegExp(`^  rhcos ${w.os.commits.v2}\\.0\\n`));
  });

  test('a cache that lacks the commit the label names: a warning naming the commit, then the whole image', async (t) => {
    const w = await world(t);
    const n = await node(w, 'node');
    await cached(w);
    const c = w.os.commits.v2;
    fs.rmSync(join(w.cache.repoPath(digestOf(w.os.images.v2)), 'objects', c.slice(0, 2), `${c.slice(2)}.commit`));
    const p = await pivotToV2(w, n, w.server.url);
    assert.equal(p.warnings.length, 1);
    assert.match(p.warnings[0]!, new RegExp(`from the OS content cache ${w.server.url} failed; pulling the whole image instead: .*${c}`));
    assert.match(status(n), new RegExp(`^  rhcos ${c}\\.0\\n`));
    fsck(n);
  });

  test('a pivot killed (SIGKILL) mid-pull leaves the node as it was; the next completes, fetching only what is missing', async (t) => {
    const w = await world(t, { files: 400, changed: 400 });
    const n = await node(w, 'node');
    await cached(w);
    const total = missingContent(w, n, digestOf(w.os.images.v2)).length;
    const proxy = await slowProxy(t, w.server.url);
    const before = { status: status(n), deployments: deploymentsOf(n) };
    const run = (): { exit: Promise<{ code: number | null; signal: string | null; stderr: string }>; kill: () => void } => {
      const child = spawn(process.execPath, [DAEMON_JS, 'pivot', `--sysroot=${n.sysroot}`, '--insecure', '-q', `--os-content-url=${proxy.url}`, w.os.images.v2], {
        env: { ...process.env, MCO_KERNEL_CMDLINE_FILE: n.cmdline, MCO_PIVOT_RETRY_DELAYS_MS: '' },
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let stderr = '';
      child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
      return {
        exit: new Promise((resolve) => child.on('close', (code, signal) => resolve({ code, signal, stderr }))),
        kill: () => child.kill('SIGKILL'),
      };
    };
    const first = run();
    proxy.onObject = (count) => {
      if (count === Math.floor(total / 3)) first.kill();
    };
    const killed = await first.exit;
    assert.equal(killed.signal, 'SIGKILL', `the first pivot was killed mid-pull (it ended: ${killed.stderr})`);
    assert.deepEqual({ status: status(n), deployments: deploymentsOf(n) }, before, 'the killed pivot changed nothing the node boots');
    const firstRun = new Set(proxy.fetched);
    proxy.fetched.length = 0;
    proxy.onObject = () => undefined;

    const second = await run().exit;
    assert.equal(second.code, 0, second.stderr);
    assert.match(status(n), new RegExp(`^  rhcos ${w.os.commits.v2}\\.0\\n`));
    fsck(n);
    const again = proxy.fetched.filter((p) => p.endsWith('.filez') && firstRun.has(p));
    // Only objects in flight at the kill (fetched, not yet stored) may be fetched twice.
    assert.ok(again.length <= 16, `${again.length} content objects fetched again`);
    const secondContent = proxy.fetched.filter((p) => p.endsWith('.filez')).length;
    assert.ok(secondContent < total - Math.floor(total / 3) + 16, `the second pull fetched ${secondContent} of ${total} content objects`);
    assert.match(second.stderr, /Fetched \d+ objects \(\d+ bytes\) new to the node's repository from the OS content cache/);
  });
});

/** The URL of a port nothing listens on (one the kernel just gave and took back). */
async function closedPort(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}`;
}

/**
 * A proxy in front of the cache that holds each object response back a little (so a pull takes
 * long enough to be killed in the middle), and records each object fully sent.
 */
async function slowProxy(t: TestContext, target: string): Promise<{ url: string; fetched: string[]; onObject: (count: number) => void }> {
  const upstream = new URL(target);
  const state = { url: '', fetched: [] as string[], onObject: (_count: number): void => undefined };
  let objects = 0;
  const server = createServer((req, res) => {
    const isObject = /\/objects\//.test(req.url ?? '');
    setTimeout(() => {
      const up = request({ host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers }, (ur) => {
        res.writeHead(ur.statusCode ?? 502, ur.headers);
        ur.pipe(res);
        ur.on('end', () => {
          if (!isObject || ur.statusCode !== 200) return;
          state.fetched.push(req.url!);
          state.onObject(++objects);
        });
      });
      up.on('error', () => res.destroy());
      req.pipe(up);
    }, isObject ? 15 : 0);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  }));
  state.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return state;
}

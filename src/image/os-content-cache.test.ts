import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { needsOstree, ok, ostree, OSTREE_BIN, scratch } from '../ostree/testing.js';
import { buildMachineOsContent } from './build.js';
import { decidePrune, OsContentCache, type CachedImage } from './os-content-cache.js';
import { pruneOsContentCache } from './os-content-client.js';
import { serveOsContent, type RunningOsContentServer } from './os-content-server.js';
import { pushLayout } from './push.js';
import { parseImageReference } from './reference.js';
import { RegistryClient } from './registry-client.js';
import { startRegistryServer } from './registry-server.js';

const digestOf = (n: number): string => `sha256:${n.toString(16).padStart(64, '0')}`;
const cached = (n: number): CachedImage => ({ image: `r.example/os@${digestOf(n)}`, digest: digestOf(n), commit: 'c'.repeat(64), extractedAt: '2026-01-01T00:00:00.000Z' });

test('decidePrune() keeps the images referenced by digest and removes the rest, refusing a reference it cannot match', () => {
  const all = [cached(1), cached(2), cached(3)];
  const cases: { name: string; referenced: string[]; remove?: number[]; refused?: RegExp }[] = [
    { name: 'nothing referenced: all go', referenced: [], remove: [1, 2, 3] },
    { name: 'one referenced (another registry host, same digest): the others go', referenced: [`mirror.example/os@${digestOf(2)}`], remove: [1, 3] },
    { name: 'all referenced: nothing goes', referenced: all.map((c) => c.image), remove: [] },
    { name: 'a reference not cached changes nothing', referenced: [`r.example/os@${digestOf(9)}`, all[0]!.image], remove: [2, 3] },
    { name: 'a tag reference refuses the prune', referenced: ['r.example/os:latest'], refused: /"r\.example\/os:latest" names no digest/ },
    { name: 'a malformed reference refuses the prune', referenced: ['UPPER/Case@x'], refused: /"UPPER\/Case@x" is not an image reference/ },
  ];
  for (const c of cases) {
    const d = decidePrune(all, c.referenced);
    if (c.refused) {
      assert.ok('refused' in d && c.refused.test(d.refused), `${c.name}: ${JSON.stringify(d)}`);
    } else {
      assert.ok(!('refused' in d), c.name);
      assert.deepEqual(d.remove.map((x) => x.digest), c.remove!.map(digestOf), c.name);
      assert.equal(d.keep.length + d.remove.length, all.length, c.name);
    }
  }
});

interface Fixture {
  dir: string;
  registry: string;
  images: { ref: string; commit: string; digest: string }[];
}

/** Two OS versions (real ostree commits) built into machine-os-content and pushed to our registry, in process. */
async function fixture(t: TestContext): Promise<Fixture> {
  const dir = scratch(t, 'mco-os-content-');
  const registry = await startRegistryServer({ root: join(dir, 'registry'), listen: '127.0.0.1:0' });
  t.after(() => registry.close());
  const repo = join(dir, 'build-repo');
  ok(ostree(['init', '--mode=archive', `--repo=${repo}`]), 'init');
  const client = new RegistryClient({ insecure: true });
  t.after(() => client.close());
  const images: Fixture['images'] = [];
  for (const v of ['1', '2']) {
    const tree = join(dir, `tree-${v}`);
    fs.mkdirSync(join(tree, 'usr', 'lib'), { recursive: true });
    for (let i = 0; i < 20; i++) fs.writeFileSync(join(tree, 'usr', 'lib', `f${i}`), i < 2 ? `v${v} ${i}\n` : `same ${i}\n`);
    const commit = ok(ostree(['commit', `--repo=${repo}`, '-b', 'os', `--add-metadata-string=version=4${v}.0`, tree]), 'commit').stdout.trim();
    const layoutDir = join(dir, `oci-${v}`);
    await buildMachineOsContent({ repo, rev: commit, layoutDir, refName: 'v' });
    const target = parseImageReference(`${registry.address}/ocp/machine-os-content:v${v}`);
    const { digest } = await pushLayout(client, layoutDir, 'v', target);
    images.push({ ref: `${registry.address}/ocp/machine-os-content@${digest}`, commit, digest });
  }
  return { dir, registry: registry.address, images };
}

async function startCache(t: TestContext, cacheDir: string, allowedRepositories?: string[]): Promise<{ cache: OsContentCache; server: RunningOsContentServer }> {
  const client = new RegistryClient({ insecure: true });
  const cache = OsContentCache.open({ cacheDir, client, ...(allowedRepositories ? { allowedRepositories } : {}) });
  const server = await serveOsContent(cache, { listen: '127.0.0.1:0' });
  t.after(async () => {
    await server.close();
    await client.close();
  });
  return { cache, server };
}

const add = async (server: RunningOsContentServer, image: string): Promise<Response> => fetch(`${server.url}/images?ref=${encodeURIComponent(image)}`, { method: 'POST' });

test('the cache pulls an image once for concurrent first requests and serves its repo, which the real ostree pulls the commit from', needsOstree, async (t) => {
  const f = await fixture(t);
  const { server } = await startCache(t, join(f.dir, 'cache'));
  const [v1] = f.images;
  const answers = await Promise.all([add(server, v1!.ref), add(server, v1!.ref), add(server, v1!.ref)]);
  for (const res of answers) {
    assert.equal(res.status, 200);
    assert.deepEqual({ ...((await res.json()) as object), extractedAt: undefined }, { image: v1!.ref, digest: v1!.digest, commit: v1!.commit, version: '41.0', extractedAt: undefined, path: `/images/${v1!.digest}/` });
  }
  assert.equal(server.stats().extractions, 1, 'three concurrent requests, one extraction');

  const config = await fetch(`${server.url}/images/${v1!.digest}/config`);
  assert.equal(config.status, 200);
  assert.match(await config.text(), /mode=archive/);
  const etag = config.headers.get('etag')!;
  assert.equal((await fetch(`${server.url}/images/${v1!.digest}/config`, { headers: { 'if-none-match': etag } })).status, 304);
  const partial = await fetch(`${server.url}/images/${v1!.digest}/config`, { headers: { range: 'bytes=1-4' } });
  assert.equal(partial.status, 206);
  assert.equal(await partial.text(), 'core');

  const node = join(f.dir, 'node-repo');
  ok(ostree(['init', '--mode=bare-user', `--repo=${node}`]), 'init node repo');
  ok(ostree(['remote', 'add', '--no-gpg-verify', `--repo=${node}`, 'cache', `${server.url}/images/${v1!.digest}/`]), 'remote add');
  // Not spawnSync: this process serves the pull.
  await new Promise<void>((resolve, reject) => execFile(OSTREE_BIN, ['pull', `--repo=${node}`, 'cache', v1!.commit], (e, _out, err) => (e ? reject(new Error(`ostree pull from the cache: ${err}`)) : resolve())));
  ok(ostree(['fsck', `--repo=${node}`]), 'fsck');
  assert.ok(server.stats().bytesServed > 0);
});

test('the cache refuses what it cannot serve, with a message naming it', async (t) => {
  const dir = scratch(t, 'mco-os-content-');
  const { server } = await startCache(t, join(dir, 'cache'));
  const { server: guarded } = await startCache(t, join(dir, 'guarded'), ['127.0.0.1:1/os']);
  const cases: [string, () => Promise<Response>, number, RegExp][] = [
    ['a tag reference', () => add(server, '127.0.0.1:1/os:latest'), 400, /names no digest: the cache serves images by digest only/],
    ['no ref', () => fetch(`${server.url}/images`, { method: 'POST' }), 400, /needs \?ref=IMAGE/],
    ['a registry that is down', () => add(server, `127.0.0.1:1/os@${digestOf(1)}`), 502, /Reading 127\.0\.0\.1:1\/os@sha256:0+1 from its registry/],
    ['an image not cached', () => fetch(`${server.url}/images/${digestOf(7)}/config`), 404, /Image sha256:0+7 is not in this cache/],
    ['a path out of the repo', () => fetch(`${server.url}/images/${digestOf(7)}/%2e%2e/x`), 404, /not in this cache|No such/],
    ['a prune without a keep list', () => fetch(`${server.url}/prune`, { method: 'POST', body: '{}' }), 400, /body must be \{"keep"/],
    ['an image of a repository the cache does not serve', () => add(guarded, `127.0.0.1:1/other@${digestOf(1)}`), 403, /^Image 127\.0\.0\.1:1\/other@sha256:0+1: this cache pulls only images of 127\.0\.0\.1:1\/os, not of 127\.0\.0\.1:1\/other$/],
    ['an image of the repository it serves is pulled (its registry is down)', () => add(guarded, `127.0.0.1:1/os@${digestOf(1)}`), 502, /Reading 127\.0\.0\.1:1\/os@sha256:0+1 from its registry/],
  ];
  for (const [name, request, status, message] of cases) {
    const res = await request();
    assert.equal(res.status, status, name);
    assert.match(((await res.json()) as { error: string }).error, message, name);
  }
});

test('the cache keeps images side by side across restarts, prunes those no pool references, and drops an extraction cut before its record', needsOstree, async (t) => {
  const f = await fixture(t);
  const cacheDir = join(f.dir, 'cache');
  const [v1, v2] = f.images as [Fixture['images'][0], Fixture['images'][0]];
  {
    const { server } = await startCache(t, cacheDir);
    for (const image of [v1, v2]) assert.equal((await add(server, image.ref)).status, 200);
    const listed = (await (await fetch(`${server.url}/images`)).json()) as { images: CachedImage[] };
    assert.deepEqual(listed.images.map((c) => c.commit).sort(), [v1.commit, v2.commit].sort());
    await server.close();
  }
  // A crash between the repo's rename and its record: the repo is not served, and is removed.
  fs.mkdirSync(join(cacheDir, 'images', digestOf(5)));
  const { cache, server } = await startCache(t, cacheDir);
  assert.equal(fs.existsSync(join(cacheDir, 'images', digestOf(5))), false);
  assert.equal(cache.list().length, 2, 'both images survive the restart');
  assert.equal((await add(server, v2.ref)).status, 200);
  assert.equal(server.stats().extractions, 0, 'a cached image is not pulled again after a restart');

  // As the machine-config-controller asks once rollouts end.
  await assert.rejects(pruneOsContentCache(server.url, ['r.example/os:latest']), /^OsContentClientError: Pruning the OS content cache http:\S+: HTTP 400: Not pruning: referenced image "r\.example\/os:latest" names no digest/);
  assert.deepEqual(await pruneOsContentCache(server.url, [v2.ref]), [v1.ref]);
  assert.equal((await fetch(`${server.url}/images/${v1.digest}/config`)).status, 404);
  assert.equal((await fetch(`${server.url}/images/${v2.digest}/config`)).status, 200);
  assert.equal(fs.existsSync(cache.repoPath(v1.digest)), false);
});

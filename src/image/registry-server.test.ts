import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { pseudoRandom, scratch } from '../ostree/testing.js';
import { buildImage } from './build.js';
import { MANIFEST_ACCEPT, OCI_MANIFEST, sha256Digest } from './media-types.js';
import { OciLayout } from './oci-layout.js';
import { startRegistryServer, type RunningRegistry } from './registry-server.js';
import { needsRegistryAndSkopeo, needsSkopeo, skopeoAsync as skopeo, startDockerRegistry } from './testing.js';

async function serve(t: TestContext, root: string): Promise<RunningRegistry> {
  const registry = await startRegistryServer({ root, listen: '127.0.0.1:0' });
  t.after(() => registry.close());
  return registry;
}

/** A two-layer image in an OCI layout: a tree under /srv/repo and one at the root. */
async function fixtureImage(dir: string): Promise<{ layout: OciLayout; digest: string }> {
  fs.mkdirSync(join(dir, 'a/objects/ab'), { recursive: true });
  fs.writeFileSync(join(dir, 'a/config'), '[core]\nrepo_version=1\nmode=archive-z2\n');
  fs.writeFileSync(join(dir, 'a/objects/ab/cdef.filez'), pseudoRandom('filez', 300_000));
  fs.mkdirSync(join(dir, 'b'));
  fs.writeFileSync(join(dir, 'b/pkglist.txt'), 'kernel-4.18.0-240.el8.x86_64\n');
  const { digest } = await buildImage({ layoutDir: join(dir, 'oci'), refName: 'v1', layers: [{ dir: join(dir, 'a'), prefix: '/srv/repo' }, { dir: join(dir, 'b') }], labels: { version: '1' } });
  return { layout: await OciLayout.open(join(dir, 'oci')), digest };
}

function ok(r: { status: number | null; stderr: string }, what: string): void {
  assert.equal(r.status, 0, `${what}: ${r.stderr}`);
}

test('skopeo copies an image into our registry and out again byte for byte, in OCI and v2s2 form, and after a restart', needsSkopeo, async (t) => {
  const w = scratch(t);
  const { layout, digest } = await fixtureImage(w);
  let registry = await serve(t, join(w, 'root'));
  const ref = (r: RunningRegistry, tag: string): string => `docker://${r.address}/ocp/machine-os-content:${tag}`;
  ok(await skopeo(['copy', '-q', '--dest-tls-verify=false', `oci:${w}/oci:v1`, ref(registry, 'oci')]), 'push OCI');
  ok(await skopeo(['copy', '-q', '--dest-tls-verify=false', '--format', 'v2s2', `oci:${w}/oci:v1`, ref(registry, 'v2s2')]), 'push v2s2');

  await registry.close();
  registry = await serve(t, join(w, 'root')); // what was pushed survives a restart (new port too)
  ok(await skopeo(['copy', '-q', '--src-tls-verify=false', ref(registry, 'oci'), `dir:${w}/out`]), 'pull OCI');
  assert.deepEqual(fs.readFileSync(join(w, 'out/manifest.json')), await layout.readBlob(digest), 'manifest bytes as we built them');
  const manifest = JSON.parse(fs.readFileSync(join(w, 'out/manifest.json'), 'utf8')) as { config: { digest: string }; layers: { digest: string }[] };
  for (const d of [manifest.config.digest, ...manifest.layers.map((l) => l.digest)]) {
    assert.deepEqual(fs.readFileSync(join(w, 'out', d.slice(7))), fs.readFileSync(layout.blobPath(d)), `blob ${d}`);
  }

  const inspect = await skopeo(['inspect', '--tls-verify=false', ref(registry, 'v2s2')]);
  ok(inspect, 'inspect v2s2');
  const info = JSON.parse(inspect.stdout) as { Digest: string; Labels: Record<string, string>; Layers: string[] };
  assert.notEqual(info.Digest, digest, 'v2s2 is another manifest');
  assert.deepEqual(info.Layers, manifest.layers.map((l) => l.digest), 'with the same layer blobs');
  assert.equal(info.Labels['version'], '1');
  ok(await skopeo(['copy', '-q', '--src-tls-verify=false', ref(registry, 'v2s2'), `dir:${w}/back`]), 'pull v2s2');
  assert.equal(sha256Digest(fs.readFileSync(join(w, 'back/manifest.json'))), info.Digest, 'v2s2 manifest bytes kept through our registry');

  const tags = await skopeo(['list-tags', '--tls-verify=false', `docker://${registry.address}/ocp/machine-os-content`]);
  ok(tags, 'list-tags');
  assert.deepEqual(JSON.parse(tags.stdout).Tags, ['oci', 'v2s2']);
});

test('skopeo copies between our registry and a real docker-registry both ways with the same digests', needsRegistryAndSkopeo, async (t) => {
  const w = scratch(t);
  const { digest } = await fixtureImage(w);
  const ours = await serve(t, join(w, 'root'));
  const real = await startDockerRegistry(t);
  const flags = ['-q', '--src-tls-verify=false', '--dest-tls-verify=false'];
  ok(await skopeo(['copy', ...flags, `oci:${w}/oci:v1`, `docker://${real.host}/a/b:v1`]), 'into the real registry');
  ok(await skopeo(['copy', ...flags, `docker://${real.host}/a/b:v1`, `docker://${ours.address}/c/d:v1`]), 'real → ours');
  ok(await skopeo(['copy', ...flags, `docker://${ours.address}/c/d:v1`, `docker://${real.host}/e/f:v1`]), 'ours → real');
  for (const ref of [`${ours.address}/c/d:v1`, `${real.host}/e/f:v1`]) {
    const r = await skopeo(['inspect', '--tls-verify=false', `docker://${ref}`]);
    ok(r, ref);
    assert.equal(JSON.parse(r.stdout).Digest, digest, ref);
  }
});

/** Raw API checks run against our registry and against distribution 2.8 itself: same answers. */
for (const impl of ['ours', 'docker-registry'] as const) {
  const opts = impl === 'ours' ? {} : needsRegistryAndSkopeo;
  const start = async (t: TestContext, w: string): Promise<string> =>
    impl === 'ours' ? (await serve(t, join(w, 'root'))).url : (await startDockerRegistry(t)).url;

  test(`${impl}: a blob upload whose content does not match its digest is refused with DIGEST_INVALID and stores nothing`, opts, async (t) => {
    const url = await start(t, scratch(t));
    const post = await fetch(`${url}/v2/test/repo/blobs/uploads/`, { method: 'POST' });
    assert.equal(post.status, 202);
    const location = new URL(post.headers.get('location')!, url);
    const claimed = sha256Digest(Buffer.from('the real content'));
    location.searchParams.set('digest', claimed);
    const put = await fetch(location, { method: 'PUT', body: 'something else', headers: { 'Content-Type': 'application/octet-stream' } });
    assert.equal(put.status, 400);
    assert.equal(((await put.json()) as { errors: { code: string }[] }).errors[0]!.code, 'DIGEST_INVALID');
    assert.equal((await fetch(`${url}/v2/test/repo/blobs/${claimed}`, { method: 'HEAD' })).status, 404);
  });

  test(`${impl}: a manifest referencing blobs missing from the repository is refused, listing each missing blob`, opts, async (t) => {
    const w = scratch(t);
    const url = await start(t, w);
    const layer = Buffer.from('layer bytes');
    const config = Buffer.from('{"rootfs":{"type":"layers","diff_ids":["sha256:00"]}}');
    const desc = (b: Buffer, mediaType: string) => ({ mediaType, digest: sha256Digest(b), size: b.length });
    // Only the config is pushed: the layer is missing.
    const post = await fetch(`${url}/v2/test/repo/blobs/uploads/`, { method: 'POST' });
    const loc = new URL(post.headers.get('location')!, url);
    loc.searchParams.set('digest', sha256Digest(config));
    assert.equal((await fetch(loc, { method: 'PUT', body: config })).status, 201);
    const manifest = JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: desc(config, 'application/vnd.oci.image.config.v1+json'), layers: [desc(layer, 'application/vnd.oci.image.layer.v1.tar')] });
    const put = await fetch(`${url}/v2/test/repo/manifests/v1`, { method: 'PUT', body: manifest, headers: { 'Content-Type': OCI_MANIFEST } });
    assert.equal(put.status, 400);
    const body = (await put.json()) as { errors: { code: string; detail: unknown }[] };
    assert.deepEqual(body.errors.map((e) => [e.code, e.detail]), [['MANIFEST_BLOB_UNKNOWN', sha256Digest(layer)]]);
    // Wrong Content-Type for an OCI body.
    const wrongType = await fetch(`${url}/v2/test/repo/manifests/v1`, { method: 'PUT', body: manifest, headers: { 'Content-Type': 'application/json' } });
    assert.equal(wrongType.status, 400);
    assert.equal(((await wrongType.json()) as { errors: { code: string }[] }).errors[0]!.code, 'MANIFEST_INVALID');
  });

  test(`${impl}: OCI manifests only for clients that accept them; ranges, mounts, tags pages and deletes`, opts, async (t) => {
    const w = scratch(t);
    const url = await start(t, w);
    const { layout, digest } = await fixtureImage(w);
    const host = new URL(url).host;
    ok(await skopeo(['copy', '-q', '--dest-tls-verify=false', `oci:${w}/oci:v1`, `docker://${host}/ocp/mos:v1`]), 'push');
    ok(await skopeo(['copy', '-q', '--dest-tls-verify=false', `oci:${w}/oci:v1`, `docker://${host}/ocp/mos:v2`]), 'push again');

    const noAccept = await fetch(`${url}/v2/ocp/mos/manifests/v1`);
    assert.equal(noAccept.status, 404);
    assert.match(JSON.stringify(await noAccept.json()), /MANIFEST_UNKNOWN.*OCI manifest found, but accept header does not support OCI manifests/);
    const got = await fetch(`${url}/v2/ocp/mos/manifests/v1`, { headers: { Accept: MANIFEST_ACCEPT } });
    assert.equal(got.status, 200);
    assert.equal(got.headers.get('content-type'), OCI_MANIFEST);
    assert.equal(got.headers.get('docker-content-digest'), digest);
    assert.deepEqual(Buffer.from(await got.arrayBuffer()), await layout.readBlob(digest));

    const manifest = JSON.parse((await layout.readBlob(digest)).toString()) as { layers: { digest: string; size: number }[] };
    const layer = manifest.layers[0]!;
    const part = await fetch(`${url}/v2/ocp/mos/blobs/${layer.digest}`, { headers: { Range: 'bytes=100-' } });
    assert.equal(part.status, 206);
    assert.equal(part.headers.get('content-range'), `bytes 100-${layer.size - 1}/${layer.size}`);
    assert.deepEqual(Buffer.from(await part.arrayBuffer()), fs.readFileSync(layout.blobPath(layer.digest)).subarray(100));

    assert.equal((await fetch(`${url}/v2/other/repo/blobs/${layer.digest}`, { method: 'HEAD' })).status, 404, 'blobs belong to repositories');
    const mount = await fetch(`${url}/v2/other/repo/blobs/uploads/?mount=${layer.digest}&from=ocp/mos`, { method: 'POST' });
    assert.equal(mount.status, 201);
    assert.equal(mount.headers.get('docker-content-digest'), layer.digest);
    assert.equal((await fetch(`${url}/v2/other/repo/blobs/${layer.digest}`, { method: 'HEAD' })).status, 200);
    const noMount = await fetch(`${url}/v2/third/repo/blobs/uploads/?mount=${layer.digest}&from=nowhere/repo`, { method: 'POST' });
    assert.equal(noMount.status, 202, 'an impossible mount falls back to an upload session');

    const unknownTag = await fetch(`${url}/v2/ocp/mos/manifests/nosuchtag`, { headers: { Accept: MANIFEST_ACCEPT } });
    assert.equal(unknownTag.status, 404);
    assert.deepEqual(((await unknownTag.json()) as { errors: { code: string; detail: unknown }[] }).errors.map((e) => [e.code, e.detail]), [['MANIFEST_UNKNOWN', { Tag: 'nosuchtag' }]]);
    const noRepo = await fetch(`${url}/v2/nope/tags/list`);
    assert.equal(noRepo.status, 404);
    assert.equal(((await noRepo.json()) as { errors: { code: string }[] }).errors[0]!.code, 'NAME_UNKNOWN');
    assert.deepEqual(await (await fetch(`${url}/v2/ocp/mos/tags/list`)).json(), { name: 'ocp/mos', tags: ['v1', 'v2'] });
    const catalog = await fetch(`${url}/v2/_catalog?n=1`);
    assert.deepEqual(await catalog.json(), { repositories: ['ocp/mos'] });
    assert.equal(catalog.headers.get('link'), '</v2/_catalog?last=ocp%2Fmos&n=1>; rel="next"'.replace('?last=ocp%2Fmos&n=1', impl === 'ours' ? '?n=1&last=ocp%2Fmos' : '?last=ocp%2Fmos&n=1'));

    assert.equal((await fetch(`${url}/v2/ocp/mos/manifests/v1`, { method: 'DELETE' })).status, 400, 'delete by tag is refused (2.8)');
    assert.equal((await fetch(`${url}/v2/ocp/mos/manifests/${digest}`, { method: 'DELETE' })).status, 202);
    assert.equal((await fetch(`${url}/v2/ocp/mos/manifests/v2`, { headers: { Accept: MANIFEST_ACCEPT } })).status, 404, 'its tags went with it');
  });
}

test('concurrent chunked pushes of the same blob all succeed and leave one intact blob', async (t) => {
  const w = scratch(t);
  const { url } = await serve(t, join(w, 'root'));
  const blob = pseudoRandom('concurrent', 1_500_000);
  const digest = sha256Digest(blob);
  const push = async (): Promise<number> => {
    const post = await fetch(`${url}/v2/same/blob/blobs/uploads/`, { method: 'POST' });
    let location = new URL(post.headers.get('location')!, url);
    for (let off = 0; off < blob.length; off += 400_000) {
      const chunk = blob.subarray(off, off + 400_000);
      const patch = await fetch(location, { method: 'PATCH', body: new Uint8Array(chunk), headers: { 'Content-Range': `${off}-${off + chunk.length - 1}`, 'Content-Type': 'application/octet-stream' } });
      assert.equal(patch.status, 202);
      assert.equal(patch.headers.get('range'), `0-${off + chunk.length - 1}`);
      location = new URL(patch.headers.get('location')!, url);
    }
    location.searchParams.set('digest', digest);
    return (await fetch(location, { method: 'PUT' })).status;
  };
  assert.deepEqual(await Promise.all(Array.from({ length: 8 }, push)), Array(8).fill(201));
  const got = await fetch(`${url}/v2/same/blob/blobs/${digest}`);
  assert.equal(sha256Digest(Buffer.from(await got.arrayBuffer())), digest);
  assert.deepEqual(fs.readdirSync(join(w, 'root/_uploads')), [], 'no session left behind');
  assert.deepEqual(fs.readdirSync(join(w, 'root/blobs/sha256')), [digest.slice(7)]);
});

test('an out-of-order chunk is refused with 416 and the upload continues from where it was', async (t) => {
  const { url } = await serve(t, scratch(t));
  const post = await fetch(`${url}/v2/r/blobs/uploads/`, { method: 'POST' });
  const location = new URL(post.headers.get('location')!, url);
  assert.equal((await fetch(location, { method: 'PATCH', body: 'abc', headers: { 'Content-Range': '0-2' } })).status, 202);
  const skipped = await fetch(location, { method: 'PATCH', body: 'xyz', headers: { 'Content-Range': '10-12' } });
  assert.equal(skipped.status, 416);
  assert.equal(((await skipped.json()) as { errors: { code: string }[] }).errors[0]!.code, 'BLOB_UPLOAD_INVALID');
  assert.equal((await fetch(location, { method: 'PATCH', body: 'def', headers: { 'Content-Range': '3-5' } })).status, 202);
  location.searchParams.set('digest', sha256Digest(Buffer.from('abcdef')));
  assert.equal((await fetch(location, { method: 'PUT' })).status, 201);
});

test('an upload session started before a restart can be finished after it', async (t) => {
  const root = scratch(t);
  const first = await startRegistryServer({ root, listen: '127.0.0.1:0' });
  const post = await fetch(`${first.url}/v2/r/blobs/uploads/`, { method: 'POST' });
  const path = post.headers.get('location')!;
  assert.equal((await fetch(new URL(path, first.url), { method: 'PATCH', body: 'part one, ' })).status, 202);
  await first.close();
  const second = await serve(t, root);
  const status = await fetch(new URL(path, second.url));
  assert.equal(status.status, 204);
  assert.equal(status.headers.get('range'), '0-9');
  const location = new URL(path, second.url);
  location.searchParams.set('digest', sha256Digest(Buffer.from('part one, part two')));
  assert.equal((await fetch(location, { method: 'PUT', body: 'part two' })).status, 201);
  const wrong = new URL(path, second.url);
  assert.equal((await fetch(wrong)).status, 404, 'a finished session is gone');
});

test('monolithic POST ?digest= uploads in one request; invalid names and digests are refused by code', async (t) => {
  const { url } = await serve(t, scratch(t));
  const body = Buffer.from('one shot');
  const post = await fetch(`${url}/v2/r/blobs/uploads/?digest=${sha256Digest(body)}`, { method: 'POST', body: new Uint8Array(body) });
  assert.equal(post.status, 201);
  assert.equal(post.headers.get('location'), `/v2/r/blobs/${sha256Digest(body)}`);
  const code = async (res: Response): Promise<[number, string]> => [res.status, ((await res.json()) as { errors: { code: string }[] }).errors[0]!.code];
  assert.deepEqual(await code(await fetch(`${url}/v2/Upper/blobs/uploads/`, { method: 'POST' })), [400, 'NAME_INVALID']);
  assert.deepEqual(await code(await fetch(`${url}/v2/r/blobs/sha256:../../x`)), [400, 'DIGEST_INVALID']);
  assert.deepEqual(await code(await fetch(`${url}/v2/r/blobs/uploads/not-a-session`, { method: 'PATCH', body: 'x' })), [404, 'BLOB_UPLOAD_UNKNOWN']);
});

import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { scratch } from '../ostree/testing.js';
import { buildImage } from './build.js';
import { OCI_CONFIG, OCI_MANIFEST, sha256Digest } from './media-types.js';
import { OciLayout, OciLayoutError, parseOciLayoutReference } from './oci-layout.js';
import { needsSkopeo, skopeo } from './testing.js';

function tree(dir: string, files: Record<string, string>): string {
  for (const [name, content] of Object.entries(files)) {
    fs.mkdirSync(join(dir, name, '..'), { recursive: true });
    fs.writeFileSync(join(dir, name), content);
  }
  return dir;
}

test('skopeo reads the layouts we write: inspect shows our digest and labels, copy to dir: gives our bytes', needsSkopeo, async (t) => {
  const w = scratch(t);
  const src = tree(join(w, 'src'), { 'etc/motd': 'hello\n', 'usr/bin/tool': '#!/bin/sh\n' });
  const { digest } = await buildImage({ layoutDir: join(w, 'oci'), refName: '4.6.8', layers: [{ dir: src }], labels: { version: '46.82' } });
  const inspect = skopeo(['inspect', `oci:${w}/oci:4.6.8`]);
  assert.equal(inspect.status, 0, inspect.stderr);
  const info = JSON.parse(inspect.stdout) as { Digest: string; Labels: Record<string, string>; Layers: string[] };
  assert.equal(info.Digest, digest);
  assert.deepEqual(info.Labels, { version: '46.82' });

  const copy = skopeo(['copy', '-q', `oci:${w}/oci:4.6.8`, `dir:${w}/out`]);
  assert.equal(copy.status, 0, copy.stderr);
  const layout = await OciLayout.open(join(w, 'oci'));
  assert.deepEqual(fs.readFileSync(join(w, 'out/manifest.json')), await layout.readBlob(digest), 'manifest bytes unchanged');
  for (const layer of info.Layers) {
    assert.deepEqual(fs.readFileSync(join(w, 'out', layer.replace('sha256:', ''))), fs.readFileSync(layout.blobPath(layer)));
  }
});

test('we read the layouts skopeo writes, and names we add beside skopeo\'s are seen by skopeo', needsSkopeo, async (t) => {
  const w = scratch(t);
  const src = tree(join(w, 'src'), { a: 'a\n' });
  const { digest } = await buildImage({ layoutDir: join(w, 'ours'), refName: 'v1', layers: [{ dir: src }] });
  const copy = skopeo(['copy', '-q', `oci:${w}/ours:v1`, `oci:${w}/theirs:copied`]);
  assert.equal(copy.status, 0, copy.stderr);

  const theirs = await OciLayout.open(join(w, 'theirs'));
  const descriptor = await theirs.resolve('copied');
  assert.equal(descriptor.digest, digest, 'skopeo keeps an OCI manifest unchanged');
  const manifest = JSON.parse((await theirs.readBlob(descriptor.digest)).toString()) as { config: { digest: string } };
  assert.equal(JSON.parse((await theirs.readBlob(manifest.config.digest)).toString()).rootfs.type, 'layers');

  await theirs.addManifest(await theirs.readBlob(descriptor.digest), OCI_MANIFEST, 'second');
  for (const name of ['copied', 'second']) {
    const r = skopeo(['inspect', `oci:${w}/theirs:${name}`]);
    assert.equal(r.status, 0, `${name}: ${r.stderr}`);
    assert.equal(JSON.parse(r.stdout).Digest, digest);
  }
});

test('addManifest() moves a name to the new manifest, as skopeo does, and keeps other names', async (t) => {
  const w = scratch(t);
  const layout = await OciLayout.create(w);
  const config = await layout.putBlob(Buffer.from('{"rootfs":{"type":"layers","diff_ids":[]}}'), OCI_CONFIG);
  const manifest = (n: number): Buffer => Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config, layers: [], annotations: { n: String(n) } }));
  const one = await layout.addManifest(manifest(1), OCI_MANIFEST, 'latest');
  await layout.addManifest(manifest(1), OCI_MANIFEST, 'stable');
  const two = await layout.addManifest(manifest(2), OCI_MANIFEST, 'latest');
  assert.equal((await layout.resolve('latest')).digest, two.digest);
  assert.equal((await layout.resolve('stable')).digest, one.digest);
  assert.equal((await layout.readIndex()).manifests.length, 2);
  await assert.rejects(layout.resolve(), /holds 2 images: name one with oci:.*:REF \(names: stable, latest\)/);
  await assert.rejects(layout.resolve('nope'), /No image named "nope" in OCI layout .* \(names: stable, latest\)/);
  assert.equal(one.digest, sha256Digest(manifest(1)));
});

test('concurrent addManifest() calls lose no name', async (t) => {
  const layout = await OciLayout.create(scratch(t));
  const bytes = Buffer.from('{"schemaVersion":2}');
  await Promise.all(Array.from({ length: 20 }, (_, i) => layout.addManifest(bytes, OCI_MANIFEST, `t${i}`)));
  assert.equal((await layout.readIndex()).manifests.length, 20);
});

test('readBlob() refuses a blob whose content no longer matches its digest, and names a missing one', async (t) => {
  const layout = await OciLayout.create(scratch(t));
  const d = await layout.putBlob(Buffer.from('original'), 'application/octet-stream');
  fs.writeFileSync(layout.blobPath(d.digest), 'tampered');
  await assert.rejects(layout.readBlob(d.digest), (e: Error) => e instanceof OciLayoutError && e.message.includes(`Blob ${d.digest}`) && /corrupted/.test(e.message));
  await assert.rejects(layout.readBlob(`sha256:${'0'.repeat(64)}`), /is missing from OCI layout/);
  assert.throws(() => layout.blobPath('sha256:../../etc/passwd'), /Invalid digest/);
});

test('putBlobFromStream() with an expected digest stores nothing when the content differs', async (t) => {
  const layout = await OciLayout.create(scratch(t));
  const claimed = sha256Digest(Buffer.from('what was promised'));
  const { Readable } = await import('node:stream');
  await assert.rejects(layout.putBlobFromStream(Readable.from([Buffer.from('something else')]), 'x', { digest: claimed }), /does not match its content/);
  assert.deepEqual(fs.readdirSync(join(layout.dir, 'blobs/sha256')), [], 'no blob and no temporary file left');
});

test('open() names what is wrong with a directory that is not a layout; parseOciLayoutReference() splits as skopeo', async (t) => {
  const w = scratch(t);
  await assert.rejects(OciLayout.open(w), /Not an OCI image layout: .* \(no oci-layout file\)/);
  fs.writeFileSync(join(w, 'oci-layout'), '{"imageLayoutVersion":"2.0.0"}');
  await assert.rejects(OciLayout.open(w), /Unsupported OCI image layout version "2.0.0"/);
  assert.deepEqual(parseOciLayoutReference('oci:/tmp/x:4.6.8'), { dir: '/tmp/x', refName: '4.6.8' });
  assert.deepEqual(parseOciLayoutReference('oci:/tmp/x'), { dir: '/tmp/x' });
  assert.throws(() => parseOciLayoutReference('oci:/tmp/x:bad name'), /Invalid image reference name "bad name"/);
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, hostPlatform, ManifestError, OCI_INDEX, OCI_MANIFEST, parseManifest, parsePlatform, selectPlatform, type ImageIndex } from './media-types.js';

const D = (c: string): string => `sha256:${c.repeat(64)}`;
const image = { schemaVersion: 2, config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: D('c'), size: 2 }, layers: [] };
const bytes = (doc: unknown): Buffer => Buffer.from(JSON.stringify(doc));

test('parseManifest() takes the type from the body, else the header, else the shape', () => {
  assert.equal(parseManifest(bytes({ ...image, mediaType: DOCKER_MANIFEST }), undefined, 'x').mediaType, DOCKER_MANIFEST);
  assert.equal(parseManifest(bytes(image), `${OCI_MANIFEST}; charset=utf-8`, 'x').mediaType, OCI_MANIFEST);
  assert.equal(parseManifest(bytes({ schemaVersion: 2, manifests: [] }), 'application/json', 'x').kind, 'index');
});

test('parseManifest() refuses a body and header that disagree, schema1, and broken shapes, naming the image', () => {
  assert.throws(() => parseManifest(bytes({ ...image, mediaType: OCI_MANIFEST }), OCI_INDEX, 'r.io/a:1'), /r.io\/a:1: served as .*index.v1\+json but the manifest says mediaType .*manifest.v1\+json/);
  assert.throws(() => parseManifest(bytes({ schemaVersion: 1, name: 'a' }), undefined, 'r.io/a:1'), /schema1 manifests are not supported/);
  assert.throws(() => parseManifest(Buffer.from('<html>'), undefined, 'r.io/a:1'), (e: unknown) => e instanceof ManifestError && /r.io\/a:1: manifest is not JSON/.test(e.message));
  assert.throws(() => parseManifest(bytes({ ...image, layers: [{ digest: 'x' }] }), OCI_MANIFEST, 'x'), /no valid layers\[\] list/);
});

test('selectPlatform() picks the matching image, skipping attestations, and lists what exists when none matches', () => {
  const index: ImageIndex = {
    schemaVersion: 2,
    mediaType: DOCKER_MANIFEST_LIST,
    manifests: [
      { mediaType: OCI_MANIFEST, digest: D('0'), size: 1, platform: { os: 'unknown', architecture: 'unknown' } },
      { mediaType: OCI_MANIFEST, digest: D('1'), size: 1, platform: { os: 'linux', architecture: 'arm', variant: 'v6' } },
      { mediaType: OCI_MANIFEST, digest: D('2'), size: 1, platform: { os: 'linux', architecture: 'arm', variant: 'v7' } },
      { mediaType: OCI_MANIFEST, digest: D('3'), size: 1, platform: { os: 'linux', architecture: 'amd64' } },
    ],
  };
  assert.equal(selectPlatform(index, { os: 'linux', architecture: 'amd64' }, 'x').digest, D('3'));
  assert.equal(selectPlatform(index, parsePlatform('linux/arm/v7'), 'x').digest, D('2'));
  assert.throws(() => selectPlatform(index, parsePlatform('linux/s390x'), 'r.io/a:1'), /no image for linux\/s390x in r.io\/a:1 \(available: unknown\/unknown, linux\/arm\/v6, linux\/arm\/v7, linux\/amd64\)/);
  assert.throws(() => parsePlatform('linux'), /expected OS\/ARCH\[\/VARIANT\]/);
  assert.deepEqual(hostPlatform('x64'), { os: 'linux', architecture: 'amd64' });
  assert.deepEqual(hostPlatform('ppc64'), { os: 'linux', architecture: 'ppc64le' });
});

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { formatImageReference, ImageReferenceError, parseImageReference, validateDigest, type ImageReference } from './reference.js';

const D = `sha256:${'0576762c20fd370e21a6af93c3924436d5e9a4da89d5f817be853b5c544f7cbf'}`;

describe('parseImageReference()', () => {
  const cases: [string, ImageReference][] = [
    ['busybox', { registry: 'docker.io', repository: 'library/busybox', tag: 'latest' }],
    ['busybox:1.36', { registry: 'docker.io', repository: 'library/busybox', tag: '1.36' }],
    ['myorg/app:1', { registry: 'docker.io', repository: 'myorg/app', tag: '1' }],
    ['docker.io/busybox', { registry: 'docker.io', repository: 'library/busybox', tag: 'latest' }],
    ['index.docker.io/busybox', { registry: 'docker.io', repository: 'library/busybox', tag: 'latest' }],
    ['docker.io/myorg/app', { registry: 'docker.io', repository: 'myorg/app', tag: 'latest' }],
    ['localhost/foo', { registry: 'localhost', repository: 'foo', tag: 'latest' }],
    ['localhost:5000/foo', { registry: 'localhost:5000', repository: 'foo', tag: 'latest' }],
    ['localhost:5000', { registry: 'docker.io', repository: 'library/localhost', tag: '5000' }],
    ['Registry/foo', { registry: 'Registry', repository: 'foo', tag: 'latest' }],
    [`127.0.0.1:5055/ocp/machine-os-content@${D}`, { registry: '127.0.0.1:5055', repository: 'ocp/machine-os-content', digest: D }],
    [`quay.io/openshift-release-dev/ocp-v4.0-art-dev@${D}`, { registry: 'quay.io', repository: 'openshift-release-dev/ocp-v4.0-art-dev', digest: D }],
    [`quay.io/a/b:4.6@${D}`, { registry: 'quay.io', repository: 'a/b', tag: '4.6', digest: D }],
    [`docker://quay.io/a/b:4.6`, { registry: 'quay.io', repository: 'a/b', tag: '4.6' }],
    ['[::1]:5000/ns/img:v1', { registry: '[::1]:5000', repository: 'ns/img', tag: 'v1' }],
    ['my-registry.example.com/a__b/c.d/e--f_g:Tag_1.x-Y', { registry: 'my-registry.example.com', repository: 'a__b/c.d/e--f_g', tag: 'Tag_1.x-Y' }],
    [`r.io/x@sha512:${'ab'.repeat(64)}`, { registry: 'r.io', repository: 'x', digest: `sha512:${'ab'.repeat(64)}` }],
    ['  quay.io/a/b  ', { registry: 'quay.io', repository: 'a/b', tag: 'latest' }],
  ];
  for (const [text, want] of cases) {
    test(`parses ${JSON.stringify(text)}`, () => assert.deepEqual(parseImageReference(text), want));
  }

  const errors: [string, RegExp][] = [
    ['', /image reference is empty/],
    ['oci:/tmp/layout:tag', /unsupported transport oci: here/],
    ['dir:/tmp/x', /unsupported transport dir:/],
    ['https://quay.io/a/b', /unsupported transport https:\/\/ \(only docker:\/\//],
    ['127.0.0.1:5055/OCP/x:test', /repository name must be lowercase \("OCP\/x"\)/],
    ['quay.io/a/b:', /empty tag after ":"/],
    ['quay.io/a/b:-bad', /tag "-bad" must be 1-128 characters/],
    [`quay.io/a/b:${'t'.repeat(129)}`, /tag "t+" must be 1-128/],
    ['quay.io/a/b@', /nothing after "@"/],
    ['quay.io/a/b@sha256:d10a', /sha256 needs exactly 64 lowercase hex digits, got "d10a" \(4\)/],
    [`quay.io/a/b@sha256:${'A'.repeat(64)}`, /64 lowercase hex digits/],
    [`quay.io/a/b@md5:${'a'.repeat(32)}`, /expected sha256:<64 hex digits>.*got "md5:/],
    [`quay.io/a/b@${D}@${D}`, /more than one "@"/],
    ['quay.io/a//b', /empty path component in repository "a\/\/b"/],
    ['quay.io/', /no repository after the registry host "quay.io"/],
    ['quay.io/a/b_-c', /path component "b_-c" may hold only/],
    ['quay.io/a/.b', /path component ".b"/],
    ['-bad.io/a', /registry host "-bad.io" has an invalid component "-bad"/],
    ['quay.io:99999/a', /registry port "99999" is not a number/],
    ['quay.io:x1/a', /registry port "x1"/],
    ['[zz::1]:5000/a', /malformed IPv6 registry host/],
    [`r.io/${'a'.repeat(260)}`, /repository name is 265 characters long \(at most 255\)/],
    [':tag', /no repository name/],
  ];
  for (const [text, message] of errors) {
    test(`rejects ${JSON.stringify(text.length > 60 ? `${text.slice(0, 60)}…` : text)} naming the fault`, () => {
      assert.throws(() => parseImageReference(text), (e: unknown) => {
        assert.ok(e instanceof ImageReferenceError, `not an ImageReferenceError: ${String(e)}`);
        assert.match(e.message, message);
        return true;
      });
    });
  }
});

describe('formatImageReference()', () => {
  test('round-trips every form through parse', () => {
    for (const text of ['quay.io/a/b:4.6', `quay.io/a/b@${D}`, `quay.io/a/b:4.6@${D}`, 'docker.io/library/busybox:latest', '127.0.0.1:5000/ocp/release:4.6.8']) {
      assert.equal(formatImageReference(parseImageReference(text)), text);
    }
  });
  test('qualifies Docker Hub short names', () => {
    assert.equal(formatImageReference(parseImageReference('busybox')), 'docker.io/library/busybox:latest');
  });
});

test('validateDigest() accepts sha256 and sha512 and names the bad part', () => {
  assert.equal(validateDigest(D), D);
  assert.throws(() => validateDigest('sha256:xyz'), /sha256 needs exactly 64/);
  assert.throws(() => validateDigest('nocolon'), /got "nocolon"/);
});

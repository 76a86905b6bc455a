import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { assertCleanError, ok, runMco, scratch } from '../ostree/testing.js';
import { buildImage } from './build.js';
import { buildReleaseImage, imageFor, parseImageMapping, releaseImageStream } from './release.js';
import { needsSkopeo, skopeo, type SkopeoResult } from './testing.js';

const okSkopeo = (r: SkopeoResult, what: string): SkopeoResult => {
  assert.equal(r.status, 0, `${what}: ${r.stderr}`);
  return r;
};
const MCO_JS = fileURLToPath(new URL('../cli/mco.js', import.meta.url));
const DIGEST = `sha256:${'ab'.repeat(32)}`;

/** `mco registry serve` as a user runs it, on a kernel-picked port read from its first line. */
async function serveRegistry(t: TestContext, root: string): Promise<string> {
  const child = spawn(process.execPath, [MCO_JS, 'registry', 'serve', '--root', root, '--listen', '127.0.0.1:0'], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.after(async () => {
    if (child.exitCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await exited;
  });
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout!.setEncoding('utf8').on('data', (c: string) => {
      out += c;
      const m = /^listening on (127\.0\.0\.1:\d+)\n/.exec(out);
      if (m) resolve(m[1]!);
    });
    child.once('exit', (code) => reject(new Error(`mco registry serve exited with ${code}: ${out}`)));
  });
}

test('parseImageMapping() reads NAME=PULLSPEC lines and ImageStreams, and names what is wrong', () => {
  assert.deepEqual(parseImageMapping(`# components\nmachine-os-content=quay.io/a/b@${DIGEST}\n\ncli = quay.io/a/cli:4.6\n`, 'map'), [
    { name: 'machine-os-content', from: `quay.io/a/b@${DIGEST}` },
    { name: 'cli', from: 'quay.io/a/cli:4.6' },
  ]);
  const stream = releaseImageStream('4.6.8', [{ name: 'machine-os-content', from: `q.io/a@${DIGEST}`, annotations: { 'io.openshift.build.versions': 'machine-os=46.82' } }]);
  assert.deepEqual(parseImageMapping(JSON.stringify(stream), 'is.json'), [{ name: 'machine-os-content', from: `q.io/a@${DIGEST}`, annotations: { 'io.openshift.build.versions': 'machine-os=46.82' } }]);
  assert.deepEqual(parseImageMapping('kind: ImageStream\napiVersion: image.openshift.io/v1\nspec:\n  tags:\n  - name: x\n    from: {kind: DockerImage, name: q.io/x:1}\n', 'is.yaml'), [{ name: 'x', from: 'q.io/x:1' }]);
  assert.throws(() => parseImageMapping('just-a-name\n', 'map'), /map:1: expected NAME=PULLSPEC, got "just-a-name"/);
  assert.throws(() => parseImageMapping('a=q.io/x:1\na=q.io/y:1\n', 'map'), /image "a" is named twice/);
  assert.throws(() => parseImageMapping('kind: Deployment\napiVersion: apps/v1\n', 'd.yaml'), /unrecognized image-references/);
  assert.throws(() => imageFor({ imageReferences: stream }, 'nope', 'rel:1'), /^ReleaseError: no image tag "nope" exists in the release image rel:1$/);
});

test('mco release info --image-for reads an OCI layout release built by buildReleaseImage(); GNU tar sees the payload files', async (t) => {
  const w = scratch(t);
  const tags = [{ name: 'machine-os-content', from: `127.0.0.1:5000/ocp/machine-os-content@${DIGEST}` }, { name: 'cli', from: `127.0.0.1:5000/ocp/cli@${DIGEST}` }];
  const { digest } = await buildReleaseImage({ layoutDir: join(w, 'rel'), refName: '4.6.8', version: '4.6.8', previous: ['4.6.6'], tags });
  const r = ok(runMco(['release', 'info', '--image-for', 'machine-os-content', `oci:${w}/rel:4.6.8`]), 'info');
  assert.equal(r.stdout, `127.0.0.1:5000/ocp/machine-os-content@${DIGEST}\n`);
  const summary = ok(runMco(['release', 'info', `oci:${w}/rel:4.6.8`]), 'info summary').stdout;
  assert.match(summary, new RegExp(`^Name: +4\\.6\\.8\\nDigest: +${digest}\\n`));
  assert.match(summary, /Upgrades: +4\.6\.6\n/);
  assert.match(summary, /\n {2}cli +127\.0\.0\.1:5000\/ocp\/cli@sha256:a/);
  assertCleanError(runMco(['release', 'info', '--image-for', 'nope', `oci:${w}/rel:4.6.8`]), 'unknown image', [`no image tag "nope" exists in the release image oci:${w}/rel:4.6.8`]);

  const manifest = JSON.parse(fs.readFileSync(join(w, 'rel/blobs/sha256', digest.slice(7)), 'utf8')) as { layers: { digest: string }[] };
  const layer = join(w, 'rel/blobs/sha256', manifest.layers[0]!.digest.slice(7));
  const refs = JSON.parse(spawnSync('tar', ['-xzOf', layer, 'release-manifests/image-references'], { encoding: 'utf8' }).stdout);
  assert.equal(refs.kind, 'ImageStream');
  assert.equal(refs.metadata.name, '4.6.8');
  assert.deepEqual(refs.spec.tags[0].from, { kind: 'DockerImage', name: tags[0]!.from });
  const metadata = JSON.parse(spawnSync('tar', ['-xzOf', layer, 'release-manifests/release-metadata'], { encoding: 'utf8' }).stdout);
  assert.deepEqual(metadata, { kind: 'cincinnati-metadata-v0', version: '4.6.8', previous: ['4.6.6'], metadata: {} });
});

test('the seed flow on our registry: skopeo pushes machine-os-content, mco release new pins it by digest, mco release info finds it', needsSkopeo, async (t) => {
  const w = scratch(t);
  const host = await serveRegistry(t, join(w, 'store'));
  fs.mkdirSync(join(w, 'os/srv/repo'), { recursive: true });
  fs.writeFileSync(join(w, 'os/srv/repo/config'), '[core]\nrepo_version=1\nmode=archive-z2\n');
  const versions = 'machine-os=46.82.202101191342-0';
  await buildImage({ layoutDir: join(w, 'mos'), refName: '46.82', layers: [{ dir: join(w, 'os') }], labels: { 'io.openshift.build.versions': versions, version: '46.82.202101191342-0' } });
  okSkopeo(skopeo(['copy', '-q', '--dest-tls-verify=false', `oci:${w}/mos:46.82`, `docker://${host}/ocp/machine-os-content:46.82`]), 'skopeo push');
  const mosDigest = JSON.parse(okSkopeo(skopeo(['inspect', '--tls-verify=false', `docker://${host}/ocp/machine-os-content:46.82`]), 'inspect').stdout).Digest as string;

  fs.writeFileSync(join(w, 'images'), `machine-os-content=${host}/ocp/machine-os-content:46.82\n`);
  const release = `${host}/ocp/release:4.6.8`;
  const made = ok(runMco(['release', 'new', '--insecure', '--name', '4.6.8', '--from-images', join(w, 'images'), '--to', release]), 'release new');
  assert.match(made.stdout, /^sha256:[a-f0-9]{64}\n$/);
  const found = ok(runMco(['release', 'info', '--insecure', '--image-for', 'machine-os-content', release]), 'release info');
  assert.equal(found.stdout, `${host}/ocp/machine-os-content@${mosDigest}\n`);

  // What skopeo copies out of the registry is the payload oc would read.
  okSkopeo(skopeo(['copy', '-q', '--src-tls-verify=false', `docker://${release}`, `dir:${w}/out`]), 'skopeo pull');
  assert.equal(JSON.parse(okSkopeo(skopeo(['inspect', '--tls-verify=false', `docker://${release}`]), 'inspect release').stdout).Digest, made.stdout.trim());
  const manifest = JSON.parse(fs.readFileSync(join(w, 'out/manifest.json'), 'utf8')) as { layers: { digest: string }[] };
  const refs = JSON.parse(spawnSync('tar', ['-xzOf', join(w, 'out', manifest.layers.at(-1)!.digest.slice(7)), 'release-manifests/image-references'], { encoding: 'utf8' }).stdout);
  assert.deepEqual(refs.spec.tags[0].annotations, { 'io.openshift.build.versions': versions }, 'the component\'s build label became its annotation');
});

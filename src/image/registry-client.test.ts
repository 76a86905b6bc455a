import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { describe, test, type TestContext } from 'node:test';
import type { Readable } from 'node:stream';
import { promisify } from 'node:util';
import { OCI_INDEX, OCI_MANIFEST } from './media-types.js';
import { OciLayout } from './oci-layout.js';
import { createProgress } from './progress.js';
import { parseImageReference } from './reference.js';
import { RegistryClient, RegistryError, type RegistryClientOptions } from './registry-client.js';
import { makeFixtureImage, scratchDir, startFaultProxy, startTokenServer } from './registry-client-testing.js';
import { pullImage, pullToLayout } from './pull.js';
import { pushLayout } from './push.js';
import { needsRegistryAndSkopeo, SKOPEO_BIN, skopeo, startDockerRegistry, writeAuthFile } from './testing.js';

const execFileAsync = promisify(execFile);
const noWait = async (): Promise<void> => undefined;

function client(t: TestContext, options: RegistryClientOptions = {}): RegistryClient & { lines: string[] } {
  const lines: string[] = [];
  const c = new RegistryClient({ log: (l) => lines.push(l), sleep: noWait, ...options });
  t.after(() => c.close());
  return Object.assign(c, { lines });
}

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

function ok(r: { status: number | null; stderr: string }, what: string): void {
  assert.equal(r.status, 0, `${what}: ${r.stderr}`);
}

/** Pushes the fixture layout to HOST/REPO:TAG with the real skopeo. */
function skopeoPush(dir: string, refName: string, target: string, extra: string[] = []): void {
  ok(skopeo(['copy', '-q', '--dest-tls-verify=false', ...extra, `oci:${dir}:${refName}`, `docker://${target}`]), `skopeo copy to ${target}`);
}

describe('RegistryClient against docker-registry and skopeo', needsRegistryAndSkopeo, () => {
  test('pulls what skopeo pushed: same manifest digest, config bytes and layer bytes', async (t) => {
    const reg = await startDockerRegistry(t);
    const work = scratchDir(t);
    const image = await makeFixtureImage(join(work, 'layout'));
    skopeoPush(image.dir, image.refName, `${reg.host}/ocp/machine-os-content:46.82`);
    const theirs = JSON.parse(skopeo(['inspect', '--tls-verify=false', `docker://${reg.host}/ocp/machine-os-content:46.82`]).stdout) as { Digest: string };
    const theirConfig = skopeo(['inspect', '--tls-verify=false', '--config', '--raw', `docker://${reg.host}/ocp/machine-os-content:46.82`]);

    const c = client(t);
    const pulled = await pullImage(c, parseImageReference(`${reg.host}/ocp/machine-os-content:46.82`));
    assert.equal(pulled.digest, theirs.Digest);
    assert.equal(pulled.digest, image.manifestDigest);
    assert.equal(pulled.configBytes.toString(), theirConfig.stdout.trim());
    assert.deepEqual(pulled.config.config?.Labels, image.labels);
    for (const [i, layer] of pulled.layers.entries()) {
      const bytes = await readAll(await layer.open());
      assert.deepEqual(bytes, fs.readFileSync(join(image.dir, 'blobs/sha256', image.manifest.layers[i]!.digest.slice(7))), `layer ${i}`);
    }
    assert.deepEqual(await c.listTags(parseImageReference(`${reg.host}/ocp/machine-os-content`)), ['46.82']);
  });

  for (const mode of ['monolithic', 'chunked'] as const) {
    test(`pushes (${mode}) what skopeo copies back byte for byte`, async (t) => {
      const reg = await startDockerRegistry(t);
      const work = scratchDir(t);
      const image = await makeFixtureImage(join(work, 'layout'));
      const progress: string[] = [];
      const c = client(t, { ...(mode === 'chunked' ? { chunkSize: 64 * 1024 } : {}), progress: createProgress({ write: (s) => progress.push(s) }) });
      const target = `${reg.host}/ocp/pushed:v1`;
      const { digest } = await pushLayout(c, image.dir, image.refName, parseImageReference(target));
      assert.equal(digest, image.manifestDigest);

      ok(skopeo(['copy', '-q', '--src-tls-verify=false', `docker://${target}`, `oci:${join(work, 'back')}:v1`]), 'skopeo copy back');
      for (const blob of [image.manifestDigest, image.manifest.config.digest, ...image.manifest.layers.map((l) => l.digest)]) {
        const hex = blob.slice(7);
        assert.deepEqual(fs.readFileSync(join(work, 'back/blobs/sha256', hex)), fs.readFileSync(join(image.dir, 'blobs/sha256', hex)), `blob ${blob}`);
      }
      // A second push of the same blobs to another repository mounts instead of uploading.
      await pushLayout(c, image.dir, image.refName, parseImageReference(`${reg.host}/other/repo:v1`));
      assert.ok(progress.some((l) => /mounted from ocp\/pushed/.test(l)), progress.join(''));
      // And pushing again to the same repository skips every blob.
      progress.length = 0;
      await pushLayout(c, image.dir, image.refName, parseImageReference(target));
      assert.equal(progress.filter((l) => /already exists/.test(l)).length, 3, progress.join(''));
    });
  }

  test('pushes a multi-platform index and pulls the image of the platform asked for', async (t) => {
    const reg = await startDockerRegistry(t);
    const work = scratchDir(t);
    const dir = join(work, 'layout');
    const arm = await makeFixtureImage(dir, { refName: 'arm', seed: 'arm', bigBytes: 1000 });
    const amd = await makeFixtureImage(dir, { refName: 'amd', seed: 'amd', bigBytes: 1000 });
    const entry = (img: typeof arm, architecture: string): object => ({ mediaType: OCI_MANIFEST, digest: img.manifestDigest, size: fs.statSync(join(dir, 'blobs/sha256', img.manifestDigest.slice(7))).size, platform: { os: 'linux', architecture } });
    const layout = await OciLayout.open(dir);
    const list = await layout.addManifest(Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [entry(arm, 'arm64'), entry(amd, 'amd64')] })), OCI_INDEX, 'multi');
    const target = parseImageReference(`${reg.host}/ocp/multi:1`);
    assert.equal((await pushLayout(client(t), dir, 'multi', target)).digest, list.digest);

    const forArm = await client(t, { platform: { os: 'linux', architecture: 'arm64' } }).getManifest(target);
    assert.equal(forArm.digest, arm.manifestDigest);
    assert.equal(forArm.list?.digest, list.digest);
    assert.equal((await client(t, { platform: { os: 'linux', architecture: 'amd64' } }).getManifest(target)).digest, amd.manifestDigest);
    await assert.rejects(client(t, { platform: { os: 'linux', architecture: 's390x' } }).getManifest(target), /no image for linux\/s390x in .*multi:1 \(available: linux\/arm64, linux\/amd64\)/);
    const theirs = skopeo(['inspect', '--tls-verify=false', '--override-arch', 'arm64', `docker://${reg.host}/ocp/multi:1`]);
    assert.equal((JSON.parse(theirs.stdout) as { Labels: Record<string, string> }).Labels['com.coreos.ostree-commit'], arm.labels['com.coreos.ostree-commit']);
  });

  test('copies an image into an OCI layout that skopeo reads', async (t) => {
    const reg = await startDockerRegistry(t);
    const work = scratchDir(t);
    const image = await makeFixtureImage(join(work, 'layout'));
    skopeoPush(image.dir, image.refName, `${reg.host}/a/b:1`);
    const c = client(t);
    const { digest } = await pullToLayout(c, parseImageReference(`${reg.host}/a/b:1`), { dir: join(work, 'copy'), refName: 'copied' });
    assert.equal(digest, image.manifestDigest);
    const inspected = JSON.parse(skopeo(['inspect', `oci:${join(work, 'copy')}:copied`]).stdout) as { Digest: string; Labels: Record<string, string> };
    assert.equal(inspected.Digest, image.manifestDigest);
    assert.deepEqual(inspected.Labels, image.labels);
  });

  test('Basic auth: credentials from a config.json; a wrong password is a clear 401 naming the registry, never the secret', async (t) => {
    const reg = await startDockerRegistry(t, { users: { alice: 'alice-s3cret' } });
    const work = scratchDir(t);
    const image = await makeFixtureImage(join(work, 'layout'));
    const good = writeAuthFile(join(work), reg.host, 'alice', 'alice-s3cret');
    skopeoPush(image.dir, image.refName, `${reg.host}/ocp/private:1`, ['--dest-authfile', good]);

    const ref = parseImageReference(`${reg.host}/ocp/private:1`);
    const c = client(t, { authFile: good });
    assert.equal((await c.getManifest(ref)).digest, image.manifestDigest);
    assert.ok(c.lines.some((l) => l.includes(`"${reg.host}" in ${good}`)), c.lines.join('\n'));

    const badDir = join(work, 'bad');
    fs.mkdirSync(badDir);
    const bad = writeAuthFile(badDir, reg.host, 'alice', 'wrong-pass');
    const wrong = client(t, { authFile: bad });
    const err = await wrong.getManifest(ref).then(() => assert.fail('no error'), (e: unknown) => e as RegistryError);
    assert.ok(err instanceof RegistryError);
    assert.equal(err.status, 401);
    assert.match(err.message, new RegExp(`${reg.host}/ocp/private: unauthorized .*credentials "${reg.host}" in ${bad} were refused`));

    const anonymous = client(t);
    await assert.rejects(anonymous.getManifest(ref), /unauthorized .*no credentials given \(pass --registry-config or --authfile\)/);
    for (const text of [err.message, ...wrong.lines, ...c.lines]) {
      for (const secret of ['wrong-pass', 'alice-s3cret', Buffer.from('alice:wrong-pass').toString('base64'), Buffer.from('alice:alice-s3cret').toString('base64')]) {
        assert.ok(!text.includes(secret), `secret in: ${text}`);
      }
    }
  });

  test('a blob corrupted in the registry storage fails the stream with a digest error', async (t) => {
    const reg = await startDockerRegistry(t);
    const work = scratchDir(t);
    const image = await makeFixtureImage(join(work, 'layout'));
    skopeoPush(image.dir, image.refName, `${reg.host}/x/y:1`);
    const layer = image.manifest.layers[1]!;
    const fd = fs.openSync(reg.blobPath(layer.digest), 'r+');
    fs.writeSync(fd, Buffer.from('X'), 0, 1, 50);
    fs.closeSync(fd);
    const pulled = await pullImage(client(t), parseImageReference(`${reg.host}/x/y:1`));
    await assert.rejects(readAll(await pulled.layers[1]!.open()), (e: unknown) => {
      assert.ok(e instanceof RegistryError);
      assert.match(e.message, new RegExp(`blob ${layer.digest} of ${reg.host}/x/y@${image.manifestDigest}: digest mismatch \\(expected ${layer.digest}, got sha256:[0-9a-f]{64}\\)`));
      return true;
    });
  });

  test('a manifest served under the wrong digest is refused, by digest and by tag', async (t) => {
    const reg = await startDockerRegistry(t);
    const work = scratchDir(t);
    const image = await makeFixtureImage(join(work, 'layout'));
    skopeoPush(image.dir, image.refName, `${reg.host}/x/y:1`);
    // Same length, one byte changed inside a JSON string: still a valid manifest.
    const path = reg.blobPath(image.manifestDigest);
    fs.writeFileSync(path, fs.readFileSync(path, 'utf8').replace('oci.image.config', 'oci.image.confiG'));
    const c = client(t);
    await assert.rejects(c.getManifest(parseImageReference(`${reg.host}/x/y@${image.manifestDigest}`)), new RegExp(`manifest of ${reg.host}/x/y@${image.manifestDigest}: digest mismatch \\(expected ${image.manifestDigest}, got sha256:`));
    await assert.rejects(c.getManifest(parseImageReference(`${reg.host}/x/y:1`)), /manifest of .*:1 \(Docker-Content-Digest header\): digest mismatch/);
  });

  test('retries a 503 and resumes a cut blob download with Range', async (t) => {
    const reg = await startDockerRegistry(t);
    const work = scratchDir(t);
    const image = await makeFixtureImage(join(work, 'layout'), { bigBytes: 2_000_000 });
    skopeoPush(image.dir, image.refName, `${reg.host}/x/y:1`);
    const big = image.manifest.layers[1]!;
    let cut = false;
    const proxy = await startFaultProxy(t, reg.host, (method, path, n) => {
      if (n === 1) return 'fail503'; // the first request after the /v2/ probe
      if (method === 'GET' && path.endsWith(big.digest) && !cut) {
        cut = true;
        return 'cut';
      }
      return undefined;
    });
    const c = client(t);
    const pulled = await pullImage(c, parseImageReference(`${proxy.host}/x/y:1`));
    const bytes = await readAll(await pulled.layers[1]!.open());
    assert.deepEqual(bytes, fs.readFileSync(join(image.dir, 'blobs/sha256', big.digest.slice(7))));
    assert.ok(c.lines.some((l) => /HTTP 503; retrying \(2 of 3\)/.test(l)), c.lines.join('\n'));
    assert.ok(c.lines.some((l) => new RegExp(`blob ${big.digest}.*connection lost at byte \\d+ of ${big.size}; resuming`).test(l)), c.lines.join('\n'));
    assert.equal(proxy.seen.filter((s) => s === `GET /v2/x/y/blobs/${big.digest}`).length, 2);
  });

  test('gives up after the last try with the registry named', async (t) => {
    const reg = await startDockerRegistry(t);
    const proxy = await startFaultProxy(t, reg.host, (_m, _p, n) => (n > 0 ? 'fail503' : undefined));
    const c = client(t);
    await assert.rejects(c.getManifest(parseImageReference(`${proxy.host}/x/y:1`)), new RegExp(`manifest of ${proxy.host}/x/y:1: HTTP 503 injected failure`));
    assert.equal(proxy.seen.length, 4); // the probe and three tries
  });

  test('Bearer token flow: anonymous pull, push with credentials, scopes as the registry asks', async (t) => {
    const work = scratchDir(t);
    const tokens = await startTokenServer(t, work, { users: { alice: 'alicepass' }, service: 'test-registry', issuer: 'test-issuer' });
    // docker-registry reads REGISTRY_* variables over its config file: token auth for this one.
    const env = { REGISTRY_AUTH: 'token', REGISTRY_AUTH_TOKEN_REALM: tokens.realm, REGISTRY_AUTH_TOKEN_SERVICE: 'test-registry', REGISTRY_AUTH_TOKEN_ISSUER: 'test-issuer', REGISTRY_AUTH_TOKEN_ROOTCERTBUNDLE: tokens.certPath };
    Object.assign(process.env, env);
    let reg;
    try {
      reg = await startDockerRegistry(t);
    } finally {
      for (const k of Object.keys(env)) delete process.env[k];
    }
    const image = await makeFixtureImage(join(work, 'layout'));
    const target = parseImageReference(`${reg.host}/ocp/machine-os-content:1`);

    const anonymous = client(t);
    await assert.rejects(pushLayout(anonymous, image.dir, image.refName, target), /unauthorized/);

    const authFile = writeAuthFile(work, reg.host, 'alice', 'alicepass');
    const pusher = client(t, { authFile });
    assert.equal((await pushLayout(pusher, image.dir, image.refName, target)).digest, image.manifestDigest);
    assert.ok(tokens.requests.some((r) => r.user === 'alice' && r.scopes.includes('repository:ocp/machine-os-content:pull,push')), JSON.stringify(tokens.requests));

    const pulled = await pullImage(anonymous, target);
    assert.equal(pulled.digest, image.manifestDigest);
    assert.deepEqual(await readAll(await pulled.layers[0]!.open()), fs.readFileSync(join(image.dir, 'blobs/sha256', image.manifest.layers[0]!.digest.slice(7))));
    // skopeo pulls what we pushed through the same token server (run async: the server is in this process).
    const inspected = await execFileAsync(SKOPEO_BIN, ['--insecure-policy', 'inspect', '--tls-verify=false', `docker://${reg.host}/ocp/machine-os-content:1`]);
    assert.equal((JSON.parse(inspected.stdout) as { Digest: string }).Digest, image.manifestDigest);
    const wrong = client(t, { authFile: writeAuthFile(join(work, 'layout'), reg.host, 'alice', 'nope') });
    await assert.rejects(wrong.getManifest(target), new RegExp(`${reg.host}: unauthorized: token server ${tokens.realm} answered 401: the credentials "${reg.host}" in .* were refused`));
  });
});

import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { makeFixtureImage, scratchDir } from '../../image/registry-client-testing.js';
import { needsRegistryAndSkopeo, skopeo, startDockerRegistry, writeAuthFile } from '../../image/testing.js';
import { assertCleanError, ok, runMco } from '../../ostree/testing.js';

describe('mco image against docker-registry and skopeo', needsRegistryAndSkopeo, () => {
  test('inspect prints what skopeo inspect prints; --raw and --config --raw are the stored bytes', async (t) => {
    const reg = await startDockerRegistry(t);
    const work = scratchDir(t);
    const image = await makeFixtureImage(join(work, 'layout'));
    const ref = `docker://${reg.host}/ocp/machine-os-content:46.82`;
    const copy = skopeo(['copy', '-q', '--dest-tls-verify=false', `oci:${image.dir}:${image.refName}`, ref]);
    assert.equal(copy.status, 0, copy.stderr);

    const ours = JSON.parse(ok(runMco(['image', 'inspect', '--tls-verify=false', ref]), 'mco image inspect').stdout) as Record<string, unknown>;
    const theirs = JSON.parse(skopeo(['inspect', '--tls-verify=false', ref]).stdout) as Record<string, unknown>;
    // Every field skopeo 1.9 prints, identical; LayersData (sizes and media types) is what newer skopeo adds.
    const { LayersData: layersData, ...rest } = ours;
    assert.deepEqual(rest, theirs);
    assert.deepEqual(layersData, image.manifest.layers.map((l) => ({ MIMEType: l.mediaType, Digest: l.digest, Size: l.size, Annotations: null })));
    assert.equal(ours['Digest'], image.manifestDigest);
    for (const flags of [['--raw'], ['--config', '--raw']]) {
      const mine = ok(runMco(['image', 'inspect', '--insecure', ...flags, ref]), `mco image inspect ${flags.join(' ')}`).stdoutBytes;
      assert.deepEqual(mine, Buffer.from(skopeo(['inspect', '--tls-verify=false', ...flags, ref]).stdout), flags.join(' '));
    }
  });

  test('push with --authfile, pull back with --registry-config, extract a path; skopeo agrees on the digest', async (t) => {
    const reg = await startDockerRegistry(t, { users: { alice: 'alicepass' } });
    const work = scratchDir(t);
    const image = await makeFixtureImage(join(work, 'layout'));
    const auth = writeAuthFile(work, reg.host, 'alice', 'alicepass');
    const ref = `${reg.host}/ocp/machine-os-content:pushed`;

    const pushed = ok(runMco(['image', 'push', '--authfile', auth, `oci:${image.dir}:${image.refName}`, ref]), 'mco image push');
    assert.equal(pushed.stdout, `${image.manifestDigest}\n`);
    // Not a terminal: one plain line per blob.
    assert.equal(pushed.stderr.split('\n').filter((l) => /^Copying blob sha256:[0-9a-f]{12} /.test(l)).length, 3, pushed.stderr);
    const theirs = JSON.parse(skopeo(['inspect', '--tls-verify=false', '--authfile', auth, `docker://${ref}`]).stdout) as { Digest: string };
    assert.equal(theirs.Digest, image.manifestDigest);

    const pulled = ok(runMco(['image', 'pull', '-q', '--registry-config', auth, `${ref.replace(':pushed', '')}@${image.manifestDigest}`, '--to', `oci:${join(work, 'copy')}:x`]), 'mco image pull');
    assert.equal(pulled.stdout, `${image.manifestDigest}\n`);
    assert.equal(pulled.stderr, '');
    const copied = JSON.parse(skopeo(['inspect', `oci:${join(work, 'copy')}:x`]).stdout) as { Digest: string };
    assert.equal(copied.Digest, image.manifestDigest);

    const dest = join(work, 'repo');
    ok(runMco(['image', 'extract', '-q', '-a', auth, ref, '--path', `/srv/repo:${dest}`]), 'mco image extract');
    assert.match(fs.readFileSync(join(dest, 'config'), 'utf8'), /mode=archive-z2/);
    assert.equal(fs.statSync(join(dest, 'objects/ab/noise.filez')).size, 300_000);
    assert.ok(!fs.existsSync(join(dest, 'etc')), 'only /srv/repo is extracted');
  });

  test('a wrong password is one clean error naming the registry and the 401', async (t) => {
    const reg = await startDockerRegistry(t, { users: { alice: 'alicepass' } });
    const work = scratchDir(t);
    const auth = writeAuthFile(work, reg.host, 'alice', 'wrong');
    const r = runMco(['image', 'inspect', '--authfile', auth, `${reg.host}/ocp/x:1`]);
    assertCleanError(r, 'wrong password', [`${reg.host}/ocp/x: unauthorized (HTTP 401`, `credentials "${reg.host}" in ${auth} were refused`]);
    assert.ok(!r.stderr.includes(Buffer.from('alice:wrong').toString('base64')));
  });

  test('bad arguments are clean errors', () => {
    assertCleanError(runMco(['image', 'inspect', 'quay.io/OCP/x']), 'uppercase repository', ['repository name must be lowercase']);
    assertCleanError(runMco(['image', 'inspect', 'oci:/tmp/x']), 'oci: to inspect', ['unsupported transport oci:']);
    assertCleanError(runMco(['image', 'inspect', '--authfile', '/nonexistent/auth.json', 'quay.io/a/b']), 'missing auth file', ['cannot read registry auth file /nonexistent/auth.json: ENOENT']);
    const usage = runMco(['image', 'inspect', '--tls-verify=maybe', 'quay.io/a/b']);
    assert.equal(usage.status, 2, usage.stderr);
    assert.match(usage.stderr, /--tls-verify takes true or false, not "maybe"/);
  });
});

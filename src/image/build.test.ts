import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { needsOstree, ok, ostree, runMco, scratch } from '../ostree/testing.js';
import { buildImage, buildMachineOsContent } from './build.js';
import { sha256Digest } from './media-types.js';
import { OciLayout } from './oci-layout.js';
import { needsSkopeo, skopeo } from './testing.js';

/** A tree with a subdirectory, an absolute symlink, a hard link, an executable and a long name. */
function sourceTree(dir: string, stamp: number): string {
  fs.mkdirSync(join(dir, 'usr/bin'), { recursive: true });
  fs.writeFileSync(join(dir, 'usr/bin/tool'), '#!/bin/sh\necho hi\n', { mode: 0o755 });
  fs.linkSync(join(dir, 'usr/bin/tool'), join(dir, 'usr/bin/tool-alias'));
  fs.symlinkSync('/usr/bin/tool', join(dir, 'usr/bin/abs-link'));
  fs.writeFileSync(join(dir, `${'long-name-'.repeat(12)}.txt`), 'long\n');
  for (const p of ['usr/bin/tool', 'usr/bin', 'usr', `${'long-name-'.repeat(12)}.txt`]) fs.utimesSync(join(dir, p), stamp, stamp);
  return dir;
}

const tar = (args: string[]): string => {
  const r = spawnSync('tar', args, { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout;
};

test('buildImage() is reproducible: the same tree gives the same digests whatever its mtimes; a changed file changes them', async (t) => {
  const w = scratch(t);
  const one = await buildImage({ layoutDir: join(w, 'one'), layers: [{ dir: sourceTree(join(w, 'a'), 1_000_000) }], labels: { b: '2', a: '1' } });
  const two = await buildImage({ layoutDir: join(w, 'two'), layers: [{ dir: sourceTree(join(w, 'b'), 2_000_000) }], labels: { a: '1', b: '2' } });
  assert.equal(one.digest, two.digest);
  fs.appendFileSync(join(w, 'b/usr/bin/tool'), '# changed\n');
  const three = await buildImage({ layoutDir: join(w, 'three'), layers: [{ dir: join(w, 'b') }] });
  assert.notEqual(three.digest, one.digest);
});

test('buildImage() layers are gzip tars GNU tar reads: prefix, owners 0:0, symlinks verbatim, hard links, modes, diff_ids', async (t) => {
  const w = scratch(t);
  const created = new Date('2021-01-19T13:45:40Z');
  const { digest } = await buildImage({ layoutDir: join(w, 'oci'), layers: [{ dir: sourceTree(join(w, 'src'), 5), prefix: '/srv/x' }], created });
  const layout = await OciLayout.open(join(w, 'oci'));
  const manifest = JSON.parse((await layout.readBlob(digest)).toString()) as { config: { digest: string }; layers: { digest: string; mediaType: string }[] };
  const config = JSON.parse((await layout.readBlob(manifest.config.digest)).toString()) as { created: string; rootfs: { diff_ids: string[] } };
  const blob = layout.blobPath(manifest.layers[0]!.digest);
  assert.equal(manifest.layers[0]!.mediaType, 'application/vnd.oci.image.layer.v1.tar+gzip');
  assert.equal(config.created, '2021-01-19T13:45:40Z');
  const raw = spawnSync('gzip', ['-dc', blob]).stdout as Buffer;
  assert.equal(config.rootfs.diff_ids[0], sha256Digest(raw), 'diff_id is the hash of the uncompressed tar');

  const listing = tar(['--numeric-owner', '-tvzf', blob]).trim().split('\n');
  const names = listing.map((l) => l.replace(/^.*?\d\d:\d\d /, ''));
  assert.deepEqual(names, [
    'srv/', 'srv/x/', `srv/x/${'long-name-'.repeat(12)}.txt`, 'srv/x/usr/', 'srv/x/usr/bin/',
    'srv/x/usr/bin/abs-link -> /usr/bin/tool', 'srv/x/usr/bin/tool', 'srv/x/usr/bin/tool-alias link to srv/x/usr/bin/tool',
  ]);
  for (const line of listing) assert.match(line, / 0\/0 .*2021-01-19 13:45 /, `owner and mtime of ${line}`);
  assert.match(listing.find((l) => l.endsWith('srv/x/usr/bin/tool'))!, /^-rwxr-xr-x /);

  fs.mkdirSync(join(w, 'out'));
  tar(['-xzf', blob, '-C', join(w, 'out')]);
  assert.equal(fs.readlinkSync(join(w, 'out/srv/x/usr/bin/abs-link')), '/usr/bin/tool');
  assert.equal(fs.statSync(join(w, 'out/srv/x/usr/bin/tool-alias')).ino, fs.statSync(join(w, 'out/srv/x/usr/bin/tool')).ino);
});

test('buildImage() refuses a missing source directory and a prefix with "..", naming them', async (t) => {
  const w = scratch(t);
  await assert.rejects(buildImage({ layoutDir: join(w, 'oci'), layers: [{ dir: join(w, 'missing') }] }), /Cannot read layer directory .*missing/);
  await assert.rejects(buildImage({ layoutDir: join(w, 'oci'), layers: [{ dir: w, prefix: '/srv/../../etc' }] }), /Invalid layer prefix "\/srv\/..\/..\/etc"/);
});

test('buildMachineOsContent() puts the one commit, without refs, in an archive repo at /srv/repo that the real ostree reads, with MCO\'s labels', { ...needsOstree, ...needsSkopeo, skip: needsOstree.skip || needsSkopeo.skip }, async (t) => {
  const w = scratch(t);
  const repo = join(w, 'repo');
  ok(ostree(['init', `--repo=${repo}`, '--mode=archive']), 'init');
  fs.mkdirSync(join(w, 'tree/usr/lib'), { recursive: true });
  fs.writeFileSync(join(w, 'tree/usr/lib/os-release'), 'ID=rhcos\n');
  const commit = ok(ostree(['commit', `--repo=${repo}`, '--branch=rhcos', '--add-metadata-string=version=46.82.202101191342-0', join(w, 'tree')]), 'commit').stdout.trim();

  const built = await buildMachineOsContent({ repo, rev: 'rhcos', layoutDir: join(w, 'oci'), refName: '46.82', labels: { extra: 'x' } });
  assert.equal(built.commit, commit);
  const inspect = skopeo(['inspect', `oci:${w}/oci:46.82`]);
  assert.equal(inspect.status, 0, inspect.stderr);
  assert.deepEqual(JSON.parse(inspect.stdout).Labels, {
    'com.coreos.ostree-commit': commit,
    version: '46.82.202101191342-0',
    'io.openshift.build.versions': 'machine-os=46.82.202101191342-0',
    extra: 'x',
  });

  const layout = await OciLayout.open(join(w, 'oci'));
  const manifest = JSON.parse((await layout.readBlob(built.digest)).toString()) as { layers: { digest: string }[] };
  fs.mkdirSync(join(w, 'out'));
  tar(['-xzf', layout.blobPath(manifest.layers[0]!.digest), '-C', join(w, 'out')]);
  const extracted = join(w, 'out/srv/repo');
  assert.match(fs.readFileSync(join(extracted, 'config'), 'utf8'), /mode=archive/);
  assert.equal(ok(ostree(['refs', `--repo=${extracted}`]), 'refs').stdout, '', 'no refs, as coreos-assembler makes it');
  ok(ostree(['fsck', `--repo=${extracted}`]), 'fsck');
  assert.match(ok(ostree(['log', `--repo=${extracted}`, commit]), 'log').stdout, /Version: 46\.82\.202101191342-0/);
  assert.equal(fs.readFileSync(join(w, 'out/pkglist.txt'), 'utf8'), '', 'no rpmdb pkglist in this commit');
});

test('mco image build --from-commit builds machine-os-content into oci:DIR:REF; bad arguments are clean errors', needsOstree, async (t) => {
  const w = scratch(t);
  const repo = join(w, 'repo');
  ok(ostree(['init', `--repo=${repo}`, '--mode=archive']), 'init');
  fs.mkdirSync(join(w, 'tree'));
  fs.writeFileSync(join(w, 'tree/f'), 'f\n');
  const commit = ok(ostree(['commit', `--repo=${repo}`, '--branch=os', '--add-metadata-string=version=1.2', join(w, 'tree')]), 'commit').stdout.trim();
  const r = ok(runMco(['image', 'build', '--from-commit', `${repo}:os`, '--label', 'a=b', '--to', `oci:${w}/oci:v1`]), 'build');
  const layout = await OciLayout.open(join(w, 'oci'));
  assert.equal(r.stdout, `${(await layout.resolve('v1')).digest}\n`);
  const config = JSON.parse((await layout.readBlob(JSON.parse((await layout.readBlob((await layout.resolve('v1')).digest)).toString()).config.digest)).toString());
  assert.equal(config.config.Labels['com.coreos.ostree-commit'], commit);
  assert.equal(config.config.Labels.a, 'b');

  const bad = runMco(['image', 'build', '--from-commit', `${repo}:nosuchref`, '--to', `oci:${w}/oci2`]);
  assert.equal(bad.status, 1, bad.stderr);
  assert.match(bad.stderr, /^error: .*nosuchref/);
  const noTo = runMco(['image', 'build', '--from', w]);
  assert.equal(noTo.status, 2);
  assert.match(noTo.stderr, /--to/);
});

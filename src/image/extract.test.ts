/**
 * extractLayers() against GNU tar: layers made by GNU tar and Python's tarfile (never by our
 * code) are extracted by us and by GNU tar (with whiteouts applied by hand), and the two trees
 * are compared entry by entry: type, mode, owner, size, content, link target, xattrs, link
 * count and mtime.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { buildRichTree, diffTrees, isRoot, scratch, walkTree } from '../ostree/testing.js';
import { ExtractError, extractLayers, type ExtractOptions } from './extract.js';
import { gnuTarApply, gnuTarLayer, layerOf, listAll, pythonLayer, type Member } from './extract-testing.js';
import { OCI_LAYER_ZSTD } from './media-types.js';

/**
 * Type, mode, owners, content, xattrs, plus what diffTrees leaves out: link counts and mtimes.
 * Directory mtimes only when asked: deleting whiteouts by hand touches the reference's.
 */
function assertSameTree(ours: string, reference: string, options: { dirMtimes?: boolean } = {}): void {
  const a = walkTree(ours);
  const b = walkTree(reference);
  assert.deepEqual(diffTrees(a, b), []);
  const stamp = (root: string, entries: typeof a): string[] =>
    entries.map((e) => {
      // The root is each extractor's own directory, made when it ran: its mtime is not the image's.
      const mtime = e.path === '.' || (e.type === 'dir' && options.dirMtimes === false) ? '-' : Math.floor(fs.lstatSync(join(root, e.path)).mtimeMs / 1000);
      return `${e.path} nlink=${e.type === 'dir' ? '-' : e.nlink} mtime=${mtime}`;
    });
  assert.deepEqual(stamp(ours, a), stamp(reference, b));
}

async function extractBoth(dir: string, layers: string[], options: ExtractOptions = {}): Promise<{ ours: string; reference: string }> {
  const ours = join(dir, 'ours');
  const reference = join(dir, 'reference');
  await extractLayers(layers.map(layerOf), ours, options);
  gnuTarApply(layers, reference);
  return { ours, reference };
}

test('extractLayers() writes the tree GNU tar writes from a GNU tar layer (modes, owners, links, xattrs, mtimes)', async (t) => {
  const dir = scratch(t);
  const src = join(dir, 'src');
  buildRichTree(src);
  const layer = gnuTarLayer(join(dir, 'layer.tar.gz'), src);
  const { ours, reference } = await extractBoth(dir, [layer]);
  assertSameTree(ours, reference);
  assert.equal(fs.readlinkSync(join(ours, 'links/absolute')), '/etc/hostname', 'absolute symlink kept as written');
  if (isRoot) assert.equal(fs.statSync(join(ours, 'modes/setuid')).mode & 0o7777, 0o4755);
});

test('extractLayers() applies whiteouts and opaque directories across three layers as the OCI rules say', async (t) => {
  const dir = scratch(t);
  const f = (name: string, data = name): Member => ({ name, data });
  const d = (name: string, mode = 0o755): Member => ({ name, type: 'dir', mode });
  const l1 = pythonLayer(join(dir, 'l1.tar.gz'), [
    d('etc'), f('etc/passwd'), f('etc/shadow'), d('etc/conf.d'), f('etc/conf.d/a'), f('etc/conf.d/b'),
    d('opt'), d('opt/app'), f('opt/app/old'), d('opt/app/sub'), f('opt/app/sub/deep'), d('var'), f('var/log', 'x'), d('empty'),
    d('usr'), d('usr/bin'), f('usr/bin/bash', 'bash'), { name: 'usr/bin/sh', type: 'symlink', linkname: '/usr/bin/bash' },
  ]);
  const l2 = pythonLayer(join(dir, 'l2.tar.gz'), [
    d('etc'), f('etc/.wh.shadow'), d('etc/conf.d', 0o700), f('etc/conf.d/c'),
    // The opaque marker after a sibling of the same layer: the sibling must survive.
    d('opt'), d('opt/app'), f('opt/app/new'), f('opt/app/.wh..wh..opq'),
    f('.wh.var'),
    // A hardlink to a file of the lower layer.
    { name: 'usr/bin/bash-hard', type: 'link', linkname: 'usr/bin/bash' },
  ]);
  const l3 = pythonLayer(join(dir, 'l3.tar.gz'), [
    d('var'), f('var/new'), f('etc/conf.d/.wh.a'), f('.wh.missing-anyway'),
    // A file replacing a directory and a directory replacing a symlink.
    f('opt/app2'), f('empty', 'now a file'), d('usr/bin/sh'),
  ]);
  const { ours, reference } = await extractBoth(dir, [l1, l2, l3]);
  assertSameTree(ours, reference, { dirMtimes: false });
  assert.deepEqual(listAll(join(ours, 'opt/app')), ['new'], 'opaque directory keeps only the upper layer');
  assert.equal(fs.existsSync(join(ours, 'etc/shadow')), false);
  assert.equal(fs.statSync(join(ours, 'usr/bin/bash-hard')).ino, fs.statSync(join(ours, 'usr/bin/bash')).ino);
});

test('extractLayers() --path /SRC:DEST extracts only that subtree, re-rooted', async (t) => {
  const dir = scratch(t);
  const layer = pythonLayer(join(dir, 'l.tar.gz'), [
    { name: 'srv', type: 'dir' }, { name: 'srv/repo', type: 'dir', mode: 0o750 }, { name: 'srv/repo/config', data: '[core]\nmode=archive\n' },
    { name: 'srv/repo/objects', type: 'dir' }, { name: 'srv/repo/objects/ab.file', data: 'obj' },
    { name: 'srv/repo/hard', type: 'link', linkname: 'srv/repo/config' }, { name: 'srv/other', data: 'not wanted' }, { name: 'etc', type: 'dir' },
  ]);
  const dest = join(dir, 'out');
  fs.mkdirSync(dest); // an empty destination is accepted, as MCO hands oc a fresh temp dir
  await extractLayers([layerOf(layer)], dir, { paths: [{ source: '/srv/repo', dest: 'out' }] });
  assert.deepEqual(listAll(dest), ['config', 'hard', 'objects', 'objects/ab.file']);
  assert.equal(fs.statSync(dest).mode & 0o7777, 0o750, 'the SRC directory entry gives DEST its mode');
  assert.equal(fs.readFileSync(join(dest, 'hard'), 'utf8'), '[core]\nmode=archive\n');
  assert.deepEqual(fs.readdirSync(dir).sort(), ['l.tar.gz', 'out'], 'no staging directory left beside DEST');
});

test('extractLayers() without root rights drops setuid and owners, keeps sticky', async (t) => {
  const dir = scratch(t);
  const layer = pythonLayer(join(dir, 'l.tar.gz'), [{ name: 'suid', data: 'x', mode: 0o4755, uid: 1234, gid: 99 }, { name: 'sticky', type: 'dir', mode: 0o1777 }]);
  const ours = join(dir, 'ours');
  await extractLayers([layerOf(layer)], ours, { preserveOwnership: false, devices: false });
  const st = fs.statSync(join(ours, 'suid'));
  assert.equal(st.mode & 0o7777, 0o755);
  assert.equal(st.uid, process.getuid!());
  assert.equal(fs.statSync(join(ours, 'sticky')).mode & 0o7777, 0o1777);
});

test('extractLayers() creates device nodes and FIFOs as root, as GNU tar does', { skip: !isRoot && 'mknod needs root' }, async (t) => {
  const dir = scratch(t);
  const layer = pythonLayer(join(dir, 'l.tar.gz'), [
    { name: 'dev', type: 'dir' }, { name: 'dev/null', type: 'char', devmajor: 1, devminor: 3, mode: 0o666 }, { name: 'dev/fifo', type: 'fifo', mode: 0o600 },
  ]);
  const { ours, reference } = await extractBoth(dir, [layer]);
  assertSameTree(ours, reference);
  assert.equal(fs.statSync(join(ours, 'dev/null')).rdev, fs.statSync(join(reference, 'dev/null')).rdev);
});

test('extractLayers() checks the uncompressed tar against the diff_id and leaves nothing on a mismatch', async (t) => {
  const dir = scratch(t);
  const layer = pythonLayer(join(dir, 'l.tar.gz'), [{ name: 'a', data: 'a' }]);
  const wrong = `sha256:${'0'.repeat(64)}`;
  await assert.rejects(extractLayers([{ ...layerOf(layer), diffId: wrong }], join(dir, 'out')), (e: ExtractError) => {
    assert.match(e.message, /does not match its diff_id \(expected sha256:0{64}, got sha256:[0-9a-f]{64}\)/);
    return true;
  });
  assert.deepEqual(fs.readdirSync(dir), ['l.tar.gz']);
});

test('extractLayers() refuses a non-empty destination and a zstd layer with errors naming them', async (t) => {
  const dir = scratch(t);
  const layer = pythonLayer(join(dir, 'l.tar'), [{ name: 'a', data: 'a' }], { gzip: false });
  const full = join(dir, 'full');
  fs.mkdirSync(full);
  fs.writeFileSync(join(full, 'keep'), 'mine');
  await assert.rejects(extractLayers([layerOf(layer)], full), { message: `Destination ${full} is not empty` });
  assert.equal(fs.readFileSync(join(full, 'keep'), 'utf8'), 'mine');

  const zst = join(dir, 'l.tar.zst');
  assert.equal(spawnSync('zstd', ['-q', layer, '-o', zst]).status, 0);
  const source = { ...layerOf(zst), mediaType: OCI_LAYER_ZSTD };
  await assert.rejects(extractLayers([source], join(dir, 'out')), {
    message: `Layer ${source.digest}: zstd-compressed layers are not supported (Node 20 has no zstd; push the image with gzip layers)`,
  });
  // zstd bytes behind a gzip media type are caught by their magic number.
  await assert.rejects(extractLayers([{ ...layerOf(zst), mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip' }], join(dir, 'out')), /zstd-compressed data/);
  assert.deepEqual(fs.readdirSync(dir).sort(), ['full', 'l.tar', 'l.tar.zst']);
});

test('extractLayers() reads past the regular files `skip` accepts, and writes everything else', async (t) => {
  const dir = scratch(t);
  const layer = pythonLayer(join(dir, 'l.tar.gz'), [
    { name: 'srv/repo/objects/ab', type: 'dir' },
    { name: 'srv/repo/objects/ab/known.filez', data: 'the node has this one' },
    { name: 'srv/repo/objects/ab/new.filez', data: 'new' },
    { name: 'srv/repo/config', data: '[core]\n' },
  ]);
  const seen: string[] = [];
  const out = join(dir, 'out');
  await extractLayers([layerOf(layer)], out, { skip: (path) => (seen.push(path), path.endsWith('known.filez')) });
  assert.deepEqual(seen.sort(), ['srv/repo/config', 'srv/repo/objects/ab/known.filez', 'srv/repo/objects/ab/new.filez'], 'asked for regular files only');
  assert.deepEqual(fs.readdirSync(join(out, 'srv/repo/objects/ab')), ['new.filez']);
  assert.equal(fs.readFileSync(join(out, 'srv/repo/config'), 'utf8'), '[core]\n');
});

test('extractLayers() reads past a hard link to a skipped file when `skip` accepts it too, and refuses one it does not', async (t) => {
  const dir = scratch(t);
  const layer = pythonLayer(join(dir, 'l.tar.gz'), [
    { name: 'srv/repo/objects/ab', type: 'dir' },
    { name: 'srv/repo/objects/ab/known.filez', data: 'the node has this one' },
    { name: 'srv/repo/objects/ab/also-known.filez', type: 'link', linkname: 'srv/repo/objects/ab/known.filez' },
    { name: 'srv/repo/config', data: '[core]\n' },
  ]);
  const out = join(dir, 'out');
  await extractLayers([layerOf(layer)], out, { skip: (path) => path.includes('known.filez') });
  assert.deepEqual(listAll(join(out, 'srv/repo')), ['config', 'objects', 'objects/ab']);

  const elsewhere = pythonLayer(join(dir, 'l2.tar.gz'), [
    { name: 'srv/repo/objects/ab/known.filez', data: 'the node has this one' },
    { name: 'srv/repo/copy', type: 'link', linkname: 'srv/repo/objects/ab/known.filez' },
  ]);
  await assert.rejects(extractLayers([layerOf(elsewhere)], join(dir, 'out2'), { skip: (path) => path.endsWith('.filez') }), (e: ExtractError) =>
    e.entry === 'srv/repo/copy' && /hard link to "srv\/repo\/objects\/ab\/known\.filez", which was skipped/.test(e.message));
  assert.deepEqual(fs.readdirSync(dir).sort(), ['l.tar.gz', 'l2.tar.gz', 'out'], 'nothing left of the refused one');
});

test('extractLayers() refuses two --path mappings into the same or nested directories, writing nothing', async (t) => {
  const dir = scratch(t);
  const layer = pythonLayer(join(dir, 'l.tar.gz'), [{ name: 'a/x', data: 'x' }, { name: 'b/y', data: 'y' }]);
  for (const [destA, destB, how] of [['out', 'out', 'the same directory'], ['out', 'out/inner', 'one inside the other'], ['out/inner', 'out', 'one inside the other']] as const) {
    await assert.rejects(extractLayers([layerOf(layer)], dir, { paths: [{ source: '/a', dest: destA }, { source: '/b', dest: destB }] }), (e: ExtractError) =>
      e instanceof ExtractError && e.message.includes(`--path /a:${destA} and --path /b:${destB} extract into ${how}`));
    assert.deepEqual(fs.readdirSync(dir), ['l.tar.gz'], `${destA}, ${destB}: nothing written`);
  }
});

test('extractLayers() with several mappings is all or nothing: when a later rename fails, the earlier DEST is as it was', async (t) => {
  const dir = scratch(t);
  const layer = pythonLayer(join(dir, 'l.tar.gz'), [{ name: 'a/x', data: 'x' }, { name: 'b/y', data: 'y' }]);
  const [first, second] = [join(dir, 'first'), join(dir, 'second')];
  fs.mkdirSync(first, { mode: 0o711 });
  fs.mkdirSync(second);
  // Someone writes into the second DEST while the layers stream: its rename finds it full.
  const source = layerOf(layer);
  const racing = { ...source, open: async () => (fs.writeFileSync(join(second, 'intruder'), 'here'), source.open()) };
  await assert.rejects(extractLayers([racing], dir, { paths: [{ source: '/a', dest: 'first' }, { source: '/b', dest: 'second' }] }), (e: ExtractError) =>
    e.message.startsWith(`Cannot move the extracted tree into ${second}:`));
  assert.deepEqual(fs.readdirSync(first), [], 'the first DEST is empty again');
  assert.equal(fs.statSync(first).mode & 0o7777, 0o711);
  assert.deepEqual(fs.readdirSync(dir).sort(), ['first', 'l.tar.gz', 'second'], 'no staging directory left');
});

test('extractLayers() removes the staging directory an extraction killed with SIGKILL left, naming it in its log', async (t) => {
  const dir = scratch(t);
  const layer = pythonLayer(join(dir, 'l.tar'), [{ name: 'big', zeros: 4 << 20 }, { name: 'after', data: 'a' }], { gzip: false });
  const dest = join(dir, 'out');
  // A child extracts from a stream that stops halfway and never ends; it is killed there.
  const script = `
    import * as fs from 'node:fs';
    import { Readable } from 'node:stream';
    import { extractLayers } from ${JSON.stringify(new URL('./extract.js', import.meta.url).href)};
    import { layerOf } from ${JSON.stringify(new URL('./extract-testing.js', import.meta.url).href)};
    const source = layerOf(process.argv[1]);
    const bytes = fs.readFileSync(process.argv[1]);
    const stalled = new Readable({ read() {} });
    setInterval(() => {}, 1000); // a stalled stream alone does not keep the process alive until the kill
    stalled.push(bytes.subarray(0, bytes.length >> 1));
    await extractLayers([{ ...source, open: async () => stalled }], process.argv[2]);`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script, layer, dest], { stdio: 'ignore' });
  const exited = new Promise((resolve) => child.on('exit', resolve));
  const staging = (): string[] => fs.readdirSync(dir).filter((n) => n.startsWith('.out.partial-'));
  const started = Date.now();
  while (!staging().some((n) => fs.existsSync(join(dir, n, 'big')))) {
    assert.ok(Date.now() - started < 60_000, 'the child never started writing');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  child.kill('SIGKILL');
  await exited;
  const left = staging();
  assert.equal(left.length, 1, 'the killed extraction left its staging directory');

  const lines: string[] = [];
  await extractLayers([layerOf(layer)], dest, { log: (line) => lines.push(line) });
  assert.deepEqual(fs.readdirSync(dir).sort(), ['l.tar', 'out']);
  assert.ok(lines.includes(`Removed ${join(dir, left[0]!)}, the staging directory of an interrupted extraction`), lines.join('\n'));
});

/**
 * The hostile-image corpus: hand-made layers (Python's tarfile, byte-level damage done here)
 * that try to write outside the destination, exhaust the disk, or pass off bad bytes. Each one
 * must fail with an error naming the layer and the entry (or blob), leave no staging directory
 * behind, and leave the directory beside the destination exactly as it was.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { scratch } from '../ostree/testing.js';
import { ExtractError, extractLayers, type ExtractOptions, type LayerSource } from './extract.js';
import { layerFromFile } from './extract-source.js';
import { addLayerBlob, layerOf, listAll, pythonLayer, writeOciLayout, type Member } from './extract-testing.js';
import { OCI_LAYER, OCI_LAYER_GZIP } from './media-types.js';
import { pullImage } from './pull.js';
import { parseImageReference } from './reference.js';
import { RegistryClient } from './registry-client.js';
import { needsRegistryAndSkopeo, skopeo, startDockerRegistry } from './testing.js';

interface Arena {
  /** Holds `outside/secret` and, later, the destination `dest`; nothing else may appear. */
  parent: string;
  outside: string;
  dest: string;
  /** Where layer files are written (not inside PARENT). */
  layers: string;
}

function arena(t: TestContext): Arena {
  const root = scratch(t, 'mco-hostile-');
  const parent = join(root, 'parent');
  const outside = join(parent, 'outside');
  fs.mkdirSync(outside, { recursive: true });
  fs.writeFileSync(join(outside, 'secret'), 'untouched\n');
  fs.mkdirSync(join(root, 'layers'));
  return { parent, outside, dest: join(parent, 'dest'), layers: join(root, 'layers') };
}

/** Builds each member list as a gzip layer. */
const layersOf = (a: Arena, lists: Member[][]): LayerSource[] => lists.map((members, i) => layerOf(pythonLayer(join(a.layers, `l${i}.tar.gz`), members)));

/** Runs the extraction, checks the error and that nothing was written or left behind. */
async function assertRefused(a: Arena, layers: LayerSource[], expected: { message: RegExp; entry?: string; layer: string }, options: ExtractOptions = {}): Promise<void> {
  await assert.rejects(extractLayers(layers, a.dest, options), (e: unknown) => {
    assert.ok(e instanceof ExtractError, `expected an ExtractError, got ${String(e)}`);
    assert.match(e.message, expected.message);
    assert.ok(e.message.includes(expected.layer), `message names the layer ${expected.layer}: ${e.message}`);
    assert.equal(e.layer, expected.layer);
    if (expected.entry !== undefined) {
      assert.equal(e.entry, expected.entry);
      assert.ok(e.message.includes(`"${expected.entry}"`), `message names the entry: ${e.message}`);
    }
    return true;
  });
  assert.deepEqual(listAll(a.parent), ['outside', 'outside/secret'], 'nothing beside the destination: no escape, no staging dir');
  assert.equal(fs.readFileSync(join(a.outside, 'secret'), 'utf8'), 'untouched\n');
}

interface Case {
  name: string;
  layers: (a: Arena) => Member[][];
  /** Index of the layer that must be named; the last one when absent. */
  layer?: number;
  entry: string;
  message: RegExp;
  options?: ExtractOptions;
}

const file = (name: string, data = 'pwned\n'): Member => ({ name, data });
const link = (name: string, linkname: string): Member => ({ name, type: 'symlink', linkname });
const hard = (name: string, linkname: string): Member => ({ name, type: 'link', linkname });

const CASES: Case[] = [
  { name: 'a ../ escape', layers: () => [[file('../escape')]], entry: '../escape', message: /has a "\.\." component/ },
  { name: 'a .. in the middle of a path', layers: () => [[{ name: 'a', type: 'dir' }, file('a/../../escape')]], entry: 'a/../../escape', message: /has a "\.\." component/ },
  { name: 'an absolute path', layers: () => [[file('/abs-file')]], entry: '/abs-file', message: /absolute path "\/abs-file" refused/ },
  {
    name: 'a write through a symlink planted in the same layer',
    layers: (a) => [[link('evil', a.outside), file('evil/pwned')]],
    entry: 'evil/pwned',
    message: /refusing to write through symlink "evil"/,
  },
  {
    name: 'a write through a symlink planted by a lower layer',
    layers: (a) => [[link('evil', a.outside)], [file('evil/pwned')]],
    entry: 'evil/pwned',
    message: /refusing to write through symlink "evil"/,
  },
  {
    name: 'a directory created through a relative symlink pointing out',
    layers: () => [[link('rel', '../outside')], [{ name: 'rel/sub/', type: 'dir' }]],
    entry: 'rel/sub/',
    message: /refusing to write through symlink "rel" \(-> \.\.\/outside\)/,
  },
  { name: 'a hardlink out with ..', layers: () => [[hard('hl', '../outside/secret')]], entry: 'hl', message: /hardlink target "\.\.\/outside\/secret" has a "\.\." component/ },
  { name: 'a hardlink to an absolute path', layers: () => [[hard('hl', '/etc/shadow')]], entry: 'hl', message: /absolute hardlink target "\/etc\/shadow" refused/ },
  {
    name: 'a hardlink through a symlink-escaped directory of a lower layer',
    layers: (a) => [[link('etc', a.outside)], [hard('x', 'etc/secret')]],
    entry: 'x',
    message: /refusing to write through symlink "etc"/,
  },
  {
    name: 'a hardlink to a path not extracted yet',
    layers: () => [[hard('x', 'later'), file('later')]],
    entry: 'x',
    message: /hardlink target "later" does not exist \(not extracted before the link\)/,
  },
  {
    name: 'a device node without root rights',
    layers: () => [[{ name: 'null', type: 'char', devmajor: 1, devminor: 3 }]],
    entry: 'null',
    message: /character-device entries can only be created by root/,
    options: { devices: false },
  },
  { name: 'a whiteout of ..', layers: () => [[{ name: 'sub', type: 'dir' }, file('sub/.wh...', '')]], entry: 'sub/.wh...', message: /whiteout of "\.\." refused/ },
  {
    name: 'a whiteout through a symlink (deleting outside)',
    layers: (a) => [[link('evil', a.outside)], [file('evil/.wh.secret', '')]],
    entry: 'evil/.wh.secret',
    message: /refusing to write through symlink "evil"/,
  },
  {
    name: 'an opaque marker through a symlink (emptying outside)',
    layers: (a) => [[link('evil', a.outside)], [file('evil/.wh..wh..opq', '')]],
    entry: 'evil/.wh..wh..opq',
    message: /refusing to write through symlink "evil"/,
  },
  {
    name: 'too many entries',
    layers: () => [Array.from({ length: 30 }, (_, i) => file(`f${i}`))],
    entry: 'f10',
    message: /more than 10 entries in the image \(raise the limit with --max-entries/,
    options: { limits: { maxEntries: 10 } },
  },
];

for (const c of CASES) {
  test(`extractLayers() refuses ${c.name}`, async (t) => {
    const a = arena(t);
    const layers = layersOf(a, c.layers(a));
    const layer = layers[c.layer ?? layers.length - 1]!.digest;
    await assertRefused(a, layers, { message: c.message, entry: c.entry, layer }, c.options);
  });
}

test('extractLayers() stops a gzip bomb at the byte limit while streaming', async (t) => {
  const a = arena(t);
  const [bomb] = layersOf(a, [[{ name: 'zeros', zeros: 256 * 2 ** 20 }]]);
  assert.ok(bomb!.size < 512 * 1024, `the bomb is tiny (${bomb!.size} bytes)`);
  await assertRefused(a, [bomb!], { message: /expands past the limit of 16777216 uncompressed bytes \(raise it with --max-bytes/, layer: bomb!.digest }, { limits: { maxBytes: 16 * 2 ** 20 } });
});

test('extractLayers() refuses a truncated gzip blob and a truncated tar', async (t) => {
  const a = arena(t);
  const members = [file('a', 'x'.repeat(100_000)), file('b', 'y'.repeat(100_000))];
  const gz = fs.readFileSync(pythonLayer(join(a.layers, 'full.tar.gz'), members));
  fs.writeFileSync(join(a.layers, 'cut.tar.gz'), gz.subarray(0, gz.length - 20));
  const cutGz = layerOf(join(a.layers, 'cut.tar.gz'));
  await assertRefused(a, [cutGz], { message: /blob is truncated \(gzip stream ended early/, layer: cutGz.digest });

  const tar = fs.readFileSync(pythonLayer(join(a.layers, 'full.tar'), members, { gzip: false }));
  fs.writeFileSync(join(a.layers, 'cut.tar'), tar.subarray(0, 512 + 50_000));
  const cutTar = layerOf(join(a.layers, 'cut.tar'));
  await assertRefused(a, [cutTar], { message: /blob is truncated \(tar stream ended inside an entry\)/, layer: cutTar.digest });
});

test('extractLayers() fails cleanly when the blob does not match its digest', async (t) => {
  const a = arena(t);
  // An uncompressed layer damaged inside a file's content: the tar still parses, so only the
  // digest check can catch it, at the very end of the blob.
  const path = pythonLayer(join(a.layers, 'l.tar'), [file('etc/motd', 'hello\n'.repeat(1000))], { gzip: false });
  const good = layerOf(path);
  const bytes = fs.readFileSync(path);
  bytes[512 * 3 + 10] ^= 0xff;
  fs.writeFileSync(path, bytes);
  await assertRefused(a, [layerFromFile(path, { digest: good.digest, size: good.size, mediaType: OCI_LAYER })], {
    message: new RegExp(`Blob ${good.digest}: digest mismatch \\(got sha256:[0-9a-f]{64}\\)`),
    layer: good.digest,
  });
  // The same blob served as one byte longer than its descriptor stops at the size.
  fs.appendFileSync(path, 'x');
  await assertRefused(a, [layerFromFile(path, { digest: good.digest, size: good.size, mediaType: OCI_LAYER })], { message: /longer than its descriptor's size/, layer: good.digest });
});

test('extractLayers() refuses a blob whose bytes contradict its media type', async (t) => {
  const a = arena(t);
  const tar = layerOf(pythonLayer(join(a.layers, 'l.tar'), [file('a')], { gzip: false }));
  await assertRefused(a, [{ ...tar, mediaType: OCI_LAYER_GZIP }], { message: /says gzip but the blob is not gzip/, layer: tar.digest });
  await assertRefused(a, [{ ...tar, mediaType: 'application/vnd.example.unknown' }], { message: /unsupported layer media type application\/vnd\.example\.unknown/, layer: tar.digest });
});

test('extractLayers() replaces a symlink pointing out by a file without writing through it', async (t) => {
  const a = arena(t);
  const layers = layersOf(a, [[link('f', join(a.outside, 'secret')), link('dir', a.outside)], [file('f', 'mine\n'), { name: 'dir', type: 'dir' }, file('dir/inside')]]);
  await extractLayers(layers, a.dest);
  assert.equal(fs.readFileSync(join(a.outside, 'secret'), 'utf8'), 'untouched\n');
  assert.equal(fs.lstatSync(join(a.dest, 'f')).isFile(), true);
  assert.equal(fs.lstatSync(join(a.dest, 'dir')).isDirectory(), true);
  assert.deepEqual(listAll(a.parent), ['dest', 'dest/dir', 'dest/dir/inside', 'dest/f', 'outside', 'outside/secret']);
});

test('extractLayers() of a pull whose layer was corrupted in a real registry fails and leaves nothing', needsRegistryAndSkopeo, async (t) => {
  const a = arena(t);
  const layout = join(a.layers, 'oci');
  const good = addLayerBlob(layout, pythonLayer(join(a.layers, 'base.tar.gz'), [file('etc/os-release', 'ID=rhcos\n')]));
  const bad = addLayerBlob(layout, pythonLayer(join(a.layers, 'update.tar.gz'), [file('usr/bin/tool', 'x'.repeat(50_000))]));
  writeOciLayout(layout, [good, bad], 'test');
  const registry = await startDockerRegistry(t);
  const pushed = skopeo(['copy', '--quiet', '--dest-tls-verify=false', `oci:${layout}:test`, `docker://${registry.host}/ocp/machine-os-content:test`]);
  assert.equal(pushed.status, 0, pushed.stderr);
  // The registry serves the flipped byte with a 200 and the original digest header.
  const stored = registry.blobPath(bad.digest);
  const bytes = fs.readFileSync(stored);
  bytes[bytes.length >> 1] ^= 0x01;
  fs.writeFileSync(stored, bytes);

  const image = await pullImage(new RegistryClient({ insecure: true }), parseImageReference(`${registry.host}/ocp/machine-os-content:test`));
  await assert.rejects(extractLayers(image.layers, a.dest), (e: unknown) => {
    assert.ok(e instanceof ExtractError, String(e));
    assert.equal(e.layer, bad.digest);
    assert.match(e.message, new RegExp(bad.digest));
    return true;
  });
  assert.deepEqual(listAll(a.parent), ['outside', 'outside/secret'], 'the first layer, already extracted, went with the staging dir');
});

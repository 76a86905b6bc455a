import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  blsEntryFileName,
  compareBlsVersionsDescending,
  formatBootLink,
  ostreeKarg,
  parseBlsEntry,
  parseBootLink,
  serializeBlsEntry,
  splitKargs,
  strverscmp,
  withOstreeKarg,
  withoutOstreeKarg,
} from './bls.js';
import { needsOstree, RealSysroot } from './sysroot-fixtures.js';

const CSUM = '79aeff2d147a015f003f59af1b0a05cbe3fe3143b8b28ae8c2fd1ec2625ae870';

test('parseBlsEntry() then serializeBlsEntry() gives back the entries the real ostree admin deploy wrote', needsOstree, (t) => {
  const s = RealSysroot.forTest(t);
  s.commit('rhcos', { version: '46.82.1' });
  s.deploy('--os=rhcos', '--karg=root=LABEL=root', '--karg=rw', 'rhcos');
  s.commit('rhcos', { version: '46.82.2', kernel: 'KERNEL-B\n' });
  s.deploy('--os=rhcos', 'rhcos');
  const entries = s.entries();
  assert.deepEqual([...entries.keys()], ['ostree-1-rhcos.conf', 'ostree-2-rhcos.conf']);
  for (const [name, text] of entries) {
    const entry = parseBlsEntry(text);
    assert.deepEqual([...entry.fields.keys()], ['title', 'version', 'options', 'linux', 'initrd'], name);
    assert.equal(serializeBlsEntry(entry), text, name);
  }
  const top = parseBlsEntry(entries.get('ostree-2-rhcos.conf')!);
  assert.equal(top.fields.get('title'), 'Test OS 46 46.82.2 (ostree:0)');
  assert.equal(top.fields.get('version'), '2');
  assert.match(top.fields.get('options')!, /^root=LABEL=root rw ostree=\/ostree\/boot\.[01]\/rhcos\/[0-9a-f]{64}\/0$/);
});

test('parseBlsEntry() splits at the first space or tab and keeps the rest of the value verbatim', () => {
  const e = parseBlsEntry('title A  B\tC\noptions\troot=x  ostree=/y\nlinux /vmlinuz\n');
  assert.equal(e.fields.get('title'), 'A  B\tC');
  assert.equal(e.fields.get('options'), 'root=x  ostree=/y');
  assert.equal(e.fields.get('linux'), '/vmlinuz');
});

test('parseBlsEntry() ignores comments, indented lines and keys without a value, as libostree does', () => {
  const e = parseBlsEntry('# comment\n options root=x\nfoo\n\nversion 3\nempty \n');
  assert.deepEqual([...e.fields], [['version', '3'], ['empty', '']]);
});

test('parseBlsEntry() keeps the last value of a repeated key, and later initrd lines as overlay initrds', () => {
  const e = parseBlsEntry('version 1\nversion 2\ninitrd /a.img\ninitrd /b.img\ninitrd /c.img\n');
  assert.equal(e.fields.get('version'), '2');
  assert.equal(e.fields.get('initrd'), '/a.img');
  assert.deepEqual(e.overlayInitrds, ['/b.img', '/c.img']);
});

test('serializeBlsEntry() writes title, version, options, devicetree, linux, initrd first, then overlays, then other keys', () => {
  const e = parseBlsEntry('custom yes\ninitrd /i\nlinux /l\ndevicetree /d\noptions o=1\nversion 7\ntitle T\naaa last\ninitrd /overlay\n');
  assert.equal(serializeBlsEntry(e), 'title T\nversion 7\noptions o=1\ndevicetree /d\nlinux /l\ninitrd /i\ninitrd /overlay\ncustom yes\naaa last\n');
});

test('serializeBlsEntry() refuses a value with a newline, a bad key, or overlay initrds without an initrd', () => {
  assert.throws(() => serializeBlsEntry({ fields: new Map([['title', 'a\nversion 9']]), overlayInitrds: [] }), /newline/);
  assert.throws(() => serializeBlsEntry({ fields: new Map([['9key', 'v']]), overlayInitrds: [] }), /Invalid BLS entry key "9key"/);
  assert.throws(() => serializeBlsEntry({ fields: new Map(), overlayInitrds: ['/x'] }), /no initrd/);
});

test('blsEntryFileName() uses the 2022.7 form ostree-N-OS.conf', () => {
  assert.equal(blsEntryFileName(2, 'rhcos'), 'ostree-2-rhcos.conf');
});

test('parseBootLink() reads /ostree/boot.B/OS/BOOTCSUM/BOOTSERIAL and formatBootLink() writes it back', () => {
  const value = `/ostree/boot.1/rhcos/${CSUM}/3`;
  const link = parseBootLink(value);
  assert.deepEqual(link, { bootversion: 1, osname: 'rhcos', bootcsum: CSUM, bootserial: 3 });
  assert.equal(formatBootLink(link!), value);
});

test('parseBootLink() rejects values that are not a bootlink', () => {
  for (const bad of ['/ostree/boot.2/rhcos/x/0', '/ostree/boot.0/rhcos/x', '/ostree/boot.0/rhcos/x/0/', 'ostree/boot.0/rhcos/x/0',
    '/ostree/bootX0/rhcos/x/0', '/ostree/boot.0/rhcos/x/-1', '/ostree/boot.0//x/0', '/ostree/deploy/rhcos/deploy/abc.0']) {
    assert.equal(parseBootLink(bad), null, bad);
  }
});

test('splitKargs() splits at blanks outside double quotes and drops empty arguments', () => {
  assert.deepEqual(splitKargs('  root=LABEL=root  rw ostree=/ostree/boot.0/a/b/0\n'), ['root=LABEL=root', 'rw', 'ostree=/ostree/boot.0/a/b/0']);
  assert.deepEqual(splitKargs('a="x y" b'), ['a="x y"', 'b']);
  assert.deepEqual(splitKargs(''), []);
});

test('ostreeKarg(), withoutOstreeKarg() and withOstreeKarg() find, drop, and replace in place or append ostree=', () => {
  const kargs = ['root=x', 'ostree=/old', 'rw', 'ostree=/older'];
  assert.equal(ostreeKarg(kargs), '/old');
  assert.equal(ostreeKarg(['root=x']), undefined);
  assert.deepEqual(withoutOstreeKarg(kargs), ['root=x', 'rw']);
  assert.deepEqual(withOstreeKarg(kargs, '/new'), ['root=x', 'ostree=/new', 'rw']);
  assert.deepEqual(withOstreeKarg(['root=x'], '/new'), ['root=x', 'ostree=/new']);
});

test('strverscmp() agrees with glibc on every vector (computed with glibc strverscmp via ctypes)', () => {
  const vectors: [string, string, -1 | 0 | 1][] = [
    ['1', '2', -1], ['2', '10', -1], ['10', '9', 1], ['000', '00', -1], ['00', '01', -1], ['01', '010', -1],
    ['010', '09', -1], ['09', '0', -1], ['0', '1', -1], ['9', '10', -1], ['1.2', '1.10', -1], ['1.02', '1.1', -1],
    ['a', 'b', -1], ['abc', 'abc', 0], ['', 'a', -1], ['a', '', 1], ['1.0', '1.0.1', -1], ['alpha1', 'alpha01', 1],
    ['alpha10', 'alpha9', 1], ['1.010', '1.09', -1], ['3', '3', 0], ['02', '1', -1], ['0a', '0b', -1], ['foo', 'foo1', -1],
    ['12a', '12', 1], ['100', '99', 1], ['1a', '12', -1], ['x0', 'x00', 1],
    ['46.82.202012010000-0', '46.82.202011230000-0', 1], ['a01b', 'a1b', -1],
  ];
  for (const [a, b, want] of vectors) {
    assert.equal(Math.sign(strverscmp(a, b)), want, `strverscmp(${JSON.stringify(a)}, ${JSON.stringify(b)})`);
    assert.equal(Math.sign(strverscmp(b, a)), -want || 0, `strverscmp(${JSON.stringify(b)}, ${JSON.stringify(a)})`);
  }
});

test('compareBlsVersionsDescending() puts the highest version first and entries without a version last', () => {
  const e = (v?: string) => parseBlsEntry(v === undefined ? 'title none\n' : `version ${v}\n`);
  const sorted = [e('9'), e(), e('10'), e('2')].sort(compareBlsVersionsDescending).map((x) => x.fields.get('version'));
  assert.deepEqual(sorted, ['10', '9', '2', undefined]);
});

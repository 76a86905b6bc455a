import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CommitModifier, parseSkipList, parseStatOverride, type CommitModifierSpec, type Stat3 } from './modifier.js';

const file = (mode: number): Stat3 => ({ uid: 1000, gid: 1000, mode: 0o100000 | mode });
const dir = (mode: number): Stat3 => ({ uid: 1000, gid: 1000, mode: 0o040000 | mode });

const cases: { name: string; spec: CommitModifierSpec; path: string; st: Stat3; want: Stat3 | 'skip' }[] = [
  { name: 'nothing asked: unchanged', spec: {}, path: '/a', st: file(0o644), want: file(0o644) },
  { name: '--owner-uid and --owner-gid replace ownership', spec: { ownerUid: 0, ownerGid: 81 }, path: '/a', st: file(0o644), want: { uid: 0, gid: 81, mode: 0o100644 } },
  { name: '--mode-ro-executables drops write bits of executables', spec: { roExecutables: true }, path: '/x', st: file(0o775), want: file(0o555) },
  { name: '--mode-ro-executables leaves non-executables alone', spec: { roExecutables: true }, path: '/x', st: file(0o664), want: file(0o664) },
  { name: '--mode-ro-executables leaves directories alone', spec: { roExecutables: true }, path: '/d', st: dir(0o775), want: dir(0o775) },
  { name: 'statoverride adds bits', spec: parseStatOverride('+1024 /a\n', 'so'), path: '/a', st: file(0o644), want: file(0o2644) },
  { name: 'statoverride = replaces permission bits, keeps the type', spec: parseStatOverride('=384 /a\n', 'so'), path: '/a', st: file(0o664), want: file(0o600) },
  { name: 'statoverride only touches its path', spec: parseStatOverride('2048 /a\n', 'so'), path: '/b', st: file(0o644), want: file(0o644) },
  { name: 'skip-list leaves the path out', spec: { skip: parseSkipList('/a/b\n') }, path: '/a/b', st: file(0o644), want: 'skip' },
];

for (const c of cases) {
  test(`CommitModifier: ${c.name}`, () => {
    assert.deepEqual(new CommitModifier(c.spec).apply(c.path, c.st), c.want);
  });
}

test('CommitModifier: statoverride adds and skip-list paths that matched nothing are errors, as ostree reports them', () => {
  const m = new CommitModifier({ ...parseStatOverride('2048 /missing\n=384 /also-missing\n', 'so'), skip: new Set(['/gone']) });
  assert.throws(() => m.checkAllMatched(), /Unmatched statoverride paths: \/missing/);
  m.apply('/missing', file(0o644));
  assert.throws(() => m.checkAllMatched(), /Unmatched skip-list paths: \/gone/);
  m.apply('/gone', file(0o644));
  m.checkAllMatched(); // '=' overrides are never reported, as in ostree
});

test('parseStatOverride refuses a line without a space and a mode that is not a number', () => {
  assert.throws(() => parseStatOverride('2048\n', 'so.txt'), /Malformed statoverride file \(no space found\): so\.txt/);
  assert.throws(() => parseStatOverride('rwx /a\n', 'so.txt'), /Invalid mode "rwx" in statoverride file so\.txt/);
});

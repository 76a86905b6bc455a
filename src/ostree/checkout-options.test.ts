/**
 * `mco ostree checkout`'s layering options (-H, --union-add, --union-identical, --whiteouts,
 * --skip-list, file subpaths), with ostree's error wording, and whiteouts that cannot reach
 * outside the directory they sit in.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { encodeCommit, encodeDirMeta, encodeDirTree, fileChecksum } from './objects.js';
import { Repo } from './repo.js';
import { assertCleanError, mcoIn, noFsync, ok, runMco, scratch } from './testing.js';

function repoWith(dir: string, mode: string, trees: Record<string, Record<string, string>>): string {
  const repo = join(dir, `repo-${mode}`);
  ok(runMco(['ostree', 'init', `--repo=${repo}`, `--mode=${mode}`]), 'init');
  noFsync(repo);
  for (const [ref, files] of Object.entries(trees)) {
    const src = join(dir, `src-${mode}-${ref}`);
    for (const [path, content] of Object.entries(files)) {
      fs.mkdirSync(join(src, path, '..'), { recursive: true });
      fs.writeFileSync(join(src, path), content);
    }
    ok(mcoIn(repo, 'commit', '-b', ref, `--tree=dir=${src}`), `commit ${ref}`);
  }
  return repo;
}

test('checkout -H fails in ostree\'s words where the repo mode cannot hard-link; --union-identical needs -H', (t) => {
  const dir = scratch(t);
  const cases = [
    { mode: 'bare-user', args: ['-H'], error: 'User repository mode requires user checkout mode to hardlink' },
    { mode: 'archive', args: ['-U', '-H'], error: 'Bare repository mode cannot hardlink in user checkout mode' },
    { mode: 'bare-user', args: ['-U', '--union-identical'], error: '--union-identical requires --require-hardlinks' },
  ];
  for (const c of cases) {
    const repo = repoWith(dir, c.mode, { main: { f: 'x\n' } });
    assertCleanError(mcoIn(repo, 'checkout', ...c.args, 'main', join(dir, `co-${c.mode}-${c.args.join('')}`)), `${c.mode} ${c.args.join(' ')}`, [c.error]);
  }
  const repo = join(dir, 'repo-bare-user');
  ok(mcoIn(repo, 'checkout', '-U', '-H', 'main', join(dir, 'linked')), 'checkout -U -H');
  assert.ok(fs.statSync(join(dir, 'linked/f')).nlink > 1, 'hard-linked from the object store');
});

test('checkout --union-add keeps existing files; --union-identical merges identical ones and refuses different ones', (t) => {
  const dir = scratch(t);
  const repo = repoWith(dir, 'bare-user', { one: { 'usr/COPYING': 'GPL\n', 'usr/bin/one': '1\n' }, two: { 'usr/COPYING': 'GPL\n', 'usr/bin/two': '2\n' }, other: { 'usr/COPYING': 'MIT\n' } });
  const co = join(dir, 'co');
  ok(mcoIn(repo, 'checkout', '-U', '-C', 'one', co), 'checkout -C');
  ok(mcoIn(repo, 'checkout', '-U', '-H', '--union-identical', 'two', co), 'identical copy merges');
  assert.deepEqual(fs.readdirSync(join(co, 'usr/bin')).sort(), ['one', 'two']);
  assertCleanError(mcoIn(repo, 'checkout', '-U', '-H', '--union-identical', 'other', co), 'different content', ['File exists']);
  fs.writeFileSync(join(co, 'usr/COPYING'), 'mine\n');
  ok(mcoIn(repo, 'checkout', '-U', '--union-add', 'other', co), 'union-add');
  assert.equal(fs.readFileSync(join(co, 'usr/COPYING'), 'utf8'), 'mine\n');
});

test('checkout --whiteouts removes what .wh.NAME names and empties .wh..wh..opq directories; --skip-list and file subpaths', (t) => {
  const dir = scratch(t);
  const repo = repoWith(dir, 'bare-user', {
    base: { 'baz/cow': 'moo\n', 'baz/another/y': 'x\n', 'deeper/ohyeah': 'hi\n', keep: 'k\n' },
    overlay: { 'baz/.wh.cow': '', '.wh.deeper': '', 'baz/another/.wh..wh..opq': '', anewfile: 'new\n' },
  });
  const co = join(dir, 'co');
  for (const ref of ['base', 'overlay']) ok(mcoIn(repo, 'checkout', '-U', '--union', '--whiteouts', ref, co), `checkout ${ref}`);
  assert.deepEqual(fs.readdirSync(co).sort(), ['anewfile', 'baz', 'keep']);
  assert.deepEqual(fs.readdirSync(join(co, 'baz')).sort(), ['another']);
  assert.deepEqual(fs.readdirSync(join(co, 'baz/another')), []);
  fs.writeFileSync(join(dir, 'skip.txt'), '/baz/cow\n/deeper\n');
  ok(mcoIn(repo, 'checkout', '-U', `--skip-list=${join(dir, 'skip.txt')}`, 'base', join(dir, 'skipped')), 'skip-list');
  assert.deepEqual(fs.readdirSync(join(dir, 'skipped')).sort(), ['baz', 'keep']);
  ok(mcoIn(repo, 'checkout', '-U', '--subpath=/baz/cow', 'base', join(dir, 'one')), 'file subpath');
  assert.equal(fs.readFileSync(join(dir, 'one/cow'), 'utf8'), 'moo\n');
  ok(mcoIn(repo, 'checkout', '-U', '--allow-noent', '--subpath=/nope', 'base', join(dir, 'none')), 'allow-noent');
  assert.equal(fs.existsSync(join(dir, 'none')), false);
});

test('checkout --whiteouts: a hostile .wh. or .wh.. entry removes nothing (not the directory it sits in)', async (t) => {
  const dir = scratch(t);
  const repo = await Repo.init(join(dir, 'repo'), { mode: 'bare-user' });
  const header = { uid: 0, gid: 0, mode: 0o100644, symlinkTarget: '', xattrs: [] };
  const empty = fileChecksum(header);
  repo.writeFileObjectSync(empty, header, Buffer.alloc(0));
  const meta = repo.writeMetadataSync('dirmeta', encodeDirMeta({ uid: 0, gid: 0, mode: 0o40755, xattrs: [] }));
  const sub = repo.writeMetadataSync('dirtree', encodeDirTree({ files: [['.wh.', empty], ['.wh..', empty]], dirs: [] }));
  const root = repo.writeMetadataSync('dirtree', encodeDirTree({ files: [], dirs: [['sub', sub, meta]] }));
  const commit = repo.writeMetadataSync('commit', encodeCommit({ metadata: [], parent: null, subject: '', body: '', timestamp: 0, rootTree: root, rootMeta: meta }));
  const co = join(dir, 'co');
  fs.mkdirSync(join(co, 'sub'), { recursive: true });
  fs.writeFileSync(join(co, 'sub/precious'), 'keep\n');
  ok(mcoIn(repo.path, 'checkout', '-U', '--union', '--whiteouts', commit, co), 'checkout');
  assert.equal(fs.readFileSync(join(co, 'sub/precious'), 'utf8'), 'keep\n');
});

test('checkout gives the directories it makes mtime 0, as ostree; -C and directories that existed keep theirs', (t) => {
  const dir = scratch(t);
  const repo = repoWith(dir, 'bare-user', { main: { 'sub/f': 'x\n' } });
  const mtime = (p: string): number => fs.statSync(p).mtimeMs;
  ok(mcoIn(repo, 'checkout', '-U', 'main', join(dir, 'co')), 'checkout');
  assert.deepEqual([mtime(join(dir, 'co')), mtime(join(dir, 'co/sub'))], [0, 0]);
  ok(mcoIn(repo, 'checkout', '-U', '-C', 'main', join(dir, 'copied')), 'checkout -C');
  assert.notEqual(mtime(join(dir, 'copied/sub')), 0);
  fs.mkdirSync(join(dir, 'existing'));
  ok(mcoIn(repo, 'checkout', '-U', '--union', 'main', join(dir, 'existing')), 'checkout --union');
  assert.notEqual(mtime(join(dir, 'existing')), 0);
  assert.equal(mtime(join(dir, 'existing/sub')), 0);
});

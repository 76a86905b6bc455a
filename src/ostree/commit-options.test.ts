/**
 * `mco ostree commit`'s tree-shaping options beside the real ostree: the same flags on the
 * same trees must give the same commit checksum (so the same dirtrees, dirmetas and content).
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { isRoot, mcoIn, needsOstree, noFsync, ok, ostreeIn, runMco, scratch, type RunResult } from './testing.js';

function tree(root: string): string {
  fs.mkdirSync(join(root, 'a/nested'), { recursive: true });
  fs.writeFileSync(join(root, 'a/nested/2'), 'two\n');
  fs.writeFileSync(join(root, 'a/nested/3'), 'three\n');
  fs.writeFileSync(join(root, 'a/exe'), '#!/bin/sh\n', { mode: 0o775 });
  fs.writeFileSync(join(root, 'top'), 'top\n', { mode: 0o664 });
  fs.symlinkSync('top', join(root, 'link'));
  return root;
}

/** Both tools' repos (archive: no root needed), each with `base` committed to `main`. */
function pair(dir: string, base: string): [ours: string, theirs: string] {
  const ours = join(dir, 'ours');
  const theirs = join(dir, 'theirs');
  ok(runMco(['ostree', 'init', `--repo=${ours}`, '--mode=archive']), 'mco init');
  ok(ostreeIn(theirs, 'init', '--mode=archive'), 'ostree init');
  for (const r of [ours, theirs]) noFsync(r);
  both(ours, theirs, ['-b', 'main', '--timestamp=@0', '--no-bindings', base]);
  return [ours, theirs];
}

/** Runs `commit ARGS` in both; asserts the same outcome (and checksum when it succeeds). */
function both(ours: string, theirs: string, args: string[]): [RunResult, RunResult] {
  const a = mcoIn(ours, 'commit', ...args);
  const b = ostreeIn(theirs, 'commit', ...args);
  assert.equal(a.status === 0, b.status === 0, `commit ${args.join(' ')}: ours ${a.status} ${a.stderr} / ostree ${b.status} ${b.stderr}`);
  if (b.status === 0) assert.equal(a.stdout.trim(), b.stdout.trim(), `commit ${args.join(' ')}`);
  return [a, b];
}

test('commit --owner-uid/--owner-gid, --statoverride, --skip-list, --mode-ro-executables on dirs and on --tree=ref= give ostree\'s checksums', needsOstree, (t) => {
  const dir = scratch(t);
  const src = tree(join(dir, 'src'));
  const [ours, theirs] = pair(dir, src);
  fs.writeFileSync(join(dir, 'so.txt'), '+1024 /a/nested/2\n=384 /top\n');
  fs.writeFileSync(join(dir, 'skip.txt'), '/a/nested/3\n');
  const flagSets = [
    ['--owner-uid=42', '--owner-gid=43'],
    [`--statoverride=${join(dir, 'so.txt')}`],
    [`--skip-list=${join(dir, 'skip.txt')}`],
    ['--mode-ro-executables'],
    ['--canonical-permissions'],
  ];
  for (const flags of flagSets) {
    for (const source of [`--tree=dir=${src}`, '--tree=ref=main']) both(ours, theirs, ['--orphan', '--timestamp=@0', '--no-bindings', source, ...flags]);
  }
  // A date as GNU date reads it (ostree's --timestamp does): the same commit, so the same seconds.
  both(ours, theirs, ['--orphan', '--no-bindings', '--timestamp=October 25 1985', `--tree=dir=${src}`]);
  const [a] = both(ours, theirs, ['--orphan', '--no-bindings', `--statoverride=${join(dir, 'so.txt')}`, `--tree=dir=${join(src, 'a')}`]);
  assert.match(a.stderr, /Unmatched statoverride paths/);
});

test('commit --base and several --tree overlay in order, as ostree\'s mutable tree; a file and a directory of one name conflict', needsOstree, (t) => {
  const dir = scratch(t);
  const [ours, theirs] = pair(dir, tree(join(dir, 'src')));
  fs.mkdirSync(join(dir, 'over/a/nested'), { recursive: true });
  fs.writeFileSync(join(dir, 'over/a/nested/2'), 'replaced\n');
  fs.writeFileSync(join(dir, 'over/new'), 'new\n');
  both(ours, theirs, ['-b', 'other', '--timestamp=@0', '--no-bindings', `--tree=dir=${join(dir, 'over')}`]);
  both(ours, theirs, ['--orphan', '--timestamp=@0', '--no-bindings', '--tree=ref=main', '--tree=ref=other']);
  both(ours, theirs, ['--orphan', '--timestamp=@0', '--no-bindings', '--base=main', '--owner-uid=7', `--tree=dir=${join(dir, 'over')}`]);
  fs.mkdirSync(join(dir, 'clash/top'), { recursive: true });
  const [a] = both(ours, theirs, ['--orphan', '--no-bindings', '--tree=ref=main', `--tree=dir=${join(dir, 'clash')}`]);
  assert.match(a.stderr, /Can't replace file with directory: \/top/);
});

test('commit --skip-if-unchanged prints the parent and moves nothing; --keep-metadata, --bind-ref and detached metadata as ostree', needsOstree, (t) => {
  const dir = scratch(t);
  const [ours, theirs] = pair(dir, tree(join(dir, 'src')));
  const parent = ok(mcoIn(ours, 'rev-parse', 'main'), 'rev-parse').stdout.trim();
  assert.equal(ok(mcoIn(ours, 'commit', '-b', 'main', '--skip-if-unchanged', '--tree=ref=main'), 'skip').stdout.trim(), parent);
  assert.equal(ok(mcoIn(ours, 'rev-parse', 'main'), 'rev-parse').stdout.trim(), parent);
  both(ours, theirs, ['-b', 'main', '--timestamp=@0', '--tree=ref=main', '--add-metadata-string=FOO=BAR', '--add-metadata=N=uint64 42']);
  both(ours, theirs, ['-b', 'main', '--timestamp=@0', '--tree=ref=main', '--keep-metadata=N', '--bind-ref=zzz', '--bind-ref=aaa', '--add-detached-metadata-string=SIG=X']);
  for (const [repo, run] of [[ours, mcoIn], [theirs, ostreeIn]] as const) {
    assert.equal(ok(run(repo, 'show', '--print-detached-metadata-key=SIG', 'main'), 'show').stdout, "'X'\n");
    assert.equal(ok(run(repo, 'show', '-B', '--print-metadata-key=N', 'main'), 'show').stdout, 'uint64 42\n');
  }
});

test('commit --link-checkout-speedup keeps a bare-user hardlink checkout\'s stored ownership; --owner-uid wins unless -I', { skip: !isRoot && 'ownership of files as committed needs root' }, (t) => {
  const dir = scratch(t);
  const repo = join(dir, 'repo');
  ok(runMco(['ostree', 'init', `--repo=${repo}`, '--mode=bare-user']), 'init');
  noFsync(repo);
  ok(mcoIn(repo, 'commit', '-b', 'dbus', '--owner-uid=0', '--owner-gid=81', tree(join(dir, 'src'))), 'commit');
  ok(mcoIn(repo, 'checkout', '-U', '-H', 'dbus', join(dir, 'co')), 'checkout -U -H');
  const owner = (ref: string): string => ok(mcoIn(repo, 'ls', ref, '/top'), 'ls').stdout.split(/\s+/).slice(1, 3).join(':');
  ok(mcoIn(repo, 'commit', '-b', 'speedup', '--link-checkout-speedup', `--tree=dir=${join(dir, 'co')}`), 'commit');
  assert.equal(owner('speedup'), '0:81');
  ok(mcoIn(repo, 'commit', '-b', 'uid', '--link-checkout-speedup', '--owner-uid=5', `--tree=dir=${join(dir, 'co')}`), 'commit');
  assert.equal(owner('uid'), '5:81');
  const table = ok(mcoIn(repo, 'commit', '-b', 'devino', '-I', '--owner-uid=5', '--table-output', `--tree=dir=${join(dir, 'co')}`), 'commit -I').stdout;
  assert.equal(owner('devino'), '0:81');
  assert.match(table, /^Content Cache Hits: [1-9]\d*$/m);
});

test('commit --consume removes the tree; a bare-user-only repo adopts the file itself as the object', (t) => {
  const dir = scratch(t);
  const repo = join(dir, 'repo');
  ok(runMco(['ostree', 'init', `--repo=${repo}`, '--mode=bare-user-only']), 'init');
  noFsync(repo);
  const src = join(dir, 'src');
  fs.mkdirSync(src);
  fs.writeFileSync(join(src, 'eatme'), 'a file to consume\n');
  fs.linkSync(join(src, 'eatme'), join(dir, 'saved'));
  ok(mcoIn(repo, 'commit', '-b', 'main', '--consume', `--tree=dir=${src}`), 'commit --consume');
  assert.equal(fs.existsSync(src), false);
  const checksum = ok(mcoIn(repo, 'ls', '-C', 'main', '/eatme'), 'ls').stdout.trim().split(/\s+/).at(-2)!;
  const object = join(repo, 'objects', checksum.slice(0, 2), `${checksum.slice(2)}.file`);
  assert.equal(fs.statSync(object).ino, fs.statSync(join(dir, 'saved')).ino);
  ok(mcoIn(repo, 'fsck'), 'fsck');
});

test('commit --bootable records the one kernel of usr/lib/modules, and fails without one', (t) => {
  const dir = scratch(t);
  const repo = join(dir, 'repo');
  ok(runMco(['ostree', 'init', `--repo=${repo}`, '--mode=archive']), 'init');
  noFsync(repo);
  const src = tree(join(dir, 'src'));
  const none = mcoIn(repo, 'commit', '-b', 'main', '--bootable', src);
  assert.equal(none.status, 1);
  assert.match(none.stderr, /^error: .*No such file or directory/);
  fs.mkdirSync(join(src, 'usr/lib/modules/6.1.0'), { recursive: true });
  fs.writeFileSync(join(src, 'usr/lib/modules/6.1.0/vmlinuz'), 'kernel');
  ok(mcoIn(repo, 'commit', '-b', 'main', '--bootable', src), 'commit --bootable');
  assert.equal(ok(mcoIn(repo, 'show', '-B', '--print-metadata-key=ostree.linux', 'main'), 'show').stdout, "'6.1.0'\n");
  assert.equal(ok(mcoIn(repo, 'show', '--print-metadata-key=ostree.bootable', 'main'), 'show').stdout, 'true\n');
});

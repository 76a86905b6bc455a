/** `mco ostree diff`, `checksum`, `reset`, `config`, `remote show-url` and `rev-parse` forms, beside the real ostree where it runs. */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { assertCleanError, mcoIn, needsOstree, noFsync, ok, ostree, ostreeIn, runMco, scratch } from './testing.js';

function build(root: string): void {
  fs.mkdirSync(join(root, 'a/nested'), { recursive: true });
  fs.writeFileSync(join(root, 'a/5'), 'five\n');
  fs.writeFileSync(join(root, 'a/nested/2'), 'two\n');
  fs.writeFileSync(join(root, 'four'), '4\n');
  fs.symlinkSync('four', join(root, 'link'));
}

test('diff between commits, and between a commit and a directory (--owner-uid), prints what ostree prints', needsOstree, (t) => {
  const dir = scratch(t);
  const src = join(dir, 'src');
  build(src);
  const ours = join(dir, 'ours');
  const theirs = join(dir, 'theirs');
  ok(runMco(['ostree', 'init', `--repo=${ours}`, '--mode=archive']), 'init');
  ok(ostreeIn(theirs, 'init', '--mode=archive'), 'init');
  const commitBoth = (): void => {
    for (const [repo, run] of [[ours, mcoIn], [theirs, ostreeIn]] as const) ok(run(repo, 'commit', '-b', 'main', '--timestamp=@0', src), 'commit');
  };
  for (const r of [ours, theirs]) noFsync(r);
  commitBoth();
  fs.rmSync(join(src, 'a/5'));
  fs.mkdirSync(join(src, 'yet/another'), { recursive: true });
  fs.writeFileSync(join(src, 'yet/another/green'), 'leaf\n');
  fs.writeFileSync(join(src, 'four'), 'changed\n');
  commitBoth();
  const same = (args: string[], cwd?: string): string => {
    const a = ok(runMco(['ostree', 'diff', `--repo=${ours}`, ...args], cwd ? { cwd } : {}), 'mco diff').stdout;
    const b = ok(ostree(['diff', `--repo=${theirs}`, ...args], cwd ? { cwd } : {}), 'ostree diff').stdout;
    assert.equal(a, b, `diff ${args.join(' ')}`);
    return a;
  };
  assert.match(same(['main^', 'main']), /^M {4}\/four\nD {4}\/a\/5\nA {4}\/yet\n/);
  fs.writeFileSync(join(src, 'oh-look-a-file'), 'afile\n');
  assert.match(same(['main', './'], src), /^A {4}oh-look-a-file$/m);
  assert.match(same(['main', `--owner-uid=${(process.getuid?.() ?? 0) + 1}`, './'], src), /^M {4}\/yet\/another\/green$/m);
});

test('checksum of a file is the object checksum ostree gives it', needsOstree, (t) => {
  const dir = scratch(t);
  build(dir);
  for (const path of ['a/5', 'link', 'a']) {
    for (const flags of [[], ['--ignore-xattrs']]) {
      const args = ['checksum', ...flags, join(dir, path)];
      assert.equal(ok(runMco(['ostree', ...args]), 'mco checksum').stdout, ok(ostree(args), 'ostree checksum').stdout, path);
    }
  }
});

test('reset moves an existing ref only; config get/set/unset; remote show-url; rev-parse of a partial checksum and -S', (t) => {
  const dir = scratch(t);
  const repo = join(dir, 'repo');
  ok(runMco(['ostree', 'init', `--repo=${repo}`, '--mode=archive']), 'init');
  noFsync(repo);
  build(join(dir, 'src'));
  assertCleanError(mcoIn(repo, 'rev-parse', '-S'), 'no commits', ['No commit objects found']);
  const first = ok(mcoIn(repo, 'commit', '-b', 'main', join(dir, 'src')), 'commit').stdout.trim();
  assert.equal(ok(mcoIn(repo, 'rev-parse', '-S'), 'rev-parse -S').stdout.trim(), first);
  const second = ok(mcoIn(repo, 'commit', '-b', 'main', '-s', 'again', join(dir, 'src')), 'commit').stdout.trim();
  assertCleanError(mcoIn(repo, 'rev-parse', '-S'), 'two commits', ['Multiple commit objects found']);
  assert.equal(ok(mcoIn(repo, 'rev-parse', second.slice(0, 6)), 'partial').stdout.trim(), second);
  ok(mcoIn(repo, 'reset', 'main', 'main^'), 'reset');
  assert.equal(ok(mcoIn(repo, 'rev-parse', 'main'), 'rev-parse').stdout.trim(), first);
  assertCleanError(mcoIn(repo, 'reset', 'nosuchref', first), 'reset of a missing ref', ["Invalid ref 'nosuchref'"]);
  ok(mcoIn(repo, 'config', 'set', 'core.parent', '/elsewhere'), 'config set');
  assert.equal(ok(mcoIn(repo, 'config', 'get', 'core.parent'), 'config get').stdout, '/elsewhere\n');
  ok(mcoIn(repo, 'config', 'unset', 'core.parent'), 'config unset');
  assertCleanError(mcoIn(repo, 'config', 'get', 'core.parent'), 'unset key', ['Key file does not have key “parent” in group “core”']);
  assert.equal(ok(mcoIn(repo, 'config', 'get', 'core.mode'), 'config get').stdout, 'archive-z2\n');
  for (const extra of [['get', 'core.mode', 'x'], ['set', 'core.mode', 'bare', 'x'], ['unset', 'core.mode', 'x']]) {
    const r = mcoIn(repo, 'config', ...extra);
    assert.ok(r.status === 2 && r.stderr.includes('error: Too many arguments given'), `config ${extra.join(' ')}: ${r.status} ${r.stderr}`);
  }
  ok(runMco(['ostree', 'remote', `--repo=${repo}`, '--set=tls-permissive=true', 'add', 'aremote', 'http://remote.example.com/repo']), 'remote add');
  assert.equal(ok(runMco(['ostree', 'remote', 'show-url', `--repo=${repo}`, 'aremote']), 'show-url').stdout, 'http://remote.example.com/repo\n');
  assertCleanError(runMco(['ostree', 'remote', 'show-url', `--repo=${repo}`, 'nope']), 'show-url of no remote', ['Remote "nope" not found']);
});

/**
 * `mco ostree refs` and `rev-parse` against the real tool: the same steps on two copies of
 * one repo must succeed or fail alike, print alike, and leave the same refs and aliases.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { mcoIn, needsOstree, ok, ostreeIn, scratch } from '../../ostree/testing.js';

/** A step: refs or rev-parse arguments; `words` when our error must be the real tool's too. */
const STEPS: { args: string[]; words?: true }[] = [
  { args: ['refs', 'a', '--create=b'] },
  { args: ['refs', 'a', '--create=b'], words: true }, // exists
  { args: ['refs', 'a', '--create=foo'] }, // a folder of refs
  { args: ['refs', 'a', '--create=b', '--force'] },
  { args: ['refs', '--create=c'], words: true }, // no existing ref named
  { args: ['refs', 'a', '--create=-x'] },
  { args: ['refs', 'missing', '--create=c'] },
  { args: ['refs', 'origin:rem', '--create=origin/rem'] },
  { args: ['refs', '-A', 'b', '--create=deep/al'] },
  { args: ['refs', '-A'] },
  { args: ['refs', '--delete', 'b'], words: true }, // an alias follows it
  { args: ['refs', '-A', 'a', '--create=deep/al'] }, // re-pointed without --force
  { args: ['refs', '-A', 'a', '--create=origin:x'] },
  { args: ['refs', '-A', '--create=y', 'missing'] },
  { args: ['refs', 'origin:'] },
  { args: ['refs', 'origin:.'] },
  { args: ['refs', '--delete'], words: true },
  { args: ['refs', '--delete', 'foo'] },
  { args: ['refs', 'a', '--create=foo'] }, // the emptied folder's name is free again
  { args: ['rev-parse', 'rem'] }, // only the remote has it
  { args: ['rev-parse', 'deep/al'] },
  { args: ['refs'] },
  { args: ['refs', '-A'] },
];

test('refs --create, --force and -A aliases, and rev-parse of remote refs, behave as the real tool\'s', needsOstree, (t) => {
  const dir = scratch(t, 'mco-refs-');
  const tree = join(dir, 'tree');
  fs.mkdirSync(tree);
  fs.writeFileSync(join(tree, 'f'), 'f\n');
  const real = join(dir, 'real');
  ok(ostreeIn(real, 'init', '--mode=archive'), 'ostree init');
  for (const branch of ['a', 'foo/bar', 'origin:rem']) {
    fs.appendFileSync(join(tree, 'f'), `${branch}\n`);
    // Fixed times: the same checksums on every run (short names like `b` can be short checksums too).
    ok(ostreeIn(real, 'commit', '-b', branch, '--timestamp=@1700000000', tree), `ostree commit -b ${branch}`);
  }
  fs.writeFileSync(join(real, 'refs', 'heads', '.hidden'), 'not a ref\n'); // ostree skips dot files
  const ours = join(dir, 'ours');
  fs.cpSync(real, ours, { recursive: true });
  for (const { args, words } of STEPS) {
    const [verb, ...rest] = args as [string, ...string[]];
    const want = ostreeIn(real, verb, ...rest);
    const got = mcoIn(ours, verb, ...rest);
    const what = args.join(' ');
    assert.equal(got.status === 0, want.status === 0, `${what}: ours exited ${got.status}, the real one ${want.status}\n${got.stderr}`);
    // The real tool lists in hash-table order; we sort.
    const lines = (text: string): string[] => text.split('\n').sort();
    assert.deepEqual(lines(got.stdout), lines(want.stdout), what);
    if (words) assert.equal(got.stderr, want.stderr, what);
  }
  // The new name is looked up as any rev is, as ostree does: a commit's short checksum is taken.
  const prefix = ok(ostreeIn(real, 'rev-parse', 'a'), 'rev-parse').stdout.slice(0, 4);
  const want = ostreeIn(real, 'refs', 'a', `--create=${prefix}`);
  const got = mcoIn(ours, 'refs', 'a', `--create=${prefix}`);
  assert.equal(want.status, 1, want.stderr);
  assert.equal(got.status, 1, got.stderr);
  assert.equal(got.stderr, want.stderr);
});

import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { test } from 'node:test';
import { assertCleanError, mcoIn, noFsync, ok, runMco, scratch } from '../../ostree/testing.js';

test('pull from a file:// remote copies its branches under refs/remotes, verifying every object', (t) => {
  const dir = scratch(t);
  const src = join(dir, 'src');
  const dst = join(dir, 'dst');
  for (const [repo, mode] of [[src, 'archive'], [dst, 'bare-user']] as const) {
    ok(runMco(['ostree', 'init', `--repo=${repo}`, `--mode=${mode}`]), 'init');
    noFsync(repo);
  }
  fs.mkdirSync(join(dir, 'tree'));
  fs.writeFileSync(join(dir, 'tree/cow'), 'moo\n');
  const commit = ok(mcoIn(src, 'commit', '-b', 'test2', join(dir, 'tree')), 'commit').stdout.trim();
  ok(runMco(['ostree', 'remote', `--repo=${dst}`, 'add', '--set=gpg-verify=false', 'aremote', pathToFileURL(src).href, 'test2']), 'remote add');
  ok(mcoIn(dst, 'pull', 'aremote'), 'pull');
  assert.equal(ok(mcoIn(dst, 'rev-parse', 'aremote/test2'), 'rev-parse').stdout.trim(), commit);
  ok(mcoIn(dst, 'fsck'), 'fsck');
  // An object whose content is not its checksum's (another object's bytes) is refused, not stored.
  fs.writeFileSync(join(dir, 'tree/other'), 'not moo\n');
  ok(mcoIn(src, 'commit', '-b', 'other', `--tree=dir=${join(dir, 'tree')}`, '--skip-list', skipList(dir)), 'commit');
  const objects = join(src, 'objects');
  const files = fs.readdirSync(objects).flatMap((d) => fs.readdirSync(join(objects, d)).map((n) => join(objects, d, n))).filter((p) => p.endsWith('.filez'));
  const cow = ok(mcoIn(src, 'ls', '-C', 'test2', '/cow'), 'ls').stdout.trim().split(/\s+/).at(-2)!;
  const cowObject = join(objects, cow.slice(0, 2), `${cow.slice(2)}.filez`);
  fs.copyFileSync(files.find((f) => f !== cowObject)!, cowObject);
  const fresh = join(dir, 'fresh');
  ok(runMco(['ostree', 'init', `--repo=${fresh}`, '--mode=archive']), 'init');
  ok(runMco(['ostree', 'remote', `--repo=${fresh}`, 'add', '--set=gpg-verify=false', 'aremote', pathToFileURL(src).href, 'test2']), 'remote add');
  assertCleanError(mcoIn(fresh, 'pull', 'aremote'), 'pull of a corrupted object', [/[Cc]orrupted/]);
});

function skipList(dir: string): string {
  fs.writeFileSync(join(dir, 'skip.txt'), '/cow\n');
  return join(dir, 'skip.txt');
}

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { reclaimDeadPartials, releasePartial, takePartial } from './pull-partial.js';
import { scratch } from './testing.js';

const CSUM = 'ab'.repeat(32);

test('a resting partial download is taken by exactly one of the pulls asking for it, and put back to rest', (t) => {
  const tmp = scratch(t, 'mco-partial-');
  const resting = join(tmp, `pull-${CSUM}.file.partial`);
  fs.writeFileSync(resting, 'kept');
  const first = takePartial(resting);
  const second = takePartial(resting);
  assert.deepEqual([first.taken, second.taken], [true, false]);
  assert.notEqual(first.path, second.path);
  assert.equal(fs.readFileSync(first.path, 'utf8'), 'kept');
  assert.ok(!fs.existsSync(resting) && !fs.existsSync(second.path));
  releasePartial(first.path, resting);
  assert.deepEqual(fs.readdirSync(tmp), [`pull-${CSUM}.file.partial`]);
  releasePartial(second.path, resting); // nothing written: nothing to put back
  assert.equal(fs.readFileSync(resting, 'utf8'), 'kept');
});

test('the own files of pulls whose processes are gone are put back to rest; those of live ones are left', (t) => {
  const tmp = scratch(t, 'mco-partial-');
  const gone = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }).stdout;
  const live = [`pull-${CSUM}.dirtree.${process.pid}-0-7.partial`, `pull-${CSUM}.commit.1-0-0.partial`]; // this process, and init
  for (const n of [...live, `pull-${CSUM}.file.${gone}-0-3.partial`, 'pull-1234-abcdef', 'obj-1']) fs.writeFileSync(join(tmp, n), n);
  assert.equal(reclaimDeadPartials(tmp), 1);
  assert.deepEqual(fs.readdirSync(tmp).sort(), [...live, 'obj-1', 'pull-1234-abcdef', `pull-${CSUM}.file.partial`].sort());
  assert.equal(fs.readFileSync(join(tmp, `pull-${CSUM}.file.partial`), 'utf8'), `pull-${CSUM}.file.${gone}-0-3.partial`);
});

import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { assertCleanError, ok, runMco, scratch } from '../../ostree/testing.js';

const digest = (n: number): string => `sha256:${String(n).padStart(64, '0')}`;

/** A cache directory as `mco os-content serve` leaves it: a repo and its record per image. */
function cacheWith(dir: string, images: number[]): void {
  for (const n of images) {
    fs.mkdirSync(join(dir, 'images', digest(n), 'objects'), { recursive: true });
    const record = { image: `r.example/os@${digest(n)}`, digest: digest(n), commit: 'c'.repeat(64), extractedAt: '2026-01-01T00:00:00.000Z' };
    fs.writeFileSync(join(dir, 'images', `${digest(n)}.json`), JSON.stringify(record));
  }
}

test('mco os-content prune removes the cached images no --keep names, and refuses a --keep it cannot match', (t) => {
  const dir = scratch(t);
  cacheWith(dir, [1, 2]);
  assertCleanError(runMco(['os-content', 'prune', '--cache-dir', dir, '--keep', 'r.example/os:latest']), 'prune with a tag', [/names no digest/]);
  assert.equal(fs.readdirSync(join(dir, 'images')).length, 4, 'a refused prune removes nothing');
  const r = ok(runMco(['os-content', 'prune', '--cache-dir', dir, '--keep', `r.example/os@${digest(2)}`]), 'prune');
  assert.equal(r.stdout, `Removed r.example/os@${digest(1)} (commit ${'c'.repeat(64)})\n`);
  assert.deepEqual(fs.readdirSync(join(dir, 'images')).sort(), [digest(2), `${digest(2)}.json`]);
  assert.equal(ok(runMco(['os-content', 'prune', '--cache-dir', dir, '--keep', `r.example/os@${digest(2)}`]), 'prune again').stdout, 'Nothing to prune\n');
});

test('mco os-content serve refuses a missing flag or a bad address, naming it', (t) => {
  const usage = runMco(['os-content', 'serve', '--listen', '127.0.0.1:0']);
  assert.equal(usage.status, 2, 'a usage error');
  assert.match(usage.stderr, /^error: --cache-dir must name the directory the images are kept in\n/);
  const dir = scratch(t);
  assertCleanError(runMco(['os-content', 'serve', '--listen', 'nowhere', '--cache-dir', join(dir, 'cache')]), 'bad listen', [/Invalid listen address "nowhere"/]);
  const tagged = runMco(['os-content', 'serve', '--listen', '127.0.0.1:0', '--cache-dir', join(dir, 'cache'), '--allow-repository', 'quay.io/ocp/os:4.6']);
  assert.equal(tagged.status, 2, 'a usage error');
  assert.match(tagged.stderr, /^error: --allow-repository quay\.io\/ocp\/os:4\.6: name a repository, without a tag or digest\n/);
});

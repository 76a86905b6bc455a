import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createKlog, klogLine } from './klog.js';

test('klogLine() prints the header the seed shows for the operator refusal', () => {
  const line = klogLine(
    { severity: 'E', time: new Date('2021-01-22T10:30:34.398Z'), micros: 398824, pid: 1, source: 'operator.go:314' },
    'refusing to read osImageURL version "4.6.13", operator version "4.6.8"',
  );
  assert.equal(line, 'E0122 10:30:34.398824       1 operator.go:314] refusing to read osImageURL version "4.6.13", operator version "4.6.8"');
});

test('createKlog() stamps each line with the injected clock and pid', () => {
  const lines: string[] = [];
  const log = createKlog({ now: () => new Date('2026-12-04T09:05:01.250Z'), pid: 4242, write: (l) => lines.push(l) });
  log.info('update.ts:10', 'Starting update');
  log.warning('daemon.ts:3', 'retrying');
  assert.deepEqual(lines, ['I1204 09:05:01.250000    4242 update.ts:10] Starting update', 'W1204 09:05:01.250000    4242 daemon.ts:3] retrying']);
});

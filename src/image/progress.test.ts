import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createProgress, formatBytes, formatDuration, renderBar } from './progress.js';

test('formatBytes() and formatDuration() read as a person would', () => {
  assert.deepEqual([formatBytes(0), formatBytes(1023), formatBytes(1536), formatBytes(5 * 2 ** 30)], ['0 B', '1023 B', '1.5 KiB', '5.0 GiB']);
  assert.deepEqual([formatDuration(1234), formatDuration(42_000), formatDuration(125_000), formatDuration(7_500_000)], ['1.2s', '42s', '2m05s', '2h05m']);
});

test('renderBar() shows bytes, rate and ETA, fitted to the terminal', () => {
  const line = renderBar({ label: 'Copying blob sha256:0576762c20fd', total: 40 * 2 ** 20, done: 10 * 2 ** 20, started: 0 }, 2000, 120);
  assert.match(line, /^Copying blob sha256:0576762c20fd \[=+> +\] 10\.0 MiB \/ 40\.0 MiB {2}5\.0 MiB\/s {2}ETA 6\.0s$/);
  assert.ok(line.length < 120);
  assert.ok(renderBar({ label: 'x', total: 10, done: 0, started: 0 }, 0, 80).endsWith('ETA --'));
});

test('not on a terminal: one plain line per blob when it ends', () => {
  const written: string[] = [];
  let now = 0;
  const p = createProgress({ write: (s) => written.push(s) }, { now: () => now });
  const a = p.begin('Copying blob sha256:aaaaaaaaaaaa', 3 * 2 ** 20);
  a.advance(2 ** 20);
  a.advance(2 * 2 ** 20);
  assert.deepEqual(written, [], 'nothing while transferring');
  now = 1500;
  a.end();
  p.begin('Copying blob sha256:bbbbbbbbbbbb', 10).end('already exists');
  assert.deepEqual(written, ['Copying blob sha256:aaaaaaaaaaaa 3.0 MiB in 1.5s (2.0 MiB/s)\n', 'Copying blob sha256:bbbbbbbbbbbb already exists\n']);
});

test('on a terminal: bars redrawn in place at most every 100 ms, finished lines kept above', () => {
  const written: string[] = [];
  let now = 0;
  const p = createProgress({ write: (s) => written.push(s), isTTY: true, columns: 100 }, { now: () => now });
  const a = p.begin('blob A', 1000);
  assert.equal(written.length, 1);
  now = 50;
  a.advance(100);
  assert.equal(written.length, 1, 'throttled');
  now = 200;
  a.advance(100);
  assert.equal(written.length, 2);
  assert.match(written[1]!, /^\x1b\[1A\r\x1b\[2Kblob A \[.*\] 200 B \/ 1000 B/);
  now = 400;
  a.end();
  assert.match(written[2]!, /^\x1b\[1A\r\x1b\[2Kblob A 200 B in 0\.4s \(500 B\/s\)\n\x1b\[J$/);
});

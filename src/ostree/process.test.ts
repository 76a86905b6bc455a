import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { isAlive, settleWritebacks, startWriteback } from './process.js';

const processModule = new URL('./process.js', import.meta.url).href;

test('isAlive: this process is, a PID past the kernel limit is not', () => {
  assert.equal(isAlive(process.pid), true);
  assert.equal(isAlive(2 ** 22 + 1), false);
});

test('startWriteback: a machine without sync(1) costs the head start, not the process', () => {
  // The writeback runs after the caller moved on: a spawn failure must not end the process.
  const script = `import(${JSON.stringify(processModule)}).then((m) => { m.startWriteback('/'); setTimeout(() => console.log('still running'), 200); });`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', env: { ...process.env, PATH: '/nonexistent' } });
  assert.equal(r.stderr, '');
  assert.equal(r.status, 0);
  assert.equal(r.stdout.trim(), 'still running');
});

test('startWriteback: a slow flush does not keep the process from exiting', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mco-writeback-'));
  try {
    const bin = join(dir, 'bin');
    mkdirSync(bin);
    writeFileSync(join(bin, 'sync'), '#!/bin/sh\nexec sleep 30\n', { mode: 0o755 });
    const script = `import(${JSON.stringify(processModule)}).then((m) => m.startWriteback('/'));`;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 10_000, env: { ...process.env, PATH: `${bin}:${process.env['PATH']}` } });
    assert.equal(r.error, undefined);
    assert.equal(r.status, 0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('settleWritebacks: waits for the flushes started, and names those that failed', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mco-writeback-'));
  const path = process.env['PATH'];
  try {
    const bin = join(dir, 'bin');
    mkdirSync(bin);
    writeFileSync(join(bin, 'sync'), '#!/bin/sh\ncase "$2" in *bad*) exit 1;; esac\n', { mode: 0o755 });
    process.env['PATH'] = `${bin}:${path}`;
    startWriteback(join(dir, 'good'));
    startWriteback(join(dir, 'bad'));
    await assert.rejects(settleWritebacks(), new RegExp(`^Error: Writing ${join(dir, 'bad')} to disk failed`));
    // Settled once: the next deploy does not answer for them again.
    await settleWritebacks();
  } finally {
    process.env['PATH'] = path;
    rmSync(dir, { recursive: true, force: true });
  }
});

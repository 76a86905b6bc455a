import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { scratch } from '../ostree/testing.js';
import { lockSysroot, SysrootLockedError } from './lock.js';

function sysroot(dir: string): string {
  mkdirSync(join(dir, 'ostree'), { recursive: true });
  return dir;
}

test('lockSysroot() refuses a second operation while the first holds the lock', (t) => {
  const root = sysroot(scratch(t));
  const first = lockSysroot(root, 'deploy');
  assert.throws(() => lockSysroot(root, 'rollback'), (e: Error) => e instanceof SysrootLockedError && /Another operation is running.*deploy \(pid \d+\)/.test(e.message));
  first.release();
  lockSysroot(root, 'rollback').release();
});

test('lockSysroot() takes over the lock of a process that was killed', async (t) => {
  const root = sysroot(scratch(t));
  const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)']);
  await new Promise((resolve) => child.once('spawn', resolve));
  writeFileSync(join(root, 'ostree', 'mco.lock'), `${child.pid} deploy\n`);
  assert.throws(() => lockSysroot(root, 'kargs'), SysrootLockedError, 'a live holder keeps the lock');
  child.kill('SIGKILL');
  await new Promise((resolve) => child.once('exit', resolve));
  const lock = lockSysroot(root, 'kargs');
  lock.release();
});

test('lockSysroot() lets only one of two takers replace a dead holder\'s lock', (t) => {
  const root = sysroot(scratch(t));
  const lockFile = join(root, 'ostree', 'mco.lock');
  writeFileSync(lockFile, '999999999 deploy\n'); // a pid no process has
  // Another taker is mid-way through breaking the same stale lock, and alive: we back off.
  writeFileSync(`${lockFile}.break`, `${process.pid} breaking a stale lock\n`);
  assert.throws(() => lockSysroot(root, 'kargs'), /Another operation is taking over the stale lock/);
  rmSync(`${lockFile}.break`);
  const lock = lockSysroot(root, 'kargs');
  assert.match(readFileSync(lockFile, 'utf8'), new RegExp(`^${process.pid} kargs`));
  lock.release();
});

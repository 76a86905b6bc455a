import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { isAlive } from './process.js';

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

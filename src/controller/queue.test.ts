import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createKlog } from '../api/klog.js';
import { WorkQueue } from './queue.js';

const log = createKlog({ now: () => new Date(0), pid: 1, write: () => {} });
const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

test('WorkQueue: a key queued many times syncs once; re-queued while syncing, it syncs again after; never twice at once', async () => {
  const synced: string[] = [];
  let running = 0;
  let maxRunning = 0;
  let release: () => void = () => {};
  const q = new WorkQueue(
    async (key) => {
      running++;
      maxRunning = Math.max(maxRunning, running);
      synced.push(key);
      if (key === 'a' && synced.filter((k) => k === 'a').length === 1) await new Promise<void>((r) => (release = r));
      running--;
    },
    { name: 't', log, workers: 2 },
  );
  q.add('a');
  q.add('a');
  q.start();
  await tick();
  q.add('a');
  q.add('b');
  await tick();
  assert.deepEqual(synced, ['a', 'b']);
  release();
  for (let i = 0; i < 5; i++) await tick();
  assert.deepEqual(synced, ['a', 'b', 'a']);
  assert.equal(maxRunning, 2, 'two keys at once, one of each');
  await q.stop();
});

test('WorkQueue: a failing sync is retried with backoff until it succeeds', async () => {
  let calls = 0;
  const done = new Promise<void>((resolve) => {
    const q = new WorkQueue(
      async () => {
        if (++calls < 3) throw new Error('conflict');
        resolve();
        void q.stop();
      },
      { name: 't', log, baseBackoffMs: 1 },
    );
    q.start();
    q.add('k');
  });
  await done;
  assert.equal(calls, 3);
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { plannedKargs } from './kernel-args.js';

test('plannedKargs(): the old config\'s arguments out, the new one\'s in, and again gives the same (a restarted daemon redoes it)', () => {
  const base = ['root=LABEL=root', 'rw', 'nosmt'];
  const once = plannedKargs(base, ['nosmt'], ['quiet', 'foo=1']);
  assert.deepEqual(once, ['root=LABEL=root', 'rw', 'quiet', 'foo=1']);
  assert.deepEqual(plannedKargs(once, ['nosmt'], ['quiet', 'foo=1']), once);
  assert.deepEqual(plannedKargs(base, [], []), base);
});

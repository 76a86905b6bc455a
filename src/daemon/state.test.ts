import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { MachineConfigDaemonState } from '../api/node.js';
import { ConfigError, isTransient, UnreconcilableError } from './errors.js';
import { stateForError, syncAction, truncateReason, type SyncAction } from './state.js';

test('truncateReason() keeps the first 2000 characters, counting characters, not UTF-16 units', () => {
  assert.equal(truncateReason('x'.repeat(2000)), 'x'.repeat(2000));
  assert.equal(truncateReason('x'.repeat(2500)).length, 2000);
  const emoji = '😀'.repeat(2001);
  assert.equal([...truncateReason(emoji)].length, 2000);
});

test('stateForError(): Unreconcilable for a refused change (also wrapped), Degraded for anything else', () => {
  assert.deepEqual(stateForError(new UnreconcilableError('no')), { state: 'Unreconcilable', reason: 'no' });
  assert.deepEqual(stateForError(new Error('outer', { cause: new UnreconcilableError('no') })), { state: 'Unreconcilable', reason: 'outer' });
  assert.deepEqual(stateForError(new ConfigError('bad path')), { state: 'Degraded', reason: 'bad path' });
});

test('isTransient(): connection failures, 5xx and 429 are; 4xx, digest mismatches and bad configs are not', () => {
  const withStatus = (status: number): Error => Object.assign(new Error('x'), { status });
  const withCode = (code: string): Error => Object.assign(new Error('x'), { code });
  assert.equal(isTransient(withStatus(503)), true);
  assert.equal(isTransient(withStatus(429)), true);
  assert.equal(isTransient(withStatus(404)), false);
  assert.equal(isTransient(new Error('wrapped', { cause: withCode('ECONNREFUSED') })), true);
  assert.equal(isTransient(new Error('cannot reach registry 127.0.0.1:5000: ECONNREFUSED')), true);
  assert.equal(isTransient(withCode('DIGEST_MISMATCH')), false);
  assert.equal(isTransient(new ConfigError('x', { cause: withCode('ECONNREFUSED') })), false);
});

describe('syncAction()', () => {
  const cases: [string, { current?: string; desired?: string; state?: MachineConfigDaemonState; disk?: string }, SyncAction][] = [
    ['no desiredConfig yet: wait', { current: 'a' }, { kind: 'wait', why: 'the node has no desiredConfig annotation yet' }],
    ['at the desired config and Done: nothing', { current: 'a', desired: 'a', state: 'Done', disk: 'a' }, { kind: 'none' }],
    ['a new desiredConfig: update', { current: 'a', desired: 'b', state: 'Done', disk: 'a' }, { kind: 'update', from: 'a', to: 'b' }],
    ['a failing node retries its update', { current: 'a', desired: 'b', state: 'Degraded', disk: 'a' }, { kind: 'update', from: 'a', to: 'b' }],
    ['Degraded at the desired config (drift, or desiredConfig reverted after a failure): validate again', { current: 'a', desired: 'a', state: 'Degraded', disk: 'a' }, { kind: 'validate', config: 'a' }],
    ['Unreconcilable, desiredConfig reverted: validate again', { current: 'a', desired: 'a', state: 'Unreconcilable' }, { kind: 'validate', config: 'a' }],
    ['the on-disk config differs from the annotation: update from what is on disk', { current: 'a', desired: 'a', state: 'Done', disk: 'z' }, { kind: 'update', from: 'z', to: 'a' }],
  ];
  for (const [what, i, want] of cases) {
    test(what, () => assert.deepEqual(syncAction({ currentConfig: i.current, desiredConfig: i.desired, state: i.state ?? 'Done', onDiskConfig: i.disk }), want));
  }
});

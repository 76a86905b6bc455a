import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { MachineConfig } from '../api/machineconfig.js';
import { planPrune } from './prune.js';
import { doneAt, mc, node, pool } from './testing.js';

const rendered = (name: string, poolName: string, created: string): MachineConfig => ({
  ...mc(name, {}, null),
  metadata: { name, creationTimestamp: created, ownerReferences: [{ apiVersion: 'machineconfiguration.openshift.io/v1', kind: 'MachineConfigPool', name: poolName, uid: 'u', controller: true }] },
});

const configs = [
  rendered('rendered-worker-old1', 'worker', '2026-01-01T00:00:00Z'),
  rendered('rendered-worker-old2', 'worker', '2026-01-02T00:00:00Z'),
  rendered('rendered-worker-stale-desired', 'worker', '2026-01-03T00:00:00Z'),
  rendered('rendered-worker-status', 'worker', '2026-01-04T00:00:00Z'),
  rendered('rendered-worker-target', 'worker', '2026-01-05T00:00:00Z'),
  rendered('rendered-master-old', 'master', '2026-01-01T00:00:00Z'),
  mc('00-worker'),
];
const worker = pool('worker', { target: 'rendered-worker-target' });
worker.status = { configuration: { name: 'rendered-worker-status' } };
const nodes = [doneAt('n0', 'rendered-worker-status'), node('n1', { current: 'rendered-worker-status', desired: 'rendered-worker-stale-desired', state: 'Degraded' })];

test('planPrune() never picks a rendered config a pool targets or reports, or a node names as current or desired', () => {
  const plan = planPrune(configs, [worker, pool('master')], nodes);
  assert.deepEqual(plan.prune, ['rendered-master-old', 'rendered-worker-old1', 'rendered-worker-old2']);
  assert.deepEqual(plan.inUse.map((u) => u.name), ['rendered-worker-stale-desired', 'rendered-worker-status', 'rendered-worker-target']);
  assert.deepEqual(plan.inUse[0]!.by, ['Node n1 desiredConfig']);
});

test('planPrune() with a pool and a count: the oldest unused of that pool only; fragments are never candidates', () => {
  assert.deepEqual(planPrune(configs, [worker], nodes, { pool: 'worker', count: 1 }).prune, ['rendered-worker-old1']);
  assert.deepEqual(planPrune([mc('00-worker')], [worker], nodes).prune, []);
});

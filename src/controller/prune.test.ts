import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { MachineConfig } from '../api/machineconfig.js';
import { osImagesInUse, planPrune, type OsContentKeep } from './prune.js';
import type { MachineConfigPool } from '../api/machineconfigpool.js';
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

const image = (n: number): string => `registry.example/ocp/machine-os-content@sha256:${String(n).repeat(64)}`;
const renderedWith = (name: string, poolName: string, osImageURL: string): MachineConfig => ({ ...rendered(name, poolName, '2026-01-01T00:00:00Z'), spec: { osImageURL } });
/** A pool at `at`, with `updated` of `machines` nodes on it (status.configuration moves once all are). */
const poolAt = (name: string, target: string, status: string, machines = 2, updated = machines): MachineConfigPool => ({
  ...pool(name, { target }),
  status: { configuration: { name: status }, machineCount: machines, updatedMachineCount: updated },
});

test('osImagesInUse(): the OS images the content cache keeps, or why nothing is decided yet', async (t) => {
  const cases: { name: string; configs: MachineConfig[]; pools: MachineConfigPool[]; nodes?: ReturnType<typeof node>[]; cc?: string; want: OsContentKeep }[] = [
    {
      name: 'after a rollout: the image of the rendered config every pool is on, and the ControllerConfig\'s',
      configs: [renderedWith('rendered-worker-a', 'worker', image(1)), renderedWith('rendered-worker-b', 'worker', image(2))],
      pools: [poolAt('worker', 'rendered-worker-b', 'rendered-worker-b')],
      nodes: [doneAt('w0', 'rendered-worker-b')],
      cc: image(2),
      want: { keep: [image(2)] },
    },
    {
      name: 'a node still naming an old config as current keeps that config\'s image',
      configs: [renderedWith('rendered-worker-a', 'worker', image(1)), renderedWith('rendered-worker-b', 'worker', image(2))],
      pools: [poolAt('worker', 'rendered-worker-b', 'rendered-worker-b')],
      nodes: [node('w0', { current: 'rendered-worker-a', desired: 'rendered-worker-b', state: 'Degraded' })],
      cc: image(2),
      want: { keep: [image(1), image(2)] },
    },
    {
      name: 'a new osImageURL not yet rendered is kept from the ControllerConfig; pools on different configs keep both',
      configs: [renderedWith('rendered-worker-a', 'worker', image(1)), renderedWith('rendered-master-a', 'master', image(2))],
      pools: [poolAt('worker', 'rendered-worker-a', 'rendered-worker-a'), poolAt('master', 'rendered-master-a', 'rendered-master-a', 1)],
      cc: image(3),
      want: { keep: [image(1), image(2), image(3)] },
    },
    {
      name: 'a pool whose target is not its status yet: wait',
      configs: [renderedWith('rendered-worker-a', 'worker', image(1)), renderedWith('rendered-worker-b', 'worker', image(2))],
      pools: [poolAt('worker', 'rendered-worker-b', 'rendered-worker-a')],
      cc: image(2),
      want: { wait: 'MachineConfigPool worker is updating' },
    },
    {
      name: 'a pool with a node not updated yet: wait',
      configs: [renderedWith('rendered-worker-b', 'worker', image(2))],
      pools: [poolAt('worker', 'rendered-worker-b', 'rendered-worker-b', 3, 2)],
      cc: image(2),
      want: { wait: 'MachineConfigPool worker is updating' },
    },
  ];
  for (const c of cases) {
    await t.test(c.name, () => assert.deepEqual(osImagesInUse(c.configs, c.pools, c.nodes ?? [], c.cc), c.want));
  }
});

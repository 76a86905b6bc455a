import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { MachineConfigPoolStatus } from '../api/machineconfigpool.js';
import { maxUnavailable, poolNodes, poolStatus, selectCandidates, setCondition, type NodeLike } from './rollout.js';
import { doneAt, node, pool } from './testing.js';

const names = (ns: NodeLike[]): string[] => ns.map((n) => n.metadata!.name!);

const R1 = 'rendered-worker-1';
const R2 = 'rendered-worker-2';

const candidateCases: { name: string; maxUnavailable?: number | string; paused?: boolean; nodes: NodeLike[]; expected: string[]; capacity: number }[] = [
  { name: 'all done at the old config, default maxUnavailable 1: the first node by name', nodes: [doneAt('n2', R1), doneAt('n0', R1), doneAt('n1', R1)], expected: ['n0'], capacity: 1 },
  { name: 'one node working toward the target uses the only slot', nodes: [node('n0', { current: R1, desired: R2, state: 'Working' }), doneAt('n1', R1)], expected: [], capacity: 0 },
  { name: 'maxUnavailable 2 with one node updating: one more', maxUnavailable: 2, nodes: [node('n0', { current: R1, desired: R2, state: 'Working' }), doneAt('n1', R1), doneAt('n2', R1)], expected: ['n1'], capacity: 1 },
  { name: 'nodes already at the target are not candidates', maxUnavailable: 3, nodes: [doneAt('n0', R2), doneAt('n1', R1)], expected: ['n1'], capacity: 3 },
  { name: '50% of 5 rounds down to 2', maxUnavailable: '50%', nodes: ['a', 'b', 'c', 'd', 'e'].map((n) => doneAt(n, R1)), expected: ['a', 'b'], capacity: 2 },
  { name: '10% of 5 is 0, which means 1', maxUnavailable: '10%', nodes: ['a', 'b', 'c'].map((n) => doneAt(n, R1)), expected: ['a'], capacity: 1 },
  { name: 'maxUnavailable 0 means 1', maxUnavailable: 0, nodes: ['a', 'b'].map((n) => doneAt(n, R1)), expected: ['a'], capacity: 1 },
  { name: '100% targets every node', maxUnavailable: '100%', nodes: ['a', 'b', 'c'].map((n) => doneAt(n, R1)), expected: ['a', 'b', 'c'], capacity: 3 },
  {
    name: 'a node degraded on the target consumes capacity (it is not unavailable, but failing on this config)',
    maxUnavailable: 2,
    nodes: [node('n0', { current: R1, desired: R2, state: 'Degraded', reason: 'boom' }), doneAt('n1', R1), doneAt('n2', R1)],
    expected: ['n1'],
    capacity: 1,
  },
  {
    name: 'a degraded node on the target halts a maxUnavailable 1 rollout',
    nodes: [node('n0', { current: R1, desired: R2, state: 'Degraded', reason: 'boom' }), doneAt('n1', R1)],
    expected: [],
    capacity: 0,
  },
  {
    name: 'a node degraded toward an older config is a candidate again (a revert retargets it)',
    nodes: [node('n0', { current: R1, desired: 'rendered-worker-bad', state: 'Degraded', reason: 'boom' }), doneAt('n1', R1)],
    expected: ['n0'],
    capacity: 1,
  },
  { name: 'a not-ready node is unavailable and uses the slot', nodes: [doneAt('n0', R1, { ready: false }), doneAt('n1', R1)], expected: [], capacity: 0 },
  { name: 'a cordoned node is unavailable', maxUnavailable: 2, nodes: [doneAt('n0', R1, { unschedulable: true }), doneAt('n1', R1), doneAt('n2', R1)], expected: ['n0'], capacity: 1 },
  { name: 'a node that never reported counts as unavailable', maxUnavailable: 2, nodes: [node('n0'), doneAt('n1', R1), doneAt('n2', R1)], expected: ['n0'], capacity: 1 },
  { name: 'a paused pool targets nobody', paused: true, nodes: [doneAt('n0', R1)], expected: [], capacity: 0 },
];

for (const c of candidateCases) {
  test(`selectCandidates(): ${c.name}`, () => {
    const p = pool('worker', { target: R2, paused: c.paused ?? false, ...(c.maxUnavailable !== undefined ? { maxUnavailable: c.maxUnavailable } : {}) });
    const { nodes } = poolNodes(p, [p], c.nodes);
    const got = selectCandidates(p, nodes);
    assert.deepEqual(names(got.nodes), c.expected);
    assert.equal(got.capacity, c.capacity);
  });
}

test('selectCandidates() takes nodes by zone label, then name; nodes without a zone last', () => {
  const p = pool('worker', { target: R2, maxUnavailable: '100%' });
  const ns = [doneAt('a', R1), doneAt('b', R1, { zone: 'us-east-1b' }), doneAt('c', R1, { zone: 'us-east-1a' }), doneAt('d', R1, { zone: 'us-east-1a' })];
  assert.deepEqual(names(selectCandidates(p, poolNodes(p, [p], ns).nodes).nodes), ['c', 'd', 'b', 'a']);
});

test('maxUnavailable() refuses a value that is neither a count nor a percentage, naming the pool and field', () => {
  assert.throws(() => maxUnavailable(pool('worker', { maxUnavailable: 'half' }), 4), /^MaxUnavailableError: MachineConfigPool worker: spec\.maxUnavailable: invalid value for IntOrString: invalid value "half"/);
  assert.equal(maxUnavailable(pool('worker', { maxUnavailable: '75%' }), 3), 2);
});

test('poolNodes(): a custom pool takes its nodes from worker; a node in two custom pools is reported, in neither', () => {
  const worker = pool('worker');
  const infra = pool('infra');
  const gpu = pool('gpu');
  const pools = [worker, infra, gpu];
  const ns = [node('w0'), node('i0', { labels: { 'node-role.kubernetes.io/infra': '' } }), node('x0', { labels: { 'node-role.kubernetes.io/infra': '', 'node-role.kubernetes.io/gpu': '' } })];
  assert.deepEqual(names(poolNodes(worker, pools, ns).nodes), ['w0']);
  assert.deepEqual(names(poolNodes(infra, pools, ns).nodes), ['i0']);
  const gpuMembers = poolNodes(gpu, pools, ns);
  assert.deepEqual(names(gpuMembers.nodes), []);
  assert.deepEqual(gpuMembers.errors, ['node x0 belongs to 2 custom roles (gpu, infra), cannot proceed with this Node']);
});

test('poolNodes(): a node moved from worker to a custom pool leaves worker\'s count', () => {
  const worker = pool('worker');
  const infra = pool('infra');
  const before = [doneAt('n0', R1), doneAt('n1', R1)];
  const after = [doneAt('n0', R1), doneAt('n1', R1, { labels: { 'node-role.kubernetes.io/infra': '' } })];
  assert.equal(poolNodes(worker, [worker, infra], before).nodes.length, 2);
  assert.deepEqual(names(poolNodes(worker, [worker, infra], after).nodes), ['n0']);
  assert.deepEqual(names(poolNodes(infra, [worker, infra], after).nodes), ['n1']);
});

const NOW = '2026-12-04T10:00:00Z';
const conditionOf = (s: MachineConfigPoolStatus, type: string): { status: string; reason?: string; message?: string } | undefined => s.conditions?.find((c) => c.type === type);

test('poolStatus(): mid-rollout counts; status.configuration stays on the old config until every node is updated', () => {
  const p = pool('worker', { target: R2 });
  p.status = { configuration: { name: R1 } };
  const s = poolStatus(p, [doneAt('n0', R2), node('n1', { current: R1, desired: R2, state: 'Working' }), doneAt('n2', R1)], { now: NOW });
  assert.deepEqual([s.machineCount, s.updatedMachineCount, s.readyMachineCount, s.unavailableMachineCount, s.degradedMachineCount], [3, 1, 1, 1, 0]);
  assert.equal(s.configuration!.name, R1);
  assert.deepEqual(conditionOf(s, 'Updated')?.status, 'False');
  assert.deepEqual(conditionOf(s, 'Updating'), { type: 'Updating', status: 'True', lastTransitionTime: NOW, reason: '', message: `All nodes are updating to ${R2}` });
  assert.equal(conditionOf(s, 'Degraded')?.status, 'False');
});

test('poolStatus(): all nodes updated → Updated=True with the real message and status.configuration moves', () => {
  const p = pool('worker', { target: R2 });
  p.spec.configuration = { name: R2, source: [{ name: '00-worker' }] };
  p.status = { configuration: { name: R1 } };
  const s = poolStatus(p, [doneAt('n0', R2), doneAt('n1', R2)], { now: NOW });
  assert.deepEqual(s.configuration, { name: R2, source: [{ name: '00-worker' }] });
  assert.equal(conditionOf(s, 'Updated')?.message, `All nodes are updated with ${R2}`);
  assert.equal(conditionOf(s, 'Updating')?.status, 'False');
});

test('poolStatus(): a degraded node gives NodeDegraded with the count as reason and the node\'s reason quoted, and Degraded=True', () => {
  const p = pool('worker', { target: R2 });
  const reason = 'unexpected on-disk state validating against rendered-worker-2: expected target osImageURL "a", have "b"';
  const s = poolStatus(p, [node('n0', { current: R1, desired: R2, state: 'Degraded', reason }), doneAt('n1', R2)], { now: NOW });
  assert.equal(s.degradedMachineCount, 1);
  assert.equal(s.unavailableMachineCount, 0, 'failing on a config is not unavailable');
  const nd = conditionOf(s, 'NodeDegraded')!;
  assert.equal(nd.reason, '1 nodes are reporting degraded status on sync');
  assert.equal(nd.message, `Node n0 is reporting: "unexpected on-disk state validating against rendered-worker-2: expected target osImageURL \\"a\\", have \\"b\\""`);
  assert.equal(conditionOf(s, 'Degraded')?.status, 'True');
});

test('poolStatus(): a paused pool says it will not update; RenderDegraded carried over makes Degraded', () => {
  const p = pool('worker', { target: R2, paused: true });
  p.status = { conditions: [{ type: 'RenderDegraded', status: 'True', message: 'Failed to render configuration for pool worker: x' }] };
  const s = poolStatus(p, [doneAt('n0', R1)], { now: NOW });
  assert.deepEqual([conditionOf(s, 'Updating')?.status, conditionOf(s, 'Updating')?.message], ['False', `Pool is paused; will not update to ${R2}`]);
  assert.equal(conditionOf(s, 'Degraded')?.status, 'True');
  assert.equal(conditionOf(s, 'RenderDegraded')?.status, 'True');
});

test('poolStatus(): pausing an updated pool with a new target replaces Updating=False\'s empty message with the paused one', () => {
  const p = pool('worker', { target: R2, paused: true });
  p.status = { conditions: [{ type: 'Updating', status: 'False', lastTransitionTime: 'T0', reason: '', message: '' }] };
  const s = poolStatus(p, [doneAt('n0', R1)], { now: NOW });
  assert.deepEqual(conditionOf(s, 'Updating'), { type: 'Updating', status: 'False', lastTransitionTime: 'T0', reason: '', message: `Pool is paused; will not update to ${R2}` });
});

test('poolStatus(): a pool with no nodes is all updated at once', () => {
  const s = poolStatus(pool('infra', { target: 'rendered-infra-1' }), [], { now: NOW });
  assert.equal(s.configuration?.name, 'rendered-infra-1');
  assert.equal(conditionOf(s, 'Updated')?.status, 'True');
});

test('setCondition(): same status and reason keeps the old message; same status keeps lastTransitionTime; a change moves to the end', () => {
  const old = [
    { type: 'Updating' as const, status: 'True' as const, lastTransitionTime: 'T0', reason: '', message: 'All nodes are updating to R1' },
    { type: 'Updated' as const, status: 'False' as const, lastTransitionTime: 'T0', reason: '', message: '' },
  ];
  assert.deepEqual(setCondition(old, { type: 'Updating', status: 'True', lastTransitionTime: 'T1', reason: '', message: 'All nodes are updating to R2' }), old);
  const flipped = setCondition(old, { type: 'Updating', status: 'False', lastTransitionTime: 'T1', reason: '', message: '' });
  assert.deepEqual(flipped.map((c) => [c.type, c.status, c.lastTransitionTime]), [['Updated', 'False', 'T0'], ['Updating', 'False', 'T1']]);
  const reasoned = setCondition(old, { type: 'Updated', status: 'False', lastTransitionTime: 'T1', reason: 'x', message: 'm' });
  assert.equal(reasoned.at(-1)!.lastTransitionTime, 'T0');
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ApiError } from './errors.js';
import { EVENTS, NODES, PODS } from './resources.js';
import { parseFieldSelector, parseLabelSelector } from './selectors.js';

const obj = (labels: Record<string, string>): { metadata: { name: string; labels: Record<string, string> } } => ({ metadata: { name: 'x', labels } });

test('parseLabelSelector() follows the kubectl -l grammar: =, ==, !=, bare key, !key, in, notin', () => {
  const cases: [string, Record<string, string>, boolean][] = [
    ['role=worker', { role: 'worker' }, true],
    ['role==worker', { role: 'master' }, false],
    ['role!=worker', {}, true],
    ['node-role.kubernetes.io/worker', { 'node-role.kubernetes.io/worker': '' }, true],
    ['node-role.kubernetes.io/worker', {}, false],
    ['!node-role.kubernetes.io/master', { 'node-role.kubernetes.io/worker': '' }, true],
    ['env in (prod, staging),tier notin (db)', { env: 'staging', tier: 'web' }, true],
    ['env in (prod, staging),tier notin (db)', { env: 'staging', tier: 'db' }, false],
    ['env in (prod)', {}, false],
    ['a=1, b=2', { a: '1', b: '2' }, true],
  ];
  for (const [selector, labels, expected] of cases) assert.equal(parseLabelSelector(selector)(obj(labels)), expected, `${selector} on ${JSON.stringify(labels)}`);
});

test('parseLabelSelector() refuses a malformed key with a 400 naming the selector', () => {
  assert.throws(() => parseLabelSelector('a b=c'), (e: unknown) => e instanceof ApiError && e.code === 400 && /invalid label key "a b=c" in selector "a b=c"/.test(e.message));
});

test('parseFieldSelector() matches the fields each kind supports, in any term order, and an empty value matches an absent field', () => {
  const ev = { metadata: { name: 'e1', namespace: 'default' }, involvedObject: { kind: 'MachineConfigPool', name: 'worker' }, source: { component: 'machineconfigcontroller' } };
  assert.ok(parseFieldSelector('involvedObject.namespace=,involvedObject.name=worker,involvedObject.kind=MachineConfigPool', EVENTS)(ev));
  assert.ok(parseFieldSelector('source=machineconfigcontroller', EVENTS)(ev));
  assert.ok(!parseFieldSelector('involvedObject.namespace=default', EVENTS)(ev));
  const pod = { metadata: { name: 'p' }, spec: { nodeName: 'worker-0' }, status: { phase: 'Running' } };
  assert.ok(parseFieldSelector('spec.nodeName=worker-0,status.phase!=Succeeded,status.phase!=Failed', PODS)(pod));
  assert.ok(parseFieldSelector('spec.unschedulable=true', NODES)({ metadata: { name: 'n' }, spec: { unschedulable: true } }));
  assert.ok(parseFieldSelector('spec.unschedulable!=true', NODES)({ metadata: { name: 'n' } }));
});

test('parseFieldSelector() refuses a field the kind does not index, as the real apiserver does', () => {
  assert.throws(() => parseFieldSelector('spec.nodeName=x', NODES), (e: unknown) => e instanceof ApiError && e.code === 400 && e.message === 'field label not supported: spec.nodeName');
});

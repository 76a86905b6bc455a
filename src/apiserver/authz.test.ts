import assert from 'node:assert/strict';
import { test } from 'node:test';
import { admitNodeWrite, authorize } from './authz.js';
import { CRDS, NODES, PODS, BUILTIN_RESOURCES } from './resources.js';
import type { KubeObject } from './store.js';

const SECRETS = BUILTIN_RESOURCES.find((d) => d.plural === 'secrets')!;
const MCO = 'machineconfiguration.openshift.io/';

function node(name: string, annotations: Record<string, string>, extra: Partial<KubeObject> = {}): KubeObject {
  return { apiVersion: 'v1', kind: 'Node', metadata: { name, annotations, labels: { 'node-role.kubernetes.io/worker': '' } }, spec: {}, ...extra };
}

test('authorize(): admin may do anything; the controller anything but redefine the API; a node reads all but secrets', () => {
  assert.equal(authorize({ kind: 'admin' }, { verb: 'delete', def: CRDS, name: 'x' }), undefined);
  assert.equal(authorize({ kind: 'controller' }, { verb: 'list', def: CRDS }), undefined);
  assert.equal(
    authorize({ kind: 'controller' }, { verb: 'delete', def: CRDS, name: 'x' }),
    'User "controller" cannot delete resource "customresourcedefinitions" in API group "apiextensions.k8s.io" at the cluster scope',
  );
  const n = { kind: 'node' as const, nodeName: 'worker-0' };
  assert.equal(authorize(n, { verb: 'watch', def: NODES }), undefined);
  assert.equal(authorize(n, { verb: 'get', def: SECRETS, namespace: 'default', name: 'pull-secret' }), 'User "system:node:worker-0" cannot get resource "secrets" in API group "" in the namespace "default"');
  assert.equal(authorize(n, { verb: 'create', def: PODS, namespace: 'default', name: 'p', subresource: 'eviction' }), undefined);
  assert.match(authorize(n, { verb: 'delete', def: PODS, namespace: 'default', name: 'p' })!, /cannot delete resource "pods"/);
});

test('admitNodeWrite(): a daemon may write its own state annotations and cordon, nothing else on its Node', () => {
  const attrs = { verb: 'patch' as const, def: NODES, name: 'worker-0' };
  const old = node('worker-0', { [`${MCO}currentConfig`]: 'rendered-1', [`${MCO}desiredConfig`]: 'rendered-2', [`${MCO}state`]: 'Done' });
  const ok = (next: KubeObject): void => assert.equal(admitNodeWrite('worker-0', attrs, old, next), undefined);
  const no = (next: KubeObject, why: RegExp): void => assert.match(admitNodeWrite('worker-0', attrs, old, next) ?? '(allowed)', why);
  ok(node('worker-0', { ...old.metadata.annotations, [`${MCO}state`]: 'Working', [`${MCO}reason`]: '' }));
  ok({ ...old, spec: { unschedulable: true } });
  no(node('worker-0', { ...old.metadata.annotations, [`${MCO}desiredConfig`]: 'rendered-3' }), /not allowed to modify annotation "machineconfiguration\.openshift\.io\/desiredConfig"/);
  no({ ...old, metadata: { ...old.metadata, labels: { 'node-role.kubernetes.io/master': '' } } }, /not allowed to modify labels/);
  no({ ...old, spec: { taints: [{ key: 'k', effect: 'NoSchedule' }] } }, /not allowed to modify taints/);
  no(node('worker-1', {}), /node "worker-0" is not allowed to modify node "worker-1"/);
});

test('admitNodeWrite(): on first start (no currentConfig yet) the daemon may also copy desiredConfig from the bootstrap file', () => {
  const fresh = node('worker-0', {});
  const next = node('worker-0', { [`${MCO}currentConfig`]: 'rendered-1', [`${MCO}desiredConfig`]: 'rendered-1', [`${MCO}state`]: 'Done' });
  assert.equal(admitNodeWrite('worker-0', { verb: 'patch', def: NODES, name: 'worker-0' }, fresh, next), undefined);
});

test('admitNodeWrite(): a daemon may write events about its own Node only, and may not take over another node\'s event', () => {
  const event = (about: string): KubeObject => ({ apiVersion: 'v1', kind: 'Event', metadata: { name: 'e', namespace: 'default' }, involvedObject: { kind: 'Node', name: about } });
  const events = BUILTIN_RESOURCES.find((d) => d.plural === 'events')!;
  const attrs = { verb: 'patch' as const, def: events, name: 'e' };
  assert.equal(admitNodeWrite('worker-0', attrs, undefined, event('worker-0')), undefined);
  assert.equal(admitNodeWrite('worker-0', attrs, undefined, event('worker-1')), 'node "worker-0" may only record events about node "worker-0"');
  assert.equal(admitNodeWrite('worker-0', attrs, event('worker-1'), event('worker-0')), 'node "worker-0" may only record events about node "worker-0"');
});

/** Field ownership and server-side apply, as pure functions (table tests with small builders). */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ApiError } from './errors.js';
import { builtinShape, managedFieldsAfterUpdate, printPath, schemaShape, serverSideApply, type ManagedFieldsEntry, type ManagerRef } from './managed-fields.js';

const cmShape = builtinShape('ConfigMap');
const ref = (manager: string, time = '2026-12-04T12:00:00Z'): ManagerRef => ({ manager, apiVersion: 'v1', time });
const cm = (data: Record<string, string>, labels?: Record<string, string>): Record<string, unknown> => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name: 'osimageurl', namespace: 'mco', ...(labels ? { labels } : {}) },
  data,
});
const owners = (entries: ManagedFieldsEntry[]): Record<string, unknown> => Object.fromEntries(entries.map((e) => [`${e.manager}/${e.operation}`, e.fieldsV1]));

function conflict(fn: () => unknown): ApiError {
  try {
    fn();
  } catch (e) {
    if (e instanceof ApiError) return e;
    throw e;
  }
  assert.fail('expected a conflict');
}

test('managedFieldsAfterUpdate() records a create as the whole object, owned maps marked with "."', () => {
  const entries = managedFieldsAfterUpdate([], undefined, cm({ osImageURL: 'a', releaseVersion: '4.6.0' }, { app: 'mco' }), ref('kubectl-create'), cmShape, false);
  assert.deepEqual(entries, [
    {
      manager: 'kubectl-create',
      operation: 'Update',
      apiVersion: 'v1',
      time: '2026-12-04T12:00:00Z',
      fieldsType: 'FieldsV1',
      fieldsV1: { 'f:data': { '.': {}, 'f:osImageURL': {}, 'f:releaseVersion': {} }, 'f:metadata': { 'f:labels': { '.': {}, 'f:app': {} } } },
    },
  ]);
});

test('managedFieldsAfterUpdate() moves a changed field to its writer, drops removed fields, and leaves a no-op alone', () => {
  const created = managedFieldsAfterUpdate([], undefined, cm({ osImageURL: 'a', releaseVersion: '4.6.0' }), ref('kubectl-create'), cmShape, false);
  const patched = managedFieldsAfterUpdate(created, cm({ osImageURL: 'a', releaseVersion: '4.6.0' }), cm({ osImageURL: 'b', releaseVersion: '4.6.0' }), ref('kubectl-patch'), cmShape, false);
  assert.deepEqual(owners(patched), {
    'kubectl-create/Update': { 'f:data': { '.': {}, 'f:releaseVersion': {} } },
    'kubectl-patch/Update': { 'f:data': { 'f:osImageURL': {} } },
  });
  const removed = managedFieldsAfterUpdate(patched, cm({ osImageURL: 'b', releaseVersion: '4.6.0' }), cm({ osImageURL: 'b' }), ref('kubectl-edit'), cmShape, false);
  assert.deepEqual(owners(removed), { 'kubectl-create/Update': { 'f:data': {} }, 'kubectl-patch/Update': { 'f:data': { 'f:osImageURL': {} } } });
  assert.equal(managedFieldsAfterUpdate(removed, cm({ osImageURL: 'b' }), cm({ osImageURL: 'b' }), ref('other'), cmShape, false), removed);
});

test('managedFieldsAfterUpdate() counts only status on the status subresource, and not status on the main resource', () => {
  const pool = (spec: object, status: object): Record<string, unknown> => ({ metadata: { name: 'worker' }, spec, status });
  const shape = schemaShape({ type: 'object', properties: { spec: { type: 'object', properties: { paused: { type: 'boolean' } } }, status: { type: 'object', properties: { machineCount: { type: 'integer' } } } } });
  const status = managedFieldsAfterUpdate([], pool({ paused: false }, {}), pool({ paused: false }, { machineCount: 3 }), { ...ref('machine-config-controller'), subresource: 'status' }, shape, true);
  assert.deepEqual(status.map((e) => [e.subresource, e.fieldsV1]), [['status', { 'f:status': { 'f:machineCount': {} } }]]);
  assert.deepEqual(managedFieldsAfterUpdate([], pool({ paused: false }, {}), pool({ paused: false }, { machineCount: 3 }), ref('x'), shape, true), []);
});

test('serverSideApply() creates, re-applies as a no-op, and removes a field the manager stopped applying', () => {
  const first = serverSideApply(undefined, cm({ a: '1', b: '2' }), ref('kubectl'), { force: false, shape: cmShape, hasStatus: false });
  assert.deepEqual(first.object['data'], { a: '1', b: '2' });
  const live = { ...first.object, metadata: { ...(first.object['metadata'] as object), managedFields: first.managedFields } };
  const again = serverSideApply(live, cm({ a: '1', b: '2' }), ref('kubectl', '2026-12-04T13:00:00Z'), { force: false, shape: cmShape, hasStatus: false });
  assert.deepEqual(again.managedFields, first.managedFields, 'the same apply keeps its entry (and time)');
  const dropped = serverSideApply(live, cm({ a: '1' }), ref('kubectl'), { force: false, shape: cmShape, hasStatus: false });
  assert.deepEqual(dropped.object['data'], { a: '1' });
});

test('serverSideApply() refuses a conflicting value owned by another manager with kube\'s words, shares equal values, and takes fields when forced', () => {
  const created = managedFieldsAfterUpdate([], undefined, cm({ osImageURL: 'a', releaseVersion: '4.6.0' }), ref('kubectl-patch'), cmShape, false);
  const live = { ...cm({ osImageURL: 'a', releaseVersion: '4.6.0' }), metadata: { name: 'osimageurl', namespace: 'mco', managedFields: created } };
  const e = conflict(() => serverSideApply(live, cm({ osImageURL: 'b' }), ref('gitops'), { force: false, shape: cmShape, hasStatus: false }));
  assert.equal(e.code, 409);
  assert.equal(e.message, 'Apply failed with 1 conflict: conflict with "kubectl-patch" using v1: .data.osImageURL');
  assert.deepEqual(e.details?.causes, [{ reason: 'FieldManagerConflict', message: 'conflict with "kubectl-patch" using v1', field: '.data.osImageURL' }]);
  const two = conflict(() => serverSideApply(live, cm({ osImageURL: 'b', releaseVersion: '4.7.0' }), ref('gitops'), { force: false, shape: cmShape, hasStatus: false }));
  assert.equal(two.message, 'Apply failed with 2 conflicts: conflicts with "kubectl-patch" using v1:\n- .data.osImageURL\n- .data.releaseVersion');

  const shared = serverSideApply(live, cm({ osImageURL: 'a' }), ref('gitops'), { force: false, shape: cmShape, hasStatus: false });
  assert.deepEqual(Object.keys(owners(shared.managedFields)), ['kubectl-patch/Update', 'gitops/Apply'], 'an equal value is co-owned');
  const forced = serverSideApply(live, cm({ osImageURL: 'b' }), ref('gitops'), { force: true, shape: cmShape, hasStatus: false });
  assert.deepEqual(forced.object['data'], { osImageURL: 'b', releaseVersion: '4.6.0' });
  assert.deepEqual(owners(forced.managedFields), {
    'kubectl-patch/Update': { 'f:data': { '.': {}, 'f:releaseVersion': {} } },
    'gitops/Apply': { 'f:data': { 'f:osImageURL': {} } },
  });
});

test('serverSideApply() merges lists by x-kubernetes-list-type: map by key, set as a union, atomic replaced', () => {
  const shape = schemaShape({
    type: 'object',
    properties: {
      spec: {
        type: 'object',
        properties: {
          items: { type: 'array', 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['name'], items: { type: 'object', properties: { name: { type: 'string' }, v: { type: 'string' } } } },
          tags: { type: 'array', 'x-kubernetes-list-type': 'set', items: { type: 'string' } },
          args: { type: 'array', items: { type: 'string' } },
        },
      },
    },
  });
  const obj = (spec: object): Record<string, unknown> => ({ apiVersion: 'example.com/v1', kind: 'W', metadata: { name: 'w' }, spec });
  const a = serverSideApply(undefined, obj({ items: [{ name: 'x', v: '1' }], tags: ['t1'], args: ['-a'] }), ref('a'), { force: false, shape, hasStatus: false });
  const live = { ...a.object, metadata: { name: 'w', managedFields: a.managedFields } };
  const b = serverSideApply(live, obj({ items: [{ name: 'y', v: '2' }], tags: ['t2'] }), ref('b'), { force: false, shape, hasStatus: false });
  assert.deepEqual(b.object['spec'], { items: [{ name: 'x', v: '1' }, { name: 'y', v: '2' }], tags: ['t1', 't2'], args: ['-a'] });
  assert.deepEqual(owners(b.managedFields)['b/Apply'], { 'f:spec': { 'f:items': { 'k:{"name":"y"}': { '.': {}, 'f:name': {}, 'f:v': {} } }, 'f:tags': { 'v:"t2"': {} } } });
  const bLive = { ...b.object, metadata: { name: 'w', managedFields: b.managedFields } };
  const bAgain = serverSideApply(bLive, obj({ tags: ['t2'] }), ref('b'), { force: false, shape, hasStatus: false });
  assert.deepEqual(bAgain.object['spec'], { items: [{ name: 'x', v: '1' }], tags: ['t1', 't2'], args: ['-a'] }, 'the item b stopped applying is gone, a\'s stays');
  const conflictOnAtomic = conflict(() => serverSideApply(live, obj({ args: ['-b'] }), ref('b'), { force: false, shape, hasStatus: false }));
  assert.equal(conflictOnAtomic.message, 'Apply failed with 1 conflict: conflict with "a": .spec.args');
});

test('printPath() prints keyed items and set members as kube does', () => {
  assert.equal(printPath('f:spec\nf:containers\nk:{"name":"web"}\nf:image'), '.spec.containers[name="web"].image');
  assert.equal(printPath('f:metadata\nf:finalizers\nv:"x"'), '.metadata.finalizers[="x"]');
});

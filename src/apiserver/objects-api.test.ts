/**
 * The object API in process (no HTTP): paginated lists as one snapshot, namespace deletion
 * through Terminating, and CRD validation of printer columns.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { ApiError } from './errors.js';
import { ObjectsApi, type WriteOptions } from './objects-api.js';
import { ResourceRegistry } from './registry.js';
import { BUILTIN_RESOURCES, CRDS, NAMESPACES } from './resources.js';
import { parseLabelSelector } from './selectors.js';
import { Store, type KubeObject } from './store.js';

const CONFIGMAPS = BUILTIN_RESOURCES.find((d) => d.plural === 'configmaps')!;
const all = (): boolean => true;

function setup(t: TestContext, historyLimit = 1000): { objects: ObjectsApi; store: Store; admin: WriteOptions } {
  const dir = fs.mkdtempSync(join(tmpdir(), 'mco-objects-'));
  const store = new Store(join(dir, 'state.db'), { historyLimit });
  t.after(() => {
    store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  const objects = new ObjectsApi(store, new ResourceRegistry(), () => new Date('2026-12-04T12:00:00Z'));
  const admin: WriteOptions = { user: { kind: 'admin' }, dryRun: false, fieldValidation: 'Strict', warnings: [], fieldManager: 'test' };
  objects.create(NAMESPACES, undefined, { metadata: { name: 'default' } }, admin);
  return { objects, store, admin };
}

const cm = (name: string, labels: Record<string, string> = {}, data: Record<string, string> = {}): object => ({ metadata: { name, labels }, data });

function apiError(fn: () => unknown): ApiError {
  try {
    fn();
  } catch (e) {
    if (e instanceof ApiError) return e;
    throw e;
  }
  assert.fail('expected an ApiError');
}

test('list() serves later pages from the first page\'s snapshot: changes made in between are not seen, and every page reports the same resourceVersion', (t) => {
  const { objects, admin } = setup(t);
  for (const n of ['a', 'b', 'c', 'd']) objects.create(CONFIGMAPS, 'default', cm(n, {}, { v: '1' }), admin);
  const page1 = objects.list(CONFIGMAPS, 'default', { predicate: all, limit: 2 });
  assert.deepEqual(page1.items.map((o) => o.metadata.name), ['a', 'b']);
  const c = objects.get(CONFIGMAPS, 'default', 'c');

  objects.patch(CONFIGMAPS, 'default', 'c', 'application/merge-patch+json', { data: { v: '2' } }, admin);
  objects.delete(CONFIGMAPS, 'default', 'd', {}, admin);
  objects.create(CONFIGMAPS, 'default', cm('bb'), admin);

  const page2 = objects.list(CONFIGMAPS, 'default', { predicate: all, limit: 2, continueToken: page1.continueToken! });
  assert.equal(page2.resourceVersion, page1.resourceVersion);
  assert.deepEqual(page2.items.map((o) => o.metadata.name), ['c', 'd'], 'd (deleted since) is still there, bb (created since) is not');
  assert.deepEqual(page2.items[0], c, 'c as it was at the snapshot');
  assert.equal(page2.continueToken, undefined);
  for (const item of [...page1.items, ...page2.items]) assert.ok(Number(item.metadata.resourceVersion) <= Number(page1.resourceVersion));
});

test('list() answers 410 Expired for a continue token whose snapshot was compacted away', (t) => {
  const { objects, admin } = setup(t, 4);
  for (const n of ['a', 'b', 'c']) objects.create(CONFIGMAPS, 'default', cm(n), admin);
  const page1 = objects.list(CONFIGMAPS, 'default', { predicate: all, limit: 1 });
  for (let i = 0; i < 10; i++) objects.patch(CONFIGMAPS, 'default', 'c', 'application/merge-patch+json', { data: { i: String(i) } }, admin);
  const e = apiError(() => objects.list(CONFIGMAPS, 'default', { predicate: all, limit: 1, continueToken: page1.continueToken! }));
  assert.deepEqual([e.code, e.reason], [410, 'Expired']);
});

test('list() counts remainingItemCount without a selector, and leaves it out with one, as the real server does', (t) => {
  const { objects, admin } = setup(t);
  for (const [n, team] of [['a', 'x'], ['b', 'y'], ['c', 'x'], ['d', 'y'], ['e', 'y']] as const) objects.create(CONFIGMAPS, 'default', cm(n, { team }), admin);
  const plain = objects.list(CONFIGMAPS, 'default', { predicate: all, limit: 2 });
  assert.equal(plain.remainingItemCount, 3);
  const page2 = objects.list(CONFIGMAPS, 'default', { predicate: all, limit: 2, continueToken: plain.continueToken! });
  assert.equal(page2.remainingItemCount, 1);
  const selected = objects.list(CONFIGMAPS, 'default', { predicate: parseLabelSelector('team=x'), selective: true, limit: 1 });
  assert.deepEqual(selected.items.map((o) => o.metadata.name), ['a']);
  assert.ok(selected.continueToken);
  assert.equal(selected.remainingItemCount, undefined);
});

test('a CRD whose printer column has a malformed JSONPath is refused with 422 naming the column, and nothing is stored', (t) => {
  const { objects, store, admin } = setup(t);
  const crd = {
    metadata: { name: 'widgets.example.com' },
    spec: {
      group: 'example.com',
      scope: 'Cluster',
      names: { plural: 'widgets', kind: 'Widget' },
      versions: [{ name: 'v1', served: true, storage: true, additionalPrinterColumns: [{ name: 'Size', type: 'string', jsonPath: '.spec.size[?(@.x' }] }],
    },
  };
  const e = apiError(() => objects.create(CRDS, undefined, crd, admin));
  assert.equal(e.code, 422);
  assert.match(e.message, /^CustomResourceDefinition "widgets\.example\.com" is invalid: spec\.versions\[0\]\.additionalPrinterColumns\[0\]\.jsonPath: Invalid value: "\.spec\.size\[\?\(@\.x": /);
  assert.equal(store.get('apiextensions.k8s.io/customresourcedefinitions', '', 'widgets.example.com'), undefined);
  const noDot = structuredClone(crd);
  noDot.spec.versions[0]!.additionalPrinterColumns[0]!.jsonPath = 'spec.size';
  assert.match(apiError(() => objects.create(CRDS, undefined, noDot, admin)).message, /must be a simple json path starting with \./);
});

test('deleting a Namespace marks it Terminating, deletes its content, and removes it once the content is gone', (t) => {
  const { objects, store, admin } = setup(t);
  objects.create(NAMESPACES, undefined, { metadata: { name: 'team' } }, admin);
  objects.create(CONFIGMAPS, 'team', cm('plain'), admin);
  objects.create(CONFIGMAPS, 'team', { ...cm('held'), metadata: { name: 'held', finalizers: ['example.com/hold'] } }, admin);

  const { object, gone } = objects.delete(NAMESPACES, '', 'team', {}, admin);
  assert.equal(gone, false);
  assert.equal((object['status'] as { phase: string }).phase, 'Terminating');
  assert.ok(object.metadata.deletionTimestamp);
  assert.equal(store.get('/configmaps', 'team', 'plain'), undefined, 'content without finalizers goes at once');
  const held = objects.get(CONFIGMAPS, 'team', 'held');
  assert.ok(held.metadata.deletionTimestamp, 'content with finalizers is marked for deletion');

  const refused = apiError(() => objects.create(CONFIGMAPS, 'team', cm('late'), admin));
  assert.deepEqual([refused.code, refused.reason], [403, 'Forbidden']);
  assert.equal(refused.message, 'configmaps "late" is forbidden: unable to create new content in namespace team because it is being terminated');
  // A repeated delete changes nothing.
  assert.equal(objects.delete(NAMESPACES, '', 'team', {}, admin).object.metadata.resourceVersion, objects.get(NAMESPACES, '', 'team').metadata.resourceVersion);

  objects.patch(CONFIGMAPS, 'team', 'held', 'application/merge-patch+json', { metadata: { finalizers: null } }, admin);
  assert.equal(store.get('/configmaps', 'team', 'held'), undefined);
  assert.equal(store.get('/namespaces', '', 'team'), undefined, 'the namespace goes with its last object');
});

test('a Namespace with no content is removed by its delete', (t) => {
  const { objects, store, admin } = setup(t);
  objects.create(NAMESPACES, undefined, { metadata: { name: 'empty' } }, admin);
  const { gone } = objects.delete(NAMESPACES, '', 'empty', {}, admin);
  assert.equal(gone, true);
  assert.equal(store.get('/namespaces', '', 'empty') as KubeObject | undefined, undefined);
});

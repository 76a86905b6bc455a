/**
 * `mco apiserver` driven by the official @kubernetes/client-node 1.4 (what our controllers
 * and daemons use): typed CRUD, optimistic concurrency, watches (selectors, history, 410 Gone,
 * bookmarks), informers that resync after their history was compacted, and pagination.
 * One server per file, started with a tiny watch history and 1 s bookmarks to reach those
 * cases quickly.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import * as k8s from '@kubernetes/client-node';
import { Agent, request } from 'undici';
import { clientKubeConfig, startApiServer, type TestApiServer } from './testing.js';

const MC = { group: 'machineconfiguration.openshift.io', version: 'v1', plural: 'machineconfigs' };
const mergePatch = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);

/** The ApiException's Status body, parsed. */
async function statusOf(p: Promise<unknown>): Promise<{ code: number; reason: string; message: string }> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof k8s.ApiException, `expected an ApiException, got ${String(e)}`);
    return JSON.parse(e.body as string) as { code: number; reason: string; message: string };
  }
  assert.fail('the call should have failed');
}

const node = (name: string, labels: Record<string, string> = {}): k8s.V1Node => ({ apiVersion: 'v1', kind: 'Node', metadata: { name, labels } });

/** Events as a watch callback sees them, with a way to await the n-th. */
function recorder(): { events: { type: string; name: string; rv: string }[]; until(n: number): Promise<void>; cb: (type: string, obj: k8s.KubernetesObject) => void } {
  const events: { type: string; name: string; rv: string }[] = [];
  let wake = (): void => {};
  return {
    events,
    cb: (type, obj) => {
      events.push({ type, name: obj.metadata?.name ?? '', rv: obj.metadata?.resourceVersion ?? '' });
      wake();
    },
    until: (n) =>
      new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`only ${events.length} of ${n} events: ${JSON.stringify(events)}`)), 10_000);
        wake = () => {
          if (events.length >= n) {
            clearTimeout(timer);
            resolve();
          }
        };
        wake();
      }),
  };
}

describe('mco apiserver with @kubernetes/client-node', () => {
  let api: TestApiServer;
  let kc: k8s.KubeConfig;
  let core: k8s.CoreV1Api;
  let custom: k8s.CustomObjectsApi;
  const teardown: (() => unknown)[] = [];
  after(async () => {
    for (const fn of teardown) await fn();
  });
  before(async () => {
    api = await startApiServer({ after: (fn) => teardown.push(fn) }, { args: ['--watch-history=20', '--bookmark-interval=1'] });
    kc = clientKubeConfig(api, api.tokens.admin);
    core = kc.makeApiClient(k8s.CoreV1Api);
    custom = kc.makeApiClient(k8s.CustomObjectsApi);
  });

  test('CRUD of a MachineConfig: create, get, list, merge-patch, delete; generation counts spec changes only', async () => {
    const mc = { apiVersion: 'machineconfiguration.openshift.io/v1', kind: 'MachineConfig', metadata: { name: '99-worker-ssh' }, spec: { config: { ignition: { version: '3.1.0' } } } };
    const created = (await custom.createClusterCustomObject({ ...MC, body: mc })) as k8s.KubernetesObject & { metadata: k8s.V1ObjectMeta };
    assert.match(created.metadata.uid!, /^[0-9a-f-]{36}$/);
    assert.equal(created.metadata.generation, 1);
    assert.match(created.metadata.creationTimestamp as unknown as string, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    const list = (await custom.listClusterCustomObject(MC)) as { items: { metadata: { name: string } }[]; metadata: { resourceVersion: string } };
    assert.deepEqual(list.items.map((i) => i.metadata.name), ['99-worker-ssh']);
    assert.ok(Number(list.metadata.resourceVersion) >= Number(created.metadata.resourceVersion));

    const relabelled = (await custom.patchClusterCustomObject({ ...MC, name: '99-worker-ssh', body: { metadata: { labels: { a: 'b' } } } }, mergePatch)) as { metadata: k8s.V1ObjectMeta };
    assert.equal(relabelled.metadata.generation, 1, 'a label is not a spec change');
    assert.ok(Number(relabelled.metadata.resourceVersion) > Number(created.metadata.resourceVersion));
    const respecced = (await custom.patchClusterCustomObject({ ...MC, name: '99-worker-ssh', body: { spec: { kernelArguments: ['nosmt'] } } }, mergePatch)) as { metadata: k8s.V1ObjectMeta; spec: { kernelArguments: string[] } };
    assert.equal(respecced.metadata.generation, 2);
    assert.deepEqual(respecced.spec.kernelArguments, ['nosmt']);

    await custom.deleteClusterCustomObject({ ...MC, name: '99-worker-ssh' });
    const gone = await statusOf(custom.getClusterCustomObject({ ...MC, name: '99-worker-ssh' }));
    assert.deepEqual([gone.code, gone.reason, gone.message], [404, 'NotFound', 'machineconfigs.machineconfiguration.openshift.io "99-worker-ssh" not found']);
  });

  test('a replace with a stale resourceVersion gets 409 Conflict; re-reading and retrying succeeds', async () => {
    const cm = await core.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { name: 'cas' }, data: { n: '0' } } });
    await core.replaceNamespacedConfigMap({ namespace: 'default', name: 'cas', body: { ...cm, data: { n: '1' } } });
    const stale = await statusOf(core.replaceNamespacedConfigMap({ namespace: 'default', name: 'cas', body: { ...cm, data: { n: '2' } } }));
    assert.equal(stale.code, 409);
    assert.equal(stale.reason, 'Conflict');
    assert.match(stale.message, /^Operation cannot be fulfilled on configmaps "cas": the object has been modified; please apply your changes to the latest version and try again$/);
    const fresh = await core.readNamespacedConfigMap({ namespace: 'default', name: 'cas' });
    assert.equal(fresh.data!['n'], '1', 'the stale write changed nothing');
    const done = await core.replaceNamespacedConfigMap({ namespace: 'default', name: 'cas', body: { ...fresh, data: { n: '2' } } });
    assert.equal(done.data!['n'], '2');
    const dup = await statusOf(core.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { name: 'cas' } } }));
    assert.deepEqual([dup.code, dup.reason], [409, 'AlreadyExists']);
  });

  test('a watch from a list resourceVersion sees ADDED, MODIFIED and DELETED in order, and objects leaving a label selector as DELETED', async () => {
    const start = (await core.listNode()).metadata!.resourceVersion!;
    const all = recorder();
    const selected = recorder();
    const watch = new k8s.Watch(kc);
    const w1 = await watch.watch('/api/v1/nodes', { resourceVersion: start }, all.cb, () => {});
    const w2 = await watch.watch('/api/v1/nodes', { resourceVersion: start, labelSelector: 'pool=worker' }, selected.cb, () => {});
    try {
      await core.createNode({ body: node('w-a', { pool: 'worker' }) });
      await core.patchNode({ name: 'w-a', body: { metadata: { labels: { pool: 'infra' } } } }, mergePatch);
      await core.deleteNode({ name: 'w-a' });
      await all.until(3);
      await selected.until(2);
      assert.deepEqual(all.events.map((e) => `${e.type} ${e.name}`), ['ADDED w-a', 'MODIFIED w-a', 'DELETED w-a']);
      assert.deepEqual(selected.events.map((e) => e.type), ['ADDED', 'DELETED']);
      const rvs = all.events.map((e) => Number(e.rv));
      assert.deepEqual([...rvs].sort((a, b) => a - b), rvs, 'resourceVersions increase');
    } finally {
      w1.abort();
      w2.abort();
    }
  });

  test('a watch from a compacted resourceVersion gets one 410 Expired ERROR event', async () => {
    const start = (await core.listNode()).metadata!.resourceVersion!;
    for (let i = 0; i < 30; i++) await core.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { name: `churn-${i}` } } });
    const events: { type: string; obj: { code?: number; reason?: string; message?: string } }[] = [];
    const ended = new Promise<void>((resolve) => {
      void new k8s.Watch(kc).watch('/api/v1/nodes', { resourceVersion: start }, (type, obj) => events.push({ type, obj }), () => resolve());
    });
    await ended;
    assert.equal(events.length, 1, JSON.stringify(events));
    assert.equal(events[0]!.type, 'ERROR');
    assert.equal(events[0]!.obj.code, 410);
    assert.equal(events[0]!.obj.reason, 'Expired');
    assert.match(events[0]!.obj.message!, new RegExp(`^too old resource version: ${start} \\(\\d+\\)$`));
  });

  test('a watch that allows bookmarks receives BOOKMARK events carrying the current resourceVersion', async () => {
    const rec = recorder();
    const w = await new k8s.Watch(kc).watch('/api/v1/nodes', { allowWatchBookmarks: true }, rec.cb, () => {});
    try {
      await rec.until(1);
      assert.equal(rec.events[0]!.type, 'BOOKMARK');
      assert.ok(Number(rec.events[0]!.rv) > 0);
    } finally {
      w.abort();
    }
  });

  test('an informer syncs, follows changes, and after missing compacted history relists to the server state', async () => {
    await core.createNode({ body: node('inf-a') });
    await core.createNode({ body: node('inf-b') });
    const informer = k8s.makeInformer(kc, '/api/v1/nodes', () => core.listNode());
    const deleted: string[] = [];
    informer.on('delete', (o) => deleted.push(o.metadata!.name!));
    const names = (): string[] => informer.list().map((n) => n.metadata!.name!).sort();
    const until = async (what: string, cond: () => boolean): Promise<void> => {
      for (let i = 0; i < 200 && !cond(); i++) await new Promise((r) => setTimeout(r, 50));
      assert.ok(cond(), `${what}: informer has ${names().join(',')}`);
    };
    await informer.start();
    try {
      await until('initial list', () => names().includes('inf-a') && names().includes('inf-b'));
      await core.createNode({ body: node('inf-c') });
      await until('watch event', () => names().includes('inf-c'));
      await informer.stop();
      // While it is away: a delete, and more changes than the history keeps.
      await core.deleteNode({ name: 'inf-a' });
      for (let i = 0; i < 30; i++) await core.patchNode({ name: 'inf-b', body: { metadata: { annotations: { n: String(i) } } } }, mergePatch);
      await informer.start();
      await until('resync', () => !names().includes('inf-a') && informer.get('inf-b')?.metadata?.annotations?.['n'] === '29');
      assert.ok(deleted.includes('inf-a'), 'the relist reported the delete it missed');
    } finally {
      await informer.stop();
    }
  });

  test('Leases for leader election: create, read, replace with the read resourceVersion; a stale replace gets 409 and the holder stays', async () => {
    const coord = kc.makeApiClient(k8s.CoordinationV1Api);
    const ns = 'openshift-machine-config-operator';
    const now = new k8s.V1MicroTime();
    const lease = await coord.createNamespacedLease({ namespace: ns, body: { metadata: { name: 'machine-config' }, spec: { holderIdentity: 'a', leaseDurationSeconds: 15, acquireTime: now, renewTime: now, leaseTransitions: 0 } } });
    const read = await coord.readNamespacedLease({ namespace: ns, name: 'machine-config' });
    assert.equal(read.spec!.holderIdentity, 'a');
    assert.equal(new Date(read.spec!.renewTime as unknown as string).getTime(), now.getTime(), 'MicroTime fields read back');
    const renewed = await coord.replaceNamespacedLease({ namespace: ns, name: 'machine-config', body: { ...read, spec: { ...read.spec, renewTime: new k8s.V1MicroTime() } } });
    assert.ok(Number(renewed.metadata!.resourceVersion) > Number(lease.metadata!.resourceVersion));
    const stolen = await statusOf(coord.replaceNamespacedLease({ namespace: ns, name: 'machine-config', body: { ...read, spec: { ...read.spec, holderIdentity: 'b', leaseTransitions: 1 } } }));
    assert.deepEqual([stolen.code, stolen.reason], [409, 'Conflict']);
    assert.equal((await coord.readNamespacedLease({ namespace: ns, name: 'machine-config' })).spec!.holderIdentity, 'a');
  });

  test('server-side apply through client-node creates, then merges; bad apply bodies and field managers are refused with the reason and store nothing', async () => {
    const apply = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.ServerSideApply);
    const pool = (paused: boolean): object => ({ apiVersion: 'machineconfiguration.openshift.io/v1', kind: 'MachineConfigPool', metadata: { name: 'ssa' }, spec: { paused } });
    const mcp = { group: MC.group, version: 'v1', plural: 'machineconfigpools' };
    const created = (await custom.patchClusterCustomObject({ ...mcp, name: 'ssa', body: pool(false), fieldManager: 'machine-config-operator' }, apply)) as { metadata: { managedFields: { manager: string; operation: string }[] }; spec: { paused: boolean } };
    assert.equal(created.spec.paused, false);
    assert.deepEqual(created.metadata.managedFields.map((m) => [m.manager, m.operation]), [['machine-config-operator', 'Apply']]);
    const conflict = await statusOf(custom.patchClusterCustomObject({ ...mcp, name: 'ssa', body: pool(true), fieldManager: 'someone-else' }, apply));
    assert.deepEqual([conflict.code, conflict.reason, conflict.message], [409, 'Conflict', 'Apply failed with 1 conflict: conflict with "machine-config-operator": .spec.paused']);
    const forced = (await custom.patchClusterCustomObject({ ...mcp, name: 'ssa', body: pool(true), fieldManager: 'someone-else', force: true }, apply)) as { spec: { paused: boolean } };
    assert.equal(forced.spec.paused, true);

    const before = await custom.getClusterCustomObject({ ...mcp, name: 'ssa' });
    const bad: { name: string; call: () => Promise<unknown>; code: number; message: RegExp }[] = [
      { name: 'not an object', call: () => core.patchNamespacedConfigMap({ namespace: 'default', name: 'ssa-cm', body: 'data: [' as unknown as object, fieldManager: 'm' }, apply), code: 400, message: /must be an object|could not be decoded as YAML/ },
      { name: 'another apiVersion', call: () => custom.patchClusterCustomObject({ ...mcp, name: 'ssa', body: { ...pool(false), apiVersion: 'machineconfiguration.openshift.io/v2' }, fieldManager: 'm' }, apply), code: 400, message: /the API version in the data \(machineconfiguration\.openshift\.io\/v2\) does not match the expected API version/ },
      { name: 'another kind', call: () => custom.patchClusterCustomObject({ ...mcp, name: 'ssa', body: { ...pool(false), kind: 'MachineConfig' }, fieldManager: 'm' }, apply), code: 400, message: /the kind in the data \(MachineConfig\) does not match the expected kind/ },
      { name: 'no fieldManager', call: () => custom.patchClusterCustomObject({ ...mcp, name: 'ssa', body: pool(false) }, apply), code: 422, message: /^PatchOptions\.meta\.k8s\.io "" is invalid: fieldManager: Required value: is required for apply patch$/ },
      { name: 'a fieldManager of 129 bytes', call: () => custom.patchClusterCustomObject({ ...mcp, name: 'ssa', body: pool(false), fieldManager: 'm'.repeat(129) }, apply), code: 422, message: /fieldManager: Too long: may not be more than 128 bytes/ },
    ];
    for (const b of bad) {
      const st = await statusOf(b.call());
      assert.equal(st.code, b.code, b.name);
      assert.match(st.message, b.message, b.name);
    }
    // A body that is not YAML at all, sent as it is (the client would encode an object).
    const dispatcher = new Agent({ connect: { ca: api.caCert } });
    const raw = await request(`${api.url}/apis/machineconfiguration.openshift.io/v1/machineconfigpools/ssa?fieldManager=m`, {
      method: 'PATCH',
      headers: { 'content-type': 'application/apply-patch+yaml', authorization: `Bearer ${api.tokens.admin}` },
      body: 'spec: {paused: [',
      dispatcher,
    });
    const rawStatus = (await raw.body.json()) as { code: number; message: string };
    await dispatcher.close();
    assert.equal(raw.statusCode, 400);
    assert.match(rawStatus.message, /could not be decoded as YAML/);
    assert.deepEqual(await custom.getClusterCustomObject({ ...mcp, name: 'ssa' }), before, 'nothing stored');
    assert.equal((await statusOf(core.readNamespacedConfigMap({ namespace: 'default', name: 'ssa-cm' }))).code, 404);
  });

  test('lists page with limit and continue, and field selectors pick events about a cluster-scoped object', async () => {
    const page1 = await core.listNamespacedConfigMap({ namespace: 'default', limit: 10 });
    assert.equal(page1.items.length, 10);
    assert.ok(page1.metadata!._continue);
    assert.equal(page1.metadata!.remainingItemCount, 31 - 10, 'cas + 30 churn');
    const names = page1.items.map((i) => i.metadata!.name!);
    let token: string | undefined = page1.metadata!._continue;
    while (token) {
      const page = await core.listNamespacedConfigMap({ namespace: 'default', limit: 10, _continue: token });
      names.push(...page.items.map((i) => i.metadata!.name!));
      token = page.metadata!._continue;
    }
    assert.equal(names.length, 31);
    assert.equal(new Set(names).size, 31, 'no object twice');

    const ev = (name: string, kind: string, namespace?: string): k8s.CoreV1Event => ({
      metadata: { generateName: 'e-' },
      involvedObject: { kind, name, ...(namespace ? { namespace } : {}) },
      reason: 'Test',
      message: 'm',
      type: 'Normal',
    });
    await core.createNamespacedEvent({ namespace: 'default', body: ev('worker', 'MachineConfigPool') });
    await core.createNamespacedEvent({ namespace: 'default', body: ev('worker', 'Pod', 'default') });
    const picked = await core.listEventForAllNamespaces({ fieldSelector: 'involvedObject.name=worker,involvedObject.namespace=,involvedObject.kind=MachineConfigPool' });
    assert.deepEqual(picked.items.map((e) => e.involvedObject.kind), ['MachineConfigPool']);
    const bad = await statusOf(core.listEventForAllNamespaces({ fieldSelector: 'spec.foo=1' }));
    assert.deepEqual([bad.code, bad.message], [400, 'field label not supported: spec.foo']);
  });

  test('the status subresource: status writes leave spec and generation alone, main-endpoint writes leave status alone', async () => {
    const pool = { apiVersion: 'machineconfiguration.openshift.io/v1', kind: 'MachineConfigPool', metadata: { name: 'infra' }, spec: { paused: false } };
    const mcp = { group: MC.group, version: 'v1', plural: 'machineconfigpools' };
    await custom.createClusterCustomObject({ ...mcp, body: pool });
    const s = (await custom.patchClusterCustomObjectStatus({ ...mcp, name: 'infra', body: { spec: { paused: true }, status: { machineCount: 3 } } }, mergePatch)) as {
      metadata: { generation: number };
      spec: { paused: boolean };
      status: { machineCount: number };
    };
    assert.deepEqual([s.metadata.generation, s.spec.paused, s.status.machineCount], [1, false, 3]);
    const m = (await custom.patchClusterCustomObject({ ...mcp, name: 'infra', body: { spec: { paused: true }, status: { machineCount: 9 } } }, mergePatch)) as typeof s;
    assert.deepEqual([m.metadata.generation, m.spec.paused, m.status.machineCount], [2, true, 3]);
  });

  test('a node token may read pools but is refused (403) writing MachineConfigs; a forged token gets 401', async () => {
    const asNode = clientKubeConfig(api, api.tokens.node('worker-0')).makeApiClient(k8s.CustomObjectsApi);
    await asNode.listClusterCustomObject({ ...MC, plural: 'machineconfigpools' });
    const denied = await statusOf(asNode.createClusterCustomObject({ ...MC, body: { apiVersion: 'machineconfiguration.openshift.io/v1', kind: 'MachineConfig', metadata: { name: 'x' } } }));
    assert.deepEqual([denied.code, denied.reason], [403, 'Forbidden']);
    assert.match(denied.message, /User "system:node:worker-0" cannot create resource "machineconfigs"/);
    const forged = clientKubeConfig(api, `${api.tokens.admin.split('.')[0]}.${'A'.repeat(43)}`).makeApiClient(k8s.CoreV1Api);
    // client-node hands no body for a 401 (its OpenAPI spec declares none): the code is the contract.
    await assert.rejects(forged.listNamespace(), (e: unknown) => e instanceof k8s.ApiException && e.code === 401);
  });
});

describe('mco apiserver: drain support and CRDs defined through the API', () => {
  let api: TestApiServer;
  let kc: k8s.KubeConfig;
  const teardown: (() => unknown)[] = [];
  after(async () => {
    for (const fn of teardown) await fn();
  });
  before(async () => {
    api = await startApiServer({ after: (fn) => teardown.push(fn) });
    kc = clientKubeConfig(api, api.tokens.admin);
  });

  test('a node lists the pods bound to it and evicts them, but may not evict pods of another node', async () => {
    const core = kc.makeApiClient(k8s.CoreV1Api);
    const pod = (name: string, nodeName: string): k8s.V1Pod => ({ metadata: { name }, spec: { nodeName, containers: [{ name: 'c', image: 'quay.io/x/y:1' }] } });
    await core.createNamespacedPod({ namespace: 'default', body: pod('on-0', 'worker-0') });
    await core.createNamespacedPod({ namespace: 'default', body: pod('on-1', 'worker-1') });
    const asNode = clientKubeConfig(api, api.tokens.node('worker-0')).makeApiClient(k8s.CoreV1Api);
    const mine = await asNode.listPodForAllNamespaces({ fieldSelector: 'spec.nodeName=worker-0,status.phase!=Succeeded,status.phase!=Failed' });
    assert.deepEqual(mine.items.map((p) => [p.metadata!.name, p.status!.phase]), [['on-0', 'Pending']]);
    await asNode.createNamespacedPodEviction({ namespace: 'default', name: 'on-0', body: { metadata: { name: 'on-0', namespace: 'default' } } });
    const denied = await statusOf(asNode.createNamespacedPodEviction({ namespace: 'default', name: 'on-1', body: { metadata: { name: 'on-1', namespace: 'default' } } }));
    assert.equal(denied.code, 403);
    assert.match(denied.message, /node "worker-0" may only evict pods bound to it/);
    const left = await core.listNamespacedPod({ namespace: 'default' });
    assert.deepEqual(left.items.map((p) => p.metadata!.name), ['on-1']);
  });

  test('a CRD created through the API is served at once, validates its objects, and takes them along when deleted', async () => {
    const ext = kc.makeApiClient(k8s.ApiextensionsV1Api);
    await ext.createCustomResourceDefinition({
      body: {
        metadata: { name: 'widgets.example.com' },
        spec: {
          group: 'example.com',
          scope: 'Namespaced',
          names: { plural: 'widgets', singular: 'widget', kind: 'Widget', shortNames: ['wd'] },
          versions: [{ name: 'v1', served: true, storage: true, schema: { openAPIV3Schema: { type: 'object', properties: { spec: { type: 'object', properties: { size: { type: 'integer' } } } } } } }],
        },
      },
    });
    const custom = kc.makeApiClient(k8s.CustomObjectsApi);
    const w = { group: 'example.com', version: 'v1', plural: 'widgets', namespace: 'default' };
    await custom.createNamespacedCustomObject({ ...w, body: { apiVersion: 'example.com/v1', kind: 'Widget', metadata: { name: 'w1' }, spec: { size: 3 } } });
    const bad = await statusOf(custom.createNamespacedCustomObject({ ...w, body: { apiVersion: 'example.com/v1', kind: 'Widget', metadata: { name: 'w2' }, spec: { size: 'big' } } }));
    assert.equal(bad.code, 422);
    assert.match(bad.message, /^Widget "w2" is invalid: spec\.size/);
    const discovered = (await kc.makeApiClient(k8s.CustomObjectsApi).getAPIResources({ group: 'example.com', version: 'v1' })) as unknown as { resources: { name: string; shortNames?: string[] }[] };
    assert.deepEqual(discovered.resources.map((r) => [r.name, r.shortNames]), [['widgets', ['wd']]]);
    await ext.deleteCustomResourceDefinition({ name: 'widgets.example.com' });
    const gone = await statusOf(custom.getNamespacedCustomObject({ ...w, name: 'w1' }));
    assert.equal(gone.code, 404);
  });
});

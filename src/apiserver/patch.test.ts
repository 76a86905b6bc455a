import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PatchError, applyJsonPatch, applyMergePatch, applyStrategicMergePatch } from './patch.js';

const cm = {
  apiVersion: 'v1', kind: 'ConfigMap',
  metadata: { name: 'machine-config-osimageurl', namespace: 'openshift-machine-config-operator', annotations: { 'a/b': 'x' } },
  data: { osImageURL: 'quay.io/old@sha256:4c5b', releaseVersion: '4.6.8' },
};

function rejects(fn: () => unknown, status: number, message: RegExp | string): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof PatchError, `expected a PatchError, got ${String(err)}`);
    assert.equal(err.status, status);
    if (typeof message === 'string') assert.equal(err.message, message);
    else assert.match(err.message, message);
    return true;
  });
}

test('applyMergePatch() applies the seed\'s osImageURL patch and keeps releaseVersion', () => {
  const patched = applyMergePatch(cm, { data: { osImageURL: 'quay.io/new@sha256:8869' } });
  assert.deepEqual((patched as typeof cm).data, { osImageURL: 'quay.io/new@sha256:8869', releaseVersion: '4.6.8' });
  assert.equal(cm.data.osImageURL, 'quay.io/old@sha256:4c5b', 'the target must not be modified');
});

test('applyMergePatch() follows RFC 7386: null removes, arrays and scalars replace', () => {
  assert.deepEqual(applyMergePatch({ a: 'b', c: { d: 'e', f: 'g' }, l: [1, 2] }, { a: 'z', c: { f: null }, l: [3] }), { a: 'z', c: { d: 'e' }, l: [3] });
  assert.deepEqual(applyMergePatch({ a: 1 }, { a: { b: null, c: 1 } }), { a: { c: 1 } });
  assert.deepEqual(applyMergePatch({ a: 1 }, ['x']), ['x']);
  assert.deepEqual(applyMergePatch('text', { a: 1 }), { a: 1 });
});

test('applyJsonPatch() runs add/remove/replace/move/copy/test with ~1 escapes and "-"', () => {
  const patched = applyJsonPatch(cm, [
    { op: 'test', path: '/data/releaseVersion', value: '4.6.8' },
    { op: 'replace', path: '/data/osImageURL', value: 'quay.io/new@sha256:8869' },
    { op: 'add', path: '/metadata/labels', value: { role: 'x' } },
    { op: 'remove', path: '/metadata/annotations/a~1b' },
    { op: 'add', path: '/metadata/finalizers', value: ['one'] },
    { op: 'add', path: '/metadata/finalizers/-', value: 'two' },
    { op: 'add', path: '/metadata/finalizers/0', value: 'zero' },
    { op: 'copy', from: '/data/releaseVersion', path: '/data/copied' },
    { op: 'move', from: '/data/copied', path: '/metadata/labels/version' },
  ]) as Record<string, Record<string, unknown>>;
  assert.deepEqual(patched.data, { osImageURL: 'quay.io/new@sha256:8869', releaseVersion: '4.6.8' });
  assert.deepEqual(patched.metadata!.labels, { role: 'x', version: '4.6.8' });
  assert.deepEqual(patched.metadata!.annotations, {});
  assert.deepEqual(patched.metadata!.finalizers, ['zero', 'one', 'two']);
  assert.deepEqual(cm.metadata.annotations, { 'a/b': 'x' }, 'the target must not be modified');
});

test('applyJsonPatch() answers 422 with the apiserver\'s message when an operation cannot apply, and changes nothing', () => {
  const generic = 'the server rejected our request due to an error in our request';
  rejects(() => applyJsonPatch(cm, [{ op: 'test', path: '/data/releaseVersion', value: '4.6.13' }]), 422, generic);
  rejects(() => applyJsonPatch(cm, [{ op: 'remove', path: '/data/missing' }]), 422, generic);
  rejects(() => applyJsonPatch(cm, [{ op: 'replace', path: '/spec/x', value: 1 }]), 422, generic);
  rejects(() => applyJsonPatch(cm, [{ op: 'add', path: '/metadata/finalizers/5', value: 1 }]), 422, generic);
  rejects(() => applyJsonPatch(cm, [{ op: 'frobnicate', path: '/a' }]), 422, generic);
  // The precise reason travels in `cause` for the server log.
  try {
    applyJsonPatch(cm, [{ op: 'add', path: '/data/x', value: 1 }, { op: 'test', path: '/data/releaseVersion', value: '4.6.13' }]);
    assert.fail('expected a PatchError');
  } catch (err) {
    assert.match(String((err as Error).cause), /operation 1 \(test \/data\/releaseVersion\): testing value \/data\/releaseVersion failed/);
  }
});

test('applyJsonPatch() answers 400 for a body that is not a list of operations (client-node\'s default content type with an object)', () => {
  rejects(() => applyJsonPatch(cm, { data: { osImageURL: 'x' } }), 400, 'json: cannot unmarshal object into Go value of type jsonpatch.Patch');
});

test('applyStrategicMergePatch() merges a Node\'s conditions by type and its addresses by type', () => {
  const node = {
    metadata: { name: 'worker-0', annotations: { 'machineconfiguration.openshift.io/state': 'Working' } },
    spec: { taints: [{ key: 'a', effect: 'NoSchedule' }] },
    status: {
      conditions: [{ type: 'MemoryPressure', status: 'False' }, { type: 'Ready', status: 'True', reason: 'KubeletReady' }],
      addresses: [{ type: 'InternalIP', address: '10.0.0.1' }, { type: 'Hostname', address: 'worker-0' }],
    },
  };
  const patched = applyStrategicMergePatch(node, {
    metadata: { annotations: { 'machineconfiguration.openshift.io/state': 'Done' } },
    spec: { taints: [{ key: 'b', effect: 'NoExecute' }] },
    status: { conditions: [{ type: 'Ready', status: 'False', reason: 'Rebooting' }], addresses: [{ type: 'ExternalIP', address: '1.2.3.4' }] },
  }, 'Node') as typeof node;
  assert.deepEqual(patched.status.conditions, [{ type: 'MemoryPressure', status: 'False' }, { type: 'Ready', status: 'False', reason: 'Rebooting' }]);
  assert.deepEqual(patched.status.addresses.map((a) => a.type), ['InternalIP', 'Hostname', 'ExternalIP']);
  assert.deepEqual(patched.spec.taints, [{ key: 'b', effect: 'NoExecute' }], 'taints have no merge key: replaced');
  assert.equal(patched.metadata.annotations['machineconfiguration.openshift.io/state'], 'Done');
});

test('applyStrategicMergePatch() handles what `kubectl apply` sends for a Deployment: keyed containers, env, $setElementOrder, $retainKeys', () => {
  const deploy = {
    metadata: { name: 'cluster-version-operator', finalizers: ['a'], ownerReferences: [{ uid: 'u1', name: 'x', kind: 'K', apiVersion: 'v1' }] },
    spec: {
      replicas: 1,
      template: {
        spec: {
          containers: [
            { name: 'cvo', image: 'old', env: [{ name: 'A', value: '1' }, { name: 'B', value: '2' }] },
            { name: 'sidecar', image: 's' },
          ],
          volumes: [{ name: 'v', hostPath: { path: '/x' } }],
        },
      },
    },
  };
  const patched = applyStrategicMergePatch(deploy, {
    metadata: { finalizers: ['b', 'a'], ownerReferences: [{ uid: 'u2', name: 'y', kind: 'K', apiVersion: 'v1' }] },
    spec: {
      template: {
        spec: {
          '$setElementOrder/containers': [{ name: 'cvo' }, { name: 'sidecar' }],
          containers: [{ name: 'cvo', image: 'new', env: [{ name: 'B', $patch: 'delete' }, { name: 'C', value: '3' }] }, { name: 'sidecar', $patch: 'delete' }],
          volumes: [{ name: 'v', $retainKeys: ['emptyDir', 'name'], emptyDir: {} }],
        },
      },
    },
  }, 'Deployment') as typeof deploy;
  assert.deepEqual(patched.spec.template.spec.containers, [{ name: 'cvo', image: 'new', env: [{ name: 'A', value: '1' }, { name: 'C', value: '3' }] }]);
  assert.deepEqual(patched.spec.template.spec.volumes, [{ name: 'v', emptyDir: {} }]);
  assert.deepEqual(patched.metadata.finalizers, ['a', 'b']);
  assert.deepEqual(patched.metadata.ownerReferences.map((o) => o.uid), ['u1', 'u2']);
  assert.equal(patched.spec.replicas, 1);
  assert.ok(!JSON.stringify(patched).includes('$'), 'no directive may reach the stored object');
});

test('applyStrategicMergePatch() honours $patch: replace and delete in maps and lists, and $deleteFromPrimitiveList', () => {
  const pod = { metadata: { labels: { a: '1', b: '2' }, finalizers: ['x', 'y'] }, spec: { containers: [{ name: 'a' }, { name: 'b' }] } };
  assert.deepEqual((applyStrategicMergePatch(pod, { metadata: { labels: { $patch: 'replace', c: '3' } } }, 'Pod') as typeof pod).metadata.labels, { c: '3' });
  assert.deepEqual((applyStrategicMergePatch(pod, { metadata: { labels: { $patch: 'delete' } } }, 'Pod') as typeof pod).metadata, { finalizers: ['x', 'y'] });
  assert.deepEqual((applyStrategicMergePatch(pod, { spec: { containers: [{ name: 'c' }, { $patch: 'replace' }] } }, 'Pod') as typeof pod).spec.containers, [{ name: 'c' }]);
  assert.deepEqual((applyStrategicMergePatch(pod, { metadata: { '$deleteFromPrimitiveList/finalizers': ['x'] } }, 'Pod') as typeof pod).metadata.finalizers, ['y']);
  // ConfigMap data (a plain map) behaves as merge patch: the seed's `kubectl edit` path.
  assert.deepEqual((applyStrategicMergePatch(cm, { data: { osImageURL: 'n', releaseVersion: null } }, 'ConfigMap') as typeof cm).data, { osImageURL: 'n' });
});

test('applyStrategicMergePatch() refuses malformed directives with the apiserver\'s errors', () => {
  rejects(() => applyStrategicMergePatch({}, { spec: { containers: [{ image: 'no-name' }] } }, 'Pod'), 400, 'map: {"image":"no-name"} does not contain declared merge key: name');
  rejects(() => applyStrategicMergePatch({}, { metadata: { $patch: 'explode' } }, 'Pod'), 400, /^unknown patch type: explode in map/);
  rejects(() => applyStrategicMergePatch({}, { spec: { $retainKeys: ['a'], b: 1 } }, 'Pod'), 422, "patch content doesn't match retainKeys list");
  rejects(() => applyStrategicMergePatch({}, [1], 'Pod'), 400, 'invalid JSON document');
});

test('applyJsonPatch() never reaches an object\'s prototype: __proto__ and inherited members are not paths', () => {
  const generic = 'the server rejected our request due to an error in our request';
  rejects(() => applyJsonPatch(cm, [{ op: 'add', path: '/__proto__/polluted', value: 'x' }]), 422, generic);
  rejects(() => applyJsonPatch(cm, [{ op: 'add', path: '/constructor/prototype/polluted', value: 'x' }]), 422, generic);
  rejects(() => applyJsonPatch(cm, [{ op: 'remove', path: '/metadata/hasOwnProperty' }]), 422, generic);
  assert.equal(({} as Record<string, unknown>)['polluted'], undefined);
  assert.equal(typeof Object.prototype.hasOwnProperty, 'function');
});

/**
 * `mco apiserver` driven by the machine's real kubectl, with the seed's commands verbatim
 * (kubectl for oc) and the other everyday verbs. One server for the file: the tests build on
 * each other's state in order, as an administrator's session would.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { needsKubectl, startApiServer, type KubectlResult, type TestApiServer } from './testing.js';

const OPERATOR_NS = 'openshift-machine-config-operator';
const OLD_IMAGE = 'quay.io/openshift-release-dev/ocp-v4.0-art-dev@sha256:1111111111111111111111111111111111111111111111111111111111111111';
const NEW_IMAGE = 'quay.io/openshift-release-dev/ocp-v4.0-art-dev@sha256:2222222222222222222222222222222222222222222222222222222222222222';

const SEED = `apiVersion: machineconfiguration.openshift.io/v1
kind: MachineConfigPool
metadata:
  name: worker
spec:
  machineConfigSelector:
    matchLabels:
      machineconfiguration.openshift.io/role: worker
  nodeSelector:
    matchLabels:
      node-role.kubernetes.io/worker: ""
---
apiVersion: machineconfiguration.openshift.io/v1
kind: MachineConfig
metadata:
  name: 00-worker
  labels:
    machineconfiguration.openshift.io/role: worker
spec:
  osImageURL: "${OLD_IMAGE}"
  config:
    ignition:
      version: 3.1.0
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: machine-config-osimageurl
  namespace: ${OPERATOR_NS}
data:
  osImageURL: "${OLD_IMAGE}"
  releaseVersion: "4.6.0"
---
apiVersion: v1
kind: Namespace
metadata:
  name: openshift-cluster-version
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: cluster-version-operator
  namespace: openshift-cluster-version
spec:
  replicas: 1
  selector:
    matchLabels: {k8s-app: cluster-version-operator}
  template:
    metadata:
      labels: {k8s-app: cluster-version-operator}
    spec:
      containers:
      - name: cluster-version-operator
        image: quay.io/openshift-release-dev/ocp-release:4.6.0
---
apiVersion: v1
kind: Node
metadata:
  name: worker-0
  labels:
    node-role.kubernetes.io/worker: ""
  annotations:
    machineconfiguration.openshift.io/currentConfig: rendered-worker-1
    machineconfiguration.openshift.io/desiredConfig: rendered-worker-1
    machineconfiguration.openshift.io/state: Done
---
apiVersion: v1
kind: Node
metadata:
  name: worker-1
  labels:
    node-role.kubernetes.io/worker: ""
`;

function ok(r: KubectlResult, what: string): string {
  assert.equal(r.status, 0, `${what} failed (status ${r.status}):\n${r.stderr}`);
  return r.stdout;
}

function fails(r: KubectlResult, what: string, stderr: RegExp): void {
  assert.equal(r.status, 1, `${what}: expected exit status 1, got ${r.status}\n${r.stdout}\n${r.stderr}`);
  assert.match(r.stderr, stderr, `${what}: stderr`);
}

/** Collects a child's stdout and stderr; `waitFor` resolves with all stdout so far once it matches. */
function collect(child: import('node:child_process').ChildProcess): { waitFor(pattern: RegExp, ms?: number): Promise<string> } {
  let out = '';
  let err = '';
  const waiters = new Set<() => void>();
  child.stdout!.on('data', (c: Buffer) => {
    out += c.toString();
    for (const w of waiters) w();
  });
  child.stderr!.on('data', (c: Buffer) => (err += c.toString()));
  return {
    waitFor: (pattern, ms = 20_000) =>
      new Promise((resolve, reject) => {
        const check = (): void => {
          if (!pattern.test(out)) return;
          waiters.delete(check);
          clearTimeout(timer);
          resolve(out);
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`timed out waiting for ${pattern} in:\n${out}\nstderr:\n${err}`));
        }, ms);
        waiters.add(check);
        check();
      }),
  };
}

describe('mco apiserver with the real kubectl', needsKubectl, () => {
  let api: TestApiServer;
  let dir: string;
  const kubectl = (args: string[], opts?: Parameters<TestApiServer['kubectl']>[1]): KubectlResult => api.kubectl(args, opts);

  const teardown: (() => unknown)[] = [];
  after(async () => {
    for (const fn of teardown) await fn();
  });
  before(async () => {
    api = await startApiServer({ after: (fn) => teardown.push(fn) });
    dir = fs.mkdtempSync(join(tmpdir(), 'mco-kubectl-'));
    teardown.push(() => fs.rmSync(dir, { recursive: true, force: true }));
    fs.writeFileSync(join(dir, 'seed.yaml'), SEED);
  });

  test('kubectl get ns lists the system namespaces and the operator namespace from the manifests, over HTTPS with a bearer token', () => {
    const out = ok(kubectl(['get', 'ns']), 'get ns');
    for (const ns of ['default', 'kube-system', OPERATOR_NS]) assert.match(out, new RegExp(`^${ns}\\s+Active`, 'm'));
    assert.match(ok(kubectl(['version']), 'version'), /Server Version: v1\.32\./);
  });

  test('kubectl apply -f creates the seed objects, and a second apply changes nothing', () => {
    const out = ok(kubectl(['apply', '-f', join(dir, 'seed.yaml')]), 'apply');
    assert.match(out, /machineconfigpool\.machineconfiguration\.openshift\.io\/worker created/);
    assert.match(out, /machineconfig\.machineconfiguration\.openshift\.io\/00-worker created/);
    assert.match(out, /configmap\/machine-config-osimageurl created/);
    assert.match(out, /deployment\.apps\/cluster-version-operator created/);
    const again = ok(kubectl(['apply', '-f', join(dir, 'seed.yaml')]), 'second apply');
    assert.equal(again.match(/ unchanged$/gm)?.length, 7, again);
  });

  test('kubectl get mc and get mcp print the real printer columns', () => {
    const mc = ok(kubectl(['get', 'mc']), 'get mc');
    assert.match(mc, /^NAME\s+GENERATEDBYCONTROLLER\s+IGNITIONVERSION\s+AGE$/m);
    assert.match(mc, /^00-worker\s+3\.1\.0\s+\S+$/m);
    const mcp = ok(kubectl(['get', 'mcp']), 'get mcp');
    assert.match(mcp, /^NAME\s+CONFIG\s+UPDATED\s+UPDATING\s+DEGRADED\s+MACHINECOUNT\s+READYMACHINECOUNT\s+UPDATEDMACHINECOUNT\s+DEGRADEDMACHINECOUNT\s+AGE$/m);
    assert.match(mcp, /^worker\s/m);
    const nodes = ok(kubectl(['get', 'nodes', '-l', 'node-role.kubernetes.io/worker']), 'get nodes -l');
    assert.match(nodes, /^worker-0\s/m);
    assert.match(nodes, /^worker-1\s/m);
  });

  test('kubectl describe mcp worker shows the pool and its (empty) events', () => {
    const out = ok(kubectl(['describe', 'mcp', 'worker']), 'describe');
    assert.match(out, /^Name:\s+worker$/m);
    assert.match(out, /^Kind:\s+MachineConfigPool$/m);
    assert.match(out, /machineconfiguration\.openshift\.io\/role:\s+worker/);
    assert.match(out, /^Events:\s+<none>$/m);
  });

  test('kubectl get mc -o yaml NAME | grep osImageURL shows the image', () => {
    const yaml = ok(kubectl(['get', 'mc', '-o', 'yaml', '00-worker']), 'get -o yaml');
    const lines = yaml.split('\n').filter((l) => l.includes('osImageURL'));
    assert.ok(lines.some((l) => l.trim() === `osImageURL: ${OLD_IMAGE}`), lines.join('\n'));
  });

  test('kubectl patch cm --type=merge changes osImageURL; the same patch again reports no change', () => {
    const patch = JSON.stringify({ data: { osImageURL: NEW_IMAGE } });
    const args = ['patch', 'cm', '-n', OPERATOR_NS, 'machine-config-osimageurl', '--type=merge', '-p', patch];
    assert.equal(ok(kubectl(args), 'patch').trim(), 'configmap/machine-config-osimageurl patched');
    assert.equal(ok(kubectl(args), 'patch again').trim(), 'configmap/machine-config-osimageurl patched (no change)');
    const yaml = ok(kubectl(['get', '-o', 'yaml', 'cm', '-n', OPERATOR_NS, 'machine-config-osimageurl']), 'get cm');
    assert.match(yaml, new RegExp(`osImageURL: ${NEW_IMAGE.replace(/[.]/g, '\\.')}`));
    assert.match(yaml, /releaseVersion: 4\.6\.0/);
  });

  test('kubectl -n openshift-cluster-version scale --replicas=0 deploy/cluster-version-operator sets replicas through /scale', () => {
    const out = ok(kubectl(['-n', 'openshift-cluster-version', 'scale', '--replicas=0', 'deploy/cluster-version-operator']), 'scale');
    assert.equal(out.trim(), 'deployment.apps/cluster-version-operator scaled');
    const got = ok(kubectl(['-n', 'openshift-cluster-version', 'get', 'deploy', 'cluster-version-operator', '-o', 'jsonpath={.spec.replicas} {.metadata.generation}']), 'get');
    assert.equal(got, '0 2', 'replicas 0, generation bumped by the spec change');
  });

  test('kubectl edit with a scripted EDITOR writes the change and bumps generation', () => {
    const editor = join(dir, 'editor.sh');
    fs.writeFileSync(editor, '#!/bin/sh\nsed -i "s/^spec:$/spec:\\n  paused: true/" "$1"\n', { mode: 0o755 });
    const out = ok(kubectl(['edit', 'mcp', 'worker'], { env: { EDITOR: editor } }), 'edit');
    assert.match(out, /machineconfigpool\.machineconfiguration\.openshift\.io\/worker edited/);
    assert.equal(ok(kubectl(['get', 'mcp', 'worker', '-o', 'jsonpath={.spec.paused} {.metadata.generation}']), 'get'), 'true 2');
  });

  test('kubectl label and annotate set metadata that selectors and -o jsonpath see', () => {
    assert.match(ok(kubectl(['label', 'mc', '00-worker', 'team=os']), 'label'), /00-worker labeled/);
    assert.match(ok(kubectl(['annotate', 'mcp', 'worker', 'example.com/owner=alice']), 'annotate'), /worker annotated/);
    assert.match(ok(kubectl(['get', 'mc', '-l', 'team=os', '-o', 'name']), 'get -l'), /^machineconfig\.machineconfiguration\.openshift\.io\/00-worker$/m);
    assert.equal(ok(kubectl(['get', 'mc', '-l', 'team!=os', '-o', 'name']), 'get -l !=').trim(), '');
    assert.equal(ok(kubectl(['get', 'mcp', 'worker', '-o', 'jsonpath={.metadata.annotations.example\\.com/owner}']), 'get'), 'alice');
    assert.match(ok(kubectl(['label', 'mc', '00-worker', 'team-']), 'unlabel'), /00-worker unlabeled/);
  });

  test('kubectl get -w prints a new row when the pool changes', async () => {
    const watch = api.spawnKubectl(['get', 'mcp', '-w']);
    const output = collect(watch);
    try {
      await output.waitFor(/^worker\s/m);
      ok(kubectl(['label', 'mcp', 'worker', 'watched=yes']), 'label');
      const out = await output.waitFor(/^worker\s[^\n]*\n[^]*^worker\s/m);
      assert.equal(out.match(/^NAME\s/gm)?.length, 1, `the header is printed once:\n${out}`);
    } finally {
      watch.kill();
    }
  });

  test('kubectl wait --for=condition=Updated mcp/worker returns once the status says so, and times out otherwise', async () => {
    const timedOut = kubectl(['wait', '--for=condition=Updated', 'mcp/worker', '--timeout=1s']);
    fails(timedOut, 'wait without the condition', /timed out waiting for the condition on machineconfigpools\/worker/);

    const wait = api.spawnKubectl(['wait', '--for=condition=Updated', 'mcp/worker', '--timeout=30s']);
    const exited = once(wait, 'exit');
    const output = collect(wait).waitFor(/condition met/);
    // The main endpoint ignores status (a subresource): only /status sets it.
    const status = { status: { observedGeneration: 2, conditions: [{ type: 'Updated', status: 'True', reason: '', message: 'All nodes are updated with rendered-worker-1' }] } };
    assert.match(ok(kubectl(['patch', 'mcp', 'worker', '--type=merge', '-p', JSON.stringify(status)]), 'patch main'), /patched \(no change\)/);
    ok(kubectl(['patch', 'mcp', 'worker', '--subresource=status', '--type=merge', '-p', JSON.stringify(status)]), 'patch status');
    assert.match(await output, /machineconfigpool\.machineconfiguration\.openshift\.io\/worker condition met/);
    assert.deepEqual(await exited, [0, null]);
  });

  test('kubectl patch without --type on a custom resource is refused with 415, as real servers do', () => {
    fails(kubectl(['patch', 'mcp', 'worker', '-p', '{"spec":{"paused":false}}']), 'SMP on a CR', /application\/strategic-merge-patch\+json is not supported by machineconfiguration\.openshift\.io\/v1, Kind=MachineConfigPool/);
  });

  test('an invalid MachineConfigPool is refused with 422 naming the field, and nothing is stored', () => {
    const bad = join(dir, 'bad-pool.yaml');
    fs.writeFileSync(bad, 'apiVersion: machineconfiguration.openshift.io/v1\nkind: MachineConfigPool\nmetadata:\n  name: infra\nspec:\n  paused: "yes"\n');
    fails(kubectl(['apply', '-f', bad]), 'apply bad pool', /The MachineConfigPool "infra" is invalid: spec\.paused/);
    fails(kubectl(['get', 'mcp', 'infra']), 'get', /NotFound.*"infra" not found/);
  });

  test('a body that is not JSON is a 400 naming the parse error, and nothing is stored', () => {
    const bad = join(dir, 'bad.json');
    fs.writeFileSync(bad, '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"half"');
    fails(kubectl(['create', '--raw', '/api/v1/namespaces/default/configmaps', '-f', bad]), 'create --raw', /BadRequest.*could not be decoded as JSON/);
    fails(kubectl(['get', 'cm', '-n', 'default', 'half']), 'get', /"half" not found/);
  });

  test('kubectl delete waits for finalizers, and a deleted object is gone', async () => {
    ok(kubectl(['patch', 'mc', '00-worker', '--type=merge', '-p', '{"metadata":{"finalizers":["example.com/hold"]}}']), 'add finalizer');
    const generation = Number(ok(kubectl(['get', 'mc', '00-worker', '-o', 'jsonpath={.metadata.generation}']), 'generation'));
    const del = api.spawnKubectl(['delete', 'mc', '00-worker', '--timeout=30s']);
    const exited = once(del, 'exit');
    const deleted = collect(del).waitFor(/"00-worker" deleted/);
    // The object stays, terminating, until its finalizer is removed.
    let ts = '';
    for (let i = 0; i < 100 && !ts; i++) {
      ts = ok(kubectl(['get', 'mc', '00-worker', '-o', 'jsonpath={.metadata.deletionTimestamp}']), 'get terminating');
      if (!ts) await new Promise((r) => setTimeout(r, 100));
    }
    assert.match(ts, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    // Marked for deletion is a change controllers observe, as in kube: the generation moves.
    assert.equal(Number(ok(kubectl(['get', 'mc', '00-worker', '-o', 'jsonpath={.metadata.generation}']), 'generation')), generation + 1);
    ok(kubectl(['patch', 'mc', '00-worker', '--type=json', '-p', '[{"op":"remove","path":"/metadata/finalizers"}]']), 'remove finalizer');
    await deleted;
    assert.deepEqual(await exited, [0, null]);
    fails(kubectl(['get', 'mc', '00-worker']), 'get deleted', /Error from server \(NotFound\): machineconfigs\.machineconfiguration\.openshift\.io "00-worker" not found/);
    assert.match(ok(kubectl(['delete', 'cm', '-n', OPERATOR_NS, 'machine-config-osimageurl']), 'delete cm'), /configmap "machine-config-osimageurl" deleted/);
  });

  test('kubectl drain cordons the node and evicts the pods bound to it', () => {
    const pod = join(dir, 'pod.yaml');
    fs.writeFileSync(pod, 'apiVersion: v1\nkind: Pod\nmetadata: {name: router, namespace: default}\nspec:\n  nodeName: worker-1\n  containers: [{name: router, image: quay.io/openshift/router:4.6}]\n');
    ok(kubectl(['apply', '-f', pod]), 'create pod');
    const out = ok(kubectl(['drain', 'worker-1', '--force', '--timeout=20s']), 'drain');
    assert.match(out, /node\/worker-1 cordoned/);
    assert.match(out, /pod\/router evicted/);
    assert.match(out, /node\/worker-1 drained/);
    assert.match(ok(kubectl(['get', 'node', 'worker-1']), 'get node'), /SchedulingDisabled/);
    assert.equal(ok(kubectl(['get', 'pods', '-A', '-o', 'name']), 'get pods').trim(), '');
    assert.match(ok(kubectl(['uncordon', 'worker-1']), 'uncordon'), /node\/worker-1 uncordoned/);
  });

  test('kubectl create configmap, secret generic, deployment and namespace (protobuf bodies) store what was asked', () => {
    assert.equal(ok(kubectl(['create', 'namespace', 'apps']), 'create ns').trim(), 'namespace/apps created');
    assert.match(ok(kubectl(['get', 'ns', 'apps']), 'get ns'), /^apps\s+Active\s/m);
    assert.equal(ok(kubectl(['create', 'configmap', '-n', 'apps', 'settings', '--from-literal=a=1', '--from-literal=b=two']), 'create cm').trim(), 'configmap/settings created');
    assert.equal(ok(kubectl(['get', 'cm', '-n', 'apps', 'settings', '-o', 'jsonpath={.data.a} {.data.b}']), 'get cm'), '1 two');
    assert.equal(ok(kubectl(['create', 'secret', 'generic', '-n', 'apps', 'pull', '--from-literal=password=s3cr3t']), 'create secret').trim(), 'secret/pull created');
    assert.equal(Buffer.from(ok(kubectl(['get', 'secret', '-n', 'apps', 'pull', '-o', 'jsonpath={.data.password}']), 'get secret'), 'base64').toString(), 's3cr3t');
    assert.equal(ok(kubectl(['create', 'deployment', '-n', 'apps', 'web', '--image=quay.io/example/web:1', '--port=8080', '--replicas=2', '--', 'serve', '--quiet']), 'create deploy').trim(), 'deployment.apps/web created');
    const deploy = JSON.parse(ok(kubectl(['get', 'deploy', '-n', 'apps', 'web', '-o', 'json']), 'get deploy')) as { spec: { replicas: number; selector: unknown; template: { spec: { containers: unknown[] } } } };
    assert.equal(deploy.spec.replicas, 2);
    assert.deepEqual(deploy.spec.selector, { matchLabels: { app: 'web' } });
    assert.deepEqual(deploy.spec.template.spec.containers, [{ name: 'web', image: 'quay.io/example/web:1', command: ['serve', '--quiet'], ports: [{ containerPort: 8080 }], resources: {} }]);
  });

  test('writes record managedFields as kube does: kubectl get -o yaml hides them, --show-managed-fields shows who owns what', () => {
    const file = join(dir, 'owned.yaml');
    fs.writeFileSync(file, `apiVersion: v1\nkind: ConfigMap\nmetadata: {name: owned, namespace: ${OPERATOR_NS}}\ndata: {osImageURL: "${OLD_IMAGE}", releaseVersion: "4.6.0"}\n`);
    ok(kubectl(['apply', '-f', file]), 'apply');
    ok(kubectl(['patch', 'cm', '-n', OPERATOR_NS, 'owned', '--type=merge', '-p', JSON.stringify({ data: { osImageURL: NEW_IMAGE } })]), 'patch');
    assert.doesNotMatch(ok(kubectl(['get', 'cm', '-n', OPERATOR_NS, 'owned', '-o', 'yaml']), 'get'), /managedFields/);
    const shown = ok(kubectl(['get', 'cm', '-n', OPERATOR_NS, 'owned', '-o', 'yaml', '--show-managed-fields']), 'get --show-managed-fields');
    assert.match(shown, /  - apiVersion: v1\n    fieldsType: FieldsV1\n    fieldsV1:\n      f:data:\n        f:osImageURL: \{\}\n    manager: kubectl-patch\n    operation: Update\n    time: "\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"\n/);
    assert.match(shown, /f:releaseVersion: \{\}\n[^]*manager: kubectl-client-side-apply\n    operation: Update/);
  });

  test('kubectl apply --server-side applies the manifests twice; a second manager is refused on a conflict unless --force-conflicts', () => {
    const manifests = fileURLToPath(new URL('../../../manifests/', import.meta.url));
    for (const round of ['first', 'second']) assert.match(ok(kubectl(['apply', '--server-side', '-f', manifests]), `${round} apply`), /customresourcedefinition\.apiextensions\.k8s\.io\/machineconfigpools\.machineconfiguration\.openshift\.io serverside-applied/);
    const mc = (args: string): string => `apiVersion: machineconfiguration.openshift.io/v1\nkind: MachineConfig\nmetadata: {name: 99-worker-kargs}\nspec:\n  config: {ignition: {version: 3.1.0}}\n  kernelArguments: [${args}]\n`;
    fs.writeFileSync(join(dir, 'kargs.yaml'), mc('nosmt, "console=ttyS0"'));
    fs.writeFileSync(join(dir, 'kargs-other.yaml'), mc('quiet'));
    for (const round of ['first', 'second']) assert.match(ok(kubectl(['apply', '--server-side', '-f', join(dir, 'kargs.yaml')]), `${round} apply`), /machineconfig\.machineconfiguration\.openshift\.io\/99-worker-kargs serverside-applied/);
    fails(kubectl(['apply', '--server-side', '--field-manager=gitops', '-f', join(dir, 'kargs-other.yaml')]), 'second manager', /error: Apply failed with 1 conflict: conflict with "kubectl": \.spec\.kernelArguments/);
    assert.equal(ok(kubectl(['get', 'mc', '99-worker-kargs', '-o', 'jsonpath={.spec.kernelArguments}']), 'get'), '["nosmt","console=ttyS0"]', 'nothing changed');
    ok(kubectl(['apply', '--server-side', '--field-manager=gitops', '--force-conflicts', '-f', join(dir, 'kargs-other.yaml')]), 'forced');
    assert.equal(ok(kubectl(['get', 'mc', '99-worker-kargs', '-o', 'jsonpath={.spec.kernelArguments} {.metadata.managedFields[*].manager}']), 'get'), '["quiet"] kubectl gitops');
    // The first manager stops applying the field: gitops still owns it, so it stays.
    fs.writeFileSync(join(dir, 'kargs.yaml'), 'apiVersion: machineconfiguration.openshift.io/v1\nkind: MachineConfig\nmetadata: {name: 99-worker-kargs}\nspec:\n  config: {ignition: {version: 3.1.0}}\n');
    ok(kubectl(['apply', '--server-side', '-f', join(dir, 'kargs.yaml')]), 'apply without kernelArguments');
    assert.equal(ok(kubectl(['get', 'mc', '99-worker-kargs', '-o', 'jsonpath={.spec.kernelArguments}']), 'get'), '["quiet"]');
  });

  test('kubectl explain walks the CRD schemas published in OpenAPI v3 (and v2 as JSON carries them too)', () => {
    const field = ok(kubectl(['explain', 'mcp.spec.maxUnavailable']), 'explain mcp.spec.maxUnavailable');
    assert.match(field, /^KIND:\s+MachineConfigPool$/m);
    assert.match(field, /^FIELD: maxUnavailable /m);
    assert.match(field, /DESCRIPTION:\n\s+How many nodes of the pool/);
    assert.match(ok(kubectl(['explain', 'mc.spec']), 'explain mc.spec'), /^  osImageURL\s+<string>$/m);
    assert.match(ok(kubectl(['explain', 'controllerconfig']), 'explain controllerconfig'), /^KIND:\s+ControllerConfig$/m);
    const v2 = JSON.parse(ok(kubectl(['get', '--raw', '/openapi/v2']), 'openapi v2')) as { definitions: Record<string, { 'x-kubernetes-group-version-kind': unknown }> };
    assert.deepEqual(v2.definitions['io.openshift.machineconfiguration.v1.MachineConfigPool']!['x-kubernetes-group-version-kind'], [{ group: 'machineconfiguration.openshift.io', version: 'v1', kind: 'MachineConfigPool' }]);
  });

  test('kubectl auth can-i answers from the server\'s rules: the admin may, a node may patch only its own Node and read no secrets', () => {
    assert.equal(ok(kubectl(['auth', 'can-i', 'patch', 'configmaps']), 'admin').trim(), 'yes');
    const node0 = api.tokens.node('worker-0');
    const no = kubectl(['auth', 'can-i', 'patch', 'configmaps', '-n', OPERATOR_NS], { token: node0 });
    assert.equal(no.status, 1);
    assert.equal(no.stdout.trim(), `no - User "system:node:worker-0" cannot patch resource "configmaps" in API group "" in the namespace "${OPERATOR_NS}"`);
    assert.equal(ok(kubectl(['auth', 'can-i', 'patch', 'nodes/worker-0'], { token: node0 }), 'own node').trim(), 'yes');
    assert.match(kubectl(['auth', 'can-i', 'patch', 'nodes/worker-1'], { token: node0 }).stdout, /^no - node "worker-0" may only modify its own Node/);
    assert.match(kubectl(['auth', 'can-i', 'get', 'secrets'], { token: node0 }).stdout, /^no/);
    assert.equal(ok(kubectl(['auth', 'can-i', 'watch', 'mcp'], { token: node0 }), 'watch pools').trim(), 'yes');
    const rules = ok(kubectl(['auth', 'can-i', '--list', '-n', 'kube-node-lease'], { token: node0 }), 'can-i --list');
    assert.match(rules, /^leases\.coordination\.k8s\.io\s+\[\]\s+\[\]\s+\[get list watch create delete patch update\]$/m);
    assert.match(rules, /^nodes\s+\[\]\s+\[worker-0\]\s+\[patch update\]$/m);
  });

  test('kubectl get leases -A prints each lease with its holder', () => {
    const lease = join(dir, 'lease.yaml');
    fs.writeFileSync(lease, `apiVersion: coordination.k8s.io/v1\nkind: Lease\nmetadata: {name: machine-config, namespace: ${OPERATOR_NS}}\nspec: {holderIdentity: ctrl-a_1234, leaseDurationSeconds: 137}\n`);
    ok(kubectl(['apply', '-f', lease]), 'create lease');
    const out = ok(kubectl(['get', 'leases', '-A']), 'get leases -A');
    assert.match(out, /^NAMESPACE\s+NAME\s+HOLDER\s+AGE$/m);
    assert.match(out, new RegExp(`^${OPERATOR_NS}\\s+machine-config\\s+ctrl-a_1234\\s+\\d+s$`, 'm'));
  });

  test('kubectl delete ns shows the namespace Terminating while content with finalizers remains, then it goes', () => {
    const file = join(dir, 'team.yaml');
    fs.writeFileSync(file, 'apiVersion: v1\nkind: Namespace\nmetadata: {name: team}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: held, namespace: team, finalizers: [example.com/hold]}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: plain, namespace: team}\n');
    ok(kubectl(['apply', '-f', file]), 'create');
    assert.match(ok(kubectl(['delete', 'ns', 'team', '--wait=false']), 'delete ns'), /namespace "team" deleted/);
    assert.match(ok(kubectl(['get', 'ns', 'team']), 'get ns'), /^team\s+Terminating\s/m);
    assert.equal(ok(kubectl(['get', 'cm', '-n', 'team', '-o', 'name']), 'get cm').trim(), 'configmap/held');
    fs.writeFileSync(join(dir, 'late.yaml'), 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: late, namespace: team}\n');
    fails(kubectl(['apply', '-f', join(dir, 'late.yaml')]), 'create in terminating', /configmaps "late" is forbidden: unable to create new content in namespace team because it is being terminated/);
    ok(kubectl(['patch', 'cm', '-n', 'team', 'held', '--type=merge', '-p', '{"metadata":{"finalizers":null}}']), 'release');
    fails(kubectl(['get', 'ns', 'team']), 'get ns after', /namespaces "team" not found/);
  });

  test('an unknown token is refused with 401', () => {
    fails(kubectl(['get', 'mcp'], { token: 'bm90LWEtdXNlcg.Zm9yZ2Vk' }), 'bogus token', /You must be logged in to the server \(Unauthorized\)/);
  });

  test('a node may update its own state annotation but not another node, the controller-owned desiredConfig, or MachineConfigs', () => {
    const node0 = api.tokens.node('worker-0');
    ok(kubectl(['annotate', '--overwrite', 'node', 'worker-0', 'machineconfiguration.openshift.io/state=Working'], { token: node0 }), 'own state');
    ok(kubectl(['get', 'mcp', 'worker'], { token: node0 }), 'a node reads pools');
    fails(
      kubectl(['annotate', '--overwrite', 'node', 'worker-1', 'machineconfiguration.openshift.io/state=Working'], { token: node0 }),
      'other node',
      /Error from server \(Forbidden\): nodes "worker-1" is forbidden: node "worker-0" is not allowed to modify node "worker-1"/,
    );
    fails(
      kubectl(['annotate', '--overwrite', 'node', 'worker-0', 'machineconfiguration.openshift.io/desiredConfig=rendered-worker-2'], { token: node0 }),
      'desiredConfig',
      /Forbidden.*not allowed to modify annotation "machineconfiguration\.openshift\.io\/desiredConfig"/,
    );
    fails(
      kubectl(['delete', 'mcp', 'worker'], { token: node0 }),
      'delete pool',
      /Error from server \(Forbidden\): machineconfigpools\.machineconfiguration\.openshift\.io "worker" is forbidden: User "system:node:worker-0" cannot delete resource "machineconfigpools" in API group "machineconfiguration\.openshift\.io" at the cluster scope/,
    );
    assert.equal(ok(kubectl(['get', 'node', 'worker-0', '-o', 'jsonpath={.metadata.annotations.machineconfiguration\\.openshift\\.io/desiredConfig}']), 'get'), 'rendered-worker-1');
    ok(kubectl(['annotate', '--overwrite', 'node', 'worker-1', 'machineconfiguration.openshift.io/desiredConfig=rendered-worker-2'], { token: api.tokens.controller }), 'the controller sets desiredConfig');
  });
});

test('objects, the CA and tokens survive a restart of mco apiserver on the same data directory', needsKubectl, async (t) => {
  const home = fs.mkdtempSync(join(tmpdir(), 'mco-restart-'));
  t.after(() => fs.rmSync(home, { recursive: true, force: true }));
  const dataDir = join(home, 'data');
  const first = await startApiServer(t, { dataDir });
  const cm = join(dataDir, '..', 'keep.yaml');
  fs.writeFileSync(cm, 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: keep, namespace: default}\ndata: {a: "1"}\n');
  ok(first.kubectl(['apply', '-f', cm]), 'create');
  const rv = Number(ok(first.kubectl(['get', 'cm', '-n', 'default', 'keep', '-o', 'jsonpath={.metadata.resourceVersion}']), 'rv'));
  const token = first.tokens.node('worker-0');
  await first.stop();

  const second = await startApiServer(t, { dataDir });
  assert.equal(second.caCert, first.caCert, 'the CA is kept');
  assert.equal(ok(second.kubectl(['get', 'cm', '-n', 'default', 'keep', '-o', 'jsonpath={.data.a}']), 'get after restart'), '1');
  ok(second.kubectl(['get', 'mcp'], { token }), 'a token minted before the restart still works');
  ok(second.kubectl(['label', 'cm', '-n', 'default', 'keep', 'x=y']), 'label');
  const rv2 = Number(ok(second.kubectl(['get', 'cm', '-n', 'default', 'keep', '-o', 'jsonpath={.metadata.resourceVersion}']), 'rv'));
  assert.ok(rv2 > rv, `resourceVersion keeps increasing across restarts (${rv} then ${rv2})`);
});

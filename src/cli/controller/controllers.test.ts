/**
 * The operator and the controller against `mco apiserver`, with scripted fake node agents
 * flipping the daemon's annotations with delays: the seed's cluster-wide flow (patch the
 * osImageURL ConfigMap → rendered configs → node-by-node rollout within maxUnavailable), a
 * degraded node halting it and a revert recovering it, pause, a refused releaseVersion, a bad
 * MachineConfig, and a leader killed mid-rollout. Real kubectl reads the results.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import * as k8s from '@kubernetes/client-node';
import { createKlog } from '../../api/klog.js';
import { CURRENT_CONFIG_ANNOTATION, DESIRED_CONFIG_ANNOTATION, MCO_NAMESPACE, OSIMAGEURL_CONFIGMAP, STATE_ANNOTATION } from '../../api/node.js';
import type { MachineConfigPool } from '../../api/machineconfigpool.js';
import { CONTROLLER_CONFIG_NAME, type ControllerConfig } from '../../api/controllerconfig.js';
import { needsKubectl, startApiServer, type TestApiServer } from '../../apiserver/testing.js';
import { startFakeAgents, type FakeAgents } from '../../controller/fake-node-agents.js';
import { mergePatch } from '../../api/client.js';
import { CCS, CONFIGS, POOLS } from '../../controller/kube.js';
import { isUnavailable } from '../../controller/rollout.js';
import { runController, runOperator, type Running } from '../../controller/run.js';

const MCO_JS = fileURLToPath(new URL('../mco.js', import.meta.url));
const VERSION = '4.6.8';
const image = (c: string): string => `quay.io/openshift-release-dev/ocp-v4.0-art-dev@sha256:${c.repeat(64)}`;
const WORKERS = ['worker-0', 'worker-1', 'worker-2', 'worker-3', 'worker-4'];
const FAILURE = (img: string): string => `unexpected on-disk state validating against rendered-worker: expected target osImageURL "${img}", have "${image('a')}"`;

function kubeConfig(api: TestApiServer): k8s.KubeConfig {
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(api.kubeconfig);
  return kc;
}

async function until<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined && v !== false) return v;
    } catch (e) {
      // Not there yet (e.g. 404 before the operator created it): probe again.
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? ` (last error: ${String(last)})` : ''}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('operator and controller rolling out the osImageURL ConfigMap', needsKubectl, () => {
  let api: TestApiServer;
  let kc: k8s.KubeConfig;
  let core: k8s.CoreV1Api;
  let custom: k8s.CustomObjectsApi;
  let operator: Running;
  let controller: Running | undefined;
  let agents: FakeAgents;
  const operatorLog: string[] = [];
  /** What the fake agents report for a node reaching a config: a Degraded reason, or nothing for Done. */
  let failure: (node: string, config: string) => string | undefined = () => undefined;
  /** The most worker nodes unavailable at once, as a watcher of the Nodes saw them. */
  let maxSeenUnavailable = 0;
  /** What the controller asked of the OS content cache. */
  const pruneCalls: { url: string; keep: string[] }[] = [];
  let watcher: k8s.Informer<k8s.V1Node> & k8s.ObjectCache<k8s.V1Node>;
  const teardown: (() => unknown)[] = [];
  after(async () => {
    for (const fn of teardown.reverse()) await fn();
  });

  const pool = async (name = 'worker'): Promise<MachineConfigPool> => (await custom.getClusterCustomObject({ ...POOLS, name })) as MachineConfigPool;
  const condition = (p: MachineConfigPool, type: string): string | undefined => p.status?.conditions?.find((c) => c.type === type)?.status;
  const annotation = async (node: string, key: string): Promise<string | undefined> => (await core.readNode({ name: node })).metadata?.annotations?.[key];
  const setConfigMap = (data: Record<string, string>): Promise<unknown> =>
    core.patchNamespacedConfigMap({ namespace: MCO_NAMESPACE, name: OSIMAGEURL_CONFIGMAP, body: { data } }, mergePatch);
  const patchPool = (spec: object): Promise<unknown> => custom.patchClusterCustomObject({ ...POOLS, name: 'worker', body: { spec } }, mergePatch);
  const renderedWorkers = async (): Promise<string[]> =>
    ((await custom.listClusterCustomObject(CONFIGS)) as { items: { metadata: { name: string } }[] }).items.map((m) => m.metadata.name).filter((n) => n.startsWith('rendered-worker-'));
  /** The pool's new target after a ConfigMap change. */
  const newTarget = (old: string): Promise<string> =>
    until(`a new worker target after ${old}`, async () => {
      const t = (await pool()).spec.configuration?.name;
      return t && t !== old ? t : undefined;
    });
  const updatedTo = (target: string, timeoutMs = 60_000): Promise<MachineConfigPool> =>
    until(
      `worker pool updated to ${target}`,
      async () => {
        const p = await pool();
        return p.status?.configuration?.name === target && condition(p, 'Updated') === 'True' ? p : undefined;
      },
      timeoutMs,
    );

  /**
   * kubectl as a child process awaited without blocking: the controllers and agents run in
   * this process and must keep running while kubectl waits.
   */
  const kubectl = (args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> =>
    new Promise((resolve, reject) => {
      const child = api.spawnKubectl(args);
      let stdout = '';
      let stderr = '';
      child.stdout!.on('data', (c: Buffer) => (stdout += c.toString()));
      child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
      child.once('error', reject);
      child.once('close', (status) => resolve({ status, stdout, stderr }));
    });

  before(async () => {
    api = await startApiServer({ after: (fn) => teardown.push(fn) });
    kc = kubeConfig(api);
    core = kc.makeApiClient(k8s.CoreV1Api);
    custom = kc.makeApiClient(k8s.CustomObjectsApi);
    await core.createNamespacedConfigMap({ namespace: MCO_NAMESPACE, body: { metadata: { name: OSIMAGEURL_CONFIGMAP, namespace: MCO_NAMESPACE }, data: { releaseVersion: VERSION, osImageURL: image('a') } } });
    const log = createKlog({ now: () => new Date(), pid: process.pid, write: (l) => operatorLog.push(l) });
    operator = await runOperator({ kubeconfig: kc, releaseVersion: VERSION, metricsListen: '', log, leaseDurationMs: 3000 });
    teardown.push(() => operator.stop());
    const quiet = createKlog({ now: () => new Date(), pid: process.pid, write: () => {} });
    controller = await runController({
      kubeconfig: kc, metricsListen: '127.0.0.1:0', log: quiet, leaseDurationMs: 3000, osContentPruneDelayMs: 50,
      pruneOsContent: async (url, keep) => (pruneCalls.push({ url, keep }), []),
    });
    teardown.push(() => controller?.stop());
    const first = await until('the first worker target', async () => (await pool()).spec.configuration?.name);
    // Nodes join at the pool's config, as the machine-config-server's annotations file puts them.
    for (const name of WORKERS) {
      await core.createNode({
        body: {
          metadata: { name, labels: { 'node-role.kubernetes.io/worker': '' }, annotations: { [CURRENT_CONFIG_ANNOTATION]: first, [DESIRED_CONFIG_ANNOTATION]: first, [STATE_ANNOTATION]: 'Done' } },
          status: { conditions: [{ type: 'Ready', status: 'True' }] },
        },
      });
    }
    agents = await startFakeAgents(kc, WORKERS, { workingAfterMs: 30, doneAfterMs: 250, failure: (node, config) => failure(node, config) });
    teardown.push(() => agents.stop());
    watcher = k8s.makeInformer(kc, '/api/v1/nodes', () => core.listNode());
    const measure = (): void => {
      const n = watcher.list().filter((x) => x.metadata?.labels?.['node-role.kubernetes.io/worker'] !== undefined).filter(isUnavailable).length;
      maxSeenUnavailable = Math.max(maxSeenUnavailable, n);
    };
    watcher.on('add', measure);
    watcher.on('update', measure);
    await watcher.start();
    teardown.push(() => watcher.stop());
    await updatedTo(first);
  });

  test('a 5-node pool at maxUnavailable 2 rolls a new osImageURL out with never more than 2 nodes unavailable; kubectl wait returns at the end', async () => {
    const before = (await pool()).spec.configuration!.name!;
    await patchPool({ maxUnavailable: 2 });
    maxSeenUnavailable = 0;
    const wait = api.spawnKubectl(['wait', 'mcp/worker', '--for=condition=Updated=False', '--timeout=60s']);
    // Listened for now: a fast rollout can end this kubectl before the awaits below are done.
    const waited = new Promise((r) => wait.once('exit', r));
    // The seed's command, with kubectl; and the cluster's OS content cache published beside it.
    const patched = await kubectl(['patch', 'cm', '-n', MCO_NAMESPACE, OSIMAGEURL_CONFIGMAP, '--type=merge', '-p', JSON.stringify({ data: { osImageURL: image('b'), osContentURL: 'http://10.0.0.5:8090' } })]);
    assert.equal(patched.stdout, 'configmap/machine-config-osimageurl patched\n', patched.stderr);
    const target = await newTarget(before);
    assert.match(target, /^rendered-worker-[0-9a-f]{32}$/);
    const rendered = (await custom.getClusterCustomObject({ ...CONFIGS, name: target })) as { spec: { osImageURL: string } };
    assert.equal(rendered.spec.osImageURL, image('b'));
    const cc = (await custom.getClusterCustomObject({ ...CCS, name: CONTROLLER_CONFIG_NAME })) as ControllerConfig;
    assert.equal(cc.spec.osContentURL, 'http://10.0.0.5:8090', 'the operator publishes the cache for the daemons');
    await waited;
    const done = await kubectl(['wait', 'mcp/worker', '--for=condition=Updated', '--timeout=60s']);
    assert.equal(done.status, 0, done.stderr);
    assert.match(done.stdout, /machineconfigpool\.machineconfiguration\.openshift\.io\/worker condition met/);
    const p = await updatedTo(target);
    assert.deepEqual([p.status?.machineCount, p.status?.updatedMachineCount, p.status?.readyMachineCount, p.status?.unavailableMachineCount], [5, 5, 5, 0]);
    for (const n of WORKERS) assert.equal(await annotation(n, CURRENT_CONFIG_ANNOTATION), target);
    assert.equal(maxSeenUnavailable, 2, 'two at a time, never more');
    // The rollout over, the cache is told to keep only what the pools use: the new image.
    const kept = await until('the OS content cache told to keep the new image only', () => pruneCalls.find((c) => c.keep.join() === image('b')));
    assert.equal(kept.url, 'http://10.0.0.5:8090');
    assert.ok(pruneCalls.every((c) => c.keep.includes(image('b'))), `the published image is never let go: ${JSON.stringify(pruneCalls)}`);

    const mcp = await kubectl(['get', 'mcp']);
    assert.match(mcp.stdout, /^NAME\s+CONFIG\s+UPDATED\s+UPDATING\s+DEGRADED\s+MACHINECOUNT\s+READYMACHINECOUNT\s+UPDATEDMACHINECOUNT\s+DEGRADEDMACHINECOUNT\s+AGE\n/);
    assert.match(mcp.stdout, new RegExp(`\\nworker\\s+${target}\\s+True\\s+False\\s+False\\s+5\\s+5\\s+5\\s+0\\s+\\d+[sm]`));
    const mc = await kubectl(['get', 'mc']);
    assert.match(mc.stdout, /^NAME\s+GENERATEDBYCONTROLLER\s+IGNITIONVERSION\s+AGE\n/);
    assert.match(mc.stdout, /\n00-worker\s+0\.1\.0\s+3\.1\.0\s+\d+[sm]\n/);
    assert.match(mc.stdout, new RegExp(`\\n${target}\\s+0\\.1\\.0\\s+3\\.1\\.0\\s+\\d+[sm]`));
    const events = await kubectl(['get', 'events', '-n', 'default', '--field-selector', 'involvedObject.name=worker,reason=SetDesiredConfig', '-o', 'jsonpath={.items[*].message}']);
    assert.match(events.stdout, new RegExp(`Set target for 2 nodes to config ${target}`));
  });

  test('the controller serves the pools\' counts and each node\'s state as Prometheus metrics', async () => {
    const text = await (await fetch(controller!.metricsUrl!)).text();
    assert.match(text, /^mco_machine_count\{pool="worker"\} 5$/m);
    assert.match(text, /^mco_updated_machine_count\{pool="worker"\} 5$/m);
    assert.match(text, /^mco_degraded_machine_count\{pool="worker"\} 0$/m);
    assert.match(text, /^mco_unavailable_machine_count\{pool="worker"\} 0$/m);
    assert.match(text, /^mco_state\{node="worker-0",pool="worker",state="Done",reason=""\} 1$/m);
  });

  test('a node degraded on the target halts the rollout; describe shows its reason; reverting the ConfigMap retargets it and the pool recovers', async () => {
    await patchPool({ maxUnavailable: 1 });
    const good = (await pool()).spec.configuration!.name!;
    // Set before the change: the agent may reach the new target before the test sees its name.
    failure = (node, config) => (node === 'worker-0' && config !== good ? FAILURE(image('c')) : undefined);
    await setConfigMap({ osImageURL: image('c') });
    const bad = await newTarget(good);
    await until('Degraded=True', async () => condition(await pool(), 'Degraded') === 'True');
    // Halted: capacity 1, used by the node failing on the target.
    await new Promise((r) => setTimeout(r, 1500));
    for (const n of WORKERS.slice(1)) assert.equal(await annotation(n, DESIRED_CONFIG_ANNOTATION), good, `${n} was not targeted`);
    const p = await pool();
    assert.deepEqual([p.status?.degradedMachineCount, p.status?.unavailableMachineCount, p.status?.configuration?.name], [1, 0, good]);
    const described = await kubectl(['describe', 'mcp', 'worker']);
    assert.ok(described.stdout.includes(`Node worker-0 is reporting: "unexpected on-disk state validating against rendered-worker: expected target osImageURL \\"${image('c')}\\", have \\"${image('a')}\\""`), described.stdout);
    assert.match(described.stdout, /1 nodes are reporting degraded status on sync/);
    const metrics = await (await fetch(controller!.metricsUrl!)).text();
    assert.match(metrics, /^mco_state\{node="worker-0",pool="worker",state="Degraded",reason="unexpected on-disk state[^"]*/m);

    await setConfigMap({ osImageURL: image('b') });
    const back = await newTarget(bad);
    assert.equal(back, good, 'the same inputs render the same name');
    await updatedTo(good);
    failure = () => undefined;
    const recovered = await pool();
    assert.deepEqual([condition(recovered, 'Degraded'), condition(recovered, 'NodeDegraded'), recovered.status?.degradedMachineCount], ['False', 'False', 0]);
    assert.equal(await annotation('worker-0', DESIRED_CONFIG_ANNOTATION), good, 'retargeted by the controller, no one edited its annotations');
  });

  test('a paused pool renders but targets no node; unpausing continues the rollout', async () => {
    await patchPool({ paused: true, maxUnavailable: '100%' });
    const before = (await pool()).spec.configuration!.name!;
    await setConfigMap({ osImageURL: image('d') });
    const target = await newTarget(before);
    const paused = await until('the paused message', async () => {
      const p = await pool();
      return p.status?.conditions?.find((c) => c.type === 'Updating' && c.message === `Pool is paused; will not update to ${target}`) ? p : undefined;
    });
    assert.equal(condition(paused, 'Updating'), 'False');
    await new Promise((r) => setTimeout(r, 800));
    for (const n of WORKERS) assert.equal(await annotation(n, DESIRED_CONFIG_ANNOTATION), before);
    await patchPool({ paused: false });
    await updatedTo(target);
  });

  test('a ConfigMap with another releaseVersion is refused with the real message; nothing is re-rendered; kubectl get co shows Degraded', async () => {
    const before = await renderedWorkers();
    const target = (await pool()).spec.configuration!.name!;
    await setConfigMap({ releaseVersion: '4.6.13', osImageURL: image('e') });
    const line = await until('the refusal in the operator log', () => operatorLog.find((l) => l.includes('refusing to read')));
    assert.match(line, /^E\d{4} \d\d:\d\d:\d\d\.\d{6} +\d+ operator\.ts:\d+\] refusing to read osImageURL version "4\.6\.13", operator version "4\.6\.8"$/);
    const co = await until('co Degraded', async () => {
      const out = (await kubectl(['get', 'co', 'machine-config'])).stdout;
      return /machine-config\s+4\.6\.8\s+False\s+False\s+True/.test(out) ? out : undefined;
    });
    assert.match(co, /^NAME\s+VERSION\s+AVAILABLE\s+PROGRESSING\s+DEGRADED\s+SINCE\n/);
    const events = await kubectl(['get', 'events', '-n', MCO_NAMESPACE, '--field-selector', `involvedObject.name=${OSIMAGEURL_CONFIGMAP},reason=OSImageURLRefused`, '-o', 'jsonpath={.items[*].message}']);
    assert.match(events.stdout, /data\.releaseVersion: refusing to read osImageURL version "4\.6\.13", operator version "4\.6\.8"/);
    await new Promise((r) => setTimeout(r, 1000));
    assert.deepEqual(await renderedWorkers(), before);
    assert.equal((await pool()).spec.configuration!.name, target);
    await setConfigMap({ releaseVersion: VERSION, osImageURL: image('d') });
    await until('co Available again', async () => /machine-config\s+4\.6\.8\s+True\s+False\s+False/.test((await kubectl(['get', 'co', 'machine-config'])).stdout) || undefined);
  });

  test('a MachineConfig with a relative file path sets RenderDegraded naming it and the field; the target stays; deleting it clears the condition', async () => {
    const target = (await pool()).spec.configuration!.name!;
    await custom.createClusterCustomObject({
      ...CONFIGS,
      body: {
        apiVersion: 'machineconfiguration.openshift.io/v1',
        kind: 'MachineConfig',
        metadata: { name: '50-worker-motd', labels: { 'machineconfiguration.openshift.io/role': 'worker' } },
        spec: { config: { ignition: { version: '3.1.0' }, storage: { files: [{ path: 'etc/motd', contents: { source: 'data:,hi' } }] } } },
      },
    });
    const p = await until('RenderDegraded', async () => {
      const x = await pool();
      return condition(x, 'RenderDegraded') === 'True' ? x : undefined;
    });
    assert.equal(
      p.status?.conditions?.find((c) => c.type === 'RenderDegraded')?.message,
      'Failed to render configuration for pool worker: MachineConfig 50-worker-motd: spec.config.storage.files[0].path: "etc/motd" is not an absolute path',
    );
    assert.equal(condition(p, 'Degraded'), 'True');
    assert.equal(p.spec.configuration?.name, target, 'nothing already rendered or targeted is lost');
    await custom.deleteClusterCustomObject({ ...CONFIGS, name: '50-worker-motd' });
    await until('RenderDegraded cleared', async () => condition(await pool(), 'RenderDegraded') === 'False' || undefined);
  });

  test('mco prune rendered lists, then removes, the rendered configs no pool or node uses; the ones in use stay', async () => {
    const mco = (args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> =>
      new Promise((resolve, reject) => {
        const child = spawn(process.execPath, [MCO_JS, 'prune', 'rendered', '--kubeconfig', api.kubeconfig, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
        let stdout = '';
        let stderr = '';
        child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
        child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
        child.once('error', reject);
        child.once('close', (status) => resolve({ status, stdout, stderr }));
      });
    const target = (await pool()).spec.configuration!.name!;
    const before = await renderedWorkers();
    assert.ok(before.length >= 3, `several rendered worker configs: ${before.join(', ')}`);
    const dry = await mco(['--pool', 'worker']);
    assert.equal(dry.status, 0, dry.stderr);
    assert.match(dry.stdout, /^Dry run enabled - no modifications will be made\. Add --confirm to remove rendered machine configs\.\n/);
    assert.match(dry.stdout, new RegExp(`Skipping rendered MachineConfig ${target}: in use by MachineConfigPool worker spec\\.configuration, MachineConfigPool worker status\\.configuration, Node worker-0 currentConfig`));
    assert.deepEqual(await renderedWorkers(), before, 'a dry run deletes nothing');
    const real = await mco(['--pool', 'worker', '--confirm']);
    assert.equal(real.status, 0, real.stderr);
    assert.deepEqual(await renderedWorkers(), [target]);
    assert.equal(((await custom.listClusterCustomObject(CONFIGS)) as { items: { metadata: { name: string } }[] }).items.filter((m) => m.metadata.name.startsWith('rendered-master-')).length > 0, true, 'other pools untouched');
  });

  test('killing the leading controller mid-rollout loses no progress: the standby takes over within the lease and finishes', async () => {
    await controller!.stop();
    controller = undefined;
    const spawnController = (): ChildProcess => {
      const child = spawn(process.execPath, [MCO_JS, 'controller', 'start', '--kubeconfig', api.kubeconfig, '--metrics-listen', '', '--leader-elect-lease-duration', '2'], { stdio: ['ignore', 'ignore', 'pipe'] });
      let err = '';
      child.stderr!.on('data', (c: Buffer) => (err += c.toString()));
      (child as ChildProcess & { log: () => string }).log = () => err;
      teardown.push(() => child.kill('SIGKILL'));
      return child;
    };
    const first = spawnController();
    const lease = (): Promise<string | undefined> =>
      kc.makeApiClient(k8s.CoordinationV1Api).readNamespacedLease({ name: 'machine-config-controller', namespace: MCO_NAMESPACE }).then((l) => l.spec?.holderIdentity ?? undefined);
    await until('the first controller leading', async () => ((first as ChildProcess & { log: () => string }).log().includes('controllers started') ? true : undefined));
    const leader = await lease();
    const second = spawnController();
    await patchPool({ maxUnavailable: 1 });
    const before = (await pool()).spec.configuration!.name!;
    await setConfigMap({ osImageURL: image('f') });
    const target = await newTarget(before);
    await until('two nodes updated', async () => ((await pool()).status?.updatedMachineCount ?? 0) >= 2 || undefined);
    // A standby is one that has seen the Lease renewed (it then waits one lease duration from its last sight of a renewal).
    await until('the second campaigning', () => ((second as ChildProcess & { log: () => string }).log().includes('attempting to acquire') ? true : undefined));
    await new Promise((r) => setTimeout(r, 600));
    first.kill('SIGKILL');
    const killedAt = Date.now();
    const progress = (await pool()).status?.updatedMachineCount ?? 0;
    const taken = await until('the standby holding the lease', async () => {
      const l = await kc.makeApiClient(k8s.CoordinationV1Api).readNamespacedLease({ name: 'machine-config-controller', namespace: MCO_NAMESPACE });
      return l.spec?.holderIdentity !== leader ? l : undefined;
    }, 20_000);
    // Measured on the Lease (this test process may be slow to look on a loaded machine). The
    // lease is 2 s; the standby checks every 266 ms.
    const tookMs = new Date(taken.spec!.acquireTime!).getTime() - killedAt;
    assert.ok(tookMs < 2000 + 1000, `taken over ${tookMs} ms after the kill, within the lease duration and a retry`);
    await until('the standby leading', async () => ((second as ChildProcess & { log: () => string }).log().includes('controllers started') ? true : undefined), 20_000);
    const p = await updatedTo(target);
    assert.ok((p.status?.updatedMachineCount ?? 0) >= progress);
    for (const n of WORKERS) assert.equal(await annotation(n, CURRENT_CONFIG_ANNOTATION), target);
    second.kill('SIGTERM');
  });
});

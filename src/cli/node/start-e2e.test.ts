/**
 * `machine-config-daemon start` against `mco apiserver`, the embedded registry and a sysroot
 * directory, as the lab runs it: a supervisor "boots" the node (starts the daemon) again
 * whenever the daemon exits 0 after rewriting its kernel command line. desiredConfig is set
 * by hand (as the node controller would). One API server, registry and pair of OS images for
 * the file; each test has its own node.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import * as k8s from '@kubernetes/client-node';
import { startApiServer, type TestApiServer } from '../../apiserver/testing.js';
import { needsRegistryAndSkopeo, startEmbeddedRegistry } from '../../image/testing.js';
import { buildOsImages, installNode, removeSysrootDir, type OsImages, type TestNode } from '../../node/os-images-testing.js';
import { ok, ostree } from '../../ostree/testing.js';
import { bootCommandLine } from '../../sysroot/boot.js';
import { needsOstree } from '../../sysroot/sysroot-fixtures.js';

const DAEMON_JS = fileURLToPath(new URL('../machine-config-daemon.js', import.meta.url));
const skip = needsOstree.skip || needsRegistryAndSkopeo.skip;
const A = 'machineconfiguration.openshift.io/';
const MC = { group: 'machineconfiguration.openshift.io', version: 'v1', plural: 'machineconfigs' };
const mergePatch = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);
const dataUrl = (text: string): string => `data:,${encodeURIComponent(text)}`;

function kubeConfigFor(api: TestApiServer, token: string): k8s.KubeConfig {
  const kc = new k8s.KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'mco', server: api.url, caData: Buffer.from(api.caCert).toString('base64'), skipTLSVerify: false }],
    users: [{ name: 'u', token }],
    contexts: [{ name: 'c', cluster: 'mco', user: 'u' }],
    currentContext: 'c',
  });
  return kc;
}

/** A rendered config: an OS image, files, units, kernel arguments. */
function rendered(name: string, spec: { osImageURL: string; files?: Record<string, string>; units?: object[]; kernelArguments?: string[] }): object {
  return {
    apiVersion: 'machineconfiguration.openshift.io/v1',
    kind: 'MachineConfig',
    metadata: { name },
    spec: {
      osImageURL: spec.osImageURL,
      kernelArguments: spec.kernelArguments ?? [],
      config: {
        ignition: { version: '3.1.0' },
        storage: { files: Object.entries(spec.files ?? {}).map(([path, text]) => ({ path, mode: 0o644, overwrite: true, contents: { source: dataUrl(text) } })) },
        systemd: { units: spec.units ?? [] },
      },
    },
  };
}

/** The daemon of one simulated node, restarted by this supervisor after each reboot (exit 0). */
class NodeDaemon {
  log = '';
  boots = 0;
  private child: ChildProcess | undefined;
  private stopped = false;
  exits: (number | string | null)[] = [];

  constructor(readonly name: string, readonly node: TestNode, private readonly kubeconfig: string, private readonly env: Record<string, string> = {}) {}

  /** Starts (boots) the daemon; `extraEnv` for this run only (e.g. MCO_CRASH_AT). */
  start(extraEnv: Record<string, string> = {}): void {
    this.stopped = false;
    this.boots++;
    const child = spawn(process.execPath, [DAEMON_JS, 'start', `--node-name=${this.name}`, `--kubeconfig=${this.kubeconfig}`, `--sysroot=${this.node.sysroot}`, '--insecure', '--metrics-listen=127.0.0.1:0'], {
      env: {
        ...process.env,
        MCO_KERNEL_CMDLINE_FILE: this.node.cmdline,
        MCO_DAEMON_DRIFT_INTERVAL_MS: '1000',
        MCO_DAEMON_MAX_BACKOFF_MS: '2000',
        MCO_PIVOT_RETRY_DELAYS_MS: '200,200',
        ...this.env,
        ...extraEnv,
      },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    const kill = (): void => void child.kill('SIGKILL');
    process.once('exit', kill);
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (c: string) => (this.log += c));
    child.once('exit', (code, signal) => {
      process.off('exit', kill);
      this.exits.push(code ?? signal);
      this.child = undefined;
      // A reboot: the supervisor boots the node again, as a machine would.
      if (code === 0 && !this.stopped) this.start();
    });
    this.child = child;
  }

  get running(): boolean {
    return this.child !== undefined;
  }

  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    this.stopped = true;
    const child = this.child;
    if (!child) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill(signal);
    await exited;
  }
}

async function until<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, timeoutMs = 120_000, log?: () => string): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}${log ? `\n--- daemon log ---\n${log().slice(-6000)}` : ''}`);
    await new Promise((r) => setTimeout(r, 150));
  }
}

describe('machine-config-daemon start, end to end', { skip }, () => {
  let api: TestApiServer;
  let dataDir: string;
  let registry: Awaited<ReturnType<typeof startEmbeddedRegistry>>;
  let os: OsImages;
  let work: string;
  let core: k8s.CoreV1Api;
  let custom: k8s.CustomObjectsApi;
  const teardown: (() => unknown)[] = [];
  after(async () => {
    for (const fn of teardown.reverse()) await fn();
  });
  before(async () => {
    work = fs.mkdtempSync(join(tmpdir(), 'mco-daemon-e2e-'));
    teardown.push(() => fs.rmSync(work, { recursive: true, force: true }));
    dataDir = join(work, 'api-data');
    const t = { after: (fn: () => unknown) => teardown.push(fn) };
    api = await startApiServer(t, { dataDir });
    registry = await startEmbeddedRegistry(t as never);
    os = buildOsImages(work, registry.host);
    const kc = kubeConfigFor(api, api.tokens.admin);
    core = kc.makeApiClient(k8s.CoreV1Api);
    custom = kc.makeApiClient(k8s.CustomObjectsApi);
  });

  /** A Node at `config` (Done), its sysroot installed on v1, and its daemon (not started). */
  async function newNode(name: string, config: string, env: Record<string, string> = {}): Promise<NodeDaemon> {
    const dir = join(work, name);
    teardown.push(() => removeSysrootDir(dir));
    const node = await installNode(dir, os);
    await core.createNode({ body: { metadata: { name, labels: { 'node-role.kubernetes.io/worker': '' }, annotations: { [`${A}currentConfig`]: config, [`${A}desiredConfig`]: config, [`${A}state`]: 'Done' } } } });
    const kubeconfig = join(dir, 'kubeconfig');
    fs.writeFileSync(kubeconfig, kubeConfigFor(api, api.tokens.node(name)).exportConfig());
    const d = new NodeDaemon(name, node, kubeconfig, env);
    teardown.push(() => d.stop('SIGKILL'));
    return d;
  }

  async function createConfig(mc: object): Promise<void> {
    await custom.createClusterCustomObject({ ...MC, body: mc });
  }

  const annotations = async (name: string): Promise<Record<string, string>> => (await core.readNode({ name })).metadata!.annotations ?? {};
  const setDesired = (name: string, config: string): Promise<unknown> => core.patchNode({ name, body: { metadata: { annotations: { [`${A}desiredConfig`]: config } } } }, mergePatch);
  const untilState = (d: NodeDaemon, state: string, config: string, timeoutMs = 120_000): Promise<Record<string, string>> =>
    until(`${d.name} ${state} at ${config}`, async () => {
      const a = await annotations(d.name).catch(() => undefined);
      return a && a[`${A}state`] === state && (state !== 'Done' || a[`${A}currentConfig`] === config) ? a : undefined;
    }, timeoutMs, () => d.log);
  const etcOf = async (d: NodeDaemon, path: string): Promise<string> => {
    const cmdline = fs.readFileSync(d.node.cmdline, 'utf8');
    const m = /ostree=(\S+)/.exec(cmdline)!;
    // The simulated command line names the deployment path (see sysroot/boot.ts).
    return join(d.node.sysroot, m[1]!, path);
  };
  const realList = (d: NodeDaemon): string[] => [...ok(ostree(['admin', 'status', `--sysroot=${d.node.sysroot}`]), 'ostree admin status').stdout.matchAll(/^[ *] rhcos ([0-9a-f]{64})\.\d+/gm)].map((m) => m[1]!);

  test('a whole update: Working, a pod evicted, files and a unit written, pivoted, rebooted, validated, Done and uncordoned; then drift both ways', async () => {
    await createConfig(rendered('rendered-worker-a1', { osImageURL: os.images.v1 }));
    await createConfig(rendered('rendered-worker-a2', {
      osImageURL: os.images.v2,
      files: { '/etc/mco-test.conf': 'answer=42\n' },
      units: [{ name: 'mco-test.service', enabled: true, contents: '[Service]\nExecStart=/bin/true\n' }],
      kernelArguments: ['nosmt'],
    }));
    const d = await newNode('worker-0', 'rendered-worker-a1');
    d.start();
    await until('the first run logs its validation', () => /Validated on-disk state/.test(d.log), 60_000, () => d.log);
    await core.createNamespacedPod({ namespace: 'default', body: { metadata: { name: 'app' }, spec: { nodeName: 'worker-0', containers: [{ name: 'c', image: 'quay.io/x/app:1' }] } } });

    const seen: string[] = [];
    let watching = true;
    const watcher = (async () => {
      while (watching) {
        const a = await annotations('worker-0').catch(() => ({} as Record<string, string>));
        const s = a[`${A}state`] ?? '';
        if (seen.at(-1) !== s) seen.push(s);
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    await setDesired('worker-0', 'rendered-worker-a2');
    const done = await untilState(d, 'Done', 'rendered-worker-a2');
    watching = false;
    await watcher;
    assert.deepEqual(seen.filter((s) => s !== 'Done'), ['Working'], `states seen: ${seen.join(' → ')}`);
    assert.equal(done[`${A}reason`], '');
    assert.equal(d.boots, 2, 'one reboot');

    const pods = await core.listNamespacedPod({ namespace: 'default', fieldSelector: 'spec.nodeName=worker-0' });
    assert.deepEqual(pods.items.map((p) => p.metadata!.name), [], 'the pod was evicted');
    assert.match(d.log, /Evicted pod default\/app/);
    const node = await core.readNode({ name: 'worker-0' });
    assert.ok(!node.spec?.unschedulable, 'uncordoned');
    assert.equal(fs.readFileSync(await etcOf(d, 'etc/mco-test.conf'), 'utf8'), 'answer=42\n');
    assert.equal(fs.readFileSync(await etcOf(d, 'etc/systemd/system/mco-test.service'), 'utf8'), '[Service]\nExecStart=/bin/true\n');
    assert.equal(fs.readlinkSync(await etcOf(d, 'etc/systemd/system/multi-user.target.wants/mco-test.service')), '/etc/systemd/system/mco-test.service');
    assert.match(fs.readFileSync(d.node.cmdline, 'utf8'), /(^| )nosmt( |$)/, 'the kernel argument is on the booted command line');
    assert.equal(realList(d)[0], os.commits.v2, 'real ostree admin status: v2 is the default');
    assert.match(d.log, /^I\d{4} \d\d:\d\d:\d\d\.\d{6} +\d+ [a-z-]+\.js:\d+\] Starting update from rendered-worker-a1 to rendered-worker-a2: &\{osUpdate:true kargs:true/m);

    const events = await core.listNamespacedEvent({ namespace: 'default', fieldSelector: 'involvedObject.name=worker-0' });
    const reasons = events.items.map((e) => e.reason);
    for (const r of ['Drain', 'OSUpdateStarted', 'InClusterUpgrade', 'OSUpdateStaged', 'PendingConfig', 'Reboot', 'NodeDone']) assert.ok(reasons.includes(r), `event ${r} in ${reasons.join(', ')}`);
    assert.ok(events.items.some((e) => e.reason === 'Reboot' && e.message === 'Node will reboot into config rendered-worker-a2'));

    const yaml = api.kubectl(['get', 'node', 'worker-0', '-o', 'yaml']);
    assert.equal(yaml.status, 0, yaml.stderr);
    assert.match(yaml.stdout, /machineconfiguration\.openshift\.io\/currentConfig: rendered-worker-a2/);
    assert.match(yaml.stdout, /machineconfiguration\.openshift\.io\/state: Done/);
    const metricsAddr = [...d.log.matchAll(/Serving metrics on (\S+)/g)].at(-1)![1]!;
    const metrics = await (await fetch(`http://${metricsAddr}/metrics`)).text();
    for (const name of ['mcd_host_os_and_version', 'mcd_state', 'mcd_update_state', 'mcd_drain_err', 'mcd_pivot_err', 'mcd_reboot_err']) assert.match(metrics, new RegExp(`^# TYPE ${name} gauge$`, 'm'));
    assert.match(metrics, /^mcd_state\{state="Done",reason=""\} \d/m);

    // Drift: a file edited on the host → Degraded naming it, within seconds; put back → Done.
    const conf = await etcOf(d, 'etc/mco-test.conf');
    const unit = await etcOf(d, 'etc/systemd/system/mco-test.service');
    fs.writeFileSync(conf, 'answer=43\n');
    fs.writeFileSync(unit, 'edited\n');
    const t0 = Date.now();
    const degraded = await untilState(d, 'Degraded', 'rendered-worker-a2', 20_000);
    assert.ok(Date.now() - t0 < 10_000, `Degraded after ${Date.now() - t0} ms`);
    assert.equal(degraded[`${A}reason`], 'unexpected on-disk state validating against rendered-worker-a2: content mismatch for file "/etc/mco-test.conf"; content mismatch for file "/etc/systemd/system/mco-test.service"');
    fs.writeFileSync(conf, 'answer=42\n');
    fs.writeFileSync(unit, '[Service]\nExecStart=/bin/true\n');
    await untilState(d, 'Done', 'rendered-worker-a2', 20_000);

    // Drift of the OS: `machine-config-daemon pivot` to v1 by hand, then a reboot → the seed's message.
    await d.stop();
    const pivot = spawn(process.execPath, [DAEMON_JS, 'pivot', `--sysroot=${d.node.sysroot}`, '--insecure', '-q', os.images.v1], { env: { ...process.env, MCO_KERNEL_CMDLINE_FILE: d.node.cmdline }, stdio: 'ignore' });
    assert.equal(await new Promise((r) => pivot.once('exit', r)), 0);
    fs.writeFileSync(d.node.cmdline, await bootCommandLine(d.node.sysroot));
    d.start();
    const osDrift = await untilState(d, 'Degraded', 'rendered-worker-a2', 60_000);
    assert.equal(osDrift[`${A}reason`], `unexpected on-disk state validating against rendered-worker-a2: expected target osImageURL "${os.images.v2}", have "${os.images.v1}"`);
    // Pivot back, reboot → Done again.
    await d.stop();
    const back = spawn(process.execPath, [DAEMON_JS, 'pivot', `--sysroot=${d.node.sysroot}`, '--insecure', '-q', os.images.v2], { env: { ...process.env, MCO_KERNEL_CMDLINE_FILE: d.node.cmdline }, stdio: 'ignore' });
    assert.equal(await new Promise((r) => back.once('exit', r)), 0);
    fs.writeFileSync(d.node.cmdline, await bootCommandLine(d.node.sysroot));
    d.start();
    await untilState(d, 'Done', 'rendered-worker-a2', 60_000);
    await d.stop();
    assert.deepEqual(d.exits.filter((e) => e !== 0), [], 'the daemon never failed');
  });
});

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
import * as http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import * as k8s from '@kubernetes/client-node';
import { clientKubeConfig, startApiServer, type TestApiServer } from '../../apiserver/testing.js';
import { startDaemon, type RunningDaemon } from '../../daemon/daemon.js';
import { RegistryClient } from '../../image/registry-client.js';
import { registryImageSource } from '../../node/os-image.js';
import { needsRegistryAndSkopeo, startEmbeddedRegistry } from '../../image/testing.js';
import { buildOsImages, installNode, removeNodeDir, type OsImages, type TestNode } from '../../node/os-images-testing.js';
import { ok, ostree } from '../../ostree/testing.js';
import { bootCommandLine } from '../../sysroot/boot.js';
import { needsOstree } from '../../sysroot/sysroot-fixtures.js';

const DAEMON_JS = fileURLToPath(new URL('../machine-config-daemon.js', import.meta.url));
const skip = needsOstree.skip || needsRegistryAndSkopeo.skip;
const A = 'machineconfiguration.openshift.io/';
const MC = { group: 'machineconfiguration.openshift.io', version: 'v1', plural: 'machineconfigs' };
const mergePatch = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);
const dataUrl = (text: string): string => `data:,${encodeURIComponent(text)}`;

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
  /** MCO_CRASH_AT for every boot until one is killed there. */
  private crashAt: string | undefined;
  exits: (number | string | null)[] = [];

  constructor(readonly name: string, readonly node: TestNode, private readonly kubeconfig: string, private readonly env: Record<string, string> = {}) {}

  /** Starts (boots) the daemon; `extraEnv` for this run only (e.g. MCO_CRASH_AT). */
  /** Boots with MCO_CRASH_AT=step (through reboots) until the daemon is killed there. */
  startCrashingAt(step: string): void {
    this.crashAt = step;
    this.start();
  }

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
        ...(this.crashAt ? { MCO_CRASH_AT: this.crashAt } : {}),
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
      if (signal === 'SIGKILL') this.crashAt = undefined;
      // A reboot: the supervisor boots the node again, as a machine would.
      if (code === 0 && !this.stopped) this.start();
    });
    this.child = child;
  }

  /** Resolves when the daemon process is not running (killed, or stopped). */
  async exited(): Promise<void> {
    await until(`${this.name}'s daemon to exit`, () => this.child === undefined, 120_000, () => this.log);
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
    const kc = clientKubeConfig(api, api.tokens.admin);
    core = kc.makeApiClient(k8s.CoreV1Api);
    custom = kc.makeApiClient(k8s.CustomObjectsApi);
  });

  /** A Node at `config` (Done), its sysroot installed on v1, and its daemon (not started). */
  async function newNode(name: string, config: string, env: Record<string, string> = {}): Promise<NodeDaemon> {
    const dir = join(work, name);
    teardown.push(() => removeNodeDir(dir));
    const node = await installNode(dir, os);
    await core.createNode({ body: { metadata: { name, labels: { 'node-role.kubernetes.io/worker': '' }, annotations: { [`${A}currentConfig`]: config, [`${A}desiredConfig`]: config, [`${A}state`]: 'Done' } } } });
    const kubeconfig = join(dir, 'kubeconfig');
    fs.writeFileSync(kubeconfig, clientKubeConfig(api, api.tokens.node(name)).exportConfig());
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
    const bothPaths = 'unexpected on-disk state validating against rendered-worker-a2: content mismatch for file "/etc/mco-test.conf"; content mismatch for file "/etc/systemd/system/mco-test.service"';
    await until('Degraded naming both edited paths', async () => ((await annotations('worker-0'))[`${A}reason`] === bothPaths ? true : undefined), 20_000, () => d.log);
    assert.equal((await annotations('worker-0'))[`${A}state`], 'Degraded');
    assert.ok(Date.now() - t0 < 10_000, `Degraded after ${Date.now() - t0} ms`);
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

  test('faults: a bad image digest is Degraded naming the image and leaves the node booting v1, reverting recovers; registry 500s are retried; the API server down for 20 s mid-update never shows Degraded', async (t) => {
    const bad = `${registry.host}/ocp/machine-os-content@sha256:${'0'.repeat(64)}`;
    await createConfig(rendered('rendered-worker-b1', { osImageURL: os.images.v1, files: { '/etc/b.conf': 'one\n' } }));
    await createConfig(rendered('rendered-worker-bad', { osImageURL: bad, files: { '/etc/b.conf': 'bad\n' } }));
    // The second version through a proxy that answers 500 to the first registry requests.
    let failures = 0;
    const proxy = http.createServer((req, res) => {
      if (failures < 8) {
        failures++;
        res.writeHead(500, { 'Content-Type': 'application/json' }).end('{"errors":[{"code":"UNKNOWN","message":"injected"}]}');
        return;
      }
      const upstream = http.request({ host: '127.0.0.1', port: Number(registry.host.split(':')[1]), path: req.url, method: req.method, headers: { ...req.headers, host: registry.host } }, (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      });
      req.pipe(upstream);
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
    t.after(() => new Promise<void>((r) => proxy.close(() => r())));
    const proxyHost = `127.0.0.1:${(proxy.address() as { port: number }).port}`;
    const v2ViaProxy = os.images.v2.replace(registry.host, proxyHost);
    await createConfig(rendered('rendered-worker-b2', { osImageURL: v2ViaProxy, files: { '/etc/b.conf': 'two\n' } }));

    const d = await newNode('worker-1', 'rendered-worker-b1', { MCO_DAEMON_TRANSIENT_BOUND_MS: '120000' });
    fs.mkdirSync(await etcOf(d, 'etc'), { recursive: true });
    fs.writeFileSync(await etcOf(d, 'etc/b.conf'), 'one\n');
    d.start();
    await until('first run', () => /In desired config rendered-worker-b1/.test(d.log), 60_000, () => d.log);
    const cmdlineBefore = fs.readFileSync(d.node.cmdline, 'utf8');

    await setDesired('worker-1', 'rendered-worker-bad');
    const degraded = await untilState(d, 'Degraded', '', 60_000);
    assert.ok(degraded[`${A}reason`]!.includes(bad), `the reason names the image: ${degraded[`${A}reason`]}`);
    assert.equal(realList(d)[0], os.commits.v1, 'v1 is still the default deployment');
    assert.equal(fs.readFileSync(d.node.cmdline, 'utf8'), cmdlineBefore, 'no reboot');
    await setDesired('worker-1', 'rendered-worker-b1');
    await untilState(d, 'Done', 'rendered-worker-b1', 30_000);
    // (While it retries, a failing update rewrites and puts back its files each time.)
    assert.equal(fs.readFileSync(await etcOf(d, 'etc/b.conf'), 'utf8'), 'one\n', 'the file the failed update wrote was put back');

    // Bad input: a relative path and a unit name that is not one → Degraded naming config and field, nothing written.
    await createConfig(rendered('rendered-worker-badpath', { osImageURL: os.images.v1, files: { 'etc/relative.conf': 'x\n' } }));
    await setDesired('worker-1', 'rendered-worker-badpath');
    const badPath = await until('Degraded for the relative path', async () => {
      const a = await annotations('worker-1');
      return a[`${A}state`] === 'Degraded' && a[`${A}reason`]!.includes('badpath') ? a : undefined;
    }, 60_000, () => d.log);
    assert.equal(badPath[`${A}reason`], 'rendered-worker-badpath: spec.config.storage.files[0].path: "etc/relative.conf" is not an absolute path');
    assert.equal(fs.readFileSync(await etcOf(d, 'etc/b.conf'), 'utf8'), 'one\n', 'refused before anything was written');
    await setDesired('worker-1', 'rendered-worker-b1');
    await untilState(d, 'Done', 'rendered-worker-b1', 30_000);
    await setDesired('worker-1', 'rendered-worker-missing');
    const missing = await until('Degraded for the missing config', async () => {
      const a = await annotations('worker-1');
      return a[`${A}state`] === 'Degraded' && a[`${A}reason`]!.includes('missing') ? a : undefined;
    }, 60_000, () => d.log);
    assert.equal(missing[`${A}reason`], 'Getting MachineConfig rendered-worker-missing: machineconfigs.machineconfiguration.openshift.io "rendered-worker-missing" not found');
    await setDesired('worker-1', 'rendered-worker-b1');
    await untilState(d, 'Done', 'rendered-worker-b1', 30_000);

    // Registry 500s: retried (the pivot's own retries, then the daemon's backoff), never Degraded.
    const states = new Set<string>();
    let polling = true;
    const poller = (async () => {
      while (polling) {
        const a = await annotations('worker-1').catch(() => undefined);
        if (a) states.add(a[`${A}state`] ?? '');
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    await setDesired('worker-1', 'rendered-worker-b2');
    await untilState(d, 'Done', 'rendered-worker-b2', 120_000);
    assert.ok(failures >= 8, 'the proxy failed requests');
    assert.match(d.log, /transient, retrying/);

    // The API server stopped for 20 s as soon as the update starts; the node finishes.
    const address = api.url.replace('https://', '');
    await setDesired('worker-1', 'rendered-worker-b1');
    await until('Working', async () => ((await annotations('worker-1'))[`${A}state`] === 'Working' ? true : undefined), 60_000, () => d.log);
    await api.stop();
    await new Promise((r) => setTimeout(r, 20_000));
    api = await startApiServer({ after: (fn) => teardown.push(fn) }, { dataDir, args: ['--listen', address] });
    await untilState(d, 'Done', 'rendered-worker-b1', 120_000);
    polling = false;
    await poller;
    assert.deepEqual([...states].filter((s) => s !== 'Done' && s !== 'Working'), [], `states seen: ${[...states].join(', ')}`);
    assert.doesNotMatch(d.log.slice(d.log.lastIndexOf('rendered-worker-b2 to rendered-worker-b1')), /Marking Degraded/);
    assert.equal(realList(d)[0], os.commits.v1);
    await d.stop();
  });

  test('kill -9 at each named step of an update, then a restart: the node converges to the desired config', async () => {
    await createConfig(rendered('rendered-worker-k1', { osImageURL: os.images.v1, files: { '/etc/k.conf': 'k1\n', '/etc/only-k1.conf': 'x\n' } }));
    await createConfig(rendered('rendered-worker-k2', { osImageURL: os.images.v2, files: { '/etc/k.conf': 'k2\n' }, kernelArguments: ['nosmt'] }));
    const d = await newNode('worker-2', 'rendered-worker-k1');
    fs.writeFileSync(await etcOf(d, 'etc/k.conf'), 'k1\n');
    fs.writeFileSync(await etcOf(d, 'etc/only-k1.conf'), 'x\n');
    const steps = ['update-journal-written', 'drained', 'files-written', 'deploy-checked-out', 'os-staged', 'kargs-applied', 'pending-written', 'rebooted', 'pending-validated'];
    let target = 'rendered-worker-k1';
    const killed: string[] = [];
    for (const step of steps) {
      target = target === 'rendered-worker-k1' ? 'rendered-worker-k2' : 'rendered-worker-k1';
      await setDesired('worker-2', target);
      d.startCrashingAt(step);
      await d.exited();
      if (d.exits.at(-1) === 'SIGKILL') killed.push(step);
      d.start();
      await untilState(d, 'Done', target, 120_000);
      const k2 = target === 'rendered-worker-k2';
      assert.equal(fs.readFileSync(await etcOf(d, 'etc/k.conf'), 'utf8'), k2 ? 'k2\n' : 'k1\n', `after a kill at ${step}`);
      assert.equal(fs.existsSync(await etcOf(d, 'etc/only-k1.conf')), !k2, `only-k1.conf after a kill at ${step}`);
      assert.equal(realList(d)[0], k2 ? os.commits.v2 : os.commits.v1, `default deployment after a kill at ${step}`);
      assert.equal(/(^| )nosmt( |$)/.test(fs.readFileSync(d.node.cmdline, 'utf8')), k2, `kernel arguments after a kill at ${step}`);
      await d.stop();
      d.log = '';
    }
    assert.deepEqual(killed, steps, 'the daemon was killed at every step');
  });

  test('startDaemon() in-process, as the lab hosts daemons: injected rebooter, command line reader, boot id and logger; done says reboot, then stopped', async () => {
    await createConfig(rendered('rendered-worker-l1', { osImageURL: os.images.v1 }));
    await createConfig(rendered('rendered-worker-l2', { osImageURL: os.images.v1, files: { '/etc/lab.conf': 'lab\n' } }));
    const d = await newNode('worker-3', 'rendered-worker-l1');
    const lines: string[] = [];
    const client = new RegistryClient({ insecure: true });
    teardown.push(() => client.close());
    const boot = (): Promise<RunningDaemon> => startDaemon({
      nodeName: 'worker-3',
      kubeConfig: clientKubeConfig(api, api.tokens.node('worker-3')),
      sysroot: d.node.sysroot,
      source: registryImageSource(client),
      readCmdline: () => fs.readFileSync(d.node.cmdline, 'utf8'),
      rebooter: async () => fs.writeFileSync(d.node.cmdline, await bootCommandLine(d.node.sysroot)),
      bootId: () => String(fs.statSync(d.node.cmdline).ctimeMs),
      logger: { info: (m) => lines.push(`I ${m}`), warning: (m) => lines.push(`W ${m}`), error: (m) => lines.push(`E ${m}`) },
      metricsListen: '',
      driftIntervalMs: 500,
    });
    const first = await boot();
    await until('first run', () => lines.includes('I In desired config rendered-worker-l1'), 60_000, () => lines.join('\n'));
    await setDesired('worker-3', 'rendered-worker-l2');
    assert.equal(await first.done, 'reboot');
    assert.ok(lines.includes('I initiating reboot: Node will reboot into config rendered-worker-l2'), lines.join('\n'));
    const second = await boot();
    await untilState(d, 'Done', 'rendered-worker-l2', 60_000);
    assert.equal(fs.readFileSync(await etcOf(d, 'etc/lab.conf'), 'utf8'), 'lab\n');
    await second.stop();
    assert.equal(await second.done, 'stopped');
  });
});

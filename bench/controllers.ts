/**
 * The controllers at fleet scale (issue 12): `mco apiserver`, `mco operator start` and
 * `mco controller start` each as their own process, as in the lab; 2,000 Nodes in 4 pools
 * (worker and three custom pools of 500), every pool at maxUnavailable 100%. After the pools
 * are updated, the osImageURL ConfigMap is patched and the benchmark measures:
 *   - the time from the patch to every Node's desiredConfig set to its pool's new config;
 *   - then, with fake node agents in this process flipping each node Working → Done, the
 *     time to every pool Updated, and the controller's CPU (utime+stime of its process) over
 *     the whole rollout per node transition (desiredConfig set, Working, Done: 3 per node).
 * Targets: under 10 s to target all 2,000; controller CPU under 1% of a lab rollout's wall
 * time. A missed target is a measurement, not a failure.
 *
 *   node dist/bench/controllers.js [--quick] [--json] [--nodes=N]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import * as k8s from '@kubernetes/client-node';
import { ROLE_LABEL } from '../src/api/machineconfig.js';
import type { MachineConfigPool } from '../src/api/machineconfigpool.js';
import { CURRENT_CONFIG_ANNOTATION, DESIRED_CONFIG_ANNOTATION, MCO_NAMESPACE, OSIMAGEURL_CONFIGMAP, STATE_ANNOTATION, nodeRoleLabel } from '../src/api/node.js';
import { startFakeAgents } from '../src/controller/fake-node-agents.js';
import { mergePatch } from '../src/api/client.js';
import { clientsFor, POOLS } from '../src/controller/kube.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const MCO = join(ROOT, 'dist', 'src', 'cli', 'mco.js');
const VERSION = '4.6.8';
const CUSTOM_POOLS = ['infra', 'gpu', 'edge'];
const POOL_NAMES = ['worker', ...CUSTOM_POOLS];
const TARGET_SECONDS = 10;
const image = (c: string): string => `quay.io/openshift-release-dev/ocp-v4.0-art-dev@sha256:${c.repeat(64)}`;

const HELP = `Usage: node dist/bench/controllers.js [OPTION…]
  --quick     200 nodes instead of 2,000
  --json      print the results as JSON (progress goes to stderr)
  --nodes=N   nodes, spread evenly over the 4 pools (default 2000)`;

const progress = (msg: string): void => void process.stderr.write(`controllers: ${msg}\n`);

/** CPU seconds (user + system) a process has used so far, from /proc. */
function cpuSeconds(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // Fields 14 and 15 of stat (utime, stime) in clock ticks of 1/100 s on Linux.
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

function start(args: string[], dir: string, name: string): ChildProcess {
  const err = fs.openSync(join(dir, `${name}.log`), 'w');
  const child = spawn(process.execPath, [MCO, ...args], { stdio: ['ignore', 'pipe', err] });
  process.once('exit', () => child.kill('SIGKILL'));
  return child;
}

async function until<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, timeoutMs = 600_000, everyMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** Runs `fn` over `items` with `n` in flight. */
async function pool<T>(items: T[], n: number, fn: (x: T) => Promise<unknown>): Promise<void> {
  const queue = [...items];
  await Promise.all(Array.from({ length: n }, async () => {
    for (let x = queue.shift(); x !== undefined; x = queue.shift()) await fn(x);
  }));
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { quick: { type: 'boolean' }, json: { type: 'boolean' }, nodes: { type: 'string' }, help: { type: 'boolean' } } });
  if (values.help) {
    process.stdout.write(`${HELP}\n`);
    return;
  }
  const nodeCount = Number(values.nodes ?? (values.quick ? 200 : 2000));
  const dir = fs.mkdtempSync(join(tmpdir(), 'mco-bench-controllers-'));
  const kubeconfig = join(dir, 'kubeconfig');
  const children: ChildProcess[] = [];
  try {
    const api = start(['apiserver', '--data-dir', join(dir, 'data'), '--listen', '127.0.0.1:0', '--kubeconfig-out', kubeconfig], dir, 'apiserver');
    children.push(api);
    await new Promise<void>((ok, fail) => {
      let out = '';
      api.stdout!.on('data', (c: Buffer) => {
        out += c.toString();
        if (/Serving securely on/.test(out)) ok();
      });
      api.once('exit', (code) => fail(new Error(`mco apiserver exited (${code}); see ${dir}/apiserver.log`)));
    });
    const kc = new k8s.KubeConfig();
    kc.loadFromFile(kubeconfig);
    // One keep-alive connection, as the controllers use (client-node's own clients handshake per call).
    const { core, custom } = clientsFor(kc);

    await core.createNamespacedConfigMap({ namespace: MCO_NAMESPACE, body: { metadata: { name: OSIMAGEURL_CONFIGMAP }, data: { releaseVersion: VERSION, osImageURL: image('a') } } });
    for (const p of CUSTOM_POOLS) {
      await custom.createClusterCustomObject({
        ...POOLS,
        body: {
          apiVersion: 'machineconfiguration.openshift.io/v1',
          kind: 'MachineConfigPool',
          metadata: { name: p },
          spec: {
            machineConfigSelector: { matchExpressions: [{ key: ROLE_LABEL, operator: 'In', values: ['worker', p] }] },
            nodeSelector: { matchLabels: { [nodeRoleLabel(p)]: '' } },
            maxUnavailable: '100%',
          },
        },
      });
    }
    children.push(start(['operator', 'start', '--kubeconfig', kubeconfig, '--release-version', VERSION, '--metrics-listen', ''], dir, 'operator'));
    const controller = start(['controller', 'start', '--kubeconfig', kubeconfig, '--metrics-listen', ''], dir, 'controller');
    children.push(controller);
    const getPool = async (name: string): Promise<MachineConfigPool> => (await custom.getClusterCustomObject({ ...POOLS, name })) as MachineConfigPool;
    const targets = async (): Promise<Map<string, string> | undefined> => {
      const m = new Map<string, string>();
      for (const p of POOL_NAMES) {
        const t = await getPool(p).then((x) => x.spec.configuration?.name, () => undefined);
        if (!t) return undefined;
        m.set(p, t);
      }
      return m;
    };
    const first = await until('the pools rendered', targets);
    await custom.patchClusterCustomObject({ ...POOLS, name: 'worker', body: { spec: { maxUnavailable: '100%' } } }, mergePatch);

    progress(`creating ${nodeCount} nodes in ${POOL_NAMES.length} pools`);
    const nodes = Array.from({ length: nodeCount }, (_, i) => ({ name: `node-${String(i).padStart(4, '0')}`, pool: POOL_NAMES[i % POOL_NAMES.length]! }));
    await pool(nodes, 8, (n) =>
      core.createNode({
        body: {
          metadata: {
            name: n.name,
            labels: { [nodeRoleLabel('worker')]: '', ...(n.pool !== 'worker' ? { [nodeRoleLabel(n.pool)]: '' } : {}) },
            annotations: { [CURRENT_CONFIG_ANNOTATION]: first.get(n.pool)!, [DESIRED_CONFIG_ANNOTATION]: first.get(n.pool)!, [STATE_ANNOTATION]: 'Done' },
          },
          status: { conditions: [{ type: 'Ready', status: 'True' }] },
        },
      }),
    );
    const allUpdated = async (want: Map<string, string>): Promise<true | undefined> => {
      for (const p of POOL_NAMES) {
        const x = await getPool(p);
        if (x.status?.configuration?.name !== want.get(p) || x.status?.machineCount !== nodeCount / POOL_NAMES.length) return undefined;
      }
      return true;
    };
    await until('the pools counting their nodes', () => allUpdated(first), 600_000, 250);

    // Every desiredConfig, watched from here.
    const desired = new Map<string, string>();
    const informer = k8s.makeInformer(kc, '/api/v1/nodes', () => core.listNode());
    let wake = (): void => {};
    const record = (n: k8s.V1Node): void => {
      desired.set(n.metadata!.name!, n.metadata?.annotations?.[DESIRED_CONFIG_ANNOTATION] ?? '');
      wake();
    };
    informer.on('add', record);
    informer.on('update', record);
    await informer.start();

    progress('patching the osImageURL ConfigMap');
    const cpu0 = cpuSeconds(controller.pid!);
    const t0 = performance.now();
    await core.patchNamespacedConfigMap({ namespace: MCO_NAMESPACE, name: OSIMAGEURL_CONFIGMAP, body: { data: { osImageURL: image('b') } } }, mergePatch);
    const second = await until('the new targets', async () => {
      const t = await targets();
      return t && POOL_NAMES.every((p) => t.get(p) !== first.get(p)) ? t : undefined;
    }, 600_000, 20);
    const tRendered = performance.now();
    const wanted = new Set(second.values());
    await new Promise<void>((ok) => {
      const check = (): void => {
        let set = 0;
        for (const n of nodes) if (desired.get(n.name) === second.get(n.pool)) set++;
        if (set === nodeCount) ok();
      };
      wake = check;
      check();
    });
    const tTargeted = performance.now();
    const cpuTargeting = cpuSeconds(controller.pid!) - cpu0;
    await informer.stop();
    progress(`all ${nodeCount} desiredConfig set after ${((tTargeted - t0) / 1000).toFixed(2)} s; agents rolling the nodes`);

    const agents = await startFakeAgents(kc, nodes.map((n) => n.name), { workingAfterMs: 0, doneAfterMs: 0 });
    await until('every pool updated', () => allUpdated(second), 600_000, 250);
    const tDone = performance.now();
    const cpuRollout = cpuSeconds(controller.pid!) - cpu0;
    await agents.stop();
    const transitions = nodeCount * 3;
    const result = {
      nodes: nodeCount,
      pools: POOL_NAMES.length,
      renderSeconds: (tRendered - t0) / 1000,
      targetAllSeconds: (tTargeted - t0) / 1000,
      targetMet: (tTargeted - t0) / 1000 < TARGET_SECONDS,
      rolloutSeconds: (tDone - t0) / 1000,
      controllerCpuTargetingSeconds: cpuTargeting,
      controllerCpuRolloutSeconds: cpuRollout,
      controllerCpuMsPerTransition: (cpuRollout * 1000) / transitions,
      renderedConfigs: [...wanted],
    };
    if (values.json) {
      process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    } else {
      process.stdout.write(
        [
          `controllers: ${nodeCount} nodes in ${POOL_NAMES.length} pools at maxUnavailable 100%`,
          `  ConfigMap patch → every pool's new rendered config   ${result.renderSeconds.toFixed(2)} s`,
          `  ConfigMap patch → every desiredConfig set            ${result.targetAllSeconds.toFixed(2)} s (target < ${TARGET_SECONDS} s: ${result.targetMet ? 'met' : 'missed'})`,
          `  ConfigMap patch → every pool Updated (fake agents)   ${result.rolloutSeconds.toFixed(2)} s`,
          `  controller CPU while targeting                       ${cpuTargeting.toFixed(2)} s`,
          `  controller CPU over the rollout                      ${cpuRollout.toFixed(2)} s = ${result.controllerCpuMsPerTransition.toFixed(3)} ms per node transition (${transitions} transitions)`,
          '',
        ].join('\n'),
      );
    }
  } finally {
    for (const c of children.reverse()) {
      if (c.exitCode === null && c.signalCode === null) {
        const exited = new Promise((r) => c.once('exit', r));
        c.kill('SIGTERM');
        await exited;
      }
    }
    if (!process.env["MCO_BENCH_KEEP"]) fs.rmSync(dir, { recursive: true, force: true });
    else progress(`kept ${dir}`);
  }
}

await main();

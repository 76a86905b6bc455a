/**
 * The lab's supervisor: the one long-running process behind `mco lab up`. It starts the API
 * server and the registry, builds what the lab lacks (OS and release images, the seeded
 * cluster, node sysroots installed on the first OS version and booted by their firmware),
 * starts the operator and the controller, gives each node the bootstrap annotations file
 * naming its pool's rendered config once there is one (as the machine-config-server does for
 * a new machine), then starts one daemon per node. It restarts whatever dies and "reboots" a
 * node whose daemon exited after writing its command-line file. A control endpoint on
 * loopback takes reboot requests (`reboot` in `mco lab ssh`) and reports the processes.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { connect } from 'node:net';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { MACHINE_CONFIG_POOLS, MACHINE_CONFIGS, MCO_GROUP, MCO_VERSION } from '../api/group.js';
import type { MachineConfig } from '../api/machineconfig.js';
import { CURRENT_CONFIG_ANNOTATION } from '../api/node.js';
import { RegistryClient } from '../image/registry-client.js';
import { registryImageSource } from '../node/os-image.js';
import { bootedFromCmdlineFile } from '../sysroot/boot.js';
import { makeMutable } from '../sysroot/cleanup.js';
import { deploymentPath } from '../sysroot/types.js';
import { bootIdentity, bootNode } from './firmware.js';
import { provisionNode } from './ignition.js';
import { rebootRequestPath } from './node-host.js';
import { labPaths, MCD_JS, MCO_JS, nodePaths, osContentURL, podLogPath, readLabState, writeLabState, writeSupervisor, LabError, type LabPaths, type LabState, type SupervisorRecord } from './layout.js';
import { buildOsImages, extractOsContent, installNode, OS_REPOSITORY, pushReleaseImages } from './os-images.js';
import { ManagedProcess, type ProcessSpec } from './processes.js';
import { applySeed, reportNodeReady, seedObjects, type LabNode } from './seed.js';
import { writeNodeTools } from './ssh.js';

/** The release the lab's operator runs as (the seed's cluster before its update). */
export const LAB_RELEASE = '4.6.8';

/** Up to this many nodes, a new lab gives each daemon a process of its own, as on a real cluster. */
export const PROCESS_PER_NODE_MAX = 10;
/** Beyond that, this many node daemons share one process by default. */
export const NODES_PER_HOST = 50;

/** How each component is started; tests may replace any of them. */
export interface LabCommands {
  operator(kubeconfig: string): [string, ...string[]];
  controller(kubeconfig: string): [string, ...string[]];
  daemon(node: LabNode, kubeconfig: string, sysroot: string): [string, ...string[]];
}

export const defaultCommands: LabCommands = {
  operator: (kubeconfig) => [process.execPath, MCO_JS, 'operator', 'start', '--kubeconfig', kubeconfig, '--release-version', LAB_RELEASE, '--metrics-listen', ''],
  controller: (kubeconfig) => [process.execPath, MCO_JS, 'controller', 'start', '--kubeconfig', kubeconfig, '--metrics-listen', ''],
  daemon: (node, kubeconfig, sysroot) => [process.execPath, MCD_JS, 'start', '--node-name', node.name, '--kubeconfig', kubeconfig, '--sysroot', sysroot, '--metrics-listen', '', '--insecure'],
};

export interface StartLabOptions {
  dir: string;
  log: (line: string) => void;
  commands?: Partial<LabCommands>;
  /** How long each wait (a server up, configs rendered, nodes reporting) may take. */
  timeoutMs?: number;
}

export interface RunningLab {
  paths: LabPaths;
  state: LabState;
  processes: Map<string, ManagedProcess>;
  /** Reboots a node as `reboot` on it does: its daemon stops, the firmware boots the default entry, the daemon starts. */
  reboot(node: string): Promise<void>;
  stop(): Promise<void>;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function waitFor<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>, failed?: () => string | undefined): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    const why = failed?.();
    if (why) throw new LabError(`${what}: ${why}`);
    if (Date.now() > deadline) throw new LabError(`Timed out after ${Math.round(timeoutMs / 1000)} s waiting for ${what}`);
    await sleep(250);
  }
}

const portOpen = (port: number): Promise<true | undefined> =>
  new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port }, () => {
      socket.destroy();
      resolve(true);
    });
    socket.on('error', () => resolve(undefined));
  });

/** Removes a node's directory; its deployments are immutable (chattr +i) as libostree leaves them. */
function removeNode(dir: string, sysroot: string): void {
  const deploy = join(sysroot, 'ostree', 'deploy');
  for (const os of existsSync(deploy) ? readdirSync(deploy) : []) {
    const d = join(deploy, os, 'deploy');
    for (const name of existsSync(d) ? readdirSync(d) : []) makeMutable(join(d, name));
  }
  rmSync(dir, { recursive: true, force: true });
}

/** The deployment directory a node booted (its /etc is the node's /etc). */
function bootedRoot(sysroot: string, cmdline: string): string {
  const { booted } = bootedFromCmdlineFile(sysroot, cmdline);
  if (!booted) throw new LabError(`${sysroot} has booted no deployment (its command line ${cmdline} names none)`);
  return deploymentPath(sysroot, booted);
}

export async function startLab(options: StartLabOptions): Promise<RunningLab> {
  const paths = labPaths(options.dir);
  const state = readLabState(paths);
  if (!state) throw new LabError(`${paths.dir} holds no lab: run mco lab up`);
  const commands: LabCommands = { ...defaultCommands, ...options.commands };
  const timeoutMs = options.timeoutMs ?? 300_000;
  const log = options.log;
  const processes = new Map<string, ManagedProcess>();
  const record: SupervisorRecord = { pid: process.pid, control: '', phase: 'starting', message: 'starting', children: [] };
  const saveRecord = (): void => {
    record.children = [...processes.values()].flatMap((p) => (p.pid ? [p.pid] : []));
    writeSupervisor(paths, record);
  };
  const phase = (message: string): void => {
    record.message = message;
    saveRecord();
    log(message);
  };
  const rebootRequested = new Set<string>();
  const hosted = state.daemonsPerProcess > 1;
  let kc: k8s.KubeConfig | undefined;
  const mco = (...args: string[]): [string, ...string[]] => [process.execPath, MCO_JS, ...args];
  const add = (spec: ProcessSpec): ManagedProcess => {
    const p = new ManagedProcess(spec, log);
    processes.set(spec.name, p);
    return p;
  };

  const control: Server = createServer((req, res) => {
    const reboot = /^\/reboot\/([^/]+)$/.exec(req.url ?? '');
    if (req.method === 'POST' && reboot) {
      lab.reboot(decodeURIComponent(reboot[1]!)).then(
        () => res.writeHead(200).end('rebooting\n'),
        (e: Error) => res.writeHead(404).end(`${e.message}\n`),
      );
      return;
    }
    if (req.method === 'GET' && req.url === '/status') {
      const list = [...processes.values()].map((p) => ({ name: p.spec.name, pid: p.pid ?? null, restarts: p.restarts }));
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ phase: record.phase, message: record.message, processes: list }));
      return;
    }
    res.writeHead(404).end('not found\n');
  });
  await new Promise<void>((resolve) => control.listen(0, '127.0.0.1', resolve));
  const address = control.address();
  record.control = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;

  const lab: RunningLab = {
    paths,
    state,
    processes,
    async reboot(node) {
      const labNode = state.nodes.find((n) => n.name === node);
      if (!labNode) throw new LabError(`No node ${node} in this lab (nodes: ${state.nodes.map((n) => n.name).join(', ')})`);
      if (hosted) {
        writeFileSync(rebootRequestPath(paths, node), '');
        return;
      }
      const daemon = processes.get(`daemon ${node}`);
      if (daemon?.child) {
        rebootRequested.add(node);
        void daemon.terminate();
        return;
      }
      const np = nodePaths(paths, node);
      await bootNode(np.sysroot, np.cmdline, { node, log });
    },
    async stop() {
      const order = [...processes.values()].reverse();
      const daemons = order.filter((p) => p.spec.name.startsWith('daemon '));
      await Promise.all(daemons.map((p) => p.stop()));
      for (const p of order.filter((p) => !daemons.includes(p))) await p.stop();
      control.close();
      rmSync(paths.supervisor, { force: true });
    },
  };

  try {
    saveRecord();
    mkdirSync(paths.logs, { recursive: true });
    // 1. The API server and the registry, on the ports the lab was created with.
    phase(`Starting the API server on 127.0.0.1:${state.apiPort} and the registry on 127.0.0.1:${state.registryPort}`);
    const apiserver = add({
      name: 'apiserver',
      argv: mco('apiserver', '--data-dir', paths.apiserverData, '--listen', `127.0.0.1:${state.apiPort}`, '--kubeconfig-out', paths.kubeconfig, '--pod-log-dir', paths.logs),
      logFile: paths.apiserverLog,
    });
    const registryProcess = add({ name: 'registry', argv: mco('registry', 'serve', '--root', paths.registryRoot, '--listen', `127.0.0.1:${state.registryPort}`), logFile: paths.registryLog });
    // The cluster's OS content cache: the nodes pull OSTree objects from it (the ConfigMap's osContentURL).
    const osContent = state.osContentPort === undefined ? undefined : add({
      name: 'os-content',
      argv: mco('os-content', 'serve', '--listen', `127.0.0.1:${state.osContentPort}`, '--cache-dir', paths.osContentCache, '--insecure', '--allow-repository', `127.0.0.1:${state.registryPort}/${OS_REPOSITORY}`),
      logFile: paths.osContentLog,
    });
    await apiserver.start();
    await registryProcess.start();
    await osContent?.start();
    saveRecord();
    const gaveUp = (p: ManagedProcess, logFile: string) => (): string | undefined =>
      p.restarts > 2 ? `${p.spec.name} keeps exiting; see ${logFile}` : undefined;
    await waitFor(`the API server on port ${state.apiPort}`, timeoutMs, async () => (await portOpen(state.apiPort)) && existsSync(paths.kubeconfig) ? true : undefined, gaveUp(apiserver, paths.apiserverLog));
    await waitFor(`the registry on port ${state.registryPort}`, timeoutMs, () => portOpen(state.registryPort), gaveUp(registryProcess, paths.registryLog));
    if (osContent) await waitFor(`the OS content cache on port ${state.osContentPort}`, timeoutMs, () => portOpen(state.osContentPort!), gaveUp(osContent, paths.osContentLog));
    kc = new k8s.KubeConfig();
    kc.loadFromFile(paths.kubeconfig);
    const core = kc.makeApiClient(k8s.CoreV1Api);
    const registry = `127.0.0.1:${state.registryPort}`;

    // 2. The OS images and the releases naming them, once.
    if (!state.images || !state.releases) {
      phase('Building the two OS versions into machine-os-content images (once per lab)');
      const client = new RegistryClient({ insecure: true });
      try {
        state.images = await buildOsImages({ workDir: paths.work, registry, client, say: log });
        state.releases = await pushReleaseImages(state.images, { workDir: paths.work, registry, client });
      } finally {
        await client.close();
      }
      rmSync(paths.work, { recursive: true, force: true });
      writeLabState(paths, state);
    }
    const [first] = state.images;

    // 3. The cluster the installer leaves.
    phase('Seeding the cluster');
    await waitFor('the API server to accept requests', timeoutMs, async () => (await core.listNamespace()) ? true : undefined);
    const created = await applySeed(kc, seedObjects({ osImageURL: first!.image, ...(state.osContentPort !== undefined ? { osContentURL: osContentURL(state) } : {}), releaseVersion: LAB_RELEASE, nodes: state.nodes, pods: state.pods }));
    if (created.length) log(`Created ${created.length} objects: ${created.slice(0, 8).join(', ')}${created.length > 8 ? ', …' : ''}`);

    // 4. Node sysroots, installed on the first OS version and booted.
    const installed = new Set(state.installed ?? []);
    const pending = state.nodes.filter((n) => !installed.has(n.name));
    if (pending.length) {
      phase(`Installing ${pending.length} node(s) on ${first!.version}`);
      const client = new RegistryClient({ insecure: true });
      const contentDir = join(paths.work, 'install-content');
      try {
        rmSync(contentDir, { recursive: true, force: true });
        mkdirSync(paths.work, { recursive: true });
        const content = await extractOsContent(registryImageSource(client), first!.image, contentDir);
        let template: string | undefined;
        for (const node of pending) {
          const np = nodePaths(paths, node.name);
          removeNode(np.dir, np.sysroot);
          if (template) {
            // Every node installs the same bits: a copy of the first (hard links kept, as /boot
            // needs) takes a fraction of a second where an install takes seconds.
            mkdirSync(np.dir, { recursive: true });
            const cp = spawnSync('cp', ['-a', template, np.sysroot], { encoding: 'utf8' });
            if (cp.status !== 0) throw new LabError(`Cannot copy ${template} to ${np.sysroot}: ${cp.stderr.trim() || cp.error?.message}`);
          } else {
            await installNode(np.sysroot, content);
            template = np.sysroot;
          }
          await bootNode(np.sysroot, np.cmdline, { node: node.name, log });
          installed.add(node.name);
          state.installed = [...installed];
          writeLabState(paths, state);
        }
      } finally {
        await client.close();
        rmSync(paths.work, { recursive: true, force: true });
      }
    }
    for (const node of state.nodes) writeNodeTools(paths, node.name);

    // 5. The operator and the controller.
    phase('Starting the operator and the controller');
    const podLog = (pod: string): string => podLogPath(paths, pod);
    await add({ name: 'operator', argv: commands.operator(paths.kubeconfig), logFile: podLog(state.pods.operator) }).start();
    await add({ name: 'controller', argv: commands.controller(paths.kubeconfig), logFile: podLog(state.pods.controller) }).start();
    saveRecord();

    // 6. Each new node provisioned with its pool's rendered config, once there is one.
    const roles = [...new Set(state.nodes.map((n) => n.role))];
    phase(`Waiting for the controller to render the ${roles.join(' and ')} pools`);
    const custom = kc.makeApiClient(k8s.CustomObjectsApi);
    const rendered = new Map<string, string>();
    for (const role of roles) {
      rendered.set(role, await waitFor(`the ${role} pool's rendered config`, timeoutMs, async () => {
        const pool = (await custom.getClusterCustomObject({ group: MCO_GROUP, version: MCO_VERSION, plural: MACHINE_CONFIG_POOLS, name: role })) as { spec?: { configuration?: { name?: string } } };
        return pool.spec?.configuration?.name || undefined;
      }));
    }
    for (const node of state.nodes) {
      const np = nodePaths(paths, node.name);
      const current = (await core.readNode({ name: node.name })).metadata?.annotations?.[CURRENT_CONFIG_ANNOTATION];
      // Provisioned once: a node whose daemon ran has a currentConfig, or at least retired the file.
      if (current || existsSync(join(bootedRoot(np.sysroot, np.cmdline), 'etc', 'machine-config-daemon', 'node-annotation.json.bak'))) continue;
      const config = rendered.get(node.role)!;
      const mc = (await custom.getClusterCustomObject({ group: MCO_GROUP, version: MCO_VERSION, plural: MACHINE_CONFIGS, name: config })) as MachineConfig;
      await provisionNode(np.sysroot, np.cmdline, mc);
    }

    // 7. A daemon per node, rebooted by its firmware when it exits after a reboot; a large
    // fleet shares processes (daemonsPerProcess each) that boot their nodes themselves.
    const perProcess = state.daemonsPerProcess;
    phase(`Starting ${state.nodes.length} node daemon(s)${hosted ? ` in ${Math.ceil(state.nodes.length / perProcess)} processes` : ''}`);
    if (hosted) {
      for (let i = 0; i < state.nodes.length; i += perProcess) {
        const group = state.nodes.slice(i, i + perProcess).map((n) => n.name);
        await add({ name: `node-host ${i / perProcess}`, argv: mco('lab', 'nodes', '--dir', paths.dir, '--nodes', group.join(',')), logFile: join(paths.logs, `node-host-${i / perProcess}.log`) }).start();
      }
    } else {
      for (const node of state.nodes) {
        const np = nodePaths(paths, node.name);
        let bootedAs = '';
        await add({
          name: `daemon ${node.name}`,
          argv: commands.daemon(node, paths.kubeconfig, np.sysroot),
          env: { ...process.env, MCO_KERNEL_CMDLINE_FILE: np.cmdline },
          logFile: podLog(node.pod),
          beforeStart: async () => {
            bootedAs = bootIdentity(np.cmdline);
          },
          exited: async (code, signal) => {
            const asked = rebootRequested.delete(node.name);
            if (!asked && !(code === 0 && signal === null && bootIdentity(np.cmdline) !== bootedAs)) return 'backoff';
            log(`${node.name}: rebooting${asked ? ' (reboot requested)' : ''}`);
            // The kubelet's view, reported in order but never holding up the boot (the API server may be down).
            const notReady = reportNodeReady(core, node.name, false, log);
            await bootNode(np.sysroot, np.cmdline, { node: node.name, log });
            void notReady.then(() => reportNodeReady(core, node.name, true, log));
            return 'now';
          },
        }).start();
      }
    }
    saveRecord();

    // 8. Ready once every node reports a current config.
    phase('Waiting for every node to report its current config');
    await waitFor('every node to report a current config', timeoutMs, async () => {
      const nodes = (await core.listNode()).items;
      return state.nodes.every((n) => nodes.find((o) => o.metadata?.name === n.name)?.metadata?.annotations?.[CURRENT_CONFIG_ANNOTATION]) ? true : undefined;
    });
    record.phase = 'ready';
    phase('Lab ready');
    // Children restart with new pids: keep the record current for a later cleanup.
    const refresh = setInterval(saveRecord, 2000);
    refresh.unref();
    const stop = lab.stop;
    lab.stop = async () => {
      clearInterval(refresh);
      await stop();
    };
    return lab;
  } catch (e) {
    record.phase = 'failed';
    record.message = (e as Error).message;
    saveRecord();
    for (const p of [...processes.values()].reverse()) await p.stop(3000);
    control.close();
    throw e;
  }
}

/** Kills the children a dead supervisor left behind (recorded pids that still run this lab's commands). */
export function reapOrphans(paths: LabPaths, children: number[]): number {
  let killed = 0;
  for (const pid of children) {
    let cmdline: string;
    try {
      cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
    } catch {
      continue; // not running any more
    }
    // A recycled pid runs something else: only a process naming this lab's directory is ours.
    if (!cmdline.includes(paths.dir)) continue;
    try {
      process.kill(pid, 'SIGKILL');
      killed++;
    } catch {
      // Exited in between.
    }
  }
  return killed;
}

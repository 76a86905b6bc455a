/**
 * `mco lab up | down | status | kubeconfig`: the lab seen from the user's shell. `up` checks
 * that the directory and ports are the lab's to use, creates the lab's state the first time,
 * starts the supervisor detached (its own session, log under logs/) and reports its progress
 * until the cluster is ready; a later `up` resumes the same cluster. `down` stops it.
 */
import { spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import * as k8s from '@kubernetes/client-node';
import { MACHINE_CONFIG_POOLS, MCO_GROUP, MCO_VERSION } from '../api/group.js';
import type { MachineConfigPool } from '../api/machineconfigpool.js';
import { CURRENT_CONFIG_ANNOTATION, DESIRED_CONFIG_ANNOTATION, nodeState, NODE_ROLE_LABEL_PREFIX } from '../api/node.js';
import { isAlive } from '../ostree/process.js';
import { LAB_KIND, osContentURL, MCO_JS, LabError, labPaths, readLabState, readSupervisor, runningSupervisor, writeLabState, type LabPaths, type LabState } from './layout.js';
import { labNodes, labPods } from './seed.js';
import { NODES_PER_HOST, PROCESS_PER_NODE_MAX, reapOrphans } from './supervisor.js';

export interface LabUpOptions {
  dir: string;
  masters?: number;
  workers?: number;
  /** Ports for a new lab (0 or absent: any free one); a resumed lab keeps its own. */
  apiPort?: number;
  registryPort?: number;
  /** Node daemons sharing one process (default: 1 up to 10 nodes, 50 beyond). */
  daemonsPerProcess?: number;
  say: (line: string) => void;
  timeoutMs?: number;
}

export interface LabSummary {
  paths: LabPaths;
  state: LabState;
  resumed: boolean;
}

/** Listens on 127.0.0.1:port and closes again: the port the kernel gave, or a clear error naming whose port it is. */
function probePort(port: number, whose: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', (e: NodeJS.ErrnoException) => {
      reject(new LabError(e.code === 'EADDRINUSE'
        ? `Port 127.0.0.1:${port} (${whose}) is in use by another process; stop it, or create the lab in another --dir with another port`
        : `Cannot listen on 127.0.0.1:${port} (${whose}): ${e.message}`));
    });
    server.listen(port, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : port));
    });
  });
}

/**
 * A free port for one of the lab's servers, from below the kernel's ephemeral range: a port
 * the kernel hands out (listen on port 0) is one it also gives outgoing connections as their
 * local port, and a client connection holding it between our probe and the server's bind (or
 * when a stopped lab is resumed, days later) keeps that server from starting.
 */
async function freePort(whose: string, taken: number[] = []): Promise<number> {
  const ephemeralLow = ephemeralRangeStart();
  if (ephemeralLow === undefined || ephemeralLow <= 10_000) return probePort(0, whose);
  for (let attempt = 0; attempt < 20; attempt++) {
    const port = 10_000 + Math.floor(Math.random() * (ephemeralLow - 10_000));
    if (taken.includes(port)) continue;
    try {
      return await probePort(port, whose);
    } catch (e) {
      if (!(e instanceof LabError && /in use/.test(e.message))) throw e;
    }
  }
  return probePort(0, whose);
}

/** The first port of Linux's ephemeral range (32768 by default); undefined where it cannot be read. */
function ephemeralRangeStart(): number | undefined {
  try {
    return Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]) || undefined;
  } catch {
    return undefined; // no procfs: the kernel chooses
  }
}

/** Writes a new lab's state: its shape, its ports (free ones when not given) and the names of its nodes and pods. */
export async function createLabState(paths: LabPaths, options: Pick<LabUpOptions, 'masters' | 'workers' | 'apiPort' | 'registryPort' | 'daemonsPerProcess'>): Promise<LabState> {
  const masters = options.masters ?? 3;
  const workers = options.workers ?? 2;
  if (masters < 1) throw new LabError('--masters must be at least 1');
  const apiPort = options.apiPort ? await probePort(options.apiPort, 'for the API server') : await freePort('for the API server');
  const registryPort = options.registryPort ? await probePort(options.registryPort, 'for the registry') : await freePort('for the registry', [apiPort]);
  if (apiPort === registryPort) throw new LabError('--api-port and --registry-port must differ');
  const osContentPort = await freePort('for the OS content cache', [apiPort, registryPort]);
  const daemonsPerProcess = options.daemonsPerProcess ?? (masters + workers > PROCESS_PER_NODE_MAX ? NODES_PER_HOST : 1);
  if (daemonsPerProcess < 1) throw new LabError('--daemons-per-process must be at least 1');
  const state: LabState = { kind: LAB_KIND, version: 1, masters, workers, apiPort, registryPort, osContentPort, nodes: labNodes(masters, workers), pods: labPods(), daemonsPerProcess };
  mkdirSync(paths.dir, { recursive: true });
  writeLabState(paths, state);
  return state;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function labUp(options: LabUpOptions): Promise<LabSummary> {
  const paths = labPaths(options.dir);
  let state = readLabState(paths);
  const running = runningSupervisor(paths);
  if (running) throw new LabError(`A lab is already running in ${paths.dir} (supervisor pid ${running.pid}); see mco lab status, or stop it with mco lab down`);
  const stale = readSupervisor(paths);
  if (stale) {
    const killed = reapOrphans(paths, stale.children);
    if (killed) options.say(`Stopped ${killed} process(es) left by a supervisor that died`);
  }
  const resumed = state !== null;
  if (state) {
    if ((options.masters !== undefined && options.masters !== state.masters) || (options.workers !== undefined && options.workers !== state.workers)) {
      throw new LabError(`The lab in ${paths.dir} has ${state.masters} masters and ${state.workers} workers; --masters and --workers only shape a new lab (mco lab down, then remove ${paths.dir} to start afresh)`);
    }
    await probePort(state.apiPort, "the lab's API server");
    await probePort(state.registryPort, "the lab's registry");
    if (state.osContentPort === undefined) {
      state.osContentPort = await freePort('for the OS content cache', [state.apiPort, state.registryPort]);
      writeLabState(paths, state);
    } else {
      await probePort(state.osContentPort, "the lab's OS content cache");
    }
  } else {
    state = await createLabState(paths, options);
    writeLabState(paths, state);
  }
  mkdirSync(paths.logs, { recursive: true });
  const fd = openSync(paths.supervisorLog, 'a');
  let pid: number | undefined;
  try {
    const child = spawn(process.execPath, [MCO_JS, 'lab', 'supervise', '--dir', paths.dir], { detached: true, stdio: ['ignore', fd, fd] });
    pid = child.pid;
    child.unref();
  } finally {
    closeSync(fd);
  }
  if (!pid) throw new LabError(`Cannot start the lab's supervisor; see ${paths.supervisorLog}`);
  options.say(`${resumed ? 'Resuming' : 'Creating'} the lab in ${paths.dir} (supervisor pid ${pid}, log ${paths.supervisorLog})`);
  const deadline = Date.now() + (options.timeoutMs ?? 900_000);
  let last = '';
  for (;;) {
    const record = readSupervisor(paths);
    if (record && record.pid === pid) {
      if (record.message !== last) options.say(`  ${(last = record.message)}`);
      if (record.phase === 'ready') return { paths, state: readLabState(paths)!, resumed };
      if (record.phase === 'failed') throw new LabError(`The lab did not start: ${record.message} (see ${paths.supervisorLog})`);
    }
    if (!isAlive(pid)) throw new LabError(`The lab's supervisor exited before the lab was ready: ${lastLines(paths.supervisorLog)}`);
    if (Date.now() > deadline) throw new LabError(`The lab is not ready after ${Math.round((options.timeoutMs ?? 900_000) / 1000)} s; it keeps starting in the background (mco lab status; log ${paths.supervisorLog})`);
    await sleep(300);
  }
}

function lastLines(file: string, n = 3): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-n).join(' / ');
  } catch {
    return `(no log at ${file})`;
  }
}

/** Stops the lab's supervisor and everything it runs. Resolves false when nothing was running. */
export async function labDown(dir: string, say: (line: string) => void): Promise<boolean> {
  const paths = labPaths(dir);
  readLabState(paths);
  const record = runningSupervisor(paths);
  if (!record) {
    const stale = readSupervisor(paths);
    if (stale) reapOrphans(paths, stale.children);
    return false;
  }
  say(`Stopping the lab in ${paths.dir} (supervisor pid ${record.pid})`);
  process.kill(record.pid, 'SIGTERM');
  const deadline = Date.now() + 60_000;
  while (isAlive(record.pid)) {
    if (Date.now() > deadline) {
      process.kill(record.pid, 'SIGKILL');
      break;
    }
    await sleep(200);
  }
  const left = readSupervisor(paths);
  if (left) reapOrphans(paths, left.children);
  return true;
}

/** The lab's state, refusing a directory without one. */
export function existingLab(dir: string): { paths: LabPaths; state: LabState } {
  const paths = labPaths(dir);
  const state = readLabState(paths);
  if (!state) throw new LabError(`No lab in ${paths.dir}: start one with mco lab up --dir ${dir}`);
  return { paths, state };
}

/** Asks the running supervisor to reboot NODE. */
export async function labReboot(dir: string, node: string): Promise<void> {
  const { paths, state } = existingLab(dir);
  if (!state.nodes.some((n) => n.name === node)) throw new LabError(`No node ${node} in the lab in ${paths.dir} (nodes: ${state.nodes.map((n) => n.name).join(', ')})`);
  const record = runningSupervisor(paths);
  if (!record) throw new LabError(`The lab in ${paths.dir} is not running: mco lab up --dir ${dir}`);
  const res = await fetch(`${record.control}/reboot/${encodeURIComponent(node)}`, { method: 'POST' });
  if (!res.ok) throw new LabError((await res.text()).trim());
}

const cell = (rows: string[][]): string => {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)) + 3);
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('').trimEnd()).join('\n');
};

/** Pools, nodes and the lab's processes as one screen: what `mco lab status` prints. */
export async function labStatusText(dir: string): Promise<string> {
  const { paths, state } = existingLab(dir);
  const record = runningSupervisor(paths);
  if (!record) return `The lab in ${paths.dir} is stopped (${state.masters} masters, ${state.workers} workers); start it with mco lab up --dir ${dir}\n`;
  if (record.phase !== 'ready') return `The lab in ${paths.dir} is starting: ${record.message}\n`;
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(paths.kubeconfig);
  const custom = kc.makeApiClient(k8s.CustomObjectsApi);
  const pools = ((await custom.listClusterCustomObject({ group: MCO_GROUP, version: MCO_VERSION, plural: MACHINE_CONFIG_POOLS })) as { items: MachineConfigPool[] }).items;
  const cond = (p: MachineConfigPool, type: string): string => p.status?.conditions?.find((c) => c.type === type)?.status ?? '';
  const poolRows = [['NAME', 'CONFIG', 'UPDATED', 'UPDATING', 'DEGRADED', 'MACHINECOUNT', 'READYMACHINECOUNT', 'UPDATEDMACHINECOUNT', 'DEGRADEDMACHINECOUNT'],
    ...pools.map((p) => [p.metadata.name ?? '', p.status?.configuration?.name ?? '', cond(p, 'Updated'), cond(p, 'Updating'), cond(p, 'Degraded'),
      String(p.status?.machineCount ?? ''), String(p.status?.readyMachineCount ?? ''), String(p.status?.updatedMachineCount ?? ''), String(p.status?.degradedMachineCount ?? '')])];
  const nodes = (await kc.makeApiClient(k8s.CoreV1Api).listNode()).items;
  const nodeRows = [['NODE', 'ROLES', 'READY', 'STATE', 'CURRENT', 'DESIRED'],
    ...nodes.map((n) => {
      const a = n.metadata?.annotations ?? {};
      const roles = Object.keys(n.metadata?.labels ?? {}).filter((l) => l.startsWith(NODE_ROLE_LABEL_PREFIX)).map((l) => l.slice(NODE_ROLE_LABEL_PREFIX.length)).join(',');
      const ready = n.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True' ? 'Ready' : 'NotReady';
      const unschedulable = n.spec?.unschedulable ? ',SchedulingDisabled' : '';
      return [n.metadata?.name ?? '', roles, ready + unschedulable, nodeState(a), a[CURRENT_CONFIG_ANNOTATION] ?? '', a[DESIRED_CONFIG_ANNOTATION] ?? ''];
    })];
  const processRows = [['PROCESS', 'PID', 'RESTARTS'], ...(await labProcesses(dir)).map((p) => [p.name, String(p.pid ?? '-'), String(p.restarts)])];
  const traffic = await labTraffic(state);
  return `Lab ${paths.dir}: API https://127.0.0.1:${state.apiPort}, registry 127.0.0.1:${state.registryPort}, OS content cache ${osContentURL(state)}, kubeconfig ${paths.kubeconfig}\n`
    + `${traffic ? `Sent since start: registry ${mib(traffic.registryBytes)}, OS content cache ${mib(traffic.osContentBytes)} (images pulled into it: ${traffic.osContentExtractions}, held now: ${traffic.osContentImages})\n` : ''}`
    + `\n${cell(poolRows)}\n\n${cell(nodeRows)}\n\n${cell(processRows)}\n`;
}

const mib = (bytes: number): string => `${(bytes / 2 ** 20).toFixed(1)} MiB`;

export interface LabTraffic {
  /** Bytes the registry sent (every client: the cache, the nodes' manifest and config reads, installs). */
  registryBytes: number;
  /** Bytes the OS content cache sent to the nodes. */
  osContentBytes: number;
  osContentExtractions: number;
  /** Images the cache holds now (the controller prunes those no pool uses once rollouts end). */
  osContentImages: number;
}

/** What the running lab's registry and OS content cache have sent since they started; undefined when either does not answer. */
export async function labTraffic(state: LabState): Promise<LabTraffic | undefined> {
  if (state.osContentPort === undefined) return undefined;
  try {
    const registry = (await (await fetch(`http://127.0.0.1:${state.registryPort}/_stats`)).json()) as { bytesSent: number };
    const cache = (await (await fetch(`${osContentURL(state)}/stats`)).json()) as { bytesSent: number; extractions: number };
    const held = (await (await fetch(`${osContentURL(state)}/images`)).json()) as { images: unknown[] };
    return { registryBytes: registry.bytesSent, osContentBytes: cache.bytesSent, osContentExtractions: cache.extractions, osContentImages: held.images.length };
  } catch {
    return undefined; // one of them is (re)starting: no figures this time
  }
}

export interface LabProcess {
  name: string;
  pid: number | null;
  restarts: number;
}

/** The running supervisor's processes (empty when the lab is stopped). */
export async function labProcesses(dir: string): Promise<LabProcess[]> {
  const record = runningSupervisor(labPaths(dir));
  if (!record?.control) return [];
  const res = await fetch(`${record.control}/status`);
  return ((await res.json()) as { processes: LabProcess[] }).processes;
}

/**
 * Where a lab keeps everything, under one directory (`--dir`, default `.lab`): its state
 * (`lab.json`, written once at creation and extended as the build completes), the running
 * supervisor's record (`supervisor.json`, present only while it runs), the API server's and
 * registry's data, each node's sysroot and kernel command line, and a log per process —
 * `logs/<namespace>/<pod>.log` for the processes that are Pods, which is what the API
 * server's `--pod-log-dir` serves as `kubectl logs`.
 */
import { existsSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MCO_NAMESPACE } from '../api/node.js';
import { isAlive } from '../ostree/process.js';
import type { BuiltOsImage } from './os-images.js';
import type { LabNode, LabPods } from './seed.js';

export const LAB_KIND = 'MachineConfigLab';

/** The built CLIs the lab runs (dist/src/lab/layout.js → dist/src/cli/…). */
export const MCO_JS = fileURLToPath(new URL('../cli/mco.js', import.meta.url));
export const MCD_JS = fileURLToPath(new URL('../cli/machine-config-daemon.js', import.meta.url));

export class LabError extends Error {
  override name = 'LabError';
}

/** lab.json: what the lab is. Ports are fixed at creation: image pull specs name the registry's. */
export interface LabState {
  kind: typeof LAB_KIND;
  version: 1;
  masters: number;
  workers: number;
  apiPort: number;
  registryPort: number;
  /** The OS content cache's port (labs made before it had one get one at their next `up`). */
  osContentPort?: number;
  nodes: LabNode[];
  pods: LabPods;
  /** Node daemons per process: 1 (a process per node, as on a real cluster) or more (a large fleet). */
  daemonsPerProcess: number;
  /** Set once the OS and release images are in the registry. */
  images?: BuiltOsImage[];
  releases?: string[];
  /** Nodes whose sysroot is installed and first booted. */
  installed?: string[];
}

/** The URL the lab publishes as the ConfigMap's osContentURL. */
export const osContentURL = (state: LabState): string => (state.osContentPort === undefined ? '(none)' : `http://127.0.0.1:${state.osContentPort}`);

/** supervisor.json: the running supervisor and how to reach it. */
export interface SupervisorRecord {
  pid: number;
  /** `http://127.0.0.1:PORT` of its control endpoint (reboots, status). */
  control: string;
  phase: 'starting' | 'ready' | 'failed';
  /** What it is doing now, or why it failed. */
  message: string;
  /** pids of its children, so a later `up` can clean up after a supervisor killed with -9. */
  children: number[];
}

export function labPaths(dir: string) {
  const root = resolve(dir);
  return {
    dir: root,
    state: join(root, 'lab.json'),
    supervisor: join(root, 'supervisor.json'),
    logs: join(root, 'logs'),
    supervisorLog: join(root, 'logs', 'supervisor.log'),
    apiserverLog: join(root, 'logs', 'apiserver.log'),
    registryLog: join(root, 'logs', 'registry.log'),
    apiserverData: join(root, 'apiserver'),
    registryRoot: join(root, 'registry'),
    osContentLog: join(root, 'logs', 'os-content.log'),
    osContentCache: join(root, 'os-content'),
    kubeconfig: join(root, 'kubeconfig'),
    work: join(root, 'work'),
    nodes: join(root, 'nodes'),
  };
}
export type LabPaths = ReturnType<typeof labPaths>;

export function nodePaths(paths: LabPaths, node: string) {
  const dir = join(paths.nodes, node);
  return { dir, sysroot: join(dir, 'sysroot'), cmdline: join(dir, 'cmdline'), bin: join(dir, 'bin') };
}

/** The log of a lab process that is a Pod of the MCO namespace. */
export const podLogPath = (paths: LabPaths, pod: string): string => join(paths.logs, MCO_NAMESPACE, `${pod}.log`);

function writeJson(file: string, value: unknown): void {
  writeFileSync(`${file}.tmp`, `${JSON.stringify(value, null, 2)}\n`);
  renameSync(`${file}.tmp`, file);
}

/** The lab's state, or null when `dir` holds no lab yet (missing or empty). Refuses a directory holding something else. */
export function readLabState(paths: LabPaths): LabState | null {
  if (!existsSync(paths.dir)) return null;
  if (!existsSync(paths.state)) {
    const entries = readdirSync(paths.dir);
    if (entries.length === 0) return null;
    throw new LabError(`${paths.dir} holds something other than a lab (${entries.slice(0, 3).join(', ')}${entries.length > 3 ? ', …' : ''}); choose another --dir`);
  }
  let state: LabState;
  try {
    state = JSON.parse(readFileSync(paths.state, 'utf8')) as LabState;
  } catch (e) {
    throw new LabError(`${paths.state} is not a lab state file: ${(e as Error).message}`, { cause: e });
  }
  if (state?.kind !== LAB_KIND || state.version !== 1) throw new LabError(`${paths.state} is not a lab state file (kind ${JSON.stringify(state?.kind)}); choose another --dir`);
  return state;
}

export const writeLabState = (paths: LabPaths, state: LabState): void => writeJson(paths.state, state);

export function readSupervisor(paths: LabPaths): SupervisorRecord | null {
  try {
    return JSON.parse(readFileSync(paths.supervisor, 'utf8')) as SupervisorRecord;
  } catch {
    // Absent (or half-written by a supervisor killed mid-write): no supervisor to talk to.
    return null;
  }
}

export const writeSupervisor = (paths: LabPaths, record: SupervisorRecord): void => writeJson(paths.supervisor, record);

/** The running supervisor of this lab, or null (a record left by a dead one does not count). */
export function runningSupervisor(paths: LabPaths): SupervisorRecord | null {
  const record = readSupervisor(paths);
  return record && isAlive(record.pid) ? record : null;
}

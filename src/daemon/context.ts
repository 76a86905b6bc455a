/** What the daemon's steps share for one boot: the API, the host, the effects and the metrics. */
import type * as k8s from '@kubernetes/client-node';
import type { MachineConfigDaemonState } from '../api/node.js';
import type { HostRoot } from '../node/host-root.js';
import type { OsContentSource, OsImageSource } from '../node/pivot.js';
import type { KernelCmdlineReader } from '../sysroot/types.js';
import type { Clock } from './clock.js';
import type { NodeApi } from './kube.js';
import type { Logger } from './log.js';
import type { DaemonMetrics } from './metrics.js';

/**
 * Named points of an update where a crash harness may kill the daemon (and the pivot's own
 * sysroot steps, passed down). Convergence after a kill at each is tested.
 */
export const DAEMON_CRASH_POINTS = [
  'update-journal-written',
  'drained',
  'files-written',
  'os-staged',
  'kargs-applied',
  'pending-written',
  'rebooted',
  'pending-validated',
] as const;
export type DaemonCrashPoint = (typeof DAEMON_CRASH_POINTS)[number];

export interface DaemonContext {
  nodeName: string;
  sysroot: string;
  api: NodeApi;
  root: HostRoot;
  log: Logger;
  clock: Clock;
  metrics: DaemonMetrics;
  source: OsImageSource;
  /** The OS content cache at a URL (the ControllerConfig's osContentURL); undefined: never used. */
  osContent: ((url: string) => OsContentSource) | undefined;
  readCmdline: KernelCmdlineReader | undefined;
  reboot: (rationale: string) => Promise<void>;
  bootId: string;
  drainTimeoutMs: number;
  pivotRetryDelaysMs: number[] | undefined;
  idleIo: (<T>(work: () => Promise<T>) => Promise<T>) | undefined;
  crashPoint: ((step: string) => void) | undefined;
  signal: AbortSignal;
  /** Writes state (+ reason, + currentConfig) on the Node, logging and counting as the original's writer. */
  setState(node: k8s.V1Node | undefined, state: MachineConfigDaemonState, extra?: { reason?: string; currentConfig?: string }): Promise<void>;
}

/**
 * The daemon's decisions on the Node's annotations (mco.md §5.2, §5.3): which state an error
 * puts the node in, the reason text as the annotation holds it, and what a sync of the node
 * must do. Pure; the loop in daemon.ts reads the inputs and carries out the answer.
 */
import { REASON_MAX_LENGTH, STATE_DEGRADED, STATE_DONE, STATE_UNRECONCILABLE, type MachineConfigDaemonState } from '../api/node.js';
import { UnreconcilableError } from './errors.js';

/** The reason annotation's text: the first 2000 characters (Go's `%.2000s` counts runes, so do we). */
export function truncateReason(reason: string): string {
  const chars = [...reason];
  return chars.length <= REASON_MAX_LENGTH ? reason : chars.slice(0, REASON_MAX_LENGTH).join('');
}

/** Unreconcilable for a refused change, Degraded for anything else; the reason truncated. */
export function stateForError(e: unknown): { state: MachineConfigDaemonState; reason: string } {
  let cur: unknown = e;
  for (let depth = 0; cur instanceof Error && depth < 10; cur = cur.cause, depth++) {
    if (cur instanceof UnreconcilableError) break;
  }
  const message = e instanceof Error ? e.message : String(e);
  return { state: cur instanceof UnreconcilableError ? STATE_UNRECONCILABLE : STATE_DEGRADED, reason: truncateReason(message) };
}

export interface SyncInput {
  currentConfig: string | undefined;
  desiredConfig: string | undefined;
  state: MachineConfigDaemonState;
  /** Name of the config in /etc/machine-config-daemon/currentconfig, if any. */
  onDiskConfig: string | undefined;
}

export type SyncAction =
  | { kind: 'wait'; why: string }
  | { kind: 'none' }
  /** At the desired config but not Done (drift, or a reverted failed update): check the host again. */
  | { kind: 'validate'; config: string }
  | { kind: 'update'; from: string | undefined; to: string };

/** `syncNode` after the first run (mco.md §5.3 step 2). */
export function syncAction(input: SyncInput): SyncAction {
  const { currentConfig, desiredConfig, state, onDiskConfig } = input;
  if (!desiredConfig) return { kind: 'wait', why: 'the node has no desiredConfig annotation yet' };
  // An on-disk config that differs from the annotation wins: the host is what was last written.
  if (onDiskConfig && onDiskConfig !== currentConfig) return { kind: 'update', from: onDiskConfig, to: desiredConfig };
  // Unlike the 4.6 daemon, a node at its desired config is never re-applied by itself: drift
  // stays Degraded until the host is put back (or the force file asks for a re-apply).
  if (desiredConfig === currentConfig) return state === STATE_DONE ? { kind: 'none' } : { kind: 'validate', config: desiredConfig };
  return { kind: 'update', from: currentConfig, to: desiredConfig };
}

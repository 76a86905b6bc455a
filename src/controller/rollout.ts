/**
 * The node controller's decisions (reference mco.md §4.1–§4.4): which nodes belong to a
 * pool, which of them may be given the pool's target now (maxUnavailable, nodes failing on
 * the target), and the pool's status (counts, conditions, status.configuration once every
 * node is there). Pure functions on plain Node and pool objects.
 */
import { CURRENT_CONFIG_ANNOTATION, DESIRED_CONFIG_ANNOTATION, REASON_ANNOTATION, STATE_DEGRADED, STATE_DONE, STATE_UNRECONCILABLE, nodeState } from '../api/node.js';
import type { MachineConfigPool, MachineConfigPoolCondition, MachineConfigPoolConditionType, MachineConfigPoolStatus } from '../api/machineconfigpool.js';
import type { ConditionStatus } from '../api/meta.js';
import { isEmptySelector, matchesSelector } from './labels.js';

/** The parts of a core/v1 Node the controller reads (a client-node V1Node fits). */
export interface NodeLike {
  metadata?: { name?: string; labels?: { [k: string]: string }; annotations?: { [k: string]: string }; creationTimestamp?: Date | string };
  spec?: { unschedulable?: boolean };
  status?: { conditions?: Array<{ type: string; status: string }> };
}

export const ZONE_LABEL = 'topology.kubernetes.io/zone';
const BUILTIN_POOLS = ['master', 'worker'];

const ann = (n: NodeLike, key: string): string => n.metadata?.annotations?.[key] ?? '';
const nameOf = (n: NodeLike): string => n.metadata?.name ?? '';

/** currentConfig and desiredConfig set, equal, and state Done. */
export function isDone(n: NodeLike): boolean {
  const cur = ann(n, CURRENT_CONFIG_ANNOTATION);
  return cur !== '' && cur === ann(n, DESIRED_CONFIG_ANNOTATION) && nodeState(n.metadata?.annotations) === STATE_DONE;
}

export const isDoneAt = (n: NodeLike, config: string): boolean => isDone(n) && ann(n, CURRENT_CONFIG_ANNOTATION) === config;

/** Why a node is not ready, or undefined when it is (NodeReady, DiskPressure, NetworkUnavailable, cordon). */
export function notReadyReason(n: NodeLike): string | undefined {
  for (const c of n.status?.conditions ?? []) {
    if (c.type === 'Ready' && c.status !== 'True') return `node ${nameOf(n)} is reporting NotReady=${c.status}`;
    if (c.type === 'DiskPressure' && c.status !== 'False') return `node ${nameOf(n)} is reporting OutOfDisk=${c.status}`;
    if (c.type === 'NetworkUnavailable' && c.status !== 'False') return `node ${nameOf(n)} is reporting NetworkUnavailable=${c.status}`;
  }
  if (n.spec?.unschedulable) return `node ${nameOf(n)} is reporting Unschedulable`;
  return undefined;
}

export const isReady = (n: NodeLike): boolean => notReadyReason(n) === undefined;

const degradedState = (n: NodeLike): boolean => {
  const s = nodeState(n.metadata?.annotations);
  return s === STATE_DEGRADED || s === STATE_UNRECONCILABLE;
};

/** Failing toward a config it is not on yet. */
export const isFailing = (n: NodeLike): boolean => ann(n, CURRENT_CONFIG_ANNOTATION) !== ann(n, DESIRED_CONFIG_ANNOTATION) && degradedState(n);

/** Not ready; or not done and not failing (working, or never reported). */
export function isUnavailable(n: NodeLike): boolean {
  if (!isReady(n)) return true;
  if (isDone(n)) return false;
  return !isFailing(n);
}

export const isDegraded = (n: NodeLike): boolean => ann(n, DESIRED_CONFIG_ANNOTATION) !== '' && degradedState(n);

/** A node selected by more pools than the rules allow (§4.1). */
export class PoolMembershipError extends Error {
  override name = 'PoolMembershipError';
}

/**
 * The pool a node belongs to among `pools` (§4.1): one custom pool wins over worker; two
 * custom pools, or a custom pool and master, are an error; else master, else worker.
 * Undefined when no pool selects it.
 */
export function primaryPool(node: NodeLike, pools: readonly MachineConfigPool[]): MachineConfigPool | undefined {
  const matching = pools.filter((p) => !isEmptySelector(p.spec.nodeSelector) && matchesSelector(p.spec.nodeSelector!, node.metadata?.labels));
  const custom = matching.filter((p) => !BUILTIN_POOLS.includes(p.metadata.name!));
  const master = matching.find((p) => p.metadata.name === 'master');
  const names = (ps: MachineConfigPool[]): string => ps.map((p) => p.metadata.name).sort().join(', ');
  if (custom.length > 1) throw new PoolMembershipError(`node ${nameOf(node)} belongs to ${custom.length} custom roles (${names(custom)}), cannot proceed with this Node`);
  if (custom.length === 1 && master) throw new PoolMembershipError(`node ${nameOf(node)} has both master role and custom role ${custom[0]!.metadata.name}`);
  return custom[0] ?? master ?? matching.find((p) => p.metadata.name === 'worker');
}

export interface Membership {
  /** The pool's nodes, in rollout order (zone label, then name). */
  nodes: NodeLike[];
  /** Nodes the pool selects that cannot be placed, and why. */
  errors: string[];
}

/** The nodes whose primary pool is `pool`, in the order candidates are taken. */
export function poolNodes(pool: MachineConfigPool, pools: readonly MachineConfigPool[], nodes: readonly NodeLike[]): Membership {
  const errors: string[] = [];
  const members: NodeLike[] = [];
  if (isEmptySelector(pool.spec.nodeSelector)) return { nodes: [], errors };
  for (const n of nodes) {
    if (!matchesSelector(pool.spec.nodeSelector!, n.metadata?.labels)) continue;
    try {
      if (primaryPool(n, pools)?.metadata.name === pool.metadata.name) members.push(n);
    } catch (e) {
      if (!(e instanceof PoolMembershipError)) throw e;
      errors.push(e.message);
    }
  }
  return { nodes: sortForRollout(members), errors };
}

/** Zone label alphabetically (nodes without one last), then name: a rollout order anyone can predict. */
export function sortForRollout(nodes: readonly NodeLike[]): NodeLike[] {
  const zone = (n: NodeLike): string | undefined => n.metadata?.labels?.[ZONE_LABEL];
  return [...nodes].sort((a, b) => {
    const za = zone(a);
    const zb = zone(b);
    if (za !== zb) {
      if (za === undefined) return 1;
      if (zb === undefined) return -1;
      return za < zb ? -1 : 1;
    }
    return nameOf(a) < nameOf(b) ? -1 : nameOf(a) > nameOf(b) ? 1 : 0;
  });
}

/** An unusable spec.maxUnavailable. */
export class MaxUnavailableError extends Error {
  override name = 'MaxUnavailableError';
}

/**
 * spec.maxUnavailable resolved against the pool's node count: absent means 1, a percentage
 * rounds down, and 0 means 1 (a pool always makes progress).
 */
export function maxUnavailable(pool: MachineConfigPool, nodeCount: number): number {
  const raw = pool.spec.maxUnavailable ?? 1;
  let n: number;
  if (typeof raw === 'number') {
    if (!Number.isInteger(raw) || raw < 0) throw new MaxUnavailableError(`MachineConfigPool ${pool.metadata.name}: spec.maxUnavailable: ${raw} is not a non-negative whole number`);
    n = raw;
  } else {
    const m = /^(\d+)%$/.exec(raw);
    if (!m) throw new MaxUnavailableError(`MachineConfigPool ${pool.metadata.name}: spec.maxUnavailable: invalid value for IntOrString: invalid value "${raw}": must be a whole number or a percentage such as "10%"`);
    n = Math.floor((Number(m[1]) * nodeCount) / 100);
  }
  return n === 0 ? 1 : n;
}

export interface Candidates {
  /** Nodes to give the target now, in order. */
  nodes: NodeLike[];
  /** Room left for new targets (maxUnavailable − unavailable − failing on the target), ≥ 0. */
  capacity: number;
  maxUnavailable: number;
}

/**
 * Which of the pool's nodes (`nodes`, already in rollout order) get the target now (§4.3):
 * none when the pool has no target or is paused; otherwise the first `capacity` nodes whose
 * desiredConfig is not the target, where nodes failing on the target use up capacity.
 */
export function selectCandidates(pool: MachineConfigPool, nodes: readonly NodeLike[]): Candidates {
  const target = pool.spec.configuration?.name ?? '';
  const max = maxUnavailable(pool, nodes.length);
  if (!target || pool.spec.paused) return { nodes: [], capacity: 0, maxUnavailable: max };
  const unavailable = nodes.filter(isUnavailable).length;
  let capacity = max - unavailable;
  const candidates: NodeLike[] = [];
  let failingOnTarget = 0;
  for (const n of nodes) {
    if (ann(n, DESIRED_CONFIG_ANNOTATION) === target) {
      if (isFailing(n)) failingOnTarget++;
    } else {
      candidates.push(n);
    }
  }
  capacity -= failingOnTarget;
  if (capacity <= 0) return { nodes: [], capacity: 0, maxUnavailable: max };
  return { nodes: candidates.slice(0, capacity), capacity, maxUnavailable: max };
}

/**
 * Sets a condition with the real helper's rule (§1.3): same status and reason → unchanged
 * (the message is not refreshed); same status, new reason → lastTransitionTime kept; the
 * changed condition moves to the end of the list.
 */
export function setCondition(conditions: readonly MachineConfigPoolCondition[], next: MachineConfigPoolCondition): MachineConfigPoolCondition[] {
  const current = conditions.find((c) => c.type === next.type);
  if (current && current.status === next.status && (current.reason ?? '') === (next.reason ?? '')) return [...conditions];
  const kept = current && current.status === next.status ? { ...next, lastTransitionTime: current.lastTransitionTime ?? null } : next;
  return [...conditions.filter((c) => c.type !== next.type), kept];
}

const cond = (type: MachineConfigPoolConditionType, status: ConditionStatus, now: string, reason = '', message = ''): MachineConfigPoolCondition => ({ type, status, lastTransitionTime: now, reason, message });

export interface PoolStatusOptions {
  /** RFC 3339 time for conditions that change. */
  now: string;
}

/**
 * The pool's status from its nodes (§4.4): counts, Updated/Updating/NodeDegraded/Degraded
 * conditions (RenderDegraded carried over from the current status), and status.configuration
 * replaced by spec.configuration only when every node is updated, ready and available.
 */
export function poolStatus(pool: MachineConfigPool, nodes: readonly NodeLike[], opts: PoolStatusOptions): MachineConfigPoolStatus {
  const target = pool.spec.configuration?.name ?? '';
  const old = pool.status ?? {};
  const machineCount = nodes.length;
  const updated = nodes.filter((n) => isDoneAt(n, target));
  const updatedMachineCount = updated.length;
  const readyMachineCount = updated.filter(isReady).length;
  const unavailableMachineCount = nodes.filter(isUnavailable).length;
  const degraded = nodes.filter(isDegraded);
  const degradedMachineCount = degraded.length;
  const allUpdated = updatedMachineCount === machineCount && readyMachineCount === machineCount && unavailableMachineCount === 0;

  let conditions = old.conditions ?? [];
  if (allUpdated) {
    conditions = setCondition(conditions, cond('Updated', 'True', opts.now, '', `All nodes are updated with ${target}`));
    conditions = setCondition(conditions, cond('Updating', 'False', opts.now));
  } else {
    conditions = setCondition(conditions, cond('Updated', 'False', opts.now));
    if (pool.spec.paused) {
      // Deliberately unlike the 4.6-era helper, which keeps Updating=False's empty message: a
      // paused pool with pending changes says so (paused pools silently holding back updates
      // are a top complaint, mco.md §11).
      const message = `Pool is paused; will not update to ${target}`;
      conditions = setCondition(conditions, cond('Updating', 'False', opts.now, '', message)).map((c) => (c.type === 'Updating' ? { ...c, message } : c));
    } else {
      conditions = setCondition(conditions, cond('Updating', 'True', opts.now, '', `All nodes are updating to ${target}`));
    }
  }
  if (degradedMachineCount > 0) {
    const message = degraded.map((n) => `Node ${nameOf(n)} is reporting: ${JSON.stringify(ann(n, REASON_ANNOTATION))}`).join(', ');
    conditions = setCondition(conditions, cond('NodeDegraded', 'True', opts.now, `${degradedMachineCount} nodes are reporting degraded status on sync`, message));
  } else {
    conditions = setCondition(conditions, cond('NodeDegraded', 'False', opts.now));
  }
  const renderDegraded = (old.conditions ?? []).find((c) => c.type === 'RenderDegraded')?.status === 'True';
  conditions = setCondition(conditions, cond('Degraded', degradedMachineCount > 0 || renderDegraded ? 'True' : 'False', opts.now));

  const configuration = allUpdated && pool.spec.configuration ? pool.spec.configuration : old.configuration;
  return {
    observedGeneration: pool.metadata.generation ?? 0,
    ...(configuration ? { configuration } : {}),
    machineCount,
    updatedMachineCount,
    readyMachineCount,
    unavailableMachineCount,
    degradedMachineCount,
    conditions,
  };
}

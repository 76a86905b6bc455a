/**
 * MachineConfigPool (machineconfiguration.openshift.io/v1, cluster-scoped, status
 * subresource): a set of nodes and the rendered config they should run. The render
 * controller writes spec.configuration (the target); the node controller rolls nodes to it
 * and reports progress in status (counts, conditions, and status.configuration once all
 * nodes are there).
 */
import type { ConditionStatus, LabelSelector, ObjectMeta, ObjectReference } from './meta.js';

export const MACHINE_CONFIG_POOL_KIND = 'MachineConfigPool';

/** A rendered config and the fragments it was generated from. */
export interface PoolConfiguration extends ObjectReference {
  source?: ObjectReference[];
}

export interface MachineConfigPoolSpec {
  machineConfigSelector?: LabelSelector;
  nodeSelector?: LabelSelector;
  paused?: boolean;
  /** A count or a percentage such as `"10%"`; absent means 1. */
  maxUnavailable?: number | string;
  configuration?: PoolConfiguration;
}

/**
 * Condition types of the 4.6-era controller. `Degraded` is True when NodeDegraded or
 * RenderDegraded is.
 */
export type MachineConfigPoolConditionType = 'Updated' | 'Updating' | 'NodeDegraded' | 'RenderDegraded' | 'Degraded';

export interface MachineConfigPoolCondition {
  type: MachineConfigPoolConditionType;
  status: ConditionStatus;
  /** RFC 3339; null until first set. */
  lastTransitionTime?: string | null;
  reason?: string;
  message?: string;
}

export interface MachineConfigPoolStatus {
  observedGeneration?: number;
  configuration?: PoolConfiguration;
  machineCount?: number;
  updatedMachineCount?: number;
  readyMachineCount?: number;
  unavailableMachineCount?: number;
  degradedMachineCount?: number;
  conditions?: MachineConfigPoolCondition[];
}

export interface MachineConfigPool {
  apiVersion: 'machineconfiguration.openshift.io/v1';
  kind: 'MachineConfigPool';
  metadata: ObjectMeta;
  spec: MachineConfigPoolSpec;
  status?: MachineConfigPoolStatus;
}

/**
 * The Node annotations and labels through which the controller and the daemon talk
 * (reference mco.md §2): the controller writes desiredConfig, the daemon writes
 * currentConfig, state and reason. One source for both sides and for tests.
 */

export const CURRENT_CONFIG_ANNOTATION = 'machineconfiguration.openshift.io/currentConfig';
export const DESIRED_CONFIG_ANNOTATION = 'machineconfiguration.openshift.io/desiredConfig';
export const STATE_ANNOTATION = 'machineconfiguration.openshift.io/state';
export const REASON_ANNOTATION = 'machineconfiguration.openshift.io/reason';
export const SSH_ANNOTATION = 'machineconfiguration.openshift.io/ssh';

/** Values of the state annotation, exact case; an absent or empty state means Done. */
export type MachineConfigDaemonState = 'Done' | 'Working' | 'Degraded' | 'Unreconcilable';
export const STATE_DONE: MachineConfigDaemonState = 'Done';
export const STATE_WORKING: MachineConfigDaemonState = 'Working';
export const STATE_DEGRADED: MachineConfigDaemonState = 'Degraded';
export const STATE_UNRECONCILABLE: MachineConfigDaemonState = 'Unreconcilable';

/** The daemon truncates the reason annotation to this many characters. */
export const REASON_MAX_LENGTH = 2000;

/** Role labels the default pools select nodes by (`node-role.kubernetes.io/worker: ""`). */
export const NODE_ROLE_LABEL_PREFIX = 'node-role.kubernetes.io/';
export const nodeRoleLabel = (role: string): string => `${NODE_ROLE_LABEL_PREFIX}${role}`;

/** Namespace of the operator, the controller, the daemons and the osImageURL ConfigMap. */
export const MCO_NAMESPACE = 'openshift-machine-config-operator';
/** The ConfigMap the operator reads osImageURL and releaseVersion from (mco.md §7.1). */
export const OSIMAGEURL_CONFIGMAP = 'machine-config-osimageurl';

/** The state annotation read as the daemon reads it: absent or empty is Done. */
export function nodeState(annotations: Record<string, string> | undefined): MachineConfigDaemonState {
  const state = annotations?.[STATE_ANNOTATION];
  return state ? (state as MachineConfigDaemonState) : STATE_DONE;
}

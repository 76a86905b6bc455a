/**
 * Test-only builders of nodes, pools and configs for the controller's table tests, in the
 * style of the MCO's own `newNode`/`newMachineConfigPool` helpers. Never imported by the library.
 */
import type { ControllerConfig } from '../api/controllerconfig.js';
import { ROLE_LABEL, type MachineConfig, type MachineConfigSpec } from '../api/machineconfig.js';
import type { MachineConfigPool, MachineConfigPoolSpec } from '../api/machineconfigpool.js';
import { CURRENT_CONFIG_ANNOTATION, DESIRED_CONFIG_ANNOTATION, REASON_ANNOTATION, STATE_ANNOTATION, nodeRoleLabel, type MachineConfigDaemonState } from '../api/node.js';
import type { NodeLike } from './rollout.js';

export interface NodeOpts {
  current?: string;
  desired?: string;
  state?: MachineConfigDaemonState;
  reason?: string;
  ready?: boolean;
  unschedulable?: boolean;
  role?: string;
  labels?: Record<string, string>;
  zone?: string;
}

export function node(name: string, o: NodeOpts = {}): NodeLike {
  const annotations: Record<string, string> = {};
  if (o.current !== undefined) annotations[CURRENT_CONFIG_ANNOTATION] = o.current;
  if (o.desired !== undefined) annotations[DESIRED_CONFIG_ANNOTATION] = o.desired;
  if (o.state !== undefined) annotations[STATE_ANNOTATION] = o.state;
  if (o.reason !== undefined) annotations[REASON_ANNOTATION] = o.reason;
  return {
    metadata: {
      name,
      labels: { [nodeRoleLabel(o.role ?? 'worker')]: '', ...(o.zone ? { 'topology.kubernetes.io/zone': o.zone } : {}), ...o.labels },
      annotations,
    },
    spec: { unschedulable: o.unschedulable ?? false },
    status: { conditions: [{ type: 'Ready', status: o.ready === false ? 'False' : 'True' }] },
  };
}

/** A node done at `config`. */
export const doneAt = (name: string, config: string, o: NodeOpts = {}): NodeLike => node(name, { current: config, desired: config, state: 'Done', ...o });

export function pool(name: string, spec: Partial<MachineConfigPoolSpec> & { target?: string } = {}): MachineConfigPool {
  const { target, ...rest } = spec;
  return {
    apiVersion: 'machineconfiguration.openshift.io/v1',
    kind: 'MachineConfigPool',
    metadata: { name, uid: `uid-${name}`, generation: 1 },
    spec: {
      machineConfigSelector: { matchLabels: { [ROLE_LABEL]: name } },
      nodeSelector: { matchLabels: { [nodeRoleLabel(name)]: '' } },
      ...(target ? { configuration: { name: target } } : {}),
      ...rest,
    },
  };
}

export function mc(name: string, spec: MachineConfigSpec = {}, role: string | null = 'worker'): MachineConfig {
  return {
    apiVersion: 'machineconfiguration.openshift.io/v1',
    kind: 'MachineConfig',
    metadata: { name, ...(role ? { labels: { [ROLE_LABEL]: role } } : {}) },
    spec,
  };
}

export function controllerConfig(osImageURL: string): ControllerConfig {
  return {
    apiVersion: 'machineconfiguration.openshift.io/v1',
    kind: 'ControllerConfig',
    metadata: { name: 'machine-config-controller' },
    spec: {
      osImageURL,
      additionalTrustBundle: null,
      cloudProviderConfig: '',
      clusterDNSIP: '',
      images: {},
      infra: null,
      kubeAPIServerServingCAData: '',
      proxy: null,
      releaseImage: '',
      rootCAData: '',
    },
  };
}

export const IMAGE_A = `registry.example.com/os@sha256:${'a'.repeat(64)}`;
export const IMAGE_B = `registry.example.com/os@sha256:${'b'.repeat(64)}`;

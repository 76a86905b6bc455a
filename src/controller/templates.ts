/**
 * What the operator creates when absent (reference mco.md §1.6): the built-in pools `master`
 * and `worker`, and each role's template MachineConfigs `00-<role>`,
 * `01-<role>-container-runtime`, `01-<role>-kubelet` (Ignition 3.1.0, role-labelled,
 * annotated with the controller version). Their content is small but real: files and units a
 * node's daemon writes.
 */
import { MCO_API_VERSION } from '../api/group.js';
import { GENERATED_BY_CONTROLLER_VERSION_ANNOTATION, ROLE_LABEL, type MachineConfig } from '../api/machineconfig.js';
import type { MachineConfigPool } from '../api/machineconfigpool.js';
import { nodeRoleLabel } from '../api/node.js';

export const ROLES = ['master', 'worker'] as const;
export type Role = (typeof ROLES)[number];

export const REQUIRED_FOR_UPGRADE_LABEL = 'operator.machineconfiguration.openshift.io/required-for-upgrade';
export const BUILT_IN_LABEL = 'machineconfiguration.openshift.io/mco-built-in';
export const poolLabel = (role: string): string => `pools.operator.machineconfiguration.openshift.io/${role}`;

export function defaultPool(role: Role): MachineConfigPool {
  return {
    apiVersion: MCO_API_VERSION,
    kind: 'MachineConfigPool',
    metadata: {
      name: role,
      labels: {
        ...(role === 'master' ? { [REQUIRED_FOR_UPGRADE_LABEL]: '' } : {}),
        [BUILT_IN_LABEL]: '',
        [poolLabel(role)]: '',
      },
    },
    spec: {
      machineConfigSelector: { matchLabels: { [ROLE_LABEL]: role } },
      nodeSelector: { matchLabels: { [nodeRoleLabel(role)]: '' } },
      paused: false,
    },
  };
}

/** A `data:` URL of `text`, as Ignition file contents carry it. */
const dataUrl = (text: string): string => `data:,${encodeURIComponent(text)}`;
const file = (path: string, text: string, mode = 0o644): object => ({ path, mode, overwrite: true, contents: { source: dataUrl(text) } });

function templateConfig(name: string, role: Role, controllerVersion: string, storage: { files: object[] }, systemd?: { units: object[] }): MachineConfig {
  return {
    apiVersion: MCO_API_VERSION,
    kind: 'MachineConfig',
    metadata: { name, labels: { [ROLE_LABEL]: role }, annotations: { [GENERATED_BY_CONTROLLER_VERSION_ANNOTATION]: controllerVersion } },
    spec: {
      osImageURL: '',
      config: { ignition: { version: '3.1.0' }, storage, ...(systemd ? { systemd } : {}) },
    },
  };
}

/** The three template configs of `role`. */
export function templateConfigs(role: Role, controllerVersion: string): MachineConfig[] {
  return [
    templateConfig(
      `00-${role}`,
      role,
      controllerVersion,
      { files: [file('/etc/sysctl.d/forward.conf', 'net.ipv4.ip_forward = 1\n'), file('/etc/hostname-role', `${role}\n`)] },
      {
        units: [
          {
            name: 'machine-config-daemon-firstboot.service',
            enabled: true,
            contents: '[Unit]\nDescription=Machine Config Daemon Firstboot\nConditionPathExists=/etc/ignition-machine-config-encapsulated.json\n\n[Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart=/usr/libexec/machine-config-daemon firstboot-complete-machineconfig\n\n[Install]\nWantedBy=multi-user.target\n',
          },
        ],
      },
    ),
    templateConfig(`01-${role}-container-runtime`, role, controllerVersion, {
      files: [file('/etc/crio/crio.conf.d/00-default', '[crio.runtime]\nconmon_cgroup = "pod"\ncgroup_manager = "systemd"\n'), file('/etc/containers/registries.conf', 'unqualified-search-registries = ["registry.access.redhat.com", "docker.io"]\n')],
    }),
    templateConfig(
      `01-${role}-kubelet`,
      role,
      controllerVersion,
      { files: [file('/etc/kubernetes/kubelet.conf', `kind: KubeletConfiguration\napiVersion: kubelet.config.k8s.io/v1beta1\ncgroupDriver: systemd\nnodeLabels:\n  node-role.kubernetes.io/${role}: ""\n`)] },
      {
        units: [
          {
            name: 'kubelet.service',
            enabled: true,
            contents: `[Unit]\nDescription=Kubernetes Kubelet\nWants=rpc-statd.service crio.service\nAfter=crio.service\n\n[Service]\nExecStart=/usr/bin/kubelet --config=/etc/kubernetes/kubelet.conf --node-labels=node-role.kubernetes.io/${role}\nRestart=always\n\n[Install]\nWantedBy=multi-user.target\n`,
          },
        ],
      },
    ),
  ];
}

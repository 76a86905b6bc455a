/**
 * MachineConfig (machineconfiguration.openshift.io/v1, cluster-scoped, no status): one
 * fragment of a machine's configuration; the render controller merges the fragments a pool
 * selects into a `rendered-<pool>-<hash>` MachineConfig.
 */
import type { ObjectMeta } from './meta.js';

export const MACHINE_CONFIG_KIND = 'MachineConfig';
/** Label saying which pool's role a fragment belongs to (`master`, `worker`, a custom role). */
export const ROLE_LABEL = 'machineconfiguration.openshift.io/role';
/** Annotation on configs the controller generated: its version (shown as GENERATEDBYCONTROLLER). */
export const GENERATED_BY_CONTROLLER_VERSION_ANNOTATION = 'machineconfiguration.openshift.io/generated-by-controller-version';

/**
 * An Ignition config, inline. Only `ignition.version` is required by the CRD; the sections
 * MCO acts on are typed loosely here because Ignition 2.2 and 3.x shapes both occur.
 */
export interface IgnitionConfig {
  ignition: { version?: string; [field: string]: unknown };
  passwd?: { users?: Array<{ name?: string; sshAuthorizedKeys?: string[] }> };
  storage?: { files?: unknown[]; directories?: unknown[]; [field: string]: unknown };
  systemd?: { units?: unknown[] };
  [section: string]: unknown;
}

export type KernelType = '' | 'default' | 'realtime';

export interface MachineConfigSpec {
  /** Pull spec of the OS image; `""` in fragments that do not set it. */
  osImageURL?: string;
  config?: IgnitionConfig;
  kernelArguments?: string[] | null;
  extensions?: string[] | null;
  fips?: boolean;
  kernelType?: KernelType;
}

export interface MachineConfig {
  apiVersion: 'machineconfiguration.openshift.io/v1';
  kind: 'MachineConfig';
  metadata: ObjectMeta;
  spec: MachineConfigSpec;
}

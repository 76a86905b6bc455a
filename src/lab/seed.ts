/**
 * What the installer and the rest of OpenShift leave in a cluster before the MCO runs, as the
 * seed's cluster looks (mco.md §1.6): the namespaces, a cluster-version-operator Deployment to
 * scale to 0, the `machine-config-osimageurl` ConfigMap, the installer's `99-<role>-ssh` and
 * the registries controller's `99-<role>-generated-registries` MachineConfigs, a Node per
 * machine with its role label, and a Pod per lab process so `kubectl logs` reads its log.
 * Builders are pure; `applySeed` creates what is missing and leaves what exists alone (a
 * resumed lab keeps its cluster).
 */
import { randomBytes } from 'node:crypto';
import * as k8s from '@kubernetes/client-node';
import { MCO_API_VERSION } from '../api/group.js';
import { GENERATED_BY_CONTROLLER_VERSION_ANNOTATION, ROLE_LABEL } from '../api/machineconfig.js';
import { MCO_NAMESPACE, nodeRoleLabel, OSIMAGEURL_CONFIGMAP } from '../api/node.js';

export const CVO_NAMESPACE = 'openshift-cluster-version';
export const CVO_DEPLOYMENT = 'cluster-version-operator';
/** The version of the generated-registries fragment's generator (any stable hash; the seed shows the controller's). */
export const LAB_GENERATOR_VERSION = 'c470febe19e3b004fb99baa6679e7597f50554c5';
export const LAB_SSH_KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMcoLabKeyForTheSimulatedFleetOnly0000000 core@mco-lab';

export type Role = 'master' | 'worker';

export interface LabNode {
  name: string;
  role: Role;
  /** Name of the machine-config-daemon Pod on this node. */
  pod: string;
}

export interface LabPods {
  operator: string;
  controller: string;
}

export interface SeedInput {
  osImageURL: string;
  /** The lab's OS content cache, published beside osImageURL. */
  osContentURL?: string;
  releaseVersion: string;
  nodes: LabNode[];
  pods: LabPods;
}

/** `master-0…`, `worker-0…`, each with a daemon Pod name as a DaemonSet's pods are named. */
export function labNodes(masters: number, workers: number, suffix: () => string = podSuffix): LabNode[] {
  const make = (role: Role, i: number): LabNode => ({ name: `${role}-${i}`, role, pod: `machine-config-daemon-${suffix()}` });
  return [...Array.from({ length: masters }, (_, i) => make('master', i)), ...Array.from({ length: workers }, (_, i) => make('worker', i))];
}

/** Pod names as a Deployment's ReplicaSet gives them: `NAME-<hash>-<5 chars>`. */
export function labPods(suffix: () => string = podSuffix): LabPods {
  const rs = randomBytes(5).toString('hex').slice(0, 9);
  return { operator: `machine-config-operator-${rs}-${suffix()}`, controller: `machine-config-controller-${randomBytes(5).toString('hex').slice(0, 9)}-${suffix()}` };
}

const ALPHABET = 'bcdfghjklmnpqrstvwxz2456789';
/** Five characters of the alphabet Kubernetes uses for generated names. */
export function podSuffix(): string {
  return Array.from(randomBytes(5), (b) => ALPHABET[b % ALPHABET.length]).join('');
}

type Obj = k8s.KubernetesObject & Record<string, unknown>;

function namespace(name: string): Obj {
  return { apiVersion: 'v1', kind: 'Namespace', metadata: { name } };
}

function fragment(name: string, role: Role, config: Record<string, unknown>, generated: boolean): Obj {
  return {
    apiVersion: MCO_API_VERSION,
    kind: 'MachineConfig',
    metadata: {
      name,
      labels: { [ROLE_LABEL]: role },
      ...(generated ? { annotations: { [GENERATED_BY_CONTROLLER_VERSION_ANNOTATION]: LAB_GENERATOR_VERSION } } : {}),
    },
    spec: { osImageURL: '', config: { ignition: { version: '3.1.0' }, ...config } },
  };
}

function pod(name: string, app: string, owner: { kind: string; name: string }, nodeName?: string): Obj {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name,
      namespace: MCO_NAMESPACE,
      labels: { 'k8s-app': app },
      ownerReferences: [{ apiVersion: 'apps/v1', kind: owner.kind, name: owner.name, uid: `lab-${owner.name}`, controller: true }],
    },
    spec: { ...(nodeName ? { nodeName } : {}), containers: [{ name: app, image: 'mco-lab' }] },
  };
}

/** Every object the lab seeds, in creation order (namespaces first). */
export function seedObjects(input: SeedInput): Obj[] {
  const roles: Role[] = ['master', 'worker'];
  return [
    namespace(MCO_NAMESPACE),
    namespace(CVO_NAMESPACE),
    {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: CVO_DEPLOYMENT, namespace: CVO_NAMESPACE, labels: { 'k8s-app': CVO_DEPLOYMENT } },
      spec: {
        replicas: 1,
        selector: { matchLabels: { 'k8s-app': CVO_DEPLOYMENT } },
        template: { metadata: { labels: { 'k8s-app': CVO_DEPLOYMENT } }, spec: { containers: [{ name: CVO_DEPLOYMENT, image: 'mco-lab' }] } },
      },
    },
    {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: OSIMAGEURL_CONFIGMAP, namespace: MCO_NAMESPACE },
      data: { osImageURL: input.osImageURL, releaseVersion: input.releaseVersion, ...(input.osContentURL ? { osContentURL: input.osContentURL } : {}) },
    },
    ...roles.flatMap((role) => [
      fragment(`99-${role}-generated-registries`, role, {}, true),
      fragment(`99-${role}-ssh`, role, { passwd: { users: [{ name: 'core', sshAuthorizedKeys: [LAB_SSH_KEY] }] } }, false),
    ]),
    ...input.nodes.map((n): Obj => ({
      apiVersion: 'v1',
      kind: 'Node',
      metadata: { name: n.name, labels: { [nodeRoleLabel(n.role)]: '', 'kubernetes.io/hostname': n.name, 'kubernetes.io/os': 'linux' } },
      spec: {},
    })),
    pod(input.pods.operator, 'machine-config-operator', { kind: 'ReplicaSet', name: input.pods.operator.split('-').slice(0, -1).join('-') }),
    pod(input.pods.controller, 'machine-config-controller', { kind: 'ReplicaSet', name: input.pods.controller.split('-').slice(0, -1).join('-') }),
    ...input.nodes.map((n) => pod(n.pod, 'machine-config-daemon', { kind: 'DaemonSet', name: 'machine-config-daemon' }, n.name)),
  ];
}

/** A node's kubelet-reported readiness, as the node controller reads it. */
export function nodeReadyStatus(ready: boolean, now: Date): Record<string, unknown> {
  const at = now.toISOString();
  return {
    conditions: [{
      type: 'Ready',
      status: ready ? 'True' : 'False',
      reason: ready ? 'KubeletReady' : 'KubeletNotReady',
      message: ready ? 'kubelet is posting ready status' : 'node is rebooting',
      lastHeartbeatTime: at,
      lastTransitionTime: at,
    }],
  };
}

const isConflict = (e: unknown): boolean => (e as { code?: number }).code === 409;

/** Creates each object that does not exist yet; returns the names created. */
export async function applySeed(kc: k8s.KubeConfig, objects: Obj[], now: () => Date = () => new Date()): Promise<string[]> {
  const client = k8s.KubernetesObjectApi.makeApiClient(kc);
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const created: string[] = [];
  for (const obj of objects) {
    try {
      await client.create(obj);
      created.push(`${obj.kind}/${obj.metadata?.name}`);
    } catch (e) {
      if (!isConflict(e)) throw new Error(`Seeding ${obj.kind} ${obj.metadata?.name}: ${(e as Error).message}`, { cause: e });
      continue;
    }
    if (obj.kind === 'Node') await setNodeReady(core, obj.metadata!.name!, true, now());
    if (obj.kind === 'Pod') {
      await core.patchNamespacedPodStatus({ name: obj.metadata!.name!, namespace: MCO_NAMESPACE, body: { status: { phase: 'Running' } } }, mergePatch);
    }
  }
  return created;
}

const mergePatch = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);

/** The kubelet's Ready condition: false while the node reboots, true once it is up. */
export async function setNodeReady(core: k8s.CoreV1Api, name: string, ready: boolean, now: Date): Promise<void> {
  await core.patchNodeStatus({ name, body: { status: nodeReadyStatus(ready, now) } }, mergePatch);
}

/**
 * Reports the node's readiness as a kubelet does: until the API server takes it (it may be
 * restarting). Runs in the background; failures are logged once per outage.
 */
export function reportNodeReady(core: k8s.CoreV1Api, name: string, ready: boolean, log: (line: string) => void, retryMs = 2000): Promise<void> {
  return (async () => {
    let complained = false;
    for (;;) {
      try {
        await setNodeReady(core, name, ready, new Date());
        if (complained) log(`${name}: marked ${ready ? 'Ready' : 'NotReady'}`);
        return;
      } catch (e) {
        if (!complained) log(`${name}: cannot mark ${ready ? 'Ready' : 'NotReady'} yet: ${(e as Error).message}; retrying`);
        complained = true;
        await new Promise((r) => setTimeout(r, retryMs));
      }
    }
  })();
}

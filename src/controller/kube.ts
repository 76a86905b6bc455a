/**
 * The controllers' only way to the API: @kubernetes/client-node 1.4 clients, informers
 * (ListWatch) that restart after errors, and small helpers for the MCO's resources and for
 * the status codes the controllers act on (409 Conflict, 404 NotFound).
 */
import * as k8s from '@kubernetes/client-node';
import { CONTROLLER_CONFIGS, MACHINE_CONFIG_POOLS, MACHINE_CONFIGS, MCO_GROUP, MCO_VERSION } from '../api/group.js';
import { keepAliveClients, statusMessage } from '../api/client.js';
import type { Klog } from '../api/klog.js';
import type { ObjectStore } from './store.js';

export interface Clients {
  kc: k8s.KubeConfig;
  core: k8s.CoreV1Api;
  custom: k8s.CustomObjectsApi;
  coordination: k8s.CoordinationV1Api;
}

/** A KubeConfig from a file path (client-node reads it) or as given. */
export function clientsFor(kubeconfig: string | k8s.KubeConfig): Clients {
  let kc = kubeconfig;
  if (typeof kc === 'string') {
    const path = kc;
    kc = new k8s.KubeConfig();
    kc.loadFromFile(path);
  }
  const make = keepAliveClients(kc);
  return { kc, core: make(k8s.CoreV1Api), custom: make(k8s.CustomObjectsApi), coordination: make(k8s.CoordinationV1Api) };
}

const codeOf = (e: unknown): number | undefined => (e instanceof k8s.ApiException ? e.code : undefined);
export const isConflict = (e: unknown): boolean => codeOf(e) === 409;
export const isNotFound = (e: unknown): boolean => codeOf(e) === 404;
export const isAlreadyExists = (e: unknown): boolean => codeOf(e) === 409;

/** The API's own message for a failed call (its Status body), else the error's message. */
export function apiMessage(e: unknown): string {
  if (e instanceof k8s.ApiException) {
    const message = statusMessage(e);
    return message ? `${message} (HTTP ${e.code})` : `HTTP ${e.code}`;
  }
  return e instanceof Error ? e.message : String(e);
}

export const POOLS = { group: MCO_GROUP, version: MCO_VERSION, plural: MACHINE_CONFIG_POOLS };
export const CONFIGS = { group: MCO_GROUP, version: MCO_VERSION, plural: MACHINE_CONFIGS };
export const CCS = { group: MCO_GROUP, version: MCO_VERSION, plural: CONTROLLER_CONFIGS };
export const CLUSTER_OPERATORS = { group: 'config.openshift.io', version: 'v1', plural: 'clusteroperators' };

type Plural = typeof POOLS;
export const pathOf = (r: Plural): string => `/apis/${r.group}/${r.version}/${r.plural}`;

/** A custom-object list as an informer's list function wants it. */
export function listCustom(custom: k8s.CustomObjectsApi, r: Plural): () => Promise<k8s.KubernetesListObject<k8s.KubernetesObject>> {
  // CustomObjectsApi returns untyped JSON: the list of a CRD's objects.
  return async () => (await custom.listClusterCustomObject(r)) as k8s.KubernetesListObject<k8s.KubernetesObject>;
}

/** Objects as informers hold them: named, maybe namespaced (typed further by the caller). */
export interface Named {
  metadata?: { name?: string; namespace?: string; resourceVersion?: string };
}

export interface Informer<T extends Named> {
  list(): readonly T[];
  get(name: string, namespace?: string): T | undefined;
  on(verb: 'add' | 'update' | 'delete', cb: (obj: T) => void): void;
  stop(): Promise<void>;
}

/**
 * A started ListWatch (initial list done when this resolves) that relists and rewatches after
 * an error, with a backoff, until stopped.
 */
export async function startInformer<T extends Named>(
  clients: Clients,
  path: string,
  list: () => Promise<k8s.KubernetesListObject<k8s.KubernetesObject>>,
  opts: { log: Klog; fieldSelector?: string },
): Promise<Informer<T>> {
  const lw = new k8s.ListWatch<k8s.KubernetesObject>(path, new k8s.Watch(clients.kc), list, false, undefined, opts.fieldSelector);
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let failures = 0;
  lw.on('connect', () => (failures = 0));
  lw.on('error', (err: unknown) => {
    if (stopped) return;
    failures++;
    opts.log.warning('kube.ts:89', `watch of ${path} failed (${apiMessage(err)}); restarting`);
    timer = setTimeout(() => void lw.start().catch(() => undefined), Math.min(100 * 2 ** failures, 5000));
  });
  await lw.start();
  return {
    // The list function decides what the objects are; the caller names their type.
    list: () => lw.list() as unknown as T[],
    get: (name, namespace) => lw.get(name, namespace) as unknown as T | undefined,
    on: (verb, cb) => lw.on(verb, cb as unknown as (o: k8s.KubernetesObject) => void),
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await lw.stop();
    },
  };
}

/**
 * Runs `write` until it does not hit a 409 Conflict: `steps` attempts, `delayMs` apart with
 * jitter, as client-go's RetryOnConflict with the MCO's backoff (5 steps, 100 ms).
 */
export async function retryOnConflict<T>(write: () => Promise<T>, steps = 5, delayMs = 100): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await write();
    } catch (e) {
      if (!isConflict(e) || i >= steps) throw e;
      await new Promise((r) => setTimeout(r, delayMs * (1 + Math.random())));
    }
  }
}

/**
 * A conditional write of the cluster-scoped object `name` of `r`, decided from `store`'s copy:
 * `write(current)` writes (carrying current's resourceVersion) and returns what the server
 * stored, which the store keeps; it returns undefined when nothing needs writing. A 409
 * refreshes the store from the server and decides again.
 */
export async function updateFromStore<T extends Named>(
  custom: k8s.CustomObjectsApi,
  r: Plural,
  name: string,
  store: ObjectStore<T>,
  write: (current: T) => Promise<unknown> | undefined,
): Promise<void> {
  await retryOnConflict(async () => {
    const current = store.get(name);
    if (!current) return;
    try {
      const written = await write(current);
      // The server's answer is the object as stored (custom objects come back as plain JSON).
      if (written) store.upsert(written as T);
    } catch (e) {
      if (isConflict(e)) store.upsert((await custom.getClusterCustomObject({ ...r, name })) as T);
      throw e;
    }
  });
}

/** A metav1.Time: RFC 3339 in whole seconds, as conditions carry it. */
export const metaTime = (d: Date): string => d.toISOString().replace(/\.\d+Z$/, 'Z');

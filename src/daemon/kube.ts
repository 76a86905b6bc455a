/**
 * Everything the daemon asks of the API, through @kubernetes/client-node (so the same code
 * runs against a real cluster): its Node (annotations, cordon), rendered MachineConfigs, the
 * pods bound to it and their eviction, and Events about its Node. Calls that fail with a
 * transient fault (the API server down, a 5xx) are retried with backoff until they succeed
 * or the daemon stops: an outage delays the daemon, it never marks the node Degraded.
 */
import * as k8s from '@kubernetes/client-node';
import { mergePatch, statusMessage } from '../api/client.js';
import { CONTROLLER_CONFIG_NAME, type ControllerConfig } from '../api/controllerconfig.js';
import { CONTROLLER_CONFIGS, MACHINE_CONFIGS, MCO_GROUP, MCO_VERSION } from '../api/group.js';
import type { MachineConfig } from '../api/machineconfig.js';
import { backoffMs, type Clock } from './clock.js';
import { isTransient } from './errors.js';
import type { Logger } from './log.js';

/** An API error with the server's own message (`machineconfigs… "x" not found`), status kept for isTransient(). */
export class ApiCallError extends Error {
  override name = 'ApiCallError';
  constructor(message: string, readonly status: number | undefined, options?: ErrorOptions) {
    super(message, options);
  }
}

function apiError(what: string, e: unknown): Error {
  if (e instanceof k8s.ApiException) {
    return new ApiCallError(`${what}: ${statusMessage(e) ?? String(e.message)}`, e.code, { cause: e });
  }
  return new ApiCallError(`${what}: ${e instanceof Error ? e.message : String(e)}`, undefined, { cause: e });
}

export interface NodeApiOptions {
  clock: Clock;
  log: Logger;
  signal: AbortSignal;
}

export class NodeApi {
  readonly core: k8s.CoreV1Api;
  private readonly custom: k8s.CustomObjectsApi;

  constructor(readonly kc: k8s.KubeConfig, readonly nodeName: string, private readonly opts: NodeApiOptions) {
    this.core = kc.makeApiClient(k8s.CoreV1Api);
    this.custom = kc.makeApiClient(k8s.CustomObjectsApi);
  }

  /** Runs `call`, retrying transient faults with backoff (0.5 s … 5 s) until the daemon stops. */
  async retrying<T>(what: string, call: () => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await call();
      } catch (raw) {
        const e = raw instanceof ApiCallError ? raw : apiError(what, raw);
        if (!isTransient(e) || this.opts.signal.aborted) throw e;
        if (attempt === 0 || attempt % 10 === 0) this.opts.log.warning(`${e.message}; retrying`);
        await this.opts.clock.sleep(backoffMs(attempt, 500, 5000), this.opts.signal);
      }
    }
  }

  getNode(): Promise<k8s.V1Node> {
    return this.retrying(`Getting node ${this.nodeName}`, () => this.core.readNode({ name: this.nodeName }));
  }

  /** Sets (or, with null, removes) annotations on the Node in one merge patch. */
  patchAnnotations(annotations: Record<string, string | null>): Promise<k8s.V1Node> {
    return this.retrying(`Annotating node ${this.nodeName}`, () => this.core.patchNode({ name: this.nodeName, body: { metadata: { annotations } } }, mergePatch));
  }

  setUnschedulable(unschedulable: boolean): Promise<k8s.V1Node> {
    return this.retrying(`${unschedulable ? 'Cordoning' : 'Uncordoning'} node ${this.nodeName}`, () =>
      this.core.patchNode({ name: this.nodeName, body: { spec: { unschedulable: unschedulable ? true : null } } }, mergePatch));
  }

  getMachineConfig(name: string): Promise<MachineConfig> {
    return this.retrying(`Getting MachineConfig ${name}`, async () => {
      try {
        return (await this.custom.getClusterCustomObject({ group: MCO_GROUP, version: MCO_VERSION, plural: MACHINE_CONFIGS, name })) as MachineConfig;
      } catch (e) {
        throw apiError(`Getting MachineConfig ${name}`, e);
      }
    });
  }

  /** The OS content cache the operator published (ControllerConfig spec.osContentURL); '' when none. */
  osContentURL(): Promise<string> {
    const what = `Getting ControllerConfig ${CONTROLLER_CONFIG_NAME}`;
    return this.retrying(what, async () => {
      try {
        const cc = (await this.custom.getClusterCustomObject({ group: MCO_GROUP, version: MCO_VERSION, plural: CONTROLLER_CONFIGS, name: CONTROLLER_CONFIG_NAME })) as ControllerConfig;
        return cc.spec.osContentURL ?? '';
      } catch (e) {
        if (e instanceof k8s.ApiException && e.code === 404) return '';
        throw apiError(what, e);
      }
    });
  }

  /** Pods bound to this node that are not finished. */
  async podsOnNode(): Promise<k8s.V1Pod[]> {
    const list = await this.retrying(`Listing pods on node ${this.nodeName}`, () =>
      this.core.listPodForAllNamespaces({ fieldSelector: `spec.nodeName=${this.nodeName}` }));
    return list.items;
  }

  /** Evicts a pod; false when the eviction was refused for now (429: a disruption budget). */
  async evict(pod: k8s.V1Pod): Promise<boolean> {
    const name = pod.metadata!.name!;
    const namespace = pod.metadata!.namespace ?? 'default';
    try {
      await this.retrying(`Evicting pod ${namespace}/${name}`, async () => {
        try {
          await this.core.createNamespacedPodEviction({ namespace, name, body: { metadata: { name, namespace } } });
        } catch (e) {
          if (e instanceof k8s.ApiException && (e.code === 404 || e.code === 429)) throw e;
          throw apiError(`Evicting pod ${namespace}/${name}`, e);
        }
      });
      return true;
    } catch (e) {
      if (e instanceof k8s.ApiException && e.code === 404) return true;
      if (e instanceof k8s.ApiException && e.code === 429) return false;
      throw e;
    }
  }

  /**
   * Records an Event about this Node, as the original's recorder does (component
   * machineconfigdaemon). Best effort, as a recorder is: an Event that cannot be written is
   * logged, not retried, and never fails the update.
   */
  async event(type: 'Normal' | 'Warning', reason: string, message: string): Promise<void> {
    const now = this.opts.clock.now();
    const event: k8s.CoreV1Event = {
      metadata: { name: `${this.nodeName}.${now.getTime().toString(16)}${Math.floor(Math.random() * 0xffff).toString(16)}`, namespace: 'default' },
      involvedObject: { kind: 'Node', name: this.nodeName, apiVersion: 'v1' },
      reason,
      message,
      type,
      source: { component: 'machineconfigdaemon', host: this.nodeName },
      firstTimestamp: now,
      lastTimestamp: now,
      count: 1,
    };
    try {
      await this.core.createNamespacedEvent({ namespace: 'default', body: event });
    } catch (e) {
      this.opts.log.warning(`Could not record event ${reason} (${message}): ${apiError('creating event', e).message}`);
    }
  }
}

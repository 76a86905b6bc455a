/**
 * `runController(opts)` and `runOperator(opts)`: the two processes as library functions, so
 * the CLI, the lab and tests run the same code. Each campaigns for its Lease in
 * openshift-machine-config-operator and only once leading starts its informers and work
 * queues; losing the Lease stops them (`onLostLeadership` lets the CLI exit, as the real
 * components do). Metrics are served whether leading or not.
 */
import * as k8s from '@kubernetes/client-node';
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { ControllerConfig } from '../api/controllerconfig.js';
import { createKlog, type Klog } from '../api/klog.js';
import type { MachineConfig } from '../api/machineconfig.js';
import type { MachineConfigPool } from '../api/machineconfigpool.js';
import { serveMetrics } from '../api/metrics-server.js';
import { MCO_NAMESPACE, OSIMAGEURL_CONFIGMAP } from '../api/node.js';
import { eventRecorder } from './events.js';
import { CCS, CONFIGS, clientsFor, listCustom, pathOf, POOLS, startInformer, type Clients, type Informer, type Named } from './kube.js';
import { elect } from './leader.js';
import { ControllerMetrics } from './metrics.js';
import { NodeController } from './node-controller.js';
import { Operator } from './operator.js';
import { OsContentPruner, type PruneOsContent } from './os-content-pruner.js';
import { RenderController } from './render-controller.js';
import { ObjectStore } from './store.js';

export const CONTROLLER_LEASE = 'machine-config-controller';
export const OPERATOR_LEASE = 'machine-config';
export const DEFAULT_CONTROLLER_METRICS = '127.0.0.1:9654';
export const DEFAULT_OPERATOR_METRICS = '127.0.0.1:9655';

export interface CommonOptions {
  /** Path of a kubeconfig file, or a loaded KubeConfig. */
  kubeconfig: string | k8s.KubeConfig;
  /** HOST:PORT for /metrics; '' serves none. */
  metricsListen?: string;
  /** Written as generated-by-controller-version on the configs this process generates. */
  controllerVersion?: string;
  log?: Klog;
  now?: () => Date;
  /** This replica's name in the Lease (default: hostname_uuid). */
  identity?: string;
  leaseDurationMs?: number;
  /** Called when leadership is lost after it was held; the process should exit. */
  onLostLeadership?: () => void;
}

export interface ControllerOptions extends CommonOptions {
  /** Debounce of render syncs (the MCO waits 5 s; default here 200 ms). */
  renderDelayMs?: number;
  /** Debounce of node syncs (the MCO waits 5 s; default here 100 ms). */
  updateDelayMs?: number;
  /**
   * How to ask the OS content cache (ControllerConfig spec.osContentURL) to drop the images no
   * pool uses once rollouts end; without it the cache is never pruned from here.
   */
  pruneOsContent?: PruneOsContent;
  /** Debounce of those decisions (default 5 s). */
  osContentPruneDelayMs?: number;
}

export interface OperatorRunOptions extends CommonOptions {
  /** The release this operator belongs to (RELEASE_VERSION). */
  releaseVersion: string;
}

export interface Running {
  /** Stops the controllers, releases the Lease if held, closes the metrics server. */
  stop(): Promise<void>;
  /** Resolves when this replica starts leading. */
  leading: Promise<void>;
  /** `http://HOST:PORT/metrics`, when served. */
  metricsUrl?: string;
}

export const DEFAULT_CONTROLLER_VERSION = '0.1.0';

function defaultLog(now: () => Date): Klog {
  return createKlog({ now, pid: process.pid, write: (line) => process.stderr.write(`${line}\n`) });
}

type Start = (ctx: { clients: Clients; log: Klog; now: () => Date }) => Promise<() => Promise<void>>;

/** Elect, then start; the shared life cycle of both processes. */
async function runElected(opts: CommonOptions, lease: string, defaultMetrics: string, metrics: ControllerMetrics | undefined, start: Start): Promise<Running> {
  const now = opts.now ?? ((): Date => new Date());
  const log = opts.log ?? defaultLog(now);
  const clients = clientsFor(opts.kubeconfig);
  const listen = opts.metricsListen ?? defaultMetrics;
  const server = listen === '' ? undefined : await serveMetrics((metrics ?? new ControllerMetrics()).registry, listen);
  const elector = elect({
    coordination: clients.coordination,
    namespace: MCO_NAMESPACE,
    name: lease,
    identity: opts.identity ?? `${hostname()}_${randomUUID()}`,
    log,
    ...(opts.leaseDurationMs ? { leaseDurationMs: opts.leaseDurationMs } : {}),
  });
  let stopped = false;
  let stopWork: (() => Promise<void>) | undefined;
  let starting: Promise<void> | undefined;
  let resolveLeading = (): void => {};
  const leading = new Promise<void>((r) => (resolveLeading = r));
  void elector.leading.then((signal) => {
    if (stopped) return;
    starting = (async () => {
      stopWork = await start({ clients, log, now });
      resolveLeading();
    })();
    starting.catch((e: Error) => log.error('run.ts:110', `starting after acquiring lease ${lease}: ${e.message}`));
    signal.addEventListener('abort', () => {
      if (stopped) return;
      log.error('run.ts:113', `leaderelection lost for ${lease}`);
      void starting?.then(() => stopWork?.()).finally(() => opts.onLostLeadership?.());
    });
  });
  return {
    leading,
    ...(server ? { metricsUrl: server.url } : {}),
    async stop() {
      stopped = true;
      await starting?.catch(() => undefined);
      await stopWork?.();
      await elector.stop();
      await server?.close();
    },
  };
}

/** Keeps `store` in step with `informer`, calling `changed(old, obj)` after each event. */
function feed<T extends Named>(informer: Informer<T>, store: ObjectStore<T>, changed: (old: T | undefined, obj: T, deleted: boolean) => void): void {
  for (const o of informer.list()) store.upsert(o);
  informer.on('add', (o) => {
    const old = store.get(o.metadata?.name ?? '', o.metadata?.namespace);
    store.upsert(o);
    changed(old, o, false);
  });
  informer.on('update', (o) => {
    const old = store.get(o.metadata?.name ?? '', o.metadata?.namespace);
    store.upsert(o);
    changed(old, o, false);
  });
  informer.on('delete', (o) => {
    store.remove(o);
    changed(o, o, true);
  });
}

/** The machine-config-controller: render and node controllers. */
export async function runController(opts: ControllerOptions): Promise<Running> {
  const metrics = new ControllerMetrics();
  return runElected(opts, CONTROLLER_LEASE, DEFAULT_CONTROLLER_METRICS, metrics, async ({ clients, log, now }) => {
    const pools = new ObjectStore<MachineConfigPool>();
    const configs = new ObjectStore<MachineConfig>();
    const ccs = new ObjectStore<ControllerConfig>();
    const nodes = new ObjectStore<k8s.V1Node>();
    const render = new RenderController({
      clients,
      pools,
      configs,
      controllerConfigs: ccs,
      log,
      events: eventRecorder({ core: clients.core, component: 'machineconfigcontroller-rendercontroller', log, now }),
      now,
      controllerVersion: opts.controllerVersion ?? DEFAULT_CONTROLLER_VERSION,
      renderDelayMs: opts.renderDelayMs ?? 200,
    });
    const nodeCtl = new NodeController({
      clients,
      pools,
      nodes,
      log,
      events: eventRecorder({ core: clients.core, component: 'machineconfigcontroller-nodecontroller', log, now }),
      metrics,
      now,
      updateDelayMs: opts.updateDelayMs ?? 100,
    });
    const pruner = opts.pruneOsContent
      ? new OsContentPruner({ pools, configs, controllerConfigs: ccs, nodes, log, prune: opts.pruneOsContent, delayMs: opts.osContentPruneDelayMs ?? 5000 })
      : undefined;
    const informers: Informer<Named>[] = [];
    const started = async <T extends Named>(i: Promise<Informer<T>>): Promise<Informer<T>> => {
      const inf = await i;
      informers.push(inf);
      return inf;
    };
    try {
      const poolInf = await started(startInformer<MachineConfigPool>(clients, pathOf(POOLS), listCustom(clients.custom, POOLS), { log }));
      const mcInf = await started(startInformer<MachineConfig>(clients, pathOf(CONFIGS), listCustom(clients.custom, CONFIGS), { log }));
      const ccInf = await started(startInformer<ControllerConfig>(clients, pathOf(CCS), listCustom(clients.custom, CCS), { log }));
      const nodeInf = await started(startInformer<k8s.V1Node>(clients, '/api/v1/nodes', () => clients.core.listNode(), { log }));
      feed(poolInf, pools, (_old, p) => {
        render.poolChanged(p);
        nodeCtl.poolChanged(p);
        pruner?.changed();
      });
      feed(mcInf, configs, () => render.enqueueAll());
      feed(ccInf, ccs, () => {
        render.enqueueAll();
        pruner?.changed();
      });
      feed(nodeInf, nodes, (old, n, deleted) => nodeCtl.nodeChanged(deleted ? undefined : old, n));
    } catch (e) {
      await Promise.all(informers.map((i) => i.stop()));
      throw e;
    }
    render.queue.start();
    nodeCtl.queue.start();
    pruner?.queue.start();
    pruner?.changed();
    for (const p of pools.list()) {
      render.queue.add(p.metadata.name!);
      nodeCtl.queue.add(p.metadata.name!);
    }
    log.info('run.ts:215', 'machine-config-controller: render and node controllers started');
    return async () => {
      await Promise.all(informers.map((i) => i.stop()));
      await Promise.all([render.queue.stop(), nodeCtl.queue.stop(), pruner?.queue.stop()]);
    };
  });
}

/** The machine-config-operator: default pools and templates, osImageURL → ControllerConfig. */
export async function runOperator(opts: OperatorRunOptions): Promise<Running> {
  if (!opts.releaseVersion) throw new Error('The operator needs its release version (--release-version or RELEASE_VERSION)');
  return runElected(opts, OPERATOR_LEASE, DEFAULT_OPERATOR_METRICS, undefined, async ({ clients, log, now }) => {
    const configMaps = new ObjectStore<k8s.V1ConfigMap>();
    const pools = new ObjectStore<MachineConfigPool>();
    const configs = new ObjectStore<MachineConfig>();
    const ccs = new ObjectStore<ControllerConfig>();
    const operator = new Operator({
      clients,
      configMaps,
      pools,
      configs,
      controllerConfigs: ccs,
      log,
      events: eventRecorder({ core: clients.core, component: 'machine-config-operator', log, now }),
      now,
      releaseVersion: opts.releaseVersion,
      controllerVersion: opts.controllerVersion ?? DEFAULT_CONTROLLER_VERSION,
    });
    const informers: Informer<Named>[] = [];
    const field = `metadata.name=${OSIMAGEURL_CONFIGMAP}`;
    try {
      const cmInf = await startInformer<k8s.V1ConfigMap>(
        clients,
        `/api/v1/namespaces/${MCO_NAMESPACE}/configmaps`,
        () => clients.core.listNamespacedConfigMap({ namespace: MCO_NAMESPACE, fieldSelector: field }),
        { log, fieldSelector: field },
      );
      informers.push(cmInf);
      const poolInf = await startInformer<MachineConfigPool>(clients, pathOf(POOLS), listCustom(clients.custom, POOLS), { log });
      informers.push(poolInf);
      const mcInf = await startInformer<MachineConfig>(clients, pathOf(CONFIGS), listCustom(clients.custom, CONFIGS), { log });
      informers.push(mcInf);
      const ccInf = await startInformer<ControllerConfig>(clients, pathOf(CCS), listCustom(clients.custom, CCS), { log });
      informers.push(ccInf);
      feed(cmInf, configMaps, () => operator.changed());
      // Pools and configs matter to the operator only when one of its own goes missing.
      feed(poolInf, pools, (_o, _p, deleted) => deleted && operator.changed());
      feed(mcInf, configs, (_o, _m, deleted) => deleted && operator.changed());
      feed(ccInf, ccs, () => operator.changed());
    } catch (e) {
      await Promise.all(informers.map((i) => i.stop()));
      throw e;
    }
    operator.queue.start();
    operator.changed();
    log.info('run.ts:270', `machine-config-operator ${opts.releaseVersion} started`);
    return async () => {
      await Promise.all(informers.map((i) => i.stop()));
      await operator.queue.stop();
    };
  });
}

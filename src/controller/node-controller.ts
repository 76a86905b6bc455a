/**
 * The node controller (reference mco.md §4): for each pool, gives the pool's target
 * (spec.configuration.name) to as many of its nodes as maxUnavailable allows — writing only
 * their desiredConfig annotation, conditionally on the resourceVersion it decided from — and
 * writes the pool's status. Event handlers only queue pool names; `sync(pool)` reads the
 * informers' view, asks `selectCandidates` and `poolStatus`, and writes.
 */
import type * as k8s from '@kubernetes/client-node';
import { MCO_API_VERSION } from '../api/group.js';
import type { MachineConfigPool } from '../api/machineconfigpool.js';
import { CURRENT_CONFIG_ANNOTATION, DESIRED_CONFIG_ANNOTATION, REASON_ANNOTATION, STATE_ANNOTATION } from '../api/node.js';
import type { ControllerContext } from './context.js';
import { mergePatch } from '../api/client.js';
import { apiMessage, isConflict, metaTime, POOLS, retryOnConflict, updateFromStore } from './kube.js';
import { isEmptySelector } from './labels.js';
import type { ControllerMetrics } from './metrics.js';
import { WorkQueue } from './queue.js';
import { isReady, MaxUnavailableError, poolNodes, poolStatus, primaryPool, selectCandidates, type NodeLike } from './rollout.js';
import type { ObjectStore } from './store.js';
import { deepEqual } from './equal.js';

export interface NodeControllerOptions extends ControllerContext {
  pools: ObjectStore<MachineConfigPool>;
  nodes: ObjectStore<k8s.V1Node>;
  metrics: ControllerMetrics;
  /** Delay before a queued pool is synced, so bursts of node updates make one sync (MCO: 5 s). */
  updateDelayMs: number;
  /** Parallel desiredConfig writes within one sync. */
  writeConcurrency?: number;
}

const WATCHED_ANNOTATIONS = [CURRENT_CONFIG_ANNOTATION, DESIRED_CONFIG_ANNOTATION, STATE_ANNOTATION, REASON_ANNOTATION];

const poolRef = (p: MachineConfigPool): { apiVersion: string; kind: string; name: string; uid?: string } => ({ apiVersion: MCO_API_VERSION, kind: 'MachineConfigPool', name: p.metadata.name!, ...(p.metadata.uid ? { uid: p.metadata.uid } : {}) });

export class NodeController {
  readonly queue: WorkQueue;

  constructor(private readonly o: NodeControllerOptions) {
    this.queue = new WorkQueue((key) => this.sync(key), { name: 'node controller', log: o.log, workers: 4 });
  }

  /** A pool changed: sync it. */
  poolChanged(pool: MachineConfigPool): void {
    this.queue.add(pool.metadata.name!, this.o.updateDelayMs);
  }

  /**
   * A node changed: sync the pools it belongs (or belonged) to, when something the controller
   * reads changed (annotations it acts on, labels, readiness).
   */
  nodeChanged(old: NodeLike | undefined, node: NodeLike): void {
    if (old) {
      const a = old.metadata?.annotations ?? {};
      const b = node.metadata?.annotations ?? {};
      const relevant =
        WATCHED_ANNOTATIONS.some((k) => a[k] !== b[k]) || !deepEqual(old.metadata?.labels ?? {}, node.metadata?.labels ?? {}) || isReady(old) !== isReady(node);
      if (!relevant) return;
    }
    for (const n of old ? [old, node] : [node]) {
      try {
        const pool = primaryPool(n, this.o.pools.list());
        if (pool) this.queue.add(pool.metadata.name!, this.o.updateDelayMs);
      } catch {
        // A node in two custom pools: every pool that selects it reports it on its next sync.
        for (const p of this.o.pools.list()) this.queue.add(p.metadata.name!, this.o.updateDelayMs);
      }
    }
  }

  async sync(name: string): Promise<void> {
    const pool = this.o.pools.get(name);
    if (!pool) {
      this.o.metrics.forgetPool(name);
      return;
    }
    if (isEmptySelector(pool.spec.nodeSelector)) {
      await this.o.events.event(poolRef(pool), 'Warning', 'SelectingAll', 'This machineconfigpool is selecting all nodes. A non-empty selector is required.');
      return;
    }
    const target = pool.spec.configuration?.name ?? '';
    if (!target) {
      this.o.log.info('node-controller.ts:83', `Pool ${name} is unconfigured, pausing for renderer to initialize`);
      return;
    }
    const membership = poolNodes(pool, this.o.pools.list(), this.o.nodes.list());
    for (const err of membership.errors) await this.o.events.event(poolRef(pool), 'Warning', 'NodePoolMembership', err);
    let failure: Error | undefined;
    if (!pool.metadata.deletionTimestamp && !pool.spec.paused) {
      try {
        await this.target(pool, membership.nodes, target);
      } catch (e) {
        // The status is still written, as the MCO does (§4.3 step 10); the error retries the key.
        failure = e instanceof Error ? e : new Error(String(e));
        if (e instanceof MaxUnavailableError) await this.o.events.event(poolRef(pool), 'Warning', 'InvalidMaxUnavailable', e.message);
      }
    }
    // The members again, with the writes just made.
    const nodes = poolNodes(pool, this.o.pools.list(), this.o.nodes.list()).nodes;
    await this.writeStatus(name, nodes);
    if (failure) throw failure;
  }

  private async target(pool: MachineConfigPool, nodes: NodeLike[], target: string): Promise<void> {
    const name = pool.metadata.name!;
    const { nodes: chosen, capacity } = selectCandidates(pool, nodes);
    if (chosen.length === 0) return;
    this.o.log.info('node-controller.ts:108', `Pool ${name}: ${chosen.length} candidate nodes for update, capacity: ${capacity}`);
    const limit = this.o.writeConcurrency ?? 16;
    const done: string[] = [];
    const errors: string[] = [];
    const queue = [...chosen];
    await Promise.all(
      Array.from({ length: Math.min(limit, queue.length) }, async () => {
        for (let n = queue.shift(); n; n = queue.shift()) {
          const nodeName = n.metadata!.name!;
          this.o.log.info('node-controller.ts:117', `Pool ${name}: Setting node ${nodeName} target to ${target}`);
          try {
            await this.setDesiredConfig(nodeName, target);
            done.push(nodeName);
          } catch (e) {
            errors.push(`node ${nodeName}: ${apiMessage(e)}`);
          }
        }
      }),
    );
    if (done.length === 1) await this.o.events.event(poolRef(pool), 'Normal', 'SetDesiredConfig', `Targeted node ${done[0]} to config ${target}`);
    else if (done.length > 1) await this.o.events.event(poolRef(pool), 'Normal', 'SetDesiredConfig', `Set target for ${done.length} nodes to config ${target}`);
    if (errors.length) throw new Error(`setting desired config for pool ${name}: ${errors.join('; ')}`);
  }

  /**
   * desiredConfig = target, as a merge patch carrying the resourceVersion decided from: a node
   * that changed since is re-read and patched again (conflict retries, §4.3 step 9).
   */
  private async setDesiredConfig(nodeName: string, target: string): Promise<void> {
    let node = this.o.nodes.get(nodeName);
    await retryOnConflict(async () => {
      if (!node) node = await this.o.clients.core.readNode({ name: nodeName });
      if (node.metadata?.annotations?.[DESIRED_CONFIG_ANNOTATION] === target) return;
      try {
        const written = await this.o.clients.core.patchNode(
          { name: nodeName, body: { metadata: { resourceVersion: node.metadata?.resourceVersion, annotations: { [DESIRED_CONFIG_ANNOTATION]: target } } } },
          mergePatch,
        );
        this.o.nodes.upsert(written);
      } catch (e) {
        if (isConflict(e)) node = undefined;
        throw e;
      }
    });
  }

  /** Writes the computed status when it differs, conditionally on the pool read. */
  private async writeStatus(name: string, nodes: NodeLike[]): Promise<void> {
    await updateFromStore(this.o.clients.custom, POOLS, name, this.o.pools, (pool) => {
      const status = poolStatus(pool, nodes, { now: metaTime(this.o.now()) });
      this.o.metrics.recordPool(name, status, nodes);
      if (deepEqual(pool.status ?? {}, status)) return undefined;
      if (pool.status?.configuration?.name !== status.configuration?.name && status.configuration?.name === pool.spec.configuration?.name) {
        this.o.log.info('node-controller.ts:161', `Pool ${name}: All nodes are updated with ${status.configuration?.name}`);
      }
      return this.o.clients.custom.replaceClusterCustomObjectStatus({ ...POOLS, name, body: { ...pool, status } });
    });
  }
}


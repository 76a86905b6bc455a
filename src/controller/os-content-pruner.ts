/**
 * Keeps the cluster's OS content cache (ControllerConfig spec.osContentURL) from growing
 * without end: once no pool is updating, the images of the rendered configs in use
 * (osImagesInUse) go to the cache as the ones to keep, and it removes the others. The cache
 * is asked again only when that list or its URL changes; a failure is logged and retried by
 * the work queue.
 */
import type { Klog } from '../api/klog.js';
import type * as k8s from '@kubernetes/client-node';
import { CONTROLLER_CONFIG_NAME, type ControllerConfig } from '../api/controllerconfig.js';
import type { MachineConfig } from '../api/machineconfig.js';
import type { MachineConfigPool } from '../api/machineconfigpool.js';
import { osImagesInUse } from './prune.js';
import { WorkQueue } from './queue.js';
import type { ObjectStore } from './store.js';

/** Asks the cache at `cacheURL` to remove every image but `keep`; resolves to the images it removed. */
export type PruneOsContent = (cacheURL: string, keep: string[]) => Promise<string[]>;

export interface OsContentPrunerOptions {
  pools: ObjectStore<MachineConfigPool>;
  configs: ObjectStore<MachineConfig>;
  controllerConfigs: ObjectStore<ControllerConfig>;
  nodes: ObjectStore<k8s.V1Node>;
  log: Klog;
  prune: PruneOsContent;
  /** Delay after a change before deciding, so that a burst of updates makes one request. */
  delayMs: number;
}

const KEY = 'os-content';

export class OsContentPruner {
  readonly queue: WorkQueue;
  /** The cache URL and list last sent successfully. */
  private sent = '';

  constructor(private readonly o: OsContentPrunerOptions) {
    this.queue = new WorkQueue(() => this.sync(), { name: 'os content pruner', log: o.log });
  }

  changed(): void {
    this.queue.add(KEY, this.o.delayMs);
  }

  private async sync(): Promise<void> {
    const cc = this.o.controllerConfigs.get(CONTROLLER_CONFIG_NAME);
    const url = cc?.spec.osContentURL;
    if (!url) return;
    const decision = osImagesInUse(this.o.configs.list(), this.o.pools.list(), this.o.nodes.list(), cc.spec.osImageURL);
    if ('wait' in decision) return; // the end of the rollout is another change
    const key = JSON.stringify([url, decision.keep]);
    if (key === this.sent) return;
    const removed = await this.o.prune(url, decision.keep);
    this.sent = key;
    this.o.log.info('os-content-pruner.ts:56', `OS content cache ${url}: keeping ${decision.keep.length} image(s) the pools use; removed ${removed.length}${removed.length ? `: ${removed.join(', ')}` : ''}`);
  }
}

/**
 * The render controller (reference mco.md §3): for each pool, renders the MachineConfigs it
 * selects with the ControllerConfig's osImageURL (`renderPool`), creates the
 * `rendered-<pool>-<hash>` MachineConfig when new, points the pool's spec.configuration at
 * it, and reports a config that cannot be rendered as RenderDegraded naming the config and
 * field — leaving the pool's current target as it was. Paused pools are rendered too.
 */
import type { ControllerConfig } from '../api/controllerconfig.js';
import { CONTROLLER_CONFIG_NAME } from '../api/controllerconfig.js';
import { MCO_API_VERSION } from '../api/group.js';
import type { MachineConfig } from '../api/machineconfig.js';
import type { MachineConfigPool, MachineConfigPoolCondition } from '../api/machineconfigpool.js';
import { deepEqual } from './equal.js';
import type { ControllerContext } from './context.js';
import { CONFIGS, isAlreadyExists, metaTime, POOLS, updateFromStore } from './kube.js';
import { isEmptySelector } from './labels.js';
import { RenderError, renderFailedMessage, renderPool } from './render.js';
import { setCondition } from './rollout.js';
import { WorkQueue } from './queue.js';
import type { ObjectStore } from './store.js';

export interface RenderControllerOptions extends ControllerContext {
  pools: ObjectStore<MachineConfigPool>;
  configs: ObjectStore<MachineConfig>;
  controllerConfigs: ObjectStore<ControllerConfig>;
  controllerVersion: string;
  /** Delay before a queued pool renders, so a burst of MachineConfig changes renders once (MCO: 5 s). */
  renderDelayMs: number;
}

export class RenderController {
  readonly queue: WorkQueue;

  constructor(private readonly o: RenderControllerOptions) {
    this.queue = new WorkQueue((key) => this.sync(key), { name: 'render controller', log: o.log, workers: 4 });
  }

  /** Any MachineConfig or the ControllerConfig changed: every pool may render differently. */
  enqueueAll(): void {
    for (const p of this.o.pools.list()) this.queue.add(p.metadata.name!, this.o.renderDelayMs);
  }

  poolChanged(pool: MachineConfigPool): void {
    this.queue.add(pool.metadata.name!, this.o.renderDelayMs);
  }

  async sync(name: string): Promise<void> {
    const pool = this.o.pools.get(name);
    if (!pool) return;
    if (isEmptySelector(pool.spec.machineConfigSelector)) {
      await this.o.events.event(this.ref(pool), 'Warning', 'SelectingAll', 'This machineconfigpool is selecting all machineconfigs. A non-empty selector is required.');
      return;
    }
    const cc = this.o.controllerConfigs.get(CONTROLLER_CONFIG_NAME);
    if (!cc) {
      this.o.log.info('render-controller.ts:56', `Pool ${name}: waiting for ControllerConfig ${CONTROLLER_CONFIG_NAME}`);
      return;
    }
    let rendered;
    try {
      rendered = renderPool(pool, this.o.configs.list(), cc, { controllerVersion: this.o.controllerVersion });
    } catch (e) {
      if (!(e instanceof RenderError)) throw e;
      this.o.log.error('render-controller.ts:64', renderFailedMessage(name, e));
      await this.setRenderDegraded(name, renderFailedMessage(name, e));
      // A change of the configs or the pool queues the pool again; nothing to retry until then.
      return;
    }
    const { config, source } = rendered;
    const configName = config.metadata.name!;
    if (!this.o.configs.get(configName)) {
      try {
        this.o.configs.upsert((await this.o.clients.custom.createClusterCustomObject({ ...CONFIGS, body: config })) as MachineConfig);
        this.o.log.info('render-controller.ts:74', `Generated machineconfig ${configName} from ${source.length} configs: ${JSON.stringify(source)}`);
      } catch (e) {
        if (!isAlreadyExists(e)) throw e;
      }
    }
    await updateFromStore(this.o.clients.custom, POOLS, name, this.o.pools, (current) => {
      if (current.spec.configuration?.name === configName && deepEqual(current.spec.configuration.source ?? [], source)) return undefined;
      if (current.spec.configuration?.name !== configName) this.o.log.info('render-controller.ts:81', `Pool ${name}: now targeting: ${configName}`);
      return this.o.clients.custom.replaceClusterCustomObject({ ...POOLS, name, body: { ...current, spec: { ...current.spec, configuration: { name: configName, source } } } });
    });
    await this.setRenderDegraded(name, undefined);
  }

  /** RenderDegraded=True with `message`, or False; Degraded follows (§1.3). Written only when it changes. */
  private async setRenderDegraded(name: string, message: string | undefined): Promise<void> {
    await updateFromStore(this.o.clients.custom, POOLS, name, this.o.pools, (pool) => {
      const now = metaTime(this.o.now());
      const old = pool.status?.conditions ?? [];
      const render: MachineConfigPoolCondition = { type: 'RenderDegraded', status: message ? 'True' : 'False', lastTransitionTime: now, reason: '', message: message ?? '' };
      let conditions = setCondition(old, render);
      // The message carries the error: refresh it when only the error changed.
      if (message && old.find((c) => c.type === 'RenderDegraded')?.message !== message) conditions = conditions.map((c) => (c.type === 'RenderDegraded' ? { ...c, message } : c));
      const nodeDegraded = conditions.find((c) => c.type === 'NodeDegraded')?.status === 'True';
      conditions = setCondition(conditions, { type: 'Degraded', status: message || nodeDegraded ? 'True' : 'False', lastTransitionTime: now, reason: '', message: '' });
      if (deepEqual(conditions, old)) return undefined;
      return this.o.clients.custom.replaceClusterCustomObjectStatus({ ...POOLS, name, body: { ...pool, status: { ...pool.status, conditions } } });
    });
  }

  private ref(p: MachineConfigPool): { apiVersion: string; kind: string; name: string } {
    return { apiVersion: MCO_API_VERSION, kind: 'MachineConfigPool', name: p.metadata.name! };
  }
}

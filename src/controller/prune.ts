/**
 * `mco prune rendered` (as `oc adm prune renderedmachineconfigs`, reference mco.md §3.7): the
 * rendered configs nothing uses any more. A rendered config is in use when a pool targets it
 * or reports it (spec/status.configuration) or a node names it as currentConfig or
 * desiredConfig; those are never pruned (deleting one degrades its nodes, MCO #2010, #2635).
 */
import type { MachineConfig } from '../api/machineconfig.js';
import type { MachineConfigPool } from '../api/machineconfigpool.js';
import { CURRENT_CONFIG_ANNOTATION, DESIRED_CONFIG_ANNOTATION } from '../api/node.js';
import { CONFIGS, POOLS, type Clients } from './kube.js';
import type { NodeLike } from './rollout.js';

export interface PruneSelection {
  /** Only rendered configs of this pool. */
  pool?: string;
  /** At most this many, oldest first. */
  count?: number;
}

export interface PrunePlan {
  /** Unused rendered configs to delete, oldest first. */
  prune: string[];
  /** Rendered configs kept because something uses them, with who. */
  inUse: { name: string; by: string[] }[];
}

const isRendered = (mc: MachineConfig): boolean => /^rendered-/.test(mc.metadata.name ?? '') && (mc.metadata.ownerReferences ?? []).some((o) => o.kind === 'MachineConfigPool');
const poolOf = (mc: MachineConfig): string | undefined => mc.metadata.ownerReferences?.find((o) => o.kind === 'MachineConfigPool')?.name;

export function planPrune(configs: readonly MachineConfig[], pools: readonly MachineConfigPool[], nodes: readonly NodeLike[], sel: PruneSelection = {}): PrunePlan {
  const users = new Map<string, string[]>();
  const use = (name: string | undefined, by: string): void => {
    if (name) users.set(name, [...(users.get(name) ?? []), by]);
  };
  for (const p of pools) {
    use(p.spec.configuration?.name, `MachineConfigPool ${p.metadata.name} spec.configuration`);
    use(p.status?.configuration?.name, `MachineConfigPool ${p.metadata.name} status.configuration`);
  }
  for (const n of nodes) {
    use(n.metadata?.annotations?.[CURRENT_CONFIG_ANNOTATION], `Node ${n.metadata?.name} currentConfig`);
    use(n.metadata?.annotations?.[DESIRED_CONFIG_ANNOTATION], `Node ${n.metadata?.name} desiredConfig`);
  }
  const rendered = configs
    .filter(isRendered)
    .filter((mc) => sel.pool === undefined || poolOf(mc) === sel.pool)
    .sort((a, b) => (a.metadata.creationTimestamp ?? '').localeCompare(b.metadata.creationTimestamp ?? '') || a.metadata.name!.localeCompare(b.metadata.name!));
  const inUse = rendered.filter((mc) => users.has(mc.metadata.name!)).map((mc) => ({ name: mc.metadata.name!, by: users.get(mc.metadata.name!)! }));
  const unused = rendered.filter((mc) => !users.has(mc.metadata.name!)).map((mc) => mc.metadata.name!);
  return { prune: sel.count === undefined ? unused : unused.slice(0, sel.count), inUse };
}

/** Reads the cluster, plans, and (with `confirm`) deletes; returns the plan. */
export async function pruneRendered(clients: Clients, sel: PruneSelection & { confirm: boolean }): Promise<PrunePlan> {
  const configs = ((await clients.custom.listClusterCustomObject(CONFIGS)) as { items: MachineConfig[] }).items;
  const pools = ((await clients.custom.listClusterCustomObject(POOLS)) as { items: MachineConfigPool[] }).items;
  const nodes = (await clients.core.listNode()).items;
  if (sel.pool !== undefined && !pools.some((p) => p.metadata.name === sel.pool)) throw new Error(`MachineConfigPool ${sel.pool} not found`);
  const plan = planPrune(configs, pools, nodes, sel);
  if (sel.confirm) {
    // Re-checked just before deleting: a node targeted since the plan keeps its config.
    const fresh = planPrune(configs, ((await clients.custom.listClusterCustomObject(POOLS)) as { items: MachineConfigPool[] }).items, (await clients.core.listNode()).items, sel);
    for (const name of plan.prune.filter((n) => fresh.prune.includes(n))) await clients.custom.deleteClusterCustomObject({ ...CONFIGS, name });
    return { prune: plan.prune.filter((n) => fresh.prune.includes(n)), inUse: fresh.inUse };
  }
  return plan;
}

/**
 * What the OS content cache must keep: the osImageURL of every rendered config in use (as
 * planPrune counts use) and of the ControllerConfig (the next render's). While a pool is
 * still rolling out, nothing is decided: a node may be pulling an image the pools are leaving.
 */
export type OsContentKeep = { keep: string[] } | { wait: string };

export function osImagesInUse(configs: readonly MachineConfig[], pools: readonly MachineConfigPool[], nodes: readonly NodeLike[], controllerConfigOsImageURL: string | undefined): OsContentKeep {
  const rolling = pools.find((p) => p.status?.configuration?.name !== p.spec.configuration?.name || (p.status?.updatedMachineCount ?? 0) !== (p.status?.machineCount ?? 0));
  if (rolling) return { wait: `MachineConfigPool ${rolling.metadata.name} is updating` };
  const byName = new Map(configs.map((mc) => [mc.metadata.name!, mc]));
  const keep = new Set<string>();
  for (const { name } of planPrune(configs, pools, nodes).inUse) {
    const url = byName.get(name)?.spec.osImageURL;
    if (url) keep.add(url);
  }
  if (controllerConfigOsImageURL) keep.add(controllerConfigOsImageURL);
  return { keep: [...keep].sort() };
}

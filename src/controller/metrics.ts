/**
 * The controller's Prometheus metrics, with the names main's MCC exports
 * (`pkg/controller/common/metrics.go`): per-pool machine counts and one `mco_state` series per
 * node. Each controller process has its own registry (no global state), served on
 * `--metrics-listen` at `/metrics`.
 */
import { Gauge, Registry } from 'prom-client';
import type { MachineConfigPoolStatus } from '../api/machineconfigpool.js';
import { nodeState, REASON_ANNOTATION } from '../api/node.js';
import type { NodeLike } from './rollout.js';

export class ControllerMetrics {
  readonly registry = new Registry();
  private readonly machines = this.gauge('mco_machine_count', 'Total number of machines in the pool', ['pool']);
  private readonly updated = this.gauge('mco_updated_machine_count', 'Number of machines of the pool updated to its target config', ['pool']);
  private readonly degraded = this.gauge('mco_degraded_machine_count', 'Number of degraded machines in the pool', ['pool']);
  private readonly unavailable = this.gauge('mco_unavailable_machine_count', 'Number of unavailable machines in the pool', ['pool']);
  private readonly state = this.gauge('mco_state', 'State of each node of each pool, as its daemon reports it', ['node', 'pool', 'state', 'reason']);
  /** The mco_state label sets last set per pool, to remove those of nodes that left. */
  private readonly states = new Map<string, Map<string, { node: string; pool: string; state: string; reason: string }>>();

  private gauge(name: string, help: string, labelNames: string[]): Gauge {
    return new Gauge({ name, help, labelNames, registers: [this.registry] });
  }

  /** Records a pool's computed status and its nodes' daemon states. */
  recordPool(pool: string, status: MachineConfigPoolStatus, nodes: readonly NodeLike[]): void {
    this.machines.set({ pool }, status.machineCount ?? 0);
    this.updated.set({ pool }, status.updatedMachineCount ?? 0);
    this.degraded.set({ pool }, status.degradedMachineCount ?? 0);
    this.unavailable.set({ pool }, status.unavailableMachineCount ?? 0);
    const next = new Map<string, { node: string; pool: string; state: string; reason: string }>();
    for (const n of nodes) {
      const labels = { node: n.metadata?.name ?? '', pool, state: nodeState(n.metadata?.annotations), reason: n.metadata?.annotations?.[REASON_ANNOTATION] ?? '' };
      next.set(JSON.stringify(labels), labels);
    }
    for (const [key, labels] of this.states.get(pool) ?? []) if (!next.has(key)) this.state.remove(labels);
    for (const labels of next.values()) this.state.set(labels, 1);
    this.states.set(pool, next);
  }

  forgetPool(pool: string): void {
    for (const g of [this.machines, this.updated, this.degraded, this.unavailable]) g.remove({ pool });
    for (const labels of this.states.get(pool)?.values() ?? []) this.state.remove(labels);
    this.states.delete(pool);
  }
}

/**
 * The daemon's metrics with the original's names and labels (mco.md §10.1), in a registry of
 * its own (a lab hosts many daemons in one process), served at `/metrics` on
 * `--metrics-listen` (default 127.0.0.1:8797; '' serves nothing).
 */
import { Gauge, Registry } from 'prom-client';

export const DEFAULT_METRICS_LISTEN = '127.0.0.1:8797';

export class DaemonMetrics {
  readonly registry = new Registry();
  readonly hostOs = new Gauge({ name: 'mcd_host_os_and_version', help: 'os that MCD is running on and version if RHCOS', labelNames: ['os', 'version'], registers: [this.registry] });
  readonly state = new Gauge({ name: 'mcd_state', help: 'state of daemon on specified node', labelNames: ['state', 'reason'], registers: [this.registry] });
  readonly pivotErr = new Gauge({ name: 'mcd_pivot_err', help: 'errors encountered during pivot', labelNames: ['node', 'pivot_target', 'err'], registers: [this.registry] });
  readonly drainErr = new Gauge({ name: 'mcd_drain_err', help: 'errors from failed drain', labelNames: ['node', 'err'], registers: [this.registry] });
  readonly rebootErr = new Gauge({ name: 'mcd_reboot_err', help: 'reboot failed', labelNames: ['node', 'message', 'err'], registers: [this.registry] });
  readonly updateState = new Gauge({ name: 'mcd_update_state', help: 'completed update config or error', labelNames: ['config', 'err'], registers: [this.registry] });
}

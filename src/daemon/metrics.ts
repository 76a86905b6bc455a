/**
 * The daemon's metrics with the original's names and labels (mco.md §10.1), in a registry of
 * its own (a lab hosts many daemons in one process), served at `/metrics` on
 * `--metrics-listen` (default 127.0.0.1:8797; '' serves nothing).
 */
import { createServer, type Server } from 'node:http';
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

/** Serves the registry on `host:port`; resolves with the bound address and a closer. */
export async function serveMetrics(metrics: DaemonMetrics, listen: string): Promise<{ address: string; close(): Promise<void> }> {
  const colon = listen.lastIndexOf(':');
  const host = colon > 0 ? listen.slice(0, colon).replace(/^\[|\]$/g, '') : '127.0.0.1';
  const port = Number(listen.slice(colon + 1));
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`--metrics-listen: "${listen}" is not HOST:PORT`);
  const server: Server = createServer((req, res) => {
    if (req.url !== '/metrics') {
      res.writeHead(404).end('not found\n');
      return;
    }
    metrics.registry.metrics().then(
      (text) => res.writeHead(200, { 'Content-Type': metrics.registry.contentType }).end(text),
      (e: Error) => res.writeHead(500).end(`${e.message}\n`),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const addr = server.address();
  const address = typeof addr === 'object' && addr ? `${addr.address}:${addr.port}` : listen;
  return { address, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

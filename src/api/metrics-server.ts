/**
 * `/metrics` over HTTP for a prom-client registry, as every MCO component serves its own on
 * `--metrics-listen` (each process, or each daemon a lab hosts, has a registry of its own).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';

export interface MetricsServer {
  /** `HOST:PORT` actually bound (the port chosen when `listen` asked for 0). */
  address: string;
  url: string;
  close(): Promise<void>;
}

/** `HOST:PORT` → a server of `/metrics`; resolves once listening. */
export async function serveMetrics(registry: Registry, listen: string): Promise<MetricsServer> {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(listen);
  if (!m || Number(m[3]) > 65535) throw new Error(`--metrics-listen must be HOST:PORT (e.g. 127.0.0.1:8797), not "${listen}"`);
  const host = m[1] ?? (m[2] || '127.0.0.1');
  const server: Server = createServer((req, res) => {
    if (req.url !== '/metrics') {
      res.writeHead(404).end('not found\n');
      return;
    }
    registry.metrics().then(
      (text) => res.writeHead(200, { 'Content-Type': registry.contentType }).end(text),
      (e: Error) => res.writeHead(500).end(`${e.message}\n`),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(Number(m[3]), host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const hostPort = `${host.includes(':') ? `[${host}]` : host}:${port}`;
  return {
    address: hostPort,
    url: `http://${hostPort}/metrics`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

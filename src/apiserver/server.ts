/**
 * `mco apiserver`: opens (or creates) the data directory — SQLite state, CA and serving
 * certificate, token secret — installs the system namespaces and the built-in CRDs, and
 * serves HTTPS. Writes an admin kubeconfig (CA data + bearer token) for kubectl.
 */
import * as fs from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { stringify as toYaml } from 'yaml';
import { mintToken, tokenSecret } from './auth.js';
import { createHandler } from './handler.js';
import { ObjectsApi } from './objects-api.js';
import { deepEqual } from './objects.js';
import { ensurePki } from './pki.js';
import { ResourceRegistry } from './registry.js';
import { CRDS, NAMESPACES, SYSTEM_NAMESPACES, resourceKey } from './resources.js';
import { loadBuiltinCrds, loadManifests } from './crds.js';
import { Store, type KubeObject } from './store.js';

export interface ApiServerOptions {
  dataDir: string;
  host: string;
  /** 0: the kernel picks one. */
  port: number;
  /** Changes kept for watches to replay (older resourceVersions get 410 Gone). */
  historyLimit?: number;
  /** How often a watch that allows bookmarks gets one. */
  bookmarkIntervalMs?: number;
  now?: () => Date;
  /** Serve `kubectl logs` from `DIR/NS/NAME.log` (pods/log); undefined: not served. */
  podLogDir?: string;
}

export interface RunningApiServer {
  /** `https://HOST:PORT` */
  url: string;
  host: string;
  port: number;
  caCert: string;
  close(): Promise<void>;
}

/** An admin kubeconfig for `url`, trusting the server's CA. */
export function kubeconfigFor(url: string, caCert: string, token: string, user = 'admin'): string {
  return toYaml({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'mco', cluster: { server: url, 'certificate-authority-data': Buffer.from(caCert).toString('base64') } }],
    users: [{ name: user, user: { token } }],
    contexts: [{ name: `${user}@mco`, context: { cluster: 'mco', user } }],
    'current-context': `${user}@mco`,
  });
}

const ADMIN = { user: { kind: 'admin' as const }, dryRun: false, fieldValidation: 'Strict' as const, warnings: [], fieldManager: 'mco-apiserver' };

/**
 * System namespaces, the shipped manifests' namespaces and CRDs: created when missing, CRDs
 * updated when the manifests changed.
 */
function installDefaults(store: Store, objects: ObjectsApi): void {
  const manifestNamespaces = (loadManifests() as KubeObject[]).filter((o) => o.apiVersion === 'v1' && o.kind === 'Namespace');
  for (const ns of manifestNamespaces) {
    if (!store.get(resourceKey(NAMESPACES), '', ns.metadata.name)) objects.create(NAMESPACES, undefined, ns, ADMIN);
  }
  for (const name of SYSTEM_NAMESPACES) {
    if (!store.get(resourceKey(NAMESPACES), '', name)) objects.create(NAMESPACES, undefined, { metadata: { name } }, ADMIN);
  }
  for (const crd of loadBuiltinCrds() as KubeObject[]) {
    const stored = store.get(resourceKey(CRDS), '', crd.metadata.name);
    if (!stored) objects.create(CRDS, undefined, crd, ADMIN);
    else if (!deepEqual(stored['spec'], crd['spec'])) objects.update(CRDS, '', crd.metadata.name, { ...stored, spec: crd['spec'] }, ADMIN);
  }
}

export async function startApiServer(options: ApiServerOptions): Promise<RunningApiServer> {
  fs.mkdirSync(options.dataDir, { recursive: true, mode: 0o700 });
  const pki = await ensurePki(options.dataDir, options.host);
  const secret = tokenSecret(options.dataDir);
  const now = options.now ?? ((): Date => new Date());
  const store = new Store(join(options.dataDir, 'state.db'), { historyLimit: options.historyLimit ?? 100_000 });
  const registry = new ResourceRegistry();
  const objects = new ObjectsApi(store, registry, now);
  objects.refreshCrds();
  installDefaults(store, objects);

  const handler = createHandler({
    store,
    registry,
    objects,
    tokenSecret: secret,
    now,
    ...(options.podLogDir !== undefined ? { podLogDir: options.podLogDir } : {}),
    watch: { bookmarkIntervalMs: options.bookmarkIntervalMs ?? 60_000, maxBufferedBytes: 64 * 1024 * 1024 },
  });
  const server: Server = createServer({ key: pki.key, cert: pki.cert }, handler);
  // Watches are long requests; the default 5 min request timeout would cut them.
  server.requestTimeout = 0;
  server.keepAliveTimeout = 65_000;
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port, options.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (e) {
    store.close();
    throw e;
  }
  const { port } = server.address() as AddressInfo;
  // A wildcard address is where the server listens, not one a client can dial (or the certificate names).
  const dialable = options.host === '0.0.0.0' ? '127.0.0.1' : options.host === '::' ? '::1' : options.host;
  const hostInUrl = dialable.includes(':') ? `[${dialable}]` : dialable;
  return {
    url: `https://${hostInUrl}:${port}`,
    host: options.host,
    port,
    caCert: pki.caCert,
    async close() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      store.close();
    },
  };
}

/** The admin kubeconfig of a data directory's server at `url`. */
export function adminKubeconfig(dataDir: string, url: string): string {
  const caCert = fs.readFileSync(join(dataDir, 'ca.crt'), 'utf8');
  return kubeconfigFor(url, caCert, mintToken(tokenSecret(dataDir), { kind: 'admin' }));
}

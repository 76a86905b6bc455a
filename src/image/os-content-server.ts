/**
 * The HTTP front of the OS content cache (`mco os-content serve`):
 *
 *   POST /images?ref=HOST/REPO@sha256:…   pull and extract the image once (concurrent requests
 *                                          wait on the same extraction); answers its record
 *                                          `{ image, digest, commit, version, path }` as JSON
 *   GET  /images                           the cached images (JSON)
 *   GET  /stats                            requests, bytes sent, extractions (JSON)
 *   GET  /images/sha256:<hex>/…            the image's archive repo as ostree's HTTP protocol
 *                                          reads it: `config`, `refs/heads/…`, `objects/…`
 *                                          (static files, Range and ETag); 404 for an image
 *                                          not cached
 *   POST /prune                            body `{"keep": [IMAGE…]}`: removes the images none
 *                                          of KEEP names (see decidePrune); answers the removed
 *
 * So a node's object pull from image IMAGE is: POST /images?ref=IMAGE, then an ostree pull of
 * the commit from BASE/images/DIGEST/.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { openRegularFile, sendFile } from '../ostree/serve.js';
import { parseListenAddress } from './listen.js';
import { countBytesSent } from './wire-bytes.js';
import { OsContentCacheError, type CachedImage, type OsContentCache } from './os-content-cache.js';

export interface OsContentServerOptions {
  /** `HOST:PORT`; port 0 lets the kernel pick one. */
  listen: string;
  log?: (line: string) => void;
}

export interface OsContentStats {
  requests: number;
  /** Bytes of repo files sent (bodies only): what the nodes received from the cache. */
  bytesServed: number;
  /** Everything sent over the network (headers, JSON answers, files). */
  bytesSent: number;
  /** Images pulled from their registry and extracted since the cache started. */
  extractions: number;
}

export interface RunningOsContentServer {
  /** `http://HOST:PORT`: the osContentURL nodes are given. */
  url: string;
  address: string;
  stats(): OsContentStats;
  close(): Promise<void>;
}

/** The path nodes pull an image's repo from, relative to the cache's URL. */
export const imageRepoPath = (digest: string): string => `/images/${digest}/`;

const json = (res: ServerResponse, status: number, body: unknown): void => {
  const text = `${JSON.stringify(body)}\n`;
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
};

const describe = (c: CachedImage): CachedImage & { path: string } => ({ ...c, path: imageRepoPath(c.digest) });

export async function serveOsContent(cache: OsContentCache, options: OsContentServerOptions): Promise<RunningOsContentServer> {
  const listen = parseListenAddress(options.listen);
  if (!listen) throw new OsContentCacheError(`Invalid listen address "${options.listen}": expected HOST:PORT, e.g. 127.0.0.1:8090 (port 0 picks a free one)`, 400);
  const counters = { requests: 0, bytesServed: 0 };
  const stats = (): OsContentStats => ({ ...counters, bytesSent: bytesSent(), extractions: cache.extractions });
  const server = createServer((req, res) => {
    counters.requests++;
    if (req.url === '/stats' && req.method === 'GET') return json(res, 200, stats());
    handle(cache, req, res, counters).catch((e: Error) => {
      const status = e instanceof OsContentCacheError ? e.status : 500;
      if (status >= 500) options.log?.(`${req.method} ${req.url}: ${e.message}`);
      if (!res.headersSent) json(res, status, { error: e.message });
      else res.destroy(e);
    });
  });
  const bytesSent = countBytesSent(server);
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e) => reject(new OsContentCacheError(`Cannot listen on ${options.listen}: ${e.message}`, 400, { cause: e })));
    server.listen(listen.port, listen.host, resolve);
  });
  const bound = server.address() as AddressInfo;
  const address = `${bound.family === 'IPv6' ? `[${bound.address}]` : bound.address}:${bound.port}`;
  return {
    url: `http://${address}`,
    address,
    stats,
    close: () =>
      new Promise<void>((resolve, reject) => {
        if (!server.listening) return resolve();
        server.close((e) => (e ? reject(e) : resolve()));
        server.closeAllConnections();
      }),
  };
}

async function readJson(req: IncomingMessage, limit = 1 << 20): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw new OsContentCacheError(`Request body larger than ${limit} bytes`, 400);
    chunks.push(chunk);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch (e) {
    throw new OsContentCacheError(`Request body is not JSON: ${(e as Error).message}`, 400, { cause: e });
  }
}

async function handle(cache: OsContentCache, req: IncomingMessage, res: ServerResponse, counters: { bytesServed: number }): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://cache');
  const path = url.pathname;
  if (path === '/images' && req.method === 'POST') {
    const ref = url.searchParams.get('ref');
    if (!ref) throw new OsContentCacheError('POST /images needs ?ref=IMAGE (a digest reference)', 400);
    return json(res, 200, describe(await cache.ensure(ref)));
  }
  if (path === '/images' && req.method === 'GET') return json(res, 200, { images: cache.list().map(describe) });
  if (path === '/prune' && req.method === 'POST') {
    const body = (await readJson(req)) as { keep?: unknown };
    if (!Array.isArray(body.keep) || body.keep.some((k) => typeof k !== 'string')) throw new OsContentCacheError('POST /prune: body must be {"keep": ["IMAGE", …]}', 400);
    return json(res, 200, { removed: cache.prune(body.keep as string[]).map(describe) });
  }
  const m = /^\/images\/(sha256:[0-9a-f]{64})\/(.*)$/.exec(path);
  if (m && (req.method === 'GET' || req.method === 'HEAD')) {
    const [, digest, rest] = m as unknown as [string, string, string];
    if (!cache.get(digest)) throw new OsContentCacheError(`Image ${digest} is not in this cache (POST /images?ref=IMAGE adds it)`, 404);
    return sendRepoFile(req, res, cache.repoPath(digest), rest, counters);
  }
  throw new OsContentCacheError(`No such resource: ${req.method} ${path}`, 404);
}

/**
 * One file of an archive repo, as a static server sends it: ETag (objects never change; refs
 * and config may, so size and mtime make the tag), If-None-Match, and one byte Range.
 * Only names made of the repo's own characters are served, and never through a symlink.
 * (ostree/serve.ts serves one repo per listener; the cache serves many under one, behind its
 * own routes, and hands each file to serve.ts's sendFile.)
 */
async function sendRepoFile(req: IncomingMessage, res: ServerResponse, root: string, rel: string, counters: { bytesServed: number }): Promise<void> {
  const parts = decodeURIComponent(rel).split('/');
  const file = parts.some((p) => p === '' || p === '.' || p === '..' || !/^[A-Za-z0-9._+-]+$/.test(p)) ? undefined : openRegularFile(join(root, ...parts), true);
  if (file === undefined) return json(res, 404, { error: `No such file in the repo: ${rel}` });
  counters.bytesServed += await sendFile(req, res, file, `"${file.stats.size.toString(16)}-${Math.floor(file.stats.mtimeMs).toString(16)}"`);
}

/**
 * Serves a repository directory as static files over HTTP, which is all ostree's pull needs
 * from a server (`ostree trivial-httpd` does the same). GET and HEAD only; single byte ranges
 * (206, or 416 when unsatisfiable); a strong ETag from inode, size and mtime, honoured by
 * If-None-Match (304); keep-alive connections. Nothing outside the repository is served: a
 * path with `..` segments is refused, and so is one that resolves (through symlinks) outside it.
 */
import { createReadStream, realpathSync, type Stats } from 'node:fs';
import * as fs from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { sep } from 'node:path';

export interface ServeOptions {
  /** `HOST:PORT` (`[::1]:8080`, `127.0.0.1:0` for any free port). */
  listen: string;
}

export interface ServeStats {
  /** Requests answered, whatever their status. */
  requests: number;
  /** Body bytes sent. */
  bytesServed: number;
}

export interface RepoServer {
  /** Base URL of the repository, ending in `/`. */
  url: string;
  close(): Promise<void>;
  stats(): ServeStats;
}

export class ServeError extends Error {
  override name = 'ServeError';
}

export function parseListen(listen: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(listen);
  const port = m ? Number(m[3]) : NaN;
  if (!m || !Number.isInteger(port) || port > 65535) throw new ServeError(`Invalid listen address ${JSON.stringify(listen)}: expected HOST:PORT`);
  return { host: m[1] ?? (m[2] || '0.0.0.0'), port };
}

/** Starts serving `repoPath`; resolves once listening. */
export async function serveRepo(repoPath: string, options: ServeOptions): Promise<RepoServer> {
  const { host, port } = parseListen(options.listen);
  let root: string;
  try {
    root = realpathSync(repoPath);
  } catch (e) {
    throw new ServeError(`Cannot serve ${repoPath}: ${(e as Error).message}`, { cause: e });
  }
  const stats: ServeStats = { requests: 0, bytesServed: 0 };
  const server = createServer({ keepAlive: true }, (req, res) => {
    stats.requests++;
    handle(root, req, res, stats).catch((e: unknown) => {
      if (!res.headersSent) send(res, 500, `${(e as Error).message}\n`);
      else res.destroy();
    });
  });
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e) => reject(new ServeError(`Cannot listen on ${options.listen}: ${e.message}`, { cause: e })));
    server.listen(port, host, resolve);
  });
  const address = server.address() as AddressInfo;
  const shownHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    url: `http://${shownHost === '0.0.0.0' ? '127.0.0.1' : shownHost === '[::]' ? '[::1]' : shownHost}:${address.port}/`,
    stats: () => ({ ...stats }),
    close: () => new Promise<void>((resolve, reject) => {
      server.close((e) => (e ? reject(e) : resolve()));
      server.closeAllConnections();
    }),
  };
}

function send(res: ServerResponse, status: number, text: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(text), ...headers });
  res.end(res.req.method === 'HEAD' ? undefined : text);
}

/** The file a request names inside `root`, or undefined when the path is not one we serve. */
async function resolvePath(root: string, rawUrl: string): Promise<string | undefined> {
  const pathname = rawUrl.split('?')[0]!;
  let decoded: string;
  try {
    decoded = decodeURIComponent(pathname);
  } catch {
    return undefined;
  }
  const parts = decoded.split('/').filter((p) => p !== '');
  if (parts.some((p) => p === '..' || p === '.' || p.includes('\0') || p.includes('\\'))) return undefined;
  const joined = [root, ...parts].join(sep);
  let real: string;
  try {
    real = await fs.realpath(joined);
  } catch {
    return undefined;
  }
  return real === root || real.startsWith(root + sep) ? real : undefined;
}

const etagOf = (st: Stats): string => `"${st.ino.toString(16)}-${st.size.toString(16)}-${Math.floor(st.mtimeMs).toString(16)}"`;

async function handle(root: string, req: IncomingMessage, res: ServerResponse, stats: ServeStats): Promise<void> {
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    send(res, 405, 'Method not allowed\n', { Allow: 'GET, HEAD' });
    return;
  }
  const path = await resolvePath(root, req.url ?? '/');
  const st = path === undefined ? undefined : await fs.stat(path).catch(() => undefined);
  if (path === undefined || st === undefined || !st.isFile()) {
    send(res, 404, 'Not found\n');
    return;
  }
  const etag = etagOf(st);
  const headers: Record<string, string | number> = {
    ETag: etag, 'Last-Modified': st.mtime.toUTCString(), 'Accept-Ranges': 'bytes', 'Content-Type': 'application/octet-stream',
  };
  const inm = req.headers['if-none-match'];
  if (inm !== undefined && (inm.trim() === '*' || inm.split(',').some((t) => t.trim().replace(/^W\//, '') === etag))) {
    res.writeHead(304, { ETag: etag });
    res.end();
    return;
  }
  let start = 0;
  let end = st.size - 1;
  let status = 200;
  const range = req.headers['range'];
  const ifRange = req.headers['if-range'];
  if (range !== undefined && (ifRange === undefined || ifRange === etag)) {
    const parsed = parseRange(range, st.size);
    if (parsed === 'unsatisfiable') {
      send(res, 416, 'Range not satisfiable\n', { 'Content-Range': `bytes */${st.size}` });
      return;
    }
    if (parsed) {
      [start, end] = parsed;
      status = 206;
      headers['Content-Range'] = `bytes ${start}-${end}/${st.size}`;
    }
  }
  const length = Math.max(0, end - start + 1);
  headers['Content-Length'] = length;
  res.writeHead(status, headers);
  if (req.method === 'HEAD' || length === 0) {
    res.end();
    return;
  }
  const stream = createReadStream(path, { start, end, highWaterMark: 1 << 20 });
  stream.on('data', (chunk) => {
    stats.bytesServed += chunk.length;
  });
  stream.on('error', () => res.destroy());
  stream.pipe(res);
}

/**
 * A single `bytes=` range as [start, end] (inclusive); undefined to ignore the header (several
 * ranges, or not bytes), 'unsatisfiable' for a range past the end.
 */
export function parseRange(header: string, size: number): [number, number] | 'unsatisfiable' | undefined {
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === '' && m[2] === '')) return undefined;
  if (m[1] === '') {
    const suffix = Number(m[2]);
    if (suffix === 0) return 'unsatisfiable';
    return [Math.max(0, size - suffix), size - 1];
  }
  const start = Number(m[1]);
  const end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  if (start >= size || end < start) return 'unsatisfiable';
  return [start, end];
}

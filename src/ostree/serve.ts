/**
 * Serves a repository directory as static files over HTTP, which is all ostree's pull needs
 * from a server (`ostree trivial-httpd` does the same). GET and HEAD only; single byte ranges
 * (206, or 416 when unsatisfiable); a strong ETag from inode, size and mtime, honoured by
 * If-None-Match (304); keep-alive connections. Nothing outside the repository is served: a
 * path with `..` segments is refused, and so is one that resolves (through symlinks) outside it.
 */
import { closeSync, constants, createReadStream, fstatSync, openSync, readSync, realpathSync, type Stats } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { sep } from 'node:path';
import { pipeline } from 'node:stream/promises';

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
function resolvePath(root: string, rawUrl: string): string | undefined {
  const pathname = rawUrl.split('?')[0]!;
  let decoded: string;
  try {
    decoded = decodeURIComponent(pathname);
  } catch {
    return undefined;
  }
  const parts = decoded.split('/').filter((p) => p !== '');
  if (parts.some((p) => p === '..' || p === '.' || p.includes('\0') || p.includes('\\'))) return undefined;
  let real: string;
  try {
    // Synchronous: a few cached lookups, cheaper than a trip through the thread pool per request.
    real = realpathSync.native([root, ...parts].join(sep));
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
  const path = resolvePath(root, req.url ?? '/');
  const file = path === undefined ? undefined : openRegularFile(path);
  if (file === undefined) {
    send(res, 404, 'Not found\n');
    return;
  }
  stats.bytesServed += await sendFile(req, res, file, etagOf(file.stats), { 'Last-Modified': file.stats.mtime.toUTCString() });
}

/** A regular file opened for sending, with its stats. */
export interface OpenFile {
  fd: number;
  stats: Stats;
}

/**
 * Opens `path` for reading if it is a regular file (not through a final symlink when
 * `noFollow`); undefined when it is missing or something else. Other errors are thrown.
 */
export function openRegularFile(path: string, noFollow = false): OpenFile | undefined {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | (noFollow ? constants.O_NOFOLLOW : 0));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'ELOOP' || code === 'EISDIR') return undefined;
    throw e;
  }
  const stats = fstatSync(fd);
  if (stats.isFile()) return { fd, stats };
  closeSync(fd);
  return undefined;
}

/** Bodies up to this size are read in one call and sent from memory; larger ones are streamed. */
const READ_WHOLE = 1 << 20;

/**
 * Sends an open file (closing it) as a static file server does: `etag` with If-None-Match
 * (304), one byte Range (206, or 416 when unsatisfiable) unless If-Range names another tag,
 * HEAD. Resolves to the body bytes sent.
 */
export async function sendFile(req: IncomingMessage, res: ServerResponse, file: OpenFile, etag: string, extraHeaders: Record<string, string> = {}): Promise<number> {
  const { fd, stats: st } = file;
  let streaming = false;
  try {
    const inm = req.headers['if-none-match'];
    if (inm !== undefined && (inm.trim() === '*' || inm.split(',').some((t) => t.trim().replace(/^W\//, '') === etag))) {
      res.writeHead(304, { ETag: etag });
      res.end();
      return 0;
    }
    const headers: Record<string, string | number> = { ETag: etag, 'Accept-Ranges': 'bytes', 'Content-Type': 'application/octet-stream', ...extraHeaders };
    let start = 0;
    let end = st.size - 1;
    let status = 200;
    const range = req.headers['range'];
    const ifRange = req.headers['if-range'];
    if (range !== undefined && (ifRange === undefined || ifRange === etag)) {
      const parsed = parseRange(range, st.size);
      if (parsed === 'unsatisfiable') {
        send(res, 416, 'Range not satisfiable\n', { 'Content-Range': `bytes */${st.size}` });
        return 0;
      }
      if (parsed) {
        [start, end] = parsed;
        status = 206;
        headers['Content-Range'] = `bytes ${start}-${end}/${st.size}`;
      }
    }
    const length = Math.max(0, end - start + 1);
    headers['Content-Length'] = length;
    if (req.method === 'HEAD' || length === 0) {
      res.writeHead(status, headers);
      res.end();
      return 0;
    }
    if (length <= READ_WHOLE) {
      const body = Buffer.allocUnsafe(length);
      let got = 0;
      while (got < length) {
        const n = readSync(fd, body, got, length - got, start + got);
        if (n === 0) break;
        got += n;
      }
      if (got < length) throw new ServeError(`file shrank while being sent (${got} of ${length} bytes)`);
      res.writeHead(status, headers);
      res.end(body);
      return length;
    }
    res.writeHead(status, headers);
    streaming = true;
    let sent = 0;
    const stream = createReadStream('', { fd, start, end, highWaterMark: 1 << 20, autoClose: true });
    stream.on('data', (chunk) => {
      sent += chunk.length;
    });
    await pipeline(stream, res).catch(() => res.destroy());
    return sent;
  } finally {
    if (!streaming) closeSync(fd);
  }
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

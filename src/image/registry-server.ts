/**
 * The embedded registry: the Distribution HTTP API v2 for pull and push over
 * `RegistryStorage`, close enough to distribution 2.8 that real skopeo copies images into
 * and out of it. It answers as distribution does where clients depend on it (oci.md §2):
 * an OCI manifest or index is served only to a client whose Accept lists its type, a Docker
 * manifest list asked for by tag without the list type resolves to its linux/amd64 entry,
 * errors come in the `{"errors":[{code,message,detail}]}` shape, every upload is checked
 * against the digest the client names, and a manifest is refused while a blob it references
 * is missing from the repository. Unlike 2.8 it honours `POST ?digest=` (monolithic upload)
 * and enforces `Content-Range` order. No authentication: serve on loopback.
 */
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pipeline } from 'node:stream/promises';
import { parseListenAddress } from './listen.js';
import { countBytesSent } from './wire-bytes.js';
import { DOCKER_MANIFEST_LIST, OCI_INDEX, OCI_MANIFEST, ManifestError, parseManifest, type ImageIndex } from './media-types.js';
import { checkDigest, DistributionError, RegistryStorage, validateRepositoryName, type DistributionErrorCode } from './registry-storage.js';

const STATUS: Record<DistributionErrorCode, number> = {
  BLOB_UNKNOWN: 404,
  BLOB_UPLOAD_INVALID: 400,
  BLOB_UPLOAD_UNKNOWN: 404,
  DIGEST_INVALID: 400,
  MANIFEST_BLOB_UNKNOWN: 400,
  MANIFEST_INVALID: 400,
  MANIFEST_UNKNOWN: 404,
  NAME_INVALID: 400,
  NAME_UNKNOWN: 404,
  SIZE_INVALID: 400,
  TAG_INVALID: 400,
  RANGE_INVALID: 416,
  UNSUPPORTED: 405,
};

/** Manifests are small documents: refuse bigger bodies rather than buffer them (distribution's limit). */
const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;

export interface RegistryServerOptions {
  /** Storage directory (created when missing). */
  root: string;
  /** `HOST:PORT`; port 0 lets the kernel pick one. */
  listen: string;
  /** One line per failed request (a 5xx), for the operator. */
  log?: (line: string) => void;
}

export interface RunningRegistry {
  /** `HOST:PORT` actually bound: the registry part of image references. */
  address: string;
  url: string;
  server: Server;
  /** Bytes sent since it started (also served as JSON at `GET /_stats`, outside the API). */
  bytesSent(): number;
  close(): Promise<void>;
}

export class RegistryServerError extends Error {
  override name = 'RegistryServerError';
}

export async function startRegistryServer(options: RegistryServerOptions): Promise<RunningRegistry> {
  const listen = parseListenAddress(options.listen);
  if (!listen) throw new RegistryServerError(`Invalid listen address "${options.listen}": expected HOST:PORT, e.g. 127.0.0.1:5000 (port 0 picks a free one)`);
  const { host, port } = listen;
  const storage = await RegistryStorage.open(options.root);
  let bytesSent = (): number => 0;
  const server = createServer((req, res) => {
    if (req.url === '/_stats' && req.method === 'GET') {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(`${JSON.stringify({ bytesSent: bytesSent() })}\n`);
      return;
    }
    void handleRequest(storage, req, res, options.log);
  });
  bytesSent = countBytesSent(server);
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e) => reject(new RegistryServerError(`Cannot listen on ${options.listen}: ${e.message}`, { cause: e })));
    server.listen(port, host, resolve);
  });
  const bound = server.address() as AddressInfo;
  const address = `${bound.family === 'IPv6' ? `[${bound.address}]` : bound.address}:${bound.port}`;
  return {
    address,
    url: `http://${address}`,
    server,
    bytesSent,
    close: () =>
      new Promise<void>((resolve, reject) => {
        if (!server.listening) return resolve(); // closing twice is not an error
        server.close((e) => (e ? reject(e) : resolve()));
        server.closeAllConnections();
      }),
  };
}

type Route =
  | { kind: 'base' }
  | { kind: 'catalog' }
  | { kind: 'tags'; name: string }
  | { kind: 'manifest'; name: string; reference: string }
  | { kind: 'uploads'; name: string; uuid: string }
  | { kind: 'blob'; name: string; digest: string };

function route(path: string): Route | undefined {
  if (path === '/v2/' || path === '/v2') return { kind: 'base' };
  if (path === '/v2/_catalog') return { kind: 'catalog' };
  let m = /^\/v2\/(.+)\/tags\/list$/.exec(path);
  if (m) return { kind: 'tags', name: m[1]! };
  m = /^\/v2\/(.+)\/manifests\/([^/]+)$/.exec(path);
  if (m) return { kind: 'manifest', name: m[1]!, reference: m[2]! };
  m = /^\/v2\/(.+)\/blobs\/uploads\/?([^/]*)$/.exec(path);
  if (m) return { kind: 'uploads', name: m[1]!, uuid: m[2]! };
  m = /^\/v2\/(.+)\/blobs\/([^/]+)$/.exec(path);
  if (m) return { kind: 'blob', name: m[1]!, digest: m[2]! };
  return undefined;
}

async function handleRequest(storage: RegistryStorage, req: IncomingMessage, res: ServerResponse, log?: (line: string) => void): Promise<void> {
  res.setHeader('Docker-Distribution-Api-Version', 'registry/2.0');
  const url = new URL(req.url ?? '/', 'http://registry.invalid');
  try {
    let path: string;
    try {
      path = decodeURIComponent(url.pathname);
    } catch {
      throw new DistributionError('NAME_INVALID', 'invalid repository name', { path: url.pathname });
    }
    const r = route(path);
    if (!r) throw new DistributionError('NAME_UNKNOWN', 'repository name not known to registry', { path: url.pathname });
    if ('name' in r) validateRepositoryName(r.name);
    switch (r.kind) {
      case 'base':
        return sendJson(res, 200, {});
      case 'catalog':
        return sendPage(res, url, '/v2/_catalog', 'repositories', await storage.listRepositories(), {});
      case 'tags': {
        const tags = await storage.listTags(r.name);
        if (!tags) throw new DistributionError('NAME_UNKNOWN', 'repository name not known to registry', { name: r.name });
        return sendPage(res, url, `/v2/${r.name}/tags/list`, 'tags', tags, { name: r.name });
      }
      case 'manifest':
        return await manifestRequest(storage, req, res, r.name, r.reference);
      case 'blob':
        return await blobRequest(storage, req, res, r.name, r.digest);
      case 'uploads':
        return await uploadRequest(storage, req, res, url, r.name, r.uuid);
    }
  } catch (e) {
    req.resume(); // an unread request body must not stall the connection
    if (e instanceof DistributionError) return sendError(res, STATUS[e.code], e);
    log?.(`${req.method} ${url.pathname}: ${(e as Error).message}`);
    if (res.headersSent) {
      res.destroy(e as Error);
      return;
    }
    sendJson(res, 500, { errors: [{ code: 'UNKNOWN', message: 'unknown error', detail: (e as Error).message }] });
  }
}

function methodNotAllowed(method: string | undefined): DistributionError {
  return new DistributionError('UNSUPPORTED', 'The operation is unsupported.', { method });
}

// ---- manifests

/** The media types an Accept header (one or several, comma-separated, with parameters) lists. */
function accepted(req: IncomingMessage): Set<string> {
  const raw = req.headersDistinct['accept'] ?? [];
  return new Set(raw.flatMap((h) => h.split(',')).map((t) => t.split(';')[0]!.trim()).filter(Boolean));
}

async function manifestRequest(storage: RegistryStorage, req: IncomingMessage, res: ServerResponse, name: string, reference: string): Promise<void> {
  const byDigest = reference.includes(':');
  if (byDigest) checkDigest(reference);
  switch (req.method) {
    case 'GET':
    case 'HEAD': {
      let stored = await storage.getManifest(name, reference);
      if (!stored) throw unknownManifest(name, reference);
      const accept = accepted(req);
      if (stored.mediaType === OCI_MANIFEST && !accept.has(OCI_MANIFEST)) {
        throw new DistributionError('MANIFEST_UNKNOWN', 'OCI manifest found, but accept header does not support OCI manifests');
      }
      if (stored.mediaType === OCI_INDEX && !accept.has(OCI_INDEX)) {
        throw new DistributionError('MANIFEST_UNKNOWN', 'OCI index found, but accept header does not support OCI indexes');
      }
      if (stored.mediaType === DOCKER_MANIFEST_LIST && !byDigest && !accept.has(DOCKER_MANIFEST_LIST)) {
        // Old clients that know no lists get the linux/amd64 image, as distribution does.
        const list = JSON.parse(stored.bytes.toString()) as ImageIndex;
        const entry = list.manifests.find((d) => d.platform?.os === 'linux' && d.platform.architecture === 'amd64');
        const child = entry && (await storage.getManifest(name, entry.digest));
        if (!child) throw new DistributionError('MANIFEST_UNKNOWN', 'Could not find a manifest list entry for linux/amd64');
        stored = child;
      }
      res.writeHead(200, {
        'Content-Type': stored.mediaType,
        'Content-Length': stored.bytes.length,
        'Docker-Content-Digest': stored.digest,
        Etag: `"${stored.digest}"`,
      });
      res.end(req.method === 'GET' ? stored.bytes : undefined);
      return;
    }
    case 'PUT': {
      const bytes = await readBody(req, MAX_MANIFEST_BYTES);
      const mediaType = await checkManifest(storage, name, bytes, req.headers['content-type']);
      // Checked before anything is stored: a wrong digest must not touch a manifest already there.
      const actual = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
      if (byDigest && reference !== actual) throw new DistributionError('DIGEST_INVALID', 'provided digest did not match uploaded content', { digest: reference, actual });
      const stored = await storage.putManifest(name, bytes, mediaType, byDigest ? undefined : reference);
      res.writeHead(201, { Location: `/v2/${name}/manifests/${stored}`, 'Docker-Content-Digest': stored, 'Content-Length': 0 });
      res.end();
      return;
    }
    case 'DELETE': {
      // As distribution 2.8: manifests are deleted by digest; the tags naming one go with it.
      if (!byDigest) throw new DistributionError('DIGEST_INVALID', 'provided digest did not match uploaded content', { reference });
      if (!(await storage.deleteManifest(name, reference))) throw unknownManifest(name, reference);
      res.writeHead(202, { 'Content-Length': 0 });
      res.end();
      return;
    }
    default:
      throw methodNotAllowed(req.method);
  }
}

function unknownManifest(name: string, reference: string): DistributionError {
  return reference.includes(':')
    ? new DistributionError('MANIFEST_UNKNOWN', 'manifest unknown', { Name: name, Revision: reference })
    : new DistributionError('MANIFEST_UNKNOWN', 'manifest unknown', { Tag: reference });
}

/** The manifest's media type, once it parses and every blob or child manifest it names is in `name`. */
async function checkManifest(storage: RegistryStorage, name: string, bytes: Buffer, contentType: string | undefined): Promise<string> {
  const header = contentType?.split(';')[0]!.trim();
  if (!header || (header !== OCI_MANIFEST && header !== OCI_INDEX && !header.startsWith('application/vnd.docker.distribution.manifest.'))) {
    throw new DistributionError('MANIFEST_INVALID', 'manifest invalid', `unsupported manifest media type ${header ?? '(none)'}`);
  }
  let parsed;
  try {
    parsed = parseManifest(bytes, header, `manifest for ${name}`);
  } catch (e) {
    if (e instanceof ManifestError) throw new DistributionError('MANIFEST_INVALID', 'manifest invalid', e.message);
    throw e;
  }
  if (parsed.mediaType !== header) throw new DistributionError('MANIFEST_INVALID', 'manifest invalid', `Content-Type ${header} but mediaType ${parsed.mediaType}`);
  const missing: string[] = [];
  if (parsed.kind === 'image') {
    for (const d of [parsed.manifest.config, ...parsed.manifest.layers]) {
      checkDigest(d.digest);
      if (d.urls?.length) continue; // foreign layers live elsewhere
      if ((await storage.blobSize(name, d.digest)) === undefined) missing.push(d.digest);
    }
  } else {
    for (const d of parsed.index.manifests) {
      checkDigest(d.digest);
      if (!(await storage.getManifest(name, d.digest))) missing.push(d.digest);
    }
  }
  if (missing.length) {
    const [first, ...others] = missing.map((d) => new DistributionError('MANIFEST_BLOB_UNKNOWN', 'blob unknown to registry', d));
    throw new DistributionError(first!.code, first!.message, first!.detail, others);
  }
  return parsed.mediaType;
}

// ---- blobs

async function blobRequest(storage: RegistryStorage, req: IncomingMessage, res: ServerResponse, name: string, digest: string): Promise<void> {
  checkDigest(digest);
  if (req.method === 'DELETE') {
    if (!(await storage.unlinkBlob(name, digest))) throw new DistributionError('BLOB_UNKNOWN', 'blob unknown to registry', digest);
    res.writeHead(202, { 'Content-Length': 0 });
    res.end();
    return;
  }
  if (req.method !== 'GET' && req.method !== 'HEAD') throw methodNotAllowed(req.method);
  const size = await storage.blobSize(name, digest);
  if (size === undefined) throw new DistributionError('BLOB_UNKNOWN', 'blob unknown to registry', digest);
  const headers = { 'Content-Type': 'application/octet-stream', 'Docker-Content-Digest': digest, Etag: `"${digest}"`, 'Accept-Ranges': 'bytes', 'Cache-Control': 'max-age=31536000' };
  const range = parseRange(req.headers['range'], size);
  if (range === 'unsatisfiable') {
    res.writeHead(416, { 'Content-Range': `bytes */${size}`, 'Content-Length': 0 });
    res.end();
    return;
  }
  if (range) {
    res.writeHead(206, { ...headers, 'Content-Length': range.end - range.start + 1, 'Content-Range': `bytes ${range.start}-${range.end}/${size}` });
  } else {
    res.writeHead(200, { ...headers, 'Content-Length': size });
  }
  if (req.method === 'HEAD' || size === 0) {
    res.end();
    return;
  }
  await pipeline(storage.openBlob(digest, range), res);
}

/** `bytes=START-[END]` or `bytes=-SUFFIX`; anything else is ignored (the whole blob is sent), as HTTP allows. */
function parseRange(header: string | undefined, size: number): { start: number; end: number } | 'unsatisfiable' | undefined {
  const m = header && /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === '' && m[2] === '')) return undefined;
  let start: number;
  let end: number;
  if (m[1] === '') {
    start = Math.max(0, size - Number(m[2]));
    end = size - 1;
  } else {
    start = Number(m[1]);
    end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  }
  if (start >= size || start > end) return 'unsatisfiable';
  return { start, end };
}

// ---- uploads

async function uploadRequest(storage: RegistryStorage, req: IncomingMessage, res: ServerResponse, url: URL, name: string, uuid: string): Promise<void> {
  const digest = url.searchParams.get('digest');
  if (!uuid) {
    if (req.method !== 'POST') throw methodNotAllowed(req.method);
    const mount = url.searchParams.get('mount');
    const from = url.searchParams.get('from');
    if (mount && from) {
      checkDigest(mount);
      validateRepositoryName(from);
      if (await storage.mountBlob(name, mount, from)) return blobCreated(res, name, mount);
      // Not mountable: a new session, as distribution answers.
    }
    if (digest !== null) checkDigest(digest);
    const session = await storage.startUpload(name);
    if (digest !== null) {
      // Monolithic upload in one POST; a failed one leaves no session behind.
      try {
        await storage.appendUpload(name, session, req);
        await storage.finishUpload(name, session, digest);
      } catch (e) {
        await storage.cancelUpload(name, session);
        throw e;
      }
      return blobCreated(res, name, digest);
    }
    req.resume();
    return uploadStatus(res, 202, name, session, 0);
  }
  switch (req.method) {
    case 'GET':
      return uploadStatus(res, 204, name, uuid, await storage.uploadSize(name, uuid));
    case 'PATCH': {
      const size = await storage.appendUpload(name, uuid, req, contentRangeStart(req.headers['content-range']));
      return uploadStatus(res, 202, name, uuid, size);
    }
    case 'PUT': {
      if (digest === null) throw new DistributionError('DIGEST_INVALID', 'provided digest did not match uploaded content', 'digest parameter missing');
      checkDigest(digest);
      await storage.appendUpload(name, uuid, req, contentRangeStart(req.headers['content-range']));
      await storage.finishUpload(name, uuid, digest);
      return blobCreated(res, name, digest);
    }
    case 'DELETE':
      await storage.cancelUpload(name, uuid);
      res.writeHead(204, { 'Content-Length': 0 });
      res.end();
      return;
    default:
      throw methodNotAllowed(req.method);
  }
}

/** Start of `Content-Range: START-END` (distribution's form; `bytes START-END/…` accepted too). */
function contentRangeStart(header: string | undefined): number | undefined {
  if (!header) return undefined;
  const m = /^(?:bytes[ =])?(\d+)-(\d+)(?:\/(?:\d+|\*))?$/.exec(header.trim());
  if (!m) throw new DistributionError('BLOB_UPLOAD_INVALID', 'blob upload invalid', `malformed Content-Range "${header}"`);
  return Number(m[1]);
}

function uploadStatus(res: ServerResponse, status: number, name: string, uuid: string, size: number): void {
  res.writeHead(status, {
    Location: `/v2/${name}/blobs/uploads/${uuid}`,
    'Docker-Upload-UUID': uuid,
    // distribution writes 0-0 for an empty upload (its inclusive form cannot say "nothing")
    Range: `0-${Math.max(0, size - 1)}`,
    'Content-Length': 0,
  });
  res.end();
}

function blobCreated(res: ServerResponse, name: string, digest: string): void {
  res.writeHead(201, { Location: `/v2/${name}/blobs/${digest}`, 'Docker-Content-Digest': digest, 'Content-Length': 0 });
  res.end();
}

// ---- plumbing

async function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw new DistributionError('SIZE_INVALID', 'provided length did not match content length', `manifest larger than ${limit} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

/** A list in pages of `n` after `last`, with a `Link` to the next page, as distribution pages tags and the catalog. */
function sendPage(res: ServerResponse, url: URL, path: string, key: string, all: string[], extra: Record<string, string>): void {
  const last = url.searchParams.get('last');
  const nParam = url.searchParams.get('n');
  const n = nParam === null ? undefined : Number(nParam);
  if (n !== undefined && (!Number.isSafeInteger(n) || n < 0)) {
    throw new DistributionError('UNSUPPORTED', 'The operation is unsupported.', `invalid page size n=${nParam}`);
  }
  const after = last === null ? all : all.filter((x) => x > last);
  const page = n === undefined ? after : after.slice(0, n);
  if (n !== undefined && after.length > page.length && page.length > 0) {
    res.setHeader('Link', `<${path}?n=${n}&last=${encodeURIComponent(page[page.length - 1]!)}>; rel="next"`);
  }
  sendJson(res, 200, { ...extra, [key]: page });
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const bytes = Buffer.from(JSON.stringify(body));
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': bytes.length });
  res.end(bytes);
}

function sendError(res: ServerResponse, status: number, e: DistributionError): void {
  if (res.headersSent) {
    res.destroy(e);
    return;
  }
  const all = [e, ...e.others];
  sendJson(res, status, { errors: all.map((x) => ({ code: x.code === 'RANGE_INVALID' ? 'BLOB_UPLOAD_INVALID' : x.code, message: x.message, detail: x.detail })) });
}

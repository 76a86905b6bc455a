/**
 * `ostree pull REMOTE REF|CHECKSUM`: fetches commits from an archive repository served over
 * HTTP as static files, as libostree's pull does without a summary or static deltas. It reads
 * `config` (the remote must be an archive repo), resolves `refs/heads/REF`, then walks commit →
 * detached metadata (optional) → dirtree → dirmeta → content, fetching only the objects the
 * local repo lacks, several at once over keep-alive connections.
 *
 * Nothing unverified is stored: a metadata object's bytes must hash to its name (and decode,
 * which refuses dirtree entries such as `..` or `a/b`); a content object is inflated and its
 * header and content hashed as ostree names it, before it is renamed into `objects/`. Large
 * objects are downloaded into `tmp/` and checked there. `state/CSUM.commitpartial` marks a
 * commit until every object it needs is stored (and synced), so an interrupted pull resumes
 * where it stopped; refs move only then. Over https, the remote's `tls-*` keys say whom to trust
 * and which client certificate to present, as in libostree.
 */
import { createHash, randomBytes } from 'node:crypto';
import {
  closeSync, createReadStream, createWriteStream, openSync, readFileSync, readSync, renameSync, rmSync, statSync, writeFileSync,
} from 'node:fs';
import * as fs from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import { Transform, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createSecureContext } from 'node:tls';
import { createInflateRaw } from 'node:zlib';
import { storedContentIntact, storedMetadataIntact } from './fsck.js';
import { Agent, HttpError, type AgentOptions } from './http1.js';
import { KeyFile, KeyFileError } from './keyfile.js';
import { Limiter } from './limit.js';
import { reclaimDeadPartials, releasePartial, takePartial } from './pull-partial.js';
import { beginWriteTransaction, repairAfterCrashedWriters } from './write-transaction.js';
import { storeFetchedContent, type StoreJob } from './pull-store.js';
import { WorkerPool } from './worker-pool.js';
import {
  decodeArchiveHeader, decodeCommit, decodeDetachedMetadata, decodeDirMeta, decodeDirTree, encodeArchiveHeader, fileChecksumPrefix,
  isChecksum, isSymlinkMode, ObjectError, sha256Hex, type Commit, type DirTree, type FileHeader, type ObjectType,
} from './objects.js';
import { checkStorableMode, commitPartialPath, isComplete } from './pull-local.js';
import { remoteTls, validateRemoteName, type RemoteTls } from './remotes.js';
import { ObjectPresence, STREAM_THRESHOLD, validateRefName, type Repo } from './repo.js';

export class PullError extends Error {
  override name = 'PullError';
}

export interface PullProgress {
  /** Objects downloaded and stored so far. */
  fetchedObjects: number;
  /** Bytes received so far (response bodies). */
  fetchedBytes: number;
  /** Objects the walk has reached, stored already or not. */
  scannedObjects: number;
}

export interface PullOptions {
  /** Base URL of an archive repository (the directory holding `config`, `objects/`, `refs/`). */
  url: string;
  /** Refs to pull (`refs/heads/REF` on the remote); a checksum among them pulls that commit and writes no ref. */
  refs?: string[];
  /** A commit to pull: alone, exactly that commit; with one ref, that ref is set to it (ostree's override). */
  commit?: string;
  /** Parents to pull behind each commit: 0 (default) none, -1 all the remote has. */
  depth?: number;
  /** Fetch commit objects (and detached metadata) only; their `commitpartial` marks stay. */
  commitMetadataOnly?: boolean;
  /**
   * Skip the final sync: the caller's own sync of the repo's filesystem follows (a deploy's
   * syncfs of the sysroot), and one flush instead of two is what a pivot waits for. The pulled
   * commits keep their `commitpartial` marks, and the pull its write mark (write-transaction.ts),
   * until the caller, after that sync, calls `PullResult.finishAfterSync`: a power cut before
   * it leaves the marks, so the next writer re-hashes what this pull stored.
   */
  deferSync?: boolean;
  /** Write `refs/heads/REF` rather than `refs/remotes/REMOTE/REF`. */
  mirror?: boolean;
  /**
   * Remote name: refs go to `refs/remotes/NAME/REF` (without it and without mirror, to
   * `refs/heads/REF`); when the repo's config has this remote, its `tls-*` keys apply (unless
   * `tls` is given), as in libostree.
   */
  remoteName?: string;
  /** How to check the https server's certificate and which client certificate to present. */
  tls?: RemoteTls;
  /** Requests in flight at once (default 8). */
  concurrency?: number;
  /** How long to wait for a connection, for response headers, and between body chunks (default 30 s). */
  timeoutMs?: number;
  signal?: AbortSignal;
  onProgress?: (p: PullProgress) => void;
  /**
   * Worker threads verifying and writing content: N from the first object, 0 for none (all on
   * this thread); default, one per core but this thread's once there are 64 objects to fetch.
   */
  workers?: number;
}

export interface PullResult {
  /** Every commit pulled (requested ones, not parents), in request order. */
  commits: string[];
  /** Objects downloaded and stored (metadata, detached metadata and content). */
  fetchedObjects: number;
  /** Bytes received (every response body). */
  fetchedBytes: number;
  /** Of fetchedObjects: commit, dirtree and dirmeta objects (ostree's "metadata" count). */
  fetchedMetadata: number;
  /** Of fetchedObjects: content objects. */
  fetchedContent: number;
  /** Uncompressed bytes of the content objects stored. */
  contentBytes: number;
  /** Objects the repo held that did not match their names after a cut pull: removed and fetched again. */
  repairedObjects: number;
  /** With `deferSync`: drops the pull's marks; call it once the repo's filesystem has been synced. */
  finishAfterSync?: () => Promise<void>;
  /** Refs written, as [refspec, commit] (`REMOTE:REF` for a remote ref). */
  refs: [string, string][];
  /** Wall time of the pull in milliseconds. */
  elapsedMs: number;
}

const DEFAULT_TIMEOUT_MS = 30_000;
/** libostree's OSTREE_MAX_METADATA_SIZE: a larger metadata object is refused. */
const MAX_METADATA_SIZE = 128 * 1024 * 1024;
/** A response body up to this size is handled in memory; a larger one goes through a file in `tmp/`. */
const IN_MEMORY_BODY = 1 << 20;
const MAX_REDIRECTS = 10;
/** Content objects to fetch before worker threads take over verifying and writing them. */
const WORKERS_FROM = 64;
/**
 * Bytes handed to writer threads and not yet stored, above which no more content is fetched:
 * the network outruns the disk, and the bodies waiting were most of the peak RSS.
 */
const STORE_BACKLOG = 8 << 20;
/**
 * Content objects in progress at once (fetching, waiting for a request slot or for the
 * writers): enough to keep every request slot busy while others are being stored.
 */
const CONTENT_LANES = 64;

/** Pulls `options.refs` / `options.commit` from the archive repository at `options.url` into `repo`. */
export async function pullFromRemote(repo: Repo, options: PullOptions): Promise<PullResult> {
  const started = Date.now();
  const depth = options.depth ?? 0;
  if (!Number.isInteger(depth) || depth < -1) throw new PullError(`Invalid depth ${depth}: expected -1 or more`);
  let base: URL;
  try {
    base = new URL(options.url.endsWith('/') ? options.url : `${options.url}/`);
  } catch (e) {
    throw new PullError(`Invalid remote URL ${JSON.stringify(options.url)}`, { cause: e });
  }
  if (base.protocol !== 'http:' && base.protocol !== 'https:') throw new PullError(`Unsupported URL scheme in ${options.url}: only http and https are pulled from`);
  if (options.commit !== undefined && !isChecksum(options.commit)) throw new PullError(`Invalid commit checksum ${JSON.stringify(options.commit)}`);
  const refs = options.refs ?? [];
  if (options.commit !== undefined && refs.length > 1) throw new PullError('A commit can be given with at most one ref');
  if (options.commit === undefined && refs.length === 0) throw new PullError('Nothing to pull: give a ref or a commit');
  for (const r of refs) if (!isChecksum(r)) validateRefName(r);
  if (options.remoteName !== undefined) validateRemoteName(options.remoteName);
  const tlsSettings = options.tls ?? (options.remoteName !== undefined ? remoteTls(repo, options.remoteName) : undefined);
  const tls = base.protocol === 'https:' ? agentTls(tlsSettings, options.remoteName) : undefined;

  // Aborted at the first failure, so that requests in flight or waiting stop at once.
  const stop = new AbortController();
  const fetcher = new Fetcher(base, repo.tmpDir, options, options.signal ? AbortSignal.any([stop.signal, options.signal]) : stop.signal, tls, tls ? tlsSettings?.clientCertPath : undefined);
  try {
    await checkRemoteConfig(fetcher);
    // Resolve what to pull: [commit, ref to write or null].
    const wants: [string, string | null][] = [];
    if (options.commit !== undefined) wants.push([options.commit, refs[0] ?? null]);
    else {
      for (const r of refs) wants.push(isChecksum(r) ? [r, null] : [await fetcher.ref(r), r]);
    }
    const commits = [...new Set(wants.map(([c]) => c))];
    const puller = new Puller(repo, fetcher, options, stop);
    await puller.run(commits, depth);
    const written: [string, string][] = [];
    for (const [commit, ref] of wants) {
      if (ref === null) continue;
      const name = options.mirror || options.remoteName === undefined ? ref : `${options.remoteName}:${ref}`;
      await repo.setRef(name, commit);
      written.push([name, commit]);
    }
    return {
      commits, fetchedObjects: puller.fetchedMetadata + puller.fetchedContent + puller.fetchedDetached, fetchedBytes: fetcher.bytes,
      fetchedMetadata: puller.fetchedMetadata, fetchedContent: puller.fetchedContent, contentBytes: puller.contentBytes, repairedObjects: puller.repairedObjects,
      ...(puller.finishAfterSync ? { finishAfterSync: puller.finishAfterSync } : {}), refs: written, elapsedMs: Date.now() - started,
    };
  } finally {
    await fetcher.close();
  }
}

/**
 * The agent's TLS options for `settings`: its files read and made into one context up front,
 * so that a missing file or a key that is not the certificate's fails before any request.
 */
function agentTls(settings: RemoteTls | undefined, remoteName: string | undefined): AgentOptions['tls'] {
  if (settings === undefined) return undefined;
  const of = remoteName !== undefined ? ` of remote "${remoteName}"` : '';
  const read = (key: string, path: string | undefined): Buffer | undefined => {
    if (path === undefined) return undefined;
    try {
      return readFileSync(path);
    } catch (e) {
      throw new PullError(`Reading ${key}${of} (${path}): ${(e as Error).message}`, { cause: e });
    }
  };
  const [ca, cert, key] = [read('tls-ca-path', settings.caPath), read('tls-client-cert-path', settings.clientCertPath), read('tls-client-key-path', settings.clientKeyPath)];
  try {
    return { rejectUnauthorized: !settings.permissive, secureContext: createSecureContext({ ...(ca ? { ca } : {}), ...(cert ? { cert } : {}), ...(key ? { key } : {}) }) };
  } catch (e) {
    const files = [settings.caPath, settings.clientCertPath, settings.clientKeyPath].filter((f) => f !== undefined).join(', ');
    throw new PullError(`The TLS settings${of} (${files}) cannot be used: ${(e as Error).message}`, { cause: e });
  }
}

async function checkRemoteConfig(fetcher: Fetcher): Promise<void> {
  const bytes = await fetcher.buffer('config', 'config', 1 << 20);
  if (bytes === null) throw fetcher.error('config', 'not found (HTTP 404): not an OSTree repository');
  let mode: string;
  try {
    mode = KeyFile.parse(bytes.toString('utf8'), 'config').get('core', 'mode') ?? 'bare';
  } catch (e) {
    if (e instanceof KeyFileError) throw fetcher.error('config', e.message);
    throw e;
  }
  if (mode !== 'archive-z2' && mode !== 'archive') throw fetcher.error('config', `Can't pull from archives with mode "${mode}"`);
}

/** Where each object lives under the remote's base URL. */
function objectPath(type: ObjectType, checksum: string): string {
  return `objects/${checksum.slice(0, 2)}/${checksum.slice(2)}.${type === 'file' ? 'filez' : type}`;
}


interface FetchOptions {
  /** Larger bodies are refused. */
  max: number;
  /** Larger bodies go to a file. */
  spillAt: number;
  /** Where an interrupted body is kept (under `tmp/`) to be resumed: its resting name (see pull-partial.ts). */
  partial?: string;
  /** Ahead of the requests already waiting (metadata, which the walk waits on). */
  first?: boolean;
}

/** A body in memory, or in a file under `tmp/` that the caller now owns. */
type Fetched = { bytes: Buffer } | { file: string; size: number };

/** Errors after which the part of the body received is worth keeping. */
function isCutShort(e: unknown): boolean {
  const code = (e as { code?: string }).code;
  return code === 'closed-early' || code === 'body-timeout' || code === 'ECONNRESET';
}

/** HTTP GETs relative to the remote's base URL, bounded, over one keep-alive agent. */
class Fetcher {
  bytes = 0;
  private readonly agent: Agent;
  private readonly remoteName: string | undefined;
  private readonly limiter: Limiter;
  /** How to abort each request in flight: all at once when the pull stops. */
  private readonly inFlight = new Set<(reason: Error) => void>();
  /** Whether the server has answered a request yet (its status line). */
  private answered = false;

  constructor(
    readonly base: URL,
    private readonly tmpDir: string,
    options: PullOptions,
    private readonly signal: AbortSignal,
    tls: AgentOptions['tls'],
    /** The client certificate presented, named when the server refuses it. */
    private readonly clientCertPath?: string,
  ) {
    const timeout = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const concurrency = options.concurrency ?? 8;
    this.remoteName = options.remoteName;
    this.agent = new Agent({
      connections: concurrency, headersTimeoutMs: timeout, bodyTimeoutMs: timeout, connectTimeoutMs: timeout, keepAliveMs: 30_000, ...(tls ? { tls } : {}),
    });
    this.limiter = new Limiter(concurrency);
    signal.addEventListener('abort', () => {
      for (const abort of [...this.inFlight]) abort(signal.reason as Error);
    }, { once: true });
  }

  /** An error naming the remote and what was being fetched. */
  error(what: string, reason: string, cause?: unknown): PullError {
    return new PullError(`Pulling ${what} from ${this.base.href}: ${reason}`, cause === undefined ? undefined : { cause });
  }

  async close(): Promise<void> {
    this.agent.close();
  }

  /**
   * GETs `path` (null on 404), with a request slot held until the body is in. Redirects are
   * followed, a loop or more than ten refused. A body up to `spillAt` bytes is returned in
   * memory, a larger one in a file under `tmp/`. With `partial`, an interrupted body is kept
   * at that name (under `tmp/`) and the next call asks only for the rest (a Range request),
   * as ostree resumes downloads; meanwhile it is written to a file of this pull's own (see
   * pull-partial.ts). Whatever a caller does with the result, it verifies it.
   */
  async fetch(path: string, what: string, opts: FetchOptions): Promise<Fetched | null> {
    return this.limiter.run(async () => {
      this.signal.throwIfAborted();
      let url = new URL(path, this.base);
      const visited = new Set<string>([url.href]);
      // This pull's own file for the body: no other pull writes it (see pull-partial.ts).
      const resting = opts.partial;
      let offset = 0;
      if (resting !== undefined) {
        const own = takePartial(resting);
        opts = { ...opts, partial: own.path };
        if (own.taken) offset = statSync(own.path).size;
      }
      let handedOver = false;
      try {
        for (let hops = 0; ; hops++) {
          const outcome = await this.exchange(url, offset, what, opts);
          this.answered = true;
          if ('fetched' in outcome) {
            handedOver = true;
            return outcome.fetched;
          }
          if ('location' in outcome) {
            url = new URL(outcome.location, url);
            if (visited.has(url.href)) throw this.error(what, `redirect loop at ${url.href}`);
            if (hops + 1 >= MAX_REDIRECTS) throw this.error(what, `too many redirects (last: ${url.href})`);
            visited.add(url.href);
            continue;
          }
          if (outcome.status === 404) {
            if (opts.partial !== undefined) rmSync(opts.partial, { force: true });
            return null;
          }
          if ((outcome.status === 416 || outcome.status === 206) && offset > 0 && hops + 1 < MAX_REDIRECTS) {
            // The kept part is not a prefix the server can continue: start again from zero.
            rmSync(opts.partial!, { force: true });
            offset = 0;
            continue;
          }
          throw this.error(what, `server returned HTTP ${outcome.status} for ${url.href}`);
        }
      } catch (e) {
        if (e instanceof PullError || this.signal.aborted) throw e;
        // A server that refuses the client certificate refuses the first exchange: after an answer, a hang-up is something else.
        const clientCertPath = this.answered ? undefined : this.clientCertPath;
        throw this.error(what, describeNetworkError(e, { remoteName: this.remoteName, repoPath: dirname(this.tmpDir), clientCertPath }), e);
      } finally {
        // What was kept of a body cut short goes back to rest for the next pull.
        if (!handedOver && resting !== undefined) releasePartial(opts.partial!, resting);
      }
    }, opts.first ?? false);
  }

  /**
   * One request. A 200, or a 206 continuing the `offset` bytes kept in `opts.partial`, has
   * its body received; any other status is returned for the caller to decide.
   */
  private exchange(url: URL, offset: number, what: string, opts: FetchOptions): Promise<{ fetched: Fetched } | { location: string } | { status: number }> {
    return new Promise((resolve, reject) => {
      let outcome: { location: string } | { status: number } | undefined;
      let sink: Sink | undefined;
      const abort = this.agent.get(url, offset > 0 ? { range: `bytes=${offset}-` } : {}, {
        onHeaders: (status, headers) => {
          const location = headers['location'];
          const range = headers['content-range'];
          const resumed = status === 206 && offset > 0 && range !== undefined && range.startsWith(`bytes ${offset}-`);
          if (status >= 300 && status < 400 && location !== undefined) outcome = { location };
          else if (status !== 200 && !resumed) outcome = { status };
          else {
            const lengthHeader = headers['content-length'];
            const length = lengthHeader !== undefined && /^\d+$/.test(lengthHeader) ? Number(lengthHeader) : undefined;
            sink = new Sink(this, what, opts, resumed ? offset : 0, length);
          }
        },
        onData: (chunk) => sink?.write(chunk),
        onEnd: () => {
          const fetched = sink?.end();
          this.inFlight.delete(abort);
          resolve(fetched !== undefined ? { fetched } : outcome ?? { status: 0 });
        },
        onError: (e) => {
          this.inFlight.delete(abort);
          reject(sink ? sink.abandon(e) : e);
        },
      });
      this.inFlight.add(abort);
    });
  }

  tmpName(): string {
    return join(this.tmpDir, `pull-${process.pid}-${randomBytes(6).toString('hex')}`);
  }

  /** A whole response body, at most `max` bytes; null on 404. */
  async buffer(path: string, what: string, max: number, first = false, partial?: string): Promise<Buffer | null> {
    const got = await this.fetch(path, what, { max, spillAt: Infinity, first, ...(partial !== undefined ? { partial } : {}) });
    // Nothing spills to a file at an infinite threshold.
    return got === null ? null : (got as { bytes: Buffer }).bytes;
  }

  /** The commit `refs/heads/REF` names on the remote. */
  async ref(ref: string): Promise<string> {
    const what = `ref ${ref}`;
    const bytes = await this.buffer(`refs/heads/${ref}`, what, 4096, true);
    if (bytes === null) throw this.error(what, `no such ref (HTTP 404 for refs/heads/${ref})`);
    const value = bytes.toString('utf8').trim();
    if (!isChecksum(value)) throw this.error(what, `refs/heads/${ref} holds ${JSON.stringify(value.slice(0, 80))}, not a checksum`);
    return value;
  }
}

/**
 * Where a response body goes as it arrives: memory up to `spillAt` bytes, then a file under
 * `tmp/` (written synchronously: chunks are small, and no backpressure is needed). A body cut
 * short is kept in `opts.partial` (this pull's own file, which fetch() puts back to rest).
 */
class Sink {
  private readonly chunks: Buffer[] = [];
  /** The body when its length is known and small: one buffer, filled as it comes. */
  private body: Buffer | undefined;
  private total: number;
  private file: string | undefined;
  private fd: number | undefined;

  constructor(
    private readonly fetcher: Fetcher,
    private readonly what: string,
    private readonly opts: FetchOptions,
    private readonly offset: number,
    private readonly length: number | undefined,
  ) {
    this.total = offset;
    if (length !== undefined && offset + length > opts.max) throw fetcher.error(what, `response of ${offset + length} bytes is larger than the ${opts.max} allowed`);
    if (offset > 0) {
      if (opts.max > opts.spillAt) this.spill();
      else this.chunks.push(readFileSync(opts.partial!));
    } else if (length !== undefined && length <= opts.spillAt) {
      this.body = Buffer.allocUnsafeSlow(length);
    }
  }

  private spill(): void {
    this.file = this.opts.partial ?? this.fetcher.tmpName();
    this.fd = openSync(this.file, this.offset > 0 ? 'a' : 'w', 0o600);
    for (const c of this.chunks.splice(0)) writeFileSync(this.fd, c);
  }

  write(chunk: Buffer): void {
    this.total += chunk.length;
    this.fetcher.bytes += chunk.length;
    if (this.total > this.opts.max) throw this.fetcher.error(this.what, `response larger than the ${this.opts.max} bytes allowed`);
    // The chunk is the HTTP client's memory, valid during this call: written out or copied.
    if (this.fd !== undefined) writeFileSync(this.fd, chunk);
    else if (this.body) chunk.copy(this.body, this.total - chunk.length);
    else {
      this.chunks.push(Buffer.from(chunk));
      if (this.total > this.opts.spillAt) this.spill();
    }
  }

  /** The whole body, once it has all come. */
  end(): Fetched {
    if (this.length !== undefined && this.total - this.offset !== this.length) {
      throw this.fetcher.error(this.what, `truncated response (Download incomplete): ${this.total - this.offset} of ${this.length} bytes`);
    }
    if (this.fd !== undefined) {
      closeSync(this.fd);
      this.fd = undefined;
      return { file: this.file!, size: this.total };
    }
    if (this.opts.partial !== undefined && this.offset > 0) rmSync(this.opts.partial, { force: true });
    if (this.body) return { bytes: this.body };
    return { bytes: this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks) };
  }

  /** After a failure: keeps what came when the body was cut short, else drops it; returns `e`. */
  abandon(e: unknown): unknown {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
    const cut = e instanceof PullError ? /Download incomplete/.test(e.message) : isCutShort(e);
    if (cut && this.opts.partial !== undefined && this.total > 0) {
      if (this.file === undefined) writeFileSync(this.opts.partial, this.body ? this.body.subarray(0, this.total) : Buffer.concat(this.chunks));
      else if (this.file !== this.opts.partial) renameSync(this.file, this.opts.partial);
    } else if (this.file !== undefined) {
      rmSync(this.file, { force: true });
    }
    return e;
  }
}

/** What a TLS hint may name: the remote and its repo (for the command that fixes it), the client certificate presented. */
interface TlsContext {
  remoteName: string | undefined;
  repoPath: string;
  clientCertPath: string | undefined;
}

/** The client certificate, and the key of the remote that names it. */
function clientCertName(path: string, remoteName: string | undefined): string {
  return `the client certificate ${path} (tls-client-cert-path${remoteName !== undefined ? ` of remote "${remoteName}"` : ''})`;
}

function describeNetworkError(e: unknown, context: TlsContext): string {
  if (e instanceof HttpError && e.code === 'closed-early') {
    // In TLS 1.3 the server checks the client's certificate after the handshake: a refusal is a hang-up.
    const refused = context.clientCertPath !== undefined && /before the response headers/.test(e.message)
      ? `; probably the server does not accept ${clientCertName(context.clientCertPath, context.remoteName)}: one that refuses it hangs up so, before its first answer`
      : '';
    return `connection closed early (Download incomplete): ${e.message}${refused}`;
  }
  return describeTlsError(e, context) ?? (e as Error).message ?? String(e);
}

/**
 * A TLS failure in words a user can act on, naming the remote's key that would fix it; undefined
 * for any other error. Node's codes: OpenSSL's certificate verification results
 * (`SELF_SIGNED_CERT_IN_CHAIN`…), its own for a name mismatch, and the server's alerts
 * (`ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED`…) when it refuses our client certificate.
 */
function describeTlsError(e: unknown, { remoteName, repoPath, clientCertPath }: TlsContext): string | undefined {
  const code = (e as { code?: unknown }).code;
  if (typeof code !== 'string') return undefined;
  // OpenSSL's errors carry a one-line reason ("tlsv13 alert certificate required") besides a message of several lines.
  const reason = (e as { reason?: unknown }).reason;
  const message = typeof reason === 'string' ? reason : (e as Error).message;
  const set = (key: string, value: string): string => remoteName !== undefined
    ? `mco ostree config set --repo=${repoPath} 'remote "${remoteName}".${key}' ${value}`
    : `${key}=${value}`;
  const refusedAlert = /^ERR_SSL_.*ALERT_(CERTIFICATE_REQUIRED|BAD_CERTIFICATE|UNKNOWN_CA|CERTIFICATE_UNKNOWN|CERTIFICATE_EXPIRED|HANDSHAKE_FAILURE)$/.test(code);
  // Some servers (Node's among them) hang up on a client certificate they do not trust, sending no alert.
  const hungUp = code === 'ECONNRESET' && /before secure TLS connection was established/.test(message);
  if (clientCertPath !== undefined && (refusedAlert || hungUp)) {
    const refusal = refusedAlert ? 'The server refused the TLS handshake' : 'The server hung up in the TLS handshake';
    return `${refusal} (${message}): ${refusedAlert ? '' : 'probably '}it does not accept ${clientCertName(clientCertPath, remoteName)}; use one issued by a CA the server trusts, with its key in tls-client-key-path`;
  }
  if (code === 'CERT_HAS_EXPIRED' || code === 'CERT_NOT_YET_VALID') {
    // After a power cut a node's clock may be off: the certificate may well be fine.
    return `Unacceptable TLS certificate: ${message} (${code}); check this host's clock against the certificate's validity dates, or skip verification: ${set('tls-permissive', 'true')}`;
  }
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
    return `Unacceptable TLS certificate: ${message}; use a URL with a name the certificate holds, or skip verification: ${set('tls-permissive', 'true')}`;
  }
  if (refusedAlert) {
    return `The server refused the TLS handshake, wanting a client certificate it accepts (${message}): ${set('tls-client-cert-path', 'CERT.pem')} and ${set('tls-client-key-path', 'KEY.pem')}`;
  }
  if (/CERT|UNABLE_TO_(GET_ISSUER|VERIFY_LEAF)/.test(code) && !code.startsWith('ERR_')) {
    return `Unacceptable TLS certificate: ${message} (${code}); trust the CA that issued it: ${set('tls-ca-path', 'CA.pem')}, or skip verification: ${set('tls-permissive', 'true')}`;
  }
  return undefined;
}

/** The walk and the object fetches of one pull. */
class Puller {
  fetchedMetadata = 0;
  fetchedContent = 0;
  fetchedDetached = 0;
  contentBytes = 0;
  private scanned = 0;
  private readonly seen = new Set<string>();
  /**
   * A pull was cut short in this repo (a `commitpartial` mark was left): objects it renamed into
   * place may have lost their data to a power cut before its final sync (a new file shows up
   * empty), so every object the walk finds already stored is re-hashed, and fetched again when
   * it does not match its name.
   */
  private verifyStored = false;
  /** What the repo held when the walk reached each object (asked once per object: see `add`). */
  private readonly stored: ObjectPresence;
  /** Stored objects found torn and fetched again. */
  repairedObjects = 0;
  /** Tasks started and not yet settled. */
  private readonly pending = new Set<Promise<void>>();
  /**
   * Content objects found missing and not yet started: at most CONTENT_LANES run at once, so
   * that a tree of 10,000 files is 10,000 checksums waiting here, not 10,000 suspended fetches.
   */
  private readonly contentQueue: string[] = [];
  private contentRunning = 0;
  private failure: { error: unknown } | undefined;
  /** Commits whose objects are all being fetched: their marks go at the end. */
  private readonly marked = new Set<string>();
  /** With `deferSync`, once the walk is done: what the caller calls after its sync. */
  finishAfterSync: (() => Promise<void>) | undefined;
  /** Most parents left when each commit was reached. */
  private readonly walked = new Map<string, number>();
  /**
   * Threads verifying and writing content, once there is much of it: the writes' syscalls
   * block (creating files is slow on a busy disk), and here they would stall every transfer.
   */
  private writers: WorkerPool<StoreJob, number> | undefined;
  private contentScheduled = 0;
  /** Bytes queued to `writers` (see STORE_BACKLOG), and the fetches waiting for it to drop. */
  private backlog = 0;
  private backlogWaiters: (() => void)[] = [];

  constructor(
    private readonly repo: Repo,
    private readonly fetcher: Fetcher,
    private readonly opts: PullOptions,
    private readonly stop: AbortController,
  ) {
    this.stored = new ObjectPresence(repo);
  }

  /** Records the first failure and stops every request. */
  private fail(e: unknown): void {
    if (this.failure) return;
    this.failure = { error: e };
    this.stop.abort(e);
  }

  async run(commits: string[], depth: number): Promise<void> {
    await fs.mkdir(join(this.repo.path, 'state'), { recursive: true });
    await fs.mkdir(this.repo.tmpDir, { recursive: true });
    reclaimDeadPartials(this.repo.tmpDir);
    // A writer that died before its final sync may have left torn objects the walk would trust.
    this.repairedObjects += (await repairAfterCrashedWriters(this.repo)).removed;
    this.verifyStored = (await fs.readdir(join(this.repo.path, 'state'))).some((n) => n.endsWith('.commitpartial'));
    const transaction = beginWriteTransaction(this.repo);
    try {
      await Promise.all(commits.map((c) => this.commitChain(c, depth)));
    } catch (e) {
      this.fail(e);
    }
    // Let every started fetch finish (or fail) before reporting, so nothing writes after we return.
    while (this.pending.size) await Promise.allSettled([...this.pending]);
    await this.writers?.close();
    if (this.failure) {
      transaction.abandon();
      throw this.failure.error;
    }
    // The marks go only once every object is durable (--commit-metadata-only keeps the commits' marks).
    const finish = async (): Promise<void> => {
      if (!this.opts.commitMetadataOnly) for (const c of this.marked) await fs.rm(this.markPath(c), { force: true });
      transaction.end();
    };
    if (this.opts.deferSync) {
      this.finishAfterSync = finish;
      this.repo.startWriteback();
      return;
    }
    this.repo.sync();
    await finish();
  }

  /** Where an interrupted download of an object is kept for the next pull to resume. */
  private partialPath(checksum: string, type: ObjectType): string {
    return join(this.repo.tmpDir, `pull-${checksum}.${type}.partial`);
  }

  private markPath(commit: string): string {
    return commitPartialPath(this.repo, commit);
  }

  private progress(): void {
    this.opts.onProgress?.({ fetchedObjects: this.fetchedMetadata + this.fetchedContent + this.fetchedDetached, fetchedBytes: this.fetcher.bytes, scannedObjects: this.scanned });
  }

  /** A commit and, up to `depth`, its parents: one after another, their trees concurrently. */
  private async commitChain(start: string, depth: number): Promise<void> {
    const trees: Promise<void>[] = [];
    try {
      let current: string | null = start;
      for (let remaining = depth < 0 ? Infinity : depth; current !== null; remaining--) {
        this.throwIfFailed();
        const before = this.walked.get(current);
        if (before !== undefined && before >= remaining) break;
        this.walked.set(current, remaining);
        const isParent = current !== start;
        const complete = isComplete(this.repo, current);
        const commit: Commit | null = await this.commitObject(current, isParent, complete);
        if (commit === null) break; // a parent the remote does not have: history ends there, as in ostree
        if (before === undefined) {
          this.scanned++;
          await this.detachedMetadata(current);
          if (!complete && !this.opts.commitMetadataOnly) {
            this.marked.add(current);
            trees.push(this.tree(commit.rootTree, commit.rootMeta));
          }
        }
        if (remaining === 0) break;
        current = commit.parent;
      }
    } finally {
      await Promise.allSettled(trees);
    }
    await Promise.all(trees);
  }

  private throwIfFailed(): void {
    this.opts.signal?.throwIfAborted();
    if (this.failure) throw this.failure.error;
  }

  /**
   * The commit object, from the repo when it has it, else fetched (its mark written first);
   * null for a parent the remote lacks.
   */
  private async commitObject(checksum: string, isParent: boolean, complete: boolean): Promise<Commit | null> {
    if (this.repo.hasObjectSync('commit', checksum)) {
      if (!complete) await fs.writeFile(this.markPath(checksum), '');
      return this.repo.loadCommit(checksum);
    }
    await fs.writeFile(this.markPath(checksum), '');
    const commit = await this.metadataObject('commit', checksum, decodeCommit, isParent);
    if (commit === null) await fs.rm(this.markPath(checksum), { force: true });
    return commit;
  }

  /** Detached metadata (signatures…): fetched each time, as ostree does, since it may have changed; a 404 is fine. */
  private async detachedMetadata(commit: string): Promise<void> {
    const what = `${commit}.commitmeta`;
    const bytes = await this.fetcher.buffer(objectPath('commitmeta', commit), what, MAX_METADATA_SIZE, true, this.partialPath(commit, 'commitmeta'));
    if (bytes === null) return;
    try {
      decodeDetachedMetadata(bytes);
    } catch (e) {
      if (e instanceof ObjectError) throw this.fetcher.error(what, e.message, e);
      throw e;
    }
    const existing = await this.repo.readDetachedMetadata(commit);
    if (existing?.equals(bytes)) return;
    await this.repo.writeDetachedMetadata(commit, bytes);
    this.fetchedDetached++;
    this.progress();
  }

  /** Fetches, verifies, decodes and stores a metadata object; null on 404 when `missingOk`. */
  private async metadataObject<T>(type: 'commit' | 'dirtree' | 'dirmeta', checksum: string, decode: (b: Buffer) => T, missingOk = false): Promise<T | null> {
    const what = `${checksum}.${type}`;
    const bytes = await this.fetcher.buffer(objectPath(type, checksum), what, MAX_METADATA_SIZE, true, this.partialPath(checksum, type));
    if (bytes === null) {
      if (missingOk) return null;
      throw this.fetcher.error(what, `object not found (HTTP 404 for ${objectPath(type, checksum)})`);
    }
    const actual = sha256Hex(bytes);
    if (actual !== checksum) throw this.fetcher.error(what, `Corrupted ${type} object; checksum expected='${checksum}' actual='${actual}'`);
    let value: T;
    try {
      value = decode(bytes);
    } catch (e) {
      if (e instanceof ObjectError) throw this.fetcher.error(what, e.message, e);
      throw e;
    }
    this.repo.writeMetadataSync(type, bytes);
    this.fetchedMetadata++;
    this.progress();
    return value;
  }

  /** A dirtree and everything below it: missing dirmeta and content scheduled, subtrees walked. */
  private async tree(tree: string, meta: string): Promise<void> {
    if (this.add(meta, 'dirmeta') && !this.hasIntactMetadata('dirmeta', meta)) {
      this.schedule(() => this.metadataObject('dirmeta', meta, decodeDirMeta).then(() => undefined));
    }
    if (!this.add(tree, 'dirtree')) return;
    this.throwIfFailed();
    const loaded: DirTree = this.hasIntactMetadata('dirtree', tree)
      ? await this.repo.loadDirTree(tree)
      : (await this.metadataObject('dirtree', tree, decodeDirTree))!;
    for (const [, file] of loaded.files) {
      if (!this.add(file, 'file')) continue;
      if (!this.stored.has('file', file)) this.fetchContent(file);
      else if (this.verifyStored) {
        this.schedule(async () => {
          if (!(await this.intactContent(file))) this.fetchContent(file);
        });
      }
    }
    await Promise.all(loaded.dirs.map(([, t, m]) => this.tree(t, m)));
  }

  /** Queues the fetch of a content object the repo lacks. */
  private fetchContent(file: string): void {
    // A few objects are not worth starting threads for (unless asked for explicitly).
    const from = this.opts.workers === undefined ? WORKERS_FROM : 1;
    if (++this.contentScheduled === from && this.opts.workers !== 0) {
      // One per core but this thread's: with this one fetching and walking, one writer per
      // remaining core keeps them busy. On 2 cores a second writer (one per core, as before)
      // cost ~35 MB of peak RSS (its isolate, heap and bodies) for no time: full bench pull,
      // alternating runs, bare-user 4.9 s either way and archive 6.0 s with one writer against
      // 6.7 s with two. Measured on 2 cores only.
      // A young generation of 4 MB, not 16-32: a writer's objects are few and short-lived (the
      // bodies and contents are Buffers outside it), and each MB of it is resident (full pull:
      // peak RSS 270 → 245 MB, no more CPU).
      this.writers = new WorkerPool(new URL('./pull-worker.js', import.meta.url), { repoPath: this.repo.path }, this.opts.workers ?? Math.max(1, availableParallelism() - 1),
        { maxYoungGenerationSizeMb: 4 });
    }
    this.contentQueue.push(file);
    this.startContent();
  }

  /** Whether a metadata object is stored (and, after a cut pull, hashes to its name; a torn one is removed). */
  private hasIntactMetadata(type: 'dirtree' | 'dirmeta', checksum: string): boolean {
    if (!this.stored.has(type, checksum)) return false;
    if (!this.verifyStored || storedMetadataIntact(this.repo, type, checksum)) return true;
    this.dropTorn(type, checksum);
    return false;
  }

  /** After a cut pull: whether a stored content object hashes to its name (a torn one is removed). */
  private async intactContent(checksum: string): Promise<boolean> {
    if (await storedContentIntact(this.repo, checksum)) return true;
    this.dropTorn('file', checksum);
    return false;
  }

  private dropTorn(type: ObjectType, checksum: string): void {
    rmSync(this.repo.objectPath(type, checksum), { force: true });
    this.repairedObjects++;
  }

  /** Starts queued content objects while fewer than CONTENT_LANES run; each one ending starts the next. */
  private startContent(): void {
    while (this.contentRunning < CONTENT_LANES && this.contentQueue.length && !this.failure) {
      const checksum = this.contentQueue.shift()!;
      this.contentRunning++;
      // The next starts before this task leaves `pending`, so `pending` empties only at the end.
      this.schedule(() => this.contentObject(checksum).finally(() => {
        this.contentRunning--;
        this.startContent();
      }));
    }
  }

  /** Marks an object as reached; false when it was reached before. */
  private add(checksum: string, type: ObjectType): boolean {
    const key = `${checksum}.${type}`;
    if (this.seen.has(key)) return false;
    this.seen.add(key);
    this.scanned++;
    return true;
  }

  private schedule(task: () => Promise<void>): void {
    if (this.failure) return;
    const settled: Promise<void> = task().catch((e: unknown) => {
      this.fail(e);
    }).finally(() => this.pending.delete(settled));
    this.pending.add(settled);
  }

  /** Fetches a content object (`.filez`), verifies it, and stores it in the repo's mode. */
  private async contentObject(checksum: string): Promise<void> {
    if (this.failure) return;
    const what = `${checksum}.file`;
    const path = objectPath('file', checksum);
    while (this.backlog > STORE_BACKLOG) await new Promise<void>((resolve) => this.backlogWaiters.push(resolve));
    if (this.failure) return;
    // Small bodies stay in memory; a larger one is written to tmp/ as it arrives, then checked there.
    const got = await this.fetcher.fetch(path, what, { max: Number.MAX_SAFE_INTEGER, spillAt: IN_MEMORY_BODY, partial: this.partialPath(checksum, 'file') });
    if (got === null) {
      throw this.fetcher.error(what, `object not found (HTTP 404 for ${path})`);
    }
    if ('file' in got) {
      try {
        await this.storeContentFromFile(checksum, got.file);
      } finally {
        await fs.rm(got.file, { force: true });
      }
    } else {
      await this.storeContent(checksum, got.bytes);
    }
    this.fetchedContent++;
    this.progress();
  }

  private header(checksum: string, raw: Buffer): { header: FileHeader; size: number; dataOffset: number } {
    try {
      return decodeArchiveHeader(raw);
    } catch (e) {
      if (e instanceof ObjectError) throw this.fetcher.error(`${checksum}.file`, e.message, e);
      throw e;
    }
  }

  private mismatch(checksum: string, actual: string): PullError {
    return this.fetcher.error(`${checksum}.file`, `Corrupted file object; checksum expected='${checksum}' actual='${actual}'`);
  }

  /** A `.filez` held in memory: verified and stored here, or in a worker thread once there are many. */
  private async storeContent(checksum: string, raw: Buffer): Promise<void> {
    const { header, size } = this.header(checksum, raw);
    if (!isSymlinkMode(header.mode) && size > STREAM_THRESHOLD) {
      // Little compressed, much content: inflated as a stream, from a file.
      const tmp = this.repo.tmpName();
      writeFileSync(tmp, raw, { mode: 0o600 });
      try {
        await this.storeContentFromFile(checksum, tmp);
      } finally {
        await fs.rm(tmp, { force: true });
      }
      return;
    }
    try {
      this.contentBytes += await (this.writers ? this.toWriters(checksum, raw) : storeFetchedContent(this.repo, checksum, raw));
    } catch (e) {
      // Errors from a worker arrive as plain Errors, their names kept.
      const name = (e as Error).name;
      if (name === 'ContentError' || name === 'ObjectError' || name === 'RepoError') throw this.fetcher.error(`${checksum}.file`, (e as Error).message, e);
      throw e;
    }
  }

  /**
   * Hands `raw` to a writer thread, moved there uncopied when it has its buffer to itself
   * (Sink's bodies do); a view into a shared buffer (the 8 KiB pool of small Buffers) is
   * copied first, which the message would otherwise clone whole. Either way no copy is left
   * here as garbage: that was most of this thread's memory at the peak.
   */
  private toWriters(checksum: string, raw: Buffer): Promise<number> {
    let own = raw;
    if (raw.byteOffset !== 0 || raw.byteLength !== raw.buffer.byteLength) {
      own = Buffer.allocUnsafeSlow(raw.length);
      raw.copy(own);
    }
    const bytes = own.length;
    this.backlog += bytes;
    return this.writers!.run({ checksum, raw: own }, [own.buffer as ArrayBuffer]).finally(() => {
      this.backlog -= bytes;
      if (this.backlog <= STORE_BACKLOG) for (const wake of this.backlogWaiters.splice(0)) wake();
    });
  }

  /** A `.filez` downloaded into `tmp/` (`path`, removed by the caller): inflated as a stream. */
  private async storeContentFromFile(checksum: string, path: string): Promise<void> {
    const what = `${checksum}.file`;
    const head = Buffer.alloc(8);
    const fd = openSync(path, 'r');
    let raw: Buffer;
    try {
      const n = readSync(fd, head, 0, 8, 0);
      const len = n === 8 ? head.readUInt32BE(0) : 0;
      if (len > 1 << 20) throw this.fetcher.error(what, `Corrupted archive object: header length ${len}`);
      raw = Buffer.alloc(8 + len);
      raw = raw.subarray(0, readSync(fd, raw, 0, raw.length, 0));
    } finally {
      closeSync(fd);
    }
    const { header, size, dataOffset } = this.header(checksum, raw);
    checkStorableMode(this.repo, checksum, header);
    const hash = createHash('sha256').update(fileChecksumPrefix(header));
    let inflatedSize = 0;
    const counter = new Transform({
      transform(chunk: Buffer, _enc, done): void {
        hash.update(chunk);
        inflatedSize += chunk.length;
        done(null, chunk);
      },
    });
    // Chunks of 256 KiB, not zlib's 16: each costs a trip through the thread pool, the hash and the file.
    const inflate = createInflateRaw({ chunkSize: 1 << 18 });
    const keep = this.repo.mode !== 'archive';
    const content = keep ? this.repo.tmpName() : undefined;
    try {
      try {
        const sink = content !== undefined
          ? createWriteStream(content, { mode: 0o600 })
          : new Writable({ write: (_c, _e, done): void => done() });
        await pipeline(createReadStream(path, { start: dataOffset, highWaterMark: 1 << 20 }), inflate, counter, sink);
      } catch (e) {
        throw this.fetcher.error(what, `Corrupted file object: ${(e as Error).message}`, e);
      }
      const compressed = (await fs.stat(path)).size - dataOffset;
      if (inflate.bytesWritten !== compressed) throw this.fetcher.error(what, `${compressed - inflate.bytesWritten} bytes of garbage after the compressed content`);
      if (inflatedSize !== size) throw this.fetcher.error(what, `Corrupted file object: content is ${inflatedSize} bytes, its header says ${size}`);
      const actual = hash.digest('hex');
      if (actual !== checksum) throw this.mismatch(checksum, actual);
      if (this.repo.mode === 'archive') {
        if (!encodeArchiveHeader(header, size).equals(raw.subarray(0, dataOffset))) {
          throw this.fetcher.error(what, 'archive header not in normal form');
        }
        // Verified: the downloaded file becomes the object (the caller's rm finds nothing).
        await this.repo.publishObject(path, 'file', checksum);
      } else {
        const tmp = this.repo.tmpName();
        try {
          await this.repo.writeFileObjectTo(tmp, header, { path: content!, size, owns: true });
          await this.repo.publishObject(tmp, 'file', checksum);
        } catch (e) {
          await fs.rm(tmp, { force: true });
          throw e;
        }
      }
    } finally {
      if (content !== undefined) await fs.rm(content, { force: true });
    }
    this.contentBytes += size;
  }
}

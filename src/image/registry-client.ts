/**
 * A client of the registry HTTP API v2 (distribution spec): manifests with an explicit Accept
 * list and platform selection, blobs streamed and verified against their size and digest as
 * they arrive (resumed with `Range` after a reset), pushes (monolithic or chunked, with
 * cross-repository mounts) and tag lists.
 *
 * Every byte is checked against the digest that was asked for: registries serve corrupted
 * blobs under the right Docker-Content-Digest header (reference oci.md §8.6).
 */
import { createHash } from 'node:crypto';
import { pipeline, Readable, Transform } from 'node:stream';
import { AuthFile, repositoryScope } from './auth.js';
import {
  digestWithAlgorithmOf,
  formatPlatform,
  hostPlatform,
  ManifestError,
  MANIFEST_ACCEPT,
  parseManifest,
  selectPlatform,
  type Descriptor,
  type ImageIndex,
  type ImageManifest,
  type ParsedManifest,
  type Platform,
} from './media-types.js';
import type { ProgressReporter } from './progress.js';
import { formatImageReference, validateDigest, withDigest, type ImageReference } from './reference.js';
import { RegistryError } from './registry-client-errors.js';
import { errorFromResponse, isRetryableNetworkError, readBody, RegistryTransport, type HttpRequest, type Response, type RetryPolicy } from './registry-client-http.js';

export { RegistryError } from './registry-client-errors.js';

export interface RegistryClientOptions {
  /** A docker config.json / containers auth.json with the credentials to use. */
  authFile?: string;
  /** Plain http or unverified TLS for every registry of this client. */
  insecure?: boolean;
  log?: (line: string) => void;
  progress?: ProgressReporter;
  /** Which image of a manifest list / index to use (default: this machine's, linux). */
  platform?: Platform;
  /** Tries and backoff for requests that may pass when repeated (default: 3 tries from 500 ms). */
  retry?: Partial<RetryPolicy>;
  /** Blobs larger than this are pushed in PATCH chunks of this size (default: one monolithic PUT). */
  chunkSize?: number;
  /** Waits between retries; tests pass one that does not wait. */
  sleep?: (ms: number) => Promise<void>;
}

export interface RawManifest {
  digest: string;
  mediaType: string;
  bytes: Buffer;
  parsed: ParsedManifest;
}

export interface ResolvedManifest {
  /** The digest of the image manifest (after platform selection). */
  digest: string;
  mediaType: string;
  bytes: Buffer;
  manifest: ImageManifest;
  /** When REF named a manifest list / index: its digest and the list itself. */
  list?: { digest: string; mediaType: string; bytes: Buffer; index: ImageIndex };
}

/** Registries SHOULD accept manifests of 4 MiB; nothing larger is read. */
const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;
const MAX_CONFIG_BYTES = 16 * 1024 * 1024;

const shortDigest = (digest: string): string => digest.slice(0, digest.indexOf(':') + 13);
const manifestPath = (ref: ImageReference, reference: string): string => `/v2/${ref.repository}/manifests/${reference}`;
const blobPath = (repository: string, digest: string): string => `/v2/${repository}/blobs/${digest}`;

export class RegistryClient {
  private readonly transport: RegistryTransport;
  private readonly platform: Platform;
  private readonly retry: RetryPolicy;
  private readonly sleep: (ms: number) => Promise<void>;
  /** Where each blob was last seen per registry: the source of a cross-repository mount. */
  private readonly seenIn = new Map<string, string>();

  constructor(private readonly options: RegistryClientOptions = {}) {
    this.retry = { attempts: 3, delayMs: 500, ...options.retry };
    this.sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
    this.platform = options.platform ?? hostPlatform();
    this.transport = new RegistryTransport({
      ...(options.insecure ? { insecure: true } : {}),
      ...(options.authFile ? { authFile: AuthFile.read(options.authFile) } : {}),
      ...(options.log ? { log: options.log } : {}),
      retry: this.retry,
      sleep: this.sleep,
    });
  }

  /** Closes pooled connections (the process can then exit without waiting for keep-alive). */
  close(): Promise<void> {
    return this.transport.close();
  }

  private send(ref: ImageReference, req: Omit<HttpRequest, 'repository' | 'scopes'> & { scopes?: string[] }): Promise<Response> {
    return this.transport.send(ref.registry, { scopes: [repositoryScope(ref.repository, 'pull')], repository: ref.repository, ...req });
  }

  /** The manifest REF names, as stored: a list/index is not resolved. Verified against its digest. */
  async getRawManifest(ref: ImageReference): Promise<RawManifest> {
    const name = formatImageReference(ref);
    const reference = ref.digest ?? ref.tag ?? 'latest';
    const res = await this.send(ref, { method: 'GET', url: manifestPath(ref, reference), headers: { accept: MANIFEST_ACCEPT } });
    if (res.statusCode === 404) {
      const err = await errorFromResponse(res, ref.registry, `manifest of ${name}`);
      throw new RegistryError(`image ${name} does not exist (${err.message.replace(/^[^:]*: /, '')})`, ref.registry, { status: 404, ...(err.code ? { code: err.code } : {}) });
    }
    if (res.statusCode !== 200) throw await errorFromResponse(res, ref.registry, `manifest of ${name}`);
    const bytes = await readBody(res, MAX_MANIFEST_BYTES, `manifest of ${name}`, ref.registry);
    let digest: string;
    if (ref.digest) {
      digest = digestWithAlgorithmOf(ref.digest, bytes);
      if (digest !== ref.digest) throw mismatch(ref, `manifest of ${name}`, ref.digest, digest);
    } else {
      digest = digestWithAlgorithmOf('sha256:', bytes);
      const header = res.headers['docker-content-digest'];
      if (typeof header === 'string' && header.startsWith('sha256:') && header !== digest) {
        throw mismatch(ref, `manifest of ${name} (Docker-Content-Digest header)`, header, digest);
      }
    }
    const parsed = wrapManifestErrors(ref, () => parseManifest(bytes, res.headers['content-type'] as string | undefined, name));
    return { digest, mediaType: parsed.mediaType, bytes, parsed };
  }

  /** The image manifest for REF, choosing this client's platform from a list/index. */
  async getManifest(ref: ImageReference): Promise<ResolvedManifest> {
    const raw = await this.getRawManifest(ref);
    if (raw.parsed.kind === 'image') return { digest: raw.digest, mediaType: raw.mediaType, bytes: raw.bytes, manifest: raw.parsed.manifest };
    const name = formatImageReference(ref);
    const index = raw.parsed.index;
    const entry = wrapManifestErrors(ref, () => selectPlatform(index, this.platform, name));
    this.options.log?.(`${name}: using ${formatPlatform(this.platform)} image ${entry.digest}`);
    const child = await this.getRawManifest(withDigest(ref, entry.digest));
    if (child.bytes.length !== entry.size) {
      throw new RegistryError(`manifest ${entry.digest} of ${name}: size mismatch (the index says ${entry.size} bytes, got ${child.bytes.length})`, ref.registry, { code: 'SIZE_INVALID' });
    }
    if (child.parsed.kind !== 'image') throw new RegistryError(`manifest ${entry.digest} of ${name}: an index inside an index is not supported`, ref.registry);
    return {
      digest: child.digest,
      mediaType: child.mediaType,
      bytes: child.bytes,
      manifest: child.parsed.manifest,
      list: { digest: raw.digest, mediaType: raw.mediaType, bytes: raw.bytes, index },
    };
  }

  /**
   * The blob DESCRIPTOR names, streamed. Its size and digest are checked as it streams: on a
   * mismatch the stream errors (a RegistryError naming the digest) instead of ending. A reset
   * connection is resumed with `Range` from the last byte received.
   */
  getBlob(ref: ImageReference, descriptor: Descriptor): Promise<Readable> {
    validateDigest(descriptor.digest);
    return Promise.resolve(Readable.from(this.blobChunks(ref, descriptor), { objectMode: false, highWaterMark: 1024 * 1024 }));
  }

  private async *blobChunks(ref: ImageReference, descriptor: Descriptor): AsyncGenerator<Buffer> {
    const { digest, size } = descriptor;
    const what = `blob ${digest} of ${formatImageReference(ref)}`;
    const algorithm = digest.slice(0, digest.indexOf(':'));
    const hash = createHash(algorithm);
    const task = this.options.progress?.begin(`Copying blob ${shortDigest(digest)}`, size);
    let received = 0;
    let ended = false;
    try {
      for (let resumes = 0; ; resumes++) {
        const res = await this.send(ref, { method: 'GET', url: blobPath(ref.repository, digest), headers: received > 0 ? { range: `bytes=${received}-` } : {}, followRedirects: true });
        if (res.statusCode !== 200 && res.statusCode !== 206) throw await errorFromResponse(res, ref.registry, what);
        // Bytes of this response already received before the reset: a registry without
        // Range support starts again from 0, and those bytes are skipped, not re-hashed.
        let skip = received;
        if (res.statusCode === 206) {
          const start = Number(/^bytes (\d+)-/.exec(String(res.headers['content-range'] ?? ''))?.[1] ?? NaN);
          if (!(start <= received)) {
            res.body.destroy();
            throw new RegistryError(`${what}: asked to resume at byte ${received}, the registry answered from byte ${start}`, ref.registry);
          }
          skip = received - start;
        }
        const remaining = Number(res.headers['content-length'] ?? -1) - skip;
        if (remaining > size - received) {
          res.body.destroy();
          throw new RegistryError(`${what}: size mismatch (expected ${size} bytes, the registry sends ${received + remaining})`, ref.registry, { code: 'SIZE_INVALID' });
        }
        try {
          for await (const data of res.body) {
            let chunk = data as Buffer;
            if (skip > 0) {
              const dropped = Math.min(skip, chunk.length);
              skip -= dropped;
              chunk = chunk.subarray(dropped);
              if (chunk.length === 0) continue;
            }
            received += chunk.length;
            if (received > size) throw new RegistryError(`${what}: size mismatch (expected ${size} bytes, received more)`, ref.registry, { code: 'SIZE_INVALID' });
            hash.update(chunk);
            task?.advance(chunk.length);
            yield chunk;
          }
          break;
        } catch (e) {
          if (e instanceof RegistryError || !isRetryableNetworkError(e) || resumes + 1 >= this.retry.attempts) {
            if (e instanceof RegistryError) throw e;
            throw new RegistryError(`${what}: download interrupted at byte ${received} of ${size}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, ref.registry, { cause: e });
          }
          res.body.destroy();
          this.options.log?.(`${what}: connection lost at byte ${received} of ${size}; resuming`);
          await this.sleep(this.retry.delayMs * 2 ** resumes);
        }
      }
      if (received !== size) throw new RegistryError(`${what}: size mismatch (expected ${size} bytes, got ${received})`, ref.registry, { code: 'SIZE_INVALID' });
      const actual = `${algorithm}:${hash.digest('hex')}`;
      if (actual !== digest) throw mismatch(ref, what, digest, actual);
      this.seenIn.set(`${ref.registry} ${digest}`, ref.repository);
      ended = true;
      task?.end();
    } finally {
      if (!ended) task?.end('failed');
    }
  }

  /** A small blob (a config) read whole, verified like any other. */
  async getBlobBytes(ref: ImageReference, descriptor: Descriptor): Promise<Buffer> {
    if (descriptor.size > MAX_CONFIG_BYTES) {
      throw new RegistryError(`blob ${descriptor.digest} of ${formatImageReference(ref)} is ${descriptor.size} bytes, more than the ${MAX_CONFIG_BYTES} allowed for a config`, ref.registry);
    }
    const chunks: Buffer[] = [];
    for await (const chunk of await this.getBlob(ref, descriptor)) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks);
  }

  async blobExists(ref: ImageReference, digest: string): Promise<boolean> {
    const res = await this.send(ref, { method: 'HEAD', url: blobPath(ref.repository, digest), scopes: [repositoryScope(ref.repository, 'pull,push')] });
    await res.body.dump();
    if (res.statusCode === 200) return true;
    if (res.statusCode === 404) return false;
    throw new RegistryError(`HEAD of blob ${digest} in ${ref.registry}/${ref.repository}: HTTP ${res.statusCode}`, ref.registry, { status: res.statusCode });
  }

  /**
   * Uploads the blob OPEN reads, unless the repository has it already or it can be mounted
   * from another repository of the same registry (MOUNTFROM, or where this client saw it).
   * A failed upload is started again from a new session while tries remain.
   */
  async putBlob(ref: ImageReference, descriptor: Descriptor, open: () => Readable, options: { mountFrom?: string } = {}): Promise<void> {
    validateDigest(descriptor.digest);
    const label = `Copying blob ${shortDigest(descriptor.digest)}`;
    if (await this.blobExists(ref, descriptor.digest)) {
      this.options.progress?.begin(label, descriptor.size).end('already exists');
      return;
    }
    const from = options.mountFrom ?? this.seenIn.get(`${ref.registry} ${descriptor.digest}`);
    for (let n = 1; ; n++) {
      const task = this.options.progress?.begin(label, descriptor.size);
      try {
        const outcome = await this.upload(ref, descriptor, open, from !== ref.repository ? from : undefined, (bytes) => task?.advance(bytes));
        task?.end(outcome);
        this.seenIn.set(`${ref.registry} ${descriptor.digest}`, ref.repository);
        return;
      } catch (e) {
        task?.end('failed');
        const retryable = isRetryableNetworkError(e) || (e instanceof RegistryError && (e.status ?? 0) >= 500);
        if (!retryable || n >= this.retry.attempts) throw e;
        this.options.log?.(`upload of ${descriptor.digest} to ${ref.registry}/${ref.repository} failed (${(e as Error).message}); starting again`);
        await this.sleep(this.retry.delayMs * 2 ** (n - 1));
      }
    }
  }

  private async upload(ref: ImageReference, descriptor: Descriptor, open: () => Readable, mountFrom: string | undefined, advance: (n: number) => void): Promise<string | undefined> {
    const what = `upload of blob ${descriptor.digest} to ${ref.registry}/${ref.repository}`;
    const scopes = [repositoryScope(ref.repository, 'pull,push'), ...(mountFrom ? [repositoryScope(mountFrom, 'pull')] : [])];
    const query = mountFrom ? `?mount=${encodeURIComponent(descriptor.digest)}&from=${encodeURIComponent(mountFrom)}` : '';
    const started = await this.send(ref, { method: 'POST', url: `/v2/${ref.repository}/blobs/uploads/${query}`, scopes, headers: { 'content-length': '0' } });
    if (started.statusCode === 201) {
      await started.body.dump();
      return `mounted from ${mountFrom}`;
    }
    if (started.statusCode !== 202) throw await errorFromResponse(started, ref.registry, what);
    await started.body.dump();
    let location = await this.location(started, what, ref);

    const counted = (): Readable => {
      const meter = new Transform({
        transform(chunk: Buffer, _enc, done) {
          advance(chunk.length);
          done(null, chunk);
        },
      });
      // pipeline, not pipe: when the request destroys the meter (a retry, a 401), the source
      // is destroyed too and its file closed.
      return pipeline(open(), meter, () => undefined);
    };
    const chunkSize = this.options.chunkSize;
    if (chunkSize && descriptor.size > chunkSize) {
      // Chunked: PATCH each chunk with its Content-Range, then PUT the digest with no body.
      let offset = 0;
      for await (const chunk of rechunk(open(), chunkSize)) {
        const res = await this.send(ref, {
          method: 'PATCH',
          url: location,
          scopes,
          retry: false,
          headers: { 'content-type': 'application/octet-stream', 'content-length': String(chunk.length), 'content-range': `${offset}-${offset + chunk.length - 1}` },
          body: () => chunk,
        });
        if (res.statusCode !== 202) throw await errorFromResponse(res, ref.registry, `${what} (chunk at byte ${offset})`);
        await res.body.dump();
        offset += chunk.length;
        advance(chunk.length);
        location = await this.location(res, what, ref);
      }
      location.searchParams.set('digest', descriptor.digest);
      const done = await this.send(ref, { method: 'PUT', url: location, scopes, retry: false, headers: { 'content-length': '0' } });
      if (done.statusCode !== 201) throw await errorFromResponse(done, ref.registry, what);
      await done.body.dump();
      return undefined;
    }
    location.searchParams.set('digest', descriptor.digest);
    const res = await this.send(ref, {
      method: 'PUT',
      url: location,
      scopes,
      retry: false,
      headers: { 'content-type': 'application/octet-stream', 'content-length': String(descriptor.size) },
      body: counted,
    });
    if (res.statusCode !== 201) throw await errorFromResponse(res, ref.registry, what);
    await res.body.dump();
    return undefined;
  }

  /** The upload session URL of a response: it may be relative, and changes after each request. */
  private async location(res: Response, what: string, ref: ImageReference): Promise<URL> {
    const header = res.headers['location'];
    if (typeof header !== 'string') throw new RegistryError(`${what}: the registry sent no upload Location`, ref.registry);
    return new URL(header, await this.transport.base(ref.registry));
  }

  /** Uploads a manifest under REF's tag (or its digest); returns the digest of BYTES. */
  async putManifest(ref: ImageReference, bytes: Buffer, mediaType: string): Promise<string> {
    const digest = digestWithAlgorithmOf(ref.digest ?? 'sha256:', bytes);
    if (ref.digest && ref.digest !== digest) throw mismatch(ref, `manifest for ${formatImageReference(ref)}`, ref.digest, digest);
    const reference = ref.tag ?? digest;
    const res = await this.send(ref, {
      method: 'PUT',
      url: manifestPath(ref, reference),
      scopes: [repositoryScope(ref.repository, 'pull,push')],
      headers: { 'content-type': mediaType, 'content-length': String(bytes.length) },
      body: () => bytes,
      retry: true,
    });
    if (res.statusCode !== 201) throw await errorFromResponse(res, ref.registry, `push of manifest ${digest} to ${ref.registry}/${ref.repository}:${reference}`);
    await res.body.dump();
    const stored = res.headers['docker-content-digest'];
    if (typeof stored === 'string' && stored !== digest) throw mismatch(ref, `manifest stored as ${ref.registry}/${ref.repository}:${reference}`, digest, stored);
    return digest;
  }

  /** Every tag of REF's repository (following `Link` pages). */
  async listTags(ref: ImageReference): Promise<string[]> {
    const tags: string[] = [];
    let url: string | undefined = `/v2/${ref.repository}/tags/list`;
    while (url) {
      const res = await this.send(ref, { method: 'GET', url });
      if (res.statusCode !== 200) throw await errorFromResponse(res, ref.registry, `tags of ${ref.registry}/${ref.repository}`);
      const body = JSON.parse((await readBody(res, MAX_MANIFEST_BYTES, `tags of ${ref.registry}/${ref.repository}`, ref.registry)).toString('utf8')) as { tags?: string[] | null };
      tags.push(...(body.tags ?? []));
      url = /<([^>]+)>;\s*rel="?next"?/.exec(String(res.headers['link'] ?? ''))?.[1];
    }
    return tags;
  }
}

function mismatch(ref: ImageReference, what: string, expected: string, actual: string): RegistryError {
  return new RegistryError(`${what}: digest mismatch (expected ${expected}, got ${actual})`, ref.registry, { code: 'DIGEST_MISMATCH' });
}

function wrapManifestErrors<T>(ref: ImageReference, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof ManifestError) throw new RegistryError(e.message, ref.registry, { code: 'MANIFEST_INVALID', cause: e });
    throw e;
  }
}

/** Regroups a stream into buffers of exactly SIZE bytes (the last one shorter). */
async function* rechunk(stream: Readable, size: number): AsyncGenerator<Buffer> {
  let parts: Buffer[] = [];
  let length = 0;
  for await (const data of stream) {
    let chunk = data as Buffer;
    while (length + chunk.length >= size) {
      const take = size - length;
      parts.push(chunk.subarray(0, take));
      yield Buffer.concat(parts);
      parts = [];
      length = 0;
      chunk = chunk.subarray(take);
    }
    if (chunk.length > 0) {
      parts.push(chunk);
      length += chunk.length;
    }
  }
  if (length > 0) yield Buffer.concat(parts);
}

/**
 * The HTTP side of the registry client: which scheme a registry speaks, authorization (with
 * one re-authentication on a 401), retries with backoff on connection resets, 5xx and 429,
 * and redirects that never carry the registry's Authorization to another origin.
 *
 * undici 7's `request()` rather than global `fetch`: fetch silently decodes gzip-encoded
 * responses (breaking digests) and measured 1.5–2× slower on blobs (reference oci.md §5.7).
 * Logged URLs lose their query strings: signed redirect URLs and upload `_state` carry secrets.
 */
import type { Readable } from 'node:stream';
import { Agent, request, type Dispatcher } from './undici.js';
import { Authenticator, type AuthFile } from './auth.js';
import { RegistryError } from './registry-client-errors.js';

export interface RetryPolicy {
  /** Tries in all (1 = no retry). */
  attempts: number;
  /** First backoff; doubled at each further try. */
  delayMs: number;
}

export interface HttpRequest {
  method: 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH';
  /** A path on the registry (`/v2/ns/repo/manifests/tag`) or an absolute upload URL it gave. */
  url: string | URL;
  headers?: Record<string, string>;
  /** Makes the body; called again for each retry or re-authentication. */
  body?: () => Buffer | Readable;
  /** The repository whose credentials apply, and the token scopes the request needs. */
  repository: string;
  scopes: string[];
  /** Retry on 5xx/429/resets (default: for GET and HEAD, which are idempotent). */
  retry?: boolean;
  followRedirects?: boolean;
}

export type Response = Dispatcher.ResponseData;

const MAX_REDIRECTS = 5;
/** Network failures worth another try: the request may well succeed on a new connection. */
const RETRYABLE_CODES = new Set([
  'ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'EAI_AGAIN', 'UND_ERR_SOCKET', 'UND_ERR_CLOSED',
  'UND_ERR_BODY_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_CONNECT_TIMEOUT',
]);

export function isRetryableNetworkError(e: unknown): boolean {
  let err = e as { code?: string; cause?: unknown } | undefined;
  for (let depth = 0; err && depth < 4; depth++, err = err.cause as typeof err) {
    if (typeof err.code === 'string' && RETRYABLE_CODES.has(err.code)) return true;
  }
  return false;
}

export const redactUrl = (url: URL): string => `${url.origin}${url.pathname}`;

function isLoopback(registry: string): boolean {
  const host = registry.replace(/:\d+$/, '');
  return host === 'localhost' || host === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/** Reads a whole body, refusing more than MAX bytes: a registry is never trusted to be small. */
export async function readBody(res: Response, max: number, what: string, registry: string): Promise<Buffer> {
  const declared = Number(res.headers['content-length'] ?? -1);
  if (declared > max) {
    res.body.destroy();
    throw new RegistryError(`${what}: response of ${declared} bytes is larger than the ${max} allowed`, registry);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of res.body) {
    size += (chunk as Buffer).length;
    if (size > max) {
      res.body.destroy();
      throw new RegistryError(`${what}: response is larger than the ${max} bytes allowed`, registry);
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

/** The registry's error as a message: `HTTP 404 MANIFEST_UNKNOWN: manifest unknown (detail)`. */
export async function errorFromResponse(res: Response, registry: string, what: string): Promise<RegistryError> {
  let text = '';
  try {
    text = (await readBody(res, 64 * 1024, what, registry)).toString('utf8');
  } catch (e) {
    text = `(body unreadable: ${(e as Error).message})`;
  }
  let code: string | undefined;
  let summary = text.trim().slice(0, 200);
  try {
    const errors = (JSON.parse(text) as { errors?: { code?: string; message?: string; detail?: unknown }[] }).errors ?? [];
    if (errors.length > 0) {
      code = errors[0]!.code;
      summary = errors
        .map((e) => `${e.code ?? 'UNKNOWN'}: ${e.message ?? ''}${e.detail !== undefined && e.detail !== null ? ` (${JSON.stringify(e.detail)})` : ''}`)
        .join('; ');
    }
  } catch {
    // Proxies send HTML or text: the status and the start of the body are all there is.
  }
  return new RegistryError(`${what}: HTTP ${res.statusCode}${summary ? ` ${summary}` : ''}`, registry, { status: res.statusCode, ...(code ? { code } : {}) });
}

const drain = async (res: Response): Promise<void> => {
  try {
    await res.body.dump();
  } catch {
    // A body we are discarding may fail mid-way; the connection is then closed, nothing is lost.
  }
};

export class RegistryTransport {
  private readonly agent: Agent;
  private readonly bases = new Map<string, Promise<URL>>();
  readonly auth: Authenticator;

  constructor(
    private readonly options: {
      insecure?: boolean;
      authFile?: AuthFile;
      log?: (line: string) => void;
      retry: RetryPolicy;
      sleep: (ms: number) => Promise<void>;
    },
  ) {
    this.agent = new Agent({
      // Nothing is verified when insecure: an empty CA list spares parsing Node's ~140 root
      // certificates (~30 ms at the first TLS connection of every pivot).
      connect: options.insecure ? { rejectUnauthorized: false, ca: [] } : { rejectUnauthorized: true },
      headersTimeout: 60_000,
      // A registry that stops sending for a minute is treated as a reset: retried or resumed.
      bodyTimeout: 60_000,
    });
    this.auth = new Authenticator({
      ...(options.authFile ? { authFile: options.authFile } : {}),
      ...(options.log ? { log: options.log } : {}),
      fetchToken: async (url, headers) => {
        const res = await this.http('GET', url, headers);
        return { status: res.statusCode, body: await readBody(res, 1024 * 1024, `token from ${redactUrl(url)}`, url.host) };
      },
    });
  }

  close(): Promise<void> {
    return this.agent.close();
  }

  private http(method: string, url: URL, headers: Record<string, string>, body?: Buffer | Readable): Promise<Response> {
    return request(url, { dispatcher: this.agent, method: method as Dispatcher.HttpMethod, headers, body: body ?? null });
  }

  /**
   * The registry's root URL. https unless the registry is on loopback or the client is
   * insecure: then https is tried first and plain http used when it fails, as skopeo does
   * with --tls-verify=false. The `GET /v2/` answer also tells how to authenticate.
   */
  base(registry: string): Promise<URL> {
    let base = this.bases.get(registry);
    if (!base) {
      base = this.probe(registry);
      this.bases.set(registry, base);
      base.catch(() => this.bases.delete(registry));
    }
    return base;
  }

  private async probe(registry: string): Promise<URL> {
    // Docker Hub's API lives on another host than its name.
    const host = registry === 'docker.io' ? 'registry-1.docker.io' : registry;
    const attempt = async (scheme: 'https' | 'http'): Promise<URL> => {
      const url = new URL(`${scheme}://${host}/v2/`);
      const res = await this.withRetries(`GET ${url.href}`, () => this.http('GET', url, {}));
      await drain(res);
      if (res.statusCode === 401) this.auth.learn(registry, res.headers['www-authenticate'] as string | undefined);
      else if (res.statusCode !== 200) throw new RegistryError(`${registry} is not a registry: GET ${url.href} answered HTTP ${res.statusCode}`, registry, { status: res.statusCode });
      return new URL(`${scheme}://${host}`);
    };
    try {
      return await attempt('https');
    } catch (e) {
      if (!(this.options.insecure || isLoopback(registry)) || e instanceof RegistryError) throw this.unreachable(registry, e);
      this.options.log?.(`${registry}: https failed (${(e as Error).message}); using http`);
      try {
        return await attempt('http');
      } catch (e2) {
        throw this.unreachable(registry, e2);
      }
    }
  }

  private unreachable(registry: string, e: unknown): RegistryError {
    if (e instanceof RegistryError) return e;
    const err = e as NodeJS.ErrnoException;
    const hint = /certificate|self[- ]signed|SSL|TLS/i.test(`${err.code} ${err.message}`) ? ' (for a registry without a trusted certificate pass --insecure or --tls-verify=false)' : '';
    return new RegistryError(`cannot reach registry ${registry}: ${err.code ?? err.message}${hint}`, registry, { cause: e });
  }

  /** Runs FN, again after a backoff when it fails in a way that may pass (resets, 5xx, 429). */
  private async withRetries(what: string, fn: () => Promise<Response>, retry = true): Promise<Response> {
    const { attempts, delayMs } = this.options.retry;
    for (let n = 1; ; n++) {
      const last = !retry || n >= attempts;
      let res: Response;
      try {
        res = await fn();
      } catch (e) {
        if (last || !isRetryableNetworkError(e)) throw e;
        this.options.log?.(`${what}: ${(e as NodeJS.ErrnoException).code}; retrying (${n + 1} of ${attempts})`);
        await this.options.sleep(delayMs * 2 ** (n - 1));
        continue;
      }
      if (last || (res.statusCode < 500 && res.statusCode !== 429)) return res;
      // Retry-After in seconds, when a rate-limited registry says how long to wait (capped at a minute).
      const after = Number(res.headers['retry-after']);
      await drain(res);
      this.options.log?.(`${what}: HTTP ${res.statusCode}; retrying (${n + 1} of ${attempts})`);
      await this.options.sleep(res.statusCode === 429 && after > 0 ? Math.min(after, 60) * 1000 : delayMs * 2 ** (n - 1));
    }
  }

  /**
   * Sends REQ to REGISTRY with its authorization, re-authenticating once on a 401 and
   * following redirects when asked. Statuses other than 401 are the caller's to judge.
   */
  async send(registry: string, req: HttpRequest): Promise<Response> {
    const base = await this.base(registry);
    const url = new URL(req.url, base);
    const what = `${req.method} ${redactUrl(url)}`;
    const retry = req.retry ?? (req.method === 'GET' || req.method === 'HEAD');
    const sendWith = async (authorization: string | undefined): Promise<Response> => {
      const headers = { ...req.headers, ...(authorization && url.origin === base.origin ? { authorization } : {}) };
      let res = await this.withRetries(what, () => this.http(req.method, url, headers, req.body?.()), retry);
      let current = url;
      for (let hops = 0; req.followRedirects && res.statusCode >= 300 && res.statusCode < 400 && res.headers['location']; hops++) {
        await drain(res);
        if (hops >= MAX_REDIRECTS) throw new RegistryError(`${what}: more than ${MAX_REDIRECTS} redirects`, registry, { status: res.statusCode });
        const next = new URL(res.headers['location'] as string, current);
        // The registry's credentials are for the registry: a CDN or object store gets none.
        const hopHeaders = next.origin === base.origin ? headers : { ...req.headers };
        this.options.log?.(`${what}: redirected to ${redactUrl(next)}`);
        current = next;
        res = await this.withRetries(`${req.method} ${redactUrl(next)}`, () => this.http(req.method, next, hopHeaders), retry);
      }
      return res;
    };

    const first = await this.auth.authorization(registry, req.repository, req.scopes);
    let res = await sendWith(first);
    if (res.statusCode !== 401) return res;
    await drain(res);
    const known = this.auth.knows(registry);
    this.auth.learn(registry, res.headers['www-authenticate'] as string | undefined);
    this.auth.invalidate(registry, req.scopes);
    const second = await this.auth.authorization(registry, req.repository, req.scopes);
    if (second !== undefined && (second !== first || !known)) {
      res = await sendWith(second);
      if (res.statusCode !== 401) return res;
      await drain(res);
    }
    throw new RegistryError(`${registry}/${req.repository}: unauthorized (HTTP 401 for ${req.method} ${url.pathname}): ${this.auth.describeRefusal(registry, req.repository)}`, registry, {
      status: 401,
      code: 'UNAUTHORIZED',
    });
  }
}

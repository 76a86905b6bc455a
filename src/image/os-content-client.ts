/**
 * Requests to the OS content cache's HTTP API (os-content-server.ts): the node's `POST
 * /images` (node/os-content.ts) and the machine-config-controller's `POST /prune`.
 */
import { Agent, request } from './undici.js';

export class OsContentClientError extends Error {
  override name = 'OsContentClientError';
}

export interface CacheAnswer {
  status: number;
  /** The JSON answer; empty when it is not JSON. */
  body: Record<string, unknown>;
}

/**
 * One POST to the cache (through undici's request, not global fetch, whose machinery takes
 * ~20 ms to load). `timeoutMs` bounds the connection and each wait for the answer (none by
 * default: `signal` decides). Throws the network's error when the cache cannot be reached.
 */
export async function postToCache(url: URL, options: { body?: string; signal?: AbortSignal; timeoutMs?: number } = {}): Promise<CacheAnswer> {
  const t = options.timeoutMs;
  const agent = new Agent(t === undefined ? { headersTimeout: 0, bodyTimeout: 0 } : { headersTimeout: t, bodyTimeout: t, connectTimeout: t });
  try {
    const res = await request(url, {
      dispatcher: agent, method: 'POST',
      ...(options.body !== undefined ? { headers: { 'content-type': 'application/json' }, body: options.body } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
    });
    return { status: res.statusCode, body: (await res.body.json().catch(() => ({}))) as Record<string, unknown> };
  } finally {
    await agent.close();
  }
}

/** Asks the cache at `cacheURL` to keep only `keep`; resolves to the images it removed. */
export async function pruneOsContentCache(cacheURL: string, keep: string[], timeoutMs = 60_000): Promise<string[]> {
  let answer: CacheAnswer;
  try {
    answer = await postToCache(new URL(`${cacheURL.replace(/\/+$/, '')}/prune`), { body: JSON.stringify({ keep }), timeoutMs });
  } catch (e) {
    throw new OsContentClientError(`Pruning the OS content cache ${cacheURL}: ${(e as Error).message}`, { cause: e });
  }
  const { removed, error } = answer.body as { removed?: { image?: unknown }[]; error?: unknown };
  if (answer.status !== 200) throw new OsContentClientError(`Pruning the OS content cache ${cacheURL}: HTTP ${answer.status}${typeof error === 'string' ? `: ${error}` : ''}`);
  return (removed ?? []).map((r) => String(r.image));
}

/**
 * What the machine-config-controller asks of the OS content cache (os-content-server.ts):
 * `POST /prune` with the images the pools still use, so the cache drops the others.
 */
import { Agent, request } from './undici.js';

export class OsContentClientError extends Error {
  override name = 'OsContentClientError';
}

/** Asks the cache at `cacheURL` to keep only `keep`; resolves to the images it removed. */
export async function pruneOsContentCache(cacheURL: string, keep: string[], timeoutMs = 60_000): Promise<string[]> {
  const url = `${cacheURL.replace(/\/+$/, '')}/prune`;
  const agent = new Agent({ headersTimeout: timeoutMs, bodyTimeout: timeoutMs, connectTimeout: timeoutMs });
  try {
    let res;
    try {
      res = await request(new URL(url), { dispatcher: agent, method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ keep }) });
    } catch (e) {
      throw new OsContentClientError(`Pruning the OS content cache ${cacheURL}: ${(e as Error).message}`, { cause: e });
    }
    const body = (await res.body.json().catch(() => ({}))) as { removed?: { image?: unknown }[]; error?: unknown };
    if (res.statusCode !== 200) throw new OsContentClientError(`Pruning the OS content cache ${cacheURL}: HTTP ${res.statusCode}${typeof body.error === 'string' ? `: ${body.error}` : ''}`);
    return (body.removed ?? []).map((r) => String(r.image));
  } finally {
    await agent.close();
  }
}

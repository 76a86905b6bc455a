/**
 * The object side of a pivot in production: the cluster's OS content cache (`mco os-content
 * serve`, image/os-content-server.ts). The cache is asked for the image (it pulls and extracts
 * it once for the whole cluster), then exactly the commit the node's own read of the image's
 * config named is pulled from the image's repo on the cache with ostree's HTTP protocol. The
 * cache's answer only says where to look: every object is verified against the commit.
 */
import { statSync } from 'node:fs';
import { pullFromRemote } from '../ostree/pull-http.js';
import { Repo } from '../ostree/repo.js';
import { postToCache, type CacheAnswer } from '../image/os-content-client.js';
import type { OsContentSource } from './pivot.js';

export class OsContentError extends Error {
  override name = 'OsContentError';
}

export interface CacheContentOptions {
  /** How long one object request may stall (default 30 s): a cache that never answers is given up on. */
  timeoutMs?: number;
  /** How long the cache may take to pull and extract the image for the first node asking (default 10 min). */
  prepareTimeoutMs?: number;
  signal?: AbortSignal;
}

/** The remote name the pull's messages use for the cache. */
export const OS_CONTENT_REMOTE = 'os-content';

export function cacheContentSource(url: string, options: CacheContentOptions = {}): OsContentSource {
  const base = url.replace(/\/+$/, '');
  const timeoutMs = options.timeoutMs ?? 30_000;
  return {
    url: base,
    async pullCommit(image, commit, repoPath) {
      const prepareTimeout = AbortSignal.timeout(options.prepareTimeoutMs ?? 600_000);
      let answer: CacheAnswer;
      try {
        // The first request for an image waits for the cache to pull it from the registry.
        answer = await postToCache(new URL(`${base}/images?ref=${encodeURIComponent(image)}`), { signal: options.signal ? AbortSignal.any([options.signal, prepareTimeout]) : prepareTimeout });
      } catch (e) {
        throw new OsContentError(`The OS content cache ${base} cannot be reached: ${(e as Error).message}`, { cause: e });
      }
      const body = answer.body as { path?: unknown; error?: unknown };
      if (answer.status >= 300) throw new OsContentError(`The OS content cache ${base} cannot serve ${image}: HTTP ${answer.status}${typeof body.error === 'string' ? `: ${body.error}` : ''}`);
      if (typeof body.path !== 'string' || !body.path.startsWith('/images/')) throw new OsContentError(`The OS content cache ${base} answered no repo path for ${image}`);
      const repo = await Repo.open(repoPath);
      const result = await pullFromRemote(repo, {
        url: `${base}${body.path}`,
        commit,
        remoteName: OS_CONTENT_REMOTE,
        timeoutMs,
        // The deploy that follows syncs the sysroot, this repo with it.
        deferSync: true,
        ...(options.signal ? { signal: options.signal } : {}),
      });
      const finish = result.finishAfterSync;
      return {
        fetchedObjects: result.fetchedObjects,
        fetchedBytes: result.fetchedBytes,
        ...(finish ? {
          synced: async (syncedPath: string) => {
            // A repo mounted apart from the sysroot was not covered by the deploy's flush.
            if (statSync(repoPath).dev !== statSync(syncedPath).dev) repo.sync();
            await finish();
          },
        } : {}),
      };
    },
  };
}

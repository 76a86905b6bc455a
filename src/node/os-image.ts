/**
 * The image side of a pivot in production: the OS image read from its registry (labels from
 * its config) and extracted with the image layer's safe extractor, every byte verified. The
 * image is resolved once: labels and layers come from the same manifest digest even if a tag
 * moves in between.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { extractLayers, type ExtractLimits } from '../image/extract.js';
import { pullImage, type PulledImage } from '../image/pull.js';
import { parseImageReference } from '../image/reference.js';
import type { RegistryClient } from '../image/registry-client.js';
import type { OsImageSource } from './pivot.js';

export function registryImageSource(client: RegistryClient, options: { log?: (line: string) => void; limits?: Partial<ExtractLimits> } = {}): OsImageSource {
  const pulled = new Map<string, Promise<PulledImage>>();
  const pull = (image: string): Promise<PulledImage> => {
    let p = pulled.get(image);
    if (!p) {
      p = pullImage(client, parseImageReference(image));
      pulled.set(image, p);
      // A failed resolution is retried from scratch on the next attempt.
      p.catch(() => pulled.delete(image));
    }
    return p;
  };
  return {
    async labels(image) {
      return { ...((await pull(image)).config.config?.Labels ?? {}) };
    },
    async extract(image, dest, extractOptions = {}) {
      const { layers } = await pull(image);
      await extractLayers(layers, dest, {
        ...(extractOptions.skip ? { skip: extractOptions.skip } : {}),
        ...(options.log ? { log: options.log } : {}),
        ...(options.limits ? { limits: options.limits } : {}),
      });
    },
  };
}

/**
 * Runs `work` with this process's threads at the idle I/O class (the original runs
 * `nice -- ionice -c 3 oc image extract`), then puts them back to the default class. Threads
 * made meanwhile inherit it. Where ionice is missing or refused, the work runs as it is.
 */
export async function withIdleIo<T>(work: () => Promise<T>): Promise<T> {
  const threads = (): string[] => {
    try {
      return readdirSync('/proc/self/task');
    } catch {
      return []; // no procfs: nothing to lower
    }
  };
  const set = (args: string[]): boolean => {
    const tids = threads();
    if (tids.length === 0) return false;
    const r = spawnSync('ionice', [...args, '-p', ...tids], { stdio: 'ignore' });
    return !r.error && r.status === 0;
  };
  const lowered = set(['-c', '3']);
  try {
    return await work();
  } finally {
    if (lowered) set(['-c', '2', '-n', '4']);
  }
}

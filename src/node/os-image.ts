/**
 * The image side of a pivot in production: the OS image read from its registry (labels from
 * its config) and extracted with the image layer's safe extractor, every byte verified. The
 * image is resolved once: labels and layers come from the same manifest digest even if a tag
 * moves in between.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import type { ExtractLimits } from '../image/extract.js';
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
      // Loaded when needed: a pivot through the OS content cache never extracts (start-up time).
      const { extractLayers } = await import('../image/extract.js');
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
 * `nice -- ionice -c 3 oc image extract`), then puts each thread back to the class it had;
 * threads made meanwhile inherited idle and get the main thread's. Where ionice is missing or
 * refused, the work runs as it is.
 */
export async function withIdleIo<T>(work: () => Promise<T>): Promise<T> {
  const threads = (): string[] => {
    try {
      return readdirSync('/proc/self/task');
    } catch {
      return []; // no procfs: nothing to lower
    }
  };
  const ionice = (args: string[], tids: string[]): string | null => {
    const r = spawnSync('ionice', [...args, '-p', ...tids], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    return !r.error && r.status === 0 ? r.stdout : null;
  };
  const tids = threads();
  // Without the classes they had, they could not be put back: then they are left as they are.
  const before = tids.length > 0 ? previousIoClasses(tids, ionice([], tids)) : null;
  const lowered = before !== null && ionice(['-c', '3'], tids) !== null;
  try {
    return await work();
  } finally {
    if (lowered) for (const [args, group] of restoreIoClasses(before, threads(), String(process.pid))) ionice(args, group);
  }
}

/** Each thread's class as `ionice` arguments, from `ionice -p TID…` output (a line each, in order); null when unreadable. */
export function previousIoClasses(tids: string[], output: string | null): Map<string, string[]> | null {
  const lines = output?.trimEnd().split('\n') ?? [];
  if (lines.length !== tids.length) return null;
  const classes = new Map<string, string[]>();
  for (const [i, tid] of tids.entries()) {
    const args = ioniceArguments(lines[i]!);
    if (!args) return null;
    classes.set(tid, args);
  }
  return classes;
}

/** `none: prio 0`, `best-effort: prio 4`, `realtime: prio 0`, `idle` → the arguments that set it again. */
export function ioniceArguments(status: string): string[] | null {
  const m = /^(none|realtime|best-effort|idle)(?:: prio ([0-7]))?$/.exec(status.trim());
  if (!m) return null;
  if (m[1] === 'none') return ['-c', '0'];
  if (m[1] === 'idle') return ['-c', '3'];
  return ['-c', m[1] === 'realtime' ? '1' : '2', '-n', m[2] ?? '4'];
}

/** The `ionice` calls that put THREADS back: each to its class before, a new one to MAIN's; one call per class. */
export function restoreIoClasses(before: Map<string, string[]>, threads: string[], main: string): [string[], string[]][] {
  const groups = new Map<string, [string[], string[]]>();
  for (const tid of threads) {
    const args = before.get(tid) ?? before.get(main);
    if (!args) continue;
    const key = args.join(' ');
    if (!groups.has(key)) groups.set(key, [args, []]);
    groups.get(key)![1].push(tid);
  }
  return [...groups.values()];
}

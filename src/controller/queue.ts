/**
 * A work queue of keys for one controller, as client-go's: a key queued many times is
 * processed once; a key re-queued while being processed runs again afterwards; `workers`
 * keys are synced at once but never one key twice at once; failures retry with exponential backoff and, after
 * `maxRetries`, are dropped and tried again a minute later (the MCO's rule, §3.1).
 */
import type { Klog } from '../api/klog.js';

export interface WorkQueueOptions {
  name: string;
  log: Klog;
  maxRetries?: number;
  /** Backoff of the first retry; doubles per failure up to `maxBackoffMs`. */
  baseBackoffMs?: number;
  maxBackoffMs?: number;
  /** Keys synced concurrently (distinct keys only); default 1. */
  workers?: number;
}

export class WorkQueue {
  private readonly ready: string[] = [];
  private readonly queued = new Set<string>();
  private readonly processing = new Set<string>();
  private readonly dirty = new Set<string>();
  private readonly failures = new Map<string, number>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly waiting: (() => void)[] = [];
  private stopped = false;
  private loops: Promise<void[]> | undefined;

  constructor(
    private readonly sync: (key: string) => Promise<void>,
    private readonly opts: WorkQueueOptions,
  ) {}

  /** Queue `key` now, or after `delayMs` (bursts of events collapse into one sync). */
  add(key: string, delayMs = 0): void {
    if (this.stopped) return;
    if (delayMs > 0) {
      const t = setTimeout(() => {
        this.timers.delete(t);
        this.add(key);
      }, delayMs);
      this.timers.add(t);
      return;
    }
    if (this.processing.has(key)) {
      this.dirty.add(key);
      return;
    }
    if (this.queued.has(key)) return;
    this.queued.add(key);
    this.ready.push(key);
    this.waiting.shift()?.();
  }

  start(): void {
    this.loops ??= Promise.all(Array.from({ length: this.opts.workers ?? 1 }, () => this.run()));
  }

  /** Stops taking keys; resolves when the sync in progress (if any) has finished. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    for (const wake of this.waiting.splice(0)) wake();
    await this.loops;
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      const key = this.ready.shift();
      if (key === undefined) {
        await new Promise<void>((resolve) => this.waiting.push(resolve));
        continue;
      }
      this.queued.delete(key);
      this.processing.add(key);
      try {
        await this.sync(key);
        this.failures.delete(key);
      } catch (e) {
        this.retry(key, e);
      } finally {
        this.processing.delete(key);
      }
      if (this.dirty.delete(key)) this.add(key);
    }
  }

  private retry(key: string, e: unknown): void {
    const n = (this.failures.get(key) ?? 0) + 1;
    const max = this.opts.maxRetries ?? 15;
    const message = e instanceof Error ? e.message : String(e);
    if (n > max) {
      this.failures.delete(key);
      this.opts.log.error('queue.ts:97', `${this.opts.name}: dropping ${key} out of the queue after ${max} retries: ${message}; trying again in 1m`);
      this.add(key, 60_000);
      return;
    }
    this.failures.set(key, n);
    this.opts.log.warning('queue.ts:102', `${this.opts.name}: error syncing ${key}: ${message}`);
    this.add(key, Math.min((this.opts.baseBackoffMs ?? 50) * 2 ** (n - 1), this.opts.maxBackoffMs ?? 30_000));
  }
}

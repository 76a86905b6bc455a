/**
 * A small pool of worker threads for per-object work (hash + write on commit, inflate + write
 * on checkout), so both cores are used. Jobs are sent in batches to amortize message cost;
 * each job's result (or error) comes back to the promise `run()` returned.
 */
import { isMainThread, parentPort, Worker, workerData, type ResourceLimits } from 'node:worker_threads';
import { availableParallelism } from 'node:os';

interface Batch<J> {
  id: number;
  jobs: J[];
}

type Outcome<R> = { ok: true; value: R } | { ok: false; message: string; name: string };

interface BatchResult<R> {
  id: number;
  outcomes: Outcome<R>[];
}

const BATCH = 32;

export class WorkerPool<J, R> {
  private readonly workers: Worker[] = [];
  private readonly waiting = new Map<number, { resolve: (r: R) => void; reject: (e: Error) => void }[]>();
  private queue: J[] = [];
  private queued: { resolve: (r: R) => void; reject: (e: Error) => void }[] = [];
  private transfer: ArrayBuffer[] = [];
  private nextBatch = 0;
  private nextWorker = 0;
  private flushScheduled = false;
  private failure: Error | undefined;

  constructor(script: URL, data: unknown, size = availableParallelism(), resourceLimits?: ResourceLimits) {
    for (let i = 0; i < Math.max(1, size); i++) {
      const worker = new Worker(script, { workerData: data, ...(resourceLimits ? { resourceLimits } : {}) });
      worker.on('message', (msg: BatchResult<R>) => this.settle(msg));
      worker.on('error', (e) => this.fail(e));
      this.workers.push(worker);
    }
  }

  /**
   * Queues `job`. Buffers in `transfer` move to the worker rather than being copied (they are
   * unusable here afterwards); a view is otherwise cloned with the whole buffer behind it.
   */
  run(job: J, transfer?: ArrayBuffer[]): Promise<R> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise<R>((resolve, reject) => {
      this.queue.push(job);
      if (transfer) this.transfer.push(...transfer);
      this.queued.push({ resolve, reject });
      if (this.queue.length >= BATCH) this.flush();
      else if (!this.flushScheduled) {
        this.flushScheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  private flush(): void {
    this.flushScheduled = false;
    if (this.queue.length === 0) return;
    const id = this.nextBatch++;
    this.waiting.set(id, this.queued);
    const batch: Batch<J> = { id, jobs: this.queue };
    const transfer = this.transfer;
    this.queue = [];
    this.queued = [];
    this.transfer = [];
    this.workers[this.nextWorker++ % this.workers.length]!.postMessage(batch, transfer);
  }

  private settle(msg: BatchResult<R>): void {
    const callbacks = this.waiting.get(msg.id)!;
    this.waiting.delete(msg.id);
    msg.outcomes.forEach((o, i) => {
      if (o.ok) callbacks[i]!.resolve(o.value);
      else {
        const e = new Error(o.message);
        e.name = o.name;
        callbacks[i]!.reject(e);
      }
    });
  }

  private fail(e: Error): void {
    this.failure = e;
    for (const callbacks of this.waiting.values()) for (const c of callbacks) c.reject(e);
    this.waiting.clear();
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}

/**
 * Worker side: answers batches with `handle(job)`. Errors travel back as message and name,
 * so the caller can rethrow them as its own typed error.
 */
export function serveJobs<J, R>(handle: (job: J) => R | Promise<R>): void {
  if (isMainThread || !parentPort) throw new Error('serveJobs() must run in a worker thread');
  const port = parentPort;
  port.on('message', async (batch: Batch<J>) => {
    const outcomes: Outcome<R>[] = [];
    for (const job of batch.jobs) {
      try {
        outcomes.push({ ok: true, value: await handle(job) });
      } catch (e) {
        outcomes.push({ ok: false, message: (e as Error).message, name: (e as Error).name });
      }
    }
    port.postMessage({ id: batch.id, outcomes } satisfies BatchResult<R>);
  });
}

export { workerData };

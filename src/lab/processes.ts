/**
 * The lab's process supervision: each lab process runs as a child writing stdout and stderr
 * to its own log file (appended, so a restarted process continues its log, as a container's
 * log does). A process that exits on its own is handed to its `exited` hook — a node's daemon
 * exits to reboot — and is started again: at once when the hook says so, else after a backoff
 * that grows with each quick failure, as a kubelet restarts a crashing container.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';

export interface ProcessSpec {
  /** Name in the supervisor's log: `apiserver`, `operator`, `daemon worker-0`. */
  name: string;
  argv: [string, ...string[]];
  env?: NodeJS.ProcessEnv;
  logFile: string;
  /** Runs before every start (e.g. booting a node). */
  beforeStart?: () => Promise<void>;
  /**
   * Decides what an exit of its own means: 'now' restarts at once (a reboot), 'backoff'
   * restarts after the crash backoff.
   */
  exited?: (code: number | null, signal: NodeJS.Signals | null) => Promise<'now' | 'backoff'>;
}

/** The wait before restart number `failures` (1, 2, …) of a process that keeps failing fast: 0.5 s doubling to 30 s. */
export function restartDelayMs(failures: number): number {
  return Math.min(30_000, 500 * 2 ** Math.max(0, failures - 1));
}
/** A process that ran this long before failing starts its backoff over. */
export const HEALTHY_RUN_MS = 60_000;

export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): { unref?: () => void } | unknown;
}
const realClock: Clock = { now: () => Date.now(), setTimeout: (fn, ms) => setTimeout(fn, ms) };

export class ManagedProcess {
  child: ChildProcess | null = null;
  restarts = 0;
  private failures = 0;
  private stopping = false;
  private startedAt = 0;
  private exitWaiters: (() => void)[] = [];

  constructor(
    readonly spec: ProcessSpec,
    private readonly log: (line: string) => void,
    private readonly clock: Clock = realClock,
  ) {}

  get pid(): number | undefined {
    return this.child?.pid;
  }

  async start(): Promise<void> {
    this.stopping = false;
    await this.spec.beforeStart?.();
    if (this.stopping) return;
    mkdirSync(dirname(this.spec.logFile), { recursive: true });
    const fd = openSync(this.spec.logFile, 'a');
    try {
      const [cmd, ...args] = this.spec.argv;
      this.child = spawn(cmd, args, { env: this.spec.env ?? process.env, stdio: ['ignore', fd, fd] });
    } finally {
      closeSync(fd);
    }
    this.startedAt = this.clock.now();
    const child = this.child;
    child.on('error', (e) => this.log(`${this.spec.name}: cannot start: ${e.message}`));
    child.on('exit', (code, signal) => void this.onExit(child, code, signal));
  }

  private async onExit(child: ChildProcess, code: number | null, signal: NodeJS.Signals | null): Promise<void> {
    if (this.child === child) this.child = null;
    const waiters = this.exitWaiters.splice(0);
    for (const w of waiters) w();
    if (this.stopping) return;
    const how = signal ? `killed by ${signal}` : `exited with status ${code}`;
    let next: 'now' | 'backoff' = 'backoff';
    try {
      next = (await this.spec.exited?.(code, signal)) ?? 'backoff';
    } catch (e) {
      this.log(`${this.spec.name}: ${(e as Error).message}`);
    }
    if (this.stopping) return;
    this.restarts++;
    if (next === 'now') {
      this.failures = 0;
      await this.startLogged();
      return;
    }
    if (this.clock.now() - this.startedAt > HEALTHY_RUN_MS) this.failures = 0;
    this.failures++;
    const delay = restartDelayMs(this.failures);
    this.log(`${this.spec.name} ${how}; restarting in ${delay} ms`);
    this.clock.setTimeout(() => {
      if (!this.stopping && !this.child) void this.startLogged();
    }, delay);
  }

  private async startLogged(): Promise<void> {
    try {
      await this.start();
    } catch (e) {
      this.log(`${this.spec.name}: ${(e as Error).message}`);
      this.failures++;
      this.clock.setTimeout(() => void this.startLogged(), restartDelayMs(this.failures));
    }
  }

  /** Resolves when the current child (if any) has exited. */
  exitedPromise(): Promise<void> {
    if (!this.child) return Promise.resolve();
    return new Promise((resolve) => this.exitWaiters.push(resolve));
  }

  /** Sends `signal` and, if the process has not exited after `graceMs`, SIGKILL; resolves once it is gone. */
  async terminate(graceMs = 10_000, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    const child = this.child;
    if (!child) return;
    const gone = this.exitedPromise();
    child.kill(signal);
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    await gone;
    clearTimeout(timer);
  }

  /** Stops it for good (no restart). */
  async stop(graceMs = 10_000): Promise<void> {
    this.stopping = true;
    await this.terminate(graceMs);
  }
}

/**
 * `machine-config-daemon start` as a library (mco.md §5): one daemon for one node. An
 * informer on its own Node wakes a single worker. The first sync after start is the
 * after-boot check (`checkStateOnFirstRun`, §5.5); later syncs compare desiredConfig,
 * currentConfig and the on-disk config and run an update (update.ts) when they differ. Every
 * failed sync puts the node in Degraded or Unreconcilable with the reason, and is retried
 * with backoff (1 s … 60 s) — except a transient fault, which is retried without touching the
 * state until it outlasts a bound. After the first run a drift monitor (an fs watch of the
 * config's files and a periodic check) re-validates the host and turns the node Degraded,
 * naming every differing path, within seconds. A stop during an update waits for it: the
 * update ends in a reboot or a failure, never half-way by our own hand.
 */
import { watch, type FSWatcher } from 'node:fs';
import { dirname } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import type { MachineConfig } from '../api/machineconfig.js';
import { serveMetrics } from '../api/metrics-server.js';
import { CURRENT_CONFIG_ANNOTATION, DESIRED_CONFIG_ANNOTATION, nodeState, REASON_ANNOTATION, STATE_ANNOTATION, STATE_DEGRADED, STATE_DONE, type MachineConfigDaemonState } from '../api/node.js';
import { clearUpdateJournal, readBootstrapAnnotations, readOnDiskConfig, readUpdateJournal, retireBootstrapAnnotations, takeForceFile, writeUpdateJournal } from '../node/daemon-files.js';
import { ownedPaths, type HostConfig } from '../node/host-config.js';
import { writeAtomic } from '../node/host-files.js';
import { observe, onDiskState, openHostRoot, type HostRoot } from '../node/host-root.js';
import { pivot, pivotImageOf, type OsContentSource, type OsImageSource } from '../node/pivot.js';
import type { KernelCmdlineReader } from '../sysroot/types.js';
import { backoffMs, systemClock, type Clock } from './clock.js';
import type { DaemonContext } from './context.js';
import { drainNode } from './drain.js';
import { isTransient } from './errors.js';
import { hostConfigOf } from './ignition.js';
import { NodeApi } from './kube.js';
import { stderrLogger, type Logger } from './log.js';
import { DaemonMetrics, DEFAULT_METRICS_LISTEN } from './metrics.js';
import { stateForError, syncAction } from './state.js';
import { osContentOf, rebootInto, runUpdate } from './update.js';
import { onDiskDifferences, validationMessage } from './validate.js';

export interface DaemonOptions {
  nodeName: string;
  kubeConfig: k8s.KubeConfig;
  /** The host's sysroot (`/` on a real host; a directory for a simulated node). */
  sysroot: string;
  /** Where OS images come from (production: the registry, see node/os-image.ts). */
  source: OsImageSource;
  /**
   * The OS content cache at a URL (production: node/os-content.ts): when the operator publishes
   * one (ControllerConfig spec.osContentURL), pivots pull OSTree objects from it.
   */
  osContent?: (url: string) => OsContentSource;
  /** Reboots the host into its default boot entry (production: `systemctl reboot`). */
  rebooter: (rationale: string) => Promise<void>;
  /** The kernel command line this boot runs with (says which deployment is booted). */
  readCmdline?: KernelCmdlineReader;
  /** Identifies this boot (production: /proc/sys/kernel/random/boot_id); read once at start. */
  bootId: () => string;
  clock?: Clock;
  logger?: Logger;
  /** HOST:PORT for /metrics; default 127.0.0.1:8797; '' serves none. */
  metricsListen?: string;
  /** How long a drain may wait for pods to go (default 600 s). */
  drainTimeoutMs?: number;
  /** How long a transient fault is retried before the node turns Degraded (default 300 s). */
  transientBoundMs?: number;
  /** Period of the drift check after the first run (default 5 s; the fs watch is immediate). */
  driftIntervalMs?: number;
  /** Longest wait between retries of a failed sync (default 60 s, as the original). */
  maxBackoffMs?: number;
  /** The pivot's waits before extraction retries (default 5 s, 10 s). */
  pivotRetryDelaysMs?: number[];
  idleIo?: <T>(work: () => Promise<T>) => Promise<T>;
  /** Called at each named step (context.ts DAEMON_CRASH_POINTS, and the sysroot's): a crash harness kills here. */
  crashPoint?: (step: string) => void;
}

export interface RunningDaemon {
  /** Stops at the next safe point: an update in progress runs on to its reboot or failure first. */
  stop(): Promise<void>;
  /** 'reboot' once the rebooter ran (the process should then exit), 'stopped' after stop(). */
  done: Promise<'reboot' | 'stopped'>;
  /** The metrics address actually bound, when serving. */
  metricsAddress?: string;
}

const annotationsOf = (node: k8s.V1Node | undefined): Record<string, string> => node?.metadata?.annotations ?? {};

class Daemon {
  private readonly abort = new AbortController();
  private readonly log: Logger;
  private readonly clock: Clock;
  private readonly metrics = new DaemonMetrics();
  private readonly api: NodeApi;
  private informer: k8s.ListWatch<k8s.V1Node> | undefined;
  private root!: HostRoot;
  private bootId = '';
  private booting = true;
  private stopping = false;
  private updating = false;
  private wake: () => void = () => {};
  private dirty = true;
  private driftCheck = false;
  private failures = 0;
  private transientSince: number | undefined;
  private watchers: FSWatcher[] = [];
  private watchedFor: string | undefined;
  private driftTimer: NodeJS.Timeout | undefined;
  private configs = new Map<string, MachineConfig>();

  constructor(private readonly opts: DaemonOptions) {
    this.log = opts.logger ?? stderrLogger();
    this.clock = opts.clock ?? systemClock;
    this.api = new NodeApi(opts.kubeConfig, opts.nodeName, { clock: this.clock, log: this.log, signal: this.abort.signal });
  }

  async start(): Promise<RunningDaemon> {
    const listen = this.opts.metricsListen ?? DEFAULT_METRICS_LISTEN;
    const server = listen === '' ? undefined : await serveMetrics(this.metrics.registry, listen);
    if (server) this.log.info(`Serving metrics on ${server.address}`);
    this.bootId = this.opts.bootId();
    this.root = await openHostRoot(this.opts.sysroot, this.opts.readCmdline ? { readCmdline: this.opts.readCmdline } : {});
    const booted = this.root.booted;
    this.log.info(`Booted osImageURL: ${pivotImageOf(booted) ?? ''} (${booted.checksum.slice(0, 12)}.${booted.serial})`);
    this.recordHostOs();
    this.startInformer();
    const done = this.loop().finally(async () => {
      for (const w of this.watchers) w.close();
      clearTimeout(this.driftTimer);
      await this.informer?.stop();
      await server?.close();
    });
    const stop = async (): Promise<void> => {
      if (this.updating) this.log.info('Got SIGTERM, but actively updating');
      this.stopping = true;
      this.wake();
      await done;
    };
    return { stop, done, ...(server ? { metricsAddress: server.address } : {}) };
  }

  private recordHostOs(): void {
    const release = observe(this.root, '/usr/lib/os-release');
    const text = release.kind === 'file' ? release.contents.toString('utf8') : '';
    const field = (k: string): string => new RegExp(`^${k}="?([^"\\n]*)"?$`, 'm').exec(text)?.[1] ?? '';
    this.metrics.hostOs.set({ os: field('ID') || 'unsupported', version: field('VERSION_ID') || field('VERSION') }, 1);
  }

  private startInformer(): void {
    const core = this.api.core;
    const name = this.opts.nodeName;
    const informer = new k8s.ListWatch<k8s.V1Node>('/api/v1/nodes', new k8s.Watch(this.opts.kubeConfig),
      () => core.listNode({ fieldSelector: `metadata.name=${name}` }), false, undefined, `metadata.name=${name}`);
    const poke = (): void => this.poke();
    informer.on('add', poke);
    informer.on('update', poke);
    informer.on('error', (err: unknown) => {
      if (this.abort.signal.aborted) return;
      this.log.warning(`Watch of node ${name} failed: ${err instanceof Error ? err.message : String(err)}; restarting it`);
      void this.clock.sleep(1000, this.abort.signal).then(() => {
        if (!this.abort.signal.aborted) informer.start().catch(() => undefined);
      });
    });
    this.informer = informer;
    // A failed start is reported through the 'error' handler above, which restarts it.
    informer.start().catch(() => undefined);
  }

  private poke(): void {
    this.dirty = true;
    this.wake();
  }

  /** Waits for a poke, a stop, or `ms`. */
  private async idle(ms: number): Promise<void> {
    if (this.dirty || this.stopping) return;
    const woken = new AbortController();
    this.wake = () => woken.abort();
    await this.clock.sleep(ms, AbortSignal.any([woken.signal, this.abort.signal]));
    this.wake = () => {};
  }

  private async loop(): Promise<'reboot' | 'stopped'> {
    try {
      for (;;) {
        if (this.stopping) return 'stopped';
        this.dirty = false;
        let rebooted = false;
        try {
          rebooted = await this.sync();
          this.failures = 0;
          this.transientSince = undefined;
        } catch (e) {
          // Not a failure: the first run waits for the Node's annotations (a poke brings them).
          if (!(e instanceof FirstRunWait)) await this.handleError(e);
        } finally {
          this.updating = false;
        }
        if (rebooted) return 'reboot';
        if (this.stopping) return 'stopped';
        const wait = this.failures > 0 ? backoffMs(this.failures - 1, 1000, this.opts.maxBackoffMs ?? 60_000) : this.opts.driftIntervalMs ?? 5000;
        await this.idle(wait);
        if (this.failures === 0 && !this.booting) this.driftCheck = true;
      }
    } finally {
      this.abort.abort();
    }
  }

  private async handleError(e: unknown): Promise<void> {
    this.failures++;
    const now = this.clock.now().getTime();
    if (isTransient(e)) {
      this.transientSince ??= now;
      const bound = this.opts.transientBoundMs ?? 300_000;
      if (now - this.transientSince < bound) {
        this.log.warning(`${e instanceof Error ? e.message : String(e)}; transient, retrying (${Math.round((now - this.transientSince) / 1000)} s of ${Math.round(bound / 1000)} s)`);
        return;
      }
    } else {
      this.transientSince = undefined;
    }
    const { state, reason } = stateForError(e);
    this.log.error(`Marking ${state} due to: ${reason}`);
    this.metrics.updateState.set({ config: '', err: reason.slice(0, 200) }, now / 1000);
    try {
      const node = this.informer?.get(this.opts.nodeName) ?? (await this.api.getNode());
      const ann = annotationsOf(node);
      if (ann[STATE_ANNOTATION] === state && ann[REASON_ANNOTATION] === reason) return;
      await this.setState(node, state, { reason });
      await this.api.event('Warning', state === STATE_DEGRADED ? 'Degraded' : 'Unreconcilable', reason);
    } catch (writeError) {
      this.log.error(`Could not report ${state} on node ${this.opts.nodeName}: ${(writeError as Error).message}`);
    }
  }

  async setState(_node: k8s.V1Node | undefined, state: MachineConfigDaemonState, extra: { reason?: string; currentConfig?: string } = {}): Promise<void> {
    const annotations: Record<string, string> = { [STATE_ANNOTATION]: state };
    if (extra.reason !== undefined) annotations[REASON_ANNOTATION] = extra.reason;
    if (extra.currentConfig !== undefined) annotations[CURRENT_CONFIG_ANNOTATION] = extra.currentConfig;
    await this.api.patchAnnotations(annotations);
    this.metrics.state.set({ state, reason: extra.reason ?? '' }, this.clock.now().getTime() / 1000);
  }

  private context(): DaemonContext {
    const o = this.opts;
    return {
      nodeName: o.nodeName,
      sysroot: o.sysroot,
      api: this.api,
      root: this.root,
      log: this.log,
      clock: this.clock,
      metrics: this.metrics,
      source: o.source,
      osContent: o.osContent,
      readCmdline: o.readCmdline,
      reboot: o.rebooter,
      bootId: this.bootId,
      drainTimeoutMs: o.drainTimeoutMs ?? 600_000,
      pivotRetryDelaysMs: o.pivotRetryDelaysMs,
      idleIo: o.idleIo,
      crashPoint: o.crashPoint,
      signal: this.abort.signal,
      setState: (node, state, extra) => this.setState(node, state, extra),
    };
  }

  private async machineConfig(name: string): Promise<MachineConfig> {
    // Rendered configs are immutable by name; one read per name.
    let mc = this.configs.get(name);
    if (!mc) {
      mc = await this.api.getMachineConfig(name);
      this.configs.set(name, mc);
    }
    return mc;
  }

  /** One sync; true when it ended in a reboot. */
  private async sync(): Promise<boolean> {
    if (this.booting) {
      const node = await this.api.getNode();
      const rebooted = await this.firstRun(node);
      this.booting = false;
      return rebooted;
    }
    const node = this.informer?.get(this.opts.nodeName) ?? (await this.api.getNode());
    const ann = annotationsOf(node);
    const onDisk = readOnDiskConfig<MachineConfig>(this.root);
    const action = syncAction({ currentConfig: ann[CURRENT_CONFIG_ANNOTATION], desiredConfig: ann[DESIRED_CONFIG_ANNOTATION], state: nodeState(ann), onDiskConfig: onDisk?.metadata.name });
    switch (action.kind) {
      case 'wait':
        this.log.info(`Waiting: ${action.why}`);
        return false;
      case 'none':
        if (this.driftCheck) {
          this.driftCheck = false;
          await this.validate(await this.machineConfig(ann[CURRENT_CONFIG_ANNOTATION]!));
        }
        return false;
      case 'validate': {
        const mc = await this.machineConfig(action.config);
        await this.validate(mc);
        this.log.info(`Validated on-disk state against ${action.config}`);
        await this.setState(node, STATE_DONE, { reason: '', currentConfig: action.config });
        await this.api.setUnschedulable(false);
        this.log.info(`In desired config ${action.config}`);
        return false;
      }
      case 'update': {
        const from = action.from ? (action.from === onDisk?.metadata.name ? onDisk : await this.machineConfig(action.from)) : null;
        const to = await this.machineConfig(action.to);
        this.updating = true;
        await runUpdate(this.context(), { from, to, state: nodeState(ann) });
        return true;
      }
    }
  }

  /** Throws the seed's `unexpected on-disk state …` error listing every difference. */
  private async validate(mc: MachineConfig): Promise<void> {
    const expected = hostConfigOf(mc);
    this.watchOwnedPaths(expected);
    const diffs = onDiskDifferences(expected, onDiskState(this.root));
    if (diffs.length > 0) throw new Error(validationMessage(mc.metadata.name!, diffs));
  }

  /** A drift check shortly after a change: a burst of edits is reported in one reason. */
  private driftSoon(): void {
    if (this.driftTimer) return;
    this.driftTimer = setTimeout(() => {
      this.driftTimer = undefined;
      this.driftCheck = true;
      this.poke();
    }, 250);
    this.driftTimer.unref();
  }

  /** An fs watch on the directories holding the config's files: a change wakes a drift check at once. */
  private watchOwnedPaths(config: HostConfig): void {
    if (this.watchedFor === config.name) return;
    for (const w of this.watchers) w.close();
    this.watchers = [];
    this.watchedFor = config.name;
    for (const dir of new Set(ownedPaths(config).map((p) => dirname(this.root.resolve(p))))) {
      try {
        const w = watch(dir, { persistent: false }, () => this.driftSoon());
        w.on('error', () => w.close());
        this.watchers.push(w);
      } catch (e) {
        // A directory that does not exist yet is covered by the periodic check.
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      }
    }
  }

  /** checkStateOnFirstRun (mco.md §5.5); true when it ended in a reboot. */
  private async firstRun(node: k8s.V1Node): Promise<boolean> {
    const ctx = this.context();
    let ann = annotationsOf(node);
    let bootstrapping = false;
    if (!ann[CURRENT_CONFIG_ANNOTATION]) {
      const initial = readBootstrapAnnotations(this.root);
      const onDisk = readOnDiskConfig<MachineConfig>(this.root);
      if (initial) {
        this.log.info(`Setting initial node annotations from ${'/etc/machine-config-daemon/node-annotations.json'}`);
        node = await this.api.patchAnnotations(initial);
        bootstrapping = true;
      } else if (onDisk?.metadata.name) {
        node = await this.api.patchAnnotations({ [CURRENT_CONFIG_ANNOTATION]: onDisk.metadata.name });
      }
      ann = annotationsOf(node);
    }
    let current = ann[CURRENT_CONFIG_ANNOTATION];
    const desired = ann[DESIRED_CONFIG_ANNOTATION];
    if (!current || !desired) {
      this.log.info(`Node ${this.opts.nodeName} has no ${current ? 'desiredConfig' : 'currentConfig'} annotation yet; waiting`);
      // Stay in first-run mode: the next annotation change runs it again.
      throw new FirstRunWait();
    }
    const journal = readUpdateJournal(this.root);
    if (journal?.step === 'pending' && journal.bootId === this.bootId) {
      this.log.info('drain interrupted, retrying');
      this.updating = true;
      await drainNode({ api: this.api, clock: this.clock, log: this.log, timeoutMs: ctx.drainTimeoutMs, signal: this.abort.signal });
      await rebootInto(ctx, journal.to);
      return true;
    }
    if (journal?.step === 'started') {
      // Killed part-way through an update: the host is between two configs. Redo it, cleaning
      // up what the interrupted target wrote as if the host held it.
      this.log.info(`Update from ${journal.from ?? 'mco-empty-mc'} to ${journal.to} was interrupted; retrying`);
      const interrupted = hostConfigOf(await this.machineConfig(journal.to));
      this.updating = true;
      await runUpdate(ctx, { from: await this.machineConfig(current), to: await this.machineConfig(desired), state: nodeState(ann), alsoOnHost: [interrupted] });
      return true;
    }
    const pending = journal?.step === 'pending' ? journal.to : undefined;
    if (bootstrapping) {
      const mc = await this.machineConfig(current);
      const booted = pivotImageOf(this.root.booted) ?? '';
      if (mc.spec.osImageURL && mc.spec.osImageURL !== booted) {
        this.log.info(`Bootstrap pivot required to: ${mc.spec.osImageURL}`);
        this.updating = true;
        await pivot(this.opts.sysroot, mc.spec.osImageURL, { source: this.opts.source, ...(await osContentOf(ctx)), log: this.log.info, warn: this.log.warning, ...(this.opts.readCmdline ? { readCmdline: this.opts.readCmdline } : {}) });
        writeUpdateJournal(this.root, { from: null, to: current, step: 'pending', bootId: this.bootId });
        await rebootInto(ctx, current);
        return true;
      }
      this.log.info('No bootstrap pivot required; unlinking bootstrap node annotations');
      retireBootstrapAnnotations(this.root);
      writeAtomic(this.root, '/etc/machine-config-daemon/currentconfig', JSON.stringify(mc));
    } else {
      const onDisk = readOnDiskConfig<MachineConfig>(this.root)?.metadata.name;
      if (!pending && onDisk && onDisk !== current) {
        this.log.info(`Disk currentConfig ${onDisk} overrides node's currentConfig annotation ${current}`);
        current = onDisk;
      }
    }
    const expected = pending ?? current;
    if (takeForceFile(this.root)) {
      this.log.info('Skipping on-disk validation; /run/machine-config-daemon-force present');
      this.updating = true;
      await runUpdate(ctx, { from: await this.machineConfig(current), to: await this.machineConfig(desired), state: nodeState(ann) });
      return true;
    }
    this.log.info(pending ? `Validating against pending config ${expected}` : `Validating against current config ${expected}`);
    await this.validate(await this.machineConfig(expected));
    this.log.info('Validated on-disk state');
    if (pending) {
      this.opts.crashPoint?.('pending-validated');
      await this.api.event('Normal', 'NodeDone', `Setting node ${this.opts.nodeName}, currentConfig ${pending} to Done`);
      await this.setState(node, STATE_DONE, { reason: '', currentConfig: pending });
      clearUpdateJournal(this.root);
      current = pending;
    }
    if (current === desired) {
      if (pending) {
        await this.api.setUnschedulable(false);
        this.log.info(`completed update for config ${current}`);
      } else if (nodeState(ann) !== STATE_DONE || ann[CURRENT_CONFIG_ANNOTATION] !== current) {
        await this.setState(node, STATE_DONE, { reason: '', currentConfig: current });
        if (node.spec?.unschedulable) await this.api.setUnschedulable(false);
      }
      this.metrics.updateState.set({ config: current, err: '' }, this.clock.now().getTime() / 1000);
      this.log.info(`In desired config ${current}`);
      return false;
    }
    await this.api.event('Normal', 'BootResync', `Booting node ${this.opts.nodeName}, currentConfig ${current}, desiredConfig ${desired}`);
    this.updating = true;
    await runUpdate(ctx, { from: await this.machineConfig(current), to: await this.machineConfig(desired), state: pending ? STATE_DONE : nodeState(ann) });
    return true;
  }
}

/** Not a failure: the Node lacks the annotations a first run needs; wait for them. */
class FirstRunWait extends Error {
  override name = 'FirstRunWait';
  constructor() {
    super('waiting for the node\'s config annotations');
  }
}

/** Starts a daemon for one node; see RunningDaemon. */
export async function startDaemon(opts: DaemonOptions): Promise<RunningDaemon> {
  return new Daemon(opts).start();
}

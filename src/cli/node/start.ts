import { readFileSync, statSync } from 'node:fs';
import * as k8s from '@kubernetes/client-node';
import { startDaemon } from '../../daemon/daemon.js';
import { stderrLogger } from '../../daemon/log.js';
import { cacheContentSource } from '../../node/os-content.js';
import { registryImageSource, withIdleIo } from '../../node/os-image.js';
import { str, UsageError } from '../args.js';
import type { Command, Context } from '../command.js';
import { clientFromFlags, registryOptions } from '../image/registry-flags.js';
import { crashPointFrom, rebooter, sysrootEffects, sysrootOf } from '../sysroot-args.js';

export const command: Command = {
  summary: 'Run the node daemon: apply the desiredConfig of this node, reboot, validate, report',
  usage: '--node-name=NAME --kubeconfig=FILE [--sysroot=PATH] [--metrics-listen=ADDR] [--insecure]',
  options: {
    ...registryOptions,
    'node-name': { type: 'string', description: 'The Node this daemon runs on', argument: 'NAME' },
    kubeconfig: { type: 'string', description: 'Kubeconfig of the API server', argument: 'FILE' },
    'root-mount': { type: 'string', description: 'The same as --sysroot (the original\'s name)', argument: 'PATH' },
    'metrics-listen': { type: 'string', description: 'Serve /metrics on ADDR (default 127.0.0.1:8797; \'\' disables)', argument: 'ADDR' },
  },
  async run(args, ctx) {
    const nodeName = str(args, 'node-name');
    if (!nodeName) throw new UsageError('--node-name=NAME is required');
    const kubeconfig = str(args, 'kubeconfig');
    if (!kubeconfig) throw new UsageError('--kubeconfig=FILE is required');
    const sysroot = str(args, 'root-mount') ?? sysrootOf(args);
    const kc = new k8s.KubeConfig();
    kc.loadFromFile(kubeconfig);
    const logger = stderrLogger();
    const client = clientFromFlags(args, ctx);
    const reboot = rebooter(sysroot, ctx);
    const simulated = Boolean(ctx.env['MCO_KERNEL_CMDLINE_FILE']);
    const daemon = await startDaemon({
      nodeName,
      kubeConfig: kc,
      sysroot,
      source: registryImageSource(client, { log: logger.info }),
      osContent: (url) => cacheContentSource(url),
      rebooter: async () => {
        await reboot();
        if (simulated) logger.info(`reboot: node ${nodeName} boots its default entry (${ctx.env['MCO_KERNEL_CMDLINE_FILE']} rewritten)`);
      },
      bootId: () => bootIdOf(ctx),
      logger,
      idleIo: withIdleIo,
      metricsListen: str(args, 'metrics-listen') ?? '127.0.0.1:8797',
      ...durations(ctx),
      ...sysrootEffects(sysroot, ctx),
      ...(crashPointFrom(ctx) ? { crashPoint: crashPointFrom(ctx)! } : {}),
    });
    const onSignal = (): void => void daemon.stop();
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
    try {
      await daemon.done;
    } finally {
      process.off('SIGTERM', onSignal);
      process.off('SIGINT', onSignal);
      await client.close();
    }
    return 0;
  },
};

/**
 * This boot's identity: a simulated node's command-line file is replaced (a new inode) at each
 * "boot", so its inode and change time say which boot this is; a real host has boot_id.
 */
function bootIdOf(ctx: Context): string {
  const file = ctx.env['MCO_KERNEL_CMDLINE_FILE'];
  if (file) {
    const st = statSync(file);
    return `${st.ino}-${st.ctimeMs}`;
  }
  return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
}

/**
 * Timings from the environment, for tests and the lab: MCO_DAEMON_DRAIN_TIMEOUT_MS,
 * MCO_DAEMON_TRANSIENT_BOUND_MS, MCO_DAEMON_DRIFT_INTERVAL_MS, MCO_DAEMON_MAX_BACKOFF_MS and
 * MCO_PIVOT_RETRY_DELAYS_MS (as for pivot).
 */
function durations(ctx: Context): { drainTimeoutMs?: number; transientBoundMs?: number; driftIntervalMs?: number; maxBackoffMs?: number; pivotRetryDelaysMs?: number[] } {
  const out: ReturnType<typeof durations> = {};
  const ms = (name: string, text = ctx.env[name]): number | undefined => {
    if (text === undefined || text === '') return undefined;
    const n = Number(text);
    if (!Number.isSafeInteger(n) || n < 0) throw new UsageError(`${name} must be a whole number of milliseconds, not "${text}"`);
    return n;
  };
  const drain = ms('MCO_DAEMON_DRAIN_TIMEOUT_MS');
  const bound = ms('MCO_DAEMON_TRANSIENT_BOUND_MS');
  const drift = ms('MCO_DAEMON_DRIFT_INTERVAL_MS');
  const backoff = ms('MCO_DAEMON_MAX_BACKOFF_MS');
  if (drain !== undefined) out.drainTimeoutMs = drain;
  if (bound !== undefined) out.transientBoundMs = bound;
  if (drift !== undefined) out.driftIntervalMs = drift;
  if (backoff !== undefined) out.maxBackoffMs = backoff;
  const delays = ctx.env['MCO_PIVOT_RETRY_DELAYS_MS'];
  if (delays) out.pivotRetryDelaysMs = delays.split(',').map((d) => ms('MCO_PIVOT_RETRY_DELAYS_MS', d.trim())!);
  return out;
}

/**
 * `update(old, new)` (mco.md §5.4): Working, the reconcilable check, cordon and drain, the
 * config's files, units and SSH keys and the on-disk currentconfig, the OS through the pivot,
 * kernel arguments, the pending-config journal, then the reboot. A failure before the reboot
 * puts back every file the update changed and drops a deployment it staged, so the node keeps
 * booting what it booted; the error goes to the caller, which decides the node's state.
 */
import type { MachineConfig } from '../api/machineconfig.js';
import { STATE_DEGRADED, STATE_UNRECONCILABLE, STATE_WORKING, type MachineConfigDaemonState } from '../api/node.js';
import { clearUpdateJournal, CURRENT_CONFIG_PATH, writeUpdateJournal } from '../node/daemon-files.js';
import type { HostConfig } from '../node/host-config.js';
import { writeHostConfig } from '../node/host-files.js';
import { applyKernelArguments } from '../node/kernel-args.js';
import { pivot, pivotImageOf, type OsContentSource } from '../node/pivot.js';
import { cleanupDeployments } from '../sysroot/rollback.js';
import type { DaemonContext } from './context.js';
import { drainNode } from './drain.js';
import { DrainError, UnreconcilableError } from './errors.js';
import { hostConfigOf } from './ignition.js';
import { emptyMachineConfig, formatDiff, reconcilable, type ConfigDiff } from './reconcile.js';

export interface UpdateRequest {
  /** The config the host holds; null: none yet (`mco-empty-mc`). */
  from: MachineConfig | null;
  to: MachineConfig;
  /** The node's state when the update starts: a failing node keeps it while it retries. */
  state: MachineConfigDaemonState;
  /** Configs of interrupted updates whose files may be on the host too (cleaned up like the old config's). */
  alsoOnHost?: HostConfig[];
}

const sysrootOpts = (ctx: DaemonContext): { readCmdline?: NonNullable<DaemonContext['readCmdline']> } => (ctx.readCmdline ? { readCmdline: ctx.readCmdline } : {});

/** Returns only by rebooting (the returned promise resolves after the rebooter did). */
export async function runUpdate(ctx: DaemonContext, req: UpdateRequest): Promise<void> {
  const { log, api } = ctx;
  const oldMc = req.from ?? emptyMachineConfig();
  const newMc = req.to;
  const oldName = oldMc.metadata.name!;
  const newName = newMc.metadata.name!;
  if (req.state !== STATE_DEGRADED && req.state !== STATE_UNRECONCILABLE) await ctx.setState(undefined, STATE_WORKING);

  let diff: ConfigDiff;
  try {
    diff = reconcilable(oldMc, newMc);
  } catch (e) {
    if (e instanceof UnreconcilableError) {
      // The original records this on the MachineConfig; a node may only write events about itself.
      await api.event('Warning', 'FailedToReconcile', e.message);
    }
    throw e;
  }
  const oldCfg = hostConfigOf(oldMc);
  const newCfg = hostConfigOf(newMc);
  log.info(`Starting update from ${oldName} to ${newName}: ${formatDiff(diff)}`);
  writeUpdateJournal(ctx.root, { from: req.from?.metadata.name ?? null, to: newName, step: 'started', bootId: ctx.bootId });
  ctx.crashPoint?.('update-journal-written');

  log.info('Update prepared; beginning drain');
  await api.event('Normal', 'Drain', 'Draining node to update config.');
  ctx.metrics.drainErr.set({ node: ctx.nodeName, err: '' }, 0);
  try {
    await drainNode({ api, clock: ctx.clock, log, timeoutMs: ctx.drainTimeoutMs, signal: ctx.signal });
  } catch (e) {
    if (e instanceof DrainError) {
      ctx.metrics.drainErr.set({ node: ctx.nodeName, err: 'WaitTimeout' }, 1);
      await api.event('Warning', 'FailedToDrain', e.message);
    }
    throw e;
  }
  ctx.crashPoint?.('drained');

  const writes = writeHostConfig(ctx.root, [oldCfg, ...(req.alsoOnHost ?? [])], newCfg, log.info);
  const os = { staged: false };
  try {
    writes.writeFile(CURRENT_CONFIG_PATH, Buffer.from(JSON.stringify(newMc)), 0o644);
    ctx.crashPoint?.('files-written');
    await applyOsChanges(ctx, oldCfg, newCfg, diff, os);
  } catch (e) {
    writes.rollback();
    // As the original's `rpm-ostree cleanup -p`: the node must not boot half an update.
    if (os.staged) {
      const { after } = await cleanupDeployments(ctx.sysroot, { pending: true }, sysrootOpts(ctx));
      log.info(`Discarded the staged deployment; ${after.length} deployments left`);
    }
    clearUpdateJournal(ctx.root);
    throw e;
  }
  writeUpdateJournal(ctx.root, { from: req.from?.metadata.name ?? null, to: newName, step: 'pending', bootId: ctx.bootId });
  await api.event('Normal', 'PendingConfig', `Written pending config ${newName}`);
  ctx.crashPoint?.('pending-written');
  await rebootInto(ctx, newName);
}

/** The OS image and kernel arguments, staged for the next boot; `os.staged` says whether a deployment was made. */
async function applyOsChanges(ctx: DaemonContext, oldCfg: HostConfig, newCfg: HostConfig, diff: ConfigDiff, os: { staged: boolean }): Promise<void> {
  const { log, api } = ctx;
  if (diff.osUpdate) await api.event('Normal', 'OSUpdateStarted', 'Upgrading OS');
  // As the 4.6 updateOS: nothing to do when the config names no image; the pivot itself is a
  // no-op when the next boot already runs the image.
  if (newCfg.osImageURL !== '') {
    if (pivotImageOf(ctx.root.booted) !== newCfg.osImageURL) await api.event('Normal', 'InClusterUpgrade', `Updating from oscontainer ${newCfg.osImageURL}`);
    try {
      const result = await pivot(ctx.sysroot, newCfg.osImageURL, {
        source: ctx.source,
        ...(await osContentOf(ctx)),
        log: log.info,
        warn: log.warning,
        sleep: (ms) => ctx.clock.sleep(ms, ctx.signal),
        ...(ctx.idleIo ? { idleIo: ctx.idleIo } : {}),
        ...sysrootOpts(ctx),
        ...(ctx.crashPoint ? { crashPoint: ctx.crashPoint } : {}),
      }, ctx.pivotRetryDelaysMs ? { retryDelaysMs: ctx.pivotRetryDelaysMs } : {});
      os.staged = result.changed;
    } catch (e) {
      ctx.metrics.pivotErr.set({ node: ctx.nodeName, pivot_target: newCfg.osImageURL, err: (e as Error).message.slice(0, 200) }, ctx.clock.now().getTime() / 1000);
      throw e;
    }
  }
  ctx.crashPoint?.('os-staged');
  if (await applyKernelArguments(ctx.sysroot, oldCfg.kernelArguments, newCfg.kernelArguments, { log: log.info, ...sysrootOpts(ctx) })) os.staged = true;
  ctx.crashPoint?.('kargs-applied');
  if (os.staged) await api.event('Normal', 'OSUpdateStaged', 'Changes to OS staged');
}

/**
 * The pivot's OS content cache: the one the operator publishes now. The cache only saves
 * bytes, so when the ControllerConfig cannot be read the pivot pulls the whole image.
 */
export async function osContentOf(ctx: DaemonContext): Promise<{ osContent?: OsContentSource }> {
  if (!ctx.osContent) return {};
  let url: string;
  try {
    url = await ctx.api.osContentURL();
  } catch (e) {
    ctx.log.warning(`Not using an OS content cache: ${(e as Error).message}`);
    return {};
  }
  return url ? { osContent: ctx.osContent(url) } : {};
}

/** finalizeAndReboot's last part: the event, the log line, the rebooter. */
export async function rebootInto(ctx: DaemonContext, configName: string): Promise<void> {
  const rationale = `Node will reboot into config ${configName}`;
  await ctx.api.event('Normal', 'Reboot', rationale);
  ctx.log.info(`initiating reboot: ${rationale}`);
  try {
    await ctx.reboot(rationale);
  } catch (e) {
    ctx.metrics.rebootErr.set({ node: ctx.nodeName, message: rationale, err: (e as Error).message.slice(0, 200) }, ctx.clock.now().getTime() / 1000);
    throw e;
  }
  ctx.crashPoint?.('rebooted');
}

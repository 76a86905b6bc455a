/**
 * What every sysroot command shares: `--sysroot` (default `/`), and the kernel command line
 * that says which deployment is booted — the file named by MCO_KERNEL_CMDLINE_FILE (a
 * simulated node, tests and the lab: its `ostree=` resolved once per boot, sysroot/boot.ts),
 * else /proc/cmdline, but only for the sysroot `/`: another --sysroot is never booted, as with
 * the real tools.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { bootSimulatedNode, simulatedBoot } from '../sysroot/boot.js';
import { SysrootError } from '../sysroot/sysroot.js';
import type { KernelCmdlineReader } from '../sysroot/types.js';
import { str, type Parsed } from './args.js';
import type { Command, Context } from './command.js';

export const SYSROOT_OPTION: Command['options'] = {
  sysroot: { type: 'string', description: 'Use system root PATH (default: /)', argument: 'PATH' },
};

export const sysrootOf = (args: Parsed): string => str(args, 'sysroot') ?? '/';

/**
 * `ostree admin`'s sysroot: `--sysroot`, else `OSTREE_SYSROOT` from the environment (as
 * libostree's default sysroot), else `/`. Scripts that export OSTREE_SYSROOT to act on a test
 * sysroot must never reach the host's `/`. rpm-ostree and the node commands ignore the
 * variable, as the real rpm-ostree does.
 */
export const adminSysrootOf = (args: Parsed, ctx: Pick<Context, 'env'>): string => str(args, 'sysroot') ?? (ctx.env['OSTREE_SYSROOT'] || '/');

/** The kernel command line reader for `sysroot`, or none when that sysroot cannot be booted. */
export function cmdlineReader(sysroot: string, ctx: Context): KernelCmdlineReader | undefined {
  const simulated = ctx.env['MCO_KERNEL_CMDLINE_FILE'];
  if (simulated) return simulatedBoot(sysroot, simulated, { source: 'MCO_KERNEL_CMDLINE_FILE' });
  if (sysroot !== '/') return undefined;
  return () => {
    try {
      return readFileSync('/proc/cmdline', 'utf8');
    } catch (e) {
      throw new SysrootError(`Cannot read the kernel command line from /proc/cmdline: ${(e as Error).message}`, { cause: e });
    }
  };
}

/** `MCO_CRASH_AT=STEP` kills the process at that step: the crash-safety harness's fault injection. */
export function crashPointFrom(ctx: Context): ((step: string) => void) | undefined {
  const at = ctx.env['MCO_CRASH_AT'];
  if (!at) return undefined;
  return (step) => {
    if (step === at) process.kill(process.pid, 'SIGKILL');
  };
}

/**
 * `OSTREE_SYSROOT_DEBUG=mutable-deployments` (a comma-separated list, as libostree reads it):
 * test harnesses, libostree's own included, ask for deployments they can write into.
 */
export const mutableDeploymentsFrom = (ctx: Pick<Context, 'env'>): boolean => (ctx.env['OSTREE_SYSROOT_DEBUG'] ?? '').split(',').includes('mutable-deployments');

/**
 * The effects a sysroot operation takes from the environment — which deployment is booted,
 * where the crash harness kills, whether deployments stay mutable — as options with only the
 * keys that are set.
 */
export function sysrootEffects(sysroot: string, ctx: Context): { readCmdline?: KernelCmdlineReader; crashPoint?: (step: string) => void; mutableDeployments?: true } {
  const readCmdline = cmdlineReader(sysroot, ctx);
  const crashPoint = crashPointFrom(ctx);
  return { ...(readCmdline ? { readCmdline } : {}), ...(crashPoint ? { crashPoint } : {}), ...(mutableDeploymentsFrom(ctx) ? { mutableDeployments: true } : {}) };
}

/**
 * How this host reboots. A simulated node (its kernel command line in MCO_KERNEL_CMDLINE_FILE)
 * "boots" the default entry by rewriting that file, as its boot loader would; a real host runs
 * `systemctl reboot`.
 */
export function rebooter(sysroot: string, ctx: Context): () => Promise<void> {
  const cmdlineFile = ctx.env['MCO_KERNEL_CMDLINE_FILE'];
  if (cmdlineFile) {
    return async () => {
      await bootSimulatedNode(sysroot, cmdlineFile);
    };
  }
  return async () => {
    const r = spawnSync('systemctl', ['reboot'], { stdio: 'inherit' });
    if (r.error || r.status !== 0) throw new SysrootError(`systemctl reboot failed: ${r.error?.message ?? `exit status ${r.status}`}`);
  };
}

/**
 * Kernel arguments of a MachineConfig on a host (mco.md §5.4.2): the old config's arguments
 * deleted and the new one's appended, as the original's single `rpm-ostree kargs
 * --delete=… --append=…`, on the deployment the next boot runs (the pending one after a
 * pivot, else the booted one). Idempotent, so a daemon killed after this step can redo it.
 */
import { deploy } from '../sysroot/deploy.js';
import { loadSysroot, SysrootError } from '../sysroot/sysroot.js';
import type { CrashPoint } from '../sysroot/swap.js';
import type { KernelCmdlineReader } from '../sysroot/types.js';

/** `current` without each of `remove` (one occurrence each), then each of `add` not already there. Pure. */
export function plannedKargs(current: readonly string[], remove: readonly string[], add: readonly string[]): string[] {
  const out = [...current];
  for (const arg of remove) {
    const i = out.indexOf(arg);
    if (i >= 0) out.splice(i, 1);
  }
  for (const arg of add) if (!out.includes(arg)) out.push(arg);
  return out;
}

export interface KernelArgsEffects {
  log: (line: string) => void;
  readCmdline?: KernelCmdlineReader;
  crashPoint?: CrashPoint;
}

/** Returns whether a new deployment was made. */
export async function applyKernelArguments(sysroot: string, remove: readonly string[], add: readonly string[], effects: KernelArgsEffects): Promise<boolean> {
  const state = await loadSysroot(sysroot, effects.readCmdline ? { readCmdline: effects.readCmdline } : {});
  const next = state.deployments[0];
  if (!next) throw new SysrootError(`No deployments in ${sysroot}`);
  const kargs = plannedKargs(next.kargs, remove, add);
  if (kargs.join(' ') === next.kargs.join(' ')) return false;
  effects.log(`Running rpm-ostree kargs ${[...remove.map((a) => `--delete=${a}`), ...add.map((a) => `--append=${a}`)].join(' ')}`);
  await deploy(sysroot, next.checksum, {
    osname: next.osname,
    kargs,
    retainRollback: true,
    ...(next.origin ? { origin: next.origin } : {}),
    ...(effects.readCmdline ? { readCmdline: effects.readCmdline } : {}),
    ...(effects.crashPoint ? { crashPoint: effects.crashPoint } : {}),
  });
  return true;
}

/**
 * `mco ostree admin status [--sysroot=DIR]`: `ostree admin status`. The booted deployment comes
 * from the kernel command line: the file named by MCO_KERNEL_CMDLINE_FILE (tests and the lab),
 * else /proc/cmdline, but only for the sysroot `/`; another --sysroot is never booted, as
 * with the real tool.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Repo } from '../../ostree/repo.js';
import { formatAdminStatus } from '../../sysroot/admin-status.js';
import { loadSysroot, SysrootError } from '../../sysroot/sysroot.js';
import type { KernelCmdlineReader } from '../../sysroot/types.js';
import { str } from '../args.js';
import type { Command, Context } from '../command.js';

/** The kernel command line reader for `sysroot`, or none when that sysroot cannot be booted. */
export function cmdlineReader(sysroot: string, ctx: Context): KernelCmdlineReader | undefined {
  const override = ctx.env['MCO_KERNEL_CMDLINE_FILE'];
  const file = override || (sysroot === '/' ? '/proc/cmdline' : undefined);
  if (!file) return undefined;
  return () => {
    try {
      return readFileSync(file, 'utf8');
    } catch (e) {
      const from = override ? ' (MCO_KERNEL_CMDLINE_FILE)' : '';
      throw new SysrootError(`Cannot read the kernel command line from ${file}${from}: ${(e as Error).message}`, { cause: e });
    }
  };
}

export const command: Command = {
  summary: 'List deployments',
  usage: '[--sysroot=PATH]',
  options: {
    sysroot: { type: 'string', description: 'Use system root PATH (default: /)', argument: 'PATH' },
  },
  async run(args, ctx) {
    const sysroot = str(args, 'sysroot') ?? '/';
    const state = await loadSysroot(sysroot, { readCmdline: cmdlineReader(sysroot, ctx) });
    const repo = await Repo.open(join(sysroot, 'ostree', 'repo'));
    ctx.output.out(await formatAdminStatus(state, repo));
  },
};

/** `mco ostree admin status [--sysroot=DIR]`: `ostree admin status`. */
import { join } from 'node:path';
import { Repo } from '../../../ostree/repo.js';
import { AdminStatusError, formatAdminStatus } from '../../../sysroot/admin-status.js';
import { loadSysroot } from '../../../sysroot/sysroot.js';
import type { Command } from '../../command.js';
import { cmdlineReader, adminSysrootOf } from '../../sysroot-args.js';

export const command: Command = {
  summary: 'List deployments',
  usage: '[--sysroot=PATH]',
  options: {},
  async run(args, ctx) {
    const sysroot = adminSysrootOf(args, ctx);
    const readCmdline = cmdlineReader(sysroot, ctx);
    const state = await loadSysroot(sysroot, readCmdline ? { readCmdline } : {});
    const repo = await Repo.open(join(sysroot, 'ostree', 'repo'));
    try {
      ctx.output.out(await formatAdminStatus(state, repo));
    } catch (e) {
      // As ostree: the deployments before the failing one are printed, then the error.
      if (e instanceof AdminStatusError) ctx.output.out(e.partialOutput);
      throw e;
    }
  },
};

import { cleanupLoadedSysroot } from '../../../sysroot/cleanup.js';
import type { Command } from '../../command.js';
import { sysrootEffects, adminSysrootOf } from '../../sysroot-args.js';

export const command: Command = {
  summary: 'Delete untagged deployments and repository objects',
  usage: '[--sysroot=PATH]',
  options: {},
  async run(args, ctx) {
    const sysroot = adminSysrootOf(args, ctx);
    // Booted-ness matters: a staged deployment of the running system must survive.
    const result = await cleanupLoadedSysroot(sysroot, sysrootEffects(sysroot, ctx));
    for (const d of result.removedDeployments) ctx.output.out(`Deleted deployment ${d}\n`);
    if (result.pruned?.pruned) ctx.output.out(`Freed objects: ${result.pruned.pruned}\n`);
  },
};

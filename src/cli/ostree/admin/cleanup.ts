import { cleanupLoadedSysroot } from '../../../sysroot/cleanup.js';
import type { Command } from '../../command.js';
import { crashPointFrom, sysrootOf } from '../../sysroot-args.js';

export const command: Command = {
  summary: 'Delete untagged deployments and repository objects',
  usage: '[--sysroot=PATH]',
  options: {},
  async run(args, ctx) {
    const crashPoint = crashPointFrom(ctx);
    const result = await cleanupLoadedSysroot(sysrootOf(args), crashPoint ? { crashPoint } : {});
    for (const d of result.removedDeployments) ctx.output.out(`Deleted deployment ${d}\n`);
    if (result.pruned?.pruned) ctx.output.out(`Freed objects: ${result.pruned.pruned}\n`);
  },
};

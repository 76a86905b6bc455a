import { cleanupLoadedSysroot } from '../../sysroot/cleanup.js';
import { cleanupDeployments } from '../../sysroot/rollback.js';
import { flag } from '../args.js';
import type { Command } from '../command.js';
import { sysrootEffects, sysrootOf } from '../sysroot-args.js';

export const command: Command = {
  summary: 'Clear cached/pending data',
  usage: '[--sysroot=PATH] [-p] [-r]',
  options: {
    pending: { type: 'boolean', short: 'p', description: 'Remove pending deployment' },
    rollback: { type: 'boolean', short: 'r', description: 'Remove rollback deployment' },
  },
  async run(args, ctx) {
    const sysroot = sysrootOf(args);
    const options = sysrootEffects(sysroot, ctx);
    const which = { pending: flag(args, 'pending'), rollback: flag(args, 'rollback') };
    if (which.pending || which.rollback) {
      const { before, after } = await cleanupDeployments(sysroot, which, options);
      const dropped = before.deployments.filter((x) => !after.includes(x));
      if (which.pending && before.staged) dropped.unshift(before.staged);
      for (const d of dropped) ctx.output.out(`Deleted deployment ${d.checksum}.${d.serial}\n`);
      return;
    }
    const result = await cleanupLoadedSysroot(sysroot, options);
    for (const d of result.removedDeployments) ctx.output.out(`Deleted deployment ${d}\n`);
  },
};

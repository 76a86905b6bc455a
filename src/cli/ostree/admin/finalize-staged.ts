import { finalizeStaged } from '../../../sysroot/stage.js';
import type { Command } from '../../command.js';
import { sysrootEffects, adminSysrootOf } from '../../sysroot-args.js';

export const command: Command = {
  summary: 'Finalize a staged deployment: merge /etc and make it the default boot entry',
  usage: '[--sysroot=PATH]',
  options: {},
  async run(args, ctx) {
    const sysroot = adminSysrootOf(args, ctx);
    const result = await finalizeStaged(sysroot, sysrootEffects(sysroot, ctx));
    if (!result.finalized) {
      // Nothing staged is the common case at shutdown: not an error, as ostree.
      ctx.output.out(result.reason === 'locked' ? 'Not finalizing; found /run/ostree/staged-deployment-locked\n' : 'No staged deployment\n');
      return;
    }
    if (result.etc) ctx.output.out(`${result.etc}\n`);
    const d = result.deployment;
    ctx.output.out(`Finalized ${d.osname} ${d.checksum}.${d.serial}: the default boot entry\n`);
  },
};

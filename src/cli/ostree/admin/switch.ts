import { switchOrigin } from '../../../sysroot/upgrade.js';
import { flag, required, str } from '../../args.js';
import type { Command } from '../../command.js';
import { adminSysrootOf, rebooter, sysrootEffects } from '../../sysroot-args.js';

export const command: Command = {
  summary: 'Construct new tree from REFSPEC and deploy it',
  usage: '[--sysroot=PATH] [--os=OSNAME] REFSPEC',
  options: {
    os: { type: 'string', description: 'Use a different operating system root than the current one', argument: 'OSNAME' },
    reboot: { type: 'boolean', short: 'r', description: 'Reboot after switching trees' },
  },
  async run(args, ctx) {
    const sysroot = adminSysrootOf(args, ctx);
    const refspec = required(args, 0, 'REFSPEC');
    const osname = str(args, 'os');
    const result = await switchOrigin(sysroot, refspec, { ...(osname !== undefined ? { osname } : {}), ...sysrootEffects(sysroot, ctx) });
    if ('etc' in result.deployed) ctx.output.out(`${result.deployed.etc ? `${result.deployed.etc}\n` : ''}${result.deployed.cleanup.transaction}\n`);
    ctx.output.out(`Deleting ref '${result.deletedRef}'\n`);
    if (flag(args, 'reboot')) await rebooter(sysroot, ctx)();
  },
};

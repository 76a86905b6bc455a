import { osInit } from '../../../sysroot/init-fs.js';
import { required } from '../../args.js';
import type { Command } from '../../command.js';
import { adminSysrootOf } from '../../sysroot-args.js';

export const command: Command = {
  summary: 'Initialize empty state for given operating system',
  usage: '[--sysroot=PATH] OSNAME',
  options: {},
  async run(args, ctx) {
    const osname = required(args, 0, 'OSNAME');
    await osInit(adminSysrootOf(args, ctx), osname);
    ctx.output.out(`ostree/deploy/${osname} initialized as OSTree root\n`);
  },
};

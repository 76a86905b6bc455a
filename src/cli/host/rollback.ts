import { rollback } from '../../sysroot/rollback.js';
import type { Command } from '../command.js';
import { sysrootEffects, sysrootOf } from '../sysroot-args.js';

export const command: Command = {
  summary: 'Revert to the previously booted tree',
  usage: '[--sysroot=PATH]',
  options: {},
  async run(args, ctx) {
    const sysroot = sysrootOf(args);
    const { after } = await rollback(sysroot, sysrootEffects(sysroot, ctx));
    const d = after[0]!;
    ctx.output.out(`Moving '${d.checksum}.${d.serial}' to be first deployment\nRun "systemctl reboot" to start a reboot\n`);
  },
};

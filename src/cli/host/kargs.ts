import { changeKargs, currentKargs } from '../../sysroot/kargs.js';
import { strs } from '../args.js';
import type { Command } from '../command.js';
import { sysrootEffects, sysrootOf } from '../sysroot-args.js';

export const command: Command = {
  summary: 'Query or modify kernel arguments',
  usage: '[--sysroot=PATH] [--append=KEY=VALUE]… [--delete=KEY[=VALUE]]… [--replace=KEY=VALUE]…',
  options: {
    append: { type: 'string', multiple: true, description: 'Append kernel argument', argument: 'KEY=VALUE' },
    delete: { type: 'string', multiple: true, description: 'Delete a specific kernel argument key/value pair, or a key with a single value', argument: 'KEY=VALUE' },
    replace: { type: 'string', multiple: true, description: 'Replace existing kernel argument, the user is also able to replace an argument with KEY=VALUE if only one value exist for that argument', argument: 'KEY=VALUE' },
  },
  async run(args, ctx) {
    const sysroot = sysrootOf(args);
    const effects = sysrootEffects(sysroot, ctx);
    const edit = { append: strs(args, 'append'), delete: strs(args, 'delete'), replace: strs(args, 'replace') };
    if (!edit.append.length && !edit.delete.length && !edit.replace.length) {
      ctx.output.out(`${(await currentKargs(sysroot, effects)).join(' ')}\n`);
      return;
    }
    const result = await changeKargs(sysroot, edit, effects);
    ctx.output.out(`Kernel arguments updated: ${result.deployment.kargs.join(' ')}\nRun "systemctl reboot" to start a reboot\n`);
  },
};

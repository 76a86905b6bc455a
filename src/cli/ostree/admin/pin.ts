import { setPinned } from '../../../sysroot/pin.js';
import { flag, required, UsageError } from '../../args.js';
import type { Command } from '../../command.js';
import { adminSysrootOf } from '../../sysroot-args.js';

export const command: Command = {
  summary: 'Change the "pinning" state of a deployment',
  usage: '[--sysroot=PATH] [--unpin] INDEX…',
  options: {
    unpin: { type: 'boolean', short: 'u', description: 'Unset pin' },
  },
  async run(args, ctx) {
    required(args, 0, 'INDEX');
    const pin = !flag(args, 'unpin');
    for (const text of args.positionals) {
      if (!/^\d+$/.test(text)) throw new UsageError(`Invalid index '${text}'`);
      const { changed } = await setPinned(adminSysrootOf(args, ctx), Number(text), pin);
      ctx.output.out(changed ? `Deployment ${text} is now ${pin ? 'pinned' : 'unpinned'}\n` : `Deployment ${text} is already ${pin ? 'pinned' : 'unpinned'}\n`);
    }
  },
};

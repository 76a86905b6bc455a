import { setOrigin } from '../../../sysroot/set-origin.js';
import { required, str, strs, UsageError } from '../../args.js';
import type { Command } from '../../command.js';
import { cmdlineReader, adminSysrootOf } from '../../sysroot-args.js';

export const command: Command = {
  summary: 'Set Origin and create a new origin file',
  usage: '[--sysroot=PATH] [--index=INDEX] [--set=KEY=VALUE]… REMOTENAME URL [BRANCH]',
  options: {
    set: { type: 'string', short: 's', multiple: true, description: 'Set config option KEY=VALUE for remote', argument: 'KEY=VALUE' },
    index: { type: 'string', description: 'Operate on the deployment INDEX, starting from zero', argument: 'INDEX' },
  },
  async run(args, ctx) {
    const name = required(args, 0, 'REMOTENAME');
    const url = required(args, 1, 'URL');
    const index = str(args, 'index');
    if (index !== undefined && !/^\d+$/.test(index)) throw new UsageError(`Invalid index '${index}'`);
    const sysroot = adminSysrootOf(args, ctx);
    const readCmdline = cmdlineReader(sysroot, ctx);
    const branch = args.positionals[2];
    await setOrigin(sysroot, { name, url }, {
      ...(branch !== undefined ? { branch } : {}),
      ...(index !== undefined ? { index: Number(index) } : {}),
      set: strs(args, 'set'),
      ...(readCmdline ? { readCmdline } : {}),
    });
  },
};

/** `mco ostree checksum PATH`: the checksum ostree would give PATH if committed. */
import { checksumPath } from '../../ostree/diff.js';
import { flag, required } from '../args.js';
import type { Command } from '../command.js';

export const command: Command = {
  summary: 'Checksum a file or directory',
  usage: '[OPTION…] PATH',
  options: {
    'ignore-xattrs': { type: 'boolean', description: "Don't include xattrs in checksum" },
  },
  async run(args, ctx) {
    ctx.output.out(`${checksumPath(required(args, 0, 'PATH'), { ignoreXattrs: flag(args, 'ignore-xattrs') })}\n`);
  },
};

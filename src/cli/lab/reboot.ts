import { labReboot } from '../../lab/lab.js';
import { required, str, UsageError } from '../args.js';
import type { Command } from '../command.js';

export const command: Command = {
  summary: 'Reboot a node of the running lab: its daemon stops, its firmware boots the default boot entry, its daemon starts',
  usage: '[--dir=DIR] NODE',
  options: {},
  async run(args, ctx) {
    const node = required(args, 0, 'NODE');
    if (args.positionals.length > 1) throw new UsageError(`unexpected argument "${args.positionals[1]}"`);
    await labReboot(str(args, 'dir') ?? '.lab', node);
    ctx.output.err(`Connection to ${node} closed by remote host.\n`);
  },
};

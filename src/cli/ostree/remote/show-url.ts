import { getRemote } from '../../../ostree/remotes.js';
import { required } from '../../args.js';
import type { Command } from '../../command.js';
import { openRepo } from '../repo-arg.js';

export const command: Command = {
  summary: 'Show remote repository URL',
  usage: '[OPTION…] NAME',
  options: {},
  async run(args, ctx) {
    ctx.output.out(`${getRemote(await openRepo(args, ctx), required(args, 0, 'NAME')).url}\n`);
  },
};

import { required } from '../args.js';
import type { Command } from '../command.js';
import { openRepo } from './repo-arg.js';

export const command: Command = {
  summary: 'Output the target of a rev',
  usage: '--repo=PATH REV',
  options: {},
  async run(args, ctx) {
    const repo = await openRepo(args, ctx);
    ctx.output.out(`${await repo.resolveRev(required(args, 0, 'REV'))}\n`);
  },
};

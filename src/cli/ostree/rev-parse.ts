import { RepoError } from '../../ostree/repo.js';
import { flag, required } from '../args.js';
import type { Command } from '../command.js';
import { openRepo } from './repo-arg.js';

export const command: Command = {
  summary: 'Output the target of a rev',
  usage: '--repo=PATH REV',
  options: {
    single: { type: 'boolean', short: 'S', description: 'If the repository has exactly one commit, then print it; any other case will result in an error' },
  },
  async run(args, ctx) {
    const repo = await openRepo(args, ctx);
    if (flag(args, 'single')) {
      const commits = (await repo.listObjects()).filter(([, type]) => type === 'commit');
      if (commits.length === 0) throw new RepoError('No commit objects found');
      if (commits.length > 1) throw new RepoError(`Multiple commit objects found`);
      ctx.output.out(`${commits[0]![0]}\n`);
      return;
    }
    ctx.output.out(`${await repo.resolveRev(required(args, 0, 'REV'))}\n`);
  },
};

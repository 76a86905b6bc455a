/** `mco ostree summary -u`: regenerates the repository's summary file. */
import { RepoError } from '../../ostree/repo.js';
import { regenerateSummary } from '../../ostree/summary.js';
import { flag } from '../args.js';
import type { Command } from '../command.js';
import { openRepo } from './repo-arg.js';

export const command: Command = {
  summary: 'Manage summary metadata',
  usage: '--repo=PATH -u',
  options: {
    update: { type: 'boolean', short: 'u', description: 'Update the summary' },
  },
  async run(args, ctx) {
    const repo = await openRepo(args, ctx);
    if (!flag(args, 'update')) throw new RepoError('No option specified; use -u to update summary');
    await regenerateSummary(repo);
  },
};

import { formatCommit } from '../../ostree/describe.js';
import type { Commit } from '../../ostree/objects.js';
import { RepoError } from '../../ostree/repo.js';
import { required } from '../args.js';
import type { Command } from '../command.js';
import { openRepo } from './repo-arg.js';

export const command: Command = {
  summary: 'Show log starting at a commit or ref',
  usage: '--repo=PATH REV',
  options: {},
  async run(args, ctx) {
    const repo = await openRepo(args, ctx);
    let checksum: string | null = await repo.resolveRev(required(args, 0, 'REV'));
    let first = true;
    while (checksum) {
      if (!first && !(await repo.hasObject('commit', checksum))) {
        // A pull with limited depth leaves parents out: ostree says so and stops.
        ctx.output.out('<< History beyond this commit not fetched >>\n');
        break;
      }
      const commit: Commit = await repo.loadCommit(checksum).catch((e: unknown) => {
        throw e instanceof RepoError ? new RepoError(`Commit ${checksum}: ${e.message}`, { cause: e }) : e;
      });
      ctx.output.out(formatCommit(checksum, commit));
      checksum = commit.parent;
      first = false;
    }
  },
};

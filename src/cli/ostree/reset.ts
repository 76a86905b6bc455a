/** `mco ostree reset REF COMMIT`: points an existing ref at another commit. */
import { RepoError } from '../../ostree/repo.js';
import { UsageError } from '../args.js';
import type { Command } from '../command.js';
import { openRepo } from './repo-arg.js';

export const command: Command = {
  summary: 'Reset a REF to a previous COMMIT',
  usage: '--repo=PATH REF COMMIT',
  options: {},
  async run(args, ctx) {
    const [ref, target] = args.positionals;
    if (ref === undefined || target === undefined) throw new UsageError('A REF and COMMIT argument is required');
    const repo = await openRepo(args, ctx);
    if (!(await repo.listRefs()).some(([name]) => name === ref)) throw new RepoError(`Invalid ref '${ref}'`);
    await repo.setRef(ref, await repo.resolveRev(target));
  },
};

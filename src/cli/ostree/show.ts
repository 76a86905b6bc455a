import { formatCommit } from '../../ostree/describe.js';
import { required } from '../args.js';
import type { Command } from '../command.js';
import { openRepo } from './repo-arg.js';

export const command: Command = {
  summary: 'Output a metadata object',
  usage: '--repo=PATH [OPTION…] OBJECT',
  options: {},
  async run(args, ctx) {
    const repo = await openRepo(args, ctx);
    const checksum = await repo.resolveRev(required(args, 0, 'OBJECT'));
    ctx.output.out(formatCommit(checksum, await repo.loadCommit(checksum)));
  },
};

import { parseRepoMode, Repo } from '../../ostree/repo.js';
import { str } from '../args.js';
import type { Command } from '../command.js';
import { repoPath } from './repo-arg.js';

export const command: Command = {
  summary: 'Initialize a new empty repository',
  usage: '--repo=PATH [--mode=bare|bare-user|bare-user-only|archive]',
  options: {
    mode: { type: 'string', description: 'Initialize repository in given mode (bare, bare-user, bare-user-only, archive)', argument: 'MODE' },
  },
  async run(args, ctx) {
    await Repo.init(repoPath(args, ctx), { mode: parseRepoMode(str(args, 'mode') ?? 'bare') });
  },
};

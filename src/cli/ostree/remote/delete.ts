import { deleteRemote } from '../../../ostree/remotes.js';
import { flag, required } from '../../args.js';
import type { Command } from '../../command.js';
import { openRepo } from '../repo-arg.js';

export const command: Command = {
  summary: 'Delete a remote repository',
  usage: '[OPTION…] NAME',
  options: {
    'if-exists': { type: 'boolean', description: 'Do nothing if the provided remote does not exist' },
  },
  async run(args, ctx) {
    await deleteRemote(await openRepo(args, ctx), required(args, 0, 'NAME'), { ifExists: flag(args, 'if-exists') });
  },
};

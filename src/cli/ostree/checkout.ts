import { checkout } from '../../ostree/checkout.js';
import { flag, required, str } from '../args.js';
import type { Command } from '../command.js';
import { openRepo } from './repo-arg.js';

export const command: Command = {
  summary: 'Check out a commit into a filesystem tree',
  usage: '--repo=PATH [OPTION…] COMMIT [DESTINATION]',
  options: {
    'user-mode': { type: 'boolean', short: 'U', description: 'Do not change file ownership or initialize extended attributes' },
    union: { type: 'boolean', description: 'Keep existing directories, overwrite existing files' },
    subpath: { type: 'string', description: 'Checkout sub-directory PATH', argument: 'PATH' },
  },
  async run(args, ctx) {
    const rev = required(args, 0, 'COMMIT');
    const subpath = str(args, 'subpath');
    await checkout(await openRepo(args, ctx), rev, args.positionals[1] ?? rev, {
      userMode: flag(args, 'user-mode'),
      union: flag(args, 'union'),
      ...(subpath !== undefined ? { subpath } : {}),
    });
  },
};

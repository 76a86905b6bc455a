import { addRemote } from '../../../ostree/remotes.js';
import { flag, required, strs, UsageError } from '../../args.js';
import type { Command } from '../../command.js';
import { openRepo } from '../repo-arg.js';

export const command: Command = {
  summary: 'Add a remote repository',
  usage: '[OPTION…] NAME [metalink=|mirrorlist=]URL [BRANCH…]',
  options: {
    set: { type: 'string', multiple: true, description: 'Set config option KEY=VALUE for remote', argument: 'KEY=VALUE' },
    'no-gpg-verify': { type: 'boolean', description: 'Disable GPG verification' },
    'no-sign-verify': { type: 'boolean', description: 'Disable signature verification' },
    'if-not-exists': { type: 'boolean', description: 'Do nothing if the provided remote exists' },
    force: { type: 'boolean', description: 'Replace the provided remote if it exists' },
  },
  async run(args, ctx) {
    const name = required(args, 0, 'NAME');
    const url = required(args, 1, 'URL');
    const set = strs(args, 'set').map((kv): [string, string] => {
      const eq = kv.indexOf('=');
      if (eq <= 0) throw new UsageError(`--set takes KEY=VALUE, not "${kv}"`);
      return [kv.slice(0, eq), kv.slice(eq + 1)];
    });
    await addRemote(await openRepo(args, ctx), name, url, {
      branches: args.positionals.slice(2), set, noGpgVerify: flag(args, 'no-gpg-verify'),
      noSignVerify: flag(args, 'no-sign-verify'), ifNotExists: flag(args, 'if-not-exists'), force: flag(args, 'force'),
    });
  },
};

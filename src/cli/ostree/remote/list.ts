import { getRemote, listRemotes } from '../../../ostree/remotes.js';
import { flag } from '../../args.js';
import type { Command } from '../../command.js';
import { openRepo } from '../repo-arg.js';

export const command: Command = {
  summary: 'List remote repository names',
  usage: '[OPTION…]',
  options: {
    'show-urls': { type: 'boolean', short: 'u', description: 'Show remote URLs in list' },
  },
  async run(args, ctx) {
    const repo = await openRepo(args, ctx);
    const names = listRemotes(repo);
    if (!flag(args, 'show-urls')) {
      for (const n of names) ctx.output.out(`${n}\n`);
      return;
    }
    // Names padded to the longest, then two spaces, as ostree prints them.
    const width = Math.max(0, ...names.map((n) => n.length));
    for (const n of names) ctx.output.out(`${n.padEnd(width)}  ${getRemote(repo, n).url}\n`);
  },
};

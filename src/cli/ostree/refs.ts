import { flag } from '../args.js';
import type { Command } from '../command.js';
import { openRepo } from './repo-arg.js';

export const command: Command = {
  summary: 'List refs, or delete them',
  usage: '--repo=PATH [OPTION…] [PREFIX…]',
  options: {
    delete: { type: 'boolean', description: 'Delete refs which match PREFIX' },
    list: { type: 'boolean', description: 'Do not remove the prefix from the refs' },
  },
  async run(args, ctx) {
    const repo = await openRepo(args, ctx);
    const refs = (await repo.listRefs()).map(([name]) => name);
    const prefixes = args.positionals;
    if (flag(args, 'delete')) {
      const doomed = refs.filter((r) => prefixes.some((p) => r === p || r.startsWith(p.endsWith('/') ? p : `${p}/`)));
      for (const ref of doomed) await repo.setRef(ref, null);
      return;
    }
    if (prefixes.length === 0) {
      for (const r of refs) ctx.output.out(`${r}\n`);
      return;
    }
    // With a prefix, ostree lists the refs under it with the prefix removed (unless --list).
    for (const prefix of prefixes) {
      const base = prefix.endsWith('/') ? prefix : `${prefix}/`;
      for (const r of refs) {
        if (r.startsWith(base)) ctx.output.out(`${flag(args, 'list') ? r : r.slice(base.length)}\n`);
        else if (r === prefix) ctx.output.out(`${r}\n`);
      }
    }
  },
};

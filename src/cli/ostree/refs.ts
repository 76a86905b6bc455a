import { RepoError, splitRefspec, validateRefName } from '../../ostree/repo.js';
import { flag, str } from '../args.js';
import type { Command } from '../command.js';
import { openRepo } from './repo-arg.js';

export const command: Command = {
  summary: 'List refs, or create or delete them',
  usage: '--repo=PATH [OPTION…] [PREFIX…]',
  options: {
    delete: { type: 'boolean', description: 'Delete refs which match PREFIX' },
    list: { type: 'boolean', description: 'Do not remove the prefix from the refs' },
    create: { type: 'string', description: 'Create a new ref for an existing commit', argument: 'NEWREF' },
    force: { type: 'boolean', description: 'Overwrite any existing ref when creating a new one' },
    alias: { type: 'boolean', short: 'A', description: 'If used with --create, create an alias, otherwise just list aliases' },
  },
  async run(args, ctx) {
    const repo = await openRepo(args, ctx);
    const prefixes = args.positionals;
    const create = str(args, 'create');
    if (create !== undefined) {
      if (prefixes.length === 0) throw new RepoError('You must specify a revision when creating a new ref');
      if (prefixes.length > 1) throw new RepoError('You must specify only 1 existing ref when creating a new ref');
      const existing = prefixes[0]!;
      validateRefName(splitRefspec(create)[1]);
      const aliases = await repo.listRefAliases();
      // Re-pointing an alias needs no --force; replacing a ref does.
      const replacesAlias = flag(args, 'alias') && aliases.some(([a]) => a === create);
      // As ostree looks the new name up (as a rev): a short checksum of a commit counts as taken.
      const taken = repo.resolvePartialChecksum(create) ?? (await repo.readRef(create));
      if (!flag(args, 'force') && !replacesAlias && taken !== undefined) {
        throw new RepoError(`--create specified but ref ${create} already exists`);
      }
      if (flag(args, 'alias')) {
        if (create.includes(':')) throw new RepoError(`Cannot create alias to remote ref: ${create}`);
        if (existing.includes(':') || (await repo.readRef(existing)) === undefined) throw new RepoError(`Cannot create alias to non-existent ref: ${existing}`);
        await repo.setRefAlias(create, existing);
      } else {
        await repo.setRef(create, await repo.resolveRev(existing));
      }
      return;
    }
    const refs = (await repo.listRefs()).map(([name]) => name);
    if (flag(args, 'delete')) {
      if (prefixes.length === 0) throw new RepoError('At least one PREFIX is required when deleting refs');
      const doomed = refs.filter((r) => prefixes.some((p) => r === p || r.startsWith(p.endsWith('/') ? p : `${p}/`)));
      // A ref an alias follows stays, as in ostree: the alias would dangle.
      for (const [alias, target] of await repo.listRefAliases()) {
        if (doomed.includes(target) && !doomed.includes(alias)) throw new RepoError(`Ref '${target}' has an active alias: '${alias}'`);
      }
      for (const ref of doomed) await repo.setRef(ref, null);
      return;
    }
    if (flag(args, 'alias')) {
      for (const [alias, target] of await repo.listRefAliases()) ctx.output.out(`${alias} -> ${target}\n`);
      return;
    }
    if (prefixes.length === 0) {
      for (const r of refs) ctx.output.out(`${r}\n`);
      return;
    }
    for (const prefix of prefixes) {
      // `REMOTE:` (or `REMOTE:.`, as flatpak writes it): every ref of that remote.
      const remote = /^([^:/]+):\.?$/.exec(prefix)?.[1];
      if (remote !== undefined) {
        for (const r of refs) if (r.startsWith(`${remote}:`)) ctx.output.out(`${r}\n`);
        continue;
      }
      // With a prefix, ostree lists the refs under it with the prefix removed (unless --list);
      // a remote's (`REMOTE:PREFIX`) keep their `REMOTE:`.
      const base = prefix.endsWith('/') ? prefix : `${prefix}/`;
      const remotePart = prefix.includes(':') ? prefix.slice(0, prefix.indexOf(':') + 1) : '';
      for (const r of refs) {
        if (r.startsWith(base)) ctx.output.out(`${flag(args, 'list') ? r : remotePart + r.slice(base.length)}\n`);
        else if (r === prefix) ctx.output.out(`${r}\n`);
      }
    }
  },
};

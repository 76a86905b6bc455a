/** `mco ostree config get|set|unset SECTION.KEY [VALUE]`: reads and edits the repo's `config`. */
import { join } from 'node:path';
import { atomicWrite, RepoError } from '../../ostree/repo.js';
import { str, UsageError } from '../args.js';
import type { Command } from '../command.js';
import { openRepo } from './repo-arg.js';

export const command: Command = {
  summary: 'Change repo configuration settings',
  usage: '--repo=PATH [OPTION…] (get|set|unset) SECTION.KEY [VALUE]',
  options: {
    group: { type: 'string', description: 'Group name for remotes, etc.', argument: 'GROUP' },
  },
  async run(args, ctx) {
    const [op, name, value] = args.positionals;
    if (op === undefined) throw new UsageError('OPERATION must be specified');
    if (op !== 'get' && op !== 'set' && op !== 'unset') throw new UsageError(`Unknown operation ${op}`);
    if (name === undefined) throw new UsageError(`${str(args, 'group') !== undefined ? 'KEY' : 'SECTION.KEY'} must be specified`);
    if (args.positionals.length > (op === 'set' ? 3 : 2)) throw new UsageError('Too many arguments given');
    const [group, key] = splitName(name, str(args, 'group'));
    const repo = await openRepo(args, ctx);
    const config = repo.config;
    if (op === 'get') {
      if (!config.hasGroup(group)) throw new RepoError(`Key file does not have group “${group}”`);
      const found = config.get(group, key);
      if (found === undefined) throw new RepoError(`Key file does not have key “${key}” in group “${group}”`);
      ctx.output.out(`${found}\n`);
      return;
    }
    if (op === 'set') {
      if (value === undefined) throw new UsageError('VALUE must be specified');
      config.set(group, key, value);
    } else {
      config.delete(group, key);
    }
    await atomicWrite(join(repo.path, 'config'), repo.tmpDir, config.toString(), 0o644);
  },
};

/** `SECTION.KEY` splits at its last dot (`remote "origin".url`); with --group the name is the key. */
function splitName(name: string, group: string | undefined): [string, string] {
  if (group !== undefined) return [group, name];
  const dot = name.lastIndexOf('.');
  if (dot <= 0 || dot === name.length - 1) throw new UsageError(`Section or key must be specified in '${name}'`);
  return [name.slice(0, dot), name.slice(dot + 1)];
}

/** `mco ostree prune`: deletes unreachable objects and prints ostree's summary. */
import { formatPruneResult, pruneRepo } from '../../ostree/prune.js';
import { flag, str, UsageError } from '../args.js';
import type { Command } from '../command.js';
import { openRepo } from './repo-arg.js';

export const command: Command = {
  summary: 'Search for unreachable objects',
  usage: '--repo=PATH [OPTION…]',
  options: {
    'no-prune': { type: 'boolean', description: "Only display unreachable objects; don't delete" },
    'refs-only': { type: 'boolean', description: 'Only compute reachability via refs' },
    depth: { type: 'string', description: 'Only traverse DEPTH parents for each commit (default: -1=infinite)', argument: 'DEPTH' },
  },
  async run(args, ctx) {
    const depth = parseDepth(str(args, 'depth') ?? '-1');
    const noPrune = flag(args, 'no-prune');
    const repo = await openRepo(args, ctx);
    const result = await pruneRepo(repo, { refsOnly: flag(args, 'refs-only'), depth, noPrune });
    ctx.output.out(formatPruneResult(result, { noPrune }));
  },
};

export function parseDepth(text: string): number {
  if (!/^-?\d+$/.test(text) || Number(text) < -1) throw new UsageError(`Invalid depth "${text}": expected -1 (infinite) or a number of parents`);
  return Number(text);
}

import { OsContentCache } from '../../image/os-content-cache.js';
import { str, strs, UsageError } from '../args.js';
import type { Command } from '../command.js';

export const command: Command = {
  summary: 'Remove every cached OS image that no --keep image names (the images the pools still reference)',
  usage: '--cache-dir DIR [--keep IMAGE@sha256:DIGEST]…',
  options: {
    'cache-dir': { type: 'string', description: 'The cache directory of mco os-content serve', argument: 'DIR' },
    keep: { type: 'string', multiple: true, description: 'An image still referenced (by digest); repeat for each', argument: 'IMAGE' },
  },
  async run(args, ctx) {
    const cacheDir = str(args, 'cache-dir');
    if (!cacheDir) throw new UsageError('--cache-dir must name the cache directory');
    if (args.positionals.length > 0) throw new UsageError(`unexpected argument "${args.positionals[0]}" (images to keep are given with --keep)`);
    const removed = OsContentCache.open({ cacheDir }).prune(strs(args, 'keep'));
    for (const c of removed) ctx.output.out(`Removed ${c.image} (commit ${c.commit})\n`);
    if (removed.length === 0) ctx.output.out('Nothing to prune\n');
  },
};

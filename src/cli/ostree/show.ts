import { formatCommit } from '../../ostree/describe.js';
import { decodeDetachedMetadata } from '../../ostree/objects.js';
import { byteswapVariant } from '../../ostree/gvariant.js';
import { printGVariant } from '../../ostree/gvariant-text.js';
import { RepoError } from '../../ostree/repo.js';
import { flag, required, str } from '../args.js';
import type { Command } from '../command.js';
import { openRepo } from './repo-arg.js';

export const command: Command = {
  summary: 'Output a metadata object',
  usage: '--repo=PATH [OPTION…] OBJECT',
  options: {
    'print-metadata-key': { type: 'string', description: 'Print string value of metadata key', argument: 'KEY' },
    'print-detached-metadata-key': { type: 'string', description: 'Print string value of detached metadata key', argument: 'KEY' },
    'no-byteswap': { type: 'boolean', short: 'B', description: 'Do not automatically convert variant data from big endian' },
  },
  async run(args, ctx) {
    const repo = await openRepo(args, ctx);
    const checksum = await repo.resolveRev(required(args, 0, 'OBJECT'));
    const commit = await repo.loadCommit(checksum);
    const key = str(args, 'print-metadata-key');
    const detachedKey = str(args, 'print-detached-metadata-key');
    if (key !== undefined || detachedKey !== undefined) {
      const detached = await repo.readDetachedMetadata(checksum);
      const dict = key !== undefined ? commit.metadata : detached ? decodeDetachedMetadata(detached) : [];
      const wanted = key ?? detachedKey!;
      const found = dict.find(([k]) => k === wanted);
      if (!found) throw new RepoError(`No such metadata key '${wanted}'`);
      // As ostree: metadata is taken to be big-endian (as on the hosts that first wrote it) unless -B.
      const value = flag(args, 'no-byteswap') ? found[1] : byteswapVariant(found[1]);
      ctx.output.out(`${printGVariant(value, { typeAnnotate: true })}\n`);
      return;
    }
    ctx.output.out(formatCommit(checksum, commit));
  },
};

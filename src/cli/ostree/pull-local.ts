/** `mco ostree pull-local`: copies commits from another local repository. */
import { formatPullResult, pullLocal } from '../../ostree/pull-local.js';
import { Repo } from '../../ostree/repo.js';
import { flag, required, str } from '../args.js';
import type { Command } from '../command.js';
import { parseDepth } from './prune.js';
import { openRepo } from './repo-arg.js';

export const command: Command = {
  summary: 'Copy data from SRC_REPO',
  usage: '--repo=PATH [OPTION…] SRC_REPO [REFS…]',
  options: {
    remote: { type: 'string', description: 'Add REMOTE to refspec', argument: 'REMOTE' },
    untrusted: { type: 'boolean', description: 'Verify checksums of local sources (always enabled for HTTP pulls)' },
    'disable-verify-bindings': { type: 'boolean', description: 'Do not verify commit bindings' },
    'bareuseronly-files': { type: 'boolean', description: 'Reject regular files with mode outside of 0775 (world writable, suid, etc.)' },
    depth: { type: 'string', description: 'Traverse DEPTH parents (-1=infinite) (default: 0)', argument: 'DEPTH' },
    'commit-metadata-only': { type: 'boolean', description: 'Fetch only the commit metadata' },
  },
  async run(args, ctx) {
    const srcPath = required(args, 0, 'SRC_REPO');
    const depth = parseDepth(str(args, 'depth') ?? '0');
    const repo = await openRepo(args, ctx);
    const source = await Repo.open(srcPath);
    const remote = str(args, 'remote');
    const result = await pullLocal(repo, source, {
      refs: args.positionals.slice(1),
      ...(remote !== undefined ? { remote } : {}),
      untrusted: flag(args, 'untrusted'),
      verifyBindings: !flag(args, 'disable-verify-bindings'),
      bareUserOnlyFiles: flag(args, 'bareuseronly-files'),
      depth,
      commitMetadataOnly: flag(args, 'commit-metadata-only'),
    });
    ctx.output.out(formatPullResult(result));
  },
};

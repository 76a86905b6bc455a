import { readFileSync } from 'node:fs';
import { checkout } from '../../ostree/checkout.js';
import { parseSkipList } from '../../ostree/modifier.js';
import { flag, required, str } from '../args.js';
import type { Command } from '../command.js';
import { openRepo } from './repo-arg.js';

export const command: Command = {
  summary: 'Check out a commit into a filesystem tree',
  usage: '--repo=PATH [OPTION…] COMMIT [DESTINATION]',
  options: {
    'user-mode': { type: 'boolean', short: 'U', description: 'Do not change file ownership or initialize extended attributes' },
    union: { type: 'boolean', description: 'Keep existing directories, overwrite existing files' },
    'union-add': { type: 'boolean', description: 'Keep existing files/directories, only add new' },
    'union-identical': { type: 'boolean', description: "When layering checkouts, error out if a file would be replaced with a different version, but add new files and directories" },
    whiteouts: { type: 'boolean', description: 'Process \'whiteout\' (Docker style) entries' },
    subpath: { type: 'string', description: 'Checkout sub-directory PATH', argument: 'PATH' },
    'allow-noent': { type: 'boolean', description: 'Do nothing if specified path does not exist' },
    'require-hardlinks': { type: 'boolean', short: 'H', description: "Do not fall back to full copies if hardlinking fails" },
    'force-copy': { type: 'boolean', short: 'C', description: 'Never hardlink (but may reflink if available)' },
    'force-copy-zerosized': { type: 'boolean', short: 'z', description: 'Do not hardlink zero-sized files (always the case)' },
    'bareuseronly-dirs': { type: 'boolean', short: 'M', description: 'Suppress mode bits outside of 0775 for directories (suid, world writable, etc.)' },
    'skip-list': { type: 'string', description: 'File containing list of files to skip', argument: 'PATH' },
    'process-passthrough-whiteouts': { type: 'boolean', description: 'Enable overlayfs whiteout extraction into char 0:0 devices' },
    'disable-cache': { type: 'boolean', description: 'Do not update or use the internal repository uncompressed object cache' },
  },
  async run(args, ctx) {
    const rev = required(args, 0, 'COMMIT');
    const subpath = str(args, 'subpath');
    const skipList = str(args, 'skip-list');
    await checkout(await openRepo(args, ctx), rev, args.positionals[1] ?? rev, {
      userMode: flag(args, 'user-mode'),
      union: flag(args, 'union'),
      unionAdd: flag(args, 'union-add'),
      unionIdentical: flag(args, 'union-identical'),
      whiteouts: flag(args, 'whiteouts'),
      requireHardlinks: flag(args, 'require-hardlinks'),
      forceCopy: flag(args, 'force-copy'),
      bareUserOnlyDirs: flag(args, 'bareuseronly-dirs'),
      allowNoent: flag(args, 'allow-noent'),
      uncompressedCache: !flag(args, 'disable-cache'),
      passthroughWhiteouts: flag(args, 'process-passthrough-whiteouts'),
      ...(subpath !== undefined ? { subpath } : {}),
      ...(skipList !== undefined ? { skipList: parseSkipList(readFileSync(skipList, 'utf8')) } : {}),
    });
  },
};

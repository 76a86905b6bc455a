import { pipeline } from 'node:stream/promises';
import { Writable } from 'node:stream';
import { lookupPath } from '../../ostree/path.js';
import { RepoError } from '../../ostree/repo.js';
import { required } from '../args.js';
import type { Command } from '../command.js';
import { openRepo } from './repo-arg.js';

export const command: Command = {
  summary: 'Concatenate contents of files',
  usage: '--repo=PATH COMMIT PATH…',
  options: {},
  async run(args, ctx) {
    const repo = await openRepo(args, ctx);
    const commit = await repo.resolveRev(required(args, 0, 'COMMIT'));
    required(args, 1, 'PATH');
    for (const path of args.positionals.slice(1)) {
      const entry = await lookupPath(repo, commit, path);
      if (entry.kind !== 'file') throw new RepoError(`Is a directory: ${entry.path}`);
      const sink = new Writable({ write: (chunk: Buffer, _enc, done) => { ctx.output.out(chunk); done(); } });
      await pipeline(await repo.openFileContent(entry.checksum), sink);
    }
  },
};

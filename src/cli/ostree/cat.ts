import { pipeline } from 'node:stream/promises';
import { Writable } from 'node:stream';
import { posix } from 'node:path';
import { isSymlinkMode } from '../../ostree/objects.js';
import { lookupPath } from '../../ostree/path.js';
import { RepoError, type Repo } from '../../ostree/repo.js';
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
      const entry = await followSymlinks(repo, commit, path);
      const sink = new Writable({ write: (chunk: Buffer, _enc, done) => { ctx.output.out(chunk); done(); } });
      await pipeline(await repo.openFileContent(entry.checksum), sink);
    }
  },
};

/** The file at `path`, through symlinks (resolved inside the commit, as ostree reads them). */
async function followSymlinks(repo: Repo, commit: string, path: string): Promise<{ checksum: string }> {
  let current = path;
  for (let hops = 0; hops < 40; hops++) {
    const entry = await lookupPath(repo, commit, current);
    if (entry.kind !== 'file') throw new RepoError(`Can't open directory: ${entry.path}`);
    const { header } = await repo.statFileObject(entry.checksum);
    if (!isSymlinkMode(header.mode)) return entry;
    current = posix.resolve(posix.dirname(entry.path), header.symlinkTarget);
  }
  throw new RepoError(`Too many levels of symbolic links: ${path}`);
}

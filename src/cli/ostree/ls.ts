import { formatDirLine, formatFileLine } from '../../ostree/describe.js';
import { lookupPath, type TreeEntry } from '../../ostree/path.js';
import type { Repo } from '../../ostree/repo.js';
import { flag, required } from '../args.js';
import type { Command } from '../command.js';
import type { Output } from '../output.js';
import { openRepo } from './repo-arg.js';

interface LsFlags {
  recursive: boolean;
  dirOnly: boolean;
  checksums: boolean;
}

export const command: Command = {
  summary: 'List file paths',
  usage: '--repo=PATH [OPTION…] COMMIT [PATH…]',
  options: {
    recursive: { type: 'boolean', short: 'R', description: 'Print directory recursively' },
    'dironly': { type: 'boolean', short: 'd', description: 'Only list directories' },
    checksum: { type: 'boolean', short: 'C', description: 'Print checksum' },
  },
  async run(args, ctx) {
    const repo = await openRepo(args, ctx);
    const commit = await repo.resolveRev(required(args, 0, 'COMMIT'));
    const flags = { recursive: flag(args, 'recursive'), dirOnly: flag(args, 'dironly'), checksums: flag(args, 'checksum') };
    const paths = args.positionals.length > 1 ? args.positionals.slice(1) : ['/'];
    for (const path of paths) await list(repo, await lookupPath(repo, commit, path), flags, ctx.output, true);
  },
};

async function list(repo: Repo, entry: TreeEntry, flags: LsFlags, out: Output, top: boolean): Promise<void> {
  if (entry.kind === 'file') {
    const { header, size } = await repo.statFileObject(entry.checksum);
    out.out(formatFileLine(entry.path, header, size, flags.checksums ? entry.checksum : undefined));
    return;
  }
  out.out(formatDirLine(entry.path, await repo.loadDirMeta(entry.meta), flags.checksums ? [entry.tree, entry.meta] : undefined));
  if (flags.dirOnly || (!top && !flags.recursive)) return;
  const tree = await repo.loadDirTree(entry.tree);
  const child = (name: string) => (entry.path === '/' ? `/${name}` : `${entry.path}/${name}`);
  for (const [name, checksum] of tree.files) await list(repo, { kind: 'file', path: child(name), checksum }, flags, out, false);
  for (const [name, t, m] of tree.dirs) await list(repo, { kind: 'dir', path: child(name), tree: t, meta: m }, flags, out, false);
}

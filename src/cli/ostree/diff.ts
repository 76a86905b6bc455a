/** `mco ostree diff SRC DST`: what changed between two commits, or a commit and a directory. */
import { diffTrees, type DiffSide } from '../../ostree/diff.js';
import type { Repo } from '../../ostree/repo.js';
import { str, UsageError } from '../args.js';
import type { Command } from '../command.js';
import { openRepo } from './repo-arg.js';

export const command: Command = {
  summary: 'Compare directory TARGETDIR against revision REV',
  usage: '--repo=PATH [OPTION…] REV TARGETDIR',
  options: {
    'owner-uid': { type: 'string', description: 'Use file ownership user id for local files', argument: 'UID' },
    'owner-gid': { type: 'string', description: 'Use file ownership group id for local files', argument: 'GID' },
  },
  async run(args, ctx) {
    const [src, dst] = args.positionals;
    if (src === undefined) throw new UsageError('REV must be specified');
    if (dst === undefined) throw new UsageError('TARGETDIR must be specified');
    const repo = await openRepo(args, ctx);
    const uid = str(args, 'owner-uid');
    const gid = str(args, 'owner-gid');
    const diff = diffTrees(await side(repo, src), await side(repo, dst), {
      ...(uid !== undefined ? { ownerUid: parseOwner(uid, 'owner-uid') } : {}),
      ...(gid !== undefined ? { ownerGid: parseOwner(gid, 'owner-gid') } : {}),
    });
    const lines = [...diff.modified.map((p) => `M    ${p}`), ...diff.removed.map((p) => `D    ${p}`), ...diff.added.map((p) => `A    ${p}`)];
    ctx.output.out(lines.map((l) => `${l}\n`).join(''));
  },
};

/** As ostree: an argument starting with `/` or `./` is a directory, anything else a rev. */
async function side(repo: Repo, arg: string): Promise<DiffSide> {
  if (arg.startsWith('/') || arg.startsWith('./')) return { dir: arg.replace(/\/+$/, '') || '/' };
  const { rootTree, rootMeta } = await repo.loadCommit(await repo.resolveRev(arg));
  return { repo, tree: rootTree, meta: rootMeta };
}

function parseOwner(text: string, name: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(n) || n > 0xffffffff) throw new UsageError(`Cannot parse integer value “${text}” for --${name}`);
  return n;
}

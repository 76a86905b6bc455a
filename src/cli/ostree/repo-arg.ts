/** The repository a verb works on: `--repo`, else `$OSTREE_REPO`, as the ostree CLI does. */
import { Repo } from '../../ostree/repo.js';
import { str, UsageError, type Parsed } from '../args.js';
import type { Context } from '../command.js';

export function repoPath(args: Parsed, ctx: Context): string {
  const path = str(args, 'repo') ?? ctx.env['OSTREE_REPO'];
  if (!path) throw new UsageError('Command requires a --repo argument');
  return path;
}

export function openRepo(args: Parsed, ctx: Context): Promise<Repo> {
  return Repo.open(repoPath(args, ctx));
}

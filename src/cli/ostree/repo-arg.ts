/**
 * The repository a verb works on: `--repo`, else `$OSTREE_REPO`, else the current directory
 * when it is a repository, as the ostree CLI does.
 */
import { statSync } from 'node:fs';
import { Repo } from '../../ostree/repo.js';
import { str, UsageError, type Parsed } from '../args.js';
import type { Context } from '../command.js';

export function repoPath(args: Parsed, ctx: Context): string {
  const path = str(args, 'repo') ?? ctx.env['OSTREE_REPO'] ?? (cwdIsRepo() ? '.' : undefined);
  if (!path) throw new UsageError('Command requires a --repo argument');
  return path;
}

export function openRepo(args: Parsed, ctx: Context): Promise<Repo> {
  return Repo.open(repoPath(args, ctx));
}

function cwdIsRepo(): boolean {
  return !!statSync('objects', { throwIfNoEntry: false })?.isDirectory() && !!statSync('config', { throwIfNoEntry: false })?.isFile();
}

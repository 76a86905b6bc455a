/** `mco ostree pull REMOTE [REF|CHECKSUM…]`: fetches commits over HTTP (or from a file:// URL) from a configured remote. */
import { fileURLToPath } from 'node:url';
import { isChecksum } from '../../ostree/objects.js';
import { formatSize } from '../../ostree/prune.js';
import { pullFromRemote, type PullProgress, type PullResult } from '../../ostree/pull-http.js';
import { getRemote } from '../../ostree/remotes.js';
import { formatPullResult, pullLocal } from '../../ostree/pull-local.js';
import { Repo, splitRefspec, RepoError } from '../../ostree/repo.js';
import { flag, positiveInt, required, str, UsageError } from '../args.js';
import type { Command } from '../command.js';
import { parseDepth } from './prune.js';
import { openRepo } from './repo-arg.js';

export const command: Command = {
  summary: 'Download data from remote repository',
  usage: '--repo=PATH [OPTION…] REMOTE [BRANCH|CHECKSUM…]',
  options: {
    depth: { type: 'string', description: 'Traverse DEPTH parents (-1=infinite) (default: 0)', argument: 'DEPTH' },
    'commit-metadata-only': { type: 'boolean', description: 'Fetch only the commit metadata' },
    mirror: { type: 'boolean', description: 'Write refs suitable for a mirror and fetch all refspecs if none provided' },
    'disable-static-deltas': { type: 'boolean', description: 'Do not use static deltas (never used: accepted for compatibility)' },
    untrusted: { type: 'boolean', description: 'Verify checksums of local sources (always enabled for HTTP pulls)' },
    'disable-fsync': { type: 'boolean', description: 'Do not invoke fsync()' },
    'per-object-fsync': { type: 'boolean', description: 'Accepted for compatibility: objects are synced to disk before the refs move either way' },
    concurrency: { type: 'string', description: 'Requests in flight at once (default: 8)', argument: 'N' },
    timeout: { type: 'string', description: 'Seconds to wait for a connection, a response or more of its body (default: 30)', argument: 'SECONDS' },
  },
  async run(args, ctx) {
    const [remoteArg, refArg] = splitRefspec(required(args, 0, 'REMOTE'));
    const remoteName = remoteArg ?? refArg;
    const repo = await openRepo(args, ctx);
    const remote = getRemote(repo, remoteName);
    if (remote.gpgVerify) {
      throw new RepoError(`Remote "${remoteName}" requires GPG verification, which mco does not do: add it with --no-gpg-verify (or --set=gpg-verify=false)`);
    }
    const revs = remoteArg !== undefined ? [refArg, ...args.positionals.slice(1)] : args.positionals.slice(1);
    const { refs, commit } = overrideOf(revs.length ? revs : remote.branches);
    if (refs.length === 0) throw new UsageError(`No refs given, and remote "${remoteName}" has no branches configured`);
    if (flag(args, 'disable-fsync')) repo.config.set('core', 'fsync', 'false');
    if (remote.url.startsWith('file://')) {
      if (commit) throw new UsageError('REF@CHECKSUM is supported for http(s) remotes only');
      // A remote on this machine: copied as pull-local copies, every object verified (as ostree's pull does).
      const source = await Repo.open(fileURLToPath(remote.url));
      const result = await pullLocal(repo, source, {
        refs, remote: remoteName, untrusted: true, depth: parseDepth(str(args, 'depth') ?? '0'), commitMetadataOnly: flag(args, 'commit-metadata-only'),
      });
      ctx.output.out(formatPullResult(result));
      return;
    }
    const timeout = positiveInt(args, 'timeout');
    const concurrency = positiveInt(args, 'concurrency');
    const tty = process.stdout.isTTY === true;
    let lastDraw = 0;
    const started = Date.now();
    const result = await pullFromRemote(repo, {
      url: remote.url, refs, ...(commit ? { commit } : {}), remoteName, depth: parseDepth(str(args, 'depth') ?? '0'),
      commitMetadataOnly: flag(args, 'commit-metadata-only'), mirror: flag(args, 'mirror'),
      ...(timeout !== undefined ? { timeoutMs: timeout * 1000 } : {}),
      ...(concurrency !== undefined ? { concurrency } : {}),
      ...(tty ? {
        onProgress: (p: PullProgress): void => {
          const now = Date.now();
          if (now - lastDraw < 100) return;
          lastDraw = now;
          ctx.output.out(`\r\x1b[K${formatProgress(p, now - started)}`);
        },
      } : {}),
    });
    if (tty) ctx.output.out('\r\x1b[K');
    ctx.output.out(formatPullSummary(result));
  },
};

/** `REF@CHECKSUM` (one rev only, as ostree): pull that commit and set REF to it, whatever the remote's REF says. */
function overrideOf(revs: string[]): { refs: string[]; commit?: string } {
  const rev = revs.find((r) => r.includes('@'));
  if (rev === undefined) return { refs: revs };
  if (revs.length > 1) throw new UsageError(`${rev}: REF@CHECKSUM must be the only ref pulled`);
  const at = rev.lastIndexOf('@');
  const commit = rev.slice(at + 1);
  if (!isChecksum(commit)) throw new UsageError(`${rev}: "${commit}" is not a full checksum`);
  return { refs: [rev.slice(0, at)], commit };
}

/** The live line: objects fetched and scanned, bytes and rate. */
export function formatProgress(p: PullProgress, elapsedMs: number): string {
  const rate = elapsedMs > 0 ? (p.fetchedBytes * 1000) / elapsedMs : 0;
  return `Receiving objects: ${p.fetchedObjects} fetched, ${p.scannedObjects} scanned; ${formatSize(p.fetchedBytes)} (${formatSize(Math.round(rate))}/s)`;
}

/** The summary ostree prints after a pull: `N metadata, M content objects fetched; K KiB transferred in S seconds; X content written`. */
export function formatPullSummary(r: PullResult): string {
  const t = r.fetchedObjects > 0 ? r.fetchedBytes : 0;
  const seconds = Math.floor(r.elapsedMs / 1000);
  const transferred = t > 0 ? `${t < 1024 ? `${t} B` : `${Math.floor(t / 1024)} KiB`} transferred in ${seconds} seconds; ` : '';
  return `${r.fetchedMetadata} metadata, ${r.fetchedContent} content objects fetched; ${transferred}${formatSize(r.contentBytes)} content written\n`;
}

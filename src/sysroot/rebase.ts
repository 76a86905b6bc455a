/**
 * `rpm-ostree rebase REPO_PATH:CHECKSUM --custom-origin-url URL --custom-origin-description
 * TEXT`, as the machine-config daemon runs it for a pivot: pull the commit from a local repo
 * (the extracted OS image) into the sysroot's repo, then deploy it as the new default with
 * a custom origin (`custom-url`, `custom-description`) naming where it came from.
 */
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { KeyFile } from '../ostree/keyfile.js';
import { isChecksum } from '../ostree/objects.js';
import { pullLocal, type PullLocalResult } from '../ostree/pull-local.js';
import { Repo } from '../ostree/repo.js';
import { deploy, type DeployResult } from './deploy.js';
import { SysrootError } from './sysroot.js';
import type { CrashPoint } from './swap.js';
import type { KernelCmdlineReader } from './types.js';

export interface RebaseOptions {
  customOriginUrl?: string;
  customOriginDescription?: string;
  osname?: string;
  readCmdline?: KernelCmdlineReader;
  crashPoint?: CrashPoint;
}

/** Splits `REPO_PATH:REVISION` at its last colon (paths may hold colons; revisions do not). */
export function parseRebaseTarget(target: string): { repoPath: string; revision: string } {
  const colon = target.lastIndexOf(':');
  if (colon <= 0 || colon === target.length - 1) throw new SysrootError(`Invalid rebase target '${target}': expected REPO_PATH:CHECKSUM`);
  return { repoPath: target.slice(0, colon), revision: target.slice(colon + 1) };
}

/** The origin rpm-ostree writes: a custom URL is only allowed with a checksum refspec. */
export function rebaseOrigin(checksum: string, options: Pick<RebaseOptions, 'customOriginUrl' | 'customOriginDescription'>): KeyFile {
  const origin = KeyFile.parse(`[origin]\nrefspec=${checksum}\n`);
  if (options.customOriginUrl !== undefined) {
    if (!isChecksum(checksum)) throw new SysrootError('--custom-origin-url requires a checksum, not a ref');
    if (!options.customOriginDescription) throw new SysrootError('--custom-origin-url requires --custom-origin-description');
    origin.set('origin', 'custom-url', options.customOriginUrl);
    origin.set('origin', 'custom-description', options.customOriginDescription);
  }
  return origin;
}

export interface RebaseResult extends DeployResult {
  checksum: string;
  /** What the pull into the sysroot's repo imported: only objects it did not have. */
  pulled: PullLocalResult;
}

export async function rebase(sysroot: string, target: string, options: RebaseOptions = {}): Promise<RebaseResult> {
  const { repoPath, revision } = parseRebaseTarget(target);
  const source = await Repo.open(repoPath);
  const checksum = await source.resolveRev(revision);
  const origin = rebaseOrigin(checksum, options);
  const repo = await Repo.open(join(sysroot, 'ostree', 'repo'));
  // The commit may already be in the sysroot's own repo (a pivot whose objects came from the
  // OS content cache): a pull from a repo into itself would only walk every object again.
  const pulled = sameDirectory(source.path, repo.path)
    ? { metadata: 0, content: 0, contentBytes: 0, repairedObjects: 0, bytesTransferred: 0, seconds: 0, refs: [], commits: [checksum] }
    : await pullLocal(repo, source, { refs: [checksum] });
  const result = await deploy(sysroot, checksum, {
    origin,
    // rpm-ostree keeps one pending deployment, the booted one and its rollback (the seed's
    // status after a pivot lists all three).
    retainRollback: true,
    ...(options.osname ? { osname: options.osname } : {}),
    ...(options.readCmdline ? { readCmdline: options.readCmdline } : {}),
    ...(options.crashPoint ? { crashPoint: options.crashPoint } : {}),
  });
  return { ...result, checksum, pulled };
}

function sameDirectory(a: string, b: string): boolean {
  const [x, y] = [statSync(a), statSync(b)];
  return x.dev === y.dev && x.ino === y.ino;
}

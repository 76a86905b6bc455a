/**
 * `ostree admin upgrade` (libostree 2022.7's OstreeSysrootUpgrader): pull the merge
 * deployment's origin refspec from its remote, and when that moves the ref to another commit,
 * deploy it with the same origin, /etc and kernel arguments carried over as by any deploy.
 * A remote whose URL is `file://` is pulled as `pull-local` does.
 */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { KeyFile } from '../ostree/keyfile.js';
import { isChecksum } from '../ostree/objects.js';
import { pullLocal } from '../ostree/pull-local.js';
import { Repo, splitRefspec } from '../ostree/repo.js';
import { deploy, type DeployResult } from './deploy.js';
import { stageDeployment, type StageResult } from './stage.js';
import { loadSysroot, mergeDeployment, SysrootError } from './sysroot.js';
import type { CrashPoint } from './swap.js';
import type { Deployment, KernelCmdlineReader } from './types.js';

export interface UpgradeOptions {
  /** The stateroot; default: the booted deployment's. */
  osname?: string;
  /** Deploy this commit instead of the ref's (`--override-commit`); recorded in the origin. */
  overrideCommit?: string;
  /** Permit a commit older than the merge deployment's (`--allow-downgrade`). */
  allowDowngrade?: boolean;
  /** Pull only (`--pull-only`). */
  pullOnly?: boolean;
  /** Do not pull: deploy what the repository already has (`--deploy-only`). */
  deployOnly?: boolean;
  /** Stage the deployment for finalization at shutdown (`--stage`). */
  stage?: boolean;
  /** Leave the deployment directory mutable (OSTREE_SYSROOT_DEBUG=mutable-deployments). */
  mutableDeployments?: boolean;
  readCmdline?: KernelCmdlineReader;
  crashPoint?: CrashPoint;
}

export type UpgradeResult =
  | { changed: false; revision: string }
  | { changed: true; revision: string; deployed: DeployResult | StageResult | null };

/** The origin an upgrade deploys with: the merge deployment's, without transient state (pins). */
function upgradeOrigin(merge: Deployment, overrideCommit: string | undefined): KeyFile {
  if (!merge.origin) throw new SysrootError(`No origin known for deployment ${merge.checksum}.${merge.serial}`);
  const origin = KeyFile.parse(merge.origin.toString());
  origin.delete('libostree-transient');
  if (overrideCommit !== undefined) {
    if (!isChecksum(overrideCommit)) throw new SysrootError(`Invalid checksum '${overrideCommit}' for --override-commit`);
    origin.set('origin', 'override-commit', overrideCommit);
  }
  const unconfigured = origin.get('origin', 'unconfigured-state');
  if (unconfigured !== undefined) throw new SysrootError(`origin unconfigured-state: ${unconfigured}`);
  return origin;
}

/** Pulls `what` (a ref, or a commit for --override-commit) from the remote `remote` of the repository's config. */
async function pullFromOrigin(repo: Repo, remote: string, what: string): Promise<void> {
  const url = repo.config.get(`remote "${remote}"`, 'url');
  if (url === undefined) throw new SysrootError(`Remote "${remote}" not found`);
  if (!url.startsWith('file://')) throw new SysrootError(`Cannot pull from remote "${remote}" (${url}): only file:// remotes can be pulled from by admin upgrade`);
  const source = await Repo.open(fileURLToPath(url));
  await pullLocal(repo, source, { refs: [what], remote });
}

/** Refuses a commit older than the one deployed, as libostree's timestamp check. */
async function checkNotOlder(repo: Repo, from: string, to: string): Promise<void> {
  const [old, neu] = [await repo.loadCommit(from), await repo.loadCommit(to)];
  if (old.timestamp > neu.timestamp) {
    const at = (ts: number): string => new Date(ts * 1000).toISOString();
    throw new SysrootError(`Upgrade target revision '${to}' with timestamp '${at(neu.timestamp)}' is chronologically older than current revision '${from}' with timestamp '${at(old.timestamp)}'; use --allow-downgrade to permit`);
  }
}

export async function upgrade(sysroot: string, options: UpgradeOptions = {}): Promise<UpgradeResult> {
  if (options.pullOnly && options.deployOnly) throw new SysrootError('Cannot simultaneously specify --pull-only and --deploy-only');
  const state = await loadSysroot(sysroot, options.readCmdline ? { readCmdline: options.readCmdline } : {});
  const osname = options.osname ?? state.booted?.osname;
  if (osname === undefined) throw new SysrootError('Not currently booted into an OSTree system and no OS specified');
  if (osname === '') throw new SysrootError('Invalid empty osname');
  const merge = mergeDeployment(state, osname);
  if (!merge) throw new SysrootError(`No previous deployment for OS '${osname}'`);
  const origin = upgradeOrigin(merge, options.overrideCommit);
  const refspec = origin.get('origin', 'refspec');
  if (refspec === undefined) throw new SysrootError('No origin/refspec in current deployment origin; cannot upgrade via ostree');
  const [remote, ref] = splitRefspec(refspec);

  const repo = await Repo.open(join(sysroot, 'ostree', 'repo'));
  if (remote !== undefined && !options.deployOnly) await pullFromOrigin(repo, remote, options.overrideCommit ?? ref);
  let revision: string;
  if (options.overrideCommit !== undefined) {
    await repo.setRef(refspec, options.overrideCommit);
    revision = options.overrideCommit;
  } else {
    revision = await repo.resolveRev(refspec);
  }
  if (revision === merge.checksum) return { changed: false, revision };
  if (!options.allowDowngrade) await checkNotOlder(repo, merge.checksum, revision);
  if (options.pullOnly) return { changed: true, revision, deployed: null };
  const deployOptions = {
    osname,
    origin,
    ...(options.mutableDeployments ? { mutableDeployments: true } : {}),
    ...(options.readCmdline ? { readCmdline: options.readCmdline } : {}),
    ...(options.crashPoint ? { crashPoint: options.crashPoint } : {}),
  };
  const deployed = options.stage ? await stageDeployment(sysroot, revision, deployOptions) : await deploy(sysroot, revision, deployOptions);
  return { changed: true, revision, deployed };
}

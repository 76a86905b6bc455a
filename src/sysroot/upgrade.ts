/**
 * `ostree admin upgrade` (libostree 2022.7's OstreeSysrootUpgrader): pull the merge
 * deployment's origin refspec from its remote, and when that moves the ref to another commit,
 * deploy it with the same origin, /etc and kernel arguments carried over as by any deploy.
 * A remote whose URL is `file://` is pulled as `pull-local` does, any other over HTTP.
 */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { KeyFile } from '../ostree/keyfile.js';
import { commitMetadataValue, isChecksum } from '../ostree/objects.js';
import { pullFromRemote } from '../ostree/pull-http.js';
import { pullLocal } from '../ostree/pull-local.js';
import { getRemote } from '../ostree/remotes.js';
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

/**
 * Pulls `what` (a ref, or a commit for --override-commit) from the remote `remote` of the
 * repository's config: over HTTP, or as pull-local for a `file://` URL.
 */
async function pullFromOrigin(repo: Repo, remote: string, what: string): Promise<void> {
  const { url } = getRemote(repo, remote);
  if (url.startsWith('file://')) {
    await pullLocal(repo, await Repo.open(fileURLToPath(url)), { refs: [what], remote });
    return;
  }
  await pullFromRemote(repo, { url, remoteName: remote, ...(isChecksum(what) ? { commit: what } : { refs: [what] }) });
}

/** Refuses a commit older than the one deployed, as libostree's timestamp check. */
async function checkNotOlder(repo: Repo, from: string, to: string): Promise<void> {
  const [old, neu] = [await repo.loadCommit(from), await repo.loadCommit(to)];
  if (old.timestamp > neu.timestamp) {
    const at = (ts: number): string => new Date(ts * 1000).toISOString();
    throw new SysrootError(`Upgrade target revision '${to}' with timestamp '${at(neu.timestamp)}' is chronologically older than current revision '${from}' with timestamp '${at(old.timestamp)}'; use --allow-downgrade to permit`);
  }
}

/** The stateroot and its merge deployment an upgrade or switch starts from, with libostree's refusals. */
async function mergeOf(sysroot: string, options: Pick<UpgradeOptions, 'osname' | 'readCmdline'>): Promise<{ osname: string; merge: Deployment }> {
  const state = await loadSysroot(sysroot, options.readCmdline ? { readCmdline: options.readCmdline } : {});
  const osname = options.osname ?? state.booted?.osname;
  if (osname === undefined) throw new SysrootError('Not currently booted into an OSTree system and no OS specified');
  if (osname === '') throw new SysrootError('Invalid empty osname');
  const merge = mergeDeployment(state, osname);
  if (!merge) throw new SysrootError(`No previous deployment for OS '${osname}'`);
  return { osname, merge };
}

/**
 * Pulls the refspec's ref (or `override`) from its remote unless told not to, and resolves what
 * to deploy. A commit marking its ref end-of-life (`ostree.endoflife-rebase=NEWREF`) redirects,
 * once, to NEWREF of the same remote, pulled in turn: the refspec returned is the one to record.
 */
async function pullRevision(repo: Repo, refspec: string, override: string | undefined, deployOnly: boolean | undefined): Promise<{ revision: string; refspec: string }> {
  let [remote, ref] = splitRefspec(refspec);
  if (remote !== undefined && !deployOnly) await pullFromOrigin(repo, remote, override ?? ref);
  const rebase = commitMetadataValue(await repo.loadCommit(await repo.resolveRev(refspec)), 'ostree.endoflife-rebase');
  if (typeof rebase === 'string') {
    ref = rebase;
    refspec = remote !== undefined ? `${remote}:${ref}` : ref;
    if (remote !== undefined && !deployOnly) await pullFromOrigin(repo, remote, ref);
  }
  if (override === undefined) return { revision: await repo.resolveRev(refspec), refspec };
  await repo.setRef(refspec, override);
  return { revision: override, refspec };
}

function deployWith(sysroot: string, revision: string, osname: string, origin: KeyFile, options: UpgradeOptions): Promise<DeployResult | StageResult> {
  const deployOptions = {
    osname,
    origin,
    ...(options.mutableDeployments ? { mutableDeployments: true } : {}),
    ...(options.readCmdline ? { readCmdline: options.readCmdline } : {}),
    ...(options.crashPoint ? { crashPoint: options.crashPoint } : {}),
  };
  return options.stage ? stageDeployment(sysroot, revision, deployOptions) : deploy(sysroot, revision, deployOptions);
}

export async function upgrade(sysroot: string, options: UpgradeOptions = {}): Promise<UpgradeResult> {
  if (options.pullOnly && options.deployOnly) throw new SysrootError('Cannot simultaneously specify --pull-only and --deploy-only');
  const { osname, merge } = await mergeOf(sysroot, options);
  const origin = upgradeOrigin(merge, options.overrideCommit);
  const refspec = origin.get('origin', 'refspec');
  if (refspec === undefined) throw new SysrootError('No origin/refspec in current deployment origin; cannot upgrade via ostree');
  const repo = await Repo.open(join(sysroot, 'ostree', 'repo'));
  const { revision, refspec: pulled } = await pullRevision(repo, refspec, options.overrideCommit, options.deployOnly);
  origin.set('origin', 'refspec', pulled);
  if (revision === merge.checksum) return { changed: false, revision };
  if (!options.allowDowngrade) await checkNotOlder(repo, merge.checksum, revision);
  if (options.pullOnly) return { changed: true, revision, deployed: null };
  return { changed: true, revision, deployed: await deployWith(sysroot, revision, osname, origin, options) };
}

/**
 * `ostree admin switch REFSPEC`: a new origin naming REFSPEC (a bare REF keeps the old remote;
 * `REMOTE:` keeps the old ref), pulled and deployed whatever its age, then the old ref deleted.
 */
export async function switchOrigin(sysroot: string, refspec: string, options: Pick<UpgradeOptions, 'osname' | 'stage' | 'mutableDeployments' | 'readCmdline' | 'crashPoint'> = {}): Promise<{ revision: string; deployed: DeployResult | StageResult; deletedRef: string }> {
  const { osname, merge } = await mergeOf(sysroot, options);
  if (!merge.origin) throw new SysrootError(`No origin known for deployment ${merge.checksum}.${merge.serial}`);
  const old = merge.origin.get('origin', 'refspec');
  if (old === undefined) throw new SysrootError('No origin/refspec in current deployment origin; cannot upgrade via ostree');
  const [oldRemote, oldRef] = splitRefspec(old);
  const [givenRemote, givenRef] = refspec.endsWith(':') ? [refspec.slice(0, -1), oldRef] : splitRefspec(refspec);
  const remote = givenRemote ?? oldRemote;
  const next = remote !== undefined ? `${remote}:${givenRef}` : givenRef;
  if (next === old) throw new SysrootError(`Old and new refs are equal: ${next}`);
  const origin = KeyFile.parse(`[origin]\nrefspec=${next}\n`);
  const repo = await Repo.open(join(sysroot, 'ostree', 'repo'));
  const { revision, refspec: pulled } = await pullRevision(repo, next, undefined, false);
  origin.set('origin', 'refspec', pulled);
  const deployed = await deployWith(sysroot, revision, osname, origin, options);
  await repo.setRef(old, null);
  return { revision, deployed, deletedRef: `${oldRemote ?? '(null)'}:${oldRef}` };
}

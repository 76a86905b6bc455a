/**
 * `ostree admin deploy`: checks a commit out as a new deployment (with its /etc merged from the
 * merge deployment, its origin written and its kernel found), then writes the new deployment
 * list — new default first — with one atomic switch of the boot entries, and cleans up.
 * Until that switch, the node boots exactly what it booted before; a crash leaves at most a
 * directory that the next cleanup removes.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { checkout } from '../ostree/checkout.js';
import { KeyFile } from '../ostree/keyfile.js';
import { commitMetadataValue } from '../ostree/objects.js';
import { settleWritebacks, startWriteback } from '../ostree/process.js';
import { atomicWrite, Repo } from '../ostree/repo.js';
import { serializeBlsEntry, withOstreeKarg } from './bls.js';
import { cleanupSysroot, type CleanupResult } from './cleanup.js';
import { copyEtcFromUsrEtc, mergeEtc, removeUpdatedStamps } from './etc-merge.js';
import { deployKargs, type DeployKargsEdit } from './deploy-kargs.js';
import { findKernel, installKernel, type KernelLayout } from './kernel.js';
import { lockSysroot } from './lock.js';
import { isPinned, loadSysroot, mergeDeployment, pendingDeployment, rollbackDeployment, stagedDeploymentPath } from './sysroot.js';
import { assignBootserials, bootconfigsEqual, ostreeKargFor, transactionMessage, writeDeployments, type CrashPoint } from './swap.js';
import { deploymentPath, sameDeployment, type Deployment, type KernelCmdlineReader, type SysrootState } from './types.js';

export class DeployError extends Error {
  override name = 'DeployError';
}

export interface DeployOptions {
  /** The stateroot; default: the booted deployment's, else the only one there is. */
  osname?: string;
  /** All the new deployment's kernel arguments, in place of the merge deployment's. */
  kargs?: string[];
  /** `ostree admin deploy --karg…`: edits of the merge deployment's kernel arguments (ignored with `kargs`). */
  kargsEdit?: DeployKargsEdit;
  /** `--no-merge`: no merge deployment, so /etc and kernel arguments start from the commit's defaults. */
  noMerge?: boolean;
  /** The origin to write; default `[origin] refspec=REVISION`. */
  origin?: KeyFile;
  /** Put the new deployment second, after the current default (`--not-as-default`). */
  notAsDefault?: boolean;
  /** Keep every existing deployment (`--retain`). */
  retain?: boolean;
  /** Keep the pending deployment (`--retain-pending`). */
  retainPending?: boolean;
  /** Keep the rollback deployment (`--retain-rollback`). */
  retainRollback?: boolean;
  /** Prune the repository afterwards (default true, as `ostree admin deploy`). */
  prune?: boolean;
  /** Leave the deployment directory mutable (OSTREE_SYSROOT_DEBUG=mutable-deployments: test harnesses). */
  mutableDeployments?: boolean;
  readCmdline?: KernelCmdlineReader;
  crashPoint?: CrashPoint;
}

/** What writing a deployment list did: its cleanup, and libostree's one-line summary of the switch. */
export interface ListWriteResult extends CleanupResult {
  /** `Bootloader updated; bootconfig swap: yes; bootversion: boot.1.1, deployment count change: 1` */
  transaction: string;
}

export interface DeployResult {
  deployment: Deployment;
  /** The merge deployment whose /etc and kernel arguments were carried over. */
  merge: Deployment | null;
  etc: string | null;
  cleanup: ListWriteResult;
}

/** Writes a deployment's `.origin` atomically. */
export function writeOrigin(sysroot: string, d: Pick<Deployment, 'osname' | 'checksum' | 'serial'>, origin: KeyFile): Promise<void> {
  const dir = join(sysroot, 'ostree', 'deploy', d.osname, 'deploy');
  return atomicWrite(`${deploymentPath(sysroot, d)}.origin`, dir, origin.toString(), 0o644);
}

/** 1 + the largest serial on disk for this commit in the stateroot (leftovers of crashes count). */
function nextSerial(sysroot: string, osname: string, checksum: string): number {
  const dir = join(sysroot, 'ostree', 'deploy', osname, 'deploy');
  let serial = -1;
  for (const name of existsSync(dir) ? readdirSync(dir) : []) {
    const m = /^([0-9a-f]{64})\.(\d+)(\.origin)?$/.exec(name);
    if (m && m[1] === checksum) serial = Math.max(serial, Number(m[2]));
  }
  return serial + 1;
}

function chooseOsname(state: SysrootState, wanted: string | undefined): string {
  if (wanted) return wanted;
  if (state.booted) return state.booted.osname;
  const stateroots = readdirSync(join(state.path, 'ostree', 'deploy'));
  if (stateroots.length === 1) return stateroots[0]!;
  throw new DeployError(`No stateroot given and ${stateroots.length === 0 ? 'none exists (run os-init first)' : `several exist (${stateroots.join(', ')})`}: use --os`);
}

/** `PRETTY_NAME` (else `ID`) of the tree's os-release, shell-unquoted. */
function osReleaseName(dir: string): string {
  for (const rel of ['usr/lib/os-release', 'etc/os-release']) {
    let text: string;
    try {
      text = readFileSync(join(dir, rel), 'utf8');
    } catch {
      continue; // absent in this layout: try the next one, as libostree does
    }
    const fields = new Map<string, string>();
    for (const line of text.split('\n')) {
      const m = /^([A-Z_]+)=(.*)$/.exec(line.trim());
      if (m) fields.set(m[1]!, m[2]!.replace(/^"(.*)"$/, '$1').replace(/^'(.*)'$/, '$1'));
    }
    const name = fields.get('PRETTY_NAME') ?? fields.get('ID');
    if (name) return name;
  }
  return 'ostree';
}

/** A commit's `version` metadata (what titles its boot entry); undefined when it has none. */
async function commitVersion(repo: Repo, checksum: string): Promise<string | undefined> {
  const version = commitMetadataValue(await repo.loadCommit(checksum), 'version');
  return typeof version === 'string' ? version : undefined;
}

/** The BLS entry of a deployment (ostree.md §4.5). */
async function entryText(sysroot: string, repo: Repo, d: Deployment, at: { index: number; count: number; bootversion: 0 | 1 }, kernel: KernelLayout, multipleStateroots: boolean): Promise<string> {
  const dir = deploymentPath(sysroot, d);
  const version = await commitVersion(repo, d.checksum);
  let title = osReleaseName(dir);
  if (version !== undefined && version !== '' && !title.includes(version)) title += ` ${version}`;
  title += multipleStateroots ? ` (ostree:${d.osname}:${at.index})` : ` (ostree:${at.index})`;
  const bootDir = `/ostree/${d.osname}-${d.bootcsum}`;
  let kargs = withOstreeKarg(d.kargs, ostreeKargFor(d, at.bootversion).slice('ostree='.length));
  if (!kernel.paths.initramfs) kargs = [...kargs, `init=/ostree/boot.${at.bootversion}/${d.osname}/${d.bootcsum}/${d.bootserial}/usr/lib/ostree/ostree-prepare-root`];
  const fields = new Map<string, string>([
    ['title', title],
    ['version', String(at.count - at.index)],
    ['options', kargs.join(' ')],
  ]);
  if (kernel.paths.devicetree) fields.set('devicetree', `${bootDir}/${kernel.paths.devicetree.name}`);
  fields.set('linux', `${bootDir}/${kernel.paths.vmlinuz.name}`);
  if (kernel.paths.initramfs) fields.set('initrd', `${bootDir}/${kernel.paths.initramfs.name}`);
  return serializeBlsEntry({ fields, overlayInitrds: [] });
}

/**
 * Writes `list` as the deployment list of the sysroot (switching the boot entries), then
 * cleans up. Shared by deploy, rollback, undeploy and kargs.
 */
export async function commitDeploymentList(state: SysrootState, list: Deployment[], options: { prune?: boolean; crashPoint?: CrashPoint; kernels?: Map<string, KernelLayout>; keepStaged?: boolean; repo?: Repo }): Promise<ListWriteResult> {
  // A new list replaces a staged deployment unless the edit leaves it alone (as libostree:
  // the state file goes first; the directory goes with the cleanup below).
  const staged = options.keepStaged ? state.staged : null;
  if (state.staged && !staged) {
    rmSync(stagedDeploymentPath(state.path), { force: true });
  }
  const repo = options.repo ?? (await Repo.open(join(state.path, 'ostree', 'repo')));
  const multiple = new Set(list.map((d) => d.osname)).size > 1;
  // Hashing a kernel and initramfs is the costly part of finding them: once per deployment.
  const kernels = options.kernels ?? new Map<string, KernelLayout>();
  const kernelOf = (d: Deployment): KernelLayout => {
    const dir = deploymentPath(state.path, d);
    let k = kernels.get(dir);
    if (!k) kernels.set(dir, (k = findKernel(dir, d.bootcsum || undefined)));
    return k;
  };
  // Entry texts need async commit reads: compute them first, then the synchronous swap.
  const withSerials = assignBootserials(list);
  const versions = new Map<string, string | undefined>();
  for (const d of [...state.deployments, ...withSerials]) {
    if (!versions.has(d.checksum)) versions.set(d.checksum, await commitVersion(repo, d.checksum));
  }
  const bootlinksOnly = bootconfigsEqual(state.deployments, withSerials, (d) => versions.get(d.checksum));
  const bootversion: 0 | 1 = state.bootversion === 0 ? 1 : 0;
  const entries = bootlinksOnly ? [] : await Promise.all(withSerials.map((d, index) => entryText(state.path, repo, d, { index, count: list.length, bootversion }, kernelOf(d), multiple)));
  // A background flush of this deployment or of the objects it links may have failed: no boot entry may point at them then.
  await settleWritebacks();
  const written = writeDeployments(state, withSerials, {
    entry: (_d, at) => entries[at.index]!,
    installKernel: (d) => void installKernel(state.path, { osname: d.osname, kernel: kernelOf(d) }),
    bootlinksOnly,
    ...(options.crashPoint ? { crashPoint: options.crashPoint } : {}),
  });
  const cleanup = await cleanupSysroot(state.path, {
    deployments: written.deployments,
    bootversion: written.bootversion,
    subbootversion: written.subbootversion,
    staged,
    ...(options.prune !== undefined ? { prune: options.prune } : {}),
    ...(options.crashPoint ? { crashPoint: options.crashPoint } : {}),
    repo,
  });
  const before = state.deployments.length + (state.staged ? 1 : 0);
  return { ...cleanup, transaction: transactionMessage({ bootlinksOnly, ...written, countChange: list.length - before }) };
}

/** Deploys `revision` (a ref or checksum of the sysroot's repo) as the new default. */
export async function deploy(sysroot: string, revision: string, options: DeployOptions = {}): Promise<DeployResult> {
  const lock = lockSysroot(sysroot, `deploy ${revision}`);
  try {
    const state = await loadSysroot(sysroot, options.readCmdline ? { readCmdline: options.readCmdline } : {});
    const crash = options.crashPoint ?? (() => undefined);
    const prepared = await prepareDeployment(state, revision, options, { mergeEtc: true, writeback: true });
    if (!options.mutableDeployments) makeImmutable(prepared.dir);
    crash('deploy-finalized');
    const { deployment, merge, etc, kernel, dir, repo } = prepared;
    const kept = retainedDeployments(state, deployment.osname, merge, options);
    const list = options.notAsDefault && kept.length > 0 ? [kept[0]!, deployment, ...kept.slice(1)] : [deployment, ...kept];
    let cleanup: ListWriteResult;
    try {
      const kernels = new Map([[dir, kernel]]);
      // The same Repo: the prune walks the trees the checkout just decoded.
      cleanup = await commitDeploymentList(state, list, { ...(options.prune !== undefined ? { prune: options.prune } : {}), crashPoint: crash, kernels, repo });
    } catch (e) {
      throw new DeployError(`Deploying ${deployment.checksum} (${revision}) to ${sysroot}: ${(e as Error).message}`, { cause: e });
    }
    return { deployment, merge, etc, cleanup };
  } finally {
    lock.release();
  }
}

/** Which deployments a new list keeps besides the new one (ostree.md §4.8 step 4). */
export function retainedDeployments(state: SysrootState, osname: string, merge: Deployment | null, options: Pick<DeployOptions, 'retain' | 'retainPending' | 'retainRollback'>): Deployment[] {
  const pending = pendingDeployment({ ...state, staged: null });
  const rollback = rollbackDeployment(state);
  const is = (d: Deployment, x: Deployment | null): boolean => x !== null && sameDeployment(d, x);
  return state.deployments.filter((d) =>
    options.retain || isPinned(d) || d.osname !== osname || is(d, state.booted) || is(d, merge) ||
    (options.retainPending && is(d, pending)) || (options.retainRollback && is(d, rollback)));
}

/** Sets the immutable flag libostree leaves on a finished deployment's top directory. */
export function makeImmutable(dir: string): void {
  const chattr = spawnSync('chattr', ['+i', dir], { stdio: 'ignore' });
  // No chattr, or a filesystem without the flag: nothing to set.
  if (chattr.error && (chattr.error as NodeJS.ErrnoException).code !== 'ENOENT') throw chattr.error;
}

/**
 * `var/.ostree-selabeled`: libostree relabels a stateroot's var once, on its first deployment,
 * and leaves this empty stamp (also without an SELinux policy) so it never does it again.
 */
function markVarLabeled(varDir: string): void {
  const stamp = join(varDir, '.ostree-selabeled');
  if (existsSync(stamp)) return;
  writeFileSync(stamp, '', { mode: 0o644 });
  chmodSync(stamp, 0o644);
}

export interface PreparedDeployment {
  /** The new deployment, not yet in any boot entry. */
  deployment: Deployment;
  dir: string;
  merge: Deployment | null;
  /** The /etc merge summary; null when not merged (first deploy, or staged). */
  etc: string | null;
  kernel: KernelLayout;
  /** Whether the caller set kernel arguments (a staged file records them only then). */
  kargsGiven: boolean;
  /** The sysroot's repository, keeping the trees the checkout decoded. */
  repo: Repo;
}

/**
 * Checks `revision` out as a new deployment directory with its /etc (merged from the merge
 * deployment unless `mergeEtc` is off: staging merges at finalization), origin and kernel.
 * Nothing refers to it yet: a crash leaves a directory the next cleanup removes. With
 * `writeback`, the disk starts on the checkout at once; only for a caller that settles it
 * (commitDeploymentList) in this process: staging ends before, and finalizing runs in another.
 */
export async function prepareDeployment(state: SysrootState, revision: string, options: DeployOptions, how: { mergeEtc: boolean; writeback?: boolean }): Promise<PreparedDeployment> {
  const crash = options.crashPoint ?? (() => undefined);
  const sysroot = state.path;
  const osname = chooseOsname(state, options.osname);
  const repo = await Repo.open(join(sysroot, 'ostree', 'repo'));
  repo.keepDecodedDirTrees();
  const checksum = await repo.resolveRev(revision);
  const merge = options.noMerge ? null : mergeDeployment(state, osname);

  const serial = nextSerial(sysroot, osname, checksum);
  const target = { osname, checksum, serial };
  const dir = deploymentPath(sysroot, target);
  mkdirSync(join(sysroot, 'ostree', 'deploy', osname, 'deploy'), { recursive: true });
  await checkout(repo, checksum, dir, { passthroughWhiteouts: true });
  // The checkout's thousands of new directory entries start for the disk while /etc is merged
  // and the boot entries are written: the syncfs before the boot menu switches then waits less.
  if (how.writeback) startWriteback(dir);
  markVarLabeled(join(sysroot, 'ostree', 'deploy', osname, 'var'));
  crash('deploy-checked-out');
  copyEtcFromUsrEtc(dir);
  let etc: string | null = null;
  if (how.mergeEtc) {
    if (merge) etc = mergeEtc(deploymentPath(sysroot, merge), dir).message;
    removeUpdatedStamps(dir, join(sysroot, 'ostree', 'deploy', osname, 'var'));
  }
  crash('deploy-etc-merged');
  const origin = options.origin ?? KeyFile.parse(`[origin]\nrefspec=${revision}\n`);
  await writeOrigin(sysroot, target, origin);
  crash('deploy-origin-written');
  const kernel = findKernel(dir);
  const given = options.kargs ?? (options.kargsEdit ? deployKargs(merge?.kargs ?? null, options.kargsEdit) : undefined);
  const kargs = given ?? [...(merge?.kargs ?? [])];
  const kargsGiven = given !== undefined;
  const deployment: Deployment = { ...target, bootcsum: kernel.bootcsum, bootserial: 0, kargs, origin };
  return { deployment, dir, merge, etc, kernel, kargsGiven, repo };
}

/**
 * `ostree admin deploy`: checks a commit out as a new deployment (with its /etc merged from the
 * merge deployment, its origin written and its kernel found), then writes the new deployment
 * list — new default first — with one atomic switch of the boot entries, and cleans up.
 * Until that switch, the node boots exactly what it booted before; a crash leaves at most a
 * directory that the next cleanup removes.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { checkout } from '../ostree/checkout.js';
import { KeyFile } from '../ostree/keyfile.js';
import { commitMetadataValue } from '../ostree/objects.js';
import { atomicWrite, Repo } from '../ostree/repo.js';
import { serializeBlsEntry, withOstreeKarg } from './bls.js';
import { cleanupSysroot, type CleanupResult } from './cleanup.js';
import { copyEtcFromUsrEtc, mergeEtc, removeUpdatedStamps } from './etc-merge.js';
import { findKernel, installKernel, type KernelLayout } from './kernel.js';
import { lockSysroot } from './lock.js';
import { isPinned, loadSysroot } from './sysroot.js';
import { assignBootserials, ostreeKargFor, writeDeployments, type CrashPoint } from './swap.js';
import { deploymentPath, sameDeployment, type Deployment, type KernelCmdlineReader, type SysrootState } from './types.js';

export class DeployError extends Error {
  override name = 'DeployError';
}

export interface DeployOptions {
  /** The stateroot; default: the booted deployment's, else the only one there is. */
  osname?: string;
  /** Kernel arguments replacing the merge deployment's (`--karg`). */
  kargs?: string[];
  /** Kernel arguments appended to the inherited ones (`--karg-append`). */
  kargsAppend?: string[];
  /** The origin to write; default `[origin] refspec=REVISION`. */
  origin?: KeyFile;
  /** Put the new deployment second, after the current default (`--not-as-default`). */
  notAsDefault?: boolean;
  /** Keep every existing deployment (`--retain`). */
  retain?: boolean;
  /** Prune the repository afterwards (default true, as `ostree admin deploy`). */
  prune?: boolean;
  readCmdline?: KernelCmdlineReader;
  crashPoint?: CrashPoint;
}

export interface DeployResult {
  deployment: Deployment;
  /** The merge deployment whose /etc and kernel arguments were carried over. */
  merge: Deployment | null;
  etc: string | null;
  cleanup: CleanupResult;
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

/** The BLS entry of a deployment (ostree.md §4.5). */
async function entryText(sysroot: string, repo: Repo, d: Deployment, at: { index: number; count: number; bootversion: 0 | 1 }, kernel: KernelLayout, multipleStateroots: boolean): Promise<string> {
  const dir = deploymentPath(sysroot, d);
  const version = commitMetadataValue(await repo.loadCommit(d.checksum), 'version');
  let title = osReleaseName(dir);
  if (typeof version === 'string' && version !== '' && !title.includes(version)) title += ` ${version}`;
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
export async function commitDeploymentList(state: SysrootState, list: Deployment[], options: { prune?: boolean; crashPoint?: CrashPoint; kernels?: Map<string, KernelLayout> }): Promise<CleanupResult> {
  const repo = await Repo.open(join(state.path, 'ostree', 'repo'));
  const multiple = new Set(list.map((d) => d.osname)).size > 1;
  // Hashing a kernel and initramfs is the costly part of finding them: once per deployment.
  const kernels = options.kernels ?? new Map<string, KernelLayout>();
  const kernelOf = (d: Deployment): KernelLayout => {
    const dir = deploymentPath(state.path, d);
    let k = kernels.get(dir);
    if (!k) kernels.set(dir, (k = findKernel(dir)));
    return k;
  };
  // Entry texts need async commit reads: compute them first, then the synchronous swap.
  const withSerials = assignBootserials(list);
  const bootversion: 0 | 1 = state.bootversion === 0 ? 1 : 0;
  const entries = await Promise.all(withSerials.map((d, index) => entryText(state.path, repo, d, { index, count: list.length, bootversion }, kernelOf(d), multiple)));
  const written = writeDeployments(state, withSerials, {
    entry: (_d, at) => entries[at.index]!,
    installKernel: (d) => void installKernel(state.path, { osname: d.osname, kernel: kernelOf(d) }),
    ...(options.crashPoint ? { crashPoint: options.crashPoint } : {}),
  });
  return cleanupSysroot(state.path, {
    deployments: written.deployments,
    bootversion: written.bootversion,
    subbootversion: written.subbootversion,
    ...(options.prune !== undefined ? { prune: options.prune } : {}),
    ...(options.crashPoint ? { crashPoint: options.crashPoint } : {}),
  });
}

/** Deploys `revision` (a ref or checksum of the sysroot's repo) as the new default. */
export async function deploy(sysroot: string, revision: string, options: DeployOptions = {}): Promise<DeployResult> {
  const lock = lockSysroot(sysroot, `deploy ${revision}`);
  try {
    return await deployLocked(sysroot, revision, options);
  } finally {
    lock.release();
  }
}

async function deployLocked(sysroot: string, revision: string, options: DeployOptions): Promise<DeployResult> {
  const crash = options.crashPoint ?? (() => undefined);
  const state = await loadSysroot(sysroot, options.readCmdline ? { readCmdline: options.readCmdline } : {});
  const osname = chooseOsname(state, options.osname);
  const repo = await Repo.open(join(sysroot, 'ostree', 'repo'));
  const checksum = await repo.resolveRev(revision);
  const merge = state.booted?.osname === osname ? state.booted : (state.deployments.find((d) => d.osname === osname) ?? null);

  const serial = nextSerial(sysroot, osname, checksum);
  const target = { osname, checksum, serial };
  const dir = deploymentPath(sysroot, target);
  mkdirSync(join(sysroot, 'ostree', 'deploy', osname, 'deploy'), { recursive: true });
  await checkout(repo, checksum, dir);
  crash('deploy-checked-out');
  copyEtcFromUsrEtc(dir);
  const etc = merge ? mergeEtc(deploymentPath(sysroot, merge), dir).message : null;
  removeUpdatedStamps(dir, join(sysroot, 'ostree', 'deploy', osname, 'var'));
  crash('deploy-etc-merged');
  const origin = options.origin ?? KeyFile.parse(`[origin]\nrefspec=${revision}\n`);
  await writeOrigin(sysroot, target, origin);
  crash('deploy-origin-written');
  const kernel = findKernel(dir);
  let kargs = options.kargs ?? [...(merge?.kargs ?? [])];
  if (options.kargsAppend) kargs = [...kargs, ...options.kargsAppend];
  // Finished: the top-level directory becomes immutable, as libostree leaves it.
  const chattr = spawnSync('chattr', ['+i', dir], { stdio: 'ignore' });
  if (chattr.error && (chattr.error as NodeJS.ErrnoException).code !== 'ENOENT') throw chattr.error;
  crash('deploy-finalized');

  const deployment: Deployment = { ...target, bootcsum: kernel.bootcsum, bootserial: 0, kargs, origin };
  const kept = state.deployments.filter((d) =>
    options.retain || isPinned(d) || d.osname !== osname ||
    (state.booted && sameDeployment(d, state.booted)) || (merge && sameDeployment(d, merge)));
  const list = options.notAsDefault && kept.length > 0 ? [kept[0]!, deployment, ...kept.slice(1)] : [deployment, ...kept];
  let cleanup: CleanupResult;
  try {
    const kernels = new Map([[dir, kernel]]);
    cleanup = await commitDeploymentList(state, list, { ...(options.prune !== undefined ? { prune: options.prune } : {}), crashPoint: crash, kernels });
  } catch (e) {
    throw new DeployError(`Deploying ${checksum} (${revision}) to ${sysroot}: ${(e as Error).message}`, { cause: e });
  }
  return { deployment, merge, etc, cleanup };
}

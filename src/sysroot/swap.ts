/**
 * Writing a new deployment list the way libostree does (ostree.md §4.6): everything for the
 * new list is built under the *other* bootversion (`boot/loader.NB`, `ostree/boot.NB.S`),
 * made durable, and then one `rename(boot/loader.tmp, boot/loader)` switches the boot menu.
 * Before that rename a reader (the bootloader, `ostree admin status`) sees the old list
 * untouched; after it, the new one complete. Cleanup of what the old list used comes after.
 */
import { existsSync, mkdirSync, readlinkSync, renameSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { syncFilesystem } from '../ostree/process.js';
import { blsEntryFileName, formatBootLink } from './bls.js';
import type { Deployment, SysrootState } from './types.js';

export class SwapError extends Error {
  override name = 'SwapError';
}

/** Called at each named step; the crash harness kills the process at one of them. */
export type CrashPoint = (step: string) => void;

export interface WriteDeploymentsOptions {
  /** The BLS entry text of `deployment`, at `index` of `count`, with its `ostree=` argument. */
  entry: (deployment: Deployment, at: { index: number; count: number; bootversion: 0 | 1 }) => string;
  /** Installs the kernel and initramfs a deployment boots under `boot/ostree/OS-BOOTCSUM/`. */
  installKernel: (deployment: Deployment) => void;
  /**
   * The boot entries would come out as they are (bootconfigsEqual): keep the bootversion and
   * only point the bootlinks at the new deployments, through the other subbootversion.
   */
  bootlinksOnly?: boolean;
  crashPoint?: CrashPoint;
}

export interface WrittenDeployments {
  bootversion: 0 | 1;
  subbootversion: 0 | 1;
  /** The list as written, with bootserials assigned. */
  deployments: Deployment[];
}

/** Numbers deployments 0, 1, … per bootcsum, in list order (two sharing a kernel: /0 and /1). */
export function assignBootserials(list: Deployment[]): Deployment[] {
  const seen = new Map<string, number>();
  return list.map((d) => {
    const n = seen.get(d.bootcsum) ?? 0;
    seen.set(d.bootcsum, n + 1);
    return { ...d, bootserial: n };
  });
}

/** The `ostree=` kernel argument of a deployment under a bootversion. */
export function ostreeKargFor(d: Deployment, bootversion: 0 | 1): string {
  return `ostree=${formatBootLink({ bootversion, osname: d.osname, bootcsum: d.bootcsum, bootserial: d.bootserial })}`;
}

function readSubbootversion(sysroot: string, bootversion: 0 | 1): 0 | 1 | undefined {
  let target: string;
  try {
    target = readlinkSync(join(sysroot, 'ostree', `boot.${bootversion}`));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  if (target === `boot.${bootversion}.0`) return 0;
  if (target === `boot.${bootversion}.1`) return 1;
  throw new SwapError(`Unexpected target of ${join(sysroot, 'ostree', `boot.${bootversion}`)}: ${target}`);
}

/**
 * Whether `next` boots exactly as `current` does, entry for entry — as many deployments, each
 * with the same kernel (bootcsum), kernel arguments and version (its title) — so that only the
 * bootlinks need to change, as libostree decides (a "bootconfig swap: no").
 */
export function bootconfigsEqual(current: readonly Deployment[], next: readonly Deployment[], version: (d: Deployment) => string | undefined): boolean {
  return current.length === next.length && current.every((c, i) => {
    const n = next[i]!;
    return c.bootcsum === n.bootcsum && c.kargs.join(' ') === n.kargs.join(' ') && version(c) === version(n);
  });
}

/**
 * libostree's summary of a written list. We write boot entries only, never a bootloader's own
 * configuration — libostree's `sysroot.bootloader=none` — so only a bootlinks-only switch is
 * atomic ("Transaction complete"); a new bootversion is "Bootloader updated".
 */
export function transactionMessage(t: { bootlinksOnly: boolean; bootversion: 0 | 1; subbootversion: 0 | 1; countChange: number }): string {
  return `${t.bootlinksOnly ? 'Transaction complete' : 'Bootloader updated'}; bootconfig swap: ${t.bootlinksOnly ? 'no' : 'yes'}; bootversion: boot.${t.bootversion}.${t.subbootversion}, deployment count change: ${t.countChange}`;
}

/** Writes `ostree/boot.B.S/OS/BOOTCSUM/BOOTSERIAL` links to each deployment, in a fresh directory. */
function writeBootlinks(root: string, bootversion: 0 | 1, subbootversion: 0 | 1, deployments: Deployment[]): void {
  const linksDir = join(root, 'ostree', `boot.${bootversion}.${subbootversion}`);
  rmSync(linksDir, { recursive: true, force: true });
  for (const d of deployments) {
    const dir = join(linksDir, d.osname, d.bootcsum);
    mkdirSync(dir, { recursive: true });
    symlinkSync(`../../../deploy/${d.osname}/deploy/${d.checksum}.${d.serial}`, join(dir, String(d.bootserial)));
  }
}

/** Readers use the mtime of ostree/deploy as a change signal. */
function touchDeployDir(root: string): void {
  const now = new Date();
  utimesSync(join(root, 'ostree', 'deploy'), now, now);
}

/** Flushes a filesystem (like libostree's syncfs before and after the swap). */
function syncfs(path: string): void {
  if (!syncFilesystem(path)) throw new SwapError(`Syncing ${path} to disk failed`);
}

/** Flushes each filesystem among `paths` once: /boot is most often on the sysroot's own. */
function syncfsEach(paths: string[]): void {
  const flushed = new Set<number>();
  for (const path of paths) {
    const dev = statSync(path).dev;
    if (flushed.has(dev)) continue;
    syncfs(path);
    flushed.add(dev);
  }
}

/** Replaces the symlink `link` by one to `target`, atomically (temporary link + rename). */
function swapSymlink(link: string, target: string): void {
  const tmp = `${link}.tmp`;
  rmSync(tmp, { force: true });
  symlinkSync(target, tmp);
  renameSync(tmp, link);
}

/**
 * Writes `list` as the sysroot's deployments under the other bootversion and switches to it.
 * Deployment directories must already exist, complete. Nothing the current boot entries use
 * is touched before the final rename.
 */
export function writeDeployments(state: SysrootState, list: Deployment[], options: WriteDeploymentsOptions): WrittenDeployments {
  const crash = options.crashPoint ?? (() => undefined);
  const root = state.path;
  const deployments = assignBootserials(list);
  if (options.bootlinksOnly) {
    // The entries of the current bootversion stay; their ostree= links move, in one rename.
    const subbootversion: 0 | 1 = state.subbootversion === 0 ? 1 : 0;
    writeBootlinks(root, state.bootversion, subbootversion, deployments);
    crash('bootlinks-written');
    syncfs(root);
    swapSymlink(join(root, 'ostree', `boot.${state.bootversion}`), `boot.${state.bootversion}.${subbootversion}`);
    crash('bootlinks-swapped');
    touchDeployDir(root);
    return { bootversion: state.bootversion, subbootversion, deployments };
  }
  const bootversion: 0 | 1 = state.bootversion === 0 ? 1 : 0;

  // 1. Fresh boot entries for the new bootversion (not in use: loader points at the other).
  const loaderDir = join(root, 'boot', `loader.${bootversion}`);
  rmSync(loaderDir, { recursive: true, force: true });
  mkdirSync(join(loaderDir, 'entries'), { recursive: true });
  crash('entries-dir-created');
  deployments.forEach((d, index) => {
    options.installKernel(d);
    crash(`kernel-installed-${index}`);
    writeFileSync(join(loaderDir, 'entries', blsEntryFileName(deployments.length - index, d.osname)), options.entry(d, { index, count: deployments.length, bootversion }), { mode: 0o644 });
    crash(`entry-written-${index}`);
  });

  // 2. The bootlink tree the new entries' ostree= arguments go through.
  const previousSub = readSubbootversion(root, bootversion) ?? 0;
  const subbootversion: 0 | 1 = previousSub === 0 ? 1 : 0;
  writeBootlinks(root, bootversion, subbootversion, deployments);
  crash('bootlinks-written');
  swapSymlink(join(root, 'ostree', `boot.${bootversion}`), `boot.${bootversion}.${subbootversion}`);
  crash('bootlinks-swapped');

  // 3. Durable, then the one rename that switches the boot menu.
  if (!existsSync(join(root, 'boot', 'boot'))) symlinkSync('.', join(root, 'boot', 'boot'));
  const loaderTmp = join(root, 'boot', 'loader.tmp');
  rmSync(loaderTmp, { force: true });
  symlinkSync(`loader.${bootversion}`, loaderTmp);
  syncfsEach([join(root, 'boot'), root]);
  crash('before-loader-rename');
  renameSync(loaderTmp, join(root, 'boot', 'loader'));
  crash('after-loader-rename');
  syncfs(join(root, 'boot'));
  touchDeployDir(root);
  return { bootversion, subbootversion, deployments };
}

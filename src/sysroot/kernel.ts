/**
 * Finding a deployment's kernel and installing it into /boot (spec §4.4; ostree 2022.7
 * get_kernel_from_tree and install_deployment_kernel).
 *
 * Discovery: `usr/lib/modules/KVER/vmlinuz` in the first KVER directory (raw readdir order, as
 * ostree iterates: Node's readdirSync sorts, so we use opendir), with an optional
 * `initramfs.img` or `initramfs`, `devicetree` or a `dtb/` directory, and `.vmlinuz.hmac`. The
 * bootcsum is one sha256 over kernel, initramfs and devicetree bytes, streamed. The legacy
 * layouts (`usr/lib/ostree-boot` or `boot`, with `vmlinuz-CSUM` names carrying their own
 * checksum) win only when there is no modules layout, or when it lacks an initramfs that the
 * legacy one has.
 *
 * ostree follows symlinks here (a symlinked vmlinuz is read through). We do too, but only while
 * the target stays inside the deployment: an absolute link would otherwise read the *host's*
 * file, so a link leaving the tree is an error naming it.
 *
 * Installation writes `boot/ostree/OS-BOOTCSUM/vmlinuz-KVER` and friends only when missing
 * (deployments with the same kernel share the directory): a hard link from the deployment when
 * the filesystem allows, else a copy with owner and mode, written under a temporary name and
 * renamed, so a crash never leaves a half-written kernel under its final name.
 */
import { createHash, type Hash } from 'node:crypto';
import {
  closeSync, constants as fsConstants, linkSync, lstatSync, mkdirSync,
  openSync, opendirSync, readdirSync, readSync, realpathSync, renameSync, rmSync, statSync, type Stats,
} from 'node:fs';
import { join, sep } from 'node:path';
import { compareNames, isChecksum } from '../ostree/objects.js';
import {
  copyDirRecursive, copyFileOrLink, errnoOf, lstatOrNull, removeStaleTemporaries, tmpNameIn, type ErrorFactory,
} from './tree-copy.js';

export class KernelError extends Error {
  override name = 'KernelError';
}

const kernelError: ErrorFactory = (message, cause) => new KernelError(message, cause === undefined ? undefined : { cause });

/** One file (or the dtb/ directory) to install into `boot/ostree/OS-BOOTCSUM/`. */
export interface BootFile {
  /** Absolute path in the deployment, symlinks resolved (inside the deployment). */
  source: string;
  /** Name in the bootcsum directory, as the BLS entry refers to it. */
  name: string;
}

export interface KernelLayout {
  /** Which layout supplied the kernel. */
  layout: 'modules' | 'legacy';
  /**
   * The kernel version: the `usr/lib/modules` directory name; for a legacy layout, the kernel
   * file name without `vmlinuz-` and without its checksum ('' for a bare `vmlinuz-CSUM`).
   */
  kver: string;
  /** sha256 of kernel || initramfs [|| devicetree]; for legacy layouts, the checksum in the names. */
  bootcsum: string;
  paths: {
    vmlinuz: BootFile;
    initramfs: BootFile | null;
    /** A `devicetree` file, or a whole `dtb/` directory (`isDir`, installed as `dtb/`). */
    devicetree: (BootFile & { isDir: boolean }) | null;
    /** FIPS `.vmlinuz.hmac`, installed as `.vmlinuz-KVER.hmac` (dracut's name). */
    hmac: BootFile | null;
  };
}

/** The deployment's own real path, so "inside" is judged on resolved paths. */
function treeRoot(deploymentDir: string): string {
  try {
    return realpathSync(deploymentDir);
  } catch (e) {
    throw new KernelError(`Opening deployment ${deploymentDir}: ${(e as Error).message}`, { cause: e });
  }
}

const inside = (root: string, real: string): boolean => real === root || real.startsWith(root + sep);

/**
 * stat following symlinks, like ostree's fstatat(…, 0), but refusing a target outside `root`.
 * Null when the path (or a dangling link's target) does not exist.
 */
function statInTree(root: string, path: string): { real: string; st: Stats } | null {
  let real: string;
  try {
    real = realpathSync(path);
  } catch (e) {
    if (errnoOf(e) === 'ENOENT' || errnoOf(e) === 'ENOTDIR') return null;
    throw new KernelError(`Reading ${path}: ${(e as Error).message}`, { cause: e });
  }
  if (!inside(root, real)) throw new KernelError(`${path} is a symlink leading out of the deployment (to ${real})`);
  return { real, st: statSync(real) };
}

/** Entry names of a directory in raw readdir order (ostree's order), not sorted. */
function readdirRaw(dir: string): string[] {
  const d = opendirSync(dir);
  const names: string[] = [];
  try {
    for (let e; (e = d.readSync()) !== null;) names.push(e.name);
  } finally {
    d.closeSync();
  }
  return names;
}

function hashFile(hash: Hash, path: string): void {
  let fd: number;
  try {
    fd = openSync(path, fsConstants.O_RDONLY);
  } catch (e) {
    throw new KernelError(`Reading ${path}: ${(e as Error).message}`, { cause: e });
  }
  try {
    const buf = Buffer.allocUnsafe(1 << 20);
    for (let n; (n = readSync(fd, buf, 0, buf.length, null)) > 0;) hash.update(buf.subarray(0, n));
  } catch (e) {
    throw new KernelError(`Reading ${path}: ${(e as Error).message}`, { cause: e });
  } finally {
    closeSync(fd);
  }
}

/** A regular file in the tree, or null when absent; present but not a regular file is an error. */
function optionalFile(root: string, path: string): string | null {
  const found = statInTree(root, path);
  if (!found) return null;
  if (!found.st.isFile()) throw new KernelError(`${path} is not a regular file`);
  return found.real;
}

/** checksum_dir_recurse: entries in strcmp order, directories recursed, files hashed. */
function hashDirRecursive(root: string, hash: Hash, dir: string): void {
  for (const name of readdirSync(dir).sort(compareNames)) {
    const path = join(dir, name);
    if (lstatSync(path).isDirectory()) hashDirRecursive(root, hash, path);
    else {
      // ostree opens non-directories following links, skipping dangling ones.
      const real = optionalFile(root, path);
      if (real) hashFile(hash, real);
    }
  }
}

/** `known`: the bootcsum recorded for this tree, so nothing is hashed (see findKernel). */
function fromModules(root: string, known?: string): KernelLayout | null {
  const modules = join(root, 'usr', 'lib', 'modules');
  const st = lstatOrNull(modules);
  if (!st) return null;
  if (!st.isDirectory()) throw new KernelError(`${modules} is not a directory`);
  let kver: string | undefined;
  let vmlinuz: string | undefined;
  for (const name of readdirRaw(modules)) {
    // d_type DT_DIR: a symlink to a directory does not count.
    if (!lstatSync(join(modules, name)).isDirectory()) continue;
    const found = statInTree(root, join(modules, name, 'vmlinuz'));
    if (!found || !found.st.isFile()) continue;
    kver = name;
    vmlinuz = found.real;
    break;
  }
  if (kver === undefined || vmlinuz === undefined) return null;
  const dir = join(modules, kver);
  const hash = known === undefined ? createHash('sha256') : null;
  if (hash) hashFile(hash, vmlinuz);

  let initramfs: BootFile | null = null;
  for (const name of ['initramfs.img', 'initramfs']) {
    const real = optionalFile(root, join(dir, name));
    if (real) {
      initramfs = { source: real, name: `initramfs-${kver}.img` };
      if (hash) hashFile(hash, real);
      break;
    }
  }

  let devicetree: KernelLayout['paths']['devicetree'] = null;
  const dtFile = optionalFile(root, join(dir, 'devicetree'));
  if (dtFile) {
    devicetree = { source: dtFile, name: `devicetree-${kver}`, isDir: false };
    if (hash) hashFile(hash, dtFile);
  } else {
    const dtb = statInTree(root, join(dir, 'dtb'));
    if (dtb?.st.isDirectory()) {
      devicetree = { source: dtb.real, name: 'dtb', isDir: true };
      if (hash) hashDirRecursive(root, hash, dtb.real);
    }
  }

  const hmacFound = statInTree(root, join(dir, '.vmlinuz.hmac'));
  const hmac = hmacFound ? { source: hmacFound.real, name: `.vmlinuz-${kver}.hmac` } : null;
  return {
    layout: 'modules', kver, bootcsum: hash ? hash.digest('hex') : known!,
    paths: { vmlinuz: { source: vmlinuz, name: `vmlinuz-${kver}` }, initramfs, devicetree, hmac },
  };
}

/** `NAME-CSUM` → [NAME, CSUM] when the part after the last dash is a checksum. */
function splitChecksummed(name: string): [string, string] | null {
  const dash = name.lastIndexOf('-');
  const csum = name.slice(dash + 1);
  return isChecksum(csum) ? [name.slice(0, dash), csum] : null;
}

function fromLegacy(root: string): KernelLayout | null {
  let bootDir: string | undefined;
  for (const rel of ['usr/lib/ostree-boot', 'boot']) {
    const path = join(root, rel);
    let found: ReturnType<typeof statInTree>;
    try {
      found = statInTree(root, path);
    } catch (e) {
      // A `boot` link out of the tree (e.g. to the host's /boot) holds no kernel of this tree.
      if (e instanceof KernelError && /leading out/.test(e.message)) continue;
      throw e;
    }
    if (!found) continue;
    if (!found.st.isDirectory()) throw new KernelError(`${path} is not a directory`);
    bootDir = found.real;
    break;
  }
  if (!bootDir) return null;

  type Found = { source: string; namever: string; csum: string };
  let kernel: Found | undefined;
  let initramfs: Found | undefined;
  let devicetree: Found | undefined;
  for (const name of readdirRaw(bootDir)) {
    const prefix = ['vmlinuz-', 'initramfs-', 'devicetree-'].find((p) => name.startsWith(p));
    const split = prefix ? splitChecksummed(name) : null;
    if (!split) continue;
    const found = { source: join(bootDir, name), namever: split[0], csum: split[1] };
    if (prefix === 'vmlinuz-') kernel ??= found;
    else if (prefix === 'initramfs-') initramfs ??= found;
    else devicetree ??= found;
    if (kernel && initramfs && devicetree) break;
  }
  if (!kernel) return null;
  if (initramfs && initramfs.csum !== kernel.csum) throw new KernelError(`Mismatched kernel checksum vs initrd in ${bootDir}`);
  if (devicetree && devicetree.csum !== kernel.csum) throw new KernelError(`Mismatched kernel checksum vs device tree in ${bootDir}`);
  const resolve = (f: Found): string => {
    const real = optionalFile(root, f.source);
    if (!real) throw new KernelError(`${f.source} is a dangling symlink`);
    return real;
  };
  return {
    layout: 'legacy',
    kver: kernel.namever.replace(/^vmlinuz-?/, ''),
    bootcsum: kernel.csum,
    paths: {
      vmlinuz: { source: resolve(kernel), name: kernel.namever },
      initramfs: initramfs ? { source: resolve(initramfs), name: initramfs.namever } : null,
      devicetree: devicetree ? { source: resolve(devicetree), name: devicetree.namever, isDir: false } : null,
      hmac: null,
    },
  };
}

/**
 * Finds the kernel of the checked-out tree `deploymentDir` and computes its bootcsum, with
 * ostree's precedence between the modules and legacy layouts. `knownBootcsum`: the one an
 * existing deployment was deployed with; its tree is immutable, so the kernel and initramfs
 * (tens of MiB) are not hashed again.
 */
export function findKernel(deploymentDir: string, knownBootcsum?: string): KernelLayout {
  const root = treeRoot(deploymentDir);
  let modules: KernelLayout | null;
  let legacy: KernelLayout | null;
  try {
    modules = fromModules(root, knownBootcsum);
    legacy = fromLegacy(root);
  } catch (e) {
    if (e instanceof KernelError) throw e;
    throw new KernelError(`Finding the kernel in ${deploymentDir}: ${(e as Error).message}`, { cause: e });
  }
  if (modules && !(legacy && !modules.paths.initramfs && legacy.paths.initramfs)) return modules;
  if (legacy) return legacy;
  throw new KernelError(`Failed to find kernel in /usr/lib/modules, /usr/lib/ostree-boot or /boot (in ${deploymentDir})`);
}

export interface InstallKernelTarget {
  /** The stateroot: the directory is `boot/ostree/OSNAME-BOOTCSUM`. */
  osname: string;
  kernel: KernelLayout;
  /** Hard-link from the deployment when the filesystem allows (default true); false always copies. */
  link?: boolean;
}

export interface InstallKernelResult {
  /** `SYSROOT/boot/ostree/OSNAME-BOOTCSUM`. */
  dir: string;
  /** Per name in `dir`: how it got there in this call. */
  files: { name: string; how: 'linked' | 'copied' | 'existing' }[];
}

/** Copies one file into /boot as install_into_boot does: owner and mode, no xattrs, synced. */
function copyIntoBoot(src: string, dest: string): void {
  // /boot is often vfat and read by firmware: the bytes must be on disk before the name.
  copyFileOrLink(src, dest, { xattrs: false, times: false, sync: true, error: kernelError });
}

function installFile(file: BootFile, dir: string, link: boolean): 'linked' | 'copied' | 'existing' {
  const dest = join(dir, file.name);
  if (lstatOrNull(dest)) return 'existing';
  if (link) {
    try {
      linkSync(file.source, dest);
      return 'linked';
    } catch (e) {
      // Someone installed it meanwhile: same bootcsum, same bytes.
      if (errnoOf(e) === 'EEXIST') return 'existing';
      // Another filesystem or too many links: copy, as ostree does. Anything else is real.
      if (errnoOf(e) !== 'EXDEV' && errnoOf(e) !== 'EMLINK') {
        throw new KernelError(`Linking ${file.source} to ${dest}: ${(e as Error).message}`, { cause: e });
      }
    }
  }
  copyIntoBoot(file.source, dest);
  return 'copied';
}

/**
 * Installs `kernel` (from findKernel on a deployment of `osname`) into
 * `SYSROOT/boot/ostree/OSNAME-BOOTCSUM/`, writing only the files that are missing. A `dtb/`
 * directory is copied whole (owner, mode, xattrs) into a temporary directory and renamed.
 */
export function installKernel(sysroot: string, target: InstallKernelTarget): InstallKernelResult {
  const { osname, kernel } = target;
  const link = target.link ?? true;
  if (!isChecksum(kernel.bootcsum)) throw new KernelError(`Invalid bootcsum ${JSON.stringify(kernel.bootcsum)}`);
  const dir = join(sysroot, 'boot', 'ostree', `${osname}-${kernel.bootcsum}`);
  try {
    mkdirSync(dir, { recursive: true, mode: 0o775 });
  } catch (e) {
    throw new KernelError(`Creating ${dir}: ${(e as Error).message}`, { cause: e });
  }
  if (!lstatSync(dir).isDirectory()) throw new KernelError(`${dir} is not a directory`);
  removeStaleTemporaries(dir);

  const files: InstallKernelResult['files'] = [];
  const { vmlinuz, initramfs, devicetree, hmac } = kernel.paths;
  for (const f of [vmlinuz, initramfs]) if (f) files.push({ name: f.name, how: installFile(f, dir, link) });
  if (devicetree?.isDir) {
    const dest = join(dir, devicetree.name);
    if (lstatOrNull(dest)) files.push({ name: devicetree.name, how: 'existing' });
    else {
      const tmp = tmpNameIn(dir);
      try {
        copyDirRecursive(devicetree.source, tmp, { xattrs: true, times: true, sync: true, error: kernelError });
        renameSync(tmp, dest);
      } catch (e) {
        rmSync(tmp, { recursive: true, force: true });
        if (e instanceof KernelError) throw e;
        throw new KernelError(`Installing ${devicetree.source} as ${dest}: ${(e as Error).message}`, { cause: e });
      }
      files.push({ name: devicetree.name, how: 'copied' });
    }
  } else if (devicetree) files.push({ name: devicetree.name, how: installFile(devicetree, dir, link) });
  if (hmac) files.push({ name: hmac.name, how: installFile(hmac, dir, link) });
  return { dir, files };
}

/**
 * Copying files and directory trees with their ownership, mode and xattrs, the way libglnx's
 * glnx_file_copy_at and ostree's copy_dir_recurse do, for the /etc merge and for /boot. Never
 * follows a symlink: entries are lstat-ed, symlinks are recreated as symlinks, regular files
 * are opened with O_NOFOLLOW. Each file is written under a temporary name in its destination
 * directory and renamed into place, so a crash leaves the old file or the new one, never half
 * of one (and the rename replaces an existing file, as GLNX_FILE_COPY_OVERWRITE does).
 */
import { randomBytes } from 'node:crypto';
import {
  closeSync, fchmodSync, fchownSync, fdatasyncSync, fstatSync, constants as fsConstants, futimesSync, lchownSync, lstatSync,
  mkdirSync, openSync, readdirSync, readlinkSync, readSync, renameSync, rmSync, symlinkSync, chmodSync, chownSync, unlinkSync, writeSync,
  type Dirent, type Stats,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { readXattrs, writeXattrs } from '../ostree/xattrs.js';

/** Turns a low-level failure into the caller's typed error (EtcMergeError, KernelError). */
export type ErrorFactory = (message: string, cause?: unknown) => Error;

export interface CopyOptions {
  /** Copy xattrs too (the /etc merge and dtb/ do; kernels copied into /boot do not). */
  xattrs: boolean;
  /** Keep the source's atime and mtime (glnx_file_copy_at does; install_into_boot does not). */
  times: boolean;
  /** fdatasync each file before it is renamed into place (wanted for /boot). */
  sync?: boolean;
  /**
   * The destination tree is new and nothing reads it before the copy ends (a deployment's
   * /etc): files are created in place, without a temporary name and a rename each.
   */
  fresh?: boolean;
  error: ErrorFactory;
}

/** Prefix of our temporaries: a crashed copy leaves only names starting with it. */
export const TMP_PREFIX = '.mco-tmp-';

export const tmpNameIn = (dir: string): string => join(dir, `${TMP_PREFIX}${randomBytes(8).toString('hex')}`);

export const errnoOf = (e: unknown): string | undefined => (e as NodeJS.ErrnoException)?.code;

/** lstat that returns null for a missing path (and for a path under a non-directory). */
export function lstatOrNull(path: string): Stats | null {
  try {
    return lstatSync(path);
  } catch (e) {
    if (errnoOf(e) === 'ENOENT' || errnoOf(e) === 'ENOTDIR') return null;
    throw e;
  }
}

/** Copies the bytes of one open file into another, 1 MiB at a time. */
/** One copy buffer for the process: a fresh 1 MiB per file showed up as GC time. */
const copyBuffer = Buffer.allocUnsafe(1 << 20);

function copyBytes(srcFd: number, destFd: number): void {
  const buf = copyBuffer;
  for (let n; (n = readSync(srcFd, buf, 0, buf.length, null)) > 0;) {
    for (let off = 0; off < n;) off += writeSync(destFd, buf, off, n - off);
  }
}

/**
 * Copies one regular file or symlink `src` to `dest`, replacing a non-directory there. Owner,
 * then xattrs, then mode: chown clears setuid bits, and libglnx sets the mode last in case an
 * xattr is a security label.
 */
export function copyFileOrLink(src: string, dest: string, options: CopyOptions): void {
  let st: Stats;
  try {
    st = lstatSync(src);
  } catch (e) {
    throw options.error(`Copying ${src}: ${(e as Error).message}`, e);
  }
  if (!st.isSymbolicLink() && !st.isFile()) throw options.error(`Copying ${src}: not a regular file or symlink`);
  const tmp = options.fresh ? dest : tmpNameIn(dirname(dest));
  try {
    if (st.isSymbolicLink()) {
      symlinkSync(readlinkSync(src), tmp);
      lchownSync(tmp, st.uid, st.gid);
      if (options.xattrs) writeXattrs(tmp, readXattrs(src));
    } else {
      const srcFd = openSync(src, fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW);
      try {
        // The inode opened must be the one lstat-ed: a swap for a symlink would fail O_NOFOLLOW.
        const now = fstatSync(srcFd);
        const destFd = openSync(tmp, fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL | fsConstants.O_NOFOLLOW, 0o600);
        try {
          copyBytes(srcFd, destFd);
          fchownSync(destFd, now.uid, now.gid);
          if (options.xattrs) writeXattrs(tmp, readXattrs(src));
          fchmodSync(destFd, now.mode & 0o7777);
          if (options.times) futimesSync(destFd, now.atimeMs / 1000, now.mtimeMs / 1000);
          if (options.sync) fdatasyncSync(destFd);
        } finally {
          closeSync(destFd);
        }
      } finally {
        closeSync(srcFd);
      }
    }
    if (tmp !== dest) renameSync(tmp, dest);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw options.error(`Copying ${src} to ${dest}: ${(e as Error).message}`, e);
  }
}

/** Gives directory `dest` the xattrs, owner and mode of directory `src` (dirfd_copy_attributes_and_xattrs). */
export function copyDirAttributes(src: string, dest: string, options: Pick<CopyOptions, 'xattrs' | 'error'>): void {
  try {
    const st = lstatSync(src);
    if (options.xattrs) writeXattrs(dest, readXattrs(src));
    chownSync(dest, st.uid, st.gid);
    chmodSync(dest, st.mode & 0o7777);
  } catch (e) {
    throw options.error(`Copying attributes of ${src} to ${dest}: ${(e as Error).message}`, e);
  }
}

/**
 * mkdir with mode 0700 (the real mode comes later from the template) that accepts an existing
 * directory but never a symlink to one: writing through it could land outside the tree.
 */
export function ensureRealDir(path: string, error: ErrorFactory): void {
  try {
    mkdirSync(path, { mode: 0o700 });
    return;
  } catch (e) {
    if (errnoOf(e) !== 'EEXIST') throw error(`Creating directory ${path}: ${(e as Error).message}`, e);
  }
  const st = lstatSync(path);
  if (st.isSymbolicLink()) throw error(`Refusing to write through a symlink: ${path}`);
  if (!st.isDirectory()) throw error(`Creating directory ${path}: a non-directory is in the way`);
}

/**
 * copy_dir_recurse: `src` (a real directory) is copied into `dest`, which is created or reused,
 * with every entry's owner, mode and xattrs; existing files in `dest` are replaced. Anything
 * that is not a directory, regular file or symlink (a fifo, a socket, a device) is an error,
 * as it is for ostree.
 */
export function copyDirRecursive(src: string, dest: string, options: CopyOptions): void {
  ensureRealDir(dest, options.error);
  copyDirAttributes(src, dest, options);
  let entries: Dirent[];
  try {
    entries = readdirSync(src, { withFileTypes: true });
  } catch (e) {
    throw options.error(`Reading directory ${src}: ${(e as Error).message}`, e);
  }
  for (const entry of entries) {
    const from = join(src, entry.name);
    const to = join(dest, entry.name);
    // The entry's type is lstat's (d_type); copyFileOrLink checks what it opens again.
    if (entry.isDirectory()) copyDirRecursive(from, to, options);
    else copyFileOrLink(from, to, options);
  }
}

/** Removes our temporaries left in `dir` by a crash (best effort: a missing dir has none). */
export function removeStaleTemporaries(dir: string): void {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return;
  }
  for (const name of names) if (name.startsWith(TMP_PREFIX)) rmSync(join(dir, name), { recursive: true, force: true });
}

/** unlink that ignores a missing file. */
export function unlinkIfPresent(path: string): void {
  try {
    unlinkSync(path);
  } catch (e) {
    if (errnoOf(e) !== 'ENOENT') throw e;
  }
}

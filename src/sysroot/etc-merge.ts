/**
 * /etc of a new deployment (spec §4.2, §4.10; ostree 2022.7 prepare_deployment_etc,
 * merge_configuration_from and ostree_diff_dirs).
 *
 * A fresh deployment's /etc is a full copy of its /usr/etc (never hard links: admins edit /etc
 * in place, and a link would edit the read-only default too). Then the admin's changes are
 * carried over from the merge deployment: the difference between its defaults (O = usr/etc) and
 * its live config (C = etc), computed ignoring xattrs (SELinux labels differ between the two
 * anyway), is applied to the new /etc (N): removed paths are deleted, modified and added ones
 * copied from C. Local changes always win; untouched files follow the new defaults.
 *
 * Faithful to ostree where it is observable: what counts as modified (content, owner, mode,
 * symlink target, or a change of type; directories by owner and mode), that a modified
 * directory already present in N keeps N's attributes, that every directory on the way to a
 * copied path takes C's owner, mode and xattrs, that copies keep timestamps, and the counts in
 * "Copying /etc changes: …". Stricter where ostree would follow a symlink: nothing is ever
 * written, created or deleted through a symlink in N, and C's symlinks are copied as symlinks.
 */
import {
  closeSync, fstatSync, constants as fsConstants, lstatSync, mkdirSync, openSync, readdirSync, readlinkSync, readSync, renameSync, rmSync,
  type Stats,
} from 'node:fs';
import { dirname, join } from 'node:path';
import {
  copyDirAttributes, copyDirRecursive, copyFileOrLink, errnoOf, lstatOrNull, unlinkIfPresent, type CopyOptions, type ErrorFactory,
} from './tree-copy.js';

export class EtcMergeError extends Error {
  override name = 'EtcMergeError';
}

const mergeError: ErrorFactory = (message, cause) =>
  new EtcMergeError(`During /etc merge: ${message}`, cause === undefined ? undefined : { cause });

/** Paths relative to the /etc directories, '/'-separated, in traversal order (a directory before its entries). */
export interface EtcDiff {
  /** In both O and C, but different (or of a different type). */
  modified: string[];
  /** In O, not in C: deleted by the admin. Only the topmost path of a removed subtree. */
  removed: string[];
  /** In C, not in O: every entry of an added directory is listed too (ostree counts them all). */
  added: string[];
}

export interface EtcMergeResult {
  modified: number;
  removed: number;
  added: number;
  /** ostree's journal line: `Copying /etc changes: 1 modified, 1 removed, 1 added`. */
  message: string;
  diff: EtcDiff;
  /** Modified or added entries that are neither file, symlink nor directory (ostree skips them too). */
  ignored: string[];
}

// ---- diff (ostree_diff_dirs with OSTREE_DIFF_FLAGS_IGNORE_XATTRS)

const fileType = (st: Stats): number => st.mode & fsConstants.S_IFMT;

/** Byte-for-byte comparison of two regular files, without following symlinks. */
function sameContent(a: string, b: string): boolean {
  const fa = openSync(a, fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW);
  try {
    const fb = openSync(b, fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW);
    try {
      if (fstatSync(fa).size !== fstatSync(fb).size) return false;
      const ba = Buffer.allocUnsafe(1 << 16);
      const bb = Buffer.allocUnsafe(1 << 16);
      for (;;) {
        const na = readSync(fa, ba, 0, ba.length, null);
        let nb = 0;
        while (nb < na) {
          const n = readSync(fb, bb, nb, na - nb, null);
          if (n === 0) return false;
          nb += n;
        }
        if (na === 0) return readSync(fb, bb, 0, 1, null) === 0;
        if (!ba.subarray(0, na).equals(bb.subarray(0, na))) return false;
      }
    } finally {
      closeSync(fb);
    }
  } finally {
    closeSync(fa);
  }
}

/**
 * Whether ostree's content checksums (dirmeta checksums for directories) of two entries of the
 * same type differ, xattrs left out: owner and full mode, plus content or symlink target.
 */
function differs(a: string, sa: Stats, b: string, sb: Stats): boolean {
  if (sa.uid !== sb.uid || sa.gid !== sb.gid || sa.mode !== sb.mode) return true;
  if (sa.isSymbolicLink()) return readlinkSync(a) !== readlinkSync(b);
  if (sa.isFile()) return !sameContent(a, b);
  return false;
}

/** Directory entries in byte order (libuv sorts with strcmp): deterministic lists on any filesystem. */
const entries = (dir: string): string[] => readdirSync(dir);

/**
 * The changes from `orig` (defaults, O) to `modified` (live config, C), as ostree's diff finds
 * them: never following symlinks, recursing into directories present in both.
 */
export function diffEtc(orig: string, modified: string): EtcDiff {
  const out: EtcDiff = { modified: [], removed: [], added: [] };
  for (const [dir, what] of [[orig, 'defaults'], [modified, 'configuration']] as const) {
    const st = lstatOrNull(dir);
    if (!st?.isDirectory()) throw mergeError(`While computing configuration diff: ${what} directory ${dir} ${st ? 'is not a directory' : 'does not exist'}`);
  }
  const addAll = (rel: string): void => {
    for (const name of entries(join(modified, rel))) {
      const child = `${rel}/${name}`;
      out.added.push(child);
      if (lstatSync(join(modified, child)).isDirectory()) addAll(child);
    }
  };
  const walk = (rel: string): void => {
    const at = (root: string, name: string): string => join(root, rel, name);
    const sub = (name: string): string => (rel === '' ? name : `${rel}/${name}`);
    for (const name of entries(join(orig, rel))) {
      const sa = lstatSync(at(orig, name));
      const sb = lstatOrNull(at(modified, name));
      if (!sb) out.removed.push(sub(name));
      else if (fileType(sa) !== fileType(sb)) out.modified.push(sub(name));
      else {
        if (differs(at(orig, name), sa, at(modified, name), sb)) out.modified.push(sub(name));
        if (sa.isDirectory()) walk(sub(name));
      }
    }
    for (const name of entries(join(modified, rel))) {
      if (lstatOrNull(at(orig, name))) continue;
      out.added.push(sub(name));
      if (lstatSync(at(modified, name)).isDirectory()) addAll(sub(name));
    }
  };
  try {
    walk('');
  } catch (e) {
    if (e instanceof EtcMergeError) throw e;
    throw mergeError(`While computing configuration diff between ${orig} and ${modified}: ${(e as Error).message}`, e);
  }
  return out;
}

// ---- applying the diff

interface MergeDirs {
  /** O: the merge deployment's defaults (its `usr/etc`). */
  orig: string;
  /** C: the merge deployment's live configuration (its `etc`). */
  modified: string;
  /** N: the new deployment's `etc`, a fresh copy of its `usr/etc`; changed in place. */
  target: string;
}

const COPY: CopyOptions = { xattrs: true, times: true, error: mergeError };

/**
 * Whether N/rel is a real directory reached through real directories only: 'blocked' when a
 * symlink or a non-directory is on the way, 'missing' when a component does not exist.
 */
function realDirIn(target: string, rel: string): 'dir' | 'missing' | 'blocked' {
  let path = target;
  for (const part of rel.split('/')) {
    path = join(path, part);
    const st = lstatOrNull(path);
    if (!st) return 'missing';
    if (!st.isDirectory()) return 'blocked';
  }
  return 'dir';
}

/**
 * ensure_directory_from_template: makes N/rel a directory, creating missing parents; every
 * directory created, and N/rel itself even if it existed, takes C's owner, mode and xattrs.
 */
function ensureDirectoryFromTemplate(dirs: MergeDirs, rel: string): void {
  let sub = '';
  const parts = rel.split('/');
  parts.forEach((part, i) => {
    sub = sub === '' ? part : `${sub}/${part}`;
    const dest = join(dirs.target, sub);
    const template = join(dirs.modified, sub);
    const st = lstatOrNull(dest);
    if (st?.isSymbolicLink()) throw mergeError(`Refusing to write through the symlink ${dest} (copying ${rel} from ${dirs.modified})`);
    if (st && !st.isDirectory()) throw mergeError(`${dest} is not a directory (copying ${rel} from ${dirs.modified})`);
    const tst = lstatOrNull(template);
    if (!tst?.isDirectory()) throw mergeError(`${template} is not a directory`);
    if (!st) {
      try {
        // 0700 until the template's attributes are applied, as ostree does. Not recursive: the
        // parent was checked on the previous step, and an EEXIST race must fail, not follow.
        mkdirSync(dest, { mode: 0o700 });
      } catch (e) {
        throw mergeError(`Creating directory ${dest}: ${(e as Error).message}`, e);
      }
    }
    if (!st || i === parts.length - 1) copyDirAttributes(template, dest, COPY);
  });
}

/**
 * copy_modified_config_file: puts C's version of `rel` into N, replacing what is there; a
 * directory is copied whole. N having a directory where C has a non-directory is the one
 * conflict ostree refuses.
 */
function copyModifiedConfigFile(dirs: MergeDirs, rel: string, ignored: string[]): 'copied-dir' | 'done' {
  const src = join(dirs.modified, rel);
  let cst: Stats;
  try {
    cst = lstatSync(src);
  } catch (e) {
    throw mergeError(`Reading modified config file ${src}: ${(e as Error).message}`, e);
  }
  if (rel.includes('/')) ensureDirectoryFromTemplate(dirs, dirname(rel));
  const dest = join(dirs.target, rel);
  const nst = lstatOrNull(dest);
  if (nst?.isDirectory()) {
    if (!cst.isDirectory()) throw mergeError(`Modified config file newly defaults to directory '${rel}', cannot merge (${dest})`);
    // Assumed already merged through its own entries, as ostree assumes: N's attributes stay.
    return 'done';
  }
  if (cst.isDirectory()) {
    if (nst) unlinkIfPresent(dest);
    copyDirRecursive(src, dest, COPY);
    return 'copied-dir';
  }
  if (cst.isFile() || cst.isSymbolicLink()) {
    // The rename inside replaces N's file or symlink atomically: no window without the file.
    copyFileOrLink(src, dest, COPY);
  } else {
    // A fifo, socket or device: ostree has already unlinked N's entry when it notices, and skips.
    if (nst) unlinkIfPresent(dest);
    ignored.push(rel);
  }
  return 'done';
}

/** rm -rf of N/rel, unless a parent on the way is missing or not a real directory (then nothing of N is there). */
function removeFromTarget(target: string, rel: string): void {
  const parent = dirname(rel);
  if (parent !== '.' && realDirIn(target, parent) !== 'dir') return;
  try {
    // rmSync lstat-s: a symlink is removed, never followed.
    rmSync(join(target, rel), { recursive: true, force: true });
  } catch (e) {
    throw mergeError(`Removing ${join(target, rel)}: ${(e as Error).message}`, e);
  }
}

/**
 * The three-way merge on explicit directories: diff O→C, then apply it to N in ostree's order
 * (removals, then modifications, then additions).
 */
export function mergeEtcDirs(dirs: MergeDirs): EtcMergeResult {
  const diff = diffEtc(dirs.orig, dirs.modified);
  const tst = lstatOrNull(dirs.target);
  if (!tst?.isDirectory()) throw mergeError(`new configuration directory ${dirs.target} ${tst ? 'is not a directory' : 'does not exist'}`);
  const ignored: string[] = [];
  try {
    for (const rel of diff.removed) removeFromTarget(dirs.target, rel);
    // Entries of a directory already copied whole would only be copied again from the same source.
    const copiedDirs = new Set<string>();
    const underCopied = (rel: string): boolean => {
      for (let p = dirname(rel); p !== '.'; p = dirname(p)) if (copiedDirs.has(p)) return true;
      return false;
    };
    for (const rel of [...diff.modified, ...diff.added]) {
      if (underCopied(rel)) continue;
      if (copyModifiedConfigFile(dirs, rel, ignored) === 'copied-dir') copiedDirs.add(rel);
    }
  } catch (e) {
    if (e instanceof EtcMergeError) throw e;
    throw mergeError(`Applying changes from ${dirs.modified} to ${dirs.target}: ${(e as Error).message}`, e);
  }
  const counts = { modified: diff.modified.length, removed: diff.removed.length, added: diff.added.length };
  return {
    ...counts,
    message: `Copying /etc changes: ${counts.modified} modified, ${counts.removed} removed, ${counts.added} added`,
    diff,
    ignored,
  };
}

/**
 * The /etc merge of a deployment: the changes between `mergeDeployment`'s `usr/etc` and `etc`
 * are applied to `newDeployment`'s `etc` (already a copy of its `usr/etc`).
 */
export function mergeEtc(mergeDeployment: string, newDeployment: string): EtcMergeResult {
  return mergeEtcDirs({
    orig: join(mergeDeployment, 'usr', 'etc'),
    modified: join(mergeDeployment, 'etc'),
    target: join(newDeployment, 'etc'),
  });
}

/**
 * A fresh deployment's /etc: a full copy (owners, modes, xattrs; never hard links) of its
 * `usr/etc`. A tree shipping `/etc` instead gets it moved to `usr/etc` first; one shipping
 * both is refused. A tree with neither gets no /etc.
 */
export function copyEtcFromUsrEtc(deploymentDir: string): void {
  const etc = join(deploymentDir, 'etc');
  const usrEtc = join(deploymentDir, 'usr', 'etc');
  const prep = (message: string, cause?: unknown): EtcMergeError =>
    new EtcMergeError(`Preparing /etc: ${message}`, cause === undefined ? undefined : { cause });
  if (lstatOrNull(etc)) {
    if (lstatOrNull(usrEtc)) throw prep(`Tree contains both /etc and /usr/etc: ${deploymentDir}`);
    try {
      renameSync(etc, usrEtc);
    } catch (e) {
      throw prep(`Moving ${etc} to ${usrEtc}: ${errnoOf(e) === 'ENOENT' ? 'the tree has no /usr' : (e as Error).message}`, e);
    }
  }
  const st = lstatOrNull(usrEtc);
  if (!st) return;
  if (!st.isDirectory()) throw prep(`${usrEtc} is not a directory`);
  // ostree checks /usr/etc out of the commit again with force_copy; the deployment's usr/etc is
  // a hard-link checkout of that same commit, so copying it gives the same tree. Such a checkout
  // writes files afresh: new timestamps, not the objects' mtime 0.
  try {
    copyDirRecursive(usrEtc, etc, { xattrs: true, times: false, fresh: true, error: prep });
  } catch (e) {
    if (e instanceof EtcMergeError) throw e;
    throw prep(`Copying ${usrEtc} to ${etc}: ${(e as Error).message}`, e);
  }
}

/**
 * Deletes `etc/.updated` of the deployment and `.updated` of the stateroot's shared `var`, so
 * that systemd's ConditionNeedsUpdate= units run on the first boot of the new deployment.
 */
export function removeUpdatedStamps(deploymentDir: string, varDir: string): void {
  for (const stamp of [join(deploymentDir, 'etc', '.updated'), join(varDir, '.updated')]) {
    try {
      unlinkIfPresent(stamp);
    } catch (e) {
      throw new EtcMergeError(`Removing ${stamp}: ${(e as Error).message}`, { cause: e });
    }
  }
}

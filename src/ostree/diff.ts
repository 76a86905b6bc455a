/**
 * `ostree diff` and `ostree checksum`: compare two trees, each a commit's or a directory on
 * disk, as ostree_diff_dirs does. A file differs when its content checksum does (content,
 * ownership, mode, xattrs), a directory when its dirmeta does; entries only on one side are
 * removed or added, with everything under them. A directory on disk is checksummed as a commit
 * would store it, so a checkout compares equal to its commit.
 */
import { createHash } from 'node:crypto';
import { lstatSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { encodeDirMeta, fileChecksumPrefix, S_IFMT, sha256Hex, type FileHeader } from './objects.js';
import type { Repo } from './repo.js';
import { readXattrs } from './xattrs.js';

export interface DiskChecksumOptions {
  /** Leave xattrs out of the checksum (`--ignore-xattrs`, or a repo that stores none). */
  ignoreXattrs?: boolean;
  /** `--owner-uid`/`--owner-gid`: checksum as if owned by these. */
  ownerUid?: number;
  ownerGid?: number;
}

/** The checksum ostree gives the file, symlink or directory at `path`: a content or dirmeta checksum. */
export function checksumPath(path: string, options: DiskChecksumOptions = {}): string {
  const st = lstatSync(path);
  const uid = options.ownerUid ?? st.uid;
  const gid = options.ownerGid ?? st.gid;
  // Empty values are dropped as libglnx drops them on read (and commit does too).
  const xattrs = options.ignoreXattrs ? [] : readXattrs(path).filter(([, v]) => v.length > 0);
  if (st.isDirectory()) return sha256Hex(encodeDirMeta({ uid, gid, mode: st.mode & (S_IFMT | 0o7777), xattrs }));
  const header: FileHeader = { uid, gid, mode: st.mode, symlinkTarget: st.isSymbolicLink() ? readlinkSync(path) : '', xattrs };
  const hash = createHash('sha256').update(fileChecksumPrefix(header));
  if (st.isFile()) hash.update(readFileSync(path));
  return hash.digest('hex');
}

/** One side of a diff: a directory of a commit, or one on disk. */
export type DiffSide = { repo: Repo; tree: string; meta: string } | { dir: string };

export interface DiffResult {
  /** Paths as ostree prints them: from the commit's root (`/a/b`), or relative to the directory on disk. */
  modified: string[];
  removed: string[];
  added: string[];
}

interface Entry {
  isDir: boolean;
  checksum: string;
  /** The directory's own side, to recurse into. */
  side?: DiffSide;
  display: string;
}

export function diffTrees(a: DiffSide, b: DiffSide, options: DiskChecksumOptions = {}): DiffResult {
  const result: DiffResult = { modified: [], removed: [], added: [] };
  const ignoreXattrs = options.ignoreXattrs || [a, b].some((s) => 'repo' in s && (s.repo.mode === 'bare-user-only' || s.repo.config.getBoolean('core', 'disable-xattrs') === true));
  diffDir(a, b, '', '', { ...options, ignoreXattrs }, result);
  return result;
}

function diffDir(a: DiffSide, b: DiffSide, aPath: string, bPath: string, options: DiskChecksumOptions, out: DiffResult): void {
  if ('repo' in a && 'repo' in b && a.tree === b.tree) return;
  const aEntries = entries(a, aPath, { ignoreXattrs: options.ignoreXattrs });
  const bEntries = entries(b, bPath, options);
  for (const [name, ea] of aEntries) {
    const eb = bEntries.get(name);
    if (!eb) {
      out.removed.push(ea.display);
      continue;
    }
    if (ea.isDir !== eb.isDir) {
      out.modified.push(ea.display);
      continue;
    }
    if (ea.checksum !== eb.checksum) out.modified.push(ea.display);
    if (ea.isDir) diffDir(ea.side!, eb.side!, childPath(aPath, name, a), childPath(bPath, name, b), options, out);
  }
  for (const [name, eb] of bEntries) {
    if (aEntries.has(name)) continue;
    out.added.push(eb.display);
    if (eb.isDir) addAll(eb.side!, childPath(bPath, name, b), options, out.added);
  }
}

function addAll(side: DiffSide, path: string, options: DiskChecksumOptions, added: string[]): void {
  for (const [name, e] of entries(side, path, options)) {
    added.push(e.display);
    if (e.isDir) addAll(e.side!, childPath(path, name, side), options, added);
  }
}

/** Commit paths start at `/`; paths on disk are relative to the directory compared, as ostree prints them. */
function childPath(parent: string, name: string, side: DiffSide): string {
  if ('repo' in side) return `${parent}/${name}`;
  return parent ? `${parent}/${name}` : name;
}

function entries(side: DiffSide, path: string, options: DiskChecksumOptions): Map<string, Entry> {
  const out = new Map<string, Entry>();
  if ('repo' in side) {
    const tree = side.repo.loadDirTreeSync(side.tree);
    for (const [name, checksum] of tree.files) out.set(name, { isDir: false, checksum, display: childPath(path, name, side) });
    for (const [name, t, m] of tree.dirs) out.set(name, { isDir: true, checksum: m, side: { repo: side.repo, tree: t, meta: m }, display: childPath(path, name, side) });
    return out;
  }
  for (const name of readdirSync(side.dir)) {
    const full = `${side.dir}/${name}`;
    const isDir = lstatSync(full).isDirectory();
    out.set(name, { isDir, checksum: checksumPath(full, options), ...(isDir ? { side: { dir: full } } : {}), display: childPath(path, name, side) });
  }
  return out;
}

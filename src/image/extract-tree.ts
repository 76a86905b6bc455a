/**
 * The writer behind layer extraction: applies one tar entry at a time to a private staging
 * directory without ever following a symlink. Every path is walked from the staging root with
 * `lstat`, each existing component must be a real directory, files are created with
 * `O_EXCL|O_NOFOLLOW`, and symlinks are written with their target exactly as stored (an OS tree
 * is full of absolute ones; they mean "inside the image" and are never dereferenced here).
 * Synchronous fs calls on purpose: measured at GNU tar's speed, where per-entry async work ran
 * 3–10× slower (reference/oci.md §5.5).
 *
 * Paths given to this module are already normalized and relative to the staging root ('' is
 * the root). Errors are plain Errors stating what is unsafe; the caller adds layer and entry.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { join } from 'node:path';
import type { Xattr } from '../ostree/objects.js';
import { writeXattrs } from '../ostree/xattrs.js';

export interface EntryMeta {
  mode: number;
  uid: number;
  gid: number;
  mtime: Date;
  xattrs: Xattr[];
}

export interface TreeOptions {
  /** chown to the image's numeric owners, keep setuid/setgid, apply xattrs (needs root). */
  preserveOwnership: boolean;
  /** Create device nodes and FIFOs (needs root); when false they are refused. */
  devices: boolean;
}

export type DeviceKind = 'character-device' | 'block-device' | 'fifo';

/** An open regular file being written from an entry's body. */
export interface FileSink {
  write(chunk: Buffer): void;
  /** Checks the byte count, applies the metadata and closes. */
  close(): void;
  /** Closes without finishing (the staging tree is about to be removed). */
  abort(): void;
}

const FILE_FLAGS = fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW;
const DIR_FLAGS = fs.constants.O_RDONLY | fs.constants.O_DIRECTORY | fs.constants.O_NOFOLLOW;

const parentOf = (rel: string): string => {
  const i = rel.lastIndexOf('/');
  return i < 0 ? '' : rel.slice(0, i);
};
const isUnder = (rel: string, dir: string): boolean => dir === '' || rel === dir || rel.startsWith(`${dir}/`);

export class StagingTree {
  /** Directories known to be real directories in the staging tree (no lstat needed again). */
  private readonly verifiedDirs = new Set<string>(['']);
  /** Paths created or replaced by the layer being applied: whiteouts spare them. */
  private readonly writtenThisLayer = new Set<string>();
  /**
   * Directory metadata, applied once every layer is in: creating children changes a
   * directory's mtime, and a read-only directory would stop the next layer (or the cleanup).
   */
  private readonly dirMeta = new Map<string, EntryMeta>();

  constructor(
    readonly root: string,
    private readonly options: TreeOptions,
  ) {}

  beginLayer(): void {
    this.writtenThisLayer.clear();
  }

  /** Metadata of the root itself when no layer carries an entry for it. */
  setRootDefault(meta: EntryMeta): void {
    if (!this.dirMeta.has('')) this.dirMeta.set('', meta);
  }

  directory(rel: string, meta: EntryMeta): void {
    if (rel !== '') {
      this.create(rel, (abs) => fs.mkdirSync(abs, 0o700), true);
      this.verifiedDirs.add(rel);
      if (meta.xattrs.length > 0 && this.options.preserveOwnership) writeXattrs(join(this.root, rel), meta.xattrs);
    }
    this.dirMeta.set(rel, meta);
    this.markWritten(rel);
  }

  file(rel: string, meta: EntryMeta, size: number): FileSink {
    let fd = -1;
    const abs = this.create(rel, (path) => {
      fd = fs.openSync(path, FILE_FLAGS, 0o600);
    });
    this.markWritten(rel);
    let written = 0;
    let open = true;
    const closeFd = (): void => {
      if (open) fs.closeSync(fd);
      open = false;
    };
    return {
      write: (chunk) => {
        written += chunk.length;
        if (written > size) throw new Error(`body is longer than its header's size ${size}`);
        for (let off = 0; off < chunk.length; ) off += fs.writeSync(fd, chunk, off);
      },
      close: () => {
        if (written !== size) throw new Error(`body has ${written} bytes, its header says ${size}`);
        try {
          if (this.options.preserveOwnership) fs.fchownSync(fd, meta.uid, meta.gid);
          // After chown, which clears setuid/setgid.
          fs.fchmodSync(fd, this.permissions(meta.mode));
          if (meta.xattrs.length > 0 && this.options.preserveOwnership) writeXattrs(abs, meta.xattrs);
          fs.futimesSync(fd, meta.mtime, meta.mtime);
        } finally {
          closeFd();
        }
      },
      abort: closeFd,
    };
  }

  /** A symlink whose target is kept exactly as written; it is never followed. */
  symlink(rel: string, target: string, meta: EntryMeta): void {
    const abs = this.create(rel, (path) => fs.symlinkSync(target, path));
    if (this.options.preserveOwnership) fs.lchownSync(abs, meta.uid, meta.gid);
    fs.lutimesSync(abs, meta.mtime, meta.mtime);
    this.markWritten(rel);
  }

  /** A hardlink to TARGET, which must already be in the tree (this layer or a lower one). */
  hardlink(rel: string, target: string): void {
    if (!this.resolveDir(parentOf(target), false)) throw new Error(`hardlink target "${target}" does not exist (not extracted before the link)`);
    const targetAbs = join(this.root, target);
    const st = fs.lstatSync(targetAbs, { throwIfNoEntry: false });
    if (!st) throw new Error(`hardlink target "${target}" does not exist (not extracted before the link)`);
    if (st.isDirectory()) throw new Error(`hardlink target "${target}" is a directory`);
    if (target === rel) throw new Error('hardlink to itself');
    // link(2) does not follow a final symlink: a hardlink to a symlink links the symlink.
    this.create(rel, (path) => fs.linkSync(targetAbs, path));
    this.markWritten(rel);
  }

  device(rel: string, kind: DeviceKind, meta: EntryMeta, major: number, minor: number): void {
    if (!this.options.devices) throw new Error(`${kind} entries can only be created by root (refused)`);
    // Node has no mknod(2); devices are rare in layers, so the coreutils tool is enough.
    const type = kind === 'fifo' ? ['p'] : [kind === 'character-device' ? 'c' : 'b', String(major), String(minor)];
    const abs = this.create(rel, (path) => {
      const r = spawnSync('mknod', ['-m', (meta.mode & 0o777).toString(8), path, ...type], { encoding: 'utf8' });
      if (r.error) throw r.error;
      if (r.status !== 0) {
        const exists = fs.lstatSync(path, { throwIfNoEntry: false }) !== undefined;
        throw Object.assign(new Error(`mknod failed: ${r.stderr.trim()}`), exists ? { code: 'EEXIST' } : {});
      }
    });
    if (this.options.preserveOwnership) fs.lchownSync(abs, meta.uid, meta.gid);
    fs.lutimesSync(abs, meta.mtime, meta.mtime);
    this.markWritten(rel);
  }

  /** `.wh.NAME`: removes REL if a lower layer put it there. */
  whiteout(rel: string): void {
    if (this.writtenThisLayer.has(rel) || !this.resolveDir(parentOf(rel), false)) return;
    if (fs.lstatSync(join(this.root, rel), { throwIfNoEntry: false })) this.remove(rel);
  }

  /** `.wh..wh..opq`: removes everything under DIR that a lower layer put there. */
  opaque(dir: string): void {
    if (!this.resolveDir(dir, false)) return;
    for (const name of fs.readdirSync(join(this.root, dir))) {
      const child = dir === '' ? name : `${dir}/${name}`;
      if (!this.writtenThisLayer.has(child)) this.remove(child);
      else if (this.verifiedDirs.has(child)) this.opaque(child);
    }
  }

  /** Applies directory modes, owners and times, deepest first. */
  finish(): void {
    const dirs = [...this.dirMeta.entries()].sort(([a], [b]) => b.split('/').length - a.split('/').length);
    for (const [rel, meta] of dirs) {
      const fd = fs.openSync(join(this.root, rel), DIR_FLAGS);
      try {
        if (this.options.preserveOwnership) fs.fchownSync(fd, meta.uid, meta.gid);
        fs.fchmodSync(fd, this.permissions(meta.mode));
        fs.futimesSync(fd, meta.mtime, meta.mtime);
      } finally {
        fs.closeSync(fd);
      }
    }
  }

  /** Without the image's owners, setuid/setgid would apply to whoever extracts: dropped. */
  private permissions(mode: number): number {
    return mode & (this.options.preserveOwnership ? 0o7777 : 0o1777);
  }

  /**
   * Makes REL's parent a verified directory and runs MAKE(abs), which creates REL without
   * following anything (O_EXCL|O_NOFOLLOW, symlink, link, mkdir all fail with EEXIST on any
   * existing name). Only then is the existing entry looked at: removed, or kept when both are
   * directories (KEEPDIR). Trying first saves an lstat per entry: most paths are new.
   */
  private create(rel: string, make: (abs: string) => void, keepDir = false): string {
    this.resolveDir(parentOf(rel), true);
    const abs = join(this.root, rel);
    try {
      make(abs);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const st = fs.lstatSync(abs);
      if (keepDir && st.isDirectory()) return abs;
      this.remove(rel, st.isDirectory());
      make(abs);
    }
    return abs;
  }

  /**
   * Walks REL from the root: each component must be a real directory (a symlink is refused,
   * never followed). Missing ones are created when CREATE, else the answer is false.
   */
  private resolveDir(rel: string, create: boolean): boolean {
    if (this.verifiedDirs.has(rel)) return true;
    if (!this.resolveDir(parentOf(rel), create)) return false;
    const abs = join(this.root, rel);
    const st = fs.lstatSync(abs, { throwIfNoEntry: false });
    if (!st) {
      if (!create) return false;
      fs.mkdirSync(abs, 0o755);
      this.markWritten(rel);
    } else if (st.isSymbolicLink()) {
      throw new Error(`refusing to write through symlink "${rel}" (-> ${fs.readlinkSync(abs)})`);
    } else if (!st.isDirectory()) {
      throw new Error(`"${rel}" is not a directory`);
    }
    this.verifiedDirs.add(rel);
    return true;
  }

  private remove(rel: string, isDir = this.verifiedDirs.has(rel)): void {
    // rm never follows symlinks: a symlink is removed, not what it points to.
    fs.rmSync(join(this.root, rel), { recursive: true, force: true });
    if (!isDir) return;
    for (const dir of this.verifiedDirs) if (isUnder(dir, rel)) this.verifiedDirs.delete(dir);
    for (const dir of this.dirMeta.keys()) if (isUnder(dir, rel)) this.dirMeta.delete(dir);
  }

  /** Marks REL and its parents as belonging to this layer (for opaque directories). */
  private markWritten(rel: string): void {
    for (let p = rel; p !== '' && !this.writtenThisLayer.has(p); p = parentOf(p)) this.writtenThisLayer.add(p);
  }
}

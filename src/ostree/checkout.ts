/**
 * `ostree checkout`: materializes a commit (or a subpath of it) as a directory tree.
 * Content is hard-linked from the object store when the repo mode allows it (bare as root,
 * bare-user and bare-user-only in user mode), and copied otherwise (archive: inflated).
 * Names come from the repository, which may be hostile: every name is validated when its
 * dirtree is decoded, and nothing is ever written through a symlink.
 */
import { chmodSync, createWriteStream, lchownSync, linkSync, lstatSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { isSymlinkMode, type DirMeta } from './objects.js';
import { RepoError, STREAM_THRESHOLD, type Repo } from './repo.js';
import { writeXattrs } from './xattrs.js';

export interface CheckoutOptions {
  /** `-U`: ignore ownership and xattrs, strip setuid/setgid, as a non-root user would get. */
  userMode?: boolean;
  /** `--union`: write into an existing directory, replacing files that exist. */
  union?: boolean;
  /** `--subpath`: check out only this directory (or file) of the commit. */
  subpath?: string;
  signal?: AbortSignal;
}

export interface CheckoutResult {
  files: number;
  linked: number;
  copied: number;
}

export async function checkout(repo: Repo, rev: string, dest: string, options: CheckoutOptions = {}): Promise<CheckoutResult> {
  const commit = await repo.loadCommit(await repo.resolveRev(rev));
  const writer = new CheckoutWriter(repo, options);
  let tree = commit.rootTree;
  let meta = commit.rootMeta;
  for (const part of (options.subpath ?? '/').split('/').filter(Boolean)) {
    const dirtree = await repo.loadDirTree(tree);
    const dir = dirtree.dirs.find(([n]) => n === part);
    if (dir) {
      [, tree, meta] = dir;
      continue;
    }
    const file = dirtree.files.find(([n]) => n === part);
    if (file && part === (options.subpath ?? '').split('/').filter(Boolean).at(-1)) {
      await writer.writeFile(file[1], dest);
      return writer.result();
    }
    throw new RepoError(`No such file or directory: ${options.subpath} in ${rev}`);
  }
  await writer.writeDir(tree, meta, dest);
  return writer.result();
}

class CheckoutWriter {
  private files = 0;
  private linked = 0;
  private copied = 0;
  private readonly canLink: boolean;
  private readonly applyOwnership: boolean;

  constructor(
    private readonly repo: Repo,
    private readonly opts: CheckoutOptions,
  ) {
    const user = !!opts.userMode;
    this.canLink = repo.mode === 'bare' ? !user && repo.isRoot : repo.mode === 'bare-user' ? user : repo.mode === 'bare-user-only';
    this.applyOwnership = !user && repo.isRoot;
  }

  result(): CheckoutResult {
    return { files: this.files, linked: this.linked, copied: this.copied };
  }

  /**
   * Writes a directory depth first with synchronous I/O (a link or a small copy is a few
   * syscalls; a promise per syscall cost 5x). Only large files are streamed.
   */
  async writeDir(treeCsum: string, metaCsum: string, path: string): Promise<void> {
    this.opts.signal?.throwIfAborted();
    const tree = this.repo.loadDirTreeSync(treeCsum);
    const meta = this.repo.loadDirMetaSync(metaCsum);
    try {
      mkdirSync(path, { mode: 0o700 });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST' || !this.opts.union) {
        throw new RepoError(`mkdirat: ${(e as NodeJS.ErrnoException).code === 'EEXIST' ? 'File exists' : (e as Error).message}: ${path}`, { cause: e });
      }
      if (!lstatSync(path).isDirectory()) throw new RepoError(`Not a directory: ${path}`);
    }
    for (const [name, csum] of tree.files) await this.writeFile(csum, join(path, name));
    for (const [name, t, m] of tree.dirs) await this.writeDir(t, m, join(path, name));
    this.applyMeta(path, meta);
  }

  /** Ownership, xattrs, then mode: last, so a read-only directory could be filled first. */
  private applyMeta(path: string, meta: { uid: number; gid: number; mode: number; xattrs: DirMeta['xattrs'] }): void {
    if (this.applyOwnership) {
      lchownSync(path, meta.uid, meta.gid);
      if (meta.xattrs.length) writeXattrs(path, meta.xattrs);
    }
    chmodSync(path, this.opts.userMode ? meta.mode & 0o775 : meta.mode & 0o7777);
  }

  async writeFile(checksum: string, path: string): Promise<void> {
    this.files++;
    if (this.canLink && this.link(this.repo.objectPath('file', checksum), path)) {
      this.linked++;
      return;
    }
    const { header, size } = this.repo.statFileObjectSync(checksum);
    if (this.opts.union) rmSync(path, { force: true });
    if (isSymlinkMode(header.mode)) {
      symlinkSync(header.symlinkTarget, path);
      if (this.applyOwnership) lchownSync(path, header.uid, header.gid);
    } else {
      if (size <= STREAM_THRESHOLD) {
        writeFileSync(path, this.repo.readFileObjectSync(checksum).content, { flag: 'wx', mode: 0o600 });
      } else {
        await pipeline(await this.repo.openFileContent(checksum), createWriteStream(path, { flags: 'wx', mode: 0o600 }));
      }
      this.applyMeta(path, header);
    }
    this.copied++;
  }

  /** Hard-links an object into place; false when the filesystem refuses (copy instead). */
  private link(object: string, path: string): boolean {
    try {
      linkSync(object, path);
      return true;
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EEXIST' && this.opts.union) {
        rmSync(path, { force: true });
        return this.link(object, path);
      }
      if (code === 'EXDEV' || code === 'EMLINK' || code === 'EPERM') return false;
      if (code === 'ENOENT') throw new RepoError(`No such file object ${object}`, { cause: e });
      throw e;
    }
  }
}

/**
 * `ostree checkout`: materializes a commit (or a subpath of it) as a directory tree.
 * Content is hard-linked from the object store when the repo mode allows it (bare as root,
 * bare-user and bare-user-only in user mode), and copied otherwise (archive: inflated).
 * Names come from the repository, which may be hostile: every name is validated when its
 * dirtree is decoded, and nothing is ever written through a symlink.
 */
import { createWriteStream } from 'node:fs';
import * as fs from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Limiter } from './limit.js';
import { isSymlinkMode, type DirMeta, type FileHeader } from './objects.js';
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
  private readonly limiter = new Limiter(16);
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

  async writeDir(treeCsum: string, metaCsum: string, path: string): Promise<void> {
    this.opts.signal?.throwIfAborted();
    const [tree, meta] = await Promise.all([this.repo.loadDirTree(treeCsum), this.repo.loadDirMeta(metaCsum)]);
    try {
      await fs.mkdir(path, { mode: 0o700 });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST' || !this.opts.union) {
        throw new RepoError(`mkdirat: ${(e as NodeJS.ErrnoException).code === 'EEXIST' ? 'File exists' : (e as Error).message}: ${path}`, { cause: e });
      }
      const st = await fs.lstat(path);
      if (!st.isDirectory()) throw new RepoError(`Not a directory: ${path}`);
    }
    await Promise.all([
      ...tree.files.map(([name, csum]) => this.limiter.run(() => this.writeFile(csum, join(path, name)))),
      ...tree.dirs.map(([name, t, m]) => this.writeDir(t, m, join(path, name))),
    ]);
    await this.applyDirMeta(path, meta);
  }

  private async applyDirMeta(path: string, meta: DirMeta): Promise<void> {
    if (this.applyOwnership) {
      await fs.lchown(path, meta.uid, meta.gid);
      if (meta.xattrs.length) writeXattrs(path, meta.xattrs);
    }
    // Set last: a read-only directory must be filled first.
    await fs.chmod(path, this.opts.userMode ? meta.mode & 0o775 : meta.mode & 0o7777);
  }

  async writeFile(checksum: string, path: string): Promise<void> {
    this.opts.signal?.throwIfAborted();
    this.files++;
    if (this.canLink) {
      if (await this.link(this.repo.objectPath('file', checksum), path)) {
        this.linked++;
        return;
      }
    }
    const { header, size } = await this.repo.statFileObject(checksum);
    if (this.opts.union) await fs.rm(path, { force: true });
    if (isSymlinkMode(header.mode)) {
      await fs.symlink(header.symlinkTarget, path);
      if (this.applyOwnership) await fs.lchown(path, header.uid, header.gid);
    } else {
      if (size <= STREAM_THRESHOLD) {
        await fs.writeFile(path, (await this.repo.readFileObject(checksum)).content, { flag: 'wx', mode: 0o600 });
      } else {
        await pipeline(await this.repo.openFileContent(checksum), createWriteStream(path, { flags: 'wx', mode: 0o600 }));
      }
      await this.applyFileMeta(path, header);
    }
    this.copied++;
  }

  private async applyFileMeta(path: string, header: FileHeader): Promise<void> {
    if (this.applyOwnership) {
      await fs.chown(path, header.uid, header.gid);
      if (header.xattrs.length) writeXattrs(path, header.xattrs);
    }
    await fs.chmod(path, this.opts.userMode ? header.mode & 0o775 : header.mode & 0o7777);
  }

  /** Hard-links an object into place; false when the filesystem refuses (copy instead). */
  private async link(object: string, path: string): Promise<boolean> {
    try {
      await fs.link(object, path);
      return true;
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EEXIST' && this.opts.union) {
        await fs.rm(path, { recursive: false, force: true });
        return this.link(object, path);
      }
      if (code === 'EXDEV' || code === 'EMLINK' || code === 'EPERM') return false;
      if (code === 'ENOENT') throw new RepoError(`No such file object ${object}`, { cause: e });
      throw e;
    }
  }
}

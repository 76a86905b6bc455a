/**
 * `ostree checkout`: materializes a commit (or a subpath of it) as a directory tree.
 * Content is hard-linked from the object store when the repo mode allows it (bare as root,
 * bare-user and bare-user-only in user mode), and copied otherwise (archive: inflated).
 * Names come from the repository, which may be hostile: every name is validated when its
 * dirtree is decoded, and nothing is ever written through a symlink.
 */
import {
  chmodSync, closeSync, createWriteStream, fchmodSync, fchownSync, constants as fsConstants, lchownSync, linkSync, lstatSync,
  mkdir, mkdirSync, openSync, readdirSync, readFileSync, readlinkSync, renameSync, rmSync, symlinkSync, utimesSync, writeFileSync, writeSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { Limiter } from './limit.js';
import { decodeBareUserMeta, isSymlinkMode, type DirMeta, type DirTree, type Xattr } from './objects.js';
import { lookupPath } from './path.js';
import { randomHex, RepoError, STREAM_THRESHOLD, type Repo } from './repo.js';
import type { WorkerPool } from './worker-pool.js';
import { readXattr, writeXattrs } from './xattrs.js';

// Loaded on first use, as in repo.ts: only a deployment's whiteouts spawn mknod.
const require = createRequire(import.meta.url);

export interface CheckoutOptions {
  /** `-U`: ignore ownership and xattrs, strip setuid/setgid, as a non-root user would get. */
  userMode?: boolean;
  /** `--union`: write into an existing directory, replacing files that exist. */
  union?: boolean;
  /** `--subpath`: check out only this directory (or file) of the commit. */
  subpath?: string;
  /** `--allow-noent`: a missing subpath checks out nothing instead of failing. */
  allowNoent?: boolean;
  /** `-H`: hard-link every file that can be (fail when the repo mode cannot). */
  requireHardlinks?: boolean;
  /** `-C`: copy every file, never hard-link. */
  forceCopy?: boolean;
  /** `--union-add`: write into an existing directory, keeping files that exist. */
  unionAdd?: boolean;
  /** `--union-identical`: write into an existing directory; an existing file must be identical. Needs -H. */
  unionIdentical?: boolean;
  /** `--whiteouts`: `.wh.NAME` removes NAME, `.wh..wh..opq` empties its directory (overlayfs/OCI layers). */
  whiteouts?: boolean;
  /** `--skip-list`: paths (from the checkout's root, `/a/b`) not checked out. */
  skipList?: Set<string>;
  /**
   * Archive repos in user mode: keep each file's uncompressed content in the repo's
   * `uncompressed-objects-cache/` and hard-link from there, as `ostree checkout -U` does
   * (unless `--disable-cache` or `core.enable-uncompressed-cache=false`). Off by default: it
   * doubles the disk an archive repo takes.
   */
  uncompressedCache?: boolean;
  /** `-M`: directories lose world-write, setuid, setgid and sticky bits, as bare-user-only stores them. */
  bareUserOnlyDirs?: boolean;
  /** Worker threads copying files out of archive repos (default: one per core; 0: none). */
  workers?: number;
  /**
   * A file `.ostree-wh.NAME` becomes an overlayfs whiteout NAME (a 0:0 character device with
   * the file's mode and owner), as libostree's process_passthrough_whiteouts: deployments.
   */
  passthroughWhiteouts?: boolean;
  signal?: AbortSignal;
}

export interface CheckoutResult {
  files: number;
  linked: number;
  copied: number;
}

export async function checkout(shadow: Repo, rev: string, dest: string, options: CheckoutOptions = {}): Promise<CheckoutResult> {
  const commit = await shadow.resolveRev(rev);
  const repo = await shadow.holderOf('commit', commit);
  checkHardlinkOptions(repo, options);
  let entry;
  try {
    entry = await lookupPath(repo, commit, options.subpath ?? '/');
  } catch (e) {
    if (options.allowNoent && e instanceof RepoError && /^No such file or directory/.test(e.message)) return { files: 0, linked: 0, copied: 0 };
    throw e;
  }
  const writer = new CheckoutWriter(repo, options);
  await writer.loadPool();
  try {
    if (entry.kind === 'file') {
      // As ostree: a file goes into the destination directory (made if missing), under its own name.
      mkdirSync(dest, { recursive: true, mode: 0o755 });
      await writer.writeFile(entry.checksum, `${withoutTrailingSlash(dest)}/${entry.path.slice(entry.path.lastIndexOf('/') + 1)}`);
    }
    else await writer.writeDir(entry.tree, entry.meta, withoutTrailingSlash(dest));
  } finally {
    await writer.close();
  }
  return writer.result();
}

/** Paths under `dest` are concatenated (names are validated), so `dest` must not end in `/`. */
function withoutTrailingSlash(dest: string): string {
  const trimmed = dest.replace(/\/+$/, '');
  return trimmed === '' ? '/' : trimmed;
}

/** The errors `ostree checkout` gives for -H and --union-identical where they cannot work. */
function checkHardlinkOptions(repo: Repo, options: CheckoutOptions): void {
  if (options.unionIdentical && !options.requireHardlinks) throw new RepoError('--union-identical requires --require-hardlinks');
  if (!options.requireHardlinks) return;
  const user = !!options.userMode || repo.mode === 'bare-user-only';
  if (repo.mode === 'bare-user' && !user) throw new RepoError('User repository mode requires user checkout mode to hardlink');
  if ((repo.mode === 'bare' && user) || repo.mode === 'archive') throw new RepoError('Bare repository mode cannot hardlink in user checkout mode');
}

/** How files are written: derived from the repo mode and the options, shared with workers. */
export interface CheckoutPolicy {
  canLink: boolean;
  applyOwnership: boolean;
  userMode: boolean;
  union: boolean;
  unionAdd?: boolean;
  unionIdentical?: boolean;
  /** `objects/` of the uncompressed-objects cache to link archive content from (see CheckoutOptions). */
  uncompressedCache?: string;
}

export interface CheckoutJob {
  checksum: string;
  path: string;
}

function policyFor(repo: Repo, options: CheckoutOptions): CheckoutPolicy {
  // bare-user-only repos carry no ownership: ostree always checks them out in user mode.
  const user = !!options.userMode || repo.mode === 'bare-user-only';
  return {
    canLink: !options.forceCopy && (repo.mode === 'bare' ? !user && repo.isRoot : repo.mode === 'bare-user' ? user : repo.mode === 'bare-user-only'),
    applyOwnership: !user && repo.isRoot,
    userMode: user,
    union: !!options.union,
    ...(options.unionAdd ? { unionAdd: true } : {}),
    ...(options.unionIdentical ? { unionIdentical: true } : {}),
    ...(options.uncompressedCache && repo.mode === 'archive' && user && repo.config.getBoolean('core', 'enable-uncompressed-cache') !== false
      ? { uncompressedCache: `${repo.path}/uncompressed-objects-cache/objects` }
      : {}),
  };
}

/** In user mode, as ostree: files lose setuid/setgid and are always readable by their owner. */
function fileMode(mode: number, policy: CheckoutPolicy): number {
  return policy.userMode ? (mode & 0o7777 & ~0o6000) | 0o400 : mode & 0o7777;
}

/**
 * Ownership, xattrs, then mode: last, so that a read-only directory could be filled first.
 * Directories keep their mode in user mode too.
 */
function applyMeta(path: string, meta: { uid: number; gid: number; mode: number; xattrs: Xattr[] }, policy: CheckoutPolicy, isDir: boolean): void {
  if (policy.applyOwnership) {
    lchownSync(path, meta.uid, meta.gid);
    if (meta.xattrs.length) writeXattrs(path, meta.xattrs);
  }
  chmodSync(path, isDir ? meta.mode & 0o7777 : fileMode(meta.mode, policy));
}

/**
 * Whether an object may be hard-linked into the checkout, as ostree decides: never empty
 * files (a shared empty inode is a trap for anyone who appends to it), never bare-user
 * symlinks (stored as regular files) or bare-user-only ones (made afresh), never files
 * their owner could not read (the object's own mode may say otherwise: bare-user adds 0400).
 */
function linkable(repo: Repo, object: string): boolean {
  const st = lstatSync(object, { throwIfNoEntry: false });
  if (!st) return false; // the copy path reports the missing object
  if (st.isFile() && st.size === 0) return false;
  if (repo.mode === 'bare-user-only') return st.isFile() && (st.mode & 0o400) !== 0;
  if (repo.mode === 'bare-user') {
    const meta = readXattr(object, 'user.ostreemeta');
    const mode = meta === null ? 0 : decodeBareUserMeta(meta).mode;
    return !isSymlinkMode(mode) && (mode & 0o400) !== 0;
  }
  return true;
}

/** Hard-links an object into place; false when the filesystem refuses (copy instead). */
function linkObject(object: string, path: string, policy: CheckoutPolicy): boolean {
  try {
    linkSync(object, path);
    return true;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EEXIST' && policy.union) {
      rmSync(path, { force: true, recursive: true }); // a file may replace a directory
      return linkObject(object, path, policy);
    }
    if (code === 'EXDEV' || code === 'EMLINK' || code === 'EPERM') return false;
    if (code === 'ENOENT') throw new RepoError(`No such file object ${object}`, { cause: e });
    throw e;
  }
}

/**
 * Writes one file of the checkout: a link where allowed, else a copy with its metadata.
 * Returns undefined for a large regular file, which the caller streams instead.
 */
export function checkoutSmallFile(repo: Repo, job: CheckoutJob, policy: CheckoutPolicy): 'linked' | 'copied' | undefined {
  const object = repo.objectPath('file', job.checksum);
  if ((policy.unionAdd || policy.unionIdentical) && keepExisting(repo, job, object, policy)) return 'copied';
  if (policy.canLink && linkable(repo, object) && linkObject(object, job.path, policy)) return 'linked';
  const { header, content } = repo.readSmallFileObjectSync(job.checksum, STREAM_THRESHOLD);
  if (!content) return undefined;
  if (policy.uncompressedCache && !isSymlinkMode(header.mode) && content.length > 0) {
    if (linkObject(cachedObject(policy.uncompressedCache, job.checksum, fileMode(header.mode, policy), content), job.path, policy)) return 'linked';
  }
  if (policy.union) rmSync(job.path, { force: true, recursive: true }); // a file may replace a directory
  if (isSymlinkMode(header.mode)) {
    symlinkSync(header.symlinkTarget, job.path);
    if (policy.applyOwnership) lchownSync(job.path, header.uid, header.gid);
    return 'copied';
  }
  // Through one descriptor: create, write, own, mode; xattrs by path after.
  const fd = openSync(job.path, fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL, 0o600);
  try {
    for (let off = 0; off < content.length;) off += writeSync(fd, content, off, content.length - off);
    if (policy.applyOwnership) fchownSync(fd, header.uid, header.gid);
    fchmodSync(fd, fileMode(header.mode, policy));
  } finally {
    closeSync(fd);
  }
  if (policy.applyOwnership && header.xattrs.length) writeXattrs(job.path, header.xattrs);
  return 'copied';
}

/**
 * --union-add keeps a file that exists; --union-identical keeps it when it is the object
 * (the same inode, or the same type, target or content), and fails otherwise. False: nothing there.
 */
function keepExisting(repo: Repo, job: CheckoutJob, object: string, policy: CheckoutPolicy): boolean {
  const existing = lstatSync(job.path, { throwIfNoEntry: false });
  if (!existing) return false;
  if (policy.unionAdd) return true;
  const stored = lstatSync(object, { throwIfNoEntry: false });
  if (stored && stored.ino === existing.ino && stored.dev === existing.dev) return true;
  const { header, content } = repo.readFileObjectSync(job.checksum);
  const same = isSymlinkMode(header.mode)
    ? existing.isSymbolicLink() && readlinkSync(job.path) === header.symlinkTarget
    : existing.isFile() && existing.size === content.length && readFileSync(job.path).equals(content);
  if (!same) throw new RepoError(`${job.path}: File exists`);
  return true;
}

const WHITEOUT = '.wh.';
const OPAQUE = '.wh..opq';

/** libostree's prefix of a file that a deployment's checkout turns into an overlayfs whiteout. */
const OVERLAYFS_WHITEOUT_PREFIX = '.ostree-wh.';

/** The uncompressed copy of an archive object in the cache, written (mode `mode`) if missing. */
function cachedObject(cacheDir: string, checksum: string, mode: number, content: Buffer): string {
  const dir = `${cacheDir}/${checksum.slice(0, 2)}`;
  const cached = `${dir}/${checksum.slice(2)}.file`;
  if (lstatSync(cached, { throwIfNoEntry: false })) return cached;
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  const tmp = `${cached}.tmp-${process.pid}-${randomHex(4)}`;
  try {
    writeFileSync(tmp, content, { mode: 0o600 });
    chmodSync(tmp, mode);
    renameSync(tmp, cached);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
  return cached;
}

/** Checkouts with fewer files than this stay in one thread: starting workers costs more. */
const INLINE_FILES = 256;

class CheckoutWriter {
  private files = 0;
  private linked = 0;
  private copied = 0;
  private readonly policy: CheckoutPolicy;
  private pool: WorkerPool<CheckoutJob, 'linked' | 'copied' | undefined> | undefined;
  private poolModule: typeof import('./worker-pool.js') | undefined;
  private readonly largeFiles = new Limiter(2);
  /** Work still running in workers or streams; awaited before directories get their modes. */
  private readonly pending: Promise<void>[] = [];
  /** Directories created, in creation order: their metadata is applied in reverse at the end. */
  private readonly created: { path: string; meta: DirMeta; made: number }[] = [];
  private readonly dirMetas = new Map<string, DirMeta>();
  /** Directories whose mkdir is in flight; the walk's first failure; what ends the walk. */
  private walking = 0;
  private walkFailure: { error: unknown } | undefined;
  private walkDone: (() => void) | undefined;

  constructor(
    private readonly repo: Repo,
    private readonly opts: CheckoutOptions,
  ) {
    this.policy = policyFor(repo, opts);
  }

  result(): CheckoutResult {
    return { files: this.files, linked: this.linked, copied: this.copied };
  }

  async close(): Promise<void> {
    await this.pool?.close();
  }

  /** Worker threads copy files when they cannot be linked: only then is their module loaded (start-up time). */
  async loadPool(): Promise<void> {
    if (!this.policy.canLink && (this.opts.workers ?? availableParallelism()) > 0) this.poolModule = await import('./worker-pool.js');
  }

  /**
   * Writes a directory tree. Directories are made through libuv's thread pool, and each one's
   * files are linked or copied inline, with no promise per file, as soon as its mkdir returns:
   * mkdir is a checkout's slowest call (~60 µs on ext4, against ~5 µs for a link), and
   * ostree, single-threaded, waits for each one. Copies handed to workers (large archive
   * trees) and streamed large files are awaited after the walk. Then each directory gets its
   * final metadata, deepest first, once everything under it is written.
   */
  async writeDir(treeCsum: string, metaCsum: string, path: string): Promise<void> {
    await this.walkTree(treeCsum, metaCsum, path);
    // Every job's failure surfaces here; the no-op catch keeps later ones from being unhandled.
    for (const p of this.pending) p.catch(() => undefined);
    await Promise.all(this.pending);
    for (let i = this.created.length - 1; i >= 0; i--) {
      const { path, meta, made } = this.created[i]!;
      // bare-user-only repos hold no world-writable or special-bit directories: their checkouts never get them.
      const bareUserOnly = this.opts.bareUserOnlyDirs || this.repo.mode === 'bare-user-only';
      applyMeta(path, bareUserOnly ? { ...meta, mode: meta.mode & 0o775 } : meta, this.policy, true);
      // As ostree: the directories a checkout makes get mtime 0 (constant across checkouts), unless -C.
      // ostree leaves atime alone (UTIME_OMIT, which Node cannot pass): no one has read the
      // directory since it was made, so its atime is the moment of its mkdir, give or take the
      // millisecond between that and `made`; reading it back was one more lstat per directory.
      if (!this.opts.forceCopy) utimesSync(path, made / 1000, 0);
    }
  }

  /** Resolves when every directory of the tree is made and filled, or rejects with the first failure once nothing is in flight. */
  private walkTree(treeCsum: string, metaCsum: string, path: string): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.walkDone = () => (this.walkFailure ? reject(this.walkFailure.error) : resolve());
      this.walkStep(() => this.walk(treeCsum, metaCsum, path));
    });
  }

  /** Runs one step of the walk unless it already failed; after a failure, the steps in flight only drain. */
  private walkStep(step: () => void): void {
    if (!this.walkFailure) {
      try {
        step();
      } catch (e) {
        this.walkFailure = { error: e };
      }
    }
    if (this.walking === 0) this.walkDone!();
  }

  private walk(treeCsum: string, metaCsum: string, path: string, rel = '/'): void {
    this.opts.signal?.throwIfAborted();
    const tree = this.repo.loadDirTreeSync(treeCsum);
    const meta = this.dirMetaOf(metaCsum);
    this.walking++;
    mkdir(path, { mode: 0o700 }, (err) => {
      this.walking--;
      this.walkStep(() => this.fill(err, tree, meta, path, rel));
    });
  }

  /** A directory's entries, once its mkdir returned. */
  private fill(err: NodeJS.ErrnoException | null, tree: DirTree, meta: DirMeta, path: string, rel: string): void {
    if (!err) {
      this.created.push({ path, meta, made: Date.now() });
    } else {
      if (err.code !== 'EEXIST' || !(this.policy.union || this.policy.unionAdd || this.policy.unionIdentical)) {
        throw new RepoError(`mkdirat: ${err.code === 'EEXIST' ? 'File exists' : err.message}: ${path}`, { cause: err });
      }
      // --union leaves an existing directory's own metadata alone, as ostree does.
      if (!lstatSync(path).isDirectory()) throw new RepoError(`Not a directory: ${path}`);
    }
    // Concatenated, not join()ed (join normalizes, once per file): decoding validated the names.
    const prefix = path === '/' ? '/' : `${path}/`;
    if (this.opts.whiteouts || this.opts.skipList) {
      this.walkFiltered(tree, prefix, rel);
      return;
    }
    for (const [name, checksum] of tree.files) this.fileOrWhiteout(checksum, prefix, name);
    for (const [name, t, m] of tree.dirs) this.walk(t, m, prefix + name);
  }

  private fileOrWhiteout(checksum: string, prefix: string, name: string): void {
    if (this.opts.passthroughWhiteouts && name.startsWith(OVERLAYFS_WHITEOUT_PREFIX) && this.whiteout(checksum, prefix, name)) return;
    this.fileInWalk(checksum, prefix + name);
  }

  /** The entries of a directory with --whiteouts applied first, and --skip-list paths left out. */
  private walkFiltered(tree: DirTree, prefix: string, rel: string): void {
    const relPrefix = rel === '/' ? '/' : `${rel}/`;
    const skipped = (name: string): boolean => !!this.opts.skipList?.has(relPrefix + name);
    const files = tree.files.filter(([name]) => {
      if (!this.opts.whiteouts || !name.startsWith(WHITEOUT)) return true;
      const target = name.slice(WHITEOUT.length);
      if (target === '' || target === '.' || target === '..') return false; // would name the directory itself
      if (target === OPAQUE) for (const existing of readdirSync(prefix)) rmSync(prefix + existing, { recursive: true, force: true });
      else rmSync(prefix + target, { recursive: true, force: true }); // names were validated: target stays in this directory
      return false;
    });
    for (const [name, checksum] of files) if (!skipped(name)) this.fileOrWhiteout(checksum, prefix, name);
    for (const [name, t, m] of tree.dirs) if (!skipped(name)) this.walk(t, m, prefix + name, relPrefix + name);
  }

  /** Writes `.ostree-wh.NAME` as the whiteout NAME; false for a symlink, which stays as it is. */
  private whiteout(checksum: string, prefix: string, name: string): boolean {
    const { header } = this.repo.statFileObjectSync(checksum);
    if (isSymlinkMode(header.mode)) return false;
    const target = name.slice(OVERLAYFS_WHITEOUT_PREFIX.length);
    if (target === '') throw new RepoError(`Invalid empty overlayfs whiteout '${prefix}${name}'`);
    const path = prefix + target;
    // Node has no mknod(2); whiteouts are few.
    const r = (require('node:child_process') as typeof import('node:child_process')).spawnSync('mknod', ['-m', (header.mode & 0o7777).toString(8), path, 'c', '0', '0'], { encoding: 'utf8' });
    if (r.error || r.status !== 0) throw new RepoError(`Creating whiteout char device ${path}: ${r.error?.message ?? r.stderr.trim()}`);
    if (this.policy.applyOwnership) {
      lchownSync(path, header.uid, header.gid);
      if (header.xattrs.length) writeXattrs(path, header.xattrs);
    }
    this.files++;
    this.copied++;
    return true;
  }

  /** Most directories share a handful of dirmetas: read and decode each once. */
  private dirMetaOf(checksum: string): DirMeta {
    let meta = this.dirMetas.get(checksum);
    if (!meta) this.dirMetas.set(checksum, (meta = this.repo.loadDirMetaSync(checksum)));
    return meta;
  }

  private fileInWalk(checksum: string, path: string): void {
    this.files++;
    const job = { checksum, path };
    if (!this.pool && this.poolModule && this.files > INLINE_FILES) {
      this.pool = new this.poolModule.WorkerPool(new URL('./checkout-worker.js', import.meta.url), { repoPath: this.repo.path, policy: this.policy }, this.opts.workers ?? availableParallelism());
    }
    if (this.pool) {
      this.pending.push(this.pool.run(job).then((outcome) => this.finish(job, outcome), (e: unknown) => {
        throw new RepoError(`Checking out ${path}: ${(e as Error).message}`, { cause: e });
      }));
      return;
    }
    const outcome = checkoutSmallFile(this.repo, job, this.policy);
    if (outcome) this.count(outcome);
    else this.pending.push(this.finish(job, outcome));
  }

  /** Counts a finished file, or streams it when it was too large to copy in one read. */
  private async finish(job: CheckoutJob, outcome: 'linked' | 'copied' | undefined): Promise<void> {
    this.count(outcome ?? (await this.largeFiles.run(() => this.streamFile(job))));
  }

  private count(outcome: 'linked' | 'copied'): void {
    if (outcome === 'linked') this.linked++;
    else this.copied++;
  }

  /** A checkout whose subpath names a single file. */
  async writeFile(checksum: string, path: string): Promise<void> {
    this.fileInWalk(checksum, path);
    await Promise.all(this.pending);
  }

  private async streamFile(job: CheckoutJob): Promise<'copied'> {
    const { header } = this.repo.statFileObjectSync(job.checksum);
    if (this.policy.union) rmSync(job.path, { force: true });
    const { pipeline } = await import('node:stream/promises');
    await pipeline(await this.repo.openFileContent(job.checksum), createWriteStream(job.path, { flags: 'wx', mode: 0o600 }));
    applyMeta(job.path, header, this.policy, false);
    return 'copied';
  }
}

/**
 * `ostree commit`: writes a directory tree into a repository as content, dirtree and dirmeta
 * objects, then the commit object, makes the objects durable, and only then moves the branch
 * ref. A failure at any point leaves the ref where it was.
 */
import { createHash } from 'node:crypto';
import { chmodSync, closeSync, createReadStream, linkSync, lstatSync, openSync, readdirSync, readFileSync, readlinkSync, readSync, rmSync, type Stats } from 'node:fs';
import * as fs from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import type { Variant } from './gvariant.js';
import { Limiter } from './limit.js';
import type { CommitModifier, Stat3 } from './modifier.js';
import { MutableTree } from './mtree.js';
import {
  compareNames, encodeCommit, encodeDetachedMetadata, encodeDirMeta, encodeDirTree, fileChecksumPrefix, isSymlinkMode, S_IFDIR, S_IFMT, S_IFREG, sha256Hex,
  type DirTree, type FileHeader, type Xattr,
} from './objects.js';
import { lookupTreePath } from './path.js';
import { RepoError, STREAM_THRESHOLD, type Repo } from './repo.js';
import { WorkerPool } from './worker-pool.js';
import { readXattrs } from './xattrs.js';
import { beginWriteTransaction, repairAfterCrashedWriters } from './write-transaction.js';

export interface CommitOptions {
  /** Ref to point at the new commit (`-b`). None: an orphan commit. */
  branch?: string;
  subject?: string;
  body?: string;
  /** Commit metadata, in order (`--add-metadata-string`, `--add-metadata`). */
  metadata?: [string, Variant][];
  /** Parent checksum; undefined: the branch's current commit; null: none (`--parent=none`). */
  parent?: string | null;
  /** Seconds since the epoch; default `SOURCE_DATE_EPOCH` or now. */
  timestamp?: number;
  /** Append `ostree.ref-binding` as the CLI does (default true; `--no-bindings` turns it off). */
  bindings?: boolean;
  /** uid/gid 0, modes masked to 0755, no xattrs (automatic in bare-user-only repos). */
  canonicalPermissions?: boolean;
  /** Do not read extended attributes (`--no-xattrs`). */
  noXattrs?: boolean;
  /** `--base`: start from this commit's tree; the trees committed are overlaid on it, and no modifier applies to it. */
  base?: string;
  /** Ownership, mode and skip rules for every entry committed (`--owner-uid`, `--statoverride`, …). */
  modifier?: CommitModifier;
  /**
   * `--link-checkout-speedup`: a file hard-linked to one of the repo's objects (a `checkout -H`)
   * takes that object's checksum, and in bare-user repos its stored ownership, unless the
   * modifier changes it. `devinoCanonical` (`-I`): take it whatever the modifier says.
   */
  linkCheckoutSpeedup?: boolean;
  devinoCanonical?: boolean;
  /** `--consume`: delete the committed directories; bare and bare-user-only repos adopt their files as objects. */
  consume?: boolean;
  /** `--skip-if-unchanged`: when the tree is the parent's, write nothing and return the parent. */
  skipIfUnchanged?: boolean;
  /** `--bootable`: record the kernel version found in /usr/lib/modules (one kernel required). */
  bootable?: boolean;
  /** `--keep-metadata`: keys copied from the parent's metadata (each must exist). */
  keepMetadata?: string[];
  /** `--bind-ref`: more refs for `ostree.ref-binding`, beside the branch. */
  bindRefs?: string[];
  /** `--add-detached-metadata-string`: the commit's detached metadata. */
  detachedMetadata?: [string, Variant][];
  /** false (`--fsync=false`): do not wait for the objects to reach the disk. */
  fsync?: boolean;
  /**
   * Worker threads hashing and writing files. Default: one per core. Archive repos: compression
   * dominates. Bare ones: creating files does, and once the disk lags (as it does after a few
   * hundred MB written) each create waits on the journal, where two threads keep twice as many
   * going: generated tree, alternating runs, 5.2 s inline against 3.4 s with two (ostree 4.3 s);
   * Debian tree 3.3 s against 2.3 s (ostree 3.2 s). On a fresh disk they gained nothing then.
   */
  workers?: number;
  signal?: AbortSignal;
}

export interface CommitResult {
  checksum: string;
  /** `skipIfUnchanged` found the parent's tree: nothing was written, `checksum` is the parent. */
  skipped?: boolean;
  /** Content objects seen, and how many of them were new to the repository. */
  files: number;
  newFiles: number;
  /** Bytes of file content read from the tree. */
  contentBytes: number;
  /** Files whose checksum came from the link-checkout-speedup cache; bytes of new content objects. */
  devinoHits: number;
  newBytes: number;
  /** Directory metadata objects (dirtree, dirmeta) of the committed tree, and how many were new. */
  metadataObjects: number;
  newMetadataObjects: number;
  /** Torn objects a writer that died before its sync had left, found and removed before this commit (then written again if it needed them). */
  repairedObjects?: number;
}

/** Where a tree to commit comes from (`--tree=dir=PATH`, `--tree=ref=REV`). */
export type TreeSource = { dir: string } | { rev: string };

const FILE_TYPE_NAMES: Record<number, string> = {
  0o140000: 'socket', 0o060000: 'block device', 0o020000: 'character device', 0o010000: 'fifo',
};

/** Commits the directory `dir` into `repo`. */
export function commitTree(repo: Repo, dir: string, options: CommitOptions = {}): Promise<CommitResult> {
  return commitTrees(repo, [{ dir }], options);
}

/** Commits the trees `sources`, each overlaid on the ones before (and on `options.base`). */
export async function commitTrees(repo: Repo, sources: TreeSource[], options: CommitOptions = {}): Promise<CommitResult> {
  // A writer that died before its final sync may have left torn objects this commit would reuse.
  const repair = await repairAfterCrashedWriters(repo);
  const transaction = beginWriteTransaction(repo);
  let result: CommitResult;
  try {
    result = await writeCommit(repo, sources, options);
  } catch (e) {
    transaction.abandon();
    throw e;
  }
  transaction.end();
  return { ...result, repairedObjects: repair.removed };
}

async function writeCommit(repo: Repo, sources: TreeSource[], options: CommitOptions): Promise<CommitResult> {
  const writer = new TreeWriter(repo, {
    canonical: options.canonicalPermissions || repo.mode === 'bare-user-only',
    xattrs: !options.noXattrs && repo.config.getBoolean('core', 'disable-xattrs') !== true,
    signal: options.signal,
    workers: options.workers ?? availableParallelism(),
    modifier: options.modifier,
    devino: options.linkCheckoutSpeedup || options.devinoCanonical ? scanHardlinks(repo) : undefined,
    devinoCanonical: !!options.devinoCanonical,
    consume: !!options.consume,
  });
  let rootTree: string;
  let rootMeta: string;
  try {
    [rootTree, rootMeta] = await writeRoot(repo, writer, sources, options.base);
  } finally {
    await writer.close();
  }
  options.modifier?.checkAllMatched();

  let parent = options.parent;
  if (parent === undefined) parent = options.branch ? ((await repo.readRef(options.branch)) ?? null) : null;
  const parentCommit = parent !== null ? await repo.loadCommit(parent) : undefined; // a missing parent is an error, as in ostree
  const stats = writer.stats();
  if (options.skipIfUnchanged && parentCommit && parentCommit.rootTree === rootTree && parentCommit.rootMeta === rootMeta) {
    return { checksum: parent!, skipped: true, ...stats };
  }
  const metadata: [string, Variant][] = [...(options.metadata ?? [])];
  for (const key of options.keepMetadata ?? []) {
    const kept = parentCommit?.metadata.find(([k]) => k === key);
    if (!kept) throw new RepoError(parent ? `Missing metadata key '${key}' from commit '${parent}'` : 'Either --branch or --parent must be specified when using --keep-metadata');
    metadata.push(kept);
  }
  if (options.bindings !== false) {
    const refs = [...(options.branch ? [options.branch] : []), ...(options.bindRefs ?? [])].sort();
    metadata.push(['ostree.ref-binding', { type: 'as', value: refs }]);
  }
  if (options.bootable) metadata.push(...(await bootableMetadata(repo, rootTree, rootMeta)));

  const checksum = await repo.writeMetadata('commit', encodeCommit({
    metadata,
    parent,
    subject: options.subject ?? '',
    body: options.body ?? '',
    timestamp: options.timestamp ?? defaultTimestamp(),
    rootTree,
    rootMeta,
  }));
  if (options.detachedMetadata) await repo.writeDetachedMetadata(checksum, encodeDetachedMetadata(options.detachedMetadata));
  if (options.consume) for (const source of sources) if ('dir' in source) consumeDir(source.dir);
  if (options.fsync !== false) repo.sync();
  if (options.branch) await repo.setRef(options.branch, checksum);
  return { checksum, ...stats };
}

/** The root [dirtree, dirmeta] of the trees overlaid in order; one directory alone is written directly. */
async function writeRoot(repo: Repo, writer: TreeWriter, sources: TreeSource[], base: string | undefined): Promise<[string, string]> {
  const only = sources.length === 1 ? sources[0]! : undefined;
  if (only && 'dir' in only && base === undefined) return writer.writeRootDir(only.dir);
  const tree = new MutableTree();
  if (base !== undefined) {
    const commit = await repo.loadCommit(await repo.resolveRev(base));
    tree.overlay(repo, commit.rootTree, commit.rootMeta);
  }
  for (const source of sources) {
    let root: [string, string];
    if ('dir' in source) root = await writer.writeRootDir(source.dir);
    else {
      const commit = await repo.loadCommit(await repo.resolveRev(source.rev));
      root = await writer.writeStored(commit.rootTree, commit.rootMeta);
    }
    tree.overlay(repo, ...root);
  }
  return tree.write(repo);
}

/** `--consume`: the committed directory goes; `.` stays, emptied (as ostree, which cannot remove it). */
function consumeDir(dir: string): void {
  if (dir.replace(/\/+$/, '') !== '.') {
    rmSync(dir, { recursive: true, force: true });
    return;
  }
  for (const name of readdirSync(dir)) rmSync(join(dir, name), { recursive: true, force: true });
}

/** `ostree.bootable` and `ostree.linux`, from the one `usr/lib/modules/VERSION/vmlinuz` of the tree. */
async function bootableMetadata(repo: Repo, rootTree: string, rootMeta: string): Promise<[string, Variant][]> {
  const modules = await lookupTreePath(repo, { rootTree, rootMeta }, '/usr/lib/modules').catch((e: unknown) => {
    throw new RepoError(`Opening usr/lib/modules: ${(e as Error).message}`, { cause: e });
  });
  if (modules.kind !== 'dir') throw new RepoError('Opening usr/lib/modules: Not a directory');
  const kernels: string[] = [];
  for (const [name, tree] of repo.loadDirTreeSync(modules.tree).dirs) {
    if (repo.loadDirTreeSync(tree).files.some(([n]) => n === 'vmlinuz')) kernels.push(name);
  }
  if (kernels.length > 1) throw new RepoError('Multiple kernels found in /usr/lib/modules');
  if (!kernels.length) throw new RepoError('No kernel found in /usr/lib/modules');
  return [['ostree.bootable', { type: 'b', value: true }], ['ostree.linux', { type: 's', value: kernels[0]! }]];
}

/**
 * dev:ino → checksum of every content object of a bare or bare-user repo, for
 * `--link-checkout-speedup` (as ostree_repo_scan_hardlinks): archive objects are never linked.
 */
function scanHardlinks(repo: Repo): Map<string, string> {
  const found = new Map<string, string>();
  if (repo.mode === 'archive') return found;
  const objects = join(repo.path, 'objects');
  for (const prefix of readdirSync(objects)) {
    if (!/^[0-9a-f]{2}$/.test(prefix)) continue;
    for (const name of readdirSync(join(objects, prefix))) {
      if (!name.endsWith('.file') || name.length !== 62 + 5) continue;
      const st = lstatSync(join(objects, prefix, name), { throwIfNoEntry: false });
      if (st?.isFile()) found.set(`${st.dev}:${st.ino}`, prefix + name.slice(0, 62));
    }
  }
  return found;
}

function defaultTimestamp(): number {
  const epoch = process.env['SOURCE_DATE_EPOCH'];
  if (epoch !== undefined) return parseSourceDateEpoch(epoch);
  return Math.floor(Date.now() / 1000);
}

/**
 * SOURCE_DATE_EPOCH as ostree reads it (g_ascii_strtoll): blanks, a sign and digits, anything
 * after them ignored; no digits at all, or a number past 64 bits, refused in ostree's words.
 * We also refuse what a JS number cannot hold exactly (beyond the year 285 million).
 */
export function parseSourceDateEpoch(text: string): number {
  const m = /^\s*([+-]?\d+)/.exec(text);
  if (!m) throw new RepoError('Failed to convert SOURCE_DATE_EPOCH');
  const n = BigInt(m[1]!);
  if (n > BigInt(Number.MAX_SAFE_INTEGER) || n < BigInt(Number.MIN_SAFE_INTEGER)) {
    throw new RepoError('Parsing SOURCE_DATE_EPOCH: Numerical result out of range');
  }
  return Number(n);
}

/** A content object to store: in a worker thread, or inline for small trees. */
export interface StoreJob {
  path: string;
  header: FileHeader;
}

export interface StoreResult {
  checksum: string;
  written: boolean;
  bytes: number;
}

/** Reads, hashes and stores one small file (or symlink, whose target is in the header). */
export function storeSmallFile(repo: Repo, job: StoreJob): StoreResult {
  const content = isSymlinkMode(job.header.mode) ? EMPTY : readWhole(job.path);
  const checksum = createHash('sha256').update(fileChecksumPrefix(job.header)).update(content).digest('hex');
  return { checksum, written: repo.writeFileObjectSync(checksum, job.header, content), bytes: content.length };
}

/**
 * One read buffer per thread, reused for every small file: a fresh Buffer per file (as
 * readFileSync allocates) put 300 MB through the garbage collector on a 300 MB tree, whose
 * external-memory pressure set off most of the commit's collections.
 */
let readBuffer = Buffer.allocUnsafe(1 << 16);

/**
 * A whole file, read to its end (whatever its lstat said), in `readBuffer`: the view is
 * valid until the next call, and nothing may keep it (storeSmallFile hashes and writes it
 * synchronously).
 */
function readWhole(path: string): Buffer {
  const fd = openSync(path, 'r');
  try {
    let length = 0;
    for (;;) {
      if (length === readBuffer.length) {
        const bigger = Buffer.allocUnsafe(readBuffer.length * 2);
        readBuffer.copy(bigger, 0, 0, length);
        readBuffer = bigger;
      }
      const n = readSync(fd, readBuffer, length, readBuffer.length - length, null);
      if (n === 0) return readBuffer.subarray(0, length);
      length += n;
    }
  } finally {
    closeSync(fd);
  }
}

/** Trees smaller than this are committed in this thread: starting workers would cost more. */
const INLINE_FILES = 256;

interface WriterOptions {
  canonical: boolean;
  xattrs: boolean;
  signal: AbortSignal | undefined;
  workers: number;
  modifier?: CommitModifier | undefined;
  /** dev:ino → checksum of the repo's objects, for --link-checkout-speedup. */
  devino?: Map<string, string> | undefined;
  devinoCanonical?: boolean;
  consume?: boolean;
}

class TreeWriter {
  files = 0;
  newFiles = 0;
  contentBytes = 0;
  private newBytes = 0;
  private devinoHits = 0;
  private metadataObjects = 0;
  private newMetadataObjects = 0;
  /** Hardlinked sources are hashed once: dev:ino → checksum. */
  private readonly byInode = new Map<string, Promise<string>>();
  private pool: WorkerPool<StoreJob, StoreResult> | undefined;
  // Large files stream through the libuv pool; two at a time keeps memory flat.
  private readonly largeFiles = new Limiter(2);

  constructor(
    private readonly repo: Repo,
    private readonly opts: WriterOptions,
  ) {}

  stats(): Omit<CommitResult, 'checksum'> {
    const { files, newFiles, contentBytes, devinoHits, newBytes, metadataObjects, newMetadataObjects } = this;
    return { files, newFiles, contentBytes, devinoHits, newBytes, metadataObjects, newMetadataObjects };
  }

  /** Whether entries may be stored otherwise than they are found (ownership, modes, xattrs, skips). */
  private get modifies(): boolean {
    return !!this.opts.modifier || this.opts.canonical || !this.opts.xattrs;
  }

  /**
   * The ownership and mode an entry is committed with: the modifier's, then canonical
   * permissions (uid/gid 0, no bits outside 0755) where asked. `rel` is its path in the commit.
   */
  private modify(rel: string, st: Stat3): Stat3 | 'skip' {
    const m = this.opts.modifier ? this.opts.modifier.apply(rel, st) : st;
    if (m === 'skip' || !this.opts.canonical) return m;
    const type = m.mode & S_IFMT;
    return { uid: 0, gid: 0, mode: type === S_IFREG || type === S_IFDIR ? m.mode & (S_IFMT | 0o755) : m.mode };
  }

  /** Writes the directory at `dir` as a commit's root (the modifier cannot skip the root). */
  writeRootDir(dir: string): Promise<[tree: string, meta: string]> {
    const st = lstatSource(dir);
    if (!st.isDirectory()) throw new RepoError(`Not a directory: ${dir}`);
    const own = this.modify('/', st);
    return this.writeDir(dir, '/', own === 'skip' ? st : own);
  }

  /**
   * A stored tree (`--tree=ref=`) as the modifier makes it: entries it changes are stored
   * again, unchanged ones keep their checksums; with no modifier the tree is used as is.
   */
  async writeStored(treeCsum: string, metaCsum: string, rel = '/'): Promise<[tree: string, meta: string]> {
    if (!this.modifies) return [treeCsum, metaCsum];
    const meta = this.repo.loadDirMetaSync(metaCsum);
    const modified = this.modify(rel, meta);
    const own = modified === 'skip' ? meta : modified;
    const contents = this.repo.loadDirTreeSync(treeCsum);
    const files: [string, string][] = [];
    const dirs: [string, string, string][] = [];
    for (const [name, checksum] of contents.files) {
      const childRel = rel === '/' ? `/${name}` : `${rel}/${name}`;
      const { header, size } = this.repo.statFileObjectSync(checksum);
      const fileOwn = this.modify(childRel, header);
      if (fileOwn === 'skip') continue;
      this.files++;
      const next: FileHeader = { ...header, ...fileOwn, xattrs: this.opts.xattrs && !this.opts.canonical ? header.xattrs : [] };
      const same = next.uid === header.uid && next.gid === header.gid && next.mode === header.mode && next.xattrs.length === header.xattrs.length;
      files.push([name, same ? checksum : await this.restore(checksum, size, next)]);
    }
    for (const [name, t, m] of contents.dirs) {
      const childRel = rel === '/' ? `/${name}` : `${rel}/${name}`;
      if (this.modify(childRel, this.repo.loadDirMetaSync(m)) === 'skip') continue;
      dirs.push([name, ...(await this.writeStored(t, m, childRel))]);
    }
    return this.writeDirObjects(own, { files, dirs }, this.opts.xattrs && !this.opts.canonical ? meta.xattrs : []);
  }

  /** Stores a file object's content again under a new header. */
  private async restore(checksum: string, size: number, header: FileHeader): Promise<string> {
    if (size <= STREAM_THRESHOLD) {
      const { content } = this.repo.readFileObjectSync(checksum);
      const csum = createHash('sha256').update(fileChecksumPrefix(header)).update(content).digest('hex');
      if (this.repo.writeFileObjectSync(csum, header, content)) {
        this.newFiles++;
        this.newBytes += content.length;
      }
      return csum;
    }
    const tmp = this.repo.tmpName();
    try {
      const { pipeline } = await import('node:stream/promises');
      const { createWriteStream } = await import('node:fs');
      await pipeline(await this.repo.openFileContent(checksum), createWriteStream(tmp, { mode: 0o600 }));
      return await this.storeLargeFile(tmp, size, header);
    } finally {
      rmSync(tmp, { force: true });
    }
  }

  async close(): Promise<void> {
    await this.pool?.close();
  }

  private xattrsOf(path: string): Xattr[] {
    // Empty values are dropped as libglnx drops them on read: not only from the checksum but
    // also from what bare objects and checkouts carry.
    return this.opts.xattrs && !this.opts.canonical ? readXattrs(path).filter(([, v]) => v.length > 0) : [];
  }

  /**
   * Writes a directory. The walk itself is synchronous and returns at once with promises:
   * the whole tree is scanned while workers hash and store files, and each dirtree is
   * written as soon as its children are known.
   */
  writeDir(path: string, rel: string, own: Stat3): Promise<[tree: string, meta: string]> {
    this.opts.signal?.throwIfAborted();
    const files: Promise<[string, string]>[] = [];
    const dirs: Promise<[string, string, string]>[] = [];
    for (const raw of readdirSync(path, { encoding: 'buffer' })) {
      const name = decodeName(raw, path);
      const child = join(path, name);
      const cst = lstatSource(child);
      const childRel = rel === '/' ? `/${name}` : `${rel}/${name}`;
      const childOwn = this.modifies ? this.modify(childRel, cst) : cst;
      if (childOwn === 'skip') continue;
      if (cst.isDirectory()) dirs.push(this.writeDir(child, childRel, childOwn).then(([t, m]) => [name, t, m]));
      else files.push(this.addFile(child, cst, childRel, childOwn).then((c) => [name, c]));
    }
    const xattrs = this.opts.canonical ? [] : this.xattrsOf(path);
    return Promise.all([Promise.all(files), Promise.all(dirs)]).then(([f, d]) => this.writeDirObjects(own, { files: f, dirs: d }, xattrs));
  }

  private writeDirObjects(own: Stat3, tree: DirTree, xattrs: Xattr[]): [string, string] {
    tree.files.sort((a, b) => compareNames(a[0], b[0]));
    tree.dirs.sort((a, b) => compareNames(a[0], b[0]));
    const meta = { uid: own.uid, gid: own.gid, mode: own.mode & (S_IFMT | 0o7777), xattrs };
    return [this.writeMetadataObject('dirtree', encodeDirTree(tree)), this.writeMetadataObject('dirmeta', encodeDirMeta(meta))];
  }

  private writeMetadataObject(type: 'dirtree' | 'dirmeta', bytes: Buffer): string {
    const checksum = sha256Hex(bytes);
    this.metadataObjects++;
    if (!this.repo.hasObjectSync(type, checksum)) this.newMetadataObjects++;
    return this.repo.writeMetadataSync(type, bytes);
  }

  private addFile(path: string, st: Stats, rel: string, own: Stat3): Promise<string> {
    const type = st.mode & S_IFMT;
    if (!st.isFile() && !st.isSymbolicLink()) {
      throw new RepoError(`Unsupported file type ${FILE_TYPE_NAMES[type] ?? `0${type.toString(8)}`}: ${path}`);
    }
    this.files++;
    const inodeKey = st.isFile() && st.nlink > 1 ? `${st.dev}:${st.ino}` : undefined;
    const known = inodeKey && this.byInode.get(inodeKey);
    if (known) return known;
    const linked = inodeKey && this.opts.devino?.get(inodeKey);
    let header: FileHeader;
    if (linked) {
      const hit = this.devinoHit(linked, rel, st);
      if (typeof hit === 'string') return Promise.resolve(hit);
      header = hit;
    } else {
      header = this.headerOf(path, own);
    }
    if (st.isSymbolicLink()) header.symlinkTarget = readlinkSync(path);
    if (this.opts.consume && st.isFile() && st.size <= STREAM_THRESHOLD && this.canAdopt(st, header)) return Promise.resolve(this.adopt(path, header));
    const pending = st.isFile() && st.size > STREAM_THRESHOLD
      ? this.largeFiles.run(() => this.storeLargeFile(path, st.size, header))
      : this.storeSmall({ path, header });
    // Failures surface through the dirtree's Promise.all; this only keeps a walk that
    // stopped early (e.g. at a FIFO) from leaving rejections nobody listens to.
    pending.catch(() => undefined);
    if (inodeKey) this.byInode.set(inodeKey, pending);
    return pending;
  }

  private async storeSmall(job: StoreJob): Promise<string> {
    if (!this.pool && this.files > INLINE_FILES && this.opts.workers > 0) {
      this.pool = new WorkerPool(new URL('./commit-worker.js', import.meta.url), { repoPath: this.repo.path }, this.opts.workers);
    }
    let result: StoreResult;
    try {
      result = this.pool ? await this.pool.run(job) : storeSmallFile(this.repo, job);
    } catch (e) {
      throw new RepoError(`Storing ${job.path}: ${(e as Error).message}`, { cause: e });
    }
    if (result.written) {
      this.newFiles++;
      this.newBytes += result.bytes;
    }
    this.contentBytes += result.bytes;
    return result.checksum;
  }

  private headerOf(path: string, own: Stat3): FileHeader {
    return { uid: own.uid, gid: own.gid, mode: own.mode, symlinkTarget: '', xattrs: this.opts.canonical ? [] : this.xattrsOf(path) };
  }

  /**
   * A file hard-linked to the object `checksum`: that checksum when the modifier leaves the
   * object's metadata alone (or with -I), else the header to store it under. A bare-user
   * checkout's files do not carry the stored ownership: it is read from the object.
   */
  private devinoHit(checksum: string, rel: string, st: Stats): string | FileHeader {
    if (this.opts.devinoCanonical) {
      this.devinoHits++;
      return checksum;
    }
    const stored: FileHeader = this.repo.mode === 'bare-user'
      ? this.repo.statFileObjectSync(checksum).header
      : { uid: st.uid, gid: st.gid, mode: st.mode, symlinkTarget: '', xattrs: this.repo.mode === 'bare' ? readXattrs(this.repo.objectPath('file', checksum)) : [] };
    const own = this.modify(rel, stored);
    if (own === 'skip') throw new RepoError(`Skipped path ${rel} was not expected here`); // the walk skipped it already
    if (own.uid === stored.uid && own.gid === stored.gid && own.mode === stored.mode && (this.opts.xattrs || !stored.xattrs.length)) {
      this.devinoHits++;
      return checksum;
    }
    return { ...stored, ...own, xattrs: this.opts.xattrs && !this.opts.canonical ? stored.xattrs : [] };
  }

  /**
   * --consume in bare (unchanged metadata) and bare-user-only repos: the file itself becomes
   * the object, as ostree adopts it, rather than a copy.
   */
  private canAdopt(st: Stats, header: FileHeader): boolean {
    if (this.repo.mode === 'bare-user-only') return true;
    return this.repo.mode === 'bare' && this.repo.isRoot && header.uid === st.uid && header.gid === st.gid && header.mode === st.mode;
  }

  private adopt(path: string, header: FileHeader): string {
    const content = readFileSync(path);
    const checksum = createHash('sha256').update(fileChecksumPrefix(header)).update(content).digest('hex');
    this.contentBytes += content.length;
    const object = this.repo.objectPath('file', checksum);
    if (this.repo.hasObjectSync('file', checksum)) return checksum;
    if (this.repo.mode === 'bare-user-only') chmodSync(path, header.mode & 0o755);
    this.repo.ensureObjectDir(object);
    try {
      linkSync(path, object);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EXDEV' && (e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      if (this.repo.writeFileObjectSync(checksum, header, content)) this.newFiles++;
      return checksum;
    }
    this.newFiles++;
    this.newBytes += content.length;
    return checksum;
  }

  /** Large file: hash it streaming, then copy (or compress) it into the repo if new. */
  private async storeLargeFile(path: string, size: number, header: FileHeader): Promise<string> {
    this.opts.signal?.throwIfAborted();
    this.contentBytes += size;
    const hash = createHash('sha256').update(fileChecksumPrefix(header));
    for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) hash.update(chunk as Buffer);
    const checksum = hash.digest('hex');
    if (this.repo.hasObjectSync('file', checksum)) return checksum;
    const tmp = this.repo.tmpName();
    try {
      await this.repo.writeFileObjectTo(tmp, header, { path, size });
      await this.repo.publishObject(tmp, 'file', checksum);
    } catch (e) {
      await fs.rm(tmp, { force: true });
      throw e;
    }
    this.newFiles++;
    this.newBytes += size;
    return checksum;
  }
}

const EMPTY = Buffer.alloc(0);

function lstatSource(path: string): Stats {
  try {
    return lstatSync(path);
  } catch (e) {
    throw new RepoError(`Cannot read ${path}: ${(e as Error).message}`, { cause: e });
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

function decodeName(raw: Buffer, dir: string): string {
  try {
    return utf8.decode(raw);
  } catch (cause) {
    throw new RepoError(`Invalid UTF-8 in filename ${JSON.stringify(raw.toString('latin1'))} under ${dir}`, { cause });
  }
}

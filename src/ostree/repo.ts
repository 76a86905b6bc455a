/**
 * An OSTree repository on disk, in libostree's layout: `config`, `objects/XX/…`, `refs/`,
 * `tmp/`, `state/`. Reads and writes objects in each mode (bare, bare-user, bare-user-only,
 * archive) and resolves refs. Every write goes to `tmp/` first and is renamed into place, so a
 * crash leaves at most unreferenced objects; refs are written last.
 */
import {
  closeSync, createReadStream, createWriteStream, fchmodSync, fchownSync, constants as fsConstants, futimesSync,
  lchownSync, lstatSync, lutimesSync, mkdirSync, openSync, readdirSync, readFileSync, readlinkSync, readSync, renameSync, rmSync,
  symlinkSync, writeFileSync, writeSync, type Stats,
} from 'node:fs';
import * as fs from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import type { Readable } from 'node:stream';
import { KeyFile } from './keyfile.js';
import { startWriteback, syncFilesystem } from './process.js';
import {
  decodeArchiveHeader, decodeBareUserMeta, decodeCommit, decodeDirMeta, decodeDirTree, encodeArchiveHeader,
  encodeBareUserMeta, isChecksum, isRegularMode, isSymlinkMode, ObjectError, sha256Hex,
  type Commit, type DirMeta, type DirTree, type FileHeader, type ObjectType,
} from './objects.js';
import { readXattr, readXattrs, writeXattrs } from './xattrs.js';

// Loaded on first use: every CLI command opens a repository, and most never compress, stream,
// spawn (child_process alone pulls in net and dgram) or hash (crypto loads a dozen modules:
// 5 ms of each start-up): start-up time they need not pay.
const require = createRequire(import.meta.url);
/** `load()`, called once: zlib runs once per file of an archive repo, where a require() each would show. */
function once<T>(load: () => T): () => T {
  let value: T | undefined;
  return () => (value ??= load());
}
const zlib = once((): typeof import('node:zlib') => require('node:zlib'));
const streams = once((): typeof import('node:stream') => require('node:stream'));
const threadId = once((): number => (require('node:worker_threads') as typeof import('node:worker_threads')).threadId);
export const randomHex = (bytes: number): string => (require('node:crypto') as typeof import('node:crypto')).randomBytes(bytes).toString('hex');

export class RepoError extends Error {
  override name = 'RepoError';
}

export const REPO_MODES = ['bare', 'bare-user', 'bare-user-only', 'archive'] as const;
export type RepoMode = (typeof REPO_MODES)[number];

/** The name a mode has in `config` (and in a summary's `ostree.summary.mode`). */
export const CONFIG_MODE: Record<RepoMode, string> = {
  bare: 'bare', 'bare-user': 'bare-user', 'bare-user-only': 'bare-user-only', archive: 'archive-z2',
};

export function parseRepoMode(s: string): RepoMode {
  if (s === 'archive-z2') return 'archive';
  if ((REPO_MODES as readonly string[]).includes(s)) return s as RepoMode;
  throw new RepoError(`Invalid mode "${s}": expected one of ${REPO_MODES.join(', ')}`);
}

const REF_COMPONENT = /^[\w\d][-._\w\d]*$/;

export function validateRefName(ref: string): void {
  if (!ref.split('/').every((c) => REF_COMPONENT.test(c))) throw new RepoError(`Invalid ref name ${ref}`);
}

let tmpCounter = 0;
const STAGING_MARK = '.tmp-';
const tmpSalt = once((): string => randomHex(4));

/** Files larger than this are streamed rather than read whole. */
export const STREAM_THRESHOLD = 4 * 1024 * 1024;

const isEnoent = (e: unknown): boolean => (e as NodeJS.ErrnoException)?.code === 'ENOENT';

/** A file object's metadata, and its content (absent for symlinks). */
export interface FileObject {
  header: FileHeader;
  size: number;
}

export class Repo {
  private readonly knownDirs = new Set<string>();
  readonly isRoot = process.getuid?.() === 0;
  /** `PATH/objects/`, normalized once. */
  private readonly objectsDir: string;
  /** Decoded dirtrees by checksum, once keepDecodedDirTrees() was called. */
  private dirTrees: Map<string, DirTree> | undefined;

  private constructor(
    readonly path: string,
    readonly mode: RepoMode,
    readonly config: KeyFile,
  ) {
    this.objectsDir = `${join(path, 'objects')}/`;
  }

  /** Creates a repository (like `ostree init`); an existing repo of the same mode is opened. */
  static async init(path: string, options: { mode: RepoMode }): Promise<Repo> {
    try {
      const existing = await Repo.open(path);
      if (existing.mode !== options.mode) throw new RepoError(`Repository ${path} already exists with mode ${existing.mode}`);
      return existing;
    } catch (e) {
      if (!(e instanceof RepoError) || !/no config/.test(e.message)) throw e;
    }
    for (const d of ['objects', 'tmp/cache', 'refs/heads', 'refs/remotes', 'refs/mirrors', 'state', 'extensions']) {
      await fs.mkdir(join(path, d), { recursive: true, mode: 0o775 }); // as ostree: the umask decides
    }
    const config = `[core]\nrepo_version=1\nmode=${CONFIG_MODE[options.mode]}\n`;
    await atomicWrite(join(path, 'config'), join(path, 'tmp'), config, 0o644);
    return Repo.open(path);
  }

  static async open(path: string): Promise<Repo> {
    let text: string;
    try {
      text = await fs.readFile(join(path, 'config'), 'utf8');
    } catch (e) {
      if (isEnoent(e) || (e as NodeJS.ErrnoException).code === 'ENOTDIR') {
        throw new RepoError(`Not an OSTree repository: ${path} (no config)`);
      }
      throw e;
    }
    let config: KeyFile;
    try {
      config = KeyFile.parse(text, join(path, 'config'));
    } catch (e) {
      throw new RepoError(`Invalid repository configuration: ${(e as Error).message}`, { cause: e });
    }
    const version = config.get('core', 'repo_version');
    if (version !== '1') throw new RepoError(`Invalid repository configuration ${join(path, 'config')}: unsupported repo_version ${version ?? '(missing)'}`);
    const modeName = config.get('core', 'mode') ?? 'bare';
    let mode: RepoMode;
    try {
      mode = parseRepoMode(modeName);
    } catch {
      throw new RepoError(`Invalid repository configuration ${join(path, 'config')}: unknown mode "${modeName}"`);
    }
    ensureTmpDir(join(path, 'tmp'));
    return new Repo(path, mode, config);
  }

  // ---- objects
  //
  // Object I/O is synchronous on purpose: each object is a handful of syscalls, and going
  // through the libuv pool with promises cost more than the syscalls themselves (measured:
  // 5x slower checkouts). Parallelism comes from worker threads (see commit-pool.ts) instead.
  // The async methods are thin wrappers for callers that prefer them.

  objectPath(type: ObjectType, checksum: string): string {
    const ext = type === 'file' ? (this.mode === 'archive' ? 'filez' : 'file') : type;
    // Concatenated, not join()ed: this runs once per file of a checkout or commit.
    return `${this.objectsDir}${checksum.slice(0, 2)}/${checksum.slice(2)}.${ext}`;
  }

  hasObjectSync(type: ObjectType, checksum: string): boolean {
    return objectExists(this.objectPath(type, checksum));
  }

  async hasObject(type: ObjectType, checksum: string): Promise<boolean> {
    return this.hasObjectSync(type, checksum);
  }

  readMetadataSync(type: 'commit' | 'dirtree' | 'dirmeta' | 'commitmeta', checksum: string): Buffer {
    if (!isChecksum(checksum)) throw new RepoError(`Invalid checksum "${checksum}"`);
    try {
      return readFileSync(this.objectPath(type, checksum));
    } catch (e) {
      if (isEnoent(e)) throw new RepoError(`No such metadata object ${checksum}.${type}`);
      throw e;
    }
  }

  async readMetadata(type: 'commit' | 'dirtree' | 'dirmeta' | 'commitmeta', checksum: string): Promise<Buffer> {
    return this.readMetadataSync(type, checksum);
  }

  loadCommitSync(checksum: string): Commit {
    return decodeAs(checksum, 'commit', this.readMetadataSync('commit', checksum), decodeCommit);
  }

  loadDirTreeSync(checksum: string): DirTree {
    const kept = this.dirTrees?.get(checksum);
    if (kept) return kept;
    const tree = decodeAs(checksum, 'dirtree', this.readMetadataSync('dirtree', checksum), decodeDirTree);
    this.dirTrees?.set(checksum, tree);
    return tree;
  }

  /**
   * From now on, keeps every dirtree this Repo decodes (callers must not modify them), for an
   * operation that walks the same trees twice: a deploy checks a commit out, then its cleanup's
   * prune walks that commit again. Objects are named by their content, so a kept tree is what
   * reading the object again would give, as long as the object is there.
   */
  keepDecodedDirTrees(): void {
    this.dirTrees ??= new Map();
  }

  loadDirMetaSync(checksum: string): DirMeta {
    return decodeAs(checksum, 'dirmeta', this.readMetadataSync('dirmeta', checksum), decodeDirMeta);
  }

  async loadCommit(checksum: string): Promise<Commit> {
    return this.loadCommitSync(checksum);
  }

  async loadDirTree(checksum: string): Promise<DirTree> {
    return this.loadDirTreeSync(checksum);
  }

  async loadDirMeta(checksum: string): Promise<DirMeta> {
    return this.loadDirMetaSync(checksum);
  }

  /** Stores a metadata object (commit, dirtree, dirmeta) and returns its checksum. */
  writeMetadataSync(type: 'commit' | 'dirtree' | 'dirmeta', bytes: Buffer): string {
    const checksum = sha256Hex(bytes);
    const dest = this.objectPath(type, checksum);
    if (!objectExists(dest)) this.writeObjectBytes(dest, bytes, 0o644);
    return checksum;
  }

  async writeMetadata(type: 'commit' | 'dirtree' | 'dirmeta', bytes: Buffer): Promise<string> {
    return this.writeMetadataSync(type, bytes);
  }

  async readDetachedMetadata(commit: string): Promise<Buffer | null> {
    try {
      return readFileSync(this.objectPath('commitmeta', commit));
    } catch (e) {
      if (isEnoent(e)) return null;
      throw e;
    }
  }

  /** Stores a commit's detached metadata (`.commitmeta`), replacing any it had. */
  async writeDetachedMetadata(commit: string, bytes: Buffer): Promise<void> {
    const dest = this.objectPath('commitmeta', commit);
    this.ensureObjectDir(dest);
    await atomicWrite(dest, this.tmpDir, bytes, 0o644);
  }

  get tmpDir(): string {
    return join(this.path, 'tmp');
  }

  /** A unique path under `tmp/` for an object being written. */
  tmpName(): string {
    return join(this.tmpDir, `obj-${process.pid}-${threadId()}-${tmpCounter++}-${tmpSalt()}`);
  }

  ensureObjectDir(objectPath: string): void {
    const dir = dirname(objectPath);
    if (this.knownDirs.has(dir)) return;
    mkdirSync(dir, { recursive: true, mode: 0o755 });
    this.knownDirs.add(dir);
  }

  /**
   * Where an object is written before being renamed to `dest`: beside it, in its own
   * `objects/XX/` directory. A rename within one directory avoids the filesystem-wide lock
   * a cross-directory rename takes (measured: 2 writer threads went from 5.2 s to 3.0 s on a
   * 300 MB tree). Names never parse as objects, and prune removes stale ones.
   */
  private stagingPath(dest: string): string {
    return `${dest}${STAGING_MARK}${process.pid}-${threadId()}-${tmpCounter++}`;
  }

  /**
   * Removes temporary files a crashed writer left behind (in `tmp/`, and `staging`: those
   * beside objects, as scanObjects found them) whose inode changed longer than `maxAgeMs`
   * ago. Returns how many were removed.
   */
  removeStaleTemporaries(maxAgeMs = 24 * 3600 * 1000, staging = this.scanObjects().staging): number {
    const cutoff = Date.now() - maxAgeMs;
    let removed = 0;
    const sweep = (dir: string, isTemp: (name: string) => boolean): void => {
      for (const name of readdirSync(dir, { withFileTypes: false }) as string[]) {
        if (!isTemp(name)) continue;
        const path = join(dir, name);
        const st = lstatSync(path, { throwIfNoEntry: false });
        // ctime, not mtime: objects get mtime 0 before they are renamed into place.
        if (st && !st.isDirectory() && st.ctimeMs < cutoff) {
          rmSync(path, { force: true });
          removed++;
        }
      }
    };
    // pull-: bodies a killed pull was receiving, and cut downloads no pull came back to resume
    // (as libostree expires its fetcher's files in tmp/ after a day).
    if (objectExists(this.tmpDir)) sweep(this.tmpDir, (n) => n.startsWith('obj-') || n.startsWith('tmp-') || n.startsWith('pull-'));
    for (const path of staging) {
      const st = lstatSync(path, { throwIfNoEntry: false });
      if (st && !st.isDirectory() && st.ctimeMs < cutoff) {
        rmSync(path, { force: true });
        removed++;
      }
    }
    return removed;
  }

  /** Writes plain bytes as an object: beside it, then renamed into place. */
  private writeObjectBytes(dest: string, bytes: Buffer, mode: number): void {
    this.ensureObjectDir(dest);
    const tmp = this.stagingPath(dest);
    try {
      writeFileSync(tmp, bytes, { mode });
      renameSync(tmp, dest);
    } catch (e) {
      rmSync(tmp, { force: true });
      throw e;
    }
  }

  /** Reads a file object's metadata (uid, gid, mode, symlink target, xattrs) and content size. */
  statFileObjectSync(checksum: string): FileObject {
    const path = this.objectPath('file', checksum);
    try {
      if (this.mode === 'archive') {
        const fd = openSync(path, 'r');
        try {
          const head = Buffer.alloc(8);
          readSync(fd, head, 0, 8, 0);
          const len = head.readUInt32BE(0);
          if (len > 1 << 20) throw new ObjectError(`Corrupted archive object ${checksum}: header length ${len}`);
          const buf = Buffer.alloc(8 + len);
          const bytesRead = readSync(fd, buf, 0, buf.length, 0);
          const { header, size } = decodeArchiveHeader(buf.subarray(0, bytesRead));
          return { header, size };
        } finally {
          closeSync(fd);
        }
      }
      const st = lstatSync(path);
      return { header: this.bareHeader(path, st, checksum), size: st.isSymbolicLink() ? 0 : st.size };
    } catch (e) {
      if (isEnoent(e)) throw new RepoError(`No such file object ${checksum}`);
      throw e;
    }
  }

  async statFileObject(checksum: string): Promise<FileObject> {
    return this.statFileObjectSync(checksum);
  }

  private bareHeader(path: string, st: Stats, checksum: string): FileHeader {
    switch (this.mode) {
      case 'bare':
        return {
          uid: st.uid, gid: st.gid, mode: st.mode,
          symlinkTarget: st.isSymbolicLink() ? readlinkSync(path) : '',
          xattrs: readXattrs(path),
        };
      case 'bare-user': {
        const meta = readXattr(path, 'user.ostreemeta');
        if (!meta) throw new RepoError(`File object ${checksum} has no user.ostreemeta xattr`);
        const m = decodeBareUserMeta(meta);
        let symlinkTarget = '';
        if (isSymlinkMode(m.mode)) {
          const raw = readFileSync(path);
          symlinkTarget = raw.subarray(0, raw.indexOf(0) < 0 ? raw.length : raw.indexOf(0)).toString('utf8');
        }
        return { uid: m.uid, gid: m.gid, mode: m.mode, symlinkTarget, xattrs: m.xattrs };
      }
      default: // bare-user-only: canonical ownership, no xattrs
        return { uid: 0, gid: 0, mode: st.mode, symlinkTarget: st.isSymbolicLink() ? readlinkSync(path) : '', xattrs: [] };
    }
  }

  /** Opens a file object's content as a stream (empty for symlinks). */
  async openFileContent(checksum: string): Promise<Readable> {
    const path = this.objectPath('file', checksum);
    const { header } = this.statFileObjectSync(checksum);
    if (isSymlinkMode(header.mode)) return streams().Readable.from([]);
    if (this.mode !== 'archive') return createReadStream(path, { highWaterMark: 1 << 20 });
    const head = Buffer.alloc(8);
    const fd = openSync(path, 'r');
    try {
      readSync(fd, head, 0, 8, 0);
    } finally {
      closeSync(fd);
    }
    const stream = createReadStream(path, { start: 8 + head.readUInt32BE(0), highWaterMark: 1 << 20 });
    return stream.pipe(zlib().createInflateRaw());
  }

  /** Reads a whole file object into memory: for small files. */
  readFileObjectSync(checksum: string): FileObject & { content: Buffer } {
    const path = this.objectPath('file', checksum);
    if (this.mode !== 'archive') {
      const obj = this.statFileObjectSync(checksum);
      return { ...obj, content: isSymlinkMode(obj.header.mode) ? Buffer.alloc(0) : readFileSync(path) };
    }
    let raw: Buffer;
    try {
      raw = readFileSync(path);
    } catch (e) {
      if (isEnoent(e)) throw new RepoError(`No such file object ${checksum}`);
      throw e;
    }
    const { header, size, dataOffset } = decodeArchiveHeader(raw);
    if (isSymlinkMode(header.mode)) return { header, size: 0, content: Buffer.alloc(0) };
    let content: Buffer;
    try {
      content = zlib().inflateRawSync(raw.subarray(dataOffset));
    } catch (e) {
      throw new ObjectError(`Corrupted archive object ${checksum}: ${(e as Error).message}`, { cause: e });
    }
    return { header, size, content };
  }

  /**
   * Reads a file object with one read of its file when its content is at most `maxSize`
   * bytes; for a larger one only its metadata (stream it with openFileContent()).
   */
  readSmallFileObjectSync(checksum: string, maxSize: number): FileObject & { content?: Buffer } {
    if (this.mode !== 'archive') {
      const obj = this.statFileObjectSync(checksum);
      if (isSymlinkMode(obj.header.mode)) return { ...obj, content: Buffer.alloc(0) };
      return obj.size > maxSize ? obj : { ...obj, content: readFileSync(this.objectPath('file', checksum)) };
    }
    const path = this.objectPath('file', checksum);
    const st = lstatSync(path, { throwIfNoEntry: false });
    if (!st) throw new RepoError(`No such file object ${checksum}`);
    // The compressed size bounds nothing about the content; the header's size does.
    if (st.size > maxSize) {
      const obj = this.statFileObjectSync(checksum);
      return obj.size > maxSize ? obj : this.readFileObjectSync(checksum);
    }
    const obj = this.readFileObjectSync(checksum);
    return obj.size > maxSize ? { header: obj.header, size: obj.size } : obj;
  }

  async readFileObject(checksum: string): Promise<FileObject & { content: Buffer }> {
    return this.readFileObjectSync(checksum);
  }

  /**
   * Stores a file object whose content is in memory (or a symlink) under the checksum the
   * caller computed; false when the repository already had it.
   */
  writeFileObjectSync(checksum: string, header: FileHeader, content: Buffer): boolean {
    const dest = this.objectPath('file', checksum);
    if (objectExists(dest)) return false;
    this.ensureObjectDir(dest);
    const tmp = this.stagingPath(dest);
    try {
      this.writeSmallFileObject(tmp, header, content);
      renameSync(tmp, dest);
    } catch (e) {
      rmSync(tmp, { force: true });
      throw e;
    }
    return true;
  }

  async writeFileObject(checksum: string, header: FileHeader, content: Buffer): Promise<boolean> {
    return this.writeFileObjectSync(checksum, header, content);
  }

  private writeSmallFileObject(tmp: string, header: FileHeader, content: Buffer): void {
    const symlink = checkFileType(header);
    if (symlink && (this.mode === 'bare' || this.mode === 'bare-user-only')) {
      symlinkSync(header.symlinkTarget, tmp);
      if (this.mode === 'bare' && this.isRoot) lchownSync(tmp, header.uid, header.gid);
      lutimesSync(tmp, 0, 0);
      if (this.mode === 'bare' && header.xattrs.length) writeXattrs(tmp, header.xattrs);
      return;
    }
    let data: Buffer | Buffer[] = content;
    let mode = header.mode & 0o7777;
    if (this.mode === 'archive') {
      const head = encodeArchiveHeader(header, content.length);
      data = symlink ? [head] : [head, zlib().deflateRawSync(content, { level: this.zlibLevel })];
      mode = 0o644;
    } else if (this.mode === 'bare-user') {
      if (symlink) data = Buffer.from(header.symlinkTarget + '\0');
      mode = symlink ? 0o644 : (header.mode & 0o775) | 0o400;
    }
    const fd = openSync(tmp, fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL, 0o600);
    try {
      for (const chunk of Array.isArray(data) ? data : [data]) writeAll(fd, chunk);
      this.finishObjectFd(fd, header, mode);
    } finally {
      closeSync(fd);
    }
    this.writeObjectXattrs(tmp, header);
  }

  /** Ownership (bare, as root), mode, and mtime 0 (bare modes), through the descriptor. */
  private finishObjectFd(fd: number, header: FileHeader, mode: number): void {
    if (this.mode === 'bare' && this.isRoot) fchownSync(fd, header.uid, header.gid);
    fchmodSync(fd, mode);
    if (this.mode !== 'archive') futimesSync(fd, 0, 0);
  }

  /** The xattrs a content object carries: its own in bare, `user.ostreemeta` in bare-user. */
  private writeObjectXattrs(tmp: string, header: FileHeader): void {
    if (this.mode === 'bare' && header.xattrs.length) writeXattrs(tmp, header.xattrs);
    if (this.mode === 'bare-user') {
      writeXattrs(tmp, [['user.ostreemeta', encodeBareUserMeta({ uid: header.uid, gid: header.gid, mode: header.mode, xattrs: header.xattrs })]]);
    }
  }

  /**
   * Writes a file object of this repo's mode at `tmp` (not yet named), content from memory
   * or from a file on disk (streamed, never linked). A file the caller `owns` (a scratch file
   * of its own, in this repo's `tmp/`) becomes the object in a bare mode, renamed rather than
   * copied, and is gone afterwards.
   */
  async writeFileObjectTo(tmp: string, header: FileHeader, source: { content: Buffer } | { path: string; size: number; owns?: boolean }): Promise<void> {
    if ('content' in source || checkFileType(header)) {
      this.writeSmallFileObject(tmp, header, 'content' in source ? source.content : Buffer.alloc(0));
      return;
    }
    if (this.mode === 'archive') {
      const out = createWriteStream(tmp, { mode: 0o644 });
      out.write(encodeArchiveHeader(header, source.size));
      await streams().promises.pipeline(createReadStream(source.path, { highWaterMark: 1 << 20 }), zlib().createDeflateRaw({ level: this.zlibLevel }), out);
      return;
    }
    if (source.owns) renameSync(source.path, tmp);
    else await fs.copyFile(source.path, tmp);
    const fd = openSync(tmp, 'r+');
    try {
      this.finishObjectFd(fd, header, this.mode === 'bare-user' ? (header.mode & 0o775) | 0o400 : header.mode & 0o7777);
    } finally {
      closeSync(fd);
    }
    this.writeObjectXattrs(tmp, header);
  }

  /** Renames a finished temporary object into place unless the object already exists. */
  async publishObject(tmp: string, type: ObjectType, checksum: string): Promise<void> {
    const dest = this.objectPath(type, checksum);
    this.ensureObjectDir(dest);
    if (objectExists(dest)) {
      rmSync(tmp, { force: true });
      return;
    }
    renameSync(tmp, dest);
  }

  get zlibLevel(): number {
    const level = Number(this.config.get('archive', 'zlib-level') ?? 6);
    return Number.isInteger(level) && level >= 0 && level <= 9 ? level : 6;
  }

  /** Lists every object of the repo as [checksum, type]. */
  async listObjects(): Promise<[string, ObjectType][]> {
    return this.scanObjects().objects;
  }

  /**
   * One pass over `objects/`: every object by name and type (sorted), and the paths of the
   * staging files of writers (see stagingPath) found beside them.
   */
  scanObjects(): { objects: [string, ObjectType][]; staging: string[] } {
    const objects: [string, ObjectType][] = [];
    const staging: string[] = [];
    const root = join(this.path, 'objects');
    let prefixes: string[];
    try {
      prefixes = readdirSync(root);
    } catch (e) {
      if (isEnoent(e)) return { objects, staging };
      throw e;
    }
    // Synchronous, as object I/O is above: 256 awaited reads through the libuv pool were most
    // of the listing's time under load (each a thread hand-off and back).
    for (const prefix of prefixes.sort()) {
      if (!/^[0-9a-f]{2}$/.test(prefix)) continue;
      for (const name of readdirSync(join(root, prefix)).sort()) {
        if (name.includes(STAGING_MARK)) {
          staging.push(join(root, prefix, name));
          continue;
        }
        const dot = name.indexOf('.');
        const rest = name.slice(0, dot);
        const ext = name.slice(dot + 1);
        const type: ObjectType | undefined = ext === 'file' || ext === 'filez' ? 'file'
          : (['dirtree', 'dirmeta', 'commit', 'tombstone-commit', 'commitmeta'] as const).find((t) => t === ext);
        if (type && rest.length === 62) objects.push([prefix + rest, type]);
      }
    }
    return { objects, staging };
  }

  /** Starts writing back what was written so far, without waiting (process.ts startWriteback: settleWritebacks() tells how it went). */
  startWriteback(): void {
    if (this.config.getBoolean('core', 'fsync') !== false) startWriteback(this.path);
  }

  /** Makes everything written so far durable (like ostree's syncfs at transaction commit). */
  sync(): void {
    if (this.config.getBoolean('core', 'fsync') === false) return;
    if (!syncFilesystem(this.path)) throw new RepoError(`Syncing ${this.path} to disk failed`);
  }

  // ---- refs

  private refPath(ref: string, remote?: string): string {
    return remote ? join(this.path, 'refs', 'remotes', remote, ref) : join(this.path, 'refs', 'heads', ref);
  }

  /** Reads a ref; undefined if absent. `REMOTE:REF` reads a remote ref. */
  async readRef(refspec: string): Promise<string | undefined> {
    const [remote, ref] = splitRefspec(refspec);
    try {
      const value = (await fs.readFile(this.refPath(ref, remote), 'utf8')).trim();
      if (!isChecksum(value)) throw new RepoError(`Ref ${refspec} holds an invalid checksum "${value.slice(0, 80)}"`);
      return value;
    } catch (e) {
      if (isEnoent(e) || (e as NodeJS.ErrnoException).code === 'EISDIR' || (e as NodeJS.ErrnoException).code === 'ENOTDIR') return undefined;
      throw e;
    }
  }


  /** Resolves a ref, `REMOTE:REF`, a checksum, or any of those followed by `^` (parent); a plain REF falls back to the remotes' refs. */
  async resolveRev(rev: string): Promise<string> {
    let parents = 0;
    let base = rev;
    while (base.endsWith('^')) {
      base = base.slice(0, -1);
      parents++;
    }
    const found = isChecksum(base) ? base : (this.resolvePartialChecksum(base) ?? (await this.readRef(base)) ?? (await this.findRemoteRef(base)));
    if (!found) throw new RepoError(`Refspec '${rev}' not found`);
    let checksum: string = found;
    for (let i = 0; i < parents; i++) {
      const parent: string | null = (await this.loadCommit(checksum)).parent;
      if (!parent) throw new RepoError(`Commit ${checksum} has no parent`);
      checksum = parent;
    }
    return checksum;
  }

  /**
   * The commit whose checksum starts with `prefix` (hex, shorter than a checksum), as ostree
   * tries before refs; undefined when none does, an error when several do.
   */
  resolvePartialChecksum(prefix: string): string | undefined {
    if (!/^[0-9a-f]{1,63}$/.test(prefix)) return undefined;
    const objects = join(this.path, 'objects');
    const dirs = prefix.length >= 2 ? [prefix.slice(0, 2)] : (readdirSync(objects, { withFileTypes: false }) as string[]).filter((d) => d.startsWith(prefix));
    const found: string[] = [];
    for (const dir of dirs) {
      let names: string[];
      try {
        names = readdirSync(join(objects, dir));
      } catch (e) {
        if (isEnoent(e) || (e as NodeJS.ErrnoException).code === 'ENOTDIR') continue;
        throw e;
      }
      for (const name of names) {
        const checksum = dir + name.slice(0, -'.commit'.length);
        if (name.endsWith('.commit') && isChecksum(checksum) && checksum.startsWith(prefix)) found.push(checksum);
      }
    }
    if (found.length > 1) throw new RepoError(`Refspec ${prefix} not unique`);
    return found[0];
  }

  /**
   * This repository, or the first of its parents (`core.parent` in the config, as ostree
   * reads it) that holds the object: a "shadow" repository reads commits from its parent.
   */
  async holderOf(type: ObjectType, checksum: string): Promise<Repo> {
    let repo: Repo = this;
    for (let depth = 0; depth < 16; depth++) {
      const parent = repo.config.get('core', 'parent');
      if (repo.hasObjectSync(type, checksum) || parent === undefined) return repo;
      repo = await Repo.open(parent);
    }
    throw new RepoError(`Too many core.parent repositories above ${this.path}`);
  }

  /**
   * A ref named without a remote that only a remote has, as ostree's rev-parse finds it:
   * `REMOTE/REF` as `REMOTE:REF`, else the first remote (by name) holding `REF`.
   */
  private async findRemoteRef(ref: string): Promise<string | undefined> {
    if (ref.includes(':')) return undefined;
    const slash = ref.indexOf('/');
    if (slash > 0) {
      const found = await this.readRef(`${ref.slice(0, slash)}:${ref.slice(slash + 1)}`);
      if (found) return found;
    }
    for (const remote of (await readdirOrEmpty(join(this.path, 'refs', 'remotes'))).sort()) {
      const found = await this.readRef(`${remote}:${ref}`);
      if (found) return found;
    }
    return undefined;
  }

  /**
   * Writes (or with null, deletes) a ref atomically. A deleted ref's emptied folders go with
   * it, so that their names can become refs. With `core.auto-update-summary`, the summary
   * follows every change, as libostree keeps it.
   */
  async setRef(refspec: string, checksum: string | null): Promise<void> {
    await this.writeRef(refspec, checksum);
    if (this.config.getBoolean('core', 'auto-update-summary') === true) {
      // Imported when asked for: summary.ts builds on this module.
      await (await import('./summary.js')).regenerateSummary(this);
    }
  }

  private async writeRef(refspec: string, checksum: string | null): Promise<void> {
    const [remote, ref] = splitRefspec(refspec);
    validateRefName(ref);
    const path = this.refPath(ref, remote);
    if (checksum === null) {
      await fs.rm(path, { force: true });
      const top = this.refPath('', remote);
      for (let dir = dirname(path); dir.startsWith(`${top}/`); dir = dirname(dir)) {
        try {
          await fs.rmdir(dir);
        } catch (e) {
          if (['ENOTEMPTY', 'EEXIST', 'ENOENT'].includes((e as NodeJS.ErrnoException).code ?? '')) break;
          throw e;
        }
      }
      return;
    }
    if (!isChecksum(checksum)) throw new RepoError(`Invalid checksum "${checksum}"`);
    try {
      await fs.mkdir(dirname(path), { recursive: true });
      await atomicWrite(path, this.tmpDir, `${checksum}\n`, 0o644, true);
    } catch (e) {
      // A folder of refs where the ref would go, or a ref where a folder would.
      if (['EISDIR', 'ENOTDIR', 'EEXIST'].includes((e as NodeJS.ErrnoException).code ?? '')) {
        throw new RepoError(`Conflict: ref ${refspec} would replace a folder of refs or be written under a ref`, { cause: e });
      }
      throw e;
    }
  }

  /** Aliases (`ostree refs --alias`: refs that are symlinks to another local ref) as sorted [alias, target]. */
  async listRefAliases(): Promise<[string, string][]> {
    const heads = join(this.path, 'refs', 'heads');
    const aliases: [string, string][] = [];
    await walkRefs(heads, '', async (name, path, isLink) => {
      if (isLink) aliases.push([name, relative(heads, join(dirname(path), await fs.readlink(path)))]);
    });
    return aliases.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  }

  /** Makes `alias` follow the local ref `target` (a relative symlink, as ostree makes it). */
  async setRefAlias(alias: string, target: string): Promise<void> {
    validateRefName(alias);
    validateRefName(target);
    const path = this.refPath(alias);
    await fs.mkdir(dirname(path), { recursive: true });
    const tmp = this.tmpName();
    await fs.symlink(relative(dirname(path), this.refPath(target)), tmp);
    try {
      await fs.rename(tmp, path);
    } catch (e) {
      await fs.rm(tmp, { force: true });
      throw e;
    }
  }

  /** All refs as sorted [name, checksum], aliases included; remote refs as `REMOTE:REF`. */
  async listRefs(): Promise<[string, string][]> {
    const out: [string, string][] = [];
    const collect = (prefix: string) => async (name: string, path: string): Promise<void> => {
      out.push([`${prefix}${name}`, (await fs.readFile(path, 'utf8')).trim()]);
    };
    await walkRefs(join(this.path, 'refs', 'heads'), '', collect(''));
    const remotesDir = join(this.path, 'refs', 'remotes');
    const remotes = await fs.readdir(remotesDir).catch((e: unknown) => {
      // As ostree: a repository without refs/remotes is damaged, not one without remotes.
      if (isEnoent(e)) throw new RepoError('Listing refs: opendir(refs/remotes): No such file or directory', { cause: e });
      throw e;
    });
    for (const remote of remotes) await walkRefs(join(remotesDir, remote), '', collect(`${remote}:`));
    return out.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  }
}

async function readdirOrEmpty(dir: string): Promise<string[]> {
  try {
    return await fs.readdir(dir);
  } catch (e) {
    if (isEnoent(e)) return [];
    throw e;
  }
}

/**
 * Calls `visit` for every ref file or alias (symlink) under `dir`. Hidden names are not refs:
 * ostree skips them (tools leave files like `.latest_rsync` there).
 */
async function walkRefs(dir: string, prefix: string, visit: (name: string, path: string, isLink: boolean) => Promise<void>): Promise<void> {
  let entries;
  try {
    entries = await fs.readdir(dir, { withFileTypes: true });
  } catch (e) {
    if (isEnoent(e)) return;
    throw e;
  }
  for (const e of entries) {
    if (e.name.startsWith('.')) continue;
    const name = prefix ? `${prefix}/${e.name}` : e.name;
    if (e.isDirectory()) await walkRefs(join(dir, e.name), name, visit);
    else if (e.isFile() || e.isSymbolicLink()) await visit(name, join(dir, e.name), e.isSymbolicLink());
  }
}

export function splitRefspec(refspec: string): [remote: string | undefined, ref: string] {
  const colon = refspec.indexOf(':');
  return colon < 0 ? [undefined, refspec] : [refspec.slice(0, colon), refspec.slice(colon + 1)];
}

/** Decodes a metadata object, naming it in the error when it is corrupted. */
function decodeAs<T>(checksum: string, type: string, bytes: Buffer, decode: (b: Buffer) => T): T {
  try {
    return decode(bytes);
  } catch (e) {
    if (e instanceof ObjectError) throw new ObjectError(`${checksum}.${type}: ${e.message}`, { cause: e });
    throw e;
  }
}

/** Writes `data` to a temporary file in `tmpDir` and renames it over `dest`. */
export async function atomicWrite(dest: string, tmpDir: string, data: string | Buffer, mode: number, durable = false): Promise<void> {
  await fs.mkdir(tmpDir, { recursive: true });
  const tmp = join(tmpDir, `tmp-${process.pid}-${randomHex(8)}`);
  try {
    const fh = await fs.open(tmp, fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL, mode);
    try {
      await fh.writeFile(data);
      if (durable) await fh.sync();
    } finally {
      await fh.close();
    }
    await fs.chmod(tmp, mode);
    await fs.rename(tmp, dest);
  } catch (e) {
    await fs.rm(tmp, { force: true });
    throw e;
  }
}

/** `tmp/` comes back when removed, as ostree recreates it on open (a read-only repo goes without). */
function ensureTmpDir(tmp: string): void {
  try {
    mkdirSync(tmp, { mode: 0o755 });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== 'EEXIST' && code !== 'EACCES' && code !== 'EROFS' && code !== 'EPERM') throw e;
  }
}

/** lstat, not stat: bare repos store symlinks as symlinks, whose targets needn't exist. */
function objectExists(path: string): boolean {
  return lstatSync(path, { throwIfNoEntry: false }) !== undefined;
}

/** Writes all of `data`, however many write calls that takes. */
function writeAll(fd: number, data: Buffer): void {
  for (let off = 0; off < data.length;) off += writeSync(fd, data, off, data.length - off);
}

/** True for a symlink; throws for anything that is neither a symlink nor a regular file. */
function checkFileType(header: FileHeader): boolean {
  if (isSymlinkMode(header.mode)) return true;
  if (!isRegularMode(header.mode)) throw new RepoError(`Unsupported file type in mode 0${header.mode.toString(8)}`);
  return false;
}

/** Lookups in one `objects/XX` directory after which it is listed rather than lstat'ed. */
const LIST_AFTER = 8;
/** Names held from listings at most (~100 bytes each): past it, every answer is an lstat. */
const MAX_LISTED_NAMES = 200_000;

/**
 * "Is this object stored?" for a walk that asks about most objects of a tree (a pull checks
 * every file of a commit, ~12,000 for an OS, nearly all present): a directory of `objects/` is
 * read once it has been asked about a few times — one readdir for ~50 lstats, each of which
 * Node pays for with a Stats object. A small pull stays on lstats. Each directory is a
 * snapshot from its listing: ask about each object once, before storing it (an object stored
 * since, by anyone, may read as missing: fetched again, and the write finds it stored and keeps it).
 */
export class ObjectPresence {
  private readonly asked = new Map<string, number>();
  private readonly listed = new Map<string, Set<string>>();
  private listedNames = 0;

  constructor(private readonly repo: Repo) {}

  has(type: ObjectType, checksum: string): boolean {
    const prefix = checksum.slice(0, 2);
    const names = this.listed.get(prefix) ?? this.listAfterFewAsks(prefix);
    if (!names) return this.repo.hasObjectSync(type, checksum);
    const path = this.repo.objectPath(type, checksum);
    return names.has(path.slice(path.lastIndexOf('/') + 1));
  }

  private listAfterFewAsks(prefix: string): Set<string> | undefined {
    const asked = (this.asked.get(prefix) ?? 0) + 1;
    this.asked.set(prefix, asked);
    if (asked < LIST_AFTER || this.listedNames >= MAX_LISTED_NAMES) return undefined;
    let names: Set<string>;
    try {
      names = new Set(readdirSync(join(this.repo.path, 'objects', prefix)));
    } catch (e) {
      if (!isEnoent(e)) throw e;
      names = new Set();
    }
    this.listed.set(prefix, names);
    this.listedNames += names.size;
    return names;
  }
}

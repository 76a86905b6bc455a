/**
 * `ostree pull-local SRC [REF|CHECKSUM…]`: copies commits from another repository on this
 * machine. For each commit: the commit, its detached metadata, every dirtree, dirmeta and file
 * object it reaches, and (with `depth`) its parents as far as the source has them. Objects
 * the destination lacks are hard-linked when the bytes on disk can be shared (metadata
 * always; content between repos of one mode), else re-encoded for the destination's mode
 * (archive → bare inflates, bare → archive deflates). `state/CSUM.commitpartial` marks each
 * commit while it is incomplete; objects are synced before the marks go and the refs move.
 */
import { createHash } from 'node:crypto';
import {
  chmodSync, createReadStream, createWriteStream, existsSync, linkSync, mkdirSync, readFileSync, renameSync, rmSync, statSync,
  writeFileSync,
} from 'node:fs';
import * as fs from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { recomputeFileChecksum, storedContentIntact, storedMetadataIntact } from './fsck.js';
import type { GValue } from './gvariant.js';
import { Limiter } from './limit.js';
import {
  commitMetadataValue, decodeCommit, decodeDirTree, fileChecksumPrefix, isChecksum, isRegularMode, isSymlinkMode, ObjectError, S_IFMT,
  sha256Hex, type Commit, type FileHeader, type ObjectType,
} from './objects.js';
import { RepoError, STREAM_THRESHOLD, validateRefName, type Repo } from './repo.js';
import { formatSize } from './prune.js';
import { objectKey, traverseCommits } from './traverse.js';
import { beginWriteTransaction, repairAfterCrashedWriters } from './write-transaction.js';

export interface PullLocalOptions {
  /** Refs and checksums to pull; none: every ref of the source. */
  refs?: string[];
  /** Write refs as `refs/remotes/REMOTE/REF` instead of `refs/heads/REF` (`--remote`). */
  remote?: string;
  /** Verify each object's checksum before importing it (`--untrusted`). */
  untrusted?: boolean;
  /** Parents to pull behind each commit: 0 (the default, as in ostree) for none, -1 for all. */
  depth?: number;
  /**
   * Refuse a named ref whose commit carries an `ostree.ref-binding` list without it (default
   * true; `--disable-verify-bindings` turns it off). Pulling every ref skips the check, as
   * ostree does.
   */
  verifyBindings?: boolean;
  /** Refuse content a bare-user-only repo could not hold (`--bareuseronly-files`): setuid, setgid, sticky, world-writable. */
  bareUserOnlyFiles?: boolean;
  /**
   * Pull only the commit objects (and their detached metadata), each newly stored one marked
   * `state/CSUM.commitpartial` until a later full pull completes it (`--commit-metadata-only`).
   */
  commitMetadataOnly?: boolean;
  /** Objects copied or re-encoded at once (default 8); hard links are made as objects are found. */
  concurrency?: number;
  signal?: AbortSignal;
}

export interface PullLocalResult {
  /** Commit, dirtree and dirmeta objects imported (detached metadata is not counted, as in ostree). */
  metadata: number;
  /** File objects imported. */
  content: number;
  /** Uncompressed bytes of the file objects that were re-encoded rather than linked. */
  contentBytes: number;
  /** Objects the destination held that did not match their names after a cut pull: removed and imported again. */
  repairedObjects: number;
  /**
   * Bytes fetched rather than imported: the detached metadata of commits the destination
   * already had, which ostree fetches again in case signatures were added.
   */
  bytesTransferred: number;
  /** Whole seconds the pull took. */
  seconds: number;
  /** Refs written: [ref as written (`REMOTE:REF` with a remote), commit]. */
  refs: [string, string][];
  /** Every commit pulled, named or by ref. */
  commits: string[];
}

interface Want {
  commit: string;
  /** Ref to write in the destination; null for a commit named by checksum. */
  ref: string | null;
}

/** Imports `options.refs` (default: all refs) of `source` into `repo`. */
export async function pullLocal(repo: Repo, source: Repo, options: PullLocalOptions = {}): Promise<PullLocalResult> {
  const depth = options.depth ?? 0;
  if (!Number.isInteger(depth) || depth < -1) throw new RepoError(`Invalid depth ${depth}: expected -1 or more`);
  if (options.remote !== undefined && (options.remote.includes('/') || !/^[\w\d][-._\w\d]*$/.test(options.remote))) {
    throw new RepoError(`Invalid remote name ${options.remote}`);
  }
  const named = options.refs !== undefined && options.refs.length > 0;
  const wants = await resolveWants(source, named ? options.refs! : (await source.listRefs()).map(([name]) => name));
  if (named && options.verifyBindings !== false) {
    for (const w of wants) if (w.ref !== null) checkBinding(w.commit, w.ref, await source.loadCommit(w.commit));
  }

  const started = Date.now();
  // A writer that died before its final sync may have left torn objects the import would trust.
  const repair = await repairAfterCrashedWriters(repo);
  const commits = [...new Set(wants.map((w) => w.commit))];
  // Commits the destination has complete before we mark anything partial.
  const complete = new Set(commits.filter((c) => isComplete(repo, c)));
  await fs.mkdir(join(repo.path, 'state'), { recursive: true });
  // A mark left by a pull cut short: what it stored is checked before it is trusted (see Importer).
  const verifyStored = (await fs.readdir(join(repo.path, 'state'))).some((n) => n.endsWith('.commitpartial'));
  if (!options.commitMetadataOnly) for (const c of commits) await fs.writeFile(commitPartialPath(repo, c), '');

  const importer = new Importer(repo, source, options, complete, verifyStored);
  const transaction = beginWriteTransaction(repo);
  try {
    await importer.run(commits, depth);
  } catch (e) {
    transaction.abandon();
    throw e;
  }

  // The marks go (after a full pull: of every commit walked, parents too), and the refs move,
  // only once every object is durable.
  repo.sync();
  if (!options.commitMetadataOnly) for (const c of importer.walked) await fs.rm(commitPartialPath(repo, c), { force: true });
  transaction.end();
  const refs: [string, string][] = [];
  for (const w of wants) {
    if (w.ref === null) continue;
    const name = options.remote !== undefined ? `${options.remote}:${w.ref}` : w.ref;
    await repo.setRef(name, w.commit);
    refs.push([name, w.commit]);
  }
  return {
    metadata: importer.metadata, content: importer.content, contentBytes: importer.contentBytes, repairedObjects: repair.removed + importer.repaired,
    bytesTransferred: importer.bytesTransferred, seconds: Math.floor((Date.now() - started) / 1000), refs, commits,
  };
}

async function resolveWants(source: Repo, revs: string[]): Promise<Want[]> {
  const wants: Want[] = [];
  for (const rev of revs) {
    if (isChecksum(rev)) {
      wants.push({ commit: rev, ref: null });
      continue;
    }
    // `REMOTE:REF` is not a ref name here: ostree refuses it (also when it comes from
    // pulling all of a source that has remote refs).
    validateRefName(rev);
    const commit = await source.readRef(rev);
    if (commit === undefined) throw new RepoError(`Refspec '${rev}' not found`);
    wants.push({ commit, ref: rev });
  }
  return wants;
}

/** `state/CSUM.commitpartial`: the mark of a commit whose objects a pull has not all stored (and synced). */
export const commitPartialPath = (repo: Repo, commit: string): string => join(repo.path, 'state', `${commit}.commitpartial`);

/** Whether `repo` has `commit` and no mark saying it is incomplete. */
export function isComplete(repo: Repo, commit: string): boolean {
  return repo.hasObjectSync('commit', commit) && !existsSync(commitPartialPath(repo, commit));
}

function checkBinding(checksum: string, ref: string, commit: Commit): void {
  const binding: GValue | undefined = commitMetadataValue(commit, 'ostree.ref-binding');
  if (!Array.isArray(binding)) return; // no binding: any ref may point at it
  const names = binding.filter((b): b is string => typeof b === 'string');
  if (names.includes(ref)) return;
  const list = names.length ? names.map((n) => `‘${n}’`).join(', ') : 'no refs';
  throw new RepoError(`Commit ${checksum}: Commit has no requested ref ‘${ref}’ in ref binding metadata (${list})`);
}

const errnoCode = (e: unknown): string | undefined => (e as NodeJS.ErrnoException)?.code;

/** Codes for which a hard link cannot be made and a copy must do instead. */
const CANNOT_LINK = new Set(['EXDEV', 'EPERM', 'EMLINK', 'EACCES']);

class Importer {
  metadata = 0;
  content = 0;
  contentBytes = 0;
  bytesTransferred = 0;
  /** Stored objects found torn and imported again. */
  repaired = 0;
  /** Every commit the walk loaded: the wanted ones and their parents within the depth. */
  readonly walked = new Set<string>();
  private readonly limiter: Limiter;
  private readonly pending: Promise<void>[] = [];
  private readonly madeDirs = new Set<string>();
  private failure: { error: unknown } | undefined;
  /** Whether source and destination share the filesystem, until a link says otherwise. */
  private linkable = true;

  constructor(
    private readonly repo: Repo,
    private readonly source: Repo,
    private readonly opts: PullLocalOptions,
    /** Commits the destination had complete before the pull (grows as the walk meets parents). */
    private readonly complete: Set<string>,
    /**
     * A pull into the destination was cut short (its commitpartial mark was left): a power loss
     * before its final sync can leave objects renamed into place without their data, so every
     * object found stored is re-hashed, and imported again when it does not match its name.
     */
    private readonly verifyStored: boolean,
  ) {
    this.limiter = new Limiter(opts.concurrency ?? 8);
  }

  async run(commits: string[], depth: number): Promise<void> {
    try {
      await traverseCommits(this.source, commits, {
        depth,
        commitsOnly: this.opts.commitMetadataOnly === true,
        loadCommit: async (c) => this.commitObject(c),
        loadDirTree: async (c) => this.metadataObject('dirtree', c, decodeDirTree),
        onObject: (c, t) => this.schedule(c, t),
        ...(this.opts.signal ? { signal: this.opts.signal } : {}),
      });
    } catch (e) {
      this.failure ??= { error: e };
    }
    // Let every started import finish (or fail) before reporting, so nothing writes after we return.
    await Promise.allSettled(this.pending);
    if (this.failure) throw this.failure.error;
  }

  private schedule(checksum: string, type: ObjectType): void {
    // Seen before its detached metadata and before it is imported: the moment to ask.
    if (type === 'commit' && isComplete(this.repo, checksum)) this.complete.add(checksum);
    if (type === 'commit' || type === 'dirtree') return; // imported as they are loaded for the walk
    if (this.failure) return;
    try {
      // The common cases, done at once: a promise per object would cost more than the
      // handful of syscalls they take.
      if (type === 'commitmeta' && this.complete.has(checksum)) this.refetchDetached(checksum);
      else if (type === 'dirmeta' || type === 'commitmeta') this.metadataObject(type, checksum, null);
      else if (type === 'file' && !this.linkFileObject(checksum)) {
        this.pending.push(this.limiter.run(async () => {
          if (this.failure) return;
          try {
            this.opts.signal?.throwIfAborted();
            await this.fileObject(checksum);
          } catch (e) {
            this.failure ??= { error: e };
          }
        }));
      }
    } catch (e) {
      this.failure ??= { error: e };
    }
  }

  /** Imports a metadata object, and returns it decoded when asked to (for the walk). */
  private metadataObject<T>(type: 'commit' | 'dirtree' | 'dirmeta' | 'commitmeta', checksum: string, decode: ((b: Buffer) => T) | null): T | null {
    let have = this.repo.hasObjectSync(type, checksum);
    if (have && this.verifyStored && type !== 'commitmeta' && !storedMetadataIntact(this.repo, type, checksum)) {
      this.dropTorn(type, checksum);
      have = false;
    }
    if (have && !decode) return null;
    let bytes: Buffer | null = null;
    if (decode || this.opts.untrusted) {
      // An object the destination has is the same bytes (it is named by their checksum): the
      // walk reads it there, so a source holding only what the destination lacks is enough.
      bytes = (have ? this.repo : this.source).readMetadataSync(type, checksum);
      if (this.opts.untrusted && type !== 'commitmeta') {
        const actual = sha256Hex(bytes);
        if (actual !== checksum) {
          throw new RepoError(`fsck ${checksum}.${type}: Corrupted ${type} object; checksum expected='${checksum}' actual='${actual}'`);
        }
      }
    }
    // Decoded (names validated) before it is stored: a dirtree naming `../x` never lands here.
    let decoded: T | null = null;
    if (decode && bytes !== null) {
      try {
        decoded = decode(bytes);
      } catch (e) {
        if (e instanceof ObjectError) throw new ObjectError(`${checksum}.${type}: ${e.message}`, { cause: e });
        throw e;
      }
    }
    if (!have) {
      const src = this.source.objectPath(type, checksum);
      const dest = this.repo.objectPath(type, checksum);
      if (!this.link(src, dest, type, checksum)) this.writeFile(dest, bytes ?? readFileSync(src));
      if (type !== 'commitmeta') this.metadata++;
    }
    return decoded;
  }

  /** Imports a commit, marked partial first when it is new here: its trees come after it, or in a later pull. */
  private commitObject(checksum: string): Commit | null {
    this.walked.add(checksum);
    if (!this.repo.hasObjectSync('commit', checksum)) writeFileSync(commitPartialPath(this.repo, checksum), '');
    return this.metadataObject('commit', checksum, decodeCommit);
  }

  /** A commit we already had may have gained signatures: its detached metadata is copied over again. */
  private refetchDetached(commit: string): void {
    const bytes = readFileSync(this.source.objectPath('commitmeta', commit));
    this.writeFile(this.repo.objectPath('commitmeta', commit), bytes);
    this.bytesTransferred += bytes.length;
  }

  private dropTorn(type: ObjectType, checksum: string): void {
    rmSync(this.repo.objectPath(type, checksum), { force: true });
    this.repaired++;
  }

  /**
   * Imports a file object that needs no rewriting by hard-linking it; false when it must go
   * the slow way (verified first, copied, or re-encoded: see fileObject()).
   */
  private linkFileObject(checksum: string): boolean {
    // A stored object to check first goes the slow way (fileObject() re-hashes it).
    if (this.repo.hasObjectSync('file', checksum)) return !this.verifyStored;
    if (this.opts.bareUserOnlyFiles) checkStorableMode(this.repo, checksum, this.source.statFileObjectSync(checksum).header, true);
    if (this.opts.untrusted || !this.sameStorage(checksum)) return false;
    if (!this.link(this.source.objectPath('file', checksum), this.repo.objectPath('file', checksum), 'file', checksum)) return false;
    this.content++;
    return true;
  }

  /** Whether the source's object file is, byte for byte and inode for inode, what the destination stores. */
  private sameStorage(checksum: string): boolean {
    return this.repo.mode === this.source.mode || this.bareUserOnlyCompatible(checksum);
  }

  private async fileObject(checksum: string): Promise<void> {
    if (this.repo.hasObjectSync('file', checksum)) {
      if (!this.verifyStored || (await storedContentIntact(this.repo, checksum))) return;
      this.dropTorn('file', checksum);
    }
    const src = this.source.objectPath('file', checksum);
    if (this.sameStorage(checksum)) {
      if (this.opts.untrusted) await this.verifyContent(checksum);
      if (this.link(src, this.repo.objectPath('file', checksum), 'file', checksum)) {
        this.content++;
        return;
      }
      if (this.repo.mode === 'archive') {
        // Across filesystems, an archive object is copied as it is: no need to recompress.
        const tmp = this.repo.tmpName();
        try {
          await fs.copyFile(src, tmp);
          await this.repo.publishObject(tmp, 'file', checksum);
        } catch (e) {
          await fs.rm(tmp, { force: true });
          throw e;
        }
        this.content++;
        this.contentBytes += (await this.source.statFileObject(checksum)).size;
        return;
      }
    }
    await this.reencode(checksum);
    this.content++;
  }

  /**
   * A bare-user object can serve a bare-user-only repo as it is when it is a regular file
   * whose recorded metadata is already canonical (uid/gid 0, no xattrs) and whose file mode
   * is the recorded one: then both modes read the same header from it.
   */
  private bareUserOnlyCompatible(checksum: string): boolean {
    if (this.source.mode !== 'bare-user' || this.repo.mode !== 'bare-user-only') return false;
    let header;
    try {
      header = this.source.statFileObjectSync(checksum).header;
    } catch (e) {
      if (e instanceof RepoError && /^No such file object/.test(e.message)) throw new RepoError(`Couldn't find file object '${checksum}'`, { cause: e });
      throw e;
    }
    if (!isRegularMode(header.mode) || header.uid !== 0 || header.gid !== 0 || header.xattrs.length) return false;
    return (statSync(this.source.objectPath('file', checksum)).mode & 0o7777) === (header.mode & 0o7777);
  }

  private async verifyContent(checksum: string): Promise<void> {
    const actual = await recomputeFileChecksum(this.source, checksum);
    if (actual !== checksum) throw corrupted(checksum, actual);
  }

  /** Reads a file object from the source and writes it in the destination's mode. */
  private async reencode(checksum: string): Promise<void> {
    let stat;
    try {
      stat = await this.source.statFileObject(checksum);
    } catch (e) {
      if (e instanceof RepoError && /^No such file object/.test(e.message)) throw new RepoError(`Couldn't find file object '${checksum}'`, { cause: e });
      throw e;
    }
    const { header, size } = stat;
    checkStorableMode(this.repo, checksum, header, this.opts.bareUserOnlyFiles);
    const tmp = this.repo.tmpName();
    let inflated: string | undefined;
    try {
      if (isSymlinkMode(header.mode) || size <= STREAM_THRESHOLD) {
        const { content } = await this.source.readFileObject(checksum);
        if (this.opts.untrusted) {
          const actual = createHash('sha256').update(fileChecksumPrefix(header)).update(content).digest('hex');
          if (actual !== checksum) throw corrupted(checksum, actual, 'Writing content object');
        }
        await this.repo.writeFileObjectTo(tmp, header, { content });
        this.contentBytes += content.length;
      } else {
        // Large: content goes disk to disk. A bare source's object file is the content
        // itself; an archive one is inflated to a scratch file first.
        let contentPath = this.source.objectPath('file', checksum);
        if (this.source.mode === 'archive') {
          inflated = this.repo.tmpName();
          await pipeline(await this.source.openFileContent(checksum), createWriteStream(inflated, { mode: 0o600 }));
          contentPath = inflated;
        }
        if (this.opts.untrusted) {
          const hash = createHash('sha256').update(fileChecksumPrefix(header));
          for await (const chunk of createReadStream(contentPath, { highWaterMark: 1 << 20 })) hash.update(chunk as Buffer);
          const actual = hash.digest('hex');
          if (actual !== checksum) throw corrupted(checksum, actual, 'Writing content object');
        }
        // The scratch file is ours: renamed into place, not copied (a bare source's object is not).
        await this.repo.writeFileObjectTo(tmp, header, { path: contentPath, size, owns: inflated !== undefined });
        this.contentBytes += size;
      }
      await this.repo.publishObject(tmp, 'file', checksum);
    } catch (e) {
      await fs.rm(tmp, { force: true });
      throw e;
    } finally {
      if (inflated) await fs.rm(inflated, { force: true });
    }
  }

  /** Hard-links `src` to `dest`; false when it must be copied instead. */
  private link(src: string, dest: string, type: ObjectType, checksum: string): boolean {
    if (!this.linkable) return false;
    this.ensureDir(dest);
    try {
      linkSync(src, dest);
      return true;
    } catch (e) {
      const code = errnoCode(e);
      if (code === 'EEXIST') return true; // imported meanwhile (by us or a concurrent writer)
      if (code === 'ENOENT') {
        throw new RepoError(type === 'file' ? `Couldn't find file object '${checksum}'` : `No such metadata object ${objectKey(checksum, type)}`, { cause: e });
      }
      if (code && CANNOT_LINK.has(code)) {
        if (code === 'EXDEV') this.linkable = false; // every other object will fail the same way
        return false;
      }
      throw e;
    }
  }

  /** Writes a metadata object's bytes: to `tmp/`, then renamed into place. */
  private writeFile(dest: string, bytes: Buffer): void {
    this.ensureDir(dest);
    const tmp = this.repo.tmpName();
    try {
      writeFileSync(tmp, bytes, { mode: 0o644 });
      chmodSync(tmp, 0o644); // whatever the umask
      renameSync(tmp, dest);
    } catch (e) {
      rmSync(tmp, { force: true });
      throw e;
    }
  }

  private ensureDir(path: string): void {
    const dir = dirname(path);
    if (this.madeDirs.has(dir)) return;
    mkdirSync(dir, { recursive: true, mode: 0o755 });
    this.madeDirs.add(dir);
  }
}

/**
 * bare-user-only cannot record setuid, setgid, sticky or world-writable bits: refuse, as ostree
 * does, in such a repo or when asked to hold any repo to its rule (`--bareuseronly-files`).
 */
export function checkStorableMode(repo: Repo, checksum: string, header: FileHeader, bareUserOnlyFiles = false): void {
  if ((repo.mode !== 'bare-user-only' && !bareUserOnlyFiles) || !isRegularMode(header.mode)) return;
  const invalid = header.mode & ~S_IFMT & ~0o775;
  if (!invalid) return;
  const octal = (n: number): string => `0${n.toString(8).padStart(4, '0')}`;
  throw new RepoError(`Writing content object: Content object ${checksum}: invalid mode ${octal(header.mode)} with bits ${octal(invalid)}`);
}

/** ostree's words: "fsck content object X" when checked before a link, "Writing content object" when re-encoding. */
function corrupted(checksum: string, actual: string, context = `fsck content object ${checksum}`): RepoError {
  return new RepoError(`${context}: Corrupted file object; checksum expected='${checksum}' actual='${actual}'`);
}

/** The one-line summary `ostree pull-local` prints when its output is not a terminal. */
export function formatPullResult(result: PullLocalResult): string {
  // Transferred bytes are worded apart from the rest: whole B, or KiB rounded down, as ostree does.
  const t = result.bytesTransferred;
  const transferred = t > 0 ? `${t < 1024 ? `${t} B` : `${Math.floor(t / 1024)} KiB`} transferred in ${result.seconds} seconds; ` : '';
  return `${result.metadata} metadata, ${result.content} content objects imported; ${transferred}${formatSize(result.contentBytes)} content written\n`;
}

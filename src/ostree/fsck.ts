/**
 * `ostree fsck`: checks that every ref names a commit that exists, then walks every object
 * reachable from every commit in the repository and re-hashes each one: metadata objects
 * must hash to their name and be GVariant normal form; file objects are re-checksummed from
 * their header and content in whatever form the repo mode stores them (`.filez` inflated,
 * bare-user's header from `user.ostreemeta`). Read-only: problems are collected, never
 * thrown, so one run reports all of them; markCorruption() then records them as ostree does.
 */
import { createHash } from 'node:crypto';
import { lstatSync, readFileSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import * as zlib from 'node:zlib';
import { isNormalForm } from './gvariant.js';
import { Limiter } from './limit.js';
import {
  decodeArchiveHeader, decodeCommit, decodeDirMeta, decodeDirTree, fileChecksumPrefix, isChecksum, ObjectError,
  sha256Hex, type Commit, type DirTree, type FileHeader, type ObjectType,
} from './objects.js';
import { RepoError, STREAM_THRESHOLD, type Repo } from './repo.js';
import { objectKey, parseObjectKey, traverseCommits, type ObjectKey } from './traverse.js';
import { WorkerPool } from './worker-pool.js';

export interface FsckProblem {
  /** What is at fault: an object key (`CHECKSUM.TYPE`), or a ref name for a dangling ref. */
  object: string;
  kind: 'missing' | 'corrupted' | 'ref';
  /** The line to print, worded as ostree words it. */
  message: string;
  /** The commits whose trees hold the object (none for a ref problem). */
  commits: string[];
}

export interface FsckResult {
  /** Commits whose objects were verified (every commit object, less partial ones). */
  commits: number;
  /** Distinct objects verified, the commits included (as `ostree fsck` counts them). */
  objects: number;
  /** Commits skipped because `state/CSUM.commitpartial` marks them incomplete. */
  partialCommits: number;
  /** Of those, the ones an earlier fsck marked (an `f` in the file): corruption, not a pull in progress. */
  fsckPartialCommits: number;
  problems: FsckProblem[];
}

export type FsckPhase = { phase: 'refs' } | { phase: 'commits' } | { phase: 'content'; commits: number };

export interface FsckOptions {
  /** Told when each phase starts, for the CLI's progress lines. */
  onPhase?: (phase: FsckPhase) => void;
  /**
   * Worker threads re-hashing file objects once a repository has more than a few hundred
   * (default: one per core; 0 keeps all the work in this thread).
   */
  workers?: number;
  signal?: AbortSignal;
}

/** GVariant types of the metadata objects, for the normal-form check. */
const METADATA_TYPES = { commit: '(a{sv}aya(say)sstayay)', dirtree: '(a(say)a(sayay))', dirmeta: '(uuua(ayay))', commitmeta: 'a{sv}' } as const;
type MetadataType = keyof typeof METADATA_TYPES;

/** A problem before we know which commits contain the object. */
interface Finding {
  key: ObjectKey;
  kind: 'missing' | 'corrupted';
  detail: string;
}

const errnoCode = (e: unknown): string | undefined => (e as NodeJS.ErrnoException)?.code;

export async function fsckRepo(repo: Repo, options: FsckOptions = {}): Promise<FsckResult> {
  const refProblems: FsckProblem[] = [];
  options.onPhase?.({ phase: 'refs' });
  for (const [name, value] of await repo.listRefs()) {
    if (!isChecksum(value)) {
      refProblems.push({ object: name, kind: 'ref', message: `Ref ${name} holds an invalid checksum "${value.slice(0, 80)}"`, commits: [] });
    } else if (!(await repo.hasObject('commit', value))) {
      refProblems.push({ object: name, kind: 'ref', message: `Loading commit for ref ${name}: No such metadata object ${value}.commit`, commits: [] });
    }
  }

  options.onPhase?.({ phase: 'commits' });
  const allCommits = (await repo.listObjects()).filter(([, t]) => t === 'commit').map(([c]) => c);
  const partial = await readPartialMarks(repo);
  const commits = allCommits.filter((c) => !partial.has(c));
  const skipped = allCommits.filter((c) => partial.has(c));

  options.onPhase?.({ phase: 'content', commits: commits.length });
  const checker = new Checker(repo, options.workers ?? availableParallelism());
  let seen: Set<ObjectKey>;
  try {
    seen = await traverseCommits(repo, commits, {
      depth: 0,
      loadCommit: async (c) => checker.metadataSync('commit', c),
      loadDirTree: async (c) => checker.metadataSync('dirtree', c),
      onObject: (c, t) => checker.schedule(c, t),
      ...(options.signal ? { signal: options.signal } : {}),
    });
    await checker.done();
  } finally {
    await checker.close(); // worker threads would otherwise keep the process alive
  }

  const findings = checker.findings.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  const owners = findings.length ? await commitsContaining(repo, commits, new Set(findings.map((f) => f.key))) : new Map();
  const problems = [...refProblems, ...findings.map((f) => describe(f, owners.get(f.key) ?? []))];
  return {
    commits: commits.length,
    // Detached metadata is checked, but not counted: ostree does not count it either.
    objects: [...seen].filter((k) => !k.endsWith('.commitmeta')).length,
    partialCommits: skipped.length,
    fsckPartialCommits: skipped.filter((c) => partial.get(c)!.includes(FSCK_PARTIAL)).length,
    problems,
  };
}

function describe(f: Finding, commits: string[]): FsckProblem {
  const list = commits.join(', ');
  if (f.kind === 'missing') {
    return { object: f.key, kind: 'missing', message: list ? `Object missing in commits ${list}: ${f.key}` : `Object missing: ${f.key}`, commits };
  }
  const [checksum, type] = parseObjectKey(f.key);
  const what = type === 'file' ? `fsck content object ${checksum}` : `fsck ${f.key}`;
  return { object: f.key, kind: 'corrupted', message: `${list ? `In commits ${list}: ` : ''}${what}: ${f.detail}`, commits };
}

/** What markCorruption() did about one problem: the commits it newly marked partial. */
export interface FsckRepair {
  problem: FsckProblem;
  marked: string[];
}

/**
 * What `ostree fsck` does about the objects it found missing, and with `--delete` about the
 * corrupted ones too (deleted): marks every commit holding one partial
 * (`state/CSUM.commitpartial` holding `f`), so that later fscks skip them and report them,
 * and a pull fetches what they lack. Ref problems are only reported.
 */
export async function markCorruption(repo: Repo, problems: FsckProblem[], options: { delete?: boolean } = {}): Promise<FsckRepair[]> {
  const marked = new Set<string>();
  const repairs: FsckRepair[] = [];
  for (const problem of problems) {
    const repair: FsckRepair = { problem, marked: [] };
    repairs.push(repair);
    if (problem.kind === 'ref' || (problem.kind === 'corrupted' && !options.delete)) continue;
    if (problem.kind === 'corrupted') {
      const [checksum, type] = parseObjectKey(problem.object);
      await fs.rm(repo.objectPath(type, checksum), { force: true });
    }
    for (const commit of problem.commits) {
      if (marked.has(commit)) continue;
      marked.add(commit);
      await fs.mkdir(join(repo.path, 'state'), { recursive: true });
      await fs.writeFile(join(repo.path, 'state', `${commit}.commitpartial`), FSCK_PARTIAL);
      repair.marked.push(commit);
    }
  }
  return repairs;
}

/** The content of a commitpartial mark fsck writes (a pull's mark is empty): corruption, not a pull in progress. */
const FSCK_PARTIAL = 'f';

/** `state/CSUM.commitpartial` files: commit → the file's content. */
async function readPartialMarks(repo: Repo): Promise<Map<string, string>> {
  const marks = new Map<string, string>();
  let names: string[];
  try {
    names = await fs.readdir(join(repo.path, 'state'));
  } catch (e) {
    if (errnoCode(e) === 'ENOENT') return marks;
    throw e;
  }
  for (const name of names) {
    const m = /^([0-9a-f]{64})\.commitpartial$/.exec(name);
    if (m) marks.set(m[1]!, await fs.readFile(join(repo.path, 'state', name), 'utf8').catch(() => ''));
  }
  return marks;
}

/** Below this many file objects the check runs in this thread: starting workers would cost more. */
const INLINE_FILES = 256;

/** Verifies objects as the traversal finds them, and keeps what is wrong. */
class Checker {
  readonly findings: Finding[] = [];
  private readonly pending: Promise<void>[] = [];
  private files = 0;
  private pool: WorkerPool<string, FileCheck> | undefined;
  // Large objects stream through the libuv pool; two at a time keeps memory flat.
  private readonly large = new Limiter(2);

  constructor(
    private readonly repo: Repo,
    private readonly workers: number,
  ) {}

  schedule(checksum: string, type: ObjectType): void {
    // Commits and dirtrees are verified as they are loaded for the walk.
    if (type === 'dirmeta' || type === 'commitmeta') this.metadataSync(type, checksum);
    if (type !== 'file') return;
    if (!this.pool && ++this.files > INLINE_FILES && this.workers > 0) {
      this.pool = new WorkerPool(new URL('./fsck-worker.js', import.meta.url), { repoPath: this.repo.path }, this.workers);
    }
    if (this.pool) {
      this.pending.push(this.pool.run(checksum).then((r) => this.fileChecked(checksum, r), (e) => this.unreadable(checksum, e)));
      return;
    }
    try {
      this.fileChecked(checksum, checkFileObjectSync(this.repo, checksum));
    } catch (e) {
      this.unreadable(checksum, e);
    }
  }

  async done(): Promise<void> {
    // Scheduling happens while the walk runs, so the list is complete once the walk is;
    // large objects found by the workers are appended while we wait.
    for (let waited = 0; waited < this.pending.length;) {
      const batch = this.pending.slice(waited);
      await Promise.all(batch);
      waited += batch.length;
    }
  }

  async close(): Promise<void> {
    await this.pool?.close();
  }

  private fileChecked(checksum: string, result: FileCheck): void {
    const key = objectKey(checksum, 'file');
    if ('missing' in result) {
      this.findings.push({ key, kind: 'missing', detail: '' });
    } else if ('large' in result) {
      this.pending.push(this.large.run(async () => {
        try {
          this.fileChecked(checksum, { actual: await streamFileChecksum(this.repo, checksum) });
        } catch (e) {
          this.unreadable(checksum, e);
        }
      }));
    } else if (result.actual !== checksum) {
      this.findings.push({ key, kind: 'corrupted', detail: `Corrupted file object; checksum expected='${checksum}' actual='${result.actual}'` });
    }
  }

  /** Anything unforeseen (a broken header, EIO, EACCES…) is one bad object, not the end of the run. */
  private unreadable(checksum: string, e: unknown): void {
    this.findings.push({ key: objectKey(checksum, 'file'), kind: 'corrupted', detail: (e as Error).message });
  }

  /** Reads and verifies a metadata object; its decoded value, or null when missing or bad. */
  metadataSync(type: 'commit', checksum: string): Commit | null;
  metadataSync(type: 'dirtree', checksum: string): DirTree | null;
  metadataSync(type: 'dirmeta' | 'commitmeta', checksum: string): unknown;
  metadataSync(type: MetadataType, checksum: string): unknown {
    const key = objectKey(checksum, type);
    let bytes: Buffer;
    try {
      bytes = readFileSync(this.repo.objectPath(type, checksum));
    } catch (e) {
      if (errnoCode(e) === 'ENOENT') this.findings.push({ key, kind: 'missing', detail: '' });
      else this.findings.push({ key, kind: 'corrupted', detail: `Reading object: ${(e as Error).message}` });
      return null;
    }
    // Detached metadata is named after its commit, not its bytes: only its form is checked.
    if (type !== 'commitmeta') {
      const actual = sha256Hex(bytes);
      if (actual !== checksum) {
        this.findings.push({ key, kind: 'corrupted', detail: `Corrupted ${type} object; checksum expected='${checksum}' actual='${actual}'` });
        return null;
      }
    }
    if (!isNormalForm(METADATA_TYPES[type], bytes)) {
      this.findings.push({ key, kind: 'corrupted', detail: `Corrupted ${type} object: not in GVariant normal form` });
      return null;
    }
    try {
      switch (type) {
        case 'commit': return decodeCommit(bytes);
        case 'dirtree': return decodeDirTree(bytes);
        case 'dirmeta': return decodeDirMeta(bytes);
        default: return null;
      }
    } catch (e) {
      if (!(e instanceof ObjectError)) throw e;
      // As ostree: the object named again before what is wrong in it (`…dirtree: Invalid / in filename ../afile`).
      this.findings.push({ key, kind: 'corrupted', detail: `${key}: ${e.message}` });
      return null;
    }
  }
}

/** What re-hashing one file object found: its actual checksum, or that it must be streamed. */
export type FileCheck = { missing: true } | { large: true } | { actual: string };

const hashOf = (header: FileHeader, content: Buffer): string =>
  createHash('sha256').update(fileChecksumPrefix(header)).update(content).digest('hex');

/**
 * Recomputes a small file object's checksum from what the repository stores (header and
 * content, in the repo's mode), synchronously: per-object promises cost more than the work.
 * Runs in this thread or in a worker (fsck-worker.ts). Content above STREAM_THRESHOLD is
 * left to the streaming path; a header or deflate stream that cannot be read throws.
 */
export function checkFileObjectSync(repo: Repo, checksum: string): FileCheck {
  const path = repo.objectPath('file', checksum);
  const st = lstatSync(path, { throwIfNoEntry: false });
  if (!st) return { missing: true };
  if (st.size > STREAM_THRESHOLD) return { large: true };
  if (repo.mode !== 'archive') {
    const { header, content } = repo.readFileObjectSync(checksum);
    return { actual: hashOf(header, content) };
  }
  const raw = readFileSync(path);
  const { header, size, dataOffset } = decodeArchiveHeader(raw);
  if (size > STREAM_THRESHOLD) return { large: true };
  if (raw.length === dataOffset) return { actual: hashOf(header, Buffer.alloc(0)) }; // a symlink: no stream
  let content: Buffer;
  try {
    // A stream that inflates past its recorded size is corrupt: no need to hold all of it.
    content = zlib.inflateRawSync(raw.subarray(dataOffset), { maxOutputLength: size + 1 });
  } catch (e) {
    throw new ObjectError(`Corrupted archive object ${checksum}: ${(e as Error).message}`, { cause: e });
  }
  return { actual: hashOf(header, content) };
}

/**
 * Recomputes a file object's checksum; equal to `checksum` when the object is intact. A
 * missing object is a RepoError; one that cannot even be read back, an ObjectError.
 */
export async function recomputeFileChecksum(repo: Repo, checksum: string): Promise<string> {
  const result = checkFileObjectSync(repo, checksum);
  if ('missing' in result) throw new RepoError(`Couldn't find file object '${checksum}'`);
  return 'actual' in result ? result.actual : streamFileChecksum(repo, checksum);
}

/** Large content: streamed, so memory stays flat whatever the file size. */
async function streamFileChecksum(repo: Repo, checksum: string): Promise<string> {
  const { header } = await repo.statFileObject(checksum);
  const hash = createHash('sha256').update(fileChecksumPrefix(header));
  try {
    for await (const chunk of await repo.openFileContent(checksum)) hash.update(chunk as Buffer);
  } catch (e) {
    if (errnoCode(e)?.startsWith('Z_')) { // zlib's codes: the deflate stream is damaged
      throw new ObjectError(`Corrupted archive object ${checksum}: ${(e as Error).message}`, { cause: e });
    }
    throw e;
  }
  return hash.digest('hex');
}

/**
 * For each bad object, the commits whose trees contain it (ostree names them in each error).
 * Only run when something is wrong, so the clean path keeps no per-object commit lists: each
 * dirtree is read again once, with the answer for it memoized.
 */
async function commitsContaining(repo: Repo, commits: string[], bad: Set<ObjectKey>): Promise<Map<ObjectKey, string[]>> {
  const limiter = new Limiter(16);
  const memo = new Map<string, Promise<ObjectKey[]>>();
  const under = (tree: string, meta: string): Promise<ObjectKey[]> => {
    const id = `${tree}:${meta}`;
    let found = memo.get(id);
    if (!found) {
      found = (async () => {
        const out = new Set<ObjectKey>();
        for (const k of [objectKey(meta, 'dirmeta'), objectKey(tree, 'dirtree')]) if (bad.has(k)) out.add(k);
        if (bad.has(objectKey(tree, 'dirtree'))) return [...out]; // it was not walked below either
        const dt = await limiter.run(() => repo.loadDirTree(tree)).catch(() => null);
        if (!dt) return [...out];
        for (const [, f] of dt.files) if (bad.has(objectKey(f, 'file'))) out.add(objectKey(f, 'file'));
        for (const sub of await Promise.all(dt.dirs.map(([, t, m]) => under(t, m)))) for (const k of sub) out.add(k);
        return [...out];
      })();
      memo.set(id, found);
    }
    return found;
  };
  const owners = new Map<ObjectKey, string[]>();
  await Promise.all(commits.map(async (c) => {
    const keys = [objectKey(c, 'commit'), objectKey(c, 'commitmeta')].filter((k) => bad.has(k));
    if (!bad.has(objectKey(c, 'commit'))) {
      const commit = await limiter.run(() => repo.loadCommit(c)).catch(() => null);
      if (commit) keys.push(...(await under(commit.rootTree, commit.rootMeta)));
    }
    for (const k of keys) owners.set(k, [...(owners.get(k) ?? []), c]);
  }));
  for (const list of owners.values()) list.sort();
  return owners;
}

/**
 * Whether a stored metadata object hashes to its name. For pulls resuming after a cut one: a
 * power loss before their final sync can leave an object renamed into place without its data.
 */
export function storedMetadataIntact(repo: Repo, type: 'commit' | 'dirtree' | 'dirmeta', checksum: string): boolean {
  return sha256Hex(readFileSync(repo.objectPath(type, checksum))) === checksum;
}

/** Whether a stored content object hashes to its name (see storedMetadataIntact). */
export async function storedContentIntact(repo: Repo, checksum: string): Promise<boolean> {
  try {
    return (await recomputeFileChecksum(repo, checksum)) === checksum;
  } catch (e) {
    // Unreadable as an object (its header lost, say): as torn as a wrong checksum.
    if (e instanceof ObjectError) return false;
    throw e;
  }
}

/**
 * Reachability: every object a commit needs, as libostree's traversal finds them. From a
 * commit: its detached metadata (when present), its root dirtree and dirmeta, then every
 * dirtree, dirmeta and file object below, and optionally its parents up to a depth. prune,
 * fsck and pull-local are all built on this walk.
 *
 * Objects are named by keys `CHECKSUM.TYPE` (`….file`, `….dirtree`, `….commit`). A `seen` set
 * shared between calls makes identical subtrees (within a commit and across commits) load
 * once; dirtree loads run with bounded concurrency so 100k-object trees stay quick.
 */
import { Limiter } from './limit.js';
import type { Commit, DirTree, ObjectType } from './objects.js';
import type { Repo } from './repo.js';

export type ObjectKey = string;

export const objectKey = (checksum: string, type: ObjectType): ObjectKey => `${checksum}.${type}`;

export function parseObjectKey(key: ObjectKey): [checksum: string, type: ObjectType] {
  const dot = key.indexOf('.');
  return [key.slice(0, dot), key.slice(dot + 1) as ObjectType];
}

export interface TraverseOptions {
  /** Parents to follow: 0 = only this commit (the default), -1 = all. */
  depth?: number;
  /**
   * Keys already visited. Pass one set to several calls to get their union and to visit
   * shared subtrees once. Only pass a set filled by traversals that completed.
   */
  seen?: Set<ObjectKey>;
  /** Called once for each object newly added to `seen`, before any of its children. */
  onObject?: (checksum: string, type: ObjectType) => void;
  /**
   * Loads a commit; null means "do not descend" (the hook reported the problem itself).
   * Default: the repository's decoder, which throws on a missing or corrupted commit.
   */
  loadCommit?: (checksum: string) => Promise<Commit | null>;
  /** Loads a dirtree; null means "do not descend". Default: the repository's decoder. */
  loadDirTree?: (checksum: string) => Promise<DirTree | null>;
  /** Visit commits (and their detached metadata) only, not their trees (`--commit-metadata-only`). */
  commitsOnly?: boolean;
  /** A missing starting commit is skipped silently rather than loaded (prune's behaviour for refs). */
  skipMissingCommit?: boolean;
  /** How many dirtree loads may be in flight at once (default 16). */
  concurrency?: number;
  signal?: AbortSignal;
}

/**
 * Adds to `options.seen` (or a new set, returned) every object reachable from `commit`.
 * A parent commit that is not in the repository ends the walk quietly, as in ostree: history
 * may have been pruned or never pulled.
 */
export async function traverseCommit(repo: Repo, commit: string, options: TraverseOptions = {}): Promise<Set<ObjectKey>> {
  const walker = new Walker(repo, options);
  await walker.commit(commit, options.depth ?? 0, options.skipMissingCommit ?? false);
  return walker.seen;
}

/** The union of what several commits reach, each with the same options. */
export async function traverseCommits(repo: Repo, commits: Iterable<string>, options: TraverseOptions = {}): Promise<Set<ObjectKey>> {
  const seen = options.seen ?? new Set<ObjectKey>();
  const walker = new Walker(repo, { ...options, seen });
  // One walker, so the dirtree concurrency bound holds across all the commits together.
  await Promise.all([...new Set(commits)].map((c) => walker.commit(c, options.depth ?? 0, options.skipMissingCommit ?? false)));
  return seen;
}

class Walker {
  readonly seen: Set<ObjectKey>;
  /** Commits walked by this walker: the most parents left when reached, and the parent. */
  private readonly commits = new Map<string, { depth: number; parent: Promise<string | null> }>();
  private readonly limiter: Limiter;
  private readonly loadCommit: (checksum: string) => Promise<Commit | null>;
  private readonly loadDirTree: (checksum: string) => Promise<DirTree | null>;

  constructor(
    private readonly repo: Repo,
    private readonly opts: TraverseOptions,
  ) {
    this.seen = opts.seen ?? new Set();
    this.limiter = new Limiter(opts.concurrency ?? 16);
    this.loadCommit = opts.loadCommit ?? ((c) => repo.loadCommit(c));
    this.loadDirTree = opts.loadDirTree ?? ((c) => repo.loadDirTree(c));
  }

  /** Marks an object; false when it was already seen. */
  private add(checksum: string, type: ObjectType): boolean {
    const key = objectKey(checksum, type);
    if (this.seen.has(key)) return false;
    this.seen.add(key);
    this.opts.onObject?.(checksum, type);
    return true;
  }

  async commit(checksum: string, depth: number, skipIfMissing: boolean): Promise<void> {
    // Parents are walked one after another (each needs the previous one loaded), their
    // trees concurrently with the walk down the history.
    const trees: Promise<void>[] = [];
    let current: string | null = checksum;
    let first = true;
    for (let remaining = depth < 0 ? Infinity : depth; current !== null; remaining--) {
      this.opts.signal?.throwIfAborted();
      // A commit reached again with no more depth left than before adds nothing. One reached
      // with more (a ref pointing into another ref's shallow history) must go on to its
      // parents: the union does not depend on the order the roots are walked in.
      let visit = this.commits.get(current);
      if (!visit && (!first || skipIfMissing) && !this.seen.has(objectKey(current, 'commit'))) {
        if (!(await this.repo.hasObject('commit', current))) break;
        visit = this.commits.get(current); // another walk may have got here meanwhile
      }
      if (visit && visit.depth >= remaining) break;
      first = false;
      let parent: string | null;
      if (visit) {
        visit.depth = remaining;
        parent = await visit.parent;
      } else {
        const isNew = this.add(current, 'commit');
        const at: string = current;
        // Stored before it settles, so a concurrent walk reaching this commit waits for it.
        const loading = (async (): Promise<string | null> => {
          if (isNew && (await this.repo.hasObject('commitmeta', at))) this.add(at, 'commitmeta');
          const loaded = await this.limiter.run(() => this.loadCommit(at));
          if (!loaded) return null;
          if (isNew && !this.opts.commitsOnly) trees.push(this.tree(loaded.rootTree, loaded.rootMeta));
          return loaded.parent;
        })();
        this.commits.set(current, { depth: remaining, parent: loading });
        parent = await loading;
      }
      if (remaining === 0) break;
      current = parent;
    }
    await Promise.all(trees);
  }

  private async tree(tree: string, meta: string): Promise<void> {
    this.add(meta, 'dirmeta');
    if (!this.add(tree, 'dirtree')) return;
    this.opts.signal?.throwIfAborted();
    const loaded = await this.limiter.run(() => this.loadDirTree(tree));
    if (!loaded) return;
    for (const [, file] of loaded.files) this.add(file, 'file');
    await Promise.all(loaded.dirs.map(([, t, m]) => this.tree(t, m)));
  }
}

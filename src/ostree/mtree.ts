/**
 * A tree assembled from several stored trees, as ostree's mutable tree: `commit --base REV`
 * starts from a commit's tree and each `--tree` is overlaid on it in order. A directory present
 * in both is merged (the later one's metadata wins), a file replaces a file, and a file and a
 * directory of the same name are an error. Unchanged subtrees keep their stored checksums.
 */
import { compareNames, encodeDirTree, type DirTree } from './objects.js';
import { RepoError, type Repo } from './repo.js';

export class MutableTree {
  meta: string | undefined;
  /** The stored dirtree this directory still is, until something is overlaid on it. */
  private stored: string | undefined;
  private readonly files = new Map<string, string>();
  private readonly dirs = new Map<string, MutableTree>();

  /** Overlays the stored directory (`tree`, `meta`) on this one. */
  overlay(repo: Repo, tree: string, meta: string, path = '/'): void {
    if (this.isEmpty()) {
      this.stored = tree;
      this.meta = meta;
      return;
    }
    this.materialize(repo);
    this.meta = meta;
    const contents = repo.loadDirTreeSync(tree);
    for (const [name, checksum] of contents.files) {
      if (this.dirs.has(name)) throw new RepoError(`Can't replace directory with file: ${join(path, name)}`);
      this.files.set(name, checksum);
    }
    for (const [name, t, m] of contents.dirs) {
      if (this.files.has(name)) throw new RepoError(`Can't replace file with directory: ${join(path, name)}`);
      let child = this.dirs.get(name);
      if (!child) this.dirs.set(name, (child = new MutableTree()));
      child.overlay(repo, t, m, join(path, name));
    }
  }

  /** Writes the dirtrees that changed; returns the root's [dirtree, dirmeta]. */
  write(repo: Repo): [tree: string, meta: string] {
    if (this.meta === undefined) throw new RepoError("Can't commit an empty tree");
    if (this.stored !== undefined) return [this.stored, this.meta];
    const tree: DirTree = {
      files: [...this.files].sort((a, b) => compareNames(a[0], b[0])),
      dirs: [...this.dirs].map(([name, child]): [string, string, string] => [name, ...child.write(repo)]).sort((a, b) => compareNames(a[0], b[0])),
    };
    return [repo.writeMetadataSync('dirtree', encodeDirTree(tree)), this.meta];
  }

  private isEmpty(): boolean {
    return this.meta === undefined && this.stored === undefined && this.files.size === 0 && this.dirs.size === 0;
  }

  /** Turns a stored directory into entries that can change (its subdirectories stay stored). */
  private materialize(repo: Repo): void {
    if (this.stored === undefined) return;
    const contents = repo.loadDirTreeSync(this.stored);
    this.stored = undefined;
    for (const [name, checksum] of contents.files) this.files.set(name, checksum);
    for (const [name, t, m] of contents.dirs) {
      const child = new MutableTree();
      child.overlay(repo, t, m);
      this.dirs.set(name, child);
    }
  }
}

const join = (dir: string, name: string): string => (dir === '/' ? `/${name}` : `${dir}/${name}`);

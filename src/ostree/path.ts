/**
 * Looks up a path inside a commit, as `ostree ls`, `cat` and `checkout --subpath` address
 * files: `/usr/bin/bash` walks dirtrees from the root.
 */
import { RepoError, type Repo } from './repo.js';

export type TreeEntry =
  | { kind: 'dir'; path: string; tree: string; meta: string }
  | { kind: 'file'; path: string; checksum: string };

export async function lookupPath(repo: Repo, commit: string, path: string): Promise<TreeEntry> {
  return lookupTreePath(repo, await repo.loadCommit(commit), path);
}

/** The same, from a root dirtree and dirmeta rather than a commit. */
export async function lookupTreePath(repo: Repo, root: { rootTree: string; rootMeta: string }, path: string): Promise<TreeEntry> {
  const { rootTree, rootMeta } = root;
  let entry: TreeEntry = { kind: 'dir', path: '/', tree: rootTree, meta: rootMeta };
  for (const part of path.split('/').filter((p) => p !== '' && p !== '.')) {
    if (entry.kind !== 'dir') throw new RepoError(`Not a directory: ${entry.path}`);
    const tree = await repo.loadDirTree(entry.tree);
    const childPath: string = entry.path === '/' ? `/${part}` : `${entry.path}/${part}`;
    const dir = tree.dirs.find(([n]) => n === part);
    const file = tree.files.find(([n]) => n === part);
    if (dir) entry = { kind: 'dir', path: childPath, tree: dir[1], meta: dir[2] };
    else if (file) entry = { kind: 'file', path: childPath, checksum: file[1] };
    else throw new RepoError(`No such file or directory: ${childPath}`);
  }
  return entry;
}

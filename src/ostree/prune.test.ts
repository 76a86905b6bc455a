/**
 * prune against the real `ostree prune`: two copies of one repository, one pruned by each
 * tool with the same flags, must end with the same objects, and both tools must print the
 * same summary. Also the reachability rules that the real tool leaves to chance.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { commitTree } from './commit.js';
import { formatPruneResult, formatSize, pruneRepo } from './prune.js';
import { Repo, type RepoMode } from './repo.js';
import { traverseCommit, traverseCommits } from './traverse.js';
import { mcoIn, needsOstree, ok, ostree, ostreeIn, scratch } from './testing.js';

/** Every file under objects/ (with its extension), and the state marks, sorted. */
function listing(repo: string): string[] {
  const out: string[] = [];
  for (const dir of ['objects', 'state']) {
    const root = join(repo, dir);
    for (const entry of fs.readdirSync(root, { recursive: true, encoding: 'utf8' })) {
      if (!fs.lstatSync(join(root, entry)).isDirectory()) out.push(`${dir}/${entry}`);
    }
  }
  return out.sort();
}

/**
 * A repository written by the real ostree with what prune must tell apart: three commits of
 * history on `main` (each changing one file), a `stable` branch sharing most of main's
 * objects, a remote ref, an orphan commit with detached metadata, and a partial-pull mark.
 */
function history(t: TestContext, mode: 'archive' | 'bare'): { dir: string; repo: string } {
  const dir = scratch(t, `mco-prune-${mode}-`);
  const tree = join(dir, 'tree');
  fs.mkdirSync(join(tree, 'usr', 'lib'), { recursive: true });
  fs.writeFileSync(join(tree, 'usr', 'lib', 'shared'), 'in every commit\n');
  fs.writeFileSync(join(tree, 'big'), Buffer.alloc(300_000, 7));
  const repo = join(dir, 'repo');
  ok(ostree(['init', `--repo=${repo}`, `--mode=${mode}`]), 'ostree init');
  fs.appendFileSync(join(repo, 'config'), 'fsync=false\n'); // scratch repos: speed over durability
  for (let i = 1; i <= 3; i++) {
    fs.writeFileSync(join(tree, 'version'), `v${i}\n`);
    fs.mkdirSync(join(tree, `only-in-${i}`));
    fs.writeFileSync(join(tree, `only-in-${i}`, 'f'), `only ${i}\n`);
    ok(ostreeIn(repo, 'commit', '-b', 'main', '-s', `v${i}`, `--timestamp=@${1700000000 + i}`, tree), 'ostree commit');
    fs.rmSync(join(tree, `only-in-${i}`), { recursive: true });
  }
  fs.writeFileSync(join(tree, 'version'), 'stable\n');
  ok(ostreeIn(repo, 'commit', '-b', 'stable', '--timestamp=@1700000100', tree), 'ostree commit');
  fs.writeFileSync(join(tree, 'version'), 'remote\n');
  const remote = ok(ostreeIn(repo, 'commit', '--orphan', '--timestamp=@1700000200', tree), 'ostree commit').stdout.trim();
  fs.mkdirSync(join(repo, 'refs', 'remotes', 'origin'), { recursive: true });
  fs.writeFileSync(join(repo, 'refs', 'remotes', 'origin', 'main'), `${remote}\n`);
  fs.writeFileSync(join(tree, 'version'), 'orphan\n');
  const orphan = ok(ostreeIn(repo, 'commit', '--orphan', '--add-detached-metadata-string=sig=x', '--timestamp=@1700000300', tree), 'ostree commit').stdout.trim();
  fs.writeFileSync(join(repo, 'state', `${orphan}.commitpartial`), '');
  return { dir, repo };
}

/** Two copies of `repo` (cp -a keeps ownership and xattrs): one for each tool. */
function twoCopies(dir: string, repo: string, name: string): [real: string, ours: string] {
  const copies = [join(dir, `${name}-real`), join(dir, `${name}-ours`)] as const;
  for (const c of copies) assert.equal(spawnSync('cp', ['-a', repo, c]).status, 0, 'cp -a failed');
  return [...copies];
}


/** A new repo of ours that skips syncing to disk: other work on the machine makes sync slow. */
async function scratchRepo(path: string, mode: RepoMode): Promise<Repo> {
  await Repo.init(path, { mode });
  fs.appendFileSync(join(path, 'config'), 'fsync=false\n');
  return Repo.open(path);
}
const FLAG_SETS: string[][] = [
  [],
  ['--refs-only'],
  ['--refs-only', '--depth=0'],
  ['--refs-only', '--depth=1'],
  ['--depth=0'],
  ['--refs-only', '--no-prune'],
];

for (const mode of ['archive', 'bare'] as const) {
  test(`prune removes exactly what the real ostree prune removes, and says so in its words (${mode})`, needsOstree, async (t) => {
    const { dir, repo } = history(t, mode);
    ok(ostreeIn(repo, 'refs', '--delete', 'stable'), 'ostree refs --delete');
    for (const flags of FLAG_SETS) {
      const [real, ours] = twoCopies(dir, repo, flags.join('') || 'plain');
      const realOut = ok(ostreeIn(real, 'prune', ...flags), 'ostree prune').stdout;
      // In process (the CLI's own output is checked below): a node start per flag set is slow.
      const noPrune = flags.includes('--no-prune');
      const depth = Number(flags.find((f) => f.startsWith('--depth='))?.slice(8) ?? -1);
      const result = await pruneRepo(await Repo.open(ours), { refsOnly: flags.includes('--refs-only'), depth, noPrune });
      assert.deepEqual(listing(ours), listing(real), `objects left after prune ${flags.join(' ')}`);
      assert.equal(formatPruneResult(result, { noPrune }), realOut, `output of prune ${flags.join(' ')}`);
    }
  });
}

test('pruning after deleting every ref leaves nothing, with the freed size printed as ostree prints it', needsOstree, (t) => {
  const { dir, repo } = history(t, 'archive');
  for (const ref of ['main', 'stable', 'origin:main']) ok(ostreeIn(repo, 'refs', '--delete', ref), 'ostree refs --delete');
  const [real, ours] = twoCopies(dir, repo, 'all');
  const realOut = ok(ostreeIn(real, 'prune', '--refs-only'), 'ostree prune').stdout;
  const ourOut = ok(mcoIn(ours, 'prune', '--refs-only'), 'mco ostree prune').stdout;
  assert.equal(ourOut, realOut, 'the CLI prints what the real tool prints');
  assert.match(ourOut, /^Total objects: \d+\nDeleted \d+ objects, \d+\.\d\u00a0kB freed\n$/);
  assert.deepEqual(listing(ours), listing(real));
  assert.deepEqual(listing(ours).filter((p) => p.startsWith('objects/')), []);
});

test('a ref to a commit that is not there keeps nothing and is no error, as in ostree', needsOstree, async (t) => {
  const { dir, repo } = history(t, 'archive');
  fs.writeFileSync(join(repo, 'refs', 'heads', 'ghost'), `${'cd'.repeat(32)}\n`);
  const [real, ours] = twoCopies(dir, repo, 'ghost');
  const result = await pruneRepo(await Repo.open(ours), { refsOnly: true });
  assert.equal(formatPruneResult(result), ok(ostreeIn(real, 'prune', '--refs-only'), 'ostree prune').stdout);
  assert.deepEqual(listing(ours), listing(real));
});

test('a dirtree missing under a kept commit fails the prune before anything is deleted', async (t) => {
  const dir = scratch(t, 'mco-prune-missing-');
  fs.mkdirSync(join(dir, 'tree', 'sub'), { recursive: true });
  fs.writeFileSync(join(dir, 'tree', 'sub', 'f'), 'f\n');
  const repo = await scratchRepo(join(dir, 'repo'), 'archive');
  await commitTree(repo, join(dir, 'tree'), { branch: 'main' });
  await commitTree(repo, join(dir, 'tree'), { parent: null }); // an orphan: unreachable with --refs-only
  const subtree = (await repo.loadDirTree((await repo.loadCommit((await repo.readRef('main'))!)).rootTree)).dirs[0]![1];
  fs.rmSync(repo.objectPath('dirtree', subtree));
  const before = listing(repo.path);
  await assert.rejects(pruneRepo(repo, { refsOnly: true }), { message: `No such metadata object ${subtree}.dirtree` });
  assert.deepEqual(listing(repo.path), before);
});

test('a commit reachable from two refs keeps the deeper history whichever ref is walked first', async (t) => {
  const dir = scratch(t, 'mco-prune-depth-');
  fs.mkdirSync(join(dir, 'tree'));
  const repo = await scratchRepo(join(dir, 'repo'), 'bare-user-only');
  const commits: string[] = [];
  for (let i = 0; i < 4; i++) {
    fs.writeFileSync(join(dir, 'tree', 'v'), `${i}\n`);
    commits.push((await commitTree(repo, join(dir, 'tree'), { branch: 'main', timestamp: 1700000000 + i })).checksum);
  }
  const [c0, c1, c2, c3] = commits as [string, string, string, string];
  // c3 → c2 → c1 → c0. With depth 1, c3 keeps c2; c2 (another root) keeps c1.
  for (const roots of [[c3, c2], [c2, c3]]) {
    const seen = await traverseCommits(repo, roots, { depth: 1 });
    for (const c of [c3, c2, c1]) assert.ok(seen.has(`${c}.commit`), `${c} kept (roots ${roots.join(',')})`);
    assert.ok(!seen.has(`${c0}.commit`));
  }
  // Sequential calls sharing one set give the same union.
  const shared = new Set<string>();
  await traverseCommit(repo, c3, { depth: 1, seen: shared });
  await traverseCommit(repo, c2, { depth: 1, seen: shared });
  assert.ok(shared.has(`${c1}.commit`) && !shared.has(`${c0}.commit`));
  // -1 follows all parents, and stops quietly where history ends.
  assert.ok((await traverseCommit(repo, c3, { depth: -1 })).has(`${c0}.commit`));
});

test('sizes are printed as GLib prints them: bytes below 1000, then SI units with one decimal and a no-break space', () => {
  assert.equal(formatSize(0), '0 bytes');
  assert.equal(formatSize(1), '1 byte');
  assert.equal(formatSize(265), '265 bytes');
  assert.equal(formatSize(999), '999 bytes');
  assert.equal(formatSize(1000), '1.0\u00a0kB');
  assert.equal(formatSize(200_014), '200.0\u00a0kB');
  assert.equal(formatSize(999_999), '1000.0\u00a0kB');
  assert.equal(formatSize(3_000_000), '3.0\u00a0MB');
  // An exact tie rounds to even in printf, where JS's toFixed would round up.
  assert.equal(formatSize(1250), '1.2\u00a0kB');
  assert.equal(formatSize(1750), '1.8\u00a0kB');
  assert.equal(formatSize(2_500_000_000), '2.5\u00a0GB');
});

test('Repo.removeStaleTemporaries() removes half-written objects a crashed writer left, once they are old', async (t) => {
  const repo = await Repo.init(join(scratch(t), 'repo'), { mode: 'bare' });
  const objects = join(repo.path, 'objects', 'ab');
  fs.mkdirSync(objects, { recursive: true });
  const stale = join(objects, `${'c'.repeat(62)}.file.tmp-1-2-3`);
  fs.writeFileSync(stale, 'half an object');
  assert.equal(repo.removeStaleTemporaries(), 0, 'a fresh temporary may belong to a live writer');
  assert.equal(repo.removeStaleTemporaries(-1000), 1);
  assert.equal(fs.existsSync(stale), false);
});

test('Repo.removeStaleTemporaries() expires what pulls left in tmp/ (a killed pull\'s bodies, downloads nobody resumed), once old', async (t) => {
  const repo = await Repo.init(join(scratch(t), 'repo'), { mode: 'archive' });
  const left = [`pull-${'d'.repeat(64)}.file.partial`, `pull-${'e'.repeat(64)}.dirtree.4242-0-7.partial`, 'pull-4242-0a1b2c3d4e5f'];
  for (const name of left) fs.writeFileSync(join(repo.tmpDir, name), 'part of a body');
  assert.equal(repo.removeStaleTemporaries(), 0, 'a fresh download is kept for the next pull to resume');
  assert.equal(repo.removeStaleTemporaries(-1000), left.length);
  assert.deepEqual(fs.readdirSync(repo.tmpDir).filter((n) => n.startsWith('pull-')), []);
});

/**
 * pull-local against the real `ostree pull-local`, both ways: ours pulling from repos the
 * real tool wrote (every mode into every mode) must give repos the real `ostree fsck` finds
 * clean and that check out identically; the real tool pulling from repos we wrote likewise;
 * and both must print the same summary and refuse the same things.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { after, test } from 'node:test';
import { commitTree } from './commit.js';
import type { FileHeader } from './objects.js';
import { formatPullResult, pullLocal } from './pull-local.js';
import { REPO_MODES, Repo, type RepoMode } from './repo.js';
import { traverseCommit } from './traverse.js';
import {
  buildRichTree, diffTrees, fileChecksums, mcoIn, needsOstree, ok, ostree, ostreeIn, scratch, walkTree, writeBigFile,
} from './testing.js';

/** A source tree and, for each mode, a repo of it written by the real ostree (two commits on `main`). */
interface Sources {
  dir: string;
  tree: string;
  real: Record<RepoMode, string>;
}

function noFsync(repo: string): void {
  fs.appendFileSync(join(repo, 'config'), 'fsync=false\n'); // scratch repos: speed over durability
}

/** `ostree init`, then no syncing to disk: other work on the machine makes sync slow. */
function initRepo(path: string, modeFlag: string): void {
  ok(ostree(['init', `--repo=${path}`, modeFlag]), 'ostree init');
  noFsync(path);
}

let shared: Sources | undefined;
after(() => {
  if (shared) fs.rmSync(shared.dir, { recursive: true, force: true });
});

/**
 * Built once for the whole file (the real commits take seconds); tests must not change these
 * repos: one that needs a changed source works on a copy (see `copyOf`).
 */
function realSources(): Sources {
  if (shared) return shared;
  const dir = fs.mkdtempSync(join(tmpdir(), 'mco-pull-'));
  const tree = join(dir, 'tree');
  buildRichTree(tree);
  const real = {} as Record<RepoMode, string>;
  for (const mode of REPO_MODES) {
    real[mode] = join(dir, `real-${mode}`);
    ok(ostree(['init', `--repo=${real[mode]}`, `--mode=${mode}`]), 'ostree init');
    noFsync(real[mode]);
    ok(ostreeIn(real[mode], 'commit', '-b', 'main', '--timestamp=@1700000000', '-s', 'one', tree), 'ostree commit');
    ok(ostreeIn(real[mode], 'commit', '-b', 'main', '--timestamp=@1700000100', '-s', 'two',
      '--add-detached-metadata-string=signed=yes', tree), 'ostree commit');
  }
  shared = { dir, tree, real };
  return shared;
}

/** A copy of a shared source repo (cp -a: ownership and xattrs are part of the objects). */
function copyOf(repo: string, dest: string): string {
  assert.equal(spawnSync('cp', ['-a', repo, dest]).status, 0, `cp -a ${repo} failed`);
  return dest;
}

async function emptyRepo(path: string, mode: RepoMode): Promise<Repo> {
  await Repo.init(path, { mode });
  noFsync(path);
  return Repo.open(path);
}

/** `ostree ls -R -C main`: every path with its checksums, as the real tool reads the repo. */
const lsMain = (repo: string): string => ok(ostreeIn(repo, 'ls', '-R', '-C', 'main'), `ostree ls ${repo}`).stdout;

/** What a pull of `main` at depth 0 must bring: everything its head commit reaches. */
async function expectedObjects(source: string): Promise<string[]> {
  const repo = await Repo.open(source);
  return [...(await traverseCommit(repo, (await repo.readRef('main'))!))].sort();
}

async function objectKeys(repo: Repo): Promise<string[]> {
  return (await repo.listObjects()).map(([c, t]) => `${c}.${t}`).sort();
}

test('ours pulls from every mode into every mode: exactly the head commit\'s objects, which the real fsck finds clean', needsOstree, async (t) => {
  const src = realSources();
  const out = scratch(t, 'mco-pull-out-');
  for (const from of REPO_MODES) {
    const expected = await expectedObjects(src.real[from]);
    for (const to of REPO_MODES) {
      // Into bare-user-only only canonical trees go (see the setuid test below).
      if (to === 'bare-user-only' && from !== 'bare-user-only') continue;
      const dest = join(out, `ours-${from}-to-${to}`);
      const repo = await emptyRepo(dest, to);
      const result = await pullLocal(repo, await Repo.open(src.real[from]));
      assert.deepEqual(result.refs.map(([r]) => r), ['main'], `${from} → ${to}`);
      assert.deepEqual(await objectKeys(repo), expected, `objects after ${from} → ${to}`);
      // Content addressing: a clean fsck of those very objects means the same tree.
      const fsck = ostreeIn(dest, 'fsck');
      assert.equal(fsck.status, 0, `ostree fsck after our pull ${from} → ${to}:\n${fsck.stderr}`);
      assert.deepEqual(fs.readdirSync(join(dest, 'state')), [], 'a commitpartial mark was left behind');
      fs.rmSync(dest, { recursive: true });
    }
  }
});

test('our pull-local prints what the real one prints, object counts and bytes written alike', needsOstree, async (t) => {
  const src = realSources();
  const out = scratch(t, 'mco-pull-out-');
  const firstOutput = new Map<string, string>();
  for (const [from, to] of [['archive', 'bare'], ['bare', 'bare'], ['bare', 'archive'], ['bare-user-only', 'bare-user']] as const) {
    const real = join(out, `real-${from}-${to}`);
    initRepo(real, `--mode=${to}`);
    const realOut = ok(ostreeIn(real, 'pull-local', src.real[from]), 'ostree pull-local').stdout;
    firstOutput.set(`${from}-${to}`, realOut);
    const ours = await emptyRepo(join(out, `ours-${from}-${to}`), to);
    // In process (the CLI is run once below): a node start per case is slow.
    assert.equal(formatPullResult(await pullLocal(ours, await Repo.open(src.real[from]))), realOut, `${from} → ${to}`);
    // Depth 0 by default: the parent commit stays behind in both.
    assert.deepEqual(objects(ours.path), objects(real), `objects after ${from} → ${to}`);
    // Pulling again imports nothing, but fetches the detached metadata again (which ostree
    // reports as bytes transferred).
    const realAgain = ok(ostreeIn(real, 'pull-local', src.real[from]), 'ostree pull-local').stdout;
    assert.equal(realAgain, '0 metadata, 0 content objects imported; 16 B transferred in 0 seconds; 0 bytes content written\n');
    assert.equal(formatPullResult(await pullLocal(ours, await Repo.open(src.real[from]))), realAgain);
  }
  // And once through the CLI, into a fresh repo: the first line the real tool printed.
  const cliRepo = join(out, 'cli');
  initRepo(cliRepo, '--mode=bare');
  assert.equal(ok(mcoIn(cliRepo, 'pull-local', src.real.archive), 'mco ostree pull-local').stdout, firstOutput.get('archive-bare'));
});

/** The object files of a repo, as `XX/YYYY.ext`, sorted. */
function objects(repo: string): string[] {
  return fs.readdirSync(join(repo, 'objects'), { recursive: true, encoding: 'utf8' })
    .filter((p) => p.includes('.')).sort();
}

test('checkouts agree both ways: ours pulling from the real tool\'s repo, the real tool pulling from ours', needsOstree, async (t) => {
  const src = realSources();
  const out = scratch(t, 'mco-pull-theirs-');
  // Reference: the real tool's checkout of its own repo.
  const reference = walkTree(checkoutOf(src.real.archive, join(out, 'reference')));

  // Ours from theirs: archive → bare, re-encoding every content object.
  const oursBare = await emptyRepo(join(out, 'ours-bare'), 'bare');
  await pullLocal(oursBare, await Repo.open(src.real.archive));
  assert.deepEqual(diffTrees(walkTree(checkoutOf(oursBare.path, join(out, 'co-ours'))), reference), []);

  // Theirs from ours: from a repo our own commit wrote, and from the one our pull wrote.
  const oursArchive = await emptyRepo(join(out, 'ours-archive'), 'archive');
  await commitTree(oursArchive, src.tree, { branch: 'main', timestamp: 1700000100 });
  for (const [source, mode] of [[oursArchive.path, 'bare'], [oursBare.path, 'archive']] as const) {
    const real = join(out, `real-${mode}`);
    initRepo(real, `--mode=${mode}`);
    ok(ostreeIn(real, 'pull-local', source), 'ostree pull-local from our repo');
    ok(ostreeIn(real, 'fsck'), 'ostree fsck');
    assert.deepEqual(diffTrees(walkTree(checkoutOf(real, join(out, `co-${mode}`))), reference), [], `${source} → ${mode}`);
  }
});

/** `ostree checkout main DEST` with the real tool; returns DEST. */
function checkoutOf(repo: string, dest: string): string {
  ok(ostreeIn(repo, 'checkout', 'main', dest), `ostree checkout of ${repo}`);
  return dest;
}

test('content above the streaming threshold is inflated and deflated on its way between modes', needsOstree, async (t) => {
  const out = scratch(t, 'mco-pull-large-');
  const tree = join(out, 'tree');
  fs.mkdirSync(tree);
  writeBigFile(join(tree, 'large'), 5);
  const source = join(out, 'source');
  initRepo(source, '--mode=archive');
  noFsync(source);
  ok(ostreeIn(source, 'commit', '-b', 'main', tree), 'ostree commit');
  const bare = await emptyRepo(join(out, 'bare'), 'bare');
  assert.equal((await pullLocal(bare, await Repo.open(source))).contentBytes, 5 << 20);
  const archive = await emptyRepo(join(out, 'archive'), 'archive');
  await pullLocal(archive, bare);
  for (const repo of [bare.path, archive.path]) {
    ok(ostreeIn(repo, 'fsck'), `ostree fsck ${repo}`);
    assert.equal(lsMain(repo), lsMain(source));
  }
});

test('archive → bare moves the inflated scratch file into place rather than copying it; the objects are the real tool\'s, byte for byte, and both fscks are clean', needsOstree, async (t) => {
  const out = scratch(t, 'mco-pull-move-');
  const tree = join(out, 'tree');
  fs.mkdirSync(tree);
  writeBigFile(join(tree, 'large'), 5);
  fs.chmodSync(join(tree, 'large'), 0o750);
  const source = join(out, 'source');
  initRepo(source, '--mode=archive');
  ok(ostreeIn(source, 'commit', '-b', 'main', tree), 'ostree commit');
  const large = fileChecksums(ok(ostreeIn(source, 'ls', '-C', 'main', '/large'), 'ostree ls').stdout).get('/large')!;
  for (const mode of ['bare', 'bare-user'] as const) {
    for (const untrusted of [false, true]) {
      const repo = await emptyRepo(join(out, `ours-${mode}-${untrusted}`), mode);
      // What became of each scratch file the object was written from: moved (its inode is the object's) or not.
      const moved: boolean[] = [];
      const write = repo.writeFileObjectTo.bind(repo);
      t.mock.method(repo, 'writeFileObjectTo', async (tmp: string, header: FileHeader, from: Parameters<Repo['writeFileObjectTo']>[2]) => {
        const scratchFile = 'path' in from && from.path.startsWith(repo.tmpDir) ? from.path : undefined;
        const scratchIno = scratchFile !== undefined ? fs.statSync(scratchFile).ino : undefined;
        await write(tmp, header, from);
        if (scratchFile !== undefined) moved.push(!fs.existsSync(scratchFile) && fs.statSync(tmp).ino === scratchIno);
      });
      await pullLocal(repo, await Repo.open(source), { untrusted });
      assert.deepEqual(moved, [true], `${mode}${untrusted ? ' --untrusted' : ''}: the inflated scratch file became the object`);
      assert.deepEqual(fs.readdirSync(repo.tmpDir).filter((n) => n !== 'cache'), [], 'temporary files left in tmp/');
      const real = join(out, `real-${mode}-${untrusted}`);
      initRepo(real, `--mode=${mode}`);
      ok(ostreeIn(real, 'pull-local', ...(untrusted ? ['--untrusted'] : []), source), 'ostree pull-local');
      const ours = fs.statSync(repo.objectPath('file', large));
      const theirs = fs.statSync((await Repo.open(real)).objectPath('file', large));
      assert.ok(fs.readFileSync(repo.objectPath('file', large)).equals(fs.readFileSync((await Repo.open(real)).objectPath('file', large))), 'object bytes');
      assert.deepEqual([ours.mode, ours.uid, ours.gid, ours.mtimeMs], [theirs.mode, theirs.uid, theirs.gid, theirs.mtimeMs], 'object mode, owner and mtime');
      assert.equal(lsMain(repo.path), lsMain(real));
      ok(mcoIn(repo.path, 'fsck'), `mco ostree fsck ${mode}`);
      ok(ostreeIn(repo.path, 'fsck'), `ostree fsck ${mode}`);
    }
  }
});

test('with --remote the ref lands under refs/remotes, a checksum argument writes no ref, and no argument pulls every ref', needsOstree, async (t) => {
  const src = realSources();
  const out = scratch(t, 'mco-pull-out-');
  const source = copyOf(src.real.archive, join(out, 'source'));
  const head = fs.readFileSync(join(source, 'refs', 'heads', 'main'), 'utf8').trim();
  ok(ostreeIn(source, 'refs', 'main', '--create=release/1.0'), 'ostree refs --create');

  const remote = join(out, 'remote');
  initRepo(remote, '--mode=bare');
  ok(mcoIn(remote, 'pull-local', '--remote=origin', source, 'main'), 'mco pull-local --remote');
  assert.equal(fs.readFileSync(join(remote, 'refs', 'remotes', 'origin', 'main'), 'utf8'), `${head}\n`);
  assert.ok(!fs.existsSync(join(remote, 'refs', 'heads', 'main')));
  assert.equal(ok(ostreeIn(remote, 'refs'), 'ostree refs').stdout, 'origin:main\n');
  // A plain ref that only a remote has resolves there, as ostree's rev-parse falls back (REMOTE/REF too).
  for (const rev of ['main', 'origin/main']) {
    assert.equal(ok(mcoIn(remote, 'rev-parse', rev), `mco rev-parse ${rev}`).stdout, ok(ostreeIn(remote, 'rev-parse', rev), `ostree rev-parse ${rev}`).stdout);
  }
  // A remote's refs under a prefix are listed relative to it, with their REMOTE: kept.
  ok(mcoIn(remote, 'pull-local', '--remote=origin', '--disable-verify-bindings', source, 'release/1.0'), 'mco pull-local --remote release/1.0');
  for (const args of [['origin:release'], ['--list', 'origin:release'], ['origin:release/1.0']]) {
    assert.equal(ok(mcoIn(remote, 'refs', ...args), `mco refs ${args.join(' ')}`).stdout, ok(ostreeIn(remote, 'refs', ...args), `ostree refs ${args.join(' ')}`).stdout);
  }

  const bySum = await emptyRepo(join(out, 'by-checksum'), 'bare');
  await pullLocal(bySum, await Repo.open(source), { refs: [head] });
  assert.equal(ok(ostreeIn(bySum.path, 'refs'), 'ostree refs').stdout, '');
  ok(ostreeIn(bySum.path, 'fsck'), 'ostree fsck');

  const all = join(out, 'all');
  await pullLocal(await emptyRepo(all, 'archive'), await Repo.open(source));
  // `ostree refs` lists in hash-table order: compare as sets.
  assert.deepEqual(ok(ostreeIn(all, 'refs'), 'ostree refs').stdout.split('\n').filter(Boolean).sort(), ['main', 'release/1.0']);
});

test('--depth=-1 pulls the history as far as the source has it, the same objects as the real tool', needsOstree, async (t) => {
  const src = realSources();
  const out = scratch(t, 'mco-pull-out-');
  const real = join(out, 'real-deep');
  initRepo(real, '--mode=bare-user');
  ok(ostreeIn(real, 'pull-local', '--depth=-1', src.real.bare), 'ostree pull-local --depth=-1');
  const ours = await emptyRepo(join(out, 'ours-deep'), 'bare-user');
  const result = await pullLocal(ours, await Repo.open(src.real.bare), { depth: -1 });
  assert.equal(result.commits.length, 1);
  assert.deepEqual(objects(ours.path), objects(real));
  assert.equal(ok(ostreeIn(ours.path, 'log', 'main'), 'ostree log').stdout, ok(ostreeIn(real, 'log', 'main'), 'ostree log').stdout);
});

test('--commit-metadata-only brings the commits alone, marked partial, as the real tool does; a later full pull clears the marks', needsOstree, async (t) => {
  const src = realSources();
  const out = scratch(t, 'mco-pull-out-');
  const pull = async (dest: string, depth: number, commitMetadataOnly: boolean): Promise<void> => {
    await pullLocal(await Repo.open(dest), await Repo.open(src.real.archive), { depth, commitMetadataOnly });
  };
  const real = join(out, 'real');
  const ours = join(out, 'ours');
  initRepo(real, '--mode=archive');
  await emptyRepo(ours, 'archive');
  const state = (repo: string): string[] => fs.readdirSync(join(repo, 'state')).sort();
  ok(ostreeIn(real, 'pull-local', src.real.archive), 'ostree pull-local');
  await pull(ours, 0, false);
  ok(ostreeIn(real, 'pull-local', '--depth=1', '--commit-metadata-only', src.real.archive), 'ostree pull-local --commit-metadata-only');
  await pull(ours, 1, true);
  assert.deepEqual(objects(ours), objects(real));
  assert.equal(state(ours).length, 1, 'the parent commit, fetched alone, is marked partial');
  assert.deepEqual(state(ours), state(real));
  ok(ostreeIn(real, 'pull-local', '--depth=1', src.real.archive), 'ostree pull-local --depth=1');
  await pull(ours, 1, false);
  assert.deepEqual(objects(ours), objects(real));
  assert.deepEqual(state(ours), []);
  assert.equal(ostreeIn(ours, 'fsck').status, 0);
});

test('objects are hard-linked between repos of one mode, and metadata between any two modes', needsOstree, async (t) => {
  const src = realSources();
  const out = scratch(t, 'mco-pull-out-');
  const same = await emptyRepo(join(out, 'same'), 'archive');
  await pullLocal(same, await Repo.open(src.real.archive));
  const other = await emptyRepo(join(out, 'other'), 'bare');
  const result = await pullLocal(other, await Repo.open(src.real.archive));
  assert.ok(result.contentBytes > 200_000, 'archive → bare rewrites content');
  for (const [checksum, type] of await same.listObjects()) {
    const nlink = fs.lstatSync(same.objectPath(type, checksum)).nlink;
    assert.ok(nlink >= 2, `${checksum}.${type} was copied, not linked`);
    if (type !== 'file') assert.ok(fs.lstatSync(other.objectPath(type, checksum)).nlink >= 2, `${checksum}.${type} not linked into the bare repo`);
  }
});

test('--untrusted refuses a corrupted source object in the real tool\'s words, keeps the commit marked partial and writes no ref', needsOstree, async (t) => {
  const src = realSources();
  const out = scratch(t, 'mco-pull-out-');
  const bad = copyOf(src.real.bare, join(out, 'bad'));
  const checksum = fileChecksums(lsMain(bad)).get('/etc/hello.txt')!;
  const object = join(bad, 'objects', checksum.slice(0, 2), `${checksum.slice(2)}.file`);
  fs.writeFileSync(object, 'HELLO\n');

  const real = join(out, 'real-dest');
  initRepo(real, '--mode=bare');
  const realErr = ostreeIn(real, 'pull-local', '--untrusted', bad).stderr;
  const dest = join(out, 'ours-dest');
  initRepo(dest, '--mode=bare');
  const cli = mcoIn(dest, 'pull-local', '--untrusted', bad);
  assert.equal(cli.status, 1);
  assert.equal(cli.stderr, realErr);
  assert.match(cli.stderr, new RegExp(`^error: fsck content object ${checksum}: Corrupted file object; checksum expected='${checksum}' actual='[0-9a-f]{64}'\\n$`));
  assert.equal(ok(ostreeIn(dest, 'refs'), 'ostree refs').stdout, '');
  const head = fs.readFileSync(join(bad, 'refs', 'heads', 'main'), 'utf8').trim();
  assert.deepEqual(fs.readdirSync(join(dest, 'state')), [`${head}.commitpartial`]);

  // Trusted, the damaged object is linked as it is (as ostree does), and fsck then finds it.
  await pullLocal(await Repo.open(dest), await Repo.open(bad));
  assert.equal(ostreeIn(dest, 'fsck').status, 1);
});

test('a named ref whose commit is bound to other refs is refused, as the real tool refuses it', needsOstree, async (t) => {
  const src = realSources();
  const out = scratch(t, 'mco-pull-out-');
  const source = copyOf(src.real.archive, join(out, 'source'));
  ok(ostreeIn(source, 'refs', 'main', '--create=renamed'), 'ostree refs --create');
  const real = join(out, 'real-b');
  const ours = join(out, 'ours-b');
  for (const r of [real, ours]) initRepo(r, '--mode=bare');
  const realErr = ostreeIn(real, 'pull-local', source, 'renamed');
  const cli = mcoIn(ours, 'pull-local', source, 'renamed');
  assert.equal(cli.status, 1);
  assert.equal(cli.stderr, realErr.stderr);
  const [oursRepo, sourceRepo] = [await Repo.open(ours), await Repo.open(source)];
  await pullLocal(oursRepo, sourceRepo, { refs: ['renamed'], verifyBindings: false });
  assert.equal(await oursRepo.readRef('renamed'), await sourceRepo.readRef('renamed'));
  // In process from here: the CLI prints `error: ` and the message.
  for (const [refs, what] of [[['nosuch'], 'unknown ref'], [['origin:main'], 'remote refspec']] as const) {
    const realErr = ostreeIn(real, 'pull-local', source, ...refs).stderr;
    await assert.rejects(pullLocal(oursRepo, sourceRepo, { refs: [...refs] }), (e: Error) => `error: ${e.message}\n` === realErr, what);
  }
});

test('a setuid file is refused on its way into a bare-user-only repo, in the real tool\'s words', needsOstree, async (t) => {
  const dir = scratch(t, 'mco-pull-buo-');
  const tree = join(dir, 'tree');
  fs.mkdirSync(tree);
  fs.writeFileSync(join(tree, 'suid'), 'x\n');
  fs.chmodSync(join(tree, 'suid'), 0o4755);
  const source = join(dir, 'src');
  initRepo(source, '--mode=archive');
  ok(ostreeIn(source, 'commit', '-b', 'main', tree), 'ostree commit');
  const real = join(dir, 'real');
  const ours = join(dir, 'ours');
  for (const r of [real, ours]) initRepo(r, '--mode=bare-user-only');
  const cli = mcoIn(ours, 'pull-local', source);
  assert.equal(cli.status, 1);
  assert.equal(cli.stderr, ostreeIn(real, 'pull-local', source).stderr);
  assert.match(cli.stderr, /invalid mode 0104755 with bits 04000/);
});

test('the summary line uses GLib\'s size format', () => {
  const none = { metadata: 0, content: 0, contentBytes: 0, repairedObjects: 0, bytesTransferred: 0, seconds: 0, refs: [], commits: [] };
  assert.equal(formatPullResult({ ...none, metadata: 5, content: 5, contentBytes: 200_014 }),
    '5 metadata, 5 content objects imported; 200.0\u00a0kB content written\n');
  assert.equal(formatPullResult(none), '0 metadata, 0 content objects imported; 0 bytes content written\n');
  // Bytes transferred are in whole B or KiB, rounded down, as ostree words them.
  assert.equal(formatPullResult({ ...none, bytesTransferred: 1023 }), '0 metadata, 0 content objects imported; 1023 B transferred in 0 seconds; 0 bytes content written\n');
  assert.equal(formatPullResult({ ...none, bytesTransferred: 100_019, seconds: 2 }), '0 metadata, 0 content objects imported; 97 KiB transferred in 2 seconds; 0 bytes content written\n');
});

test('after a pull-local cut short by a power loss, objects left empty under their names are imported again, not trusted', needsOstree, async (t) => {
  const { real } = realSources();
  const source = await Repo.open(real.archive);
  const dest = await emptyRepo(join(scratch(t, 'mco-pull-torn-'), 'dest'), 'bare');
  await pullLocal(dest, source, { refs: ['main'] });
  const commit = (await source.readRef('main'))!;
  const rootTree = source.loadCommitSync(commit).rootTree;
  const file = (await expectedObjects(real.archive)).map((k) => k.split('.')).find(([c, type]) => type === 'file' && fs.statSync(dest.objectPath('file', c!)).size > 0)![0]!;
  // What ext4 may show after a power cut before the pull's final sync: files renamed into place
  // without their data, and the commit still marked partial.
  // (Replaced, not truncated: the destination's metadata objects are hard links to the source's.)
  for (const path of [dest.objectPath('file', file), dest.objectPath('dirtree', rootTree)]) {
    fs.rmSync(path);
    fs.writeFileSync(path, '');
  }
  fs.writeFileSync(join(dest.path, 'state', `${commit}.commitpartial`), '');

  const result = await pullLocal(dest, source, { refs: ['main'] });
  assert.equal(result.repairedObjects, 2);
  assert.deepEqual([result.content, result.metadata], [1, 1], 'the torn objects, and only them, imported again');
  assert.deepEqual(fs.readdirSync(join(dest.path, 'state')), []);
  ok(ostreeIn(dest.path, 'fsck'), 'ostree fsck after the repairing pull-local');
});

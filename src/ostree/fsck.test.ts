/**
 * fsck against the real `ostree fsck`: clean on every repo the real tool wrote, in each mode;
 * and on damaged repos, the same lines the real tool prints, naming the bad object.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { after, test, type TestContext } from 'node:test';
import { commitTree } from './commit.js';
import { fsckRepo, type FsckResult } from './fsck.js';
import { REPO_MODES, Repo, type RepoMode } from './repo.js';
import { buildRichTree, mcoIn, needsOstree, ok, ostree, ostreeIn, scratch, writeBigFile } from './testing.js';

const pristine = new Map<RepoMode, string>();
let sharedDir: string | undefined;
after(() => {
  if (sharedDir) fs.rmSync(sharedDir, { recursive: true, force: true });
});

/**
 * A repo written by the real ostree (the rich tree, then a second commit with one more file
 * and detached metadata), as a fresh copy the test may damage. The real commits are made once
 * per mode for the whole file; copying is far cheaper.
 */
function realRepo(t: TestContext, mode: RepoMode): { repo: string } {
  let source = pristine.get(mode);
  if (!source) {
    sharedDir ??= fs.mkdtempSync(join(tmpdir(), 'mco-fsck-'));
    const tree = join(sharedDir, `tree-${mode}`);
    buildRichTree(tree);
    source = join(sharedDir, mode);
    ok(ostree(['init', `--repo=${source}`, `--mode=${mode}`]), 'ostree init');
    fs.appendFileSync(join(source, 'config'), 'fsync=false\n'); // scratch repos: speed over durability
    ok(ostreeIn(source, 'commit', '-b', 'main', '-s', 'one', '--timestamp=@1700000000', tree), 'ostree commit');
    fs.writeFileSync(join(tree, 'added'), 'second commit\n');
    ok(ostreeIn(source, 'commit', '-b', 'main', '-s', 'two', '--timestamp=@1700000100',
      '--add-detached-metadata-string=signed=yes', tree), 'ostree commit');
    pristine.set(mode, source);
  }
  return { repo: copyRepo(source, join(scratch(t, `mco-fsck-${mode}-`), 'repo')) };
}

/** cp -a: ownership, modes and xattrs (bare-user's user.ostreemeta) are part of the objects. */
function copyRepo(from: string, to: string): string {
  assert.equal(spawnSync('cp', ['-a', from, to]).status, 0, `cp -a ${from} failed`);
  return to;
}

/** The number of objects `ostree fsck` says it verified ("fsck objects (N/N) 100%"). */
function realObjectCount(repo: string): number {
  const m = /fsck objects \((\d+)\/\1\) 100%/.exec(ok(ostreeIn(repo, 'fsck'), 'ostree fsck').stdout);
  assert.ok(m, 'ostree fsck printed no object count');
  return Number(m[1]);
}

/** The problem lines the real `ostree fsck --all` prints for a copy of `repo` (it marks commits partial, so a copy). */
function realProblems(t: TestContext, repo: string): string[] {
  const copy = copyRepo(repo, join(scratch(t, 'mco-fsck-copy-'), 'repo'));
  const r = ostreeIn(copy, 'fsck', '--all');
  assert.notEqual(r.status, 0, 'the real ostree found nothing wrong');
  return r.stderr.split('\n').filter((l) => /^(In commits|Object missing)/.test(l)).map(sortCommitList);
}

/** ostree lists the commits holding an object in hash-table order; we sort them. */
function sortCommitList(line: string): string {
  return line.replace(/^(In commits |Object missing in commits )([0-9a-f, ]+):/, (_, lead: string, list: string) => `${lead}${list.split(', ').sort().join(', ')}:`);
}


/** A new repo of ours that skips syncing to disk: other work on the machine makes sync slow. */
async function scratchRepo(path: string, mode: RepoMode): Promise<Repo> {
  await Repo.init(path, { mode });
  fs.appendFileSync(join(path, 'config'), 'fsync=false\n');
  return Repo.open(path);
}
const messages = (r: FsckResult): string[] => r.problems.map((p) => p.message);

/** Flips one bit of `path`, `at` bytes from its end (a negative offset) or start. */
function flipByte(path: string, at: number): void {
  const bytes = fs.readFileSync(path);
  const i = at < 0 ? bytes.length + at : at;
  bytes[i] = bytes[i]! ^ 0x01;
  fs.writeFileSync(path, bytes);
}

/** The object file of `path` in `main`, by the checksum `ostree ls -C` shows for it. */
function objectOf(repo: string, path: string, type: 'file' | 'dirtree'): string {
  const line = ok(ostreeIn(repo, 'ls', '-C', '-d', 'main', path), 'ostree ls').stdout;
  const sums = line.match(/[0-9a-f]{64}/g)!;
  const checksum = sums[0]!;
  const r = new Map([['file', ['file', 'filez']], ['dirtree', ['dirtree']]]).get(type)!
    .map((ext) => join(repo, 'objects', checksum.slice(0, 2), `${checksum.slice(2)}.${ext}`))
    .find((p) => fs.existsSync(p));
  assert.ok(r, `no object file for ${path}`);
  return r;
}

for (const mode of REPO_MODES) {
  test(`our fsck finds nothing wrong in a ${mode} repo the real ostree wrote, and verifies as many objects`, needsOstree, async (t) => {
    const { repo } = realRepo(t, mode);
    const result = await fsckRepo(await Repo.open(repo));
    assert.deepEqual(messages(result), []);
    assert.equal(result.commits, 2);
    assert.equal(result.objects, realObjectCount(repo));
  });
}

for (const mode of ['archive', 'bare-user', 'bare'] as const) {
  test(`a flipped byte in a ${mode} file object is reported in the real ostree's words, and the CLI exits 1`, needsOstree, async (t) => {
    const { repo } = realRepo(t, mode);
    // Content near the end: in the deflate stream of an archive object, in the data otherwise.
    flipByte(objectOf(repo, '/usr/share/doc/binary.bin', 'file'), -100);
    const ours = messages(await fsckRepo(await Repo.open(repo)));
    assert.equal(ours.length, 1, ours.join('\n'));
    assert.match(ours[0]!, /fsck content object [0-9a-f]{64}: Corrupted file object; checksum expected='[0-9a-f]{64}' actual='[0-9a-f]{64}'$/);
    assert.deepEqual(ours, realProblems(t, repo));

    // Without --all the first corrupted object ends the run, as the real tool's does.
    const cli = mcoIn(repo, 'fsck');
    assert.equal(cli.status, 1);
    assert.equal(cli.stderr, `error: ${ours[0]}\n`);
    assert.doesNotMatch(cli.stdout, /completed successfully/);
    assert.equal(mcoIn(repo, 'fsck', '--all').stderr, `${ours[0]}\nerror: Repository corruption encountered\n`);
  });
}

test('a flipped byte in a dirtree is reported naming the dirtree, as the real ostree names it', needsOstree, async (t) => {
  const { repo } = realRepo(t, 'archive');
  flipByte(objectOf(repo, '/usr/lib/a/b', 'dirtree'), 0);
  const ours = messages(await fsckRepo(await Repo.open(repo)));
  assert.equal(ours.length, 1, ours.join('\n'));
  assert.match(ours[0]!, /^In commits [0-9a-f]{64}, [0-9a-f]{64}: fsck [0-9a-f]{64}\.dirtree: Corrupted dirtree object; checksum expected=/);
  // The real tool also walks into the damaged tree and reports what its garbage names;
  // we stop at the damaged object. The line about the dirtree itself is the same.
  assert.ok(realProblems(t, repo).includes(ours[0]!), 'the real ostree words the dirtree problem differently');
  assert.equal(mcoIn(repo, 'fsck', '-q').status, 1);
});

test('missing file objects are reported as missing, naming the commits that need them', needsOstree, async (t) => {
  const { repo } = realRepo(t, 'bare');
  fs.rmSync(objectOf(repo, '/etc/hello.txt', 'file'));
  fs.rmSync(objectOf(repo, '/added', 'file')); // only in the second commit
  const ours = messages(await fsckRepo(await Repo.open(repo)));
  assert.equal(ours.length, 2, ours.join('\n'));
  assert.deepEqual(ours.sort(), realProblems(t, repo).sort());
  assert.ok(ours.every((l) => l.startsWith('Object missing in commits ')));
});

for (const mode of ['archive', 'bare-user'] as const) {
  test(`every problem in a ${mode} repo is reported in one run, by the worker threads as by this one`, async (t) => {
    const dir = scratch(t, `mco-fsck-many-${mode}-`);
    const tree = join(dir, 'tree');
    fs.mkdirSync(join(tree, 'sub'), { recursive: true });
    // Enough files for fsck to hand them to worker threads.
    for (let i = 0; i < 400; i++) fs.writeFileSync(join(tree, 'sub', `f${i}`), `file ${i}\n`);
    writeBigFile(join(tree, 'big'), 5); // above the streaming threshold
    const repo = await scratchRepo(join(dir, 'repo'), mode);
    await commitTree(repo, tree, { branch: 'main' });
    const clean = await fsckRepo(repo);
    assert.deepEqual(messages(clean), []);
    assert.equal(clean.objects, 1 + 2 + 1 + 401); // commit, two dirtrees, one dirmeta, files

    const files = (await repo.listObjects()).filter(([, type]) => type === 'file').map(([c]) => c);
    const big = (await repo.loadDirTree((await repo.loadCommit((await repo.readRef('main'))!)).rootTree)).files[0]![1];
    const damaged = [...files.filter((c) => c !== big).slice(0, 40), big];
    for (const checksum of damaged.slice(0, 3)) fs.rmSync(repo.objectPath('file', checksum));
    for (const checksum of damaged.slice(3)) flipByte(repo.objectPath('file', checksum), -3);
    for (const workers of [2, 0]) {
      const result = await fsckRepo(repo, { workers });
      assert.equal(result.problems.length, damaged.length, `with ${workers} workers:\n${messages(result).join('\n')}`);
      assert.equal(result.problems.filter((p) => p.kind === 'missing').length, 3);
      assert.ok(result.problems.some((p) => p.object === `${big}.file`), 'the large object was not reported');
    }
  });
}

/** The commitpartial marks of a repo: file name → content. */
const partialMarks = (repo: string): Record<string, string> =>
  Object.fromEntries(fs.readdirSync(join(repo, 'state')).sort().map((n) => [n, fs.readFileSync(join(repo, 'state', n), 'utf8')]));

test('a missing object marks the commits needing it partial, as the real tool does; the next fsck fails on them until a pull repairs them', needsOstree, async (t) => {
  const { repo } = realRepo(t, 'bare');
  fs.rmSync(objectOf(repo, '/added', 'file')); // only in the second commit
  const real = copyRepo(repo, join(scratch(t, 'mco-fsck-real-'), 'repo'));
  const head = ok(ostreeIn(repo, 'rev-parse', 'main'), 'rev-parse').stdout.trim();
  const ours = mcoIn(repo, 'fsck', '-q');
  assert.equal(ours.status, 1);
  assert.match(ours.stderr, new RegExp(`^Object missing in commits ${head}: [0-9a-f]{64}\\.file\nMarking commit as partial: ${head}\nerror: Repository corruption encountered\n$`));
  assert.equal(ostreeIn(real, 'fsck', '-q').status, 1);
  assert.deepEqual(partialMarks(repo), partialMarks(real));
  assert.deepEqual(Object.keys(partialMarks(repo)), [`${head}.commitpartial`]);

  const again = mcoIn(repo, 'fsck');
  assert.equal(again.stderr, 'error: 1 partial commits from fsck-detected corruption\n');
  assert.match(again.stdout, /^1 partial commits not verified$/m);
  ok(mcoIn(repo, 'pull-local', pristine.get('bare')!), 'pull-local from the intact repo');
  assert.deepEqual(partialMarks(repo), {});
  ok(mcoIn(repo, 'fsck'), 'fsck after the repair');
});

test('--delete removes the corrupted objects and marks their commits partial, as the real tool does', needsOstree, async (t) => {
  const { repo } = realRepo(t, 'archive');
  const files = ['/etc/hello.txt', '/added'].map((p) => objectOf(repo, p, 'file'));
  for (const f of files) flipByte(f, -3);
  const real = copyRepo(repo, join(scratch(t, 'mco-fsck-real-'), 'repo'));
  const ours = mcoIn(repo, 'fsck', '-q', '--delete');
  assert.equal(ours.status, 1);
  const lines = ours.stderr.split('\n');
  assert.equal(lines.filter((l) => /^In commits .*: Corrupted file object;/.test(l)).length, 2, ours.stderr);
  assert.equal(lines.filter((l) => l.startsWith('Marking commit as partial: ')).length, 2, 'each commit is marked once');
  assert.equal(lines.at(-2), 'error: Repository corruption encountered');
  assert.equal(ostreeIn(real, 'fsck', '-q', '--delete').status, 1);
  assert.deepEqual(partialMarks(repo), partialMarks(real));
  for (const f of files) assert.ok(!fs.existsSync(f), `${f} was not deleted`);
});

test('a ref to a commit that is not there is reported with the ref name', needsOstree, async (t) => {
  const { repo } = realRepo(t, 'archive');
  const ghost = 'ab'.repeat(32);
  fs.writeFileSync(join(repo, 'refs', 'heads', 'ghost'), `${ghost}\n`);
  const ours = messages(await fsckRepo(await Repo.open(repo)));
  assert.deepEqual(ours, [`Loading commit for ref ghost: No such metadata object ${ghost}.commit`]);
  // The real tool stops at this very message.
  assert.match(ostreeIn(repo, 'fsck').stderr, new RegExp(`error: ${ours[0]}`));
});

test('the CLI prints the real ostree\'s progress lines and closing line, and only the closing line with -q', needsOstree, (t) => {
  const { repo } = realRepo(t, 'bare-user');
  const full = ok(mcoIn(repo, 'fsck'), 'mco ostree fsck');
  assert.equal(full.stdout, [
    'Validating refs...',
    'Enumerating commits...',
    'Verifying content integrity of 2 commit objects...',
    'object fsck of 2 commits completed successfully - no errors found.',
    '',
  ].join('\n'));
  const real = ok(ostreeIn(repo, 'fsck'), 'ostree fsck').stdout.split('\n');
  assert.ok(real.includes('object fsck of 2 commits completed successfully - no errors found.'));
  assert.equal(ok(mcoIn(repo, 'fsck', '-q'), 'mco ostree fsck -q').stdout, 'object fsck of 2 commits completed successfully - no errors found.\n');
});

test('commits marked partial are skipped, and one marked by an earlier fsck fails the check as in ostree', needsOstree, async (t) => {
  const { repo } = realRepo(t, 'archive');
  const head = fs.readFileSync(join(repo, 'refs', 'heads', 'main'), 'utf8').trim();
  const mark = join(repo, 'state', `${head}.commitpartial`);
  fs.writeFileSync(mark, '');
  const result = await fsckRepo(await Repo.open(repo));
  assert.equal(result.commits, 1);
  assert.equal(result.partialCommits, 1);
  assert.equal(ok(mcoIn(repo, 'fsck'), 'mco fsck').stdout.split('\n').at(-2), 'object fsck of 1 commits completed successfully - no errors found.');
  assert.match(ostreeIn(repo, 'fsck').stdout, /1 partial commits not verified/);

  fs.writeFileSync(mark, 'f');
  const cli = mcoIn(repo, 'fsck');
  assert.equal(cli.status, 1);
  assert.equal(cli.stderr, 'error: 1 partial commits from fsck-detected corruption\n');
  assert.equal(ostreeIn(repo, 'fsck').stderr, cli.stderr);
});

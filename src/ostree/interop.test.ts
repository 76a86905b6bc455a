/**
 * Differential tests against the real `ostree` 2022.7 CLI: the same tree committed by both
 * tools must give the same objects and commit, each tool must check out what the other wrote
 * exactly as the real tool does, and the read-only verbs must print the same bytes.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { REPO_MODES, type RepoMode } from './repo.js';
import {
  buildRichTree, diffTrees, fileChecksums, isRoot, mcoIn, needsOstree, noFsync, ok, ostreeIn, runMco, ostree, scratch,
  walkTree, withoutEmptyXattrs, writeBigFile, type WalkEntry,
} from './testing.js';

interface Repos {
  dir: string;
  /** The source tree. */
  src: string;
  /** Written by the real ostree. */
  real: string;
  /** Written by mco. */
  ours: string;
}

/** A source tree and two empty repos of `mode`, one made by each tool. */
function setup(t: TestContext, mode: RepoMode, build: (root: string) => void = buildRichTree): Repos {
  const dir = scratch(t, `mco-interop-${mode}-`);
  const src = join(dir, 'tree');
  build(src);
  const real = join(dir, 'real');
  const ours = join(dir, 'ours');
  ok(ostree(['init', `--repo=${real}`, `--mode=${mode}`]), 'ostree init');
  ok(runMco(['ostree', 'init', `--repo=${ours}`, `--mode=${mode}`]), 'mco ostree init');
  noFsync(real);
  noFsync(ours);
  return { dir, src, real, ours };
}

const SUBJECT = 'Release 1.2.3: ünïcode subject';
const BODY = 'First paragraph of the body.\n\nSecond paragraph, with a trailing newline.\n';

function commitArgs(src: string, extra: string[]): string[] {
  return ['-b', 'main', `--subject=${SUBJECT}`, `--body=${BODY}`, '--add-metadata-string=version=1.2.3',
    '--add-metadata-string=build.id=42', '--timestamp=@1700000000', ...extra, src];
}

/** Commits `src` to `main` with both tools; returns [real checksum, our checksum]. */
function commitBoth(r: Repos, extra: string[] = [], src = r.src): [string, string] {
  const real = ok(ostreeIn(r.real, 'commit', ...commitArgs(src, extra)), 'ostree commit').stdout.trim();
  const ours = ok(mcoIn(r.ours, 'commit', ...commitArgs(src, extra)), 'mco ostree commit').stdout.trim();
  return [real, ours];
}

/** Compares the objects of `main` in both repos through the real tool: the first wrong one shows. */
function assertSameObjects(r: Repos): string {
  const real = ok(ostreeIn(r.real, 'ls', '-R', '-C', 'main'), 'ostree ls (real repo)').stdout;
  const ours = ok(ostreeIn(r.ours, 'ls', '-R', '-C', 'main'), 'ostree ls (our repo)').stdout;
  assert.equal(ours, real, 'ostree ls -R -C main differs between our repo and the real one');
  return real;
}

// ---- 1 and 2. commit parity, and fsck of what we wrote

for (const mode of REPO_MODES) {
  test(`commits of the same tree into ${mode} repos`, needsOstree, async (t) => {
    const r = setup(t, mode);
    await t.test(`mco ostree commit writes the same commit as ostree commit in a ${mode} repo, with and without --no-bindings`, () => {
      // The second commit has the first as its parent, on both sides.
      for (const extra of [[], ['--no-bindings']]) {
        const [real, ours] = commitBoth(r, extra);
        assertSameObjects(r);
        assert.equal(ours, real, `commit checksum with ${extra.join(' ') || 'bindings'}`);
        assert.equal(ok(ostreeIn(r.ours, 'rev-parse', 'main'), 'rev-parse').stdout.trim(), real);
        // Same checksum means same metadata; this shows which field differs when it is not.
        assert.equal(ok(ostreeIn(r.ours, 'show', 'main'), 'show').stdout, ok(ostreeIn(r.real, 'show', 'main'), 'show').stdout);
      }
    });
    await t.test(`ostree fsck finds no errors in the ${mode} repo mco wrote, with history and an orphan commit`, () => {
      ok(mcoIn(r.ours, 'commit', '--orphan', '--subject=orphan', '--timestamp=@0', r.src), 'orphan commit');
      const fsck = ostreeIn(r.ours, 'fsck');
      assert.equal(fsck.status, 0, `ostree fsck: ${fsck.stdout}${fsck.stderr}`);
      assert.match(fsck.stdout, /object fsck of 3 commits completed successfully - no errors found\./);
      assert.equal(fsck.stderr, '');
    });
  });
}

test('a 100 MiB file commits to the same checksum as ostree commit and checks out intact, in archive and bare repos', needsOstree, (t) => {
  for (const mode of ['archive', 'bare'] as const) {
    const r = setup(t, mode, (root) => {
      fs.mkdirSync(join(root, 'big'), { recursive: true, mode: 0o755 });
      fs.chmodSync(root, 0o755);
      writeBigFile(join(root, 'big/image.bin'), 100);
      fs.writeFileSync(join(root, 'small'), 'small\n');
      fs.chmodSync(join(root, 'small'), 0o644);
    });
    const [real, ours] = commitBoth(r, ['--no-bindings']);
    assertSameObjects(r);
    assert.equal(ours, real, `${mode}: commit checksum`);
    const fsck = ostreeIn(r.ours, 'fsck');
    assert.equal(fsck.status, 0, `${mode}: ostree fsck of our repo: ${fsck.stdout}${fsck.stderr}`);

    const want = walkTree(r.src);
    const ourCheckout = join(r.dir, 'co-ours');
    const realCheckout = join(r.dir, 'co-real');
    ok(mcoIn(r.real, 'checkout', 'main', ourCheckout), `${mode}: mco checkout of the real repo`);
    ok(ostreeIn(r.ours, 'checkout', 'main', realCheckout), `${mode}: ostree checkout of our repo`);
    assert.deepEqual(diffTrees(walkTree(ourCheckout), want), [], `${mode}: mco checkout of the real repo`);
    assert.deepEqual(diffTrees(walkTree(realCheckout), want), [], `${mode}: ostree checkout of our repo`);
    fs.rmSync(r.dir, { recursive: true, force: true }); // 200-400 MB per mode: free it before the next
  }
});

// ---- 3. checkouts

/** What a root, non-user-mode checkout of `src` must look like: what ostree stores of it. */
const expectedCheckout = (src: string): WalkEntry[] => withoutEmptyXattrs(walkTree(src));

/**
 * Every file and symlink of a checkout is the repo's object file itself, as ostree links
 * them; except empty regular files, which ostree 2022.7 always copies (observed: a zero-size
 * object would otherwise collect a link from every empty file of every checkout).
 */
function assertHardLinked(checkoutDir: string, repo: string, ls: string, what: string): void {
  const sums = fileChecksums(ls);
  const wrong: string[] = [];
  let seen = 0;
  for (const e of walkTree(checkoutDir)) {
    if (e.type !== 'file' && e.type !== 'symlink') continue;
    const csum = sums.get(`/${e.path}`);
    assert.ok(csum, `${what}: ${e.path} is not in ostree ls`);
    const object = fs.lstatSync(join(repo, 'objects', csum.slice(0, 2), `${csum.slice(2)}.file`));
    const linked = e.ino === object.ino;
    if (e.type === 'file' && e.size === 0) {
      if (linked || e.nlink !== 1) wrong.push(`${e.path}: empty, yet linked (nlink ${e.nlink})`);
    } else if (!linked || e.nlink < 2) {
      wrong.push(`${e.path}: not a hard link to its object ${csum} (nlink ${e.nlink})`);
    }
    seen++;
  }
  assert.ok(seen > 50, `${what}: only ${seen} files checked`);
  assert.deepEqual(wrong, [], what);
}

function assertCopies(checkoutDir: string, what: string): void {
  const linked = walkTree(checkoutDir).filter((e) => e.type === 'file' && e.nlink !== 1).map((e) => `${e.path} (nlink ${e.nlink})`);
  assert.deepEqual(linked, [], `${what}: archive checkouts must be copies`);
}

for (const mode of REPO_MODES) {
  test(`checkouts of ${mode} repos`, needsOstree, async (t) => {
    const r = setup(t, mode);
    commitBoth(r);
    const ls = assertSameObjects(r);
    const co = (name: string) => join(r.dir, name);

    await t.test(`each tool checks out the other's ${mode} repo exactly as ostree checks out its own`, () => {
      ok(ostreeIn(r.real, 'checkout', 'main', co('real-by-real')), 'ostree checkout of the real repo');
      ok(mcoIn(r.real, 'checkout', 'main', co('real-by-mco')), 'mco checkout of the real repo');
      ok(ostreeIn(r.ours, 'checkout', 'main', co('ours-by-real')), 'ostree checkout of our repo');
      const reference = walkTree(co('real-by-real'));
      if (mode !== 'bare-user-only' && isRoot) {
        // As root, every mode but bare-user-only (which is canonical) gives back the source tree.
        assert.deepEqual(diffTrees(reference, expectedCheckout(r.src)), [], 'the real tool itself: checkout vs source');
      }
      for (const name of ['real-by-mco', 'ours-by-real']) {
        assert.deepEqual(diffTrees(walkTree(co(name)), reference), [], `${name} vs ostree's own checkout`);
      }
    });

    if (mode === 'bare') {
      await t.test('bare checkouts as root are hard links to the object files, as ostree makes them', { skip: !isRoot && 'needs root' }, () => {
        assertHardLinked(co('real-by-real'), r.real, ls, 'ostree checkout of the real repo');
        assertHardLinked(co('real-by-mco'), r.real, ls, 'mco checkout of the real repo');
        assertHardLinked(co('ours-by-real'), r.ours, ls, 'ostree checkout of our repo');
      });
    }
    if (mode === 'archive') {
      await t.test('archive checkouts are copies, as ostree makes them', () => {
        for (const name of ['real-by-real', 'real-by-mco', 'ours-by-real']) assertCopies(co(name), name);
      });
    }

    await t.test(`mco ostree checkout -U of a ${mode} repo matches ostree checkout -U`, () => {
      ok(ostreeIn(r.real, 'checkout', '-U', 'main', co('user-real-by-real')), 'ostree checkout -U of the real repo');
      ok(mcoIn(r.real, 'checkout', '-U', 'main', co('user-real-by-mco')), 'mco checkout -U of the real repo');
      ok(ostreeIn(r.ours, 'checkout', '-U', 'main', co('user-ours-by-real')), 'ostree checkout -U of our repo');
      const reference = walkTree(co('user-real-by-real'));
      // User mode: everything owned by whoever checks out, no setuid/setgid on files.
      const uid = process.getuid?.() ?? 0;
      assert.deepEqual(reference.filter((e) => e.uid !== uid).map((e) => e.path), [], 'ostree -U leaves nothing owned by others');
      assert.deepEqual(reference.filter((e) => e.type === 'file' && e.mode & 0o6000).map((e) => e.path), [], 'ostree -U strips setuid/setgid');
      for (const name of ['user-real-by-mco', 'user-ours-by-real']) {
        assert.deepEqual(diffTrees(walkTree(co(name)), reference), [], `${name} vs ostree's own checkout -U`);
      }
    });

    await t.test(`mco ostree checkout --union over an existing tree matches ostree checkout --union, from a ${mode} repo`, () => {
      for (const dest of [co('union-by-real'), co('union-by-mco')]) prepopulate(dest);
      ok(ostreeIn(r.real, 'checkout', '--union', 'main', co('union-by-real')), 'ostree checkout --union');
      ok(mcoIn(r.real, 'checkout', '--union', 'main', co('union-by-mco')), 'mco checkout --union');
      assert.deepEqual(diffTrees(walkTree(co('union-by-mco')), walkTree(co('union-by-real'))), []);
    });
  });
}

/**
 * An existing tree that overlaps the commit: directories with other modes and owners (which
 * a union keeps), files and a symlink the commit replaces, and files it does not know.
 */
function prepopulate(dest: string): void {
  fs.mkdirSync(join(dest, 'etc'), { recursive: true });
  fs.mkdirSync(join(dest, 'links'));
  fs.mkdirSync(join(dest, 'names'));
  fs.mkdirSync(join(dest, 'untouched'));
  fs.writeFileSync(join(dest, 'etc/hello.txt'), 'old content, to be replaced\n', { mode: 0o600 });
  fs.writeFileSync(join(dest, 'etc/extra-file'), 'not in the commit\n');
  fs.writeFileSync(join(dest, 'names/B'), 'old B\n');
  fs.writeFileSync(join(dest, 'untouched/keep.txt'), 'keep\n');
  fs.symlinkSync('/old/target', join(dest, 'links/absolute'));
  fs.chmodSync(join(dest, 'etc'), 0o700);
  fs.chmodSync(dest, 0o711);
  if (isRoot) {
    fs.chownSync(join(dest, 'etc'), 1000, 1000);
    fs.chownSync(join(dest, 'names'), 1000, 0);
  }
}

// ---- 4. read-only verbs print what ostree prints

/**
 * The same history in the given repos: 3 commits on main (multi-line subject and body,
 * version metadata on two of them) and a second branch. Each step changes the one source
 * tree and commits it with each tool, so both see exactly the same files.
 */
function buildHistories(r: Repos, tools: ('real' | 'ours')[]): void {
  const commit = (...args: string[]) => {
    if (tools.includes('real')) ok(ostreeIn(r.real, 'commit', ...args, r.src), `ostree commit ${args.join(' ')}`);
    if (tools.includes('ours')) ok(mcoIn(r.ours, 'commit', ...args, r.src), `mco ostree commit ${args.join(' ')}`);
  };
  commit('-b', 'main', '--subject=Initial import', '--add-metadata-string=version=1.0', '--timestamp=@1600000000');
  fs.writeFileSync(join(r.src, 'etc/hello.txt'), 'hello, second version\n');
  fs.writeFileSync(join(r.src, 'etc/new-in-2'), 'new\n');
  commit('-b', 'main', '--subject=Second: a subject\nthat runs over two lines\n',
    '--body=Body paragraph one.\n\nParagraph two:\n  - an indented item\n\n', '--add-metadata-string=version=2.0',
    '--timestamp=@1600003661');
  fs.rmSync(join(r.src, 'etc/new-in-2'));
  commit('-b', 'main', '--subject=Third, without a version', '--body=Only a body line', '--timestamp=@1700000000');
  commit('-b', 'other/branch', '--subject=Other branch', '--add-metadata-string=version=9.9', '--timestamp=@1500000000');
}

const READ_VERBS: string[][] = [
  ['log', 'main'], ['log', 'other/branch'], ['show', 'main'], ['show', 'main^'],
  ['ls', 'main'], ['ls', '-R', '-C', 'main'], ['ls', '-R', 'main^^'], ['ls', 'main', '/usr/bin'],
  ['ls', '-C', 'main', '/etc/hello.txt'], ['ls', 'main', '/links'], ['ls', '-d', 'main', '/usr'],
  ['refs'], ['refs', 'other'], ['rev-parse', 'main^'], ['rev-parse', 'other/branch'],
  ['cat', 'main^', '/etc/hello.txt', '/usr/bin/hi'], ['cat', 'main', '/usr/share/doc/binary.bin'],
];
// File metadata is read from a different place in each mode (inode, user.ostreemeta, .filez
// header): these are re-run in every mode; the rest only depend on commit objects.
const MODE_DEPENDENT: string[][] = [
  ['ls', '-R', '-C', 'main'], ['ls', '-R', 'main^^'], ['cat', 'main', '/usr/share/doc/binary.bin'], ['cat', 'main^', '/etc/hello.txt', '/usr/bin/hi'],
];

/** Runs `args` with both tools on `repo`; describes the first difference, or returns undefined. */
function outputDifference(repo: string, args: string[]): string | undefined {
  const want = ostreeIn(repo, args[0]!, ...args.slice(1));
  const got = mcoIn(repo, args[0]!, ...args.slice(1));
  if (want.status !== 0) return `the real tool failed (${want.status}): ${want.stderr.trim()}`;
  if (got.status !== 0) return `mco failed (${got.status}): ${got.stderr.trim()}`;
  if (got.stdoutBytes.equals(want.stdoutBytes)) return undefined;
  // `ostree refs` prints in GHashTable order over readdir order: unspecified and not
  // reproducible, so refs are compared as a set (mco prints them sorted).
  const lines = (text: string) => (args[0] === 'refs' ? text.split('\n').sort() : text.split('\n'));
  const a = lines(got.stdout);
  const b = lines(want.stdout);
  if (args[0] === 'refs' && a.join('\n') === b.join('\n')) return undefined;
  const i = a.findIndex((line, n) => line !== b[n]);
  const at = i < 0 ? b.length : i;
  return `line ${at + 1}: mco ${JSON.stringify(a[at] ?? '(end)')} != ostree ${JSON.stringify(b[at] ?? '(end)')}`;
}

for (const mode of REPO_MODES) {
  test(`log, show, ls, refs, rev-parse and cat print what ostree prints, on ${mode} repos`, needsOstree, (t) => {
    const r = setup(t, mode);
    // Every verb on archive repos written by each tool; in the other modes, only the verbs
    // that read file objects, on a repo the real tool wrote (commit parity is tested above).
    const full = mode === 'archive';
    buildHistories(r, full ? ['real', 'ours'] : ['real']);
    const repos = full ? [['written by ostree', r.real], ['written by mco', r.ours]] : [['written by ostree', r.real]];
    if (full) assert.equal(ok(mcoIn(r.ours, 'rev-parse', 'main'), 'rev-parse').stdout, ok(ostreeIn(r.real, 'rev-parse', 'main'), 'rev-parse').stdout);
    const differences: string[] = [];
    for (const [what, repo] of repos) {
      // Every verb on the real tool's repo; on ours (the same objects), what reads refs,
      // commits and files once each.
      const verbs = !full ? MODE_DEPENDENT : repo === r.real ? READ_VERBS : [['log', 'main'], ['refs'], ...MODE_DEPENDENT.slice(0, 3)];
      for (const args of verbs) {
        const d = outputDifference(repo!, args);
        if (d) differences.push(`${what}: ${args.join(' ')}: ${d}`);
      }
    }
    assert.deepEqual(differences, []);
  });
}

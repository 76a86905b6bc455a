import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { commitTree, parseSourceDateEpoch } from './commit.js';
import { Repo } from './repo.js';

const hasOstree = existsSync('/usr/bin/ostree');
const work = mkdtempSync(join(tmpdir(), 'mco-commit-test-'));
after(() => rmSync(work, { recursive: true, force: true }));

/** A tree big enough that commitTree() hands files to worker threads. */
function manyFiles(dir: string, count: number): string {
  for (let i = 0; i < count; i++) {
    const sub = join(dir, `d${i % 37}`, `e${i % 5}`);
    mkdirSync(sub, { recursive: true });
    writeFileSync(join(sub, `f${i}`), `file ${i}\n`.repeat(1 + (i % 50)), { mode: i % 3 ? 0o644 : 0o755 });
    if (i % 100 === 0) symlinkSync(`f${i}`, join(sub, `l${i}`));
  }
  return dir;
}

const tree = manyFiles(join(work, 'tree'), 1200);

test('commitTree() gives the same commit in worker threads as in one thread', async () => {
  const threaded = await Repo.init(join(work, 'threaded'), { mode: 'archive' });
  const inline = await Repo.init(join(work, 'inline'), { mode: 'archive' });
  const options = { branch: 'main', timestamp: 0, bindings: false };
  const a = await commitTree(threaded, tree, { ...options, workers: 2 });
  const b = await commitTree(inline, tree, { ...options, workers: 0 });
  assert.equal(a.checksum, b.checksum);
  assert.equal(a.files, 1212);
  assert.equal(a.newFiles, b.newFiles);
});

test('commitTree() matches `ostree commit` on a 1,200-file tree in bare and archive modes', { skip: !hasOstree && 'ostree CLI not installed (scripts/setup.sh installs it)' }, async () => {
  for (const mode of ['bare', 'archive'] as const) {
    const ours = await Repo.init(join(work, `ours-${mode}`), { mode });
    const { checksum } = await commitTree(ours, tree, { branch: 'main', timestamp: 0, bindings: false });
    const theirs = join(work, `theirs-${mode}`);
    execFileSync('ostree', ['init', `--repo=${theirs}`, `--mode=${mode}`]);
    const real = execFileSync('ostree', ['commit', `--repo=${theirs}`, '-b', 'main', '--no-bindings', '--timestamp=@0', tree], { encoding: 'utf8' }).trim();
    assert.equal(checksum, real, `${mode} commit differs from ostree's`);
    assert.match(execFileSync('ostree', ['fsck', `--repo=${ours.path}`], { encoding: 'utf8' }), /no errors found/);
  }
});

test('commitTree() writes no new file objects when the same tree is committed again', async () => {
  const repo = await Repo.init(join(work, 'again'), { mode: 'bare' });
  const first = await commitTree(repo, tree, { branch: 'main', timestamp: 0 });
  const second = await commitTree(repo, tree, { branch: 'main', timestamp: 1 });
  assert.equal(first.newFiles, 1212);
  assert.equal(second.newFiles, 0);
  assert.equal((await repo.loadCommit(second.checksum)).parent, first.checksum, 'the branch head becomes the parent');
});

test('parseSourceDateEpoch() reads SOURCE_DATE_EPOCH as ostree does, and refuses it in ostree\'s words', () => {
  const cases: [string, number | string][] = [
    ['1234567890', 1234567890],
    [' 5', 5], // blanks first, as strtoll skips them
    ['1e3', 1], // the digits before anything else
    ['-1', -1],
    ['', 'Failed to convert SOURCE_DATE_EPOCH'],
    ['invalid', 'Failed to convert SOURCE_DATE_EPOCH'],
    ['12345678901234567890', 'Parsing SOURCE_DATE_EPOCH: Numerical result out of range'],
  ];
  for (const [text, want] of cases) {
    if (typeof want === 'number') assert.equal(parseSourceDateEpoch(text), want, text);
    else assert.throws(() => parseSourceDateEpoch(text), { message: want }, text);
  }
});

test('a commit dated before 1970 is the commit `ostree commit` writes, and reads back with its date', { skip: !hasOstree && 'ostree CLI not installed (scripts/setup.sh installs it)' }, async () => {
  const dir = join(work, 'tree-1969');
  mkdirSync(dir);
  writeFileSync(join(dir, 'f'), 'old\n');
  const repo = await Repo.init(join(work, 'repo-1969'), { mode: 'archive' });
  const ours = await commitTree(repo, dir, { branch: 'main', timestamp: -1, bindings: false });
  const real = execFileSync('ostree', ['commit', `--repo=${repo.path}`, '-b', 'real', '--no-bindings', dir], { env: { ...process.env, SOURCE_DATE_EPOCH: '-1' } }).toString().trim();
  assert.equal(ours.checksum, real);
  assert.equal((await repo.loadCommit(real)).timestamp, -1);
});

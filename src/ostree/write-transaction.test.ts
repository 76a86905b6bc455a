/**
 * A writer that dies before its final sync (a power cut, a kill) may leave objects renamed into
 * place but torn; the writers after it (commit, pull, pull-local) must not build on them. A
 * power cut cannot be made in a test: its result is, an object emptied under its name after a
 * dead writer's mark. The real ostree's fsck judges every repo.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { commitTree } from './commit.js';
import { pullFromRemote } from './pull-http.js';
import { pullLocal } from './pull-local.js';
import { Repo } from './repo.js';
import { startTrivialHttpd } from './serve-testing.js';
import { needsOstree, noFsync, ok, ostree, ostreeIn, scratch } from './testing.js';
import { beginWriteTransaction, repairAfterCrashedWriters } from './write-transaction.js';

const MCO_JS = fileURLToPath(new URL('../cli/mco.js', import.meta.url));

/** A PID no process has any more. */
function deadPid(): number {
  const r = spawnSync('true');
  return r.pid!;
}

/** The mark a writer that died (PID gone) before its sync leaves in tmp/. */
function deadWritersMark(repo: Repo): string {
  const mark = join(repo.tmpDir, `mco-transaction-${deadPid()}-0-0`);
  fs.writeFileSync(mark, '');
  return mark;
}

function marks(repo: Repo): string[] {
  return fs.readdirSync(repo.tmpDir).filter((n) => n.startsWith('mco-transaction-'));
}

function tree(root: string, files: Record<string, string>): string {
  for (const [name, content] of Object.entries(files)) {
    fs.mkdirSync(join(root, name, '..'), { recursive: true });
    fs.writeFileSync(join(root, name), content);
  }
  return root;
}

/** Empties a stored content object under its name, as a power cut before the sync can. */
function tear(repo: Repo, checksum: string): void {
  const path = repo.objectPath('file', checksum);
  fs.chmodSync(path, 0o644);
  fs.truncateSync(path, 0);
}

async function fileChecksum(repo: Repo, commit: string, name: string): Promise<string> {
  const root = await repo.loadDirTree((await repo.loadCommit(commit)).rootTree);
  return root.files.find(([n]) => n === name)![1];
}

test('a commit after a writer died before its sync re-hashes what was written since, replaces a torn object, and drops the mark', needsOstree, async (t) => {
  const dir = scratch(t, 'mco-txn-commit-');
  for (const mode of ['bare-user', 'archive'] as const) {
    const repo = await Repo.init(join(dir, mode), { mode });
    noFsync(repo.path);
    const first = await commitTree(repo, tree(join(dir, `${mode}-a`), { 'kept': 'kept\n', 'shared': 'written by the writer that died\n' }), { branch: 'main' });
    const mark = deadWritersMark(repo);
    const shared = await fileChecksum(repo, first.checksum, 'shared');
    tear(repo, shared);

    const second = await commitTree(repo, tree(join(dir, `${mode}-b`), { 'shared': 'written by the writer that died\n', 'new': 'new\n' }), { branch: 'main' });
    assert.equal(await fileChecksum(repo, second.checksum, 'shared'), shared);
    assert.equal(fs.statSync(repo.objectPath('file', shared)).size > 0, true, `${mode}: the torn object was written again`);
    assert.equal(fs.existsSync(mark), false, `${mode}: the dead writer's mark is gone`);
    assert.deepEqual(marks(repo), [], `${mode}: the commit's own mark is gone once synced`);
    ok(ostreeIn(repo.path, 'fsck'), `ostree fsck (${mode})`);
  }
});

test('a live writer\'s mark is left alone, and nothing is re-hashed for it', async (t) => {
  const repo = await Repo.init(join(scratch(t, 'mco-txn-live-'), 'repo'), { mode: 'bare-user' });
  const first = await commitTree(repo, tree(join(repo.path, '..', 'a'), { f: 'f\n' }));
  const live = beginWriteTransaction(repo);
  tear(repo, await fileChecksum(repo, first.checksum, 'f'));
  assert.deepEqual(await repairAfterCrashedWriters(repo), { checked: 0, removed: 0 });
  assert.equal(marks(repo).length, 1, 'the live mark stays');
  live.end();
  assert.deepEqual(marks(repo), []);
});

test('a mark with this very PID, made in another boot, is a dead writer\'s (after a power cut PIDs come again)', async (t) => {
  const repo = await Repo.init(join(scratch(t, 'mco-txn-boot-'), 'repo'), { mode: 'bare-user' });
  const first = await commitTree(repo, tree(join(repo.path, '..', 'a'), { f: 'f\n' }));
  // The repair's window opens a second before the mark (clock granularity), and an inode's
  // change time cannot be set: the commit's objects are made older than that by waiting.
  await new Promise((resolve) => setTimeout(resolve, 1200));
  const mark = join(repo.tmpDir, `mco-transaction-${process.pid}-0-99`);
  const stat = fs.readFileSync(`/proc/${process.pid}/stat`, 'utf8');
  fs.writeFileSync(mark, `00000000-0000-0000-0000-000000000000 ${stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]}`);
  tear(repo, await fileChecksum(repo, first.checksum, 'f'));
  assert.deepEqual(await repairAfterCrashedWriters(repo), { checked: 1, removed: 1 }, 'only the object changed since the mark was made');
  assert.equal(fs.existsSync(mark), false);
});

test('HTTP and local pulls into a repo a writer died in fetch again the objects it left torn', needsOstree, async (t) => {
  const dir = scratch(t, 'mco-txn-pull-');
  const srv = join(dir, 'srv');
  ok(ostree(['init', `--repo=${srv}`, '--mode=archive']), 'ostree init');
  noFsync(srv);
  ok(ostreeIn(srv, 'commit', '-b', 'main', tree(join(dir, 'src'), { a: 'a\n', 'd/b': 'b\n' })), 'ostree commit');
  const commit = ok(ostreeIn(srv, 'rev-parse', 'main'), 'rev-parse').stdout.trim();
  const httpd = startTrivialHttpd(srv);
  t.after(() => httpd.kill());
  const source = await Repo.open(srv);
  const a = await fileChecksum(source, commit, 'a');

  for (const how of ['http', 'local'] as const) {
    const repo = await Repo.init(join(dir, how), { mode: 'bare-user' });
    noFsync(repo.path);
    // The dead writer had stored `a` (a commit of the same file) and died before its sync.
    await commitTree(repo, tree(join(dir, `${how}-tree`), { a: 'a\n' }), { fsync: false });
    deadWritersMark(repo);
    tear(repo, a);
    if (how === 'http') {
      const r = await pullFromRemote(repo, { url: httpd.url, commit });
      assert.equal(r.repairedObjects, 1);
    } else {
      await pullLocal(repo, source, { refs: [commit] });
    }
    assert.deepEqual(marks(repo), []);
    ok(ostreeIn(repo.path, 'fsck'), `ostree fsck after the ${how} pull`);
  }
});

test('`mco ostree commit` killed (SIGKILL) mid-commit leaves its mark; the next commit checks and drops it', needsOstree, async (t) => {
  const dir = scratch(t, 'mco-txn-kill-');
  const repo = await Repo.init(join(dir, 'repo'), { mode: 'bare-user' });
  noFsync(repo.path);
  const files: Record<string, string> = {};
  for (let i = 0; i < 3000; i++) files[`d${i % 30}/f${i}`] = `file ${i}\n`;
  const src = tree(join(dir, 'src'), files);
  const child = spawn(process.execPath, [MCO_JS, 'ostree', 'commit', `--repo=${repo.path}`, '-b', 'main', src], { stdio: 'ignore' });
  const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, signal) => resolve(signal)));
  // Killed as soon as its mark shows: it has begun writing, and has not synced.
  while (marks(repo).length === 0) await new Promise((resolve) => setTimeout(resolve, 2));
  child.kill('SIGKILL');
  assert.equal(await exited, 'SIGKILL');
  assert.equal(marks(repo).length, 1, 'the killed commit left its mark');

  const again = await commitTree(repo, src, { branch: 'main' });
  assert.deepEqual(marks(repo), []);
  assert.equal(ok(ostreeIn(repo.path, 'rev-parse', 'main'), 'rev-parse').stdout.trim(), again.checksum);
  ok(ostreeIn(repo.path, 'fsck'), 'ostree fsck');
});

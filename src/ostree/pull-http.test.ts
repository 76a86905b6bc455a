/**
 * HTTP pull against the real tool: ours pulling from `ostree-trivial-httpd` serving a repo the
 * real `ostree` wrote (into archive and bare repos, which the real `ostree fsck` then finds
 * clean and which check out as the real pull's do), and the real `ostree pull` from our
 * serveRepo. Bad servers are in bad-http.test.ts.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { PullError, pullFromRemote } from './pull-http.js';
import { Repo, type RepoMode } from './repo.js';
import { serveRepo, type RepoServer } from './serve.js';
import { ostreeAsync, startTrivialHttpd, type Httpd } from './serve-testing.js';
import { buildRichTree, diffTrees, needsOstree, noFsync, ok, ostree, ostreeIn, scratch, walkTree, writeBigFile } from './testing.js';

interface Source {
  dir: string;
  /** An archive repo written by the real ostree: `main` with two commits (the second signed-ish: detached metadata). */
  repo: string;
  tree: string;
  commits: string[];
  httpd: Httpd;
}

let source: Source | undefined;
const servers: RepoServer[] = [];

before(() => {
  if (needsOstree.skip) return;
  const dir = fs.mkdtempSync(join(tmpdir(), 'mco-pull-http-'));
  const tree = join(dir, 'tree');
  buildRichTree(tree);
  writeBigFile(join(tree, 'big'), 6); // past the in-memory limits: streamed through tmp/
  const repo = join(dir, 'srv');
  ok(ostree(['init', `--repo=${repo}`, '--mode=archive']), 'ostree init');
  noFsync(repo);
  ok(ostreeIn(repo, 'commit', '-b', 'main', '--timestamp=@1700000000', '-s', 'one', tree), 'ostree commit');
  fs.writeFileSync(join(tree, 'changed'), 'v2\n');
  ok(ostreeIn(repo, 'commit', '-b', 'main', '--timestamp=@1700000100', '-s', 'two', '--add-detached-metadata-string=signed=yes', tree), 'ostree commit');
  const commits = ok(ostreeIn(repo, 'log', 'main'), 'ostree log').stdout.match(/^commit ([0-9a-f]{64})/gm)!.map((l) => l.slice(7));
  source = { dir, repo, tree, commits, httpd: startTrivialHttpd(repo) };
});

after(async () => {
  for (const s of servers) await s.close();
  if (source) {
    source.httpd.kill();
    fs.rmSync(source.dir, { recursive: true, force: true });
  }
});

async function emptyRepo(path: string, mode: RepoMode): Promise<Repo> {
  await Repo.init(path, { mode });
  noFsync(path);
  return Repo.open(path);
}

async function objectKeys(repo: Repo): Promise<string[]> {
  return (await repo.listObjects()).map(([c, t]) => `${c}.${t}`).sort();
}

/** A checkout by the real tool, described entry by entry. */
function checkoutWalk(repo: string, rev: string, dest: string, user: boolean): ReturnType<typeof walkTree> {
  ok(ostreeIn(repo, 'checkout', ...(user ? ['-U'] : []), rev, dest), `ostree checkout ${repo}`);
  return walkTree(dest);
}

test('ours pulls a commit the real ostree wrote, over its trivial-httpd, into archive and bare-user repos the real fsck finds clean', needsOstree, async (t) => {
  const src = source!;
  const out = scratch(t, 'mco-pull-http-out-');
  const [head] = src.commits;
  // Content verified and written on this thread, and by worker threads.
  for (const [mode, workers] of [['archive', 0], ['bare-user', 0], ['archive', 2], ['bare-user', 1]] as const) {
    const dest = join(out, `${mode}-${workers}`);
    const repo = await emptyRepo(dest, mode);
    const progress: number[] = [];
    const result = await pullFromRemote(repo, {
      url: src.httpd.url, refs: ['main'], remoteName: 'origin', workers, onProgress: (p) => progress.push(p.fetchedObjects),
    });
    assert.deepEqual(result.commits, [head]);
    assert.deepEqual(result.refs, [['origin:main', head]]);
    assert.equal(await repo.readRef('origin:main'), head);
    assert.ok(result.fetchedContent > 10 && result.fetchedMetadata > 3, `counts: ${JSON.stringify(result)}`);
    assert.equal(progress.at(-1), result.fetchedObjects);
    assert.ok(fs.existsSync(repo.objectPath('commitmeta', head!)), 'detached metadata pulled');
    assert.deepEqual(fs.readdirSync(join(dest, 'state')), [], 'a commitpartial mark was left behind');
    const fsck = ostreeIn(dest, 'fsck');
    assert.equal(fsck.status, 0, `ostree fsck after our ${mode} pull:\n${fsck.stderr}`);
    // The same objects, and the same checkout, as the real pull into a repo of this mode.
    const real = join(out, `real-${mode}-${workers}`);
    ok(ostree(['init', `--repo=${real}`, `--mode=${mode}`]), 'ostree init');
    noFsync(real);
    ok(ostreeIn(real, 'remote', 'add', '--no-gpg-verify', 'origin', src.httpd.url), 'ostree remote add');
    ok(ostreeIn(real, 'pull', 'origin', 'main'), 'ostree pull');
    assert.deepEqual(await objectKeys(repo), await objectKeys(await Repo.open(real)));
    const ours = checkoutWalk(dest, head!, join(out, `co-${mode}-${workers}`), true);
    const theirs = checkoutWalk(real, head!, join(out, `co-real-${mode}-${workers}`), true);
    assert.deepEqual(diffTrees(ours, theirs), []);
    // Pulling again fetches nothing but the refs and detached metadata (unchanged: not stored).
    const again = await pullFromRemote(repo, { url: src.httpd.url, refs: ['main'], remoteName: 'origin' });
    assert.equal(again.fetchedObjects, 0);
  }
});

test('--depth pulls parents; a checksum pulls that commit and writes no ref; --mirror writes refs/heads', needsOstree, async (t) => {
  const src = source!;
  const out = scratch(t, 'mco-pull-http-out-');
  const [head, parent] = src.commits;
  const repo = await emptyRepo(join(out, 'depth'), 'archive');
  await pullFromRemote(repo, { url: src.httpd.url, refs: ['main'], depth: 1, mirror: true, remoteName: 'origin' });
  assert.equal(await repo.readRef('main'), head);
  assert.equal(await repo.readRef('origin:main'), undefined);
  assert.ok(repo.hasObjectSync('commit', parent!));
  ok(ostreeIn(repo.path, 'fsck'), 'ostree fsck');

  const one = await emptyRepo(join(out, 'checksum'), 'archive');
  const r = await pullFromRemote(one, { url: src.httpd.url, commit: parent! });
  assert.deepEqual(r.refs, []);
  assert.deepEqual(await one.listRefs(), []);
  assert.ok(one.hasObjectSync('commit', parent!));
  assert.ok(!one.hasObjectSync('commit', head!));
  ok(ostreeIn(one.path, 'fsck'), 'ostree fsck');
});

test('--commit-metadata-only fetches the commit alone and leaves its commitpartial mark; a full pull then completes it', needsOstree, async (t) => {
  const src = source!;
  const out = scratch(t, 'mco-pull-http-out-');
  const [head] = src.commits;
  const repo = await emptyRepo(join(out, 'meta'), 'archive');
  const r = await pullFromRemote(repo, { url: src.httpd.url, refs: ['main'], commitMetadataOnly: true, remoteName: 'origin' });
  assert.equal(r.fetchedMetadata, 1);
  assert.equal(r.fetchedContent, 0);
  assert.deepEqual(fs.readdirSync(join(repo.path, 'state')), [`${head}.commitpartial`]);
  const full = await pullFromRemote(repo, { url: src.httpd.url, refs: ['main'], remoteName: 'origin' });
  assert.ok(full.fetchedContent > 0);
  assert.deepEqual(fs.readdirSync(join(repo.path, 'state')), []);
  ok(ostreeIn(repo.path, 'fsck'), 'ostree fsck');
});

test('the real ostree pull from our serveRepo gets the same commit, and stats count what was served', needsOstree, async (t) => {
  const src = source!;
  const out = scratch(t, 'mco-pull-http-out-');
  const server = await serveRepo(src.repo, { listen: '127.0.0.1:0' });
  servers.push(server);
  const dest = join(out, 'real');
  ok(ostree(['init', `--repo=${dest}`, '--mode=archive']), 'ostree init');
  noFsync(dest);
  ok(ostreeIn(dest, 'remote', 'add', '--no-gpg-verify', 'origin', server.url), 'ostree remote add');
  const pulled = await ostreeAsync(['pull', `--repo=${dest}`, '--depth=1', 'origin', 'main']);
  assert.equal(pulled.status, 0, `ostree pull from serveRepo:\n${pulled.stderr}`);
  assert.match(pulled.stdout, /metadata, \d+ content objects fetched/);
  assert.equal(ok(ostreeIn(dest, 'rev-parse', 'origin:main'), 'rev-parse').stdout.trim(), src.commits[0]);
  ok(ostreeIn(dest, 'fsck'), 'ostree fsck');
  const stats = server.stats();
  assert.ok(stats.requests > 10 && stats.bytesServed > 6 * 1024 * 1024 / 4, JSON.stringify(stats));
});

test('a remote that is not an archive repo, or lacks the ref, is refused naming the URL', needsOstree, async (t) => {
  const src = source!;
  const out = scratch(t, 'mco-pull-http-out-');
  const repo = await emptyRepo(join(out, 'r'), 'archive');
  await assert.rejects(pullFromRemote(repo, { url: src.httpd.url, refs: ['nope'] }),
    (e: unknown) => e instanceof PullError && e.message.includes(src.httpd.url) && /ref nope/.test(e.message));
  const bare = join(out, 'bare');
  await emptyRepo(bare, 'bare-user');
  const server = await serveRepo(bare, { listen: '127.0.0.1:0' });
  servers.push(server);
  await assert.rejects(pullFromRemote(repo, { url: server.url, refs: ['main'] }),
    (e: unknown) => e instanceof PullError && e.message.includes(server.url) && /mode "bare-user"/.test(e.message));
});

test('an update into repos holding most of the tree (thousands of objects, every objects/ directory busy) fetches exactly what they lack', needsOstree, async (t) => {
  const out = scratch(t, 'mco-pull-http-update-');
  const tree = join(out, 'tree');
  // ~12 files per objects/XX directory: past the point where the walk lists a directory instead of lstat'ing each object.
  for (let d = 0; d < 30; d++) {
    fs.mkdirSync(join(tree, `d${d}`), { recursive: true });
    for (let f = 0; f < 100; f++) fs.writeFileSync(join(tree, `d${d}`, `f${f}`), `file ${d}/${f}\n`);
  }
  const srv = join(out, 'srv');
  ok(ostree(['init', `--repo=${srv}`, '--mode=archive']), 'ostree init');
  noFsync(srv);
  ok(ostreeIn(srv, 'commit', '-b', 'main', '--timestamp=@1700000000', tree), 'ostree commit v1');
  const v1 = ok(ostreeIn(srv, 'rev-parse', 'main'), 'rev-parse').stdout.trim();
  for (let d = 0; d < 20; d++) fs.writeFileSync(join(tree, `d${d}`, 'f7'), `file ${d}/7, changed\n`);
  ok(ostreeIn(srv, 'commit', '-b', 'main', '--timestamp=@1700000100', tree), 'ostree commit v2');
  const httpd = startTrivialHttpd(srv);
  t.after(() => httpd.kill());
  for (const mode of ['archive', 'bare-user'] as const) {
    const repo = await emptyRepo(join(out, mode), mode);
    await pullFromRemote(repo, { url: httpd.url, commit: v1 });
    const update = await pullFromRemote(repo, { url: httpd.url, refs: ['main'], remoteName: 'origin' });
    assert.equal(update.fetchedContent, 20, `${mode}: content objects fetched for 20 changed files`);
    assert.equal(update.fetchedMetadata, 1 + 1 + 20, `${mode}: the commit, the root dirtree and the 20 changed directories' dirtrees`);
    ok(ostreeIn(repo.path, 'fsck'), `ostree fsck (${mode})`);
  }
});

/**
 * HTTP pulls from servers that misbehave: objects whose bytes do not match their names, a
 * dirtree naming `..` or `a/b`, truncated bodies, redirect loops, a server that never answers,
 * and a pull killed with SIGKILL half way (the next pull completes, fetching only what was
 * missing). Each refusal is a PullError naming the remote URL and the object, and leaves no
 * trace of the bad object: not in objects/, not in tmp/, and no ref moved.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { commitTree } from './commit.js';
import { encodeCommit, encodeDirMeta, encodeDirTree, fileChecksum, S_IFDIR, S_IFREG } from './objects.js';
import { PullError, pullFromRemote, type PullResult } from './pull-http.js';
import { Repo, type RepoMode } from './repo.js';
import { needsOstree, noFsync, ok, ostreeIn, pseudoRandom, runMco } from './testing.js';

const MCO_JS = fileURLToPath(new URL('../cli/mco.js', import.meta.url));

/** Per-path misbehaviour; anything else is served from the directory. */
type Fault = (req: IncomingMessage, res: ServerResponse) => void;

interface FaultyServer {
  url: string;
  faults: Map<string, Fault>;
  /** Requests seen, by path. */
  requests: string[];
  /** Range headers seen, as `PATH RANGE`. */
  ranges: string[];
  /** Delay before each content object is answered (to kill a pull half way). */
  contentDelayMs: number;
  close(): Promise<void>;
}

async function faultyServer(dir: string): Promise<FaultyServer> {
  const sockets = new Set<Socket>();
  const state: Omit<FaultyServer, 'url' | 'close'> = { faults: new Map(), requests: [], ranges: [], contentDelayMs: 0 };
  const server: Server = createServer((req, res) => {
    const path = decodeURIComponent((req.url ?? '/').split('?')[0]!).replace(/^\/+/, '');
    state.requests.push(path);
    if (req.headers.range) state.ranges.push(`${path} ${req.headers.range}`);
    const fault = state.faults.get(path);
    if (fault) {
      fault(req, res);
      return;
    }
    const answer = (): void => {
      let bytes: Buffer;
      try {
        bytes = fs.readFileSync(join(dir, path));
      } catch {
        res.writeHead(404).end();
        return;
      }
      const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
      const from = range ? Number(range[1]) : 0;
      if (range && from < bytes.length) {
        res.writeHead(206, { 'Content-Length': bytes.length - from, 'Content-Range': `bytes ${from}-${bytes.length - 1}/${bytes.length}` }).end(bytes.subarray(from));
      } else {
        res.writeHead(200, { 'Content-Length': bytes.length }).end(bytes);
      }
    };
    if (state.contentDelayMs > 0 && path.endsWith('.filez')) setTimeout(answer, state.contentDelayMs);
    else answer();
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  return Object.assign(state, {
    url,
    close: () => new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    }),
  });
}

interface Fixture {
  dir: string;
  /** Archive repo written by our commit (the differential tests cover the real tool's). */
  srv: string;
  commit: string;
  /** A content object of the commit, a small one and the large one (streamed). */
  smallFile: string;
  bigFile: string;
  rootTree: string;
  server: FaultyServer;
}

let fx: Fixture | undefined;

before(async () => {
  const dir = fs.mkdtempSync(join(tmpdir(), 'mco-pull-bad-'));
  const tree = join(dir, 'tree');
  for (const d of ['etc', 'usr/bin', 'usr/lib/deep']) fs.mkdirSync(join(tree, d), { recursive: true });
  for (let i = 0; i < 60; i++) fs.writeFileSync(join(tree, `usr/lib/deep/file-${i}`), pseudoRandom(`f${i}`, 3000 + i * 100));
  fs.writeFileSync(join(tree, 'etc/hello'), 'hello\n');
  fs.writeFileSync(join(tree, 'usr/bin/big'), pseudoRandom('big', 3 << 20)); // incompressible: more than the in-memory limit
  const srv = join(dir, 'srv');
  const repo = await Repo.init(srv, { mode: 'archive' });
  noFsync(srv);
  const { commit, rootTree } = await commitTreeOnMain(repo, tree);
  const smallFile = (await Repo.open(srv)).loadDirTreeSync(rootTree);
  const etc = smallFile.dirs.find(([n]) => n === 'etc')!;
  const usr = (await Repo.open(srv)).loadDirTreeSync(smallFile.dirs.find(([n]) => n === 'usr')![1]);
  const bin = (await Repo.open(srv)).loadDirTreeSync(usr.dirs.find(([n]) => n === 'bin')![1]);
  fx = {
    dir, srv, commit, rootTree,
    smallFile: (await Repo.open(srv)).loadDirTreeSync(etc[1]).files[0]![1],
    bigFile: bin.files.find(([n]) => n === 'big')![1],
    server: await faultyServer(srv),
  };
});

after(async () => {
  if (!fx) return;
  await fx.server.close();
  fs.rmSync(fx.dir, { recursive: true, force: true });
});

async function commitTreeOnMain(repo: Repo, tree: string): Promise<{ commit: string; rootTree: string }> {
  const { checksum } = await commitTree(repo, tree, { branch: 'main', subject: 'test', timestamp: 1700000000 });
  return { commit: checksum, rootTree: repo.loadCommitSync(checksum).rootTree };
}

let counter = 0;
async function emptyRepo(mode: RepoMode = 'archive'): Promise<Repo> {
  const path = join(fx!.dir, `dest-${counter++}`);
  await Repo.init(path, { mode });
  noFsync(path);
  return Repo.open(path);
}

const objectUrlPath = (checksum: string, ext: string): string => `objects/${checksum.slice(0, 2)}/${checksum.slice(2)}.${ext}`;

/** Runs `fn` with `faults` installed on the shared server, removing them afterwards. */
async function withFaults<T>(faults: Record<string, Fault>, fn: () => Promise<T>): Promise<T> {
  for (const [p, f] of Object.entries(faults)) fx!.server.faults.set(p, f);
  try {
    return await fn();
  } finally {
    for (const p of Object.keys(faults)) fx!.server.faults.delete(p);
  }
}

/** The pull must fail with a PullError naming the URL and every string in `mentions`; the bad object must not be stored. */
async function assertRefused(
  repo: Repo, pull: Promise<PullResult>, mentions: (string | RegExp)[], absent: [checksum: string, type: 'file' | 'dirtree'][], keptPartial: string[] = [],
): Promise<void> {
  await assert.rejects(pull, (e: unknown) => {
    assert.ok(e instanceof PullError, `expected a PullError, got ${String(e)}`);
    assert.ok(e.message.includes(fx!.server.url), `the message names the remote: ${e.message}`);
    for (const m of mentions) {
      if (typeof m === 'string') assert.ok(e.message.includes(m), `the message mentions ${m}: ${e.message}`);
      else assert.match(e.message, m);
    }
    return true;
  });
  for (const [c, t] of absent) assert.ok(!repo.hasObjectSync(t, c), `${c}.${t} was stored`);
  assert.deepEqual(fs.readdirSync(repo.tmpDir).filter((n) => n !== 'cache'), keptPartial, 'temporary files left in tmp/');
  assert.deepEqual(await repo.listRefs(), [], 'a ref was written');
}

const serveBytes = (bytes: Buffer): Fault => (_req, res) => {
  res.writeHead(200, { 'Content-Length': bytes.length }).end(bytes);
};

test('a content object whose bytes are another object\'s is refused, naming it; nothing of it is stored', async () => {
  const { smallFile, bigFile, srv, server } = fx!;
  // Small objects are checked on this thread or in worker threads: both are tried.
  for (const [victim, mode, workers] of [
    [smallFile, 'archive', 0], [smallFile, 'bare-user', 0], [smallFile, 'archive', 1], [smallFile, 'bare-user', 2], [bigFile, 'archive', 0], [bigFile, 'bare-user', 0],
  ] as const) {
    const repo = await emptyRepo(mode);
    // Another valid content object's bytes: well-formed, wrong name.
    const swapped = fs.readFileSync(join(srv, objectUrlPath(victim === smallFile ? bigFile : smallFile, 'filez')));
    await withFaults({ [objectUrlPath(victim, 'filez')]: serveBytes(swapped) }, () =>
      assertRefused(repo, pullFromRemote(repo, { url: server.url, refs: ['main'], workers }), [victim, /Corrupted file object; checksum expected=/], [[victim, 'file']]));
    // One byte changed (in the header or the compressed data): refused as corrupted too.
    const good = fs.readFileSync(join(srv, objectUrlPath(victim, 'filez')));
    const flipped = Buffer.from(good);
    flipped[flipped.length - 10]! ^= 0xff;
    const again = await emptyRepo(mode);
    await withFaults({ [objectUrlPath(victim, 'filez')]: serveBytes(flipped) }, () =>
      assertRefused(again, pullFromRemote(again, { url: server.url, refs: ['main'], workers }), [victim, /Corrupted/], [[victim, 'file']]));
  }
});

test('a corrupted dirtree is refused, naming it', async () => {
  const { rootTree, server } = fx!;
  const repo = await emptyRepo();
  await withFaults({ [objectUrlPath(rootTree, 'dirtree')]: serveBytes(Buffer.from('not a dirtree')) }, () =>
    assertRefused(repo, pullFromRemote(repo, { url: server.url, refs: ['main'] }), [`${rootTree}.dirtree`, /Corrupted dirtree object/], [[rootTree, 'dirtree']]));
});

test('dirtrees naming "..", "." or "a/b" are refused even when their checksums match', async () => {
  for (const name of ['..', '.', 'a/b']) {
    // A repo holding a commit whose root dirtree has the bad entry, its checksum honest.
    const path = join(fx!.dir, `evil-${counter++}`);
    const evil = await Repo.init(path, { mode: 'archive' });
    noFsync(path);
    const header = { uid: 0, gid: 0, mode: S_IFREG | 0o644, symlinkTarget: '', xattrs: [] };
    const file = fileChecksum(header, Buffer.from('x'));
    evil.writeFileObjectSync(file, header, Buffer.from('x'));
    const meta = evil.writeMetadataSync('dirmeta', encodeDirMeta({ uid: 0, gid: 0, mode: S_IFDIR | 0o755, xattrs: [] }));
    const tree = evil.writeMetadataSync('dirtree', encodeDirTree({ files: [[name, file]], dirs: [] }));
    const commit = evil.writeMetadataSync('commit', encodeCommit({ metadata: [], parent: null, subject: 'evil', body: '', timestamp: 0, rootTree: tree, rootMeta: meta }));
    await evil.setRef('main', commit);
    const server = await faultyServer(path);
    try {
      const repo = await emptyRepo();
      await assert.rejects(pullFromRemote(repo, { url: server.url, refs: ['main'] }), (e: unknown) => {
        assert.ok(e instanceof PullError, String(e));
        assert.ok(e.message.includes(server.url) && e.message.includes(`${tree}.dirtree`) && new RegExp(`filename '?${name.replace(/\./g, '\\.')}'?$`).test(e.message), e.message);
        return true;
      });
      assert.ok(!repo.hasObjectSync('dirtree', tree));
      assert.ok(!repo.hasObjectSync('file', file));
    } finally {
      await server.close();
    }
  }
});

test('a truncated response is refused, naming the object; the next pull asks only for the rest', async () => {
  const { smallFile, bigFile, srv, server, commit } = fx!;
  for (const victim of [smallFile, bigFile]) {
    const path = objectUrlPath(victim, 'filez');
    const good = fs.readFileSync(join(srv, path));
    const repo = await emptyRepo('bare-user');
    await withFaults({
      [path]: (_req, res) => {
        res.writeHead(200, { 'Content-Length': good.length });
        res.write(good.subarray(0, good.length >> 1), () => res.socket?.destroy());
      },
    }, () => assertRefused(repo, pullFromRemote(repo, { url: server.url, refs: ['main'] }), [`${victim}.file`, /Download incomplete/], [[victim, 'file']], [`pull-${victim}.file.partial`]));
    // What came is kept in tmp/ (unverified, not an object); the next pull continues from it.
    const kept = fs.statSync(join(repo.tmpDir, `pull-${victim}.file.partial`)).size;
    assert.ok(kept > 0 && kept < good.length);
    server.ranges.length = 0;
    await pullFromRemote(repo, { url: server.url, refs: ['main'] });
    assert.deepEqual(server.ranges, [`${path} bytes=${kept}-`]);
    assert.equal(await repo.readRef('main'), commit);
    assert.deepEqual(fs.readdirSync(repo.tmpDir).filter((n) => n !== 'cache'), []);
  }
});

test('a kept partial download that does not continue to the right object is refused, and dropped', async () => {
  const { smallFile, server } = fx!;
  const repo = await emptyRepo();
  const partial = join(repo.tmpDir, `pull-${smallFile}.file.partial`);
  fs.writeFileSync(partial, Buffer.from('garbage that is no prefix of the object'));
  await assertRefused(repo, pullFromRemote(repo, { url: server.url, refs: ['main'] }), [`${smallFile}.file`, /Corrupted/], [[smallFile, 'file']]);
  assert.ok(!fs.existsSync(partial));
  await pullFromRemote(repo, { url: server.url, refs: ['main'] });
  assert.ok(repo.hasObjectSync('file', smallFile));
});

test('a redirect loop is refused, naming the object', async () => {
  const { smallFile, server } = fx!;
  const a = objectUrlPath(smallFile, 'filez');
  const repo = await emptyRepo();
  await withFaults({
    [a]: (_req, res) => res.writeHead(302, { Location: '/elsewhere' }).end(),
    elsewhere: (_req, res) => res.writeHead(302, { Location: `/${a}` }).end(),
  }, () => assertRefused(repo, pullFromRemote(repo, { url: server.url, refs: ['main'] }), [`${smallFile}.file`, /redirect loop/], [[smallFile, 'file']]));
  // Redirects that end somewhere are followed.
  const followed = await emptyRepo();
  const moved: Fault = (req, res) => {
    if (req.url?.endsWith('?moved')) serveBytes(fs.readFileSync(join(fx!.srv, a)))(req, res);
    else res.writeHead(301, { Location: `/${a}?moved` }).end();
  };
  await withFaults({ [a]: moved }, () => pullFromRemote(followed, { url: server.url, refs: ['main'] }));
  assert.ok(followed.hasObjectSync('file', smallFile));
});

test('a server that never answers times out, naming the object', async () => {
  const { smallFile, rootTree, server } = fx!;
  const silent: Fault = () => {}; // accepts the request, never responds
  for (const [path, what] of [[objectUrlPath(smallFile, 'filez'), `${smallFile}.file`], [objectUrlPath(rootTree, 'dirtree'), `${rootTree}.dirtree`]] as const) {
    const repo = await emptyRepo();
    await withFaults({ [path]: silent }, () =>
      assertRefused(repo, pullFromRemote(repo, { url: server.url, refs: ['main'], timeoutMs: 300 }), [what, /timed out/], []));
  }
  // A body that starts and then stalls times out too (what came is kept, to be resumed).
  const repo = await emptyRepo();
  await withFaults({ [objectUrlPath(smallFile, 'filez')]: (_req, res) => {
    res.writeHead(200, { 'Content-Length': 100 });
    res.write(Buffer.alloc(10));
  } }, () => assertRefused(repo, pullFromRemote(repo, { url: server.url, refs: ['main'], timeoutMs: 300 }), [`${smallFile}.file`, /timed out/], [[smallFile, 'file']],
    [`pull-${smallFile}.file.partial`]));
});

test('a pull killed with SIGKILL half way resumes: the next pull fetches only what is missing, and the repo is whole', needsOstree, async () => {
  const { server, commit, dir } = fx!;
  const dest = join(dir, `killed-${counter++}`);
  ok(runMco(['ostree', 'init', `--repo=${dest}`, '--mode=bare-user']), 'mco ostree init');
  noFsync(dest);
  ok(runMco(['ostree', 'remote', 'add', `--repo=${dest}`, '--no-gpg-verify', 'origin', server.url]), 'remote add');
  // Content arrives slowly, one object at a time: the child is killed after a third of it.
  server.contentDelayMs = 15;
  const before = server.requests.length;
  const child = spawn(process.execPath, [MCO_JS, 'ostree', 'pull', `--repo=${dest}`, '--concurrency=1', 'origin', 'main'], { stdio: 'ignore' });
  try {
    const deadline = Date.now() + 120_000;
    while (server.requests.slice(before).filter((p) => p.endsWith('.filez')).length < 20) {
      assert.ok(Date.now() < deadline && child.exitCode === null, 'the pull ended before it could be killed');
      await new Promise((r) => setTimeout(r, 10));
    }
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
  } finally {
    server.contentDelayMs = 0;
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
  const repo = await Repo.open(dest);
  assert.deepEqual(fs.readdirSync(join(dest, 'state')), [`${commit}.commitpartial`], 'the interrupted commit is marked partial');
  assert.equal(fs.readdirSync(join(dest, 'tmp')).filter((n) => n.startsWith('mco-transaction-')).length, 1, 'the killed pull left its write mark');
  assert.equal(await repo.readRef('origin:main'), undefined, 'the ref moved before the commit was complete');
  const storedBefore = (await repo.listObjects()).filter(([, t]) => t === 'file').length;
  assert.ok(storedBefore >= 10, `some content was stored before the kill (${storedBefore})`);
  const source = await Repo.open(fx!.srv);
  const totalFiles = (await source.listObjects()).filter(([, t]) => t === 'file').length;

  const result = await pullFromRemote(repo, { url: server.url, refs: ['main'], remoteName: 'origin' });
  assert.equal(result.fetchedContent, totalFiles - storedBefore, 'content fetched again');
  assert.equal(await repo.readRef('origin:main'), commit);
  assert.deepEqual(fs.readdirSync(join(dest, 'state')), []);
  assert.deepEqual(fs.readdirSync(join(dest, 'tmp')).filter((n) => n.startsWith('mco-transaction-')), [], 'the next pull checked and dropped it');
  const fsck = ostreeIn(dest, 'fsck');
  assert.equal(fsck.status, 0, `ostree fsck after the resumed pull:\n${fsck.stderr}`);
});

test('after a pull cut short by a power loss, objects left empty under their names are fetched again, not trusted', needsOstree, async () => {
  const { server, commit, rootTree, smallFile, bigFile } = fx!;
  const repo = await emptyRepo('bare-user');
  await pullFromRemote(repo, { url: server.url, refs: ['main'], remoteName: 'origin' });
  // What ext4 may show after a power cut before the pull's final sync: files renamed into place
  // without their data, and the commit still marked partial.
  for (const [checksum, type] of [[smallFile, 'file'], [bigFile, 'file'], [rootTree, 'dirtree']] as const) fs.truncateSync(repo.objectPath(type, checksum), 0);
  fs.writeFileSync(join(repo.path, 'state', `${commit}.commitpartial`), '');

  const result = await pullFromRemote(repo, { url: server.url, refs: ['main'], remoteName: 'origin' });
  assert.equal(result.repairedObjects, 3);
  assert.deepEqual([result.fetchedContent, result.fetchedMetadata], [2, 1], 'the torn objects, and only them, fetched again');
  assert.deepEqual(fs.readdirSync(join(repo.path, 'state')), []);
  const fsck = ostreeIn(repo.path, 'fsck');
  assert.equal(fsck.status, 0, `ostree fsck after the repairing pull:\n${fsck.stderr}`);
});

/** Serves `bytes` in 16 pieces `gapMs` apart (so that pulls asking at once overlap); counts the responses in progress. */
function slowly(bytes: Buffer, gapMs: number, live: { now: number; most: number }): Fault {
  return (_req, res) => {
    live.most = Math.max(live.most, ++live.now);
    res.on('close', () => live.now--);
    res.writeHead(200, { 'Content-Length': bytes.length });
    const piece = Math.ceil(bytes.length / 16);
    let sent = 0;
    const next = (): void => {
      if (res.destroyed) return;
      const part = bytes.subarray(sent, sent + piece);
      sent += part.length;
      if (sent >= bytes.length) res.end(part);
      else res.write(part, () => setTimeout(next, gapMs));
    };
    next();
  };
}

/** Waits (polling: what is awaited happens in another process or on the server) until `done()`. */
async function until(what: string, done: () => boolean, child?: { exitCode: number | null }): Promise<void> {
  const deadline = Date.now() + 120_000;
  while (!done()) {
    assert.ok(Date.now() < deadline, `timed out waiting: ${what}`);
    assert.ok(child === undefined || child.exitCode === null, `the child exited before ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Runs `mco ostree pull` of origin:main into `dest` as a child process; resolves with its exit status and stderr. */
function mcoPull(dest: string): { child: ReturnType<typeof spawn>; done: Promise<{ status: number | null; stderr: string }> } {
  const child = spawn(process.execPath, [MCO_JS, 'ostree', 'pull', `--repo=${dest}`, 'origin', 'main'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  return { child, done: new Promise((resolve) => child.once('close', (status) => resolve({ status, stderr }))) };
}

test('two pulls of one commit into one repo at once (in one process, or a `mco ostree pull` beside) both succeed, and store exactly the verified objects', needsOstree, async () => {
  const { server, commit, bigFile, srv } = fx!;
  const path = objectUrlPath(bigFile, 'filez');
  const bytes = fs.readFileSync(join(srv, path));
  for (const second of ['in-process', 'mco-child'] as const) {
    const repo = await emptyRepo('bare-user');
    ok(runMco(['ostree', 'remote', 'add', `--repo=${repo.path}`, '--no-gpg-verify', 'origin', server.url]), 'remote add');
    const live = { now: 0, most: 0 };
    const asked = (): number => server.requests.filter((p) => p === path).length;
    const before = asked();
    await withFaults({ [path]: slowly(bytes, 30, live) }, async () => {
      // The first pull is receiving the large object when the second starts: they overlap on it.
      let child: ReturnType<typeof mcoPull> | undefined;
      const first = second === 'mco-child' ? undefined : pullFromRemote(repo, { url: server.url, refs: ['main'], remoteName: 'origin' });
      if (second === 'mco-child') child = mcoPull(repo.path);
      await until('the first pull asks for the large object', () => asked() > before, child?.child);
      const other = await Repo.open(repo.path);
      const results = await Promise.allSettled([first ?? child!.done, pullFromRemote(other, { url: server.url, refs: ['main'], remoteName: 'origin' })]);
      for (const r of results) assert.equal(r.status, 'fulfilled', `${second}: ${r.status === 'rejected' ? String(r.reason) : ''}`);
      if (child) {
        const { status, stderr } = (results[0] as PromiseFulfilledResult<{ status: number | null; stderr: string }>).value;
        assert.equal(status, 0, `mco ostree pull beside another pull failed:\n${stderr}`);
      }
    });
    assert.equal(live.most, 2, `${second}: both pulls were receiving the large object at once`);
    assert.equal(await repo.readRef('origin:main'), commit);
    assert.deepEqual(fs.readdirSync(repo.tmpDir).filter((n) => n !== 'cache'), [], `${second}: temporary files left in tmp/`);
    assert.deepEqual(fs.readdirSync(join(repo.path, 'state')), []);
    const source = await Repo.open(srv);
    assert.deepEqual((await repo.listObjects()).map(([c, t]) => `${c}.${t}`), (await source.listObjects()).map(([c, t]) => `${c}.${t}`));
    const fsck = ostreeIn(repo.path, 'fsck');
    assert.equal(fsck.status, 0, `${second}: ostree fsck after two pulls at once:\n${fsck.stderr}`);
  }
});

test('a pull killed with SIGKILL while receiving a large object leaves what came; the next pull takes it over and asks only for the rest', needsOstree, async () => {
  const { server, commit, bigFile, srv } = fx!;
  const path = objectUrlPath(bigFile, 'filez');
  const good = fs.readFileSync(join(srv, path));
  const half = good.length >> 1;
  const repo = await emptyRepo('bare-user');
  ok(runMco(['ostree', 'remote', 'add', `--repo=${repo.path}`, '--no-gpg-verify', 'origin', server.url]), 'remote add');
  // Half of the object, then nothing: the child holds it, unfinished, when it is killed.
  const kept = (): fs.Stats[] => fs.readdirSync(repo.tmpDir).filter((n) => n.startsWith(`pull-${bigFile}.file.`)).map((n) => fs.statSync(join(repo.tmpDir, n)));
  await withFaults({ [path]: (_req, res) => {
    res.writeHead(200, { 'Content-Length': good.length });
    res.write(good.subarray(0, half));
  } }, async () => {
    const { child, done } = mcoPull(repo.path);
    try {
      await until('the child has written half of the large object', () => kept().some((s) => s.size === half), child);
    } finally {
      child.kill('SIGKILL');
      await done;
    }
  });
  server.ranges.length = 0;
  await pullFromRemote(repo, { url: server.url, refs: ['main'], remoteName: 'origin' });
  assert.deepEqual(server.ranges, [`${path} bytes=${half}-`]);
  assert.equal(await repo.readRef('origin:main'), commit);
  assert.deepEqual(fs.readdirSync(repo.tmpDir).filter((n) => n !== 'cache'), []);
  const fsck = ostreeIn(repo.path, 'fsck');
  assert.equal(fsck.status, 0, `ostree fsck after the resumed pull:\n${fsck.stderr}`);
});

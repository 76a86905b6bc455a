/**
 * `mco ostree remote …`, `pull` and `serve` as a user runs them, side by side with the real
 * `ostree`: the same config written by `remote add`, the same listings, the same errors and
 * exit codes, and a pull's summary line in ostree's words.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { startTrivialHttpd } from '../../ostree/serve-testing.js';
import { assertCleanError, mcoIn, needsOstree, noFsync, ok, ostree, ostreeIn, runMco, scratch } from '../../ostree/testing.js';

const MCO_JS = fileURLToPath(new URL('../mco.js', import.meta.url));

/** Two empty archive repos: one for each tool. */
function twoRepos(dir: string): { ours: string; real: string } {
  const ours = join(dir, 'ours');
  const real = join(dir, 'real');
  ok(runMco(['ostree', 'init', `--repo=${ours}`, '--mode=archive']), 'mco ostree init');
  ok(ostree(['init', `--repo=${real}`, '--mode=archive']), 'ostree init');
  return { ours, real };
}

test('remote add, list and delete write and read the config as the real ostree does', needsOstree, (t) => {
  const { ours, real } = twoRepos(scratch(t, 'mco-remote-'));
  const steps: string[][] = [
    ['remote', 'add', '--no-gpg-verify', '--set=foo=bar', 'origin', 'http://example.com/repo', 'main', 'other'],
    ['remote', 'add', 'second', 'http://example.com/two'],
    ['remote', 'add', '--no-sign-verify', 'third', 'http://example.com/three'],
    ['remote', 'add', '--force', '--set=x=y', 'third', 'http://example.com/four'],
    ['remote', 'add', '--if-not-exists', 'second', 'http://example.com/ignored'],
  ];
  for (const args of steps) {
    ok(mcoIn(ours, args[0]!, ...args.slice(1)), `mco ostree ${args.join(' ')}`);
    ok(ostreeIn(real, args[0]!, ...args.slice(1)), `ostree ${args.join(' ')}`);
  }
  assert.equal(fs.readFileSync(join(ours, 'config'), 'utf8'), fs.readFileSync(join(real, 'config'), 'utf8'));
  for (const list of [['list'], ['list', '-u']]) {
    assert.equal(ok(mcoIn(ours, 'remote', ...list), 'mco remote list').stdout, ok(ostreeIn(real, 'remote', ...list), 'ostree remote list').stdout);
  }
  // The real ostree reads what we wrote.
  assert.equal(ok(ostreeIn(ours, 'remote', 'show-url', 'origin'), 'ostree remote show-url').stdout, 'http://example.com/repo\n');

  const dup = mcoIn(ours, 'remote', 'add', 'second', 'http://x');
  assertCleanError(dup, 'remote add of an existing remote', ['"second" already exists']);
  assert.equal(ostreeIn(real, 'remote', 'add', 'second', 'http://x').status, 1);

  ok(mcoIn(ours, 'remote', 'delete', 'second'), 'mco remote delete');
  ok(ostreeIn(real, 'remote', 'delete', 'second'), 'ostree remote delete');
  assert.equal(fs.readFileSync(join(ours, 'config'), 'utf8'), fs.readFileSync(join(real, 'config'), 'utf8'));
  assertCleanError(mcoIn(ours, 'remote', 'delete', 'second'), 'remote delete of a missing remote', ['Remote "second" not found']);
  ok(mcoIn(ours, 'remote', 'delete', '--if-exists', 'second'), 'remote delete --if-exists');
  assert.equal(runMco(['ostree', 'remote', 'add', `--repo=${ours}`, 'onlyname']).status, 2, 'a missing URL is a usage error');
});

test('pull prints ostree\'s summary, pulls the remote\'s configured branches by default, and fails cleanly', needsOstree, (t) => {
  const dir = scratch(t, 'mco-pull-cli-');
  const tree = join(dir, 'tree');
  fs.mkdirSync(join(tree, 'sub'), { recursive: true });
  fs.writeFileSync(join(tree, 'a'), 'hello\n');
  fs.writeFileSync(join(tree, 'sub', 'b'), 'world\n');
  const srv = join(dir, 'srv');
  ok(ostree(['init', `--repo=${srv}`, '--mode=archive']), 'ostree init');
  noFsync(srv);
  const commit = ok(ostreeIn(srv, 'commit', '-b', 'main', '--timestamp=@1700000000', tree), 'ostree commit').stdout.trim();
  const httpd = startTrivialHttpd(srv);
  t.after(() => httpd.kill());
  const { ours, real } = twoRepos(dir);
  noFsync(ours);
  noFsync(real);
  ok(mcoIn(ours, 'remote', 'add', '--no-gpg-verify', 'origin', httpd.url, 'main'), 'remote add');
  ok(ostreeIn(real, 'remote', 'add', '--no-gpg-verify', 'origin', httpd.url, 'main'), 'remote add');

  const pulled = ok(mcoIn(ours, 'pull', 'origin'), 'mco ostree pull origin');
  const realPulled = ok(ostreeIn(real, 'pull', 'origin', 'main'), 'ostree pull origin main');
  // The counts of content and the bytes written are the real tool's (metadata: it also counts the missing detached metadata).
  const shape = (s: string): string => s.replace(/^\d+ metadata, /, 'N metadata, ').replace(/\d+ (B|KiB) transferred in \d+ seconds/, 'X transferred');
  assert.equal(shape(pulled.stdout), shape(realPulled.stdout));
  assert.equal(ok(mcoIn(ours, 'rev-parse', 'origin:main'), 'rev-parse').stdout.trim(), commit);
  // Remote refs named as ostree resolves them: with a slash, or alone when refs/heads lacks them.
  for (const rev of ['origin/main', 'main']) {
    assert.equal(ok(mcoIn(ours, 'rev-parse', rev), 'rev-parse').stdout.trim(), commit, rev);
    assert.equal(ok(ostreeIn(ours, 'rev-parse', rev), 'rev-parse').stdout.trim(), commit, rev);
  }
  ok(ostreeIn(ours, 'fsck'), 'ostree fsck');
  assert.equal(ok(mcoIn(ours, 'pull', 'origin', 'main'), 'pull again').stdout, '0 metadata, 0 content objects fetched; 0 bytes content written\n');

  assertCleanError(mcoIn(ours, 'pull', 'origin', 'nope'), 'pull of a missing ref', [httpd.url, 'ref nope', '404']);
  assertCleanError(mcoIn(ours, 'pull', 'nope', 'main'), 'pull from a missing remote', ['Remote "nope" not found']);
  ok(mcoIn(ours, 'remote', 'add', 'signed', httpd.url), 'remote add');
  assertCleanError(mcoIn(ours, 'pull', 'signed', 'main'), 'pull from a remote requiring GPG', ['--no-gpg-verify']);
  assert.equal(runMco(['ostree', 'pull', `--repo=${ours}`, '--depth=x', 'origin']).status, 2, 'a bad depth is a usage error');
  assert.match(ok(runMco(['ostree', 'pull', '--help']), 'pull --help').stdout, /--commit-metadata-only/);

  // REF@CHECKSUM pulls the commit named and sets the ref to it, whatever the remote's ref says.
  const second = ok(ostreeIn(srv, 'commit', '-b', 'main', '--timestamp=@1700000100', tree), 'ostree commit').stdout.trim();
  ok(mcoIn(ours, 'pull', 'origin', `main@${commit}`), 'pull REF@CHECKSUM');
  assert.equal(ok(mcoIn(ours, 'rev-parse', 'origin:main'), 'rev-parse').stdout.trim(), commit);
  ok(mcoIn(ours, 'pull', 'origin', 'main'), 'pull');
  assert.equal(ok(mcoIn(ours, 'rev-parse', 'origin:main'), 'rev-parse').stdout.trim(), second);
  assert.equal(mcoIn(ours, 'pull', 'origin', 'main@0123').status, 2, 'a short checksum after @ is a usage error');
});

test('mco ostree serve serves a repo the real ostree pulls from, until interrupted', needsOstree, async (t) => {
  const dir = scratch(t, 'mco-serve-cli-');
  const srv = join(dir, 'srv');
  const tree = join(dir, 'tree');
  fs.mkdirSync(tree);
  fs.writeFileSync(join(tree, 'x'), 'x\n');
  ok(ostree(['init', `--repo=${srv}`, '--mode=archive']), 'ostree init');
  const commit = ok(ostreeIn(srv, 'commit', '-b', 'main', tree), 'ostree commit').stdout.trim();
  const child = spawn(process.execPath, [MCO_JS, 'ostree', 'serve', `--repo=${srv}`, '--listen=127.0.0.1:0'], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.after(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /at (http:\/\/\S+)\n/.exec(out);
      if (m) resolve(m[1]!);
    });
    child.once('exit', (code) => reject(new Error(`mco ostree serve exited (${code}) before serving`)));
  });
  const dest = join(dir, 'dest');
  ok(ostree(['init', `--repo=${dest}`, '--mode=bare-user']), 'ostree init');
  ok(ostreeIn(dest, 'remote', 'add', '--no-gpg-verify', 'origin', url), 'ostree remote add');
  // The server is another process: a synchronous spawn is fine here.
  ok(ostreeIn(dest, 'pull', 'origin', 'main'), 'ostree pull from mco ostree serve');
  assert.equal(ok(ostreeIn(dest, 'rev-parse', 'origin:main'), 'rev-parse').stdout.trim(), commit);
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  assert.equal(await exited, 0);
  assert.match(stderr, /Served \d+ requests, \d+ bytes/);
  assert.equal(runMco(['ostree', 'serve', `--repo=${join(dir, 'nothing')}`]).status, 1, 'not a repository');
});

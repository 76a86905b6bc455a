/**
 * Pulls over https from a server whose certificate a private CA issued, configured per remote
 * as ostree users do (`tls-ca-path`, `tls-permissive`, `tls-client-cert-path` +
 * `tls-client-key-path`), side by side with the real `ostree pull` against the same server:
 * the same pulls succeed and fail, and ours fail in words that name the remote and what to set.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { makeTestPki, mcoAsync, ostreeAsync, startHttpsServer, type HttpsServer, type TestPki } from './serve-testing.js';
import { needsOstree, noFsync, ok, ostree, ostreeIn, runMco, writeBigFile } from './testing.js';

interface Fixture {
  dir: string;
  pki: TestPki;
  /** An archive repo the real ostree wrote: `main`. */
  srv: string;
  commit: string;
  server: HttpsServer;
  /** The same repo, served only to clients with a certificate the CA issued. */
  mutual: HttpsServer;
  /** The same as `mutual`, over TLS 1.2 at most: the client certificate is judged within the handshake. */
  mutual12: HttpsServer;
  /** The same as `mutual`, hanging up on every request for an object. */
  flaky: HttpsServer;
  /** The same repo, served with a certificate for another address. */
  misnamed: HttpsServer;
}

let fx: Fixture | undefined;

before(async () => {
  if (needsOstree.skip) return;
  const dir = fs.mkdtempSync(join(tmpdir(), 'mco-pull-https-'));
  const pki = makeTestPki(join(dir, 'pki'));
  const tree = join(dir, 'tree');
  fs.mkdirSync(join(tree, 'etc'), { recursive: true });
  fs.writeFileSync(join(tree, 'etc/hello'), 'hello\n');
  writeBigFile(join(tree, 'big'), 2); // past the in-memory limit: streamed through tmp/
  const srv = join(dir, 'srv');
  ok(ostree(['init', `--repo=${srv}`, '--mode=archive']), 'ostree init');
  noFsync(srv);
  ok(ostreeIn(srv, 'commit', '-b', 'main', '--timestamp=@1700000000', tree), 'ostree commit');
  const commit = fs.readFileSync(join(srv, 'refs/heads/main'), 'utf8').trim();
  fx = { dir, pki, srv, commit, server: await startHttpsServer(srv, pki), mutual: await startHttpsServer(srv, pki, { clientCertificates: true }),
    mutual12: await startHttpsServer(srv, pki, { clientCertificates: true, tls12: true }),
    flaky: await startHttpsServer(srv, pki, { clientCertificates: true, hangUpUnder: '/objects/' }),
    misnamed: await startHttpsServer(srv, pki, { misnamed: true }),
  };
});

after(async () => {
  if (!fx) return;
  await fx.server.close();
  await fx.mutual.close();
  await fx.mutual12.close();
  await fx.flaky.close();
  await fx.misnamed.close();
  fs.rmSync(fx.dir, { recursive: true, force: true });
});

let counter = 0;

/** A fresh repo for each tool, with remote `origin` at `url` and `set` as `--set=` options. */
function reposWithRemote(url: string, set: string[]): { ours: string; real: string } {
  const n = counter++;
  const repos = { ours: join(fx!.dir, `ours-${n}`), real: join(fx!.dir, `real-${n}`) };
  ok(runMco(['ostree', 'init', `--repo=${repos.ours}`, '--mode=bare-user']), 'mco ostree init');
  ok(ostree(['init', `--repo=${repos.real}`, '--mode=bare-user']), 'ostree init');
  for (const repo of [repos.ours, repos.real]) noFsync(repo);
  const args = ['remote', 'add', '--no-gpg-verify', ...set.map((kv) => `--set=${kv}`), 'origin', url];
  ok(runMco(['ostree', args[0]!, `--repo=${repos.ours}`, ...args.slice(1)]), 'mco ostree remote add');
  ok(ostreeIn(repos.real, args[0]!, ...args.slice(1)), 'ostree remote add');
  return repos;
}

/** `pull origin main` by both tools; ours must succeed exactly when the real one does. */
async function pullBoth(repos: { ours: string; real: string }, what: string): Promise<{ ok: boolean; stderr: string }> {
  const [ours, real] = await Promise.all([
    mcoAsync(['ostree', 'pull', `--repo=${repos.ours}`, 'origin', 'main']),
    ostreeAsync(['pull', `--repo=${repos.real}`, 'origin', 'main']),
  ]);
  assert.equal(ours.status === 0, real.status === 0, `${what}: ours exited ${ours.status}, the real ostree ${real.status}\nours: ${ours.stderr}\nreal: ${real.stderr}`);
  if (ours.status === 0) {
    assert.equal(fs.readFileSync(join(repos.ours, 'refs/remotes/origin/main'), 'utf8').trim(), fx!.commit, what);
    const fsck = ostreeIn(repos.ours, 'fsck');
    assert.equal(fsck.status, 0, `${what}: ostree fsck of our repo:\n${fsck.stderr}`);
  } else {
    assert.equal(ours.status, 1, `${what}: ${ours.stderr}`);
    assert.ok(!fs.existsSync(join(repos.ours, 'refs/remotes/origin/main')), `${what}: a ref was written`);
  }
  return { ok: ours.status === 0, stderr: ours.stderr };
}

test('remote add --set=tls-… writes the config as the real ostree does', needsOstree, () => {
  const { pki } = fx!;
  const repos = reposWithRemote('https://example.com/repo', [
    `tls-ca-path=${pki.caPath}`, 'tls-permissive=true', `tls-client-cert-path=${pki.clientCertPath}`, `tls-client-key-path=${pki.clientKeyPath}`,
  ]);
  assert.equal(fs.readFileSync(join(repos.ours, 'config'), 'utf8'), fs.readFileSync(join(repos.real, 'config'), 'utf8'));
});

test('a server with a private CA: refused without tls-ca-path, naming the remote and the certificate problem; pulled with it, or with tls-permissive', needsOstree, async () => {
  const { pki, server, misnamed } = fx!;
  const bare = reposWithRemote(server.url, []);
  const refused = await pullBoth(bare, 'no TLS settings');
  assert.equal(refused.ok, false);
  assert.ok(refused.stderr.includes(`mco ostree config set --repo=${bare.ours} 'remote "origin".tls-ca-path' CA.pem`), refused.stderr);
  assert.match(refused.stderr, /^error: Pulling config from https:\/\/127\.0\.0\.1:\d+\/: Unacceptable TLS certificate: unable to verify the first certificate \(UNABLE_TO_VERIFY_LEAF_SIGNATURE\); trust the CA that issued it: mco ostree config set --repo=\S+ 'remote "origin"\.tls-ca-path' CA\.pem, or skip verification: mco ostree config set --repo=\S+ 'remote "origin"\.tls-permissive' true\n$/);

  assert.equal((await pullBoth(reposWithRemote(server.url, [`tls-ca-path=${pki.caPath}`]), 'tls-ca-path')).ok, true);
  assert.equal((await pullBoth(reposWithRemote(server.url, ['tls-permissive=true']), 'tls-permissive')).ok, true);
  // A CA bundle that did not issue the server's certificate is no better than none.
  const wrong = await pullBoth(reposWithRemote(server.url, [`tls-ca-path=${pki.strangerCertPath}`]), 'the wrong CA');
  assert.match(wrong.stderr, /remote "origin"\.tls-ca-path/);
  // The host in the URL must be one the certificate names.
  const elsewhere = await pullBoth(reposWithRemote(misnamed.url, [`tls-ca-path=${pki.caPath}`]), 'a certificate for another address');
  assert.match(elsewhere.stderr, /Unacceptable TLS certificate: .*127\.0\.0\.1.*192\.0\.2\.1.*; use a URL with a name the certificate holds, or skip verification: .*tls-permissive' true\n$/);
});

test('a server wanting a client certificate: refused without one, naming the keys to set; pulled with tls-client-cert-path and tls-client-key-path', needsOstree, async () => {
  const { pki, mutual } = fx!;
  const trust = `tls-ca-path=${pki.caPath}`;
  const refused = await pullBoth(reposWithRemote(mutual.url, [trust]), 'no client certificate');
  assert.match(refused.stderr, /The server refused the TLS handshake, wanting a client certificate it accepts \(.*\): mco ostree config set --repo=\S+ 'remote "origin"\.tls-client-cert-path' CERT\.pem and .*tls-client-key-path' KEY\.pem\n$/);
  // Node's server hangs up on a client certificate it does not trust (no TLS alert): the message names the certificate presented.
  const stranger = await pullBoth(reposWithRemote(mutual.url, [trust, `tls-client-cert-path=${pki.strangerCertPath}`, `tls-client-key-path=${pki.strangerKeyPath}`]), 'a client certificate the server does not trust');
  assert.equal(stranger.ok, false);
  assert.ok(stranger.stderr.includes(`does not accept the client certificate ${pki.strangerCertPath} (tls-client-cert-path of remote "origin")`), stranger.stderr);
  // Over TLS 1.2 the refusal comes within the handshake: named the same way.
  const stranger12 = await pullBoth(reposWithRemote(fx!.mutual12.url, [trust, `tls-client-cert-path=${pki.strangerCertPath}`, `tls-client-key-path=${pki.strangerKeyPath}`]), 'a client certificate a TLS 1.2 server does not trust');
  assert.equal(stranger12.ok, false);
  assert.ok(/The server hung up in the TLS handshake \(.+\): probably it does not accept the client certificate /.test(stranger12.stderr), stranger12.stderr);
  assert.ok(stranger12.stderr.includes(`the client certificate ${pki.strangerCertPath} (tls-client-cert-path of remote "origin")`), stranger12.stderr);
  // A server that answered with the certificate and then hangs up is not said to refuse it.
  const dropped = await pullBoth(reposWithRemote(fx!.flaky.url, [trust, `tls-client-cert-path=${pki.clientCertPath}`, `tls-client-key-path=${pki.clientKeyPath}`]), 'a server hanging up after its first answers');
  assert.equal(dropped.ok, false);
  assert.match(dropped.stderr, /connection closed/);
  assert.doesNotMatch(dropped.stderr, /client certificate/);
  const accepted = await pullBoth(reposWithRemote(mutual.url, [trust, `tls-client-cert-path=${pki.clientCertPath}`, `tls-client-key-path=${pki.clientKeyPath}`]), 'the client certificate');
  assert.equal(accepted.ok, true);
  // Half a client certificate is refused before any request, in libostree's words.
  const half = await pullBoth(reposWithRemote(mutual.url, [trust, `tls-client-cert-path=${pki.clientCertPath}`]), 'a certificate without its key');
  assert.match(half.stderr, /Remote "origin" must specify both "tls-client-cert-path" and "tls-client-key-path"/);
  const missing = await pullBoth(reposWithRemote(mutual.url, [`tls-ca-path=${join(fx!.dir, 'no-such.pem')}`]), 'a CA file that is not there');
  assert.match(missing.stderr, /Reading tls-ca-path of remote "origin" \(.*no-such\.pem\): ENOENT/);
});

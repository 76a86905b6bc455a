/**
 * upgrade() beside the real `ostree admin upgrade`: twin sysroots whose origin names a file://
 * remote; both pull the moved ref and deploy it with the /etc and kernel arguments carried over.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { ok, ostree } from '../ostree/testing.js';
import { needsOstree, removeWithSysroot, writeOsTree } from './sysroot-fixtures.js';
import { loadSysroot } from './sysroot.js';
import { upgrade } from './upgrade.js';

const REF = 'testos/x86_64';

/** An archive repo with one commit per version (timestamps in version order), and twin sysroots with it as remote "origin". */
function setup(t: TestContext): { src: string; commit(version: string, timestamp: number): string; sysroots: string[] } {
  const dir = mkdtempSync(join(tmpdir(), 'mco-upgrade-'));
  const src = join(dir, 'src');
  ok(ostree(['init', `--repo=${src}`, '--mode=archive']), 'init src');
  const sysroots = ['ours', 'theirs'].map((name) => join(dir, name));
  t.after(() => {
    for (const s of sysroots) removeWithSysroot(s, s);
    rmSync(dir, { recursive: true, force: true });
  });
  const commit = (version: string, timestamp: number): string => {
    const tree = join(dir, `tree-${version}`);
    writeOsTree(tree, { version, etc: { 'app.conf': `v=${version}\n` } });
    return ok(ostree(['commit', `--repo=${src}`, '-b', REF, `--timestamp=@${timestamp}`, `--add-metadata-string=version=${version}`, tree]), 'commit').stdout.trim();
  };
  commit('1', 1000);
  for (const s of sysroots) {
    mkdirSync(s);
    ok(ostree(['admin', 'init-fs', s]), 'init-fs');
    ok(ostree(['admin', 'os-init', `--sysroot=${s}`, 'testos']), 'os-init');
    const repo = `--repo=${join(s, 'ostree/repo')}`;
    ok(ostree(['remote', 'add', repo, '--set=gpg-verify=false', 'origin', `file://${src}`, REF]), 'remote add');
    ok(ostree(['pull-local', repo, '--remote=origin', src, REF]), 'pull-local');
    ok(ostree(['admin', 'deploy', `--sysroot=${s}`, '--os=testos', '--karg=root=LABEL=root', `origin:${REF}`]), 'deploy');
    writeFileSync(join(s, 'ostree/deploy/testos/deploy', `${(ok(ostree(['rev-parse', repo, `origin:${REF}`]), 'rev-parse').stdout.trim())}.0`, 'etc/local.conf'), 'mine\n');
  }
  return { src, commit, sysroots };
}

test('upgrade() pulls the moved ref from a file:// remote and deploys it as ostree admin upgrade does', needsOstree, async (t) => {
  const { commit, sysroots } = setup(t);
  const [ours, theirs] = sysroots as [string, string];
  assert.deepEqual(await upgrade(ours, { osname: 'testos' }), { changed: false, revision: (await loadSysroot(ours)).deployments[0]!.checksum });
  assert.equal(ok(ostree(['admin', 'upgrade', `--sysroot=${theirs}`, '--os=testos']), 'real no-op').stdout, 'No update available.\n');

  const v2 = commit('2', 2000);
  const result = await upgrade(ours, { osname: 'testos' });
  ok(ostree(['admin', 'upgrade', `--sysroot=${theirs}`, '--os=testos']), 'real upgrade');
  assert.equal(result.revision, v2);
  const status = (s: string): string => ok(ostree(['admin', 'status', `--sysroot=${s}`]), 'status').stdout;
  assert.equal(status(ours), status(theirs));
  const [now] = (await loadSysroot(ours)).deployments;
  assert.equal(now!.checksum, v2);
  assert.deepEqual(now!.kargs, ['root=LABEL=root'], 'the kernel arguments are carried over');
  assert.equal(now!.origin?.get('origin', 'refspec'), `origin:${REF}`);
});

test('upgrade() refuses an older commit unless allowed, and needs a stateroot with an origin', needsOstree, async (t) => {
  const { commit, sysroots } = setup(t);
  const [ours] = sysroots as [string];
  const v2 = commit('2', 2000);
  await upgrade(ours, { osname: 'testos' });
  const old = commit('0', 500);
  await assert.rejects(upgrade(ours, { osname: 'testos' }), new RegExp(`^SysrootError: Upgrade target revision '${old}' with timestamp '1970-01-01T00:08:20.000Z' is chronologically older than current revision '${v2}'.*; use --allow-downgrade to permit$`));
  assert.equal((await loadSysroot(ours)).deployments[0]!.checksum, v2, 'nothing deployed');
  assert.equal((await upgrade(ours, { osname: 'testos', allowDowngrade: true })).revision, old);
  await assert.rejects(upgrade(ours, {}), /^SysrootError: Not currently booted into an OSTree system and no OS specified$/);
  await assert.rejects(upgrade(ours, { osname: 'other' }), /^SysrootError: No previous deployment for OS 'other'$/);
});

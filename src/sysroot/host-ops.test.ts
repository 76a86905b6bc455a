import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { ok, runMco } from '../ostree/testing.js';
import { bootSimulatedNode } from './boot.js';
import { needsOstree, RealSysroot } from './sysroot-fixtures.js';

/** `mco ARGS… --sysroot=S` succeeding. */
const mco = (s: RealSysroot, ...args: string[]) => ok(runMco([...args, `--sysroot=${s.path}`]), `mco ${args.join(' ')}`).stdout;

/** Two sysroots with the same two commits: one driven by us, one by the real tool. */
function twins(t: TestContext): { ours: RealSysroot; theirs: RealSysroot; v1: string; v2: string } {
  const [ours, theirs] = [RealSysroot.forTest(t), RealSysroot.forTest(t)];
  let v1 = '';
  let v2 = '';
  for (const s of [ours, theirs]) {
    v1 = s.commit('rhcos', { version: '46.82.1-0', etc: { 'a.conf': '1\n' } });
    v2 = s.commit('rhcos', { version: '46.82.2-0', etc: { 'a.conf': '2\n' }, initramfs: 'INITRD-B\n' });
  }
  mco(ours, 'ostree', 'admin', 'deploy', '--os=rhcos', '--karg=root=LABEL=root', v1);
  theirs.deploy('--os=rhcos', '--karg=root=LABEL=root', v1);
  mco(ours, 'ostree', 'admin', 'deploy', '--os=rhcos', v2);
  theirs.deploy('--os=rhcos', v2);
  assert.equal(ours.status(), theirs.status(), 'two deploys agree');
  return { ours, theirs, v1, v2 };
}

test('mco ostree admin pin, --unpin and undeploy leave the sysroot ostree admin status shows after the real verbs', needsOstree, (t) => {
  const { ours, theirs } = twins(t);
  mco(ours, 'ostree', 'admin', 'pin', '1');
  theirs.admin('pin', '1');
  assert.equal(ours.status(), theirs.status(), 'after pin');
  mco(ours, 'ostree', 'admin', 'pin', '--unpin', '1');
  theirs.admin('pin', '--unpin', '1');
  assert.equal(ours.status(), theirs.status(), 'after unpin');
  mco(ours, 'ostree', 'admin', 'undeploy', '1');
  theirs.admin('undeploy', '1');
  assert.equal(ours.status(), theirs.status(), 'after undeploy');
  assert.deepEqual([...ours.entries().values()], [...theirs.entries().values()], 'same boot entries');
});

test('mco host rollback makes the previous deployment the default, read so by the real ostree', needsOstree, (t) => {
  const { ours, v1, v2 } = twins(t);
  assert.match(ours.status(), new RegExp(`rhcos ${v2}\\.0[\\s\\S]*rhcos ${v1}\\.0`));
  assert.match(mco(ours, 'host', 'rollback'), new RegExp(`Moving '${v1}\\.0' to be first deployment`));
  assert.match(ours.status(), new RegExp(`rhcos ${v1}\\.0[\\s\\S]*rhcos ${v2}\\.0`));
  // The real tool deploys on top of a rolled-back sysroot.
  ours.deploy('--os=rhcos', v2);
  assert.match(ours.status(), new RegExp(`rhcos ${v2}\\.1[\\s\\S]*rhcos ${v1}\\.0`));
});

test('mco host kargs --append makes a new deployment of the same commit whose boot entry carries the argument', needsOstree, (t) => {
  const { ours, v2 } = twins(t);
  assert.equal(mco(ours, 'host', 'kargs'), 'root=LABEL=root\n');
  mco(ours, 'host', 'kargs', '--append=console=ttyS0', '--replace=root=LABEL=boot');
  assert.equal(mco(ours, 'host', 'kargs'), 'root=LABEL=boot console=ttyS0\n');
  assert.match(ours.status(), new RegExp(`rhcos ${v2}\\.1[\\s\\S]*rhcos ${v2}\\.0`));
  const entries = [...ours.entries().values()].join('\n');
  assert.match(entries, /options root=LABEL=boot console=ttyS0 ostree=/);
  const err = runMco(['host', 'kargs', '--delete=nope', `--sysroot=${ours.path}`]);
  assert.equal(err.status, 1);
  assert.equal(err.stderr, "error: No karg 'nope' found\n");
});

test('mco host rebase REPO:CHECKSUM with a custom origin deploys it as rpm-ostree would for a pivot', needsOstree, (t) => {
  const { ours } = twins(t);
  const image = RealSysroot.forTest(t); // its repo stands in for the OS image's /srv/repo
  image.commit('x', { version: '46.82.1-0' });
  const v3 = image.commit('x', { version: '46.82.3-0', etc: { 'a.conf': '3\n' } });
  const url = 'pivot://quay.io/openshift-release-dev/ocp-v4.0-art-dev@sha256:' + 'ab'.repeat(32);
  mco(ours, 'host', 'rebase', `${image.repo}:${v3}`, `--custom-origin-url=${url}`, '--custom-origin-description=Managed by machine-config-operator');
  const origin = readFileSync(join(ours.deployDir('rhcos', `${v3}.0`) + '.origin'), 'utf8');
  assert.equal(origin, `[origin]\nrefspec=${v3}\ncustom-url=${url}\ncustom-description=Managed by machine-config-operator\n`);
  assert.match(ours.status(), new RegExp(`rhcos ${v3}\\.0\\n\\s+Version: 46\\.82\\.3-0\\n\\s+origin refspec: ${v3}`));
  const host = mco(ours, 'host', 'status');
  assert.match(host, new RegExp(`^  ${url.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}\\n\\s+CustomOrigin: Managed by machine-config-operator\\n\\s+Version: 46\\.82\\.3-0 `, 'm'));
  assert.match(ok(runMco(['ostree', 'fsck', `--repo=${ours.repo}`]), 'fsck').stdout, /no errors found/);
});

test('mco host cleanup -r drops the rollback deployment, read so by the real ostree', needsOstree, (t) => {
  const { ours, v1, v2 } = twins(t);
  assert.match(mco(ours, 'host', 'cleanup', '-r'), new RegExp(`Deleted deployment ${v1}\\.0`));
  const status = ours.status();
  assert.match(status, new RegExp(`rhcos ${v2}\\.0`));
  assert.doesNotMatch(status, new RegExp(v1));
});

test('a node booted from its default entry\'s options line keeps knowing what it booted after the next deploy: mco host status shows the pending Diff', needsOstree, async (t) => {
  const s = RealSysroot.forTest(t);
  const pkgs = (release: string) => `rpmostree.rpmdb.pkglist=[("bash","0","5.1","${release}","x86_64"),("glibc","0","2.28","1.el8","x86_64")]`;
  const v1 = s.commit('rhcos', { version: '46.82.1-0', metadata: [pkgs('1.el8')] });
  mco(s, 'ostree', 'admin', 'deploy', '--os=rhcos', '--karg=root=LABEL=root', v1);
  const cmdline = join(s.path, '..', 'cmdline');
  await bootSimulatedNode(s.path, cmdline);
  // What a bootloader passes: the bootlink, which the next deploy removes.
  assert.match(readFileSync(cmdline, 'utf8'), /^root=LABEL=root ostree=\/ostree\/boot\.1\/rhcos\/[0-9a-f]{64}\/0\n?$/);
  const v2 = s.commit('rhcos', { version: '46.82.2-0', metadata: [pkgs('2.el8')], initramfs: 'INITRD-B\n' });
  ok(runMco(['ostree', 'admin', 'deploy', `--sysroot=${s.path}`, v2], { env: { ...process.env, MCO_KERNEL_CMDLINE_FILE: cmdline } }), 'deploy while booted');
  const status = ok(runMco(['host', 'status', `--sysroot=${s.path}`], { env: { ...process.env, MCO_KERNEL_CMDLINE_FILE: cmdline } }), 'host status').stdout;
  // Deployed by checksum: the origin line names it, and there is no Commit: line.
  assert.match(status, new RegExp(`^  ostree://${v2}\\n\\s+Version: 46\\.82\\.2-0 .*\\n\\s+Diff: 1 upgraded\\n\\n● ostree://${v1}\\n\\s+Version: 46\\.82\\.1-0 `, 'm'));
});

test('mco ostree admin set-origin writes the origin and remote config that ostree admin set-origin writes', needsOstree, (t) => {
  const { ours, theirs, v1 } = twins(t);
  for (const args of [['--index=1', '--set=gpg-verify=false', 'myremote', 'http://example.invalid/repo', 'rhcos/x'], ['--index=0', 'myremote', 'http://example.invalid/other']]) {
    mco(ours, 'ostree', 'admin', 'set-origin', ...args);
    theirs.admin('set-origin', ...args);
  }
  const read = (s: RealSysroot, rel: string) => readFileSync(join(s.path, rel), 'utf8');
  assert.equal(read(ours, 'ostree/repo/config'), read(theirs, 'ostree/repo/config'));
  assert.equal(read(ours, `ostree/deploy/rhcos/deploy/${v1}.0.origin`), read(theirs, `ostree/deploy/rhcos/deploy/${v1}.0.origin`));
  assert.equal(ours.status(), theirs.status());
  const offline = runMco(['ostree', 'admin', 'set-origin', `--sysroot=${ours.path}`, 'r', 'http://x']);
  assert.equal(offline.stderr, 'error: Not currently booted into an OSTree system: use --index\n');
});

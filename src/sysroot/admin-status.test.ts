import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { ostree } from '../ostree/testing.js';
import { Repo } from '../ostree/repo.js';
import { AdminStatusError, formatAdminStatus } from './admin-status.js';
import { needsBootSim, needsOstree, RealSysroot } from './sysroot-fixtures.js';
import { loadSysroot } from './sysroot.js';

/** Our `ostree admin status`, offline or with a kernel command line. */
async function ours(s: RealSysroot, cmdline?: string): Promise<string> {
  const state = await loadSysroot(s.path, cmdline === undefined ? {} : { readCmdline: () => cmdline });
  return formatAdminStatus(state, await Repo.open(s.repo));
}


/** Deployment directories in list order (from the loaded state). */
async function deployDirs(s: RealSysroot): Promise<string[]> {
  return (await loadSysroot(s.path)).deployments.map((d) => s.deployDir(d.osname, `${d.checksum}.${d.serial}`));
}

describe('formatAdminStatus() prints what ostree admin status --sysroot prints', needsOstree, () => {
  test('"No deployments." for a fresh init-fs sysroot', async (t) => {
    const s = RealSysroot.forTest(t);
    assert.equal(s.status(), 'No deployments.\n');
    assert.equal(await ours(s), s.status());
  });

  test('versions, a source title, a pin, and two serials of one commit', async (t) => {
    const s = RealSysroot.forTest(t);
    s.commit('rhcos', { version: '46.82.202012010000-0', sourceTitle: 'oci-archive:/tmp/rhcos.ociarchive' });
    s.deploy('--os=rhcos', '--karg=root=LABEL=root', 'rhcos');
    s.commit('rhcos', { version: '46.82.202101010000-0' });
    s.deploy('--os=rhcos', 'rhcos');
    s.admin('pin', '1');
    s.deploy('--os=rhcos', 'rhcos');
    const real = s.status();
    assert.match(real, /Pinned: yes/);
    assert.match(real, /`- oci-archive/);
    assert.equal(await ours(s), real);
  });

  test('origins: none, without refspec, unlocked hotfix, pinned=1, a pivot origin and a remote refspec', async (t) => {
    const s = RealSysroot.forTest(t);
    const a = s.commit('rhcos', { version: 'a', sourceTitle: 'title a' });
    s.deploy('--os=rhcos', '--karg=root=LABEL=root', 'rhcos');
    s.commit('rhcos', { version: 'b', sourceTitle: 'title b' });
    s.deploy('--os=rhcos', 'rhcos');
    const [first, second] = await deployDirs(s);
    const cases: [string, string | null, string | null][] = [
      ['no origin files', null, null],
      ['no refspec; unlocked hotfix with a pin', '[origin]\nunlocked=hotfix\n', '[origin]\nrefspec=rhcos\nunlocked=development\n\n[libostree-transient]\npinned=1\n'],
      ['a pivot origin; a remote refspec', `[origin]\nrefspec=${a}\ncustom-url=pivot://quay.io/x/y@sha256:${'0'.repeat(64)}\ncustom-description=Managed by machine-config-operator\n`, '[origin]\nrefspec=myremote:rhcos/4.6\n'],
      ['an empty origin; pinned=false', '', '[origin]\nrefspec=rhcos\n[libostree-transient]\npinned=false\n'],
    ];
    for (const [name, o1, o2] of cases) {
      for (const [dir, text] of [[first!, o1], [second!, o2]] as const) {
        fs.rmSync(`${dir}.origin`, { force: true });
        if (text !== null) fs.writeFileSync(`${dir}.origin`, text);
      }
      assert.equal(await ours(s), s.status(), name);
    }
  });

  test('no Version line when the repo lacks the commit or version is not a string', async (t) => {
    const s = RealSysroot.forTest(t);
    s.commit('rhcos', { version: 'kept' });
    s.deploy('--os=rhcos', '--karg=root=LABEL=root', 'rhcos');
    s.commit('rhcos', { metadata: ['version=5', 'ostree.source-title=7'] });
    s.deploy('--os=rhcos', 'rhcos');
    const real = s.status();
    assert.doesNotMatch(real.split('\n').slice(0, 3).join('\n'), /Version|`-/);
    assert.equal(await ours(s), real);
    const first = (await loadSysroot(s.path)).deployments[1]!.checksum;
    fs.rmSync(join(s.repo, 'objects', first.slice(0, 2), `${first.slice(2)}.commit`));
    const without = s.status();
    assert.doesNotMatch(without, /Version: kept/);
    assert.equal(await ours(s), without);
  });

  test('a refspec of a remote with gpg-verify and an unsigned commit fails with ostree\'s message after the lines before it', async (t) => {
    const s = RealSysroot.forTest(t);
    s.commit('rhcos', { version: '1', sourceTitle: 'unsigned' });
    s.deploy('--os=rhcos', '--karg=root=LABEL=root', 'rhcos');
    s.commit('rhcos', { version: '2' });
    s.deploy('--os=rhcos', 'rhcos');
    const [, older] = await deployDirs(s);
    fs.writeFileSync(`${older}.origin`, '[origin]\nrefspec=signed:rhcos\n');
    const addRemote = (...flags: string[]): void => {
      const r = ostree(['remote', 'add', `--repo=${s.repo}`, ...flags, 'signed', 'http://example.invalid/repo']);
      assert.equal(r.status, 0, r.stderr);
    };
    addRemote('--no-gpg-verify');
    assert.equal(await ours(s), s.status(), 'gpg-verify=false');
    assert.equal(ostree(['remote', 'delete', `--repo=${s.repo}`, 'signed']).status, 0);
    addRemote();
    const real = ostree(['admin', 'status', `--sysroot=${s.path}`]);
    assert.equal(real.status, 1);
    await assert.rejects(ours(s), (e: Error) => {
      assert.ok(e instanceof AdminStatusError, String(e));
      assert.equal(`error: ${e.message}\n`, real.stderr);
      assert.equal(e.partialOutput, real.stdout);
      return true;
    });
  });

  test('two stateroots', async (t) => {
    const s = RealSysroot.forTest(t, ['rhcos', 'fedora']);
    s.commit('rhcos', { version: '46' });
    s.deploy('--os=rhcos', '--karg=root=LABEL=root', 'rhcos');
    s.commit('fedora', { version: '38', kernel: 'F\n' });
    s.deploy('--os=fedora', '--karg=root=LABEL=root', 'fedora');
    s.commit('rhcos', { version: '47' });
    s.deploy('--os=rhcos', 'rhcos');
    assert.equal(await ours(s), s.status());
  });
});

describe('formatAdminStatus() prints what ostree admin status prints when booted (§6.3)', needsBootSim, () => {
  test('the booted deployment marked *, with (pending) and (rollback), whichever of three is booted', async (t) => {
    const s = RealSysroot.forTest(t);
    s.commit('rhcos', { version: '1' });
    s.deploy('--os=rhcos', '--karg=root=LABEL=root', 'rhcos');
    s.commit('rhcos', { version: '2' });
    s.deploy('--os=rhcos', 'rhcos');
    s.admin('pin', '1');
    s.commit('rhcos', { version: '3', kernel: 'K3\n' });
    s.deploy('--os=rhcos', 'rhcos');
    const dirs = await deployDirs(s);
    assert.equal(dirs.length, 3);
    for (const [i, dir] of dirs.entries()) {
      const real = s.bootSim(dir, 'ostree admin status');
      assert.equal(real.status, 0, real.stderr);
      assert.match(real.stdout, /^\* /m);
      assert.equal(await ours(s, s.cmdlineOf(i)), real.stdout, `deployment ${i} booted`);
    }
  });

  test('a staged deployment first, marked (staged), and the deployment between it and the booted one unmarked', async (t) => {
    const s = RealSysroot.forTest(t);
    s.commit('rhcos', { version: '1' });
    s.deploy('--os=rhcos', '--karg=root=LABEL=root', 'rhcos');
    s.commit('rhcos', { version: '2' });
    s.deploy('--os=rhcos', 'rhcos');
    s.commit('rhcos', { version: '3', sourceTitle: 'staged title' });
    const [, older] = await deployDirs(s);
    const real = s.bootSim(older!, 'ostree admin deploy --stage --os=rhcos rhcos >&2 && ostree admin status && mkdir -p /sysroot/run/ostree && cp /run/ostree/staged-deployment /sysroot/run/ostree/');
    assert.equal(real.status, 0, real.stderr);
    assert.match(real.stdout, /^ {2}rhcos [0-9a-f]{64}\.0 \(staged\)\n/);
    assert.equal(await ours(s, s.cmdlineOf(1)), real.stdout);
    // Offline the real tool shows no staged deployment; neither do we.
    assert.equal(await ours(s), s.status());
  });

  test('pending and rollback only within the booted stateroot', async (t) => {
    const s = RealSysroot.forTest(t, ['rhcos', 'fedora']);
    s.commit('rhcos', { version: '46' });
    s.deploy('--os=rhcos', '--karg=root=LABEL=root', 'rhcos');
    s.commit('rhcos', { version: '47' });
    s.deploy('--os=rhcos', 'rhcos');
    s.commit('fedora', { version: '38', kernel: 'F\n' });
    s.deploy('--os=fedora', '--karg=root=LABEL=root', 'fedora');
    const dirs = await deployDirs(s);
    assert.equal(dirs.length, 3);
    for (const [i, dir] of dirs.entries()) {
      const real = s.bootSim(dir, 'ostree admin status');
      assert.equal(real.status, 0, real.stderr);
      assert.equal(await ours(s, s.cmdlineOf(i)), real.stdout, `deployment ${i} booted`);
    }
  });
});

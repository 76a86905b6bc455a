/**
 * Staged deployments against the real ostree, which can only stage on a booted system: the
 * real side runs in the boot simulation (§6.3), ours reads the kernel command line from
 * MCO_KERNEL_CMDLINE_FILE. Twin sysroots (same commits, same deploys) let the two be compared
 * file for file.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { describe, test, type TestContext } from 'node:test';
import { assertCleanError, ok, ostree, runMco, type RunResult } from '../ostree/testing.js';
import { needsBootSim, needsOstree, RealSysroot } from './sysroot-fixtures.js';
import { loadSysroot } from './sysroot.js';

const STAGED_FILE = 'run/ostree/staged-deployment';

/** v1 deployed (the booted one, with an admin's edit to /etc), v2 committed, not deployed. */
function twin(t: TestContext): RealSysroot {
  const s = RealSysroot.forTest(t);
  s.commit('rhcos', { version: '1', etc: { 'app.conf': 'a=1\n', 'keep.conf': 'k=1\n' } });
  s.deploy('--os=rhcos', '--karg=root=LABEL=root', 'rhcos');
  s.commit('rhcos', { version: '2', etc: { 'app.conf': 'a=2\n', 'keep.conf': 'k=2\n', 'new.conf': 'n=2\n' } });
  fs.writeFileSync(join(s.deployDir('rhcos', bootedName(s)), 'etc', 'app.conf'), 'a=local\n');
  return s;
}

/** The default deployment's `CSUM.SERIAL` as the real tool lists it (offline: never the staged one). */
const bootedName = (s: RealSysroot): string => /^ {2}rhcos ([0-9a-f]{64}\.\d+)/.exec(s.status())![1]!;

/** `mco ARGS…` on a node that booted deployment `index` of `s`. */
function mcoBooted(s: RealSysroot, index: number, args: string[]): RunResult {
  const cmdline = join(s.path, '..', `cmdline-${index}`);
  fs.writeFileSync(cmdline, s.cmdlineOf(index));
  return runMco(args, { env: { ...process.env, LC_ALL: 'C.UTF-8', MCO_KERNEL_CMDLINE_FILE: cmdline } });
}

/** The real tool inside the boot simulation, on `s` booted into its only deployment. */
function realBooted(s: RealSysroot, script: string): RunResult {
  const r = s.bootSim(s.deployDir('rhcos', bootedName(s)), script);
  assert.equal(r.status, 0, `boot simulation: ${script}\n${r.stderr}`);
  return r;
}

/** What a finalized sysroot looks like from outside: status, boot entries, the new /etc, refs. */
function outcome(s: RealSysroot): Record<string, unknown> {
  const status = s.status();
  const newest = /^ {2}rhcos ([0-9a-f]{64}\.\d+)/.exec(status)![1]!;
  const etc = join(s.deployDir('rhcos', newest), 'etc');
  return {
    status,
    entries: Object.fromEntries(s.entries()),
    etc: Object.fromEntries(fs.readdirSync(etc).sort().map((n) => [n, fs.readFileSync(join(etc, n), 'utf8')])),
    refs: ok(ostree(['refs', `--repo=${s.repo}`]), 'ostree refs').stdout.split('\n').sort(),
    staged: fs.existsSync(join(s.path, STAGED_FILE)),
  };
}

describe('deploy --stage and finalize-staged, against the real ostree', { ...needsOstree, ...(needsBootSim.skip ? needsBootSim : {}) }, () => {
  test('our run/ostree/staged-deployment is byte for byte the one ostree writes, with and without kernel arguments', async (t) => {
    for (const extra of [[], ['--karg-append=quiet']]) {
      const real = twin(t);
      realBooted(real, `ostree admin deploy --stage --os=rhcos ${extra.join(' ')} rhcos >&2 && mkdir -p /sysroot/run/ostree && cp /run/ostree/staged-deployment /sysroot/${STAGED_FILE}`);
      const ours = twin(t);
      const r = ok(mcoBooted(ours, 0, ['ostree', 'admin', 'deploy', '--stage', `--sysroot=${ours.path}`, '--os=rhcos', ...extra, 'rhcos']), 'mco ostree admin deploy --stage');
      assert.match(r.stdout, /^Staged rhcos [0-9a-f]{64}\.0/);
      assert.deepEqual(fs.readFileSync(join(ours.path, STAGED_FILE)), fs.readFileSync(join(real.path, STAGED_FILE)), `staged-deployment ${extra.join(' ')}`);
      // Nothing about the boot changed; the deployment refs count the staged one first, as ostree's.
      assert.equal(ours.status(), real.status());
      assert.deepEqual(ours.entries(), real.entries());
      assert.deepEqual(outcome(ours).refs, outcome(real).refs);
    }
  });

  test('the real ostree, booted, lists our staged deployment first, and we list it as it does', async (t) => {
    const s = twin(t);
    ok(mcoBooted(s, 0, ['ostree', 'admin', 'deploy', '--stage', `--sysroot=${s.path}`, '--os=rhcos', 'rhcos']), 'stage');
    const real = realBooted(s, `mkdir -p /run/ostree && cp /sysroot/${STAGED_FILE} /run/ostree/ && ostree admin status`);
    assert.match(real.stdout, /^ {2}rhcos [0-9a-f]{64}\.0 \(staged\)\n/);
    const ours = ok(mcoBooted(s, 0, ['ostree', 'admin', 'status', `--sysroot=${s.path}`]), 'mco ostree admin status');
    assert.equal(ours.stdout, real.stdout);
  });

  test('finalizing: ours and ostree\'s leave the same sysroot, and each finalizes what the other staged', async (t) => {
    const real = twin(t);
    realBooted(real, 'ostree admin deploy --stage --os=rhcos rhcos >&2 && ostree admin finalize-staged >&2');
    const expected = outcome(real);
    assert.deepEqual(expected['etc'], { 'app.conf': 'a=local\n', 'keep.conf': 'k=2\n', 'new.conf': 'n=2\n' }, 'the real finalization merged /etc');

    const ours = twin(t);
    ok(mcoBooted(ours, 0, ['ostree', 'admin', 'deploy', '--stage', `--sysroot=${ours.path}`, '--os=rhcos', 'rhcos']), 'stage');
    const fin = ok(mcoBooted(ours, 0, ['ostree', 'admin', 'finalize-staged', `--sysroot=${ours.path}`]), 'finalize-staged');
    assert.match(fin.stdout, /^Copying \/etc changes: 1 modified, 0 removed, 0 added\n/);
    assert.deepEqual(outcome(ours), expected);

    // Real finalization of our staged deployment.
    const mixed = twin(t);
    ok(mcoBooted(mixed, 0, ['ostree', 'admin', 'deploy', '--stage', `--sysroot=${mixed.path}`, '--os=rhcos', 'rhcos']), 'stage');
    realBooted(mixed, `mkdir -p /run/ostree && mv /sysroot/${STAGED_FILE} /run/ostree/ && ostree admin finalize-staged >&2`);
    assert.deepEqual(outcome(mixed), expected);

    // Ours finalizing the real tool's staged deployment.
    const other = twin(t);
    realBooted(other, `ostree admin deploy --stage --os=rhcos rhcos >&2 && mkdir -p /sysroot/run/ostree && cp /run/ostree/staged-deployment /sysroot/${STAGED_FILE}`);
    ok(mcoBooted(other, 0, ['ostree', 'admin', 'finalize-staged', `--sysroot=${other.path}`]), 'finalize-staged');
    assert.deepEqual(outcome(other), expected);
  });

  test('the new /etc keeps the admin\'s edit and takes the new defaults', async (t) => {
    const s = twin(t);
    ok(mcoBooted(s, 0, ['ostree', 'admin', 'deploy', '--stage', `--sysroot=${s.path}`, '--os=rhcos', 'rhcos']), 'stage');
    ok(mcoBooted(s, 0, ['ostree', 'admin', 'finalize-staged', `--sysroot=${s.path}`]), 'finalize-staged');
    assert.deepEqual(outcome(s)['etc'], { 'app.conf': 'a=local\n', 'keep.conf': 'k=2\n', 'new.conf': 'n=2\n' });
    // A second finalization has nothing to do, and says so without failing.
    const again = ok(mcoBooted(s, 1, ['ostree', 'admin', 'finalize-staged', `--sysroot=${s.path}`]), 'finalize-staged again');
    assert.equal(again.stdout, 'No staged deployment\n');
  });

  test('finalization waits while run/ostree/staged-deployment-locked exists', async (t) => {
    const s = twin(t);
    ok(mcoBooted(s, 0, ['ostree', 'admin', 'deploy', '--stage', `--sysroot=${s.path}`, '--os=rhcos', 'rhcos']), 'stage');
    fs.writeFileSync(join(s.path, 'run/ostree/staged-deployment-locked'), '');
    const r = ok(mcoBooted(s, 0, ['ostree', 'admin', 'finalize-staged', `--sysroot=${s.path}`]), 'finalize-staged');
    assert.match(r.stdout, /Not finalizing/);
    assert.ok(fs.existsSync(join(s.path, STAGED_FILE)), 'the staged deployment is still there');
    assert.equal((await loadSysroot(s.path)).deployments.length, 1);
  });

  test('staging needs a booted system: refused offline with the real tool\'s words', async (t) => {
    const s = twin(t);
    const real = ostree(['admin', 'deploy', '--stage', `--sysroot=${s.path}`, '--os=rhcos', 'rhcos']);
    assert.notEqual(real.status, 0);
    const ours = runMco(['ostree', 'admin', 'deploy', '--stage', `--sysroot=${s.path}`, '--os=rhcos', 'rhcos']);
    assertCleanError(ours, 'offline --stage', ['Cannot stage deployment: Not currently booted into an OSTree system']);
    assert.ok(real.stderr.includes('Not currently booted into an OSTree system'), real.stderr);
    assert.equal(fs.existsSync(join(s.path, STAGED_FILE)), false);
  });

  test('a staged deployment is discarded by host cleanup -p and by a plain deploy; rollback refuses while one is staged', async (t) => {
    const s = twin(t);
    const stage = (): void => void ok(mcoBooted(s, 0, ['ostree', 'admin', 'deploy', '--stage', `--sysroot=${s.path}`, '--os=rhcos', 'rhcos']), 'stage');
    const dirs = (): number => fs.readdirSync(join(s.path, 'ostree/deploy/rhcos/deploy')).filter((n) => !n.endsWith('.origin')).length;
    stage();
    assert.equal(dirs(), 2);
    const rollback = mcoBooted(s, 0, ['host', 'rollback', `--sysroot=${s.path}`]);
    assertCleanError(rollback, 'rollback while staged', ['staged']);
    const cleanup = ok(mcoBooted(s, 0, ['host', 'cleanup', '-p', `--sysroot=${s.path}`]), 'host cleanup -p');
    assert.match(cleanup.stdout, /^Deleted deployment [0-9a-f]{64}\.0\n$/);
    assert.equal(fs.existsSync(join(s.path, STAGED_FILE)), false);
    assert.equal(dirs(), 1, 'the staged directory is gone');
    stage();
    ok(mcoBooted(s, 0, ['ostree', 'admin', 'deploy', `--sysroot=${s.path}`, '--os=rhcos', 'rhcos']), 'plain deploy');
    assert.equal(fs.existsSync(join(s.path, STAGED_FILE)), false);
    assert.equal(dirs(), 2, 'the new default and the booted one; the staged one went');
    assert.match(s.status(), /^ {2}rhcos [0-9a-f]{64}\.1\n/, 'the plain deploy took the next serial');
  });

  test('--retain-pending and --retain-rollback keep what the real tool keeps', async (t) => {
    const setUp = (): RealSysroot => {
      const s = RealSysroot.forTest(t);
      for (const v of ['1', '2', '3']) {
        s.commit('rhcos', { version: v });
        s.deploy('--os=rhcos', '--retain', ...(v === '1' ? ['--karg=root=LABEL=root'] : []), 'rhcos');
      }
      s.commit('rhcos', { version: '4' });
      return s;
    };
    for (const flag of ['--retain-pending', '--retain-rollback', '']) {
      // Booted: the middle one (v2); pending: v3 before it; rollback: v1 after it.
      const real = setUp();
      const middle = /^\n?(?:.*\n)*? {2}rhcos ([0-9a-f]{64}\.0)\n {4}Version: 2\n/m.exec(real.status())![1]!;
      const r = real.bootSim(real.deployDir('rhcos', middle), `ostree admin deploy --os=rhcos ${flag} rhcos`);
      assert.equal(r.status, 0, r.stderr);
      const ours = setUp();
      ok(mcoBooted(ours, 1, ['ostree', 'admin', 'deploy', `--sysroot=${ours.path}`, '--os=rhcos', ...(flag ? [flag] : []), 'rhcos']), `mco deploy ${flag}`);
      const versions = (text: string): string[] => [...text.matchAll(/Version: (\d)/g)].map((m) => m[1]!);
      assert.deepEqual(versions(ours.status()), versions(real.status()), flag || 'no retain flag');
      assert.deepEqual(ours.entries(), real.entries(), `boot entries ${flag}`);
    }
  });
});

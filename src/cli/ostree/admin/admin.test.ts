/**
 * `mco ostree admin` as scripts drive it: the sysroot from OSTREE_SYSROOT when --sysroot is
 * not given (never the host's /), and `--print-current-dir`, each beside the real tool.
 */
import assert from 'node:assert/strict';
import { existsSync, lstatSync, symlinkSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { ok, ostree, runMco } from '../../../ostree/testing.js';
import { needsOstree, RealSysroot } from '../../../sysroot/sysroot-fixtures.js';

test('mco ostree admin acts on OSTREE_SYSROOT (relative to the working directory) when --sysroot is not given', needsOstree, async (t) => {
  const s = RealSysroot.forTest(t, []);
  const cwd = dirname(s.path);
  const env = { ...process.env, OSTREE_SYSROOT: 'sysroot' };
  assert.equal(ok(runMco(['ostree', 'admin', 'os-init', 'testos'], { cwd, env }), 'os-init').stdout, 'ostree/deploy/testos initialized as OSTree root\n');
  assert.ok(existsSync(join(s.path, 'ostree/deploy/testos/var')));
  s.commit('testos', { version: '1' });
  ok(runMco(['ostree', 'admin', 'deploy', '--os=testos', 'testos'], { cwd, env }), 'deploy');
  assert.equal(ok(runMco(['ostree', 'admin', 'status'], { cwd, env }), 'status').stdout, s.status());
  // --sysroot wins over the environment.
  const other = runMco(['ostree', 'admin', 'status', '--sysroot=nosuch'], { cwd, env });
  assert.equal(other.status, 1);
  assert.match(other.stderr, /Not an OSTree sysroot: nosuch/);
});

test('mco ostree admin --print-current-dir prints the default deployment\'s directory as the real tool does', needsOstree, async (t) => {
  const s = RealSysroot.forTest(t, ['testos']);
  const cwd = dirname(s.path);
  const none = runMco(['ostree', 'admin', '--sysroot=sysroot', '--print-current-dir'], { cwd });
  assert.equal(none.status, 1);
  assert.match(none.stderr, /^error: Unable to find a deployment in sysroot/);
  s.commit('testos', { version: '1' });
  s.deploy('--os=testos', 'testos');
  s.commit('testos', { version: '2' });
  s.deploy('--os=testos', 'testos');
  const real = ok(ostree(['admin', '--sysroot=sysroot', '--print-current-dir'], { cwd }), 'real --print-current-dir').stdout;
  assert.equal(ok(runMco(['ostree', 'admin', '--sysroot=sysroot', '--print-current-dir'], { cwd }), 'ours').stdout, real);
  const env = { ...process.env, OSTREE_SYSROOT: 'sysroot' };
  assert.equal(ok(runMco(['ostree', 'admin', 'status', '--print-current-dir'], { cwd, env }), 'after a verb, from the environment').stdout, real);
});

test('OSTREE_SYSROOT_DEBUG=mutable-deployments leaves the deployment writable, as libostree\'s test harness asks', needsOstree, async (t) => {
  const s = RealSysroot.forTest(t, ['testos']);
  const cwd = dirname(s.path);
  s.commit('testos', { version: '1' });
  const env = { ...process.env, OSTREE_SYSROOT: 'sysroot', OSTREE_SYSROOT_DEBUG: 'no-xattrs,mutable-deployments' };
  ok(runMco(['ostree', 'admin', 'deploy', '--os=testos', 'testos'], { cwd, env }), 'deploy');
  const dir = ok(runMco(['ostree', 'admin', '--print-current-dir'], { cwd, env }), 'dir').stdout.trim();
  symlinkSync('../../../..', join(dir, 'physical'));
  assert.ok(lstatSync(join(dir, 'physical')).isSymbolicLink());
});

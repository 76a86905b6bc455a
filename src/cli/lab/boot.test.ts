/**
 * `mco lab boot-tree` and `mco lab boot`, run through the dispatcher as `mco lab` will run
 * them: a tree written, committed and deployed with our tools; a boot whose kernel is gone
 * fails with one error naming it. (Real boots: src/lab/boot-test/boot.test.ts.)
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { findHostKernel } from '../../lab/boot-test/host-kernel.js';
import { INIT_PATH } from '../../lab/boot-test/os-tree.js';
import { defaultBootEntry } from '../../lab/boot-test/vm.js';
import { ok, runMco } from '../../ostree/testing.js';
import { removeSysroots } from '../../sysroot/crash-harness.js';
import { UsageError } from '../args.js';
import { lazyVerb, runGroup, type Group } from '../command.js';

const group: Group = {
  name: 'lab',
  summary: 'test group',
  globals: {},
  verbs: {
    boot: lazyVerb('boot', () => import('./boot.js')),
    'boot-tree': lazyVerb('boot-tree', () => import('./boot-tree.js')),
  },
};

async function lab(argv: string[]): Promise<{ status: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const ctx = { output: { out: (d: string | Uint8Array) => void (out += String(d)), err: (t: string) => void (err += t) }, env: { ...process.env, MCO_BOOT_TEST_ACCEL: 'tcg' } };
  try {
    return { status: await runGroup('mco', group, argv, ctx), out, err };
  } catch (e) {
    // What main() does with an error: one line, exit 2 for usage, else 1.
    return { status: e instanceof UsageError ? 2 : 1, out, err: `${err}error: ${(e as Error).message}\n` };
  }
}

const missing = ((): string | false => {
  try {
    findHostKernel();
  } catch (e) {
    return (e as Error).message;
  }
  return !existsSync('/usr/lib/dracut/modules.d/98ostree') && 'dracut and ostree-boot needed (scripts/setup.sh installs them)';
})();

test('mco lab boot-tree writes a tree that deploys; mco lab boot of an entry whose kernel is gone fails naming it', { skip: missing, timeout: 10 * 60_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'mco-lab-boot-'));
  t.after(() => removeSysroots(dir));
  const tree = join(dir, 'tree');
  const wrote = await lab(['boot-tree', '--version=3.0', '--etc=a.conf=x=1', tree]);
  assert.equal(wrote.status, 0, wrote.err);
  assert.match(wrote.out, /^Wrote .*tree: kernel \S+, VERSION 3\.0\n$/);
  assert.match(readFileSync(join(tree, 'usr/lib/os-release'), 'utf8'), /^VERSION="3\.0"$/m);
  assert.equal(readFileSync(join(tree, 'usr/etc/mco-boot-test/a.conf'), 'utf8'), 'x=1\n');
  assert.ok(existsSync(join(tree, INIT_PATH)));

  const sysroot = join(dir, 'sysroot');
  mkdirSync(sysroot);
  ok(runMco(['ostree', 'admin', 'init-fs', sysroot]), 'init-fs');
  ok(runMco(['ostree', 'admin', 'os-init', `--sysroot=${sysroot}`, 'os']), 'os-init');
  ok(runMco(['ostree', 'commit', `--repo=${join(sysroot, 'ostree', 'repo')}`, '--branch=os', tree]), 'commit');
  ok(runMco(['ostree', 'admin', 'deploy', `--sysroot=${sysroot}`, '--os=os', '--karg=root=/dev/vda', `--karg=init=${INIT_PATH}`, 'os']), 'deploy');
  const kernel = defaultBootEntry(sysroot).linux;
  rmSync(kernel);

  const r = await lab(['boot', `--sysroot=${sysroot}`, '--timeout=60']);
  assert.equal(r.status, 1);
  assert.match(r.err, /^error: Booting boot \(.*ostree-1-os\.conf, tcg\) failed: qemu-system-x86_64 exited with status 1: .*could not (load|open) kernel/m);
  assert.ok(r.err.includes(kernel), `the error names the kernel file:\n${r.err}`);

  const usage = await lab(['boot', `--sysroot=${sysroot}`, '--accel=xen']);
  assert.equal(usage.status, 2);
  assert.match(usage.err, /--accel takes kvm or tcg, not "xen"/);
});

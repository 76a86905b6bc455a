/**
 * Booting a simulated node: the boot loader's options line in a file, `ostree=` resolved once
 * per boot and kept for that boot whatever the real `ostree admin deploy` does to the
 * bootlinks afterwards.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { describe, test, type TestContext } from 'node:test';
import { bootCommandLine, bootedFromCmdlineFile, bootSimulatedNode, simulatedBoot, simulatedBootRecordPath, writeCmdlineFile } from './boot.js';
import { needsOstree, RealSysroot } from './sysroot-fixtures.js';
import { loadSysroot, pendingDeployment, SysrootError } from './sysroot.js';

/** A sysroot with `A` deployed by the real tool, booted by the simulated boot loader. */
async function bootedOnA(t: TestContext): Promise<{ s: RealSysroot; a: string; cmdline: string }> {
  const s = RealSysroot.forTest(t);
  const a = s.commit('rhcos', { version: 'A', kernel: 'KERNEL A\n' });
  s.deploy('--os=rhcos', '--karg=root=LABEL=root', a);
  const cmdline = join(s.path, '..', 'cmdline');
  await bootSimulatedNode(s.path, cmdline);
  return { s, a, cmdline };
}

const bootedChecksum = async (s: RealSysroot, cmdline: string): Promise<string | undefined> =>
  (await loadSysroot(s.path, { readCmdline: simulatedBoot(s.path, cmdline) })).booted?.checksum;

describe('simulated boot', needsOstree, () => {
  test('bootSimulatedNode() writes the default entry\'s options line unchanged, bootlink and all', async (t) => {
    const { s, cmdline } = await bootedOnA(t);
    const entry = [...s.entries().values()][0]!;
    const options = /^options (.*)$/m.exec(entry)![1]!;
    assert.match(options, /^root=LABEL=root ostree=\/ostree\/boot\.1\/rhcos\/[0-9a-f]{64}\/0$/);
    assert.equal(fs.readFileSync(cmdline, 'utf8'), `${options}\n`);
    assert.equal(await bootCommandLine(s.path), options);
  });

  test('the deployment resolved at boot stays booted after a real deploy removes its bootlink', async (t) => {
    const { s, a, cmdline } = await bootedOnA(t);
    assert.equal(await bootedChecksum(s, cmdline), a);
    const b = s.commit('rhcos', { version: 'B', kernel: 'KERNEL B\n' });
    s.deploy('--os=rhcos', b);
    const line = fs.readFileSync(cmdline, 'utf8');
    assert.equal(fs.existsSync(join(s.path, /ostree=(\S+)/.exec(line)![1]!)), false, 'the boot\'s bootlink is gone');
    const state = await loadSysroot(s.path, { readCmdline: simulatedBoot(s.path, cmdline) });
    assert.equal(state.booted?.checksum, a);
    assert.equal(pendingDeployment(state)?.checksum, b);
    assert.deepEqual(bootedFromCmdlineFile(s.path, cmdline), { cmdline: line, booted: { osname: 'rhcos', checksum: a, serial: 0 } });

    // The next boot reads the new default entry and boots B.
    await bootSimulatedNode(s.path, cmdline);
    assert.equal(await bootedChecksum(s, cmdline), b);
    // Booting the second entry (the boot menu's rollback) boots A again.
    await bootSimulatedNode(s.path, cmdline, { index: 1 });
    assert.equal(await bootedChecksum(s, cmdline), a);
  });

  test('rewriting the file is a new boot, resolved afresh: a stale line fails naming the file', async (t) => {
    const { s, cmdline } = await bootedOnA(t);
    const stale = fs.readFileSync(cmdline, 'utf8');
    s.deploy('--os=rhcos', s.commit('rhcos', { version: 'B', kernel: 'KERNEL B\n' }));
    fs.writeFileSync(cmdline, stale); // same line, written again in place: another boot
    assert.throws(() => bootedFromCmdlineFile(s.path, cmdline, { source: 'MCO_KERNEL_CMDLINE_FILE' }), (e: Error) =>
      e instanceof SysrootError && e.message.includes(`${cmdline} (MCO_KERNEL_CMDLINE_FILE)`) && e.message.includes('does not resolve'));
  });

  test('a command line without ostree= boots nothing; a missing file names where its name came from', async (t) => {
    const { s, cmdline } = await bootedOnA(t);
    writeCmdlineFile(cmdline, 'root=LABEL=root quiet');
    assert.equal(await bootedChecksum(s, cmdline), undefined);
    const missing = join(s.path, '..', 'no-such-cmdline');
    assert.throws(() => simulatedBoot(s.path, missing, { source: 'MCO_KERNEL_CMDLINE_FILE' })(), (e: Error) =>
      e instanceof SysrootError && e.message.includes(`Cannot read the kernel command line from ${missing} (MCO_KERNEL_CMDLINE_FILE)`));
  });

  test('a damaged boot record is refused, naming it and the way out', async (t) => {
    const { s, cmdline } = await bootedOnA(t);
    fs.writeFileSync(simulatedBootRecordPath(s.path), '{"file": 1}');
    assert.throws(() => bootedFromCmdlineFile(s.path, cmdline), (e: Error) =>
      e instanceof SysrootError && e.message.includes(simulatedBootRecordPath(s.path)) && e.message.includes('remove it'));
  });
});

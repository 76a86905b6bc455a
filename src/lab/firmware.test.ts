import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { bootedFromCmdlineFile } from '../sysroot/boot.js';
import { needsOstree, RealSysroot } from '../sysroot/sysroot-fixtures.js';
import { bootMenu, bootNode, chooseBootEntry } from './firmware.js';

describe('chooseBootEntry()', () => {
  const ok = { problems: [] };
  const broken = (why: string) => ({ problems: [why] });
  const cases: { name: string; menu: { problems: string[] }[]; want: ReturnType<typeof chooseBootEntry> }[] = [
    { name: 'boots the default entry when it can', menu: [ok, ok], want: { boot: 0 } },
    { name: 'falls back to the previous entry when the default cannot boot', menu: [broken('kernel missing'), ok], want: { boot: 1, fallback: { from: 0, reasons: ['kernel missing'] } } },
    { name: 'boots nothing when no entry can', menu: [broken('a'), broken('b')], want: { boot: null, reasons: ['a', 'b'] } },
    { name: 'boots nothing from an empty menu', menu: [], want: { boot: null, reasons: [] } },
  ];
  for (const c of cases) it(c.name, () => assert.deepEqual(chooseBootEntry(c.menu), c.want));
});

describe('bootNode()', needsOstree, () => {
  function twoDeployments(t: import('node:test').TestContext): { sysroot: RealSysroot; cmdline: string } {
    const sysroot = RealSysroot.forTest(t);
    sysroot.commit('rhcos', { version: '1', kernel: 'K1\n', initramfs: 'I1\n' });
    sysroot.deploy('--os=rhcos', '--karg=root=LABEL=root', 'rhcos');
    sysroot.commit('rhcos', { version: '2', kernel: 'K2\n', initramfs: 'I2\n' });
    sysroot.deploy('--os=rhcos', 'rhcos');
    return { sysroot, cmdline: join(sysroot.path, '..', 'cmdline') };
  }

  it('writes the default entry\'s options line as the command line, byte for byte, and pins the boot to its deployment', async (t) => {
    const { sysroot, cmdline } = twoDeployments(t);
    const lines: string[] = [];
    const menu = bootMenu(sysroot.path);
    const result = await bootNode(sysroot.path, cmdline, { node: 'worker-0', log: (l) => lines.push(l) });
    assert.equal(result.fellBack, false);
    assert.equal(fs.readFileSync(cmdline, 'utf8'), `${menu[0]!.options}\n`);
    assert.match(menu[0]!.options, /ostree=\/ostree\/boot\.[01]\/rhcos\/[0-9a-f]{64}\/0/);
    const { booted } = bootedFromCmdlineFile(sysroot.path, cmdline);
    // The default is the newest deployment: the real tool lists it first.
    assert.ok(sysroot.status().split('\n')[0]!.includes(booted!.checksum), sysroot.status());
  });

  it('boots the previous entry and says so when the default entry\'s kernel is missing', async (t) => {
    const { sysroot, cmdline } = twoDeployments(t);
    const menu = bootMenu(sysroot.path);
    const kernel = fs.readFileSync(menu[0]!.file, 'utf8').match(/^linux (.*)$/m)![1]!;
    fs.rmSync(join(sysroot.path, 'boot', kernel));
    const lines: string[] = [];
    const result = await bootNode(sysroot.path, cmdline, { node: 'worker-0', log: (l) => lines.push(l) });
    assert.equal(result.fellBack, true);
    assert.equal(fs.readFileSync(cmdline, 'utf8'), `${menu[1]!.options}\n`);
    assert.ok(lines.some((l) => l.includes('cannot be booted') && l.includes(`kernel /boot${kernel} is missing`) && l.includes('booting the previous entry')), lines.join('\n'));
  });

  it('empties /run at every boot, as a tmpfs is', async (t) => {
    const { sysroot, cmdline } = twoDeployments(t);
    fs.mkdirSync(join(sysroot.path, 'run'), { recursive: true });
    fs.writeFileSync(join(sysroot.path, 'run', 'machine-config-daemon-force'), '');
    await bootNode(sysroot.path, cmdline, { node: 'n', log: () => undefined });
    assert.deepEqual(fs.readdirSync(join(sysroot.path, 'run')).filter((n) => n !== 'mco-simulated-boot.json'), []);
  });

  it('refuses to boot, naming why, when no entry can', async (t) => {
    const { sysroot, cmdline } = twoDeployments(t);
    for (const entry of bootMenu(sysroot.path)) fs.rmSync(join(sysroot.path, 'boot', fs.readFileSync(entry.file, 'utf8').match(/^initrd (.*)$/m)![1]!));
    await assert.rejects(bootNode(sysroot.path, cmdline, { node: 'worker-1', log: () => undefined }), /worker-1 cannot boot: initramfs \/boot\/ostree\/.* is missing/);
    assert.equal(fs.existsSync(cmdline), false);
  });
});

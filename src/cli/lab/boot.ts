/**
 * `mco lab boot --sysroot=DIR`: boots the sysroot's default BLS entry in a virtual machine (as
 * firmware and a bootloader would) and prints what the booted system reported; exits 1 with
 * the console's last lines when it did not boot. The deployments must be of a tree made by
 * `mco lab boot-tree` (a real kernel, initramfs and the reporting init).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { bootSysroot, chooseAccel, defaultBootEntry } from '../../lab/boot-test/vm.js';
import { positiveInt, str, UsageError } from '../args.js';
import type { Command } from '../command.js';

export const command: Command = {
  summary: 'Boot the default entry of a sysroot in a VM (qemu) and print the VERSION it reports',
  usage: '--sysroot=DIR [--accel=kvm|tcg] [--timeout=SECONDS] [--console-dir=DIR]',
  options: {
    sysroot: { type: 'string', description: 'The sysroot to boot: it becomes the VM\'s disk', argument: 'DIR' },
    accel: { type: 'string', description: 'kvm or tcg (default: kvm when /dev/kvm runs a guest, else tcg)', argument: 'ACCEL' },
    timeout: { type: 'string', description: 'Give up after this many seconds (default 300)', argument: 'SECONDS' },
    'console-dir': { type: 'string', description: 'Keep the console log here (default: a temporary directory, removed)', argument: 'DIR' },
  },
  async run(args, ctx) {
    const sysrootArg = str(args, 'sysroot');
    if (sysrootArg === undefined) throw new UsageError('--sysroot must be specified');
    const sysroot = resolve(sysrootArg);
    const accelArg = str(args, 'accel');
    if (accelArg !== undefined && accelArg !== 'kvm' && accelArg !== 'tcg') throw new UsageError(`--accel takes kvm or tcg, not "${accelArg}"`);
    const keep = str(args, 'console-dir');
    const workDir = keep ? resolve(keep) : mkdtempSync(join(tmpdir(), 'mco-lab-boot-'));
    try {
      const accel = accelArg ?? await chooseAccel(defaultBootEntry(sysroot).linux, ctx.env);
      const r = await bootSysroot(sysroot, { workDir, accel, timeoutMs: (positiveInt(args, 'timeout') ?? 300) * 1000, name: 'boot' });
      ctx.output.out(`VERSION=${r.version}\nCMDLINE=${r.cmdline ?? ''}\nOSTREE-BOOTED=${r.ostreeBooted ? 'yes' : 'no'}\n${r.etc.map((l) => `ETC=${l}\n`).join('')}` +
        `Booted ${r.entry.file} in ${r.seconds.toFixed(1)} s (${r.accel})\n`);
    } finally {
      if (!keep) rmSync(workDir, { recursive: true, force: true });
    }
  },
};

/**
 * `mco lab boot-tree --version=V DIR`: writes a small bootable OS tree (the host's kernel, a
 * dracut initramfs with ostree-prepare-root, cached; busybox; an init reporting on the serial
 * console) to commit with `mco ostree commit` and deploy with
 * `--karg=root=/dev/vda --karg=rw --karg=console=ttyS0 --karg=init=/usr/lib/mco-boot-test/init`.
 */
import { resolve } from 'node:path';
import { cachedInitramfs, findHostKernel } from '../../lab/boot-test/host-kernel.js';
import { writeBootableTree } from '../../lab/boot-test/os-tree.js';
import { required, str, strs, UsageError } from '../args.js';
import type { Command } from '../command.js';

export const command: Command = {
  summary: 'Write a bootable OS tree (real kernel, initramfs with ostree-prepare-root, busybox) for `mco lab boot`',
  usage: '--version=V [--etc=NAME=TEXT]… DIR',
  options: {
    version: { type: 'string', description: 'The os-release VERSION the booted system prints', argument: 'V' },
    etc: { type: 'string', multiple: true, description: 'A file of /etc/mco-boot-test/ and its one line, printed at boot', argument: 'NAME=TEXT' },
  },
  async run(args, ctx) {
    const version = str(args, 'version');
    if (version === undefined) throw new UsageError('--version must be specified');
    const etc: Record<string, string> = {};
    for (const e of strs(args, 'etc')) {
      const m = /^([^=/]+)=(.*)$/.exec(e);
      if (!m) throw new UsageError(`--etc takes NAME=TEXT, not "${e}"`);
      etc[m[1]!] = `${m[2]}\n`;
    }
    const dir = resolve(required(args, 0, 'DIR'));
    const kernel = findHostKernel();
    const initramfs = await cachedInitramfs(kernel, { log: (line) => ctx.output.err(`${line}\n`) });
    writeBootableTree(dir, { kernel, initramfs, version, etc });
    ctx.output.out(`Wrote ${dir}: kernel ${kernel.kver}, VERSION ${version}\n`);
  },
};

import { rebase } from '../../sysroot/rebase.js';
import { required, str } from '../args.js';
import type { Command } from '../command.js';
import { sysrootEffects, sysrootOf } from '../sysroot-args.js';

export const command: Command = {
  summary: 'Switch to a different tree (here: a commit of a local repository, as a pivot does)',
  usage: '[--sysroot=PATH] REPO_PATH:CHECKSUM --custom-origin-url=URL --custom-origin-description=TEXT',
  options: {
    'custom-origin-url': { type: 'string', description: 'For checksum rebases, URL of where the commit came from (e.g. pivot://IMAGE)', argument: 'URL' },
    'custom-origin-description': { type: 'string', description: 'Human-readable description of the custom origin', argument: 'TEXT' },
    experimental: { type: 'boolean', description: 'Enable experimental features (accepted, as rpm-ostree 2020 required it for custom origins)' },
    os: { type: 'string', description: 'Operate on provided OSNAME', argument: 'OSNAME' },
  },
  async run(args, ctx) {
    const sysroot = sysrootOf(args);
    const url = str(args, 'custom-origin-url');
    const description = str(args, 'custom-origin-description');
    const os = str(args, 'os');
    const result = await rebase(sysroot, required(args, 0, 'REPO_PATH:CHECKSUM'), {
      ...(url !== undefined ? { customOriginUrl: url } : {}),
      ...(description !== undefined ? { customOriginDescription: description } : {}),
      ...(os ? { osname: os } : {}),
      ...sysrootEffects(sysroot, ctx),
    });
    if (result.etc) ctx.output.out(`${result.etc}\n`);
    ctx.output.out(`Staging deployment... done\nRebased to ${url ?? result.checksum}\nRun "systemctl reboot" to start a reboot\n`);
  },
};

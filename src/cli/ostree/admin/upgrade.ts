import { upgrade } from '../../../sysroot/upgrade.js';
import { flag, str, UsageError } from '../../args.js';
import type { Command } from '../../command.js';
import { adminSysrootOf, rebooter, sysrootEffects } from '../../sysroot-args.js';

export const command: Command = {
  summary: 'Construct new tree from current origin and deploy it, if it changed',
  usage: '[--sysroot=PATH] [--os=OSNAME] [OPTION…]',
  options: {
    os: { type: 'string', description: 'Use a different operating system root than the current one', argument: 'OSNAME' },
    reboot: { type: 'boolean', short: 'r', description: 'Reboot after a successful upgrade' },
    'allow-downgrade': { type: 'boolean', description: 'Permit deployment of chronologically older trees' },
    'override-commit': { type: 'string', description: 'Deploy CHECKSUM instead of the latest tree', argument: 'CHECKSUM' },
    'pull-only': { type: 'boolean', description: 'Do not create a deployment, just download' },
    'deploy-only': { type: 'boolean', description: 'Do not pull, only deploy' },
    stage: { type: 'boolean', description: 'Enable staging (finalization at reboot time)' },
  },
  async run(args, ctx) {
    const sysroot = adminSysrootOf(args, ctx);
    if (flag(args, 'pull-only') && flag(args, 'reboot')) throw new UsageError('Cannot simultaneously specify --pull-only and --reboot');
    const osname = str(args, 'os');
    const override = str(args, 'override-commit');
    const result = await upgrade(sysroot, {
      ...(osname !== undefined ? { osname } : {}),
      ...(override !== undefined ? { overrideCommit: override } : {}),
      allowDowngrade: flag(args, 'allow-downgrade'),
      pullOnly: flag(args, 'pull-only'),
      deployOnly: flag(args, 'deploy-only'),
      stage: flag(args, 'stage'),
      ...sysrootEffects(sysroot, ctx),
    });
    if (!result.changed) {
      ctx.output.out('No update available.\n');
      return;
    }
    if (result.deployed && 'etc' in result.deployed && result.deployed.etc) ctx.output.out(`${result.deployed.etc}\n`);
    if (flag(args, 'reboot')) await rebooter(sysroot, ctx)();
  },
};

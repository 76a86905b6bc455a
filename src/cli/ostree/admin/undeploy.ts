import { undeploy } from '../../../sysroot/rollback.js';
import { required, UsageError } from '../../args.js';
import type { Command } from '../../command.js';
import { sysrootEffects, adminSysrootOf } from '../../sysroot-args.js';

export const command: Command = {
  summary: 'Delete deployment INDEX',
  usage: '[--sysroot=PATH] INDEX',
  options: {},
  async run(args, ctx) {
    const text = required(args, 0, 'INDEX');
    if (!/^\d+$/.test(text)) throw new UsageError(`Invalid index '${text}'`);
    const sysroot = adminSysrootOf(args, ctx);
    const { before } = await undeploy(sysroot, Number(text), sysrootEffects(sysroot, ctx));
    const d = before.deployments[Number(text)]!;
    ctx.output.out(`Deleted deployment ${d.checksum}.${d.serial}\n`);
  },
};

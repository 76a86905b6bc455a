import { initFs } from '../../../sysroot/init-fs.js';
import { required } from '../../args.js';
import type { Command } from '../../command.js';

export const command: Command = {
  summary: 'Initialize a root filesystem',
  usage: 'PATH',
  options: {},
  async run(args) {
    await initFs(required(args, 0, 'PATH'));
  },
};

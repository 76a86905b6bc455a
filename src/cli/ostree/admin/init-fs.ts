import { initFs } from '../../../sysroot/init-fs.js';
import { flag, required } from '../../args.js';
import type { Command } from '../../command.js';

export const command: Command = {
  summary: 'Initialize a root filesystem',
  usage: '[--modern] PATH',
  options: {
    modern: { type: 'boolean', description: 'Only create /boot and /ostree inside the sysroot' },
  },
  async run(args) {
    await initFs(required(args, 0, 'PATH'), { modern: flag(args, 'modern') });
  },
};

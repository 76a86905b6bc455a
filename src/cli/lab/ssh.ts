import { spawn } from 'node:child_process';
import { existingLab } from '../../lab/lab.js';
import { sshInvocation } from '../../lab/ssh.js';
import { required, str } from '../args.js';
import type { Command } from '../command.js';

export const command: Command = {
  summary: 'A shell, or one command, on a node of the lab: rpm-ostree, ostree admin, machine-config-daemon pivot and reboot act on that node',
  usage: '[--dir=DIR] NODE [-- COMMAND…]',
  options: {},
  async run(args, ctx) {
    const node = required(args, 0, 'NODE');
    const { paths, state } = existingLab(str(args, 'dir') ?? '.lab');
    const { argv, env, cwd } = sshInvocation(paths, state, node, args.positionals.slice(1), ctx.env);
    const child = spawn(argv[0], argv.slice(1), { env, cwd, stdio: 'inherit' });
    return new Promise<number>((resolve, reject) => {
      child.on('error', reject);
      child.on('exit', (code, signal) => resolve(code ?? (signal ? 128 : 1)));
    });
  },
};

import { existingLab } from '../../lab/lab.js';
import { str, UsageError } from '../args.js';
import type { Command } from '../command.js';

export const command: Command = {
  summary: 'Print the path of the lab\'s admin kubeconfig (export KUBECONFIG=$(mco lab kubeconfig))',
  usage: '[--dir=DIR]',
  options: {},
  async run(args, ctx) {
    if (args.positionals.length) throw new UsageError(`unexpected argument "${args.positionals[0]}"`);
    ctx.output.out(`${existingLab(str(args, 'dir') ?? '.lab').paths.kubeconfig}\n`);
  },
};

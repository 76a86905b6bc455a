import { runLabDemo } from '../../lab/demo.js';
import { str, UsageError } from '../args.js';
import type { Command } from '../command.js';

export const command: Command = {
  summary: 'Play the seed\'s cluster story against the running lab (mco lab up first), printing each command before its output',
  usage: '[--dir=DIR]',
  options: {},
  async run(args, ctx) {
    if (args.positionals.length) throw new UsageError(`unexpected argument "${args.positionals[0]}"`);
    await runLabDemo({ dir: str(args, 'dir') ?? '.lab', say: (line) => ctx.output.out(`${line}\n`) });
  },
};

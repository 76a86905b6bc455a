import { labDown } from '../../lab/lab.js';
import { str, UsageError } from '../args.js';
import type { Command } from '../command.js';

export const command: Command = {
  summary: 'Stop every process of the lab; its state (cluster, registry, nodes) stays for the next mco lab up',
  usage: '[--dir=DIR]',
  options: {},
  async run(args, ctx) {
    if (args.positionals.length) throw new UsageError(`unexpected argument "${args.positionals[0]}"`);
    const dir = str(args, 'dir') ?? '.lab';
    const stopped = await labDown(dir, (line) => ctx.output.out(`${line}\n`));
    ctx.output.out(stopped ? 'The lab is stopped; mco lab up resumes it\n' : `No lab is running in ${dir}\n`);
  },
};

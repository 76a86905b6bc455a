import { startLab } from '../../lab/supervisor.js';
import { str, UsageError } from '../args.js';
import { untilInterrupted, type Command } from '../command.js';

export const command: Command = {
  summary: 'Run the lab\'s supervisor in the foreground until interrupted (mco lab up starts it in the background)',
  usage: '[--dir=DIR]',
  options: {},
  async run(args, ctx) {
    if (args.positionals.length) throw new UsageError(`unexpected argument "${args.positionals[0]}"`);
    const log = (line: string): void => ctx.output.out(`${new Date().toISOString()} ${line}\n`);
    const interrupted = untilInterrupted();
    const lab = await startLab({ dir: str(args, 'dir') ?? '.lab', log });
    await interrupted;
    log('Stopping the lab');
    await lab.stop();
    log('Stopped');
  },
};

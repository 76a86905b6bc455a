import { labStatusText } from '../../lab/lab.js';
import { flag, str, UsageError } from '../args.js';
import { untilInterrupted, type Command } from '../command.js';

export const command: Command = {
  summary: 'Print the pools and the nodes of the lab (--watch: redraw in place every second until interrupted)',
  usage: '[--dir=DIR] [--watch]',
  options: {
    watch: { type: 'boolean', short: 'w', description: 'Redraw every second until interrupted' },
  },
  async run(args, ctx) {
    if (args.positionals.length) throw new UsageError(`unexpected argument "${args.positionals[0]}"`);
    const dir = str(args, 'dir') ?? '.lab';
    if (!flag(args, 'watch')) {
      ctx.output.out(await labStatusText(dir));
      return;
    }
    let stopped = false;
    void untilInterrupted().then(() => (stopped = true));
    while (!stopped) {
      const text = await labStatusText(dir).catch((e: Error) => `${e.message}\n`);
      // Home the cursor and clear the screen, then draw: the table redraws in place.
      ctx.output.out(`\x1b[H\x1b[2J${new Date().toISOString()}\n${text}`);
      await new Promise((r) => setTimeout(r, 1000));
    }
  },
};

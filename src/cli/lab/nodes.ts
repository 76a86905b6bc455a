import { existingLab } from '../../lab/lab.js';
import { hostNodes } from '../../lab/node-host.js';
import { str, UsageError } from '../args.js';
import { untilInterrupted, type Command } from '../command.js';

export const command: Command = {
  summary: 'Host the daemons of several lab nodes in this one process until interrupted (the supervisor runs this for large fleets)',
  usage: '[--dir=DIR] --nodes=NAME,NAME…',
  options: {
    nodes: { type: 'string', description: 'The nodes to host, comma-separated', argument: 'NAMES' },
  },
  async run(args, ctx) {
    if (args.positionals.length) throw new UsageError(`unexpected argument "${args.positionals[0]}"`);
    const { paths, state } = existingLab(str(args, 'dir') ?? '.lab');
    const names = (str(args, 'nodes') ?? '').split(',').filter(Boolean);
    if (names.length === 0) throw new UsageError('--nodes must name at least one node');
    const nodes = names.map((name) => {
      const node = state.nodes.find((n) => n.name === name);
      if (!node) throw new UsageError(`No node ${name} in the lab in ${paths.dir}`);
      return node;
    });
    const log = (line: string): void => ctx.output.out(`${new Date().toISOString()} ${line}\n`);
    const interrupted = untilInterrupted();
    const host = await hostNodes({ paths, nodes, log });
    await interrupted;
    await host.stop();
  },
};

import { resolve } from 'node:path';
import { runPivotDemo } from '../../lab/demo-pivot.js';
import { str } from '../args.js';
import type { Command } from '../command.js';

export const command: Command = {
  summary: 'The seed\'s single-node story: build two OS images into the embedded registry, pivot a node to the new one, reboot, pivot back',
  usage: '[--state-dir=DIR]',
  options: {
    'state-dir': { type: 'string', description: 'Where the demo writes (default: ./.demo/pivot; wiped first)', argument: 'DIR' },
  },
  async run(args, ctx) {
    await runPivotDemo({
      stateDir: resolve(str(args, 'state-dir') ?? '.demo/pivot'),
      say: (line) => ctx.output.out(`${line}\n`),
    });
  },
};

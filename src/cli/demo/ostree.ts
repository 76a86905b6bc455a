import { resolve } from 'node:path';
import { runOstreeDemo } from '../../lab/demo-ostree.js';
import { str } from '../args.js';
import type { Command } from '../command.js';

export const command: Command = {
  summary: 'Build two OS versions into an OSTree repo, inspect and verify it with ours and the real ostree',
  usage: '[--state-dir=DIR]',
  options: {
    'state-dir': { type: 'string', description: 'Where the demo writes (default: ./.demo/ostree; wiped first)', argument: 'DIR' },
  },
  async run(args, ctx) {
    await runOstreeDemo({
      stateDir: resolve(str(args, 'state-dir') ?? '.demo/ostree'),
      say: (line) => ctx.output.out(`${line}\n`),
    });
  },
};

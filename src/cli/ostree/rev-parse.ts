// PLACEHOLDER while being written in this session.
import type { Command } from '../command.js';

export const command: Command = {
  summary: 'rev-parse',
  usage: 'rev-parse',
  options: {},
  async run() {
    throw new Error('mco ostree rev-parse: not written yet');
  },
};

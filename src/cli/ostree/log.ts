// PLACEHOLDER while being written in this session.
import type { Command } from '../command.js';

export const command: Command = {
  summary: 'log',
  usage: 'log',
  options: {},
  async run() {
    throw new Error('mco ostree log: not written yet');
  },
};

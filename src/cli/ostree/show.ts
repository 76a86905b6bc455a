// PLACEHOLDER while being written in this session.
import type { Command } from '../command.js';

export const command: Command = {
  summary: 'show',
  usage: 'show',
  options: {},
  async run() {
    throw new Error('mco ostree show: not written yet');
  },
};

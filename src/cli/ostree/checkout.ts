// PLACEHOLDER while being written in this session.
import type { Command } from '../command.js';

export const command: Command = {
  summary: 'checkout',
  usage: 'checkout',
  options: {},
  async run() {
    throw new Error('mco ostree checkout: not written yet');
  },
};

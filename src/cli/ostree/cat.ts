// PLACEHOLDER while being written in this session.
import type { Command } from '../command.js';

export const command: Command = {
  summary: 'cat',
  usage: 'cat',
  options: {},
  async run() {
    throw new Error('mco ostree cat: not written yet');
  },
};

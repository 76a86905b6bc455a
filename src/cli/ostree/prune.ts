// PLACEHOLDER while being written in this session.
import type { Command } from '../command.js';

export const command: Command = {
  summary: 'prune',
  usage: 'prune',
  options: {},
  async run() {
    throw new Error('mco ostree prune: not written yet');
  },
};

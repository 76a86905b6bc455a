// PLACEHOLDER while being written in this session.
import type { Command } from '../command.js';

export const command: Command = {
  summary: 'ls',
  usage: 'ls',
  options: {},
  async run() {
    throw new Error('mco ostree ls: not written yet');
  },
};

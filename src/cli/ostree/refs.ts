// PLACEHOLDER while being written in this session.
import type { Command } from '../command.js';

export const command: Command = {
  summary: 'refs',
  usage: 'refs',
  options: {},
  async run() {
    throw new Error('mco ostree refs: not written yet');
  },
};

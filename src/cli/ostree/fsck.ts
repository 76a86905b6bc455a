// PLACEHOLDER while being written in this session.
import type { Command } from '../command.js';

export const command: Command = {
  summary: 'fsck',
  usage: 'fsck',
  options: {},
  async run() {
    throw new Error('mco ostree fsck: not written yet');
  },
};

// PLACEHOLDER while being written in this session.
import type { Command } from '../command.js';

export const command: Command = {
  summary: 'pull-local',
  usage: 'pull-local',
  options: {},
  async run() {
    throw new Error('mco ostree pull-local: not written yet');
  },
};

/** `mco demo`: runnable demonstrations on embedded defaults. */
import type { Command, Group } from '../command.js';

export const demoGroup: Group = {
  name: 'demo',
  summary: 'Runnable demonstrations on embedded defaults.',
  globals: {},
  verbs: {
    ostree: {
      summary: 'Build two OS versions into an OSTree repo, inspect and verify it with ours and the real ostree',
      load: async (): Promise<Command> => (await import('./ostree.js')).command,
    },
  },
};

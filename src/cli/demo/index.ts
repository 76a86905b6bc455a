/** `mco demo`: runnable demonstrations on embedded defaults. */
import { lazyVerb as verb, type Group } from '../command.js';

export const demoGroup: Group = {
  name: 'demo',
  summary: 'Runnable demonstrations on embedded defaults.',
  globals: {},
  verbs: {
    pivot: verb('The seed\'s single-node story: two OS images, a node pivoted to the new one, rebooted, pivoted back', () => import('./pivot.js')),
    ostree: verb('Build two OS versions into an OSTree repo, inspect and verify it with ours and the real ostree', () => import('./ostree.js')),
  },
};

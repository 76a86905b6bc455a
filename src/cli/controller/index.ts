/** `mco controller`: the machine-config-controller (render and node controllers). */
import { lazyVerb as verb, type Group } from '../command.js';

export const controllerGroup: Group = {
  name: 'controller',
  summary: 'The machine-config-controller: renders each pool\'s config and rolls it out node by node (leader-elected).',
  globals: {},
  verbs: {
    start: verb('Run the render and node controllers until interrupted', () => import('./start.js')),
  },
};

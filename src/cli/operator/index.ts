/** `mco operator`: the machine-config-operator. */
import { lazyVerb as verb, type Group } from '../command.js';

export const operatorGroup: Group = {
  name: 'operator',
  summary: 'The machine-config-operator: default pools and templates, osImageURL from its ConfigMap to the ControllerConfig (leader-elected).',
  globals: {},
  verbs: {
    start: verb('Run the operator until interrupted', () => import('./start.js')),
  },
};

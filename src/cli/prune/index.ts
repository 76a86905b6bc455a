/** `mco prune`: remove what the cluster no longer uses (as `oc adm prune`). */
import { lazyVerb as verb, type Group } from '../command.js';

export const pruneGroup: Group = {
  name: 'prune',
  summary: 'Remove unused objects, as oc adm prune.',
  globals: {},
  verbs: {
    rendered: verb('Remove rendered MachineConfigs no pool or node uses (dry run unless --confirm)', () => import('./rendered.js')),
  },
};

/** `mco registry`: the embedded registry of the one-machine default (Distribution API v2). */
import { lazyVerb as verb, type Group } from '../command.js';

export const registryGroup: Group = {
  name: 'registry',
  summary: 'Run the embedded image registry.',
  globals: {},
  verbs: {
    serve: verb('Serve the registry HTTP API v2 from a storage directory', () => import('./serve.js')),
  },
};

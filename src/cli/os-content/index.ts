/** `mco os-content`: the cluster-local OS content cache (pull each OS image once, serve its OSTree objects). */
import { lazyVerb as verb, type Group } from '../command.js';

export const osContentGroup: Group = {
  name: 'os-content',
  summary: 'The cluster-local OS content cache: each OS image pulled once, its OSTree objects served over HTTP.',
  globals: {},
  verbs: {
    serve: verb('Serve OS images as OSTree archive repos over HTTP, pulling each from its registry once', () => import('./serve.js')),
    prune: verb('Remove cached OS images that no referenced image names', () => import('./prune.js')),
  },
};

/** `mco apiserver`: the embedded Kubernetes-compatible API server (serving by default) and its tokens. */
import { lazyVerb as verb, type Group } from '../command.js';

export const apiserverGroup: Group = {
  name: 'apiserver',
  summary: 'Embedded Kubernetes-compatible API server for the lab and tests: HTTPS, bearer tokens, state in SQLite.',
  globals: {},
  defaultVerb: 'serve',
  verbs: {
    serve: verb('Serve the API (the default: `mco apiserver --data-dir DIR --listen ADDR`)', () => import('./serve.js')),
    token: verb("Print a user's bearer token (admin, controller, node:NAME)", () => import('./token.js')),
  },
};

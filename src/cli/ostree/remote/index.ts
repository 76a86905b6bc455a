/** `mco ostree remote`: the remotes of a repository's config, as `ostree remote` keeps them. */
import { lazyVerb as verb, type Group } from '../../command.js';

export const remoteGroup: Group = {
  name: 'remote',
  summary: 'Remote commands that may involve network access.',
  globals: {
    repo: { type: 'string', description: 'Path to OSTree repository (default: $OSTREE_REPO)', argument: 'PATH' },
  },
  verbs: {
    add: verb('Add a remote repository', () => import('./add.js')),
    delete: verb('Delete a remote repository', () => import('./delete.js')),
    list: verb('List remote repository names', () => import('./list.js')),
    'show-url': verb('Show remote repository URL', () => import('./show-url.js')),
  },
};

/** `mco host`: the rpm-ostree host verbs, over the sysroot library. */
import { lazyVerb as verb, type Group } from '../command.js';
import { SYSROOT_OPTION } from '../sysroot-args.js';

export const hostGroup: Group = {
  name: 'host',
  summary: 'Manage the host OS as rpm-ostree does: status, rebase, rollback, kernel arguments.',
  globals: SYSROOT_OPTION,
  verbs: {
    status: verb('Get the version of the booted system', () => import('./status.js')),
    rebase: verb('Switch to a different tree', () => import('./rebase.js')),
    rollback: verb('Revert to the previously booted tree', () => import('./rollback.js')),
    kargs: verb('Query or modify kernel arguments', () => import('./kargs.js')),
    cleanup: verb('Clear cached/pending data', () => import('./cleanup.js')),
  },
};

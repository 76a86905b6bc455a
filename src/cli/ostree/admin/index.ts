/** `mco ostree admin`: the sysroot verbs of `ostree admin`, with `--sysroot`. */
import { lazyVerb as verb, type Group } from '../../command.js';
import { SYSROOT_OPTION } from '../../sysroot-args.js';

export const adminGroup: Group = {
  name: 'admin',
  summary: 'Manage an OSTree sysroot: deployments and boot entries.',
  globals: SYSROOT_OPTION,
  verbs: {
    'init-fs': verb('Initialize a root filesystem', () => import('./init-fs.js')),
    'os-init': verb('Initialize empty state for given operating system', () => import('./os-init.js')),
    deploy: verb('Checkout revision REFSPEC as the new default deployment', () => import('./deploy.js')),
    'finalize-staged': verb('Finalize a staged deployment: merge /etc and make it the default boot entry', () => import('./finalize-staged.js')),
    status: verb('List deployments', () => import('./status.js')),
    cleanup: verb('Delete untagged deployments and repository objects', () => import('./cleanup.js')),
    undeploy: verb('Delete deployment INDEX', () => import('./undeploy.js')),
    pin: verb('Change the "pinning" state of a deployment', () => import('./pin.js')),
    'set-origin': verb('Set Origin and create a new origin file', () => import('./set-origin.js')),
  },
};

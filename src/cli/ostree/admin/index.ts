/** `mco ostree admin`: the sysroot verbs of `ostree admin`, with `--sysroot`. */
import { resolve } from 'node:path';
import { loadSysroot, SysrootError } from '../../../sysroot/sysroot.js';
import { deploymentPath } from '../../../sysroot/types.js';
import { lazyVerb as verb, type Group } from '../../command.js';
import { adminSysrootOf, SYSROOT_OPTION } from '../../sysroot-args.js';

export const adminGroup: Group = {
  name: 'admin',
  summary: 'Manage an OSTree sysroot: deployments and boot entries.',
  globals: SYSROOT_OPTION,
  // `ostree admin --print-current-dir`: the default deployment's directory, absolute, as
  // scripts use it to reach into a deployment (ostree 2022.7 prints deployments[0], not the booted one).
  instead: {
    flag: 'print-current-dir',
    async run(args, ctx) {
      const sysroot = adminSysrootOf(args, ctx);
      const first = (await loadSysroot(sysroot)).deployments[0];
      if (!first) throw new SysrootError(`Unable to find a deployment in sysroot ${sysroot}`);
      ctx.output.out(`${resolve(deploymentPath(sysroot, first))}\n`);
    },
  },
  verbs: {
    'init-fs': verb('Initialize a root filesystem', () => import('./init-fs.js')),
    'os-init': verb('Initialize empty state for given operating system', () => import('./os-init.js')),
    deploy: verb('Checkout revision REFSPEC as the new default deployment', () => import('./deploy.js')),
    'finalize-staged': verb('Finalize a staged deployment: merge /etc and make it the default boot entry', () => import('./finalize-staged.js')),
    status: verb('List deployments', () => import('./status.js')),
    cleanup: verb('Delete untagged deployments and repository objects', () => import('./cleanup.js')),
    upgrade: verb('Construct new tree from current origin and deploy it, if it changed', () => import('./upgrade.js')),
    undeploy: verb('Delete deployment INDEX', () => import('./undeploy.js')),
    pin: verb('Change the "pinning" state of a deployment', () => import('./pin.js')),
    'set-origin': verb('Set Origin and create a new origin file', () => import('./set-origin.js')),
  },
};

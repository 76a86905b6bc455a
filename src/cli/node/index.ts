/** `mco node` (also the `machine-config-daemon` executable): what the daemon does on a host. */
import { lazyVerb as verb, type Group } from '../command.js';
import { SYSROOT_OPTION } from '../sysroot-args.js';

export const nodeGroup: Group = {
  name: 'node',
  summary: 'Host operations of the machine-config daemon',
  globals: SYSROOT_OPTION,
  verbs: {
    start: verb('Run the node daemon: apply the desiredConfig of this node, reboot, validate, report', () => import('./start.js')),
    pivot: verb('Pull an OS image and rebase the host onto the OSTree commit inside it', () => import('./pivot.js')),
  },
};

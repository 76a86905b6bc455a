/** `mco ostree admin kargs`: kernel arguments of the existing boot entries (edit-in-place). */
import { appendKargsInPlace } from '../../../sysroot/kargs.js';
import { strs } from '../../args.js';
import type { Command, Group } from '../../command.js';
import { adminSysrootOf, SYSROOT_OPTION } from '../../sysroot-args.js';

const editInPlace: Command = {
  summary: 'Set new kernel command line arguments in place (applies to all deployments by default)',
  usage: '[--sysroot=PATH] --append-if-missing=NAME=VALUE…',
  options: {
    'append-if-missing': { type: 'string', multiple: true, description: 'Append kernel arguments if they do not exist', argument: 'NAME=VALUE' },
  },
  async run(args, ctx) {
    // Positional arguments are accepted and ignored, as ostree 2022.7 does.
    await appendKargsInPlace(adminSysrootOf(args, ctx), strs(args, 'append-if-missing'));
  },
};

export const kargsGroup: Group = {
  name: 'kargs',
  summary: 'Change kernel arguments',
  globals: SYSROOT_OPTION,
  verbs: {
    'edit-in-place': { summary: editInPlace.summary, load: async () => editInPlace },
  },
};

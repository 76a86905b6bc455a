/** `mco ostree admin instutil`: libostree's installer utilities (set-kargs). */
import { setDefaultKargs } from '../../../sysroot/kargs.js';
import { flag, strs } from '../../args.js';
import type { Command, Group } from '../../command.js';
import { adminSysrootOf, hostCmdline, SYSROOT_OPTION, sysrootEffects } from '../../sysroot-args.js';

const setKargs: Command = {
  summary: 'Set new kernel command line arguments(Not stable)',
  usage: '[--sysroot=PATH] [--merge|--import-proc-cmdline] [--replace=K=V]… [--append=K=V]… [ARGS…]',
  options: {
    'import-proc-cmdline': { type: 'boolean', description: 'Import current /proc/cmdline' },
    merge: { type: 'boolean', description: 'Merge with previous command line' },
    replace: { type: 'string', multiple: true, description: 'Set kernel argument, like root=/dev/sda1; this overrides any earlier argument with the same name', argument: 'NAME=VALUE' },
    append: { type: 'string', multiple: true, description: 'Append kernel argument; useful with e.g. console= that can be used multiple times', argument: 'NAME=VALUE' },
  },
  async run(args, ctx) {
    const sysroot = adminSysrootOf(args, ctx);
    await setDefaultKargs(sysroot, {
      merge: flag(args, 'merge'),
      ...(flag(args, 'import-proc-cmdline') ? { procCmdline: hostCmdline(ctx, '--import-proc-cmdline') } : {}),
      replace: strs(args, 'replace'),
      // As ostree: the positional arguments are appended after --append's.
      append: [...strs(args, 'append'), ...args.positionals],
    }, sysrootEffects(sysroot, ctx));
  },
};

export const instutilGroup: Group = {
  name: 'instutil',
  summary: 'Provide instutil commands, allow admin to change boot configuration and relabel selinux',
  globals: SYSROOT_OPTION,
  verbs: {
    'set-kargs': { summary: setKargs.summary, load: async () => setKargs },
  },
};

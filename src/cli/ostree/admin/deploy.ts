import { readFileSync } from 'node:fs';
import { KeyFile } from '../../../ostree/keyfile.js';
import type { DeployKargsEdit } from '../../../sysroot/deploy-kargs.js';
import { deploy } from '../../../sysroot/deploy.js';
import { stageDeployment } from '../../../sysroot/stage.js';
import { SysrootError } from '../../../sysroot/sysroot.js';
import { flag, required, str, strs, UsageError, type Parsed } from '../../args.js';
import type { Command, Context } from '../../command.js';
import { adminSysrootOf, sysrootEffects } from '../../sysroot-args.js';

/**
 * The command line `--karg-proc-cmdline` imports: this host's, i.e. MCO_KERNEL_CMDLINE_FILE on a
 * simulated node, else /proc/cmdline (whatever the sysroot, as libostree).
 */
function procCmdline(ctx: Context): string {
  const file = ctx.env['MCO_KERNEL_CMDLINE_FILE'] || '/proc/cmdline';
  try {
    return readFileSync(file, 'utf8');
  } catch (e) {
    throw new SysrootError(`--karg-proc-cmdline: cannot read the kernel command line from ${file}: ${(e as Error).message}`, { cause: e });
  }
}

/** The kernel-argument options, with ostree's refusals of combinations that contradict. */
function kargsEdit(args: Parsed, ctx: Context): DeployKargsEdit {
  const none = flag(args, 'karg-none');
  const proc = flag(args, 'karg-proc-cmdline');
  const del = str(args, 'karg-delete');
  if (proc && none) throw new UsageError("Can't specify both --karg-proc-cmdline and --karg-none");
  if (none && del !== undefined) throw new UsageError("Can't specify both --karg-none and --karg-delete");
  if (flag(args, 'no-merge') && del !== undefined) throw new UsageError("Can't specify both --no-merge and --karg-delete");
  return {
    none,
    ...(proc ? { procCmdline: procCmdline(ctx) } : {}),
    replace: strs(args, 'karg'),
    append: strs(args, 'karg-append'),
    ...(del !== undefined ? { delete: del } : {}),
  };
}

export const command: Command = {
  summary: 'Checkout revision REFSPEC as the new default deployment',
  usage: '[--sysroot=PATH] [--os=OSNAME] [--karg=K]… [--stage] REFSPEC',
  options: {
    os: { type: 'string', description: 'Use a different operating system root than the current one', argument: 'OSNAME' },
    'origin-file': { type: 'string', description: 'Specify origin file', argument: 'FILENAME' },
    'no-prune': { type: 'boolean', description: "Don't prune the repo when done" },
    'no-merge': { type: 'boolean', description: 'Do not apply configuration (/etc and kernel arguments) from booted deployment' },
    retain: { type: 'boolean', description: 'Do not delete previous deployments' },
    stage: { type: 'boolean', description: 'Complete deployment at OS shutdown (finalize-staged); needs a booted system' },
    'retain-pending': { type: 'boolean', description: 'Do not delete pending deployments' },
    'retain-rollback': { type: 'boolean', description: 'Do not delete rollback deployments' },
    'not-as-default': { type: 'boolean', description: 'Append rather than prepend new deployment' },
    'karg-proc-cmdline': { type: 'boolean', description: 'Import current /proc/cmdline' },
    karg: { type: 'string', multiple: true, description: 'Set kernel argument, like root=/dev/sda1; this overrides any earlier argument with the same name', argument: 'NAME=VALUE' },
    'karg-append': { type: 'string', multiple: true, description: 'Append kernel argument; useful with e.g. console= that can be used multiple times', argument: 'NAME=VALUE' },
    'karg-none': { type: 'boolean', description: 'Do not import kernel arguments' },
    'karg-delete': { type: 'string', description: 'Delete kernel argument if exists', argument: 'NAME=VALUE' },
  },
  async run(args, ctx) {
    const sysroot = adminSysrootOf(args, ctx);
    const revision = required(args, 0, 'REF/REV');
    const originFile = str(args, 'origin-file');
    const osname = str(args, 'os');
    const options = {
      ...(osname ? { osname } : {}),
      kargsEdit: kargsEdit(args, ctx),
      noMerge: flag(args, 'no-merge'),
      ...(originFile ? { origin: KeyFile.parse(readFileSync(originFile, 'utf8'), originFile) } : {}),
      retain: flag(args, 'retain'),
      retainPending: flag(args, 'retain-pending'),
      retainRollback: flag(args, 'retain-rollback'),
      notAsDefault: flag(args, 'not-as-default'),
      prune: !flag(args, 'no-prune'),
      ...sysrootEffects(sysroot, ctx),
    };
    if (flag(args, 'stage')) {
      const staged = await stageDeployment(sysroot, revision, options);
      ctx.output.out(`Staged ${staged.deployment.osname} ${staged.deployment.checksum}.${staged.deployment.serial}; run finalize-staged (at shutdown) to boot it\n`);
      return;
    }
    const result = await deploy(sysroot, revision, options);
    if (result.etc) ctx.output.out(`${result.etc}\n`);
    ctx.output.out(`Deployed ${result.deployment.osname} ${result.deployment.checksum}.${result.deployment.serial}\n`);
    if (result.cleanup.pruned?.pruned) ctx.output.out(`Freed objects: ${result.cleanup.pruned.pruned}\n`);
  },
};

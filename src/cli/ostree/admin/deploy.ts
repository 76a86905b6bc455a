import { readFileSync } from 'node:fs';
import { KeyFile } from '../../../ostree/keyfile.js';
import { deploy } from '../../../sysroot/deploy.js';
import { stageDeployment } from '../../../sysroot/stage.js';
import { flag, required, str, strs } from '../../args.js';
import type { Command } from '../../command.js';
import { sysrootEffects, sysrootOf } from '../../sysroot-args.js';

export const command: Command = {
  summary: 'Checkout revision REFSPEC as the new default deployment',
  usage: '[--sysroot=PATH] [--os=OSNAME] [--karg=K]… [--stage] REFSPEC',
  options: {
    os: { type: 'string', description: 'Use a different operating system root than the current one', argument: 'OSNAME' },
    karg: { type: 'string', multiple: true, description: 'Set kernel argument, like root=/dev/sda1; this overrides any earlier argument with the same name', argument: 'NAME=VALUE' },
    'karg-append': { type: 'string', multiple: true, description: 'Append kernel argument; useful with e.g. console= that can be used multiple times', argument: 'NAME=VALUE' },
    'origin-file': { type: 'string', description: 'Specify origin file', argument: 'FILENAME' },
    retain: { type: 'boolean', description: 'Do not delete previous deployments' },
    'retain-pending': { type: 'boolean', description: 'Do not delete pending deployments' },
    'retain-rollback': { type: 'boolean', description: 'Do not delete rollback deployments' },
    stage: { type: 'boolean', description: 'Complete deployment at OS shutdown (finalize-staged); needs a booted system' },
    'not-as-default': { type: 'boolean', description: 'Do not make the new deployment the default' },
    'no-prune': { type: 'boolean', description: 'Do not prune the repository' },
  },
  async run(args, ctx) {
    const sysroot = sysrootOf(args);
    const revision = required(args, 0, 'REFSPEC');
    const originFile = str(args, 'origin-file');
    const kargs = strs(args, 'karg');
    const osname = str(args, 'os');
    const options = {
      ...(osname ? { osname } : {}),
      ...(kargs.length ? { kargs } : {}),
      kargsAppend: strs(args, 'karg-append'),
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

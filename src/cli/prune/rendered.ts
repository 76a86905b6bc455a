/** `mco prune rendered --kubeconfig FILE [--confirm] [--pool P] [--count N]` */
import { clientsFor } from '../../controller/kube.js';
import { pruneRendered } from '../../controller/prune.js';
import { flag, positiveInt, str, UsageError } from '../args.js';
import type { Command } from '../command.js';

export const command: Command = {
  summary: 'Remove rendered MachineConfigs that no pool targets or reports and no node names as current or desired',
  usage: '--kubeconfig=FILE [--confirm] [--pool=POOL] [--count=N]',
  options: {
    kubeconfig: { type: 'string', argument: 'FILE', description: 'Kubeconfig of the cluster (default: $KUBECONFIG)' },
    confirm: { type: 'boolean', description: 'Delete; without it, only print what would be deleted' },
    pool: { type: 'string', argument: 'POOL', description: "Only this pool's rendered configs" },
    count: { type: 'string', argument: 'N', description: 'At most N configs, oldest first' },
  },
  async run(args, ctx) {
    if (args.positionals.length) throw new UsageError(`Unexpected argument '${args.positionals[0]}'`);
    const kubeconfig = str(args, 'kubeconfig') ?? ctx.env['KUBECONFIG'];
    if (!kubeconfig) throw new UsageError('--kubeconfig must be specified');
    const pool = str(args, 'pool');
    const count = positiveInt(args, 'count');
    const confirm = flag(args, 'confirm');
    const plan = await pruneRendered(clientsFor(kubeconfig), { confirm, ...(pool !== undefined ? { pool } : {}), ...(count !== undefined ? { count } : {}) });
    if (!confirm) ctx.output.out('Dry run enabled - no modifications will be made. Add --confirm to remove rendered machine configs.\n');
    for (const name of plan.prune) ctx.output.out(`${confirm ? 'Deleted' : 'Would delete'} rendered MachineConfig ${name}\n`);
    for (const u of plan.inUse) ctx.output.out(`Skipping rendered MachineConfig ${u.name}: in use by ${u.by.join(', ')}\n`);
    if (plan.prune.length === 0) ctx.output.out('No unused rendered MachineConfigs to remove\n');
  },
};

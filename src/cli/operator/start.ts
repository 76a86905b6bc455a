/** `mco operator start --kubeconfig FILE [--release-version V] [--metrics-listen ADDR]` */
import { runOperator } from '../../controller/run.js';
import { str, UsageError } from '../args.js';
import type { Command } from '../command.js';
import { LEADER_OPTIONS, leaderFlags, runUntilDone } from '../controller/leader-flags.js';

export const command: Command = {
  summary: 'Run the operator (leader-elected through the machine-config Lease)',
  usage: '--kubeconfig=FILE [--release-version=V] [--metrics-listen=HOST:PORT]',
  options: {
    ...LEADER_OPTIONS,
    'release-version': { type: 'string', argument: 'V', description: 'This release\'s version; only a ConfigMap with the same releaseVersion is read (default: $RELEASE_VERSION)' },
  },
  async run(args, ctx) {
    const flags = leaderFlags(args, ctx.env);
    const releaseVersion = str(args, 'release-version') ?? ctx.env['RELEASE_VERSION'];
    if (!releaseVersion) throw new UsageError('--release-version (or RELEASE_VERSION) must be specified');
    return runUntilDone((onLostLeadership) => runOperator({ ...flags, releaseVersion, onLostLeadership }));
  },
};

/** `mco controller start --kubeconfig FILE [--metrics-listen ADDR]` */
import { runController } from '../../controller/run.js';
import { pruneOsContentCache } from '../../image/os-content-client.js';
import type { Command } from '../command.js';
import { LEADER_OPTIONS, leaderFlags, runUntilDone } from './leader-flags.js';

export const command: Command = {
  summary: 'Run the render and node controllers (leader-elected through the machine-config-controller Lease); once rollouts end, the OS content cache (ControllerConfig spec.osContentURL) drops the images no pool uses',
  usage: '--kubeconfig=FILE [--metrics-listen=HOST:PORT]',
  options: LEADER_OPTIONS,
  async run(args, ctx) {
    const flags = leaderFlags(args, ctx.env);
    return runUntilDone((onLostLeadership) => runController({ ...flags, onLostLeadership, pruneOsContent: pruneOsContentCache }));
  },
};

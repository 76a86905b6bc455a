/** Flags shared by the leader-elected commands (`mco controller start`, `mco operator start`). */
import { positiveInt, str, UsageError, type Parsed } from '../args.js';
import { untilInterrupted, type Command } from '../command.js';

export const LEADER_OPTIONS: Command['options'] = {
  kubeconfig: { type: 'string', argument: 'FILE', description: 'Kubeconfig of the cluster (default: $KUBECONFIG)' },
  'metrics-listen': { type: 'string', argument: 'HOST:PORT', description: "Serve Prometheus metrics at /metrics here; '' serves none" },
  'leader-elect-lease-duration': { type: 'string', argument: 'SECONDS', description: 'How long a standby waits for a silent leader before taking over (default 15)' },
};

export interface LeaderFlags {
  kubeconfig: string;
  metricsListen?: string;
  leaseDurationMs?: number;
}

export function leaderFlags(args: Parsed, env: NodeJS.ProcessEnv): LeaderFlags {
  if (args.positionals.length) throw new UsageError(`Unexpected argument '${args.positionals[0]}'`);
  const kubeconfig = str(args, 'kubeconfig') ?? env['KUBECONFIG'];
  if (!kubeconfig) throw new UsageError('--kubeconfig must be specified');
  const metricsListen = str(args, 'metrics-listen');
  const lease = positiveInt(args, 'leader-elect-lease-duration');
  return { kubeconfig, ...(metricsListen !== undefined ? { metricsListen } : {}), ...(lease ? { leaseDurationMs: lease * 1000 } : {}) };
}

/**
 * Runs until SIGINT/SIGTERM (exit 0) or until leadership is lost (exit 1, so a supervisor
 * restarts the process as a fresh candidate, as the real components do).
 */
export async function runUntilDone(start: (onLost: () => void) => Promise<{ stop(): Promise<void> }>): Promise<number> {
  let lost = (): void => {};
  const lostLeadership = new Promise<number>((resolve) => (lost = () => resolve(1)));
  const running = await start(() => lost());
  const code = await Promise.race([untilInterrupted().then(() => 0), lostLeadership]);
  await running.stop();
  return code;
}

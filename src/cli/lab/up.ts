import { labUp } from '../../lab/lab.js';
import { osContentURL } from '../../lab/layout.js';
import { str, UsageError, type Parsed } from '../args.js';
import type { Command } from '../command.js';

/** `--NAME N` as a whole number ≥ 0 (a lab may have no workers). */
function count(args: Parsed, name: string): number | undefined {
  const text = str(args, name);
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n < 0) throw new UsageError(`--${name} takes a whole number, not "${text}"`);
  return n;
}

export const command: Command = {
  summary: 'Start the lab in the background (create it the first time, resume it later); returns when the cluster is ready',
  usage: '[--dir=DIR] [--masters=N] [--workers=N] [--api-port=PORT] [--registry-port=PORT] [--daemons-per-process=N]',
  options: {
    masters: { type: 'string', description: 'Master nodes of a new lab (default 3)', argument: 'N' },
    workers: { type: 'string', description: 'Worker nodes of a new lab (default 2)', argument: 'N' },
    'api-port': { type: 'string', description: 'API server port of a new lab (default: any free port)', argument: 'PORT' },
    'registry-port': { type: 'string', description: 'Registry port of a new lab (default: any free port)', argument: 'PORT' },
    'daemons-per-process': { type: 'string', description: 'Node daemons sharing one process in a new lab (default: 1 up to 10 nodes, 50 beyond)', argument: 'N' },
  },
  async run(args, ctx) {
    if (args.positionals.length) throw new UsageError(`unexpected argument "${args.positionals[0]}"`);
    const dir = str(args, 'dir') ?? '.lab';
    const masters = count(args, 'masters');
    const workers = count(args, 'workers');
    const apiPort = count(args, 'api-port');
    const registryPort = count(args, 'registry-port');
    const daemonsPerProcess = count(args, 'daemons-per-process');
    const say = (line: string): void => ctx.output.out(`${line}\n`);
    const { paths, state } = await labUp({
      dir, say,
      ...(masters !== undefined ? { masters } : {}),
      ...(workers !== undefined ? { workers } : {}),
      ...(apiPort !== undefined ? { apiPort } : {}),
      ...(registryPort !== undefined ? { registryPort } : {}),
      ...(daemonsPerProcess !== undefined ? { daemonsPerProcess } : {}),
    });
    const flagDir = dir === '.lab' ? '' : ` --dir ${dir}`;
    const worker = state.nodes.find((n) => n.role === 'worker') ?? state.nodes[0]!;
    say(`\nThe lab is up: ${state.masters} masters, ${state.workers} workers.`);
    say(`  kubeconfig: ${paths.kubeconfig}`);
    say(`  registry:   127.0.0.1:${state.registryPort}`);
    say(`  OS content: ${osContentURL(state)} (the nodes pull OSTree objects from it)`);
    say(`  releases:   ${(state.releases ?? []).join('  ')}`);
    say(`\nNext:\n  export KUBECONFIG=${paths.kubeconfig}\n  kubectl get mcp\n  kubectl get nodes\n  npx mco lab status${flagDir} --watch\n  npx mco lab ssh${flagDir} ${worker.name} -- rpm-ostree status\n  npx mco lab demo${flagDir}\n  npx mco lab down${flagDir}`);
  },
};

/**
 * `mco`: the one entry point. Dispatches to command groups, and is the only place where an
 * error becomes an exit code: usage errors exit 2, every other failure prints one
 * `error: …` line and exits 1 (set MCO_DEBUG=1 for the stack).
 */
import { UsageError } from './args.js';
import { runGroup, type Context, type Group } from './command.js';

const GROUPS: Record<string, { summary: string; load: () => Promise<Group> }> = {
  ostree: { summary: 'OSTree repositories, as the ostree CLI', load: async () => (await import('./ostree/index.js')).ostreeGroup },
  host: { summary: 'The host OS, as rpm-ostree: status of deployments', load: async () => (await import('./host/index.js')).hostGroup },
  demo: { summary: 'Runnable demonstrations on embedded defaults', load: async () => (await import('./demo/index.js')).demoGroup },
  image: { summary: 'OS container images: inspect, pull, extract, push (as skopeo and oc image)', load: async () => (await import('./image/index.js')).imageGroup },
  registry: { summary: 'The embedded image registry (Distribution API v2)', load: async () => (await import('./registry/index.js')).registryGroup },
  release: { summary: 'Release payloads: build one, find an image in one (as oc adm release)', load: async () => (await import('./release/index.js')).releaseGroup },
  node: { summary: 'Host operations of the machine-config daemon: pivot to an OS image', load: async () => (await import('./node/index.js')).nodeGroup },
  apiserver: { summary: 'Embedded Kubernetes-compatible API server (HTTPS, SQLite)', load: async () => (await import('./apiserver/index.js')).apiserverGroup },
  lab: { summary: 'A one-machine cluster: API server, registry, controllers and simulated nodes (up, down, status, ssh, demo)', load: async () => (await import('./lab/index.js')).labGroup },
  operator: { summary: 'The machine-config-operator: pools, templates, osImageURL → ControllerConfig', load: async () => (await import('./operator/index.js')).operatorGroup },
  controller: { summary: 'The machine-config-controller: render and roll out each pool\'s config', load: async () => (await import('./controller/index.js')).controllerGroup },
  'os-content': { summary: 'The cluster-local OS content cache: OS images pulled once, OSTree objects served (serve, prune)', load: async () => (await import('./os-content/index.js')).osContentGroup },
  prune: { summary: 'Remove unused rendered MachineConfigs (as oc adm prune renderedmachineconfigs)', load: async () => (await import('./prune/index.js')).pruneGroup },
};

function usage(): string {
  const width = Math.max(...Object.keys(GROUPS).map((g) => g.length)) + 4;
  return `Usage:\n  mco COMMAND [OPTION…]\n\nAtomic, image-based OS updates: OSTree repositories and deployments for a fleet of machines.\n\nCommands:\n${Object.entries(GROUPS).map(([n, g]) => `  ${n.padEnd(width)}${g.summary}`).join('\n')}\n\nRun 'mco COMMAND --help' for more.\n`;
}

export async function main(argv: string[], ctx: Context): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    ctx.output.out(usage());
    return name === undefined ? 2 : 0;
  }
  const group = GROUPS[name];
  try {
    if (!group) throw new UsageError(`Unknown command '${name}'`);
    return await runGroup('mco', await group.load(), rest, ctx);
  } catch (e) {
    const err = e as Error;
    if (ctx.env['MCO_DEBUG']) ctx.output.err(`${err.stack}\n`);
    ctx.output.err(`error: ${err.message}\n`);
    if (e instanceof UsageError) {
      ctx.output.err(`Try '${['mco', group ? name : ''].filter(Boolean).join(' ')} --help' for usage.\n`);
      return 2;
    }
    return 1;
  }
}

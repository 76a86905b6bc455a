/**
 * `mco lab ssh NODE`: a shell "on" a simulated node. The node's `bin/` holds wrappers, first on
 * PATH, so the seed's node-level transcript can be typed as written: `rpm-ostree` and
 * `ostree admin` act on the node's sysroot and see what it booted (MCO_KERNEL_CMDLINE_FILE),
 * `machine-config-daemon pivot IMAGE` pivots it (trusting the lab's plain-http registry, as
 * a registries.conf entry would), and `reboot` asks the lab to reboot it.
 */
import { chmodSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LabError, MCD_JS, MCO_JS, nodePaths, type LabPaths, type LabState } from './layout.js';


/** POSIX shell single-quoting. */
export const shellQuote = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

/** The wrapper scripts of a node: name → script text. */
export function nodeTools(paths: LabPaths, node: string): Record<string, string> {
  const np = nodePaths(paths, node);
  const nodejs = shellQuote(process.execPath);
  const sysroot = shellQuote(`--sysroot=${np.sysroot}`);
  const head = `#!/bin/sh\n# ${node} of the lab in ${paths.dir}\nexport MCO_KERNEL_CMDLINE_FILE=${shellQuote(np.cmdline)}\n`;
  return {
    'rpm-ostree': `${head}exec ${nodejs} ${shellQuote(MCO_JS)} host "$@" ${sysroot}\n`,
    ostree: `${head}if [ "$1" = admin ]; then shift; exec ${nodejs} ${shellQuote(MCO_JS)} ostree admin ${sysroot} "$@"; fi\nexec ${nodejs} ${shellQuote(MCO_JS)} ostree "$@"\n`,
    'machine-config-daemon': `${head}if [ "$1" = pivot ]; then exec ${nodejs} ${shellQuote(MCD_JS)} "$@" ${sysroot} --insecure; fi\nexec ${nodejs} ${shellQuote(MCD_JS)} "$@" ${sysroot}\n`,
    reboot: `${head}exec ${nodejs} ${shellQuote(MCO_JS)} lab reboot --dir ${shellQuote(paths.dir)} ${shellQuote(node)}\n`,
  };
}

/** Writes (or refreshes) the node's wrappers under its `bin/`. */
export function writeNodeTools(paths: LabPaths, node: string): void {
  const bin = nodePaths(paths, node).bin;
  mkdirSync(bin, { recursive: true });
  for (const [name, text] of Object.entries(nodeTools(paths, node))) {
    writeFileSync(join(bin, name), text);
    chmodSync(join(bin, name), 0o755);
  }
}

export interface SshInvocation {
  argv: [string, ...string[]];
  env: NodeJS.ProcessEnv;
  cwd: string;
}

/** What `mco lab ssh NODE [-- CMD…]` runs: CMD, or an interactive shell, with the node's tools first on PATH. */
export function sshInvocation(paths: LabPaths, state: LabState, node: string, command: string[], env: NodeJS.ProcessEnv): SshInvocation {
  if (!state.nodes.some((n) => n.name === node)) {
    throw new LabError(`No node ${node} in the lab in ${paths.dir} (nodes: ${state.nodes.map((n) => n.name).join(', ')})`);
  }
  const np = nodePaths(paths, node);
  if (!existsSync(np.bin)) writeNodeTools(paths, node);
  const nodeEnv: NodeJS.ProcessEnv = {
    ...env,
    PATH: `${np.bin}:${env['PATH'] ?? '/usr/bin:/bin'}`,
    MCO_KERNEL_CMDLINE_FILE: np.cmdline,
    HOSTNAME: node,
    PS1: `[root@${node} ~]# `,
  };
  const argv: [string, ...string[]] = command.length > 0 ? ['/bin/sh', '-c', command.length === 1 ? command[0]! : command.map(shellQuote).join(' ')] : ['/bin/bash', '--norc', '-i'];
  return { argv, env: nodeEnv, cwd: np.dir };
}

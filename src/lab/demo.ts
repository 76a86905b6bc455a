/**
 * `mco lab demo`: the seed's cluster story played against a running lab with the commands the
 * seed types — real `kubectl`, `mco release info`, and on the nodes (through `mco lab ssh`'s
 * wrappers) `rpm-ostree status`, `machine-config-daemon pivot` and `reboot` — each command
 * printed before its output. Where the story waits (a reboot, a rollout), the demo polls
 * and prints what changed.
 */
import { spawnSync } from 'node:child_process';
import { bootIdentity } from './firmware.js';
import { existingLab } from './lab.js';
import { MCO_JS, nodePaths } from './layout.js';
import { RELEASE_REPOSITORY, releaseTag } from './os-images.js';
import { sshInvocation } from './ssh.js';

export interface LabDemoOptions {
  dir: string;
  say: (line: string) => void;
  /** How long any one wait may take. */
  timeoutMs?: number;
  kubectl?: string;
}

export class DemoError extends Error {
  override name = 'DemoError';
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface Ran {
  status: number | null;
  stdout: string;
  stderr: string;
}

export async function runLabDemo(options: LabDemoOptions): Promise<void> {
  const { paths, state } = existingLab(options.dir);
  const { say } = options;
  const timeoutMs = options.timeoutMs ?? 600_000;
  const kubectlBin = options.kubectl ?? 'kubectl';
  const env: NodeJS.ProcessEnv = { ...process.env, KUBECONFIG: paths.kubeconfig };
  delete env['MCO_KERNEL_CMDLINE_FILE'];

  const show = (prompt: string, shown: string, r: Ran): Ran => {
    say(`${prompt}${shown}`);
    const text = `${r.stdout}${r.stderr}`.trimEnd();
    if (text) say(text);
    return r;
  };
  const run = (argv: string[], runEnv: NodeJS.ProcessEnv = env, cwd?: string): Ran => {
    const r = spawnSync(argv[0]!, argv.slice(1), { env: runEnv, encoding: 'utf8', ...(cwd ? { cwd } : {}), maxBuffer: 64 * 1024 * 1024 });
    if (r.error) throw new DemoError(`Cannot run ${argv[0]}: ${r.error.message}`);
    return { status: r.status, stdout: r.stdout, stderr: r.stderr };
  };
  const kubectl = (args: string[], quiet = false): Ran => {
    const r = run([kubectlBin, ...args]);
    if (!quiet) show('$ ', `kubectl ${args.map(quoteForShow).join(' ')}`, r);
    if (r.status !== 0) throw new DemoError(`kubectl ${args.join(' ')} failed: ${r.stderr.trim()}`);
    return r;
  };
  const onNode = (node: string, command: string, quiet = false): Ran => {
    // One stream, as a terminal shows it: the pivot's log lines and its result in order.
    const inv = sshInvocation(paths, state, node, [`${command} 2>&1`], process.env);
    const r = run(inv.argv, inv.env, inv.cwd);
    if (!quiet) show(`[root@${node} ~]# `, command, r);
    if (r.status !== 0) throw new DemoError(`${command} on ${node} failed: ${r.stderr.trim()}`);
    return r;
  };
  const until = async <T>(what: string, probe: () => T | undefined | Promise<T | undefined>): Promise<T> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const v = await probe();
      if (v !== undefined) return v;
      if (Date.now() > deadline) throw new DemoError(`Timed out waiting for ${what}`);
      await sleep(1000);
    }
  };
  const rebootAndWait = async (node: string): Promise<void> => {
    const cmdline = nodePaths(paths, node).cmdline;
    const before = bootIdentity(cmdline);
    onNode(node, 'reboot');
    await until(`${node} to boot`, () => (bootIdentity(cmdline) !== before ? true : undefined));
    await until(`${node} to be Ready`, () => (/True/.test(kubectl(['get', 'node', node, '-o', 'jsonpath={.status.conditions[?(@.type=="Ready")].status}'], true).stdout) ? true : undefined));
  };
  const pool = (name: string): PoolView => JSON.parse(kubectl(['get', 'mcp', name, '-o', 'json'], true).stdout) as PoolView;

  const registry = `127.0.0.1:${state.registryPort}`;
  const worker = state.nodes.find((n) => n.role === 'worker')?.name;
  if (!worker) throw new DemoError('The demo needs a worker node; this lab has none');
  const master = state.nodes.find((n) => n.role === 'master')!.name;

  say('# 1. Which machine-os-content does each release carry?');
  const imageFor = (release: string): string => {
    const argv = ['mco', 'release', 'info', '--insecure', '--image-for', 'machine-os-content', `${registry}/${RELEASE_REPOSITORY}:${releaseTag(release)}`];
    const r = show('$ ', argv.join(' '), run([process.execPath, MCO_JS, ...argv.slice(1)]));
    if (r.status !== 0) throw new DemoError(`mco release info failed: ${r.stderr.trim()}`);
    return r.stdout.trim();
  };
  const oldImage = imageFor('4.6.8');
  const newImage = imageFor('4.6.13');

  say(`\n# 2. Force-pivot ${worker} by hand, as the seed does over ssh, and reboot it`);
  onNode(worker, 'rpm-ostree status');
  onNode(worker, `machine-config-daemon pivot ${newImage}`);
  onNode(worker, 'rpm-ostree status');
  await rebootAndWait(worker);
  onNode(worker, 'rpm-ostree status');

  say('\n# 3. The pool notices the drift');
  await until('the worker pool to turn Degraded', () => (condition(pool('worker'), 'Degraded') === 'True' ? true : undefined));
  const described = kubectl(['describe', 'mcp', 'worker'], true).stdout;
  say('$ kubectl describe mcp worker');
  say('(...)');
  for (const line of described.split('\n').filter((l) => /Message:.*is reporting/.test(l))) say(line);
  say('(...)');

  say(`\n# 4. Roll ${worker} back by pivoting to the original image`);
  onNode(worker, `machine-config-daemon pivot ${oldImage}`);
  await rebootAndWait(worker);
  onNode(worker, 'rpm-ostree status');
  await until('the worker pool to recover', () => (condition(pool('worker'), 'Degraded') === 'False' ? true : undefined));
  kubectl(['get', 'mcp']);

  say('\n# 5. Cluster-wide: stop the CVO, then patch the osImageURL ConfigMap');
  kubectl(['-n', 'openshift-cluster-version', 'scale', '--replicas=0', 'deploy/cluster-version-operator']);
  say('# First with a wrong releaseVersion: the operator refuses it');
  kubectl(['patch', 'cm', '-n', 'openshift-machine-config-operator', 'machine-config-osimageurl', '--type=merge', '-p', JSON.stringify({ data: { osImageURL: newImage, releaseVersion: '4.6.13' } })]);
  const refusal = await until('the operator to refuse the release version', () => {
    const r = run([kubectlBin, 'logs', '-n', 'openshift-machine-config-operator', state.pods.operator]);
    return r.stdout.split('\n').find((l) => l.includes('refusing to read osImageURL version'));
  });
  say(`$ kubectl logs -n openshift-machine-config-operator ${state.pods.operator}\n(...)\n${refusal}\n(...)`);
  say('# Then the right way: only osImageURL changes');
  kubectl(['patch', 'cm', '-n', 'openshift-machine-config-operator', 'machine-config-osimageurl', '--type=merge', '-p', JSON.stringify({ data: { osImageURL: newImage, releaseVersion: '4.6.8' } })]);
  kubectl(['get', '-o', 'yaml', 'cm', '-n', 'openshift-machine-config-operator', 'machine-config-osimageurl']);

  say('\n# 6. New rendered configs, then the pools roll node by node');
  const roles = [...new Set(state.nodes.map((n) => n.role))];
  await until('new rendered configs', () => {
    const mcs = JSON.parse(kubectl(['get', 'mc', '-o', 'json'], true).stdout) as { items: { metadata: { name: string }; spec: { osImageURL?: string } }[] };
    return roles.every((role) => mcs.items.some((m) => m.metadata.name.startsWith(`rendered-${role}-`) && m.spec.osImageURL === newImage)) ? true : undefined;
  });
  kubectl(['get', 'mc']);
  let last = '';
  await until('every pool to finish updating', () => {
    // The state first, then the table: a table fetched after a finished state shows it finished.
    const pools = JSON.parse(kubectl(['get', 'mcp', '-o', 'json'], true).stdout) as { items: PoolView[] };
    const done = pools.items.every((p) => condition(p, 'Updated') === 'True' && p.status?.configuration?.name === p.spec?.configuration?.name && p.status?.updatedMachineCount === p.status?.machineCount);
    const table = kubectl(['get', 'mcp'], true).stdout.trimEnd();
    const rows = table.split('\n').slice(1).map((l) => l.replace(/\s+\S+$/, '')).join('\n');
    if (rows !== last) {
      last = rows;
      say(`$ kubectl get mcp\n${table}`);
    }
    return done && pools.items.some((p) => p.status?.configuration?.name) ? true : undefined;
  });

  say(`\n# 7. Every node runs the new OS; on ${master}:`);
  onNode(master, 'rpm-ostree status');
  say(`\nThe lab keeps running: kubectl with KUBECONFIG=${paths.kubeconfig}; mco lab ssh NODE; mco lab down to stop it.`);
}

interface PoolView {
  spec?: { configuration?: { name?: string } };
  status?: { configuration?: { name?: string }; conditions?: { type: string; status: string; message?: string }[]; machineCount?: number; updatedMachineCount?: number };
}

const condition = (p: PoolView, type: string): string | undefined => p.status?.conditions?.find((c) => c.type === type)?.status;

/** Quotes an argument for display only when a shell would need it. */
const quoteForShow = (a: string): string => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`);


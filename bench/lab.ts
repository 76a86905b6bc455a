/**
 * `node dist/bench/lab.js [--workers=2,200] [--json]`: the cluster lab at fleet sizes. For each
 * size, a fresh `mco lab up --masters 3 --workers N` is timed; the worker pool gets
 * `maxUnavailable: 25%`; then the osImageURL ConfigMap is patched to the second OS image and
 * the rollout is followed until both pools are Updated. Reported: lab-up time, rollout wall
 * time in total and per node (each node from Working to Done on the new config, sampled every
 * 2 s), peak resident memory of all lab processes together, and the operator's and
 * controller's share of the lab's CPU time during the rollout.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { labProcesses } from '../src/lab/lab.js';
import { labPaths, nodePaths, readLabState, readSupervisor } from '../src/lab/layout.js';
import { makeMutable } from '../src/sysroot/cleanup.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const MCO_JS = join(ROOT, 'dist', 'src', 'cli', 'mco.js');
const WORK = join(ROOT, '.bench', 'work-lab');
const TICKS = 100; // USER_HZ on Linux

const { values: opts } = parseArgs({
  options: {
    workers: { type: 'string', default: '2,200' },
    json: { type: 'boolean', default: false },
  },
});

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function mco(...args: string[]): string {
  const r = spawnSync(process.execPath, [MCO_JS, ...args], { encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`mco ${args.join(' ')}: ${r.stderr || r.stdout}`);
  return r.stdout;
}

/** RSS (bytes) and CPU time (s) of a process, or null when it is gone. */
function procSample(pid: number): { rss: number; cpu: number } | null {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const rss = Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0) * 1024;
    return { rss, cpu: (Number(fields[11]) + Number(fields[12])) / TICKS };
  } catch {
    return null;
  }
}

interface Result {
  masters: number;
  workers: number;
  labUpS: number;
  rolloutS: number;
  perNodeMedianS: number;
  perNodeMaxS: number;
  peakRssMiB: number;
  controllersCpuShare: number;
}

async function runSize(workers: number): Promise<Result> {
  const dir = join(WORK, `lab-${workers}`);
  removeLab(dir);
  const paths = labPaths(dir);
  const kubectl = (...args: string[]): string => {
    const r = spawnSync('kubectl', ['--kubeconfig', paths.kubeconfig, ...args], { encoding: 'utf8', maxBuffer: 64 << 20 });
    if (r.status !== 0) throw new Error(`kubectl ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
  let peakRss = 0;
  const cpu = new Map<string, { first: number; last: number }>();
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      const sup = readSupervisor(paths);
      const procs = sup ? [{ name: 'supervisor', pid: sup.pid }, ...(await labProcesses(dir).catch(() => []))] : [];
      let rss = 0;
      for (const p of procs) {
        if (!p.pid) continue;
        const s = procSample(p.pid);
        if (!s) continue;
        rss += s.rss;
        const key = `${p.name}:${p.pid}`;
        const c = cpu.get(key);
        if (c) c.last = s.cpu;
        else cpu.set(key, { first: s.cpu, last: s.cpu });
      }
      peakRss = Math.max(peakRss, rss);
      await sleep(2000);
    }
  })();

  const t0 = Date.now();
  mco('lab', 'up', '--dir', dir, '--masters', '3', '--workers', String(workers));
  const labUpS = (Date.now() - t0) / 1000;
  const state = readLabState(paths)!;
  kubectl('patch', 'mcp', 'worker', '--type=merge', '-p', JSON.stringify({ spec: { maxUnavailable: '25%' } }));
  const cpuBefore = new Map([...cpu].map(([k, v]) => [k, v.last]));
  const [, next] = state.images!;
  const t1 = Date.now();
  kubectl('patch', 'cm', '-n', 'openshift-machine-config-operator', 'machine-config-osimageurl', '--type=merge', '-p', JSON.stringify({ data: { osImageURL: next!.image } }));
  const started = new Map<string, number>();
  const finished = new Map<string, number>();
  for (;;) {
    await sleep(2000);
    const nodes = JSON.parse(kubectl('get', 'nodes', '-o', 'json')) as { items: { metadata: { name: string; annotations?: Record<string, string> } }[] };
    const now = Date.now();
    for (const n of nodes.items) {
      const a = n.metadata.annotations ?? {};
      const state_ = a['machineconfiguration.openshift.io/state'];
      if (state_ === 'Working' && !started.has(n.metadata.name)) started.set(n.metadata.name, now);
      const booted = fs.existsSync(nodePaths(paths, n.metadata.name).cmdline);
      if (booted && started.has(n.metadata.name) && state_ === 'Done' && a['machineconfiguration.openshift.io/currentConfig'] === a['machineconfiguration.openshift.io/desiredConfig'] && !finished.has(n.metadata.name)) finished.set(n.metadata.name, now);
    }
    const pools = JSON.parse(kubectl('get', 'mcp', '-o', 'json')) as { items: { status?: { conditions?: { type: string; status: string }[]; updatedMachineCount?: number; machineCount?: number } }[] };
    const done = pools.items.every((p) => p.status?.conditions?.some((c) => c.type === 'Updated' && c.status === 'True') && p.status.updatedMachineCount === p.status.machineCount);
    if (done && finished.size === state.nodes.length) break;
    if (now - t1 > 3 * 3600_000) throw new Error(`rollout of ${workers} workers did not finish in 3 h`);
  }
  const rolloutS = (Date.now() - t1) / 1000;
  let all = 0;
  let controllers = 0;
  for (const [key, c] of cpu) {
    const used = c.last - (cpuBefore.get(key) ?? c.first);
    all += used;
    if (key.startsWith('operator:') || key.startsWith('controller:')) controllers += used;
  }
  sampling = false;
  await sampler;
  mco('lab', 'down', '--dir', dir);
  removeLab(dir);
  const durations = state.nodes.map((n) => ((finished.get(n.name) ?? 0) - (started.get(n.name) ?? 0)) / 1000).sort((a, b) => a - b);
  return {
    masters: 3,
    workers,
    labUpS,
    rolloutS,
    perNodeMedianS: durations[Math.floor(durations.length / 2)]!,
    perNodeMaxS: durations.at(-1)!,
    peakRssMiB: Math.round(peakRss / 2 ** 20),
    controllersCpuShare: all > 0 ? controllers / all : 0,
  };
}

function removeLab(dir: string): void {
  if (!fs.existsSync(dir)) return;
  const nodes = join(dir, 'nodes');
  for (const node of fs.existsSync(nodes) ? fs.readdirSync(nodes) : []) {
    const deploy = join(nodes, node, 'sysroot', 'ostree', 'deploy', 'rhcos', 'deploy');
    for (const d of fs.existsSync(deploy) ? fs.readdirSync(deploy) : []) makeMutable(join(deploy, d));
  }
  fs.rmSync(dir, { recursive: true, force: true });
}

const results: Result[] = [];
for (const w of opts.workers.split(',').map(Number)) results.push(await runSize(w));
if (opts.json) {
  console.log(JSON.stringify(results, null, 2));
} else {
  console.log('lab: mco lab up, then a rollout of the second OS image (worker pool maxUnavailable 25%)');
  console.log('nodes (m+w)  lab up   rollout  per node (median / max)  peak RSS  operator+controller CPU share');
  for (const r of results) {
    console.log(`${`${r.masters + r.workers} (${r.masters}+${r.workers})`.padEnd(13)}${`${r.labUpS.toFixed(0)} s`.padEnd(9)}${`${r.rolloutS.toFixed(0)} s`.padEnd(9)}${`${r.perNodeMedianS.toFixed(0)} s / ${r.perNodeMaxS.toFixed(0)} s`.padEnd(25)}${`${r.peakRssMiB} MiB`.padEnd(10)}${(r.controllersCpuShare * 100).toFixed(1)} %`);
  }
}

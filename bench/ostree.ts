/**
 * `npm run bench`: our `mco ostree` against the real `ostree`, side by side in one run, on the
 * same inputs: `commit` and `checkout` in archive and bare repos, on a generated tree and on a
 * Debian minbase rootfs. Prints median wall time, the ratio ours/ostree and peak RSS, then
 * checks the targets (commit ≤ 0.8×, checkout ≤ 1.0× of ostree's time, our peak RSS < 300 MB).
 * A missed target is a measurement, not a failure; different outputs (commit checksums,
 * checked-out trees) are a failure: the timings would compare different work.
 *
 *   node dist/bench/ostree.js [--quick] [--json] [--reps=N] [--ops=commit,checkout]
 *                              [--modes=archive,bare] [--workloads=generated,debian] [--keep]
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { prepareDebian } from './debian.js';
import { compareTrees, median, run, timed, type Sample } from './measure.js';
import { generateTree, PROFILES, TREE_VERSION, type TreeStats } from './tree-gen.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const CACHE = join(ROOT, '.bench');
const WORK = join(CACHE, 'work');
const MCO = join(ROOT, 'dist', 'src', 'cli', 'mco.js');
const OSTREE = fs.existsSync('/usr/bin/ostree') ? '/usr/bin/ostree' : 'ostree';

const HELP = `Usage: node dist/bench/ostree.js [OPTION…]
  --quick                 smaller generated tree, 1 repetition, no Debian rootfs (unless --workloads says so)
  --json                  print the results as JSON (progress still goes to stderr)
  --reps=N                repetitions per measurement (default 3; 1 with --quick)
  --ops=commit,checkout   which operations to time
  --modes=archive,bare    which repository modes
  --workloads=generated,debian
  --keep                  keep repos and checkouts under .bench/work`;

const TARGETS = { commitRatio: 0.8, checkoutRatio: 1.0, peakMB: 300 };

type Tool = 'ours' | 'ostree';
type Op = 'commit' | 'checkout';
type Mode = 'archive' | 'bare';
type WorkloadName = 'generated' | 'debian';

/** Both tools take the same verbs and flags; only the program differs. */
const argv = (tool: Tool, args: string[]): string[] =>
  tool === 'ours' ? [process.execPath, MCO, 'ostree', ...args] : [OSTREE, ...args];

interface Workload {
  name: WorkloadName;
  path: string;
  description: string;
}

interface Side {
  medianSeconds: number;
  seconds: number[];
  medianCpuSeconds: number;
  peakMB: number;
}

interface Row {
  workload: WorkloadName;
  mode: Mode;
  op: Op;
  ours: Side;
  ostree: Side;
  ratio: number;
  commit: string;
}

interface Check {
  workload: WorkloadName;
  mode: Mode;
  op: Op;
  what: 'time' | 'peak-rss';
  value: number;
  target: number;
  pass: boolean;
}

const { values: opts } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
    reps: { type: 'string' },
    ops: { type: 'string', default: 'commit,checkout' },
    modes: { type: 'string', default: 'archive,bare' },
    workloads: { type: 'string' },
    keep: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (opts.help) {
  process.stdout.write(`${HELP}\n`);
  process.exit(0);
}

function listOption<T extends string>(value: string, allowed: readonly T[], flag: string): T[] {
  const items = value.split(',').map((s) => s.trim()).filter(Boolean);
  for (const i of items) if (!(allowed as readonly string[]).includes(i)) usage(`--${flag}: unknown "${i}" (expected ${allowed.join(', ')})`);
  return items as T[];
}

function usage(message: string): never {
  process.stderr.write(`bench: ${message}\n${HELP}\n`);
  process.exit(2);
}

const reps = opts.reps !== undefined ? Number(opts.reps) : opts.quick ? 1 : 3;
if (!Number.isInteger(reps) || reps < 1) usage('--reps must be a positive integer');
const ops = listOption(opts.ops!, ['commit', 'checkout'] as const, 'ops');
const modes = listOption(opts.modes!, ['archive', 'bare'] as const, 'modes');
// The Debian rootfs is a full-size workload: a quick smoke run leaves it out unless asked.
const workloadNames = listOption(opts.workloads ?? (opts.quick ? 'generated' : 'generated,debian'), ['generated', 'debian'] as const, 'workloads');

const log = (line: string): void => void process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${line}\n`);
const notes: string[] = [];
const mismatches: string[] = [];
const started = Date.now();

function rmrf(path: string): void {
  fs.rmSync(path, { recursive: true, force: true });
}

/** The generated tree for this profile, made once and cached by generator version. */
function generatedWorkload(): Workload {
  const profile = PROFILES[opts.quick ? 'quick' : 'full'];
  const name = `tree-${TREE_VERSION}-${profile.name}`;
  const path = join(CACHE, name);
  const statsPath = join(CACHE, `${name}.json`);
  if (!fs.existsSync(path) || !fs.existsSync(statsPath)) {
    const tmp = join(CACHE, `tmp-${name}`);
    rmrf(tmp);
    log(`generating the ${profile.name} tree (${TREE_VERSION}, once; cached in ${path}) …`);
    const t0 = Date.now();
    const stats = generateTree(tmp, profile);
    rmrf(path);
    fs.renameSync(tmp, path);
    fs.writeFileSync(statsPath, `${JSON.stringify(stats, null, 2)}\n`);
    log(`generated in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  }
  const s = JSON.parse(fs.readFileSync(statsPath, 'utf8')) as TreeStats;
  return {
    name: 'generated', path,
    description: `generated tree ${s.version}/${s.profile}: ${s.files} files (${s.regularFiles} regular, ${s.symlinks} symlinks, `
      + `${s.hardlinks} hardlinks, ${s.emptyFiles} empty, ${s.largeFiles} large, ${s.duplicates} duplicate), `
      + `${s.dirs + s.emptyDirs} dirs (${s.emptyDirs} empty), ${(s.bytes / 2 ** 20).toFixed(0)} MiB`,
  };
}

/** Counts what `du`/`find` would, for describing the Debian rootfs. */
function treeSummary(root: string): string {
  let files = 0;
  let dirs = 0;
  let links = 0;
  let bytes = 0;
  const walk = (dir: string): void => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) (dirs++, walk(p));
      else if (e.isSymbolicLink()) (files++, links++);
      else (files++, (bytes += fs.lstatSync(p).size));
    }
  };
  walk(root);
  return `${files} files (${links} symlinks), ${dirs} dirs, ${(bytes / 2 ** 20).toFixed(0)} MiB`;
}

async function debianWorkload(): Promise<Workload | undefined> {
  const r = await prepareDebian(CACHE, log);
  if (!r.ok) {
    notes.push(`debian: skipped: ${r.reason}`);
    log(`debian: skipped: ${r.reason}`);
    return undefined;
  }
  const { devices, fifos, sockets } = r.rootfs.removed;
  notes.push(`debian: removed ${devices} device nodes, ${fifos} fifos and ${sockets} sockets from the cached rootfs (ostree cannot commit them)`);
  return { name: 'debian', path: r.rootfs.path, description: `Debian bookworm minbase rootfs (debootstrap): ${treeSummary(r.rootfs.path)}` };
}

/** Fresh repository of `mode` written by `tool` (init is not timed). */
function initRepo(tool: Tool, repo: string, mode: Mode): void {
  rmrf(repo);
  run(argv(tool, ['init', `--repo=${repo}`, `--mode=${mode}`]));
}

const commitArgs = (repo: string, tree: string): string[] =>
  ['commit', `--repo=${repo}`, '-b', 'bench', '--no-bindings', '--timestamp=@0', tree];

function checksumOf(out: string, tool: Tool): string {
  const csum = out.trim().split('\n').at(-1) ?? '';
  if (!/^[0-9a-f]{64}$/.test(csum)) throw new Error(`${tool} commit printed no checksum: ${JSON.stringify(out.slice(0, 200))}`);
  return csum;
}

/** Alternate which tool goes first, so neither always runs on a warmer (or dirtier) system. */
const order = (rep: number): Tool[] => (rep % 2 === 0 ? ['ours', 'ostree'] : ['ostree', 'ours']);

function summarize(workload: WorkloadName, mode: Mode, op: Op, samples: Record<Tool, Sample[]>, commit: string): Row {
  // Milliseconds and tenths of MB are more precision than the noise allows already.
  const ms = (x: number): number => Math.round(x * 1000) / 1000;
  const side = (t: Tool): Side => ({
    medianSeconds: ms(median(samples[t].map((s) => s.seconds))),
    seconds: samples[t].map((s) => ms(s.seconds)),
    medianCpuSeconds: ms(median(samples[t].map((s) => s.cpuSeconds))),
    // Peak is the worst case over the repetitions.
    peakMB: Math.round(Math.max(...samples[t].map((s) => s.peakMB)) * 10) / 10,
  });
  const ours = side('ours');
  const theirs = side('ostree');
  return { workload, mode, op, ours, ostree: theirs, ratio: Math.round((ours.medianSeconds / theirs.medianSeconds) * 1000) / 1000, commit };
}

function benchMode(w: Workload, mode: Mode): Row[] {
  const rows: Row[] = [];
  const base = join(WORK, `${w.name}-${mode}`);
  const repo = (t: Tool): string => join(base, `repo-${t}`);
  const dest = (t: Tool): string => join(base, `checkout-${t}`);
  const tag = `${w.name}/${mode}`;
  rmrf(base);
  fs.mkdirSync(base, { recursive: true });

  const checksums: Record<Tool, string[]> = { ours: [], ostree: [] };
  const commitSamples: Record<Tool, Sample[]> = { ours: [], ostree: [] };
  const commitReps = ops.includes('commit') ? reps : 1;
  for (let rep = 0; rep < commitReps; rep++) {
    for (const tool of order(rep)) {
      initRepo(tool, repo(tool), mode);
      const s = ops.includes('commit') ? timed(argv(tool, commitArgs(repo(tool), w.path))) : { seconds: 0, cpuSeconds: 0, peakMB: 0, stdout: run(argv(tool, commitArgs(repo(tool), w.path))) };
      checksums[tool].push(checksumOf(s.stdout, tool));
      commitSamples[tool].push(s);
      if (ops.includes('commit')) log(`${tag} commit   #${rep + 1} ${tool.padEnd(6)} ${s.seconds.toFixed(2)} s  (cpu ${s.cpuSeconds.toFixed(2)} s)  ${s.peakMB.toFixed(0)} MB`);
    }
  }
  const all = new Set([...checksums.ours, ...checksums.ostree]);
  const commit = checksums.ostree[0]!;
  if (all.size !== 1) {
    const msg = `${tag}: COMMIT CHECKSUMS DIFFER: ours ${[...new Set(checksums.ours)].join(',')} ostree ${[...new Set(checksums.ostree)].join(',')}`;
    mismatches.push(msg);
    log(`*** ${msg}`);
  }
  if (ops.includes('commit')) rows.push(summarize(w.name, mode, 'commit', commitSamples, commit));

  if (ops.includes('checkout')) {
    const samples: Record<Tool, Sample[]> = { ours: [], ostree: [] };
    for (let rep = 0; rep < reps; rep++) {
      for (const tool of order(rep)) {
        rmrf(dest(tool));
        // Each tool checks out from the repo it wrote: the same commit, as checked above.
        // Not `-U`: from an archive repo, ostree -U fills repo/uncompressed-objects-cache on
        // the first run and hardlinks from it afterwards, so repetitions would differ.
        const csum = checksums[tool].at(-1)!;
        const s = timed(argv(tool, ['checkout', `--repo=${repo(tool)}`, csum, dest(tool)]));
        samples[tool].push(s);
        log(`${tag} checkout #${rep + 1} ${tool.padEnd(6)} ${s.seconds.toFixed(2)} s  (cpu ${s.cpuSeconds.toFixed(2)} s)  ${s.peakMB.toFixed(0)} MB`);
      }
      if (rep === 0) {
        const diffs = compareTrees(dest('ours'), dest('ostree'));
        if (diffs.length) {
          const msg = `${tag}: CHECKED-OUT TREES DIFFER:\n    ${diffs.join('\n    ')}`;
          mismatches.push(msg);
          log(`*** ${msg}`);
        } else {
          log(`${tag} checkout outputs identical (types, modes, owners, xattrs, content)`);
        }
      }
    }
    rows.push(summarize(w.name, mode, 'checkout', samples, commit));
  }
  if (!opts.keep) rmrf(base);
  return rows;
}

function checks(rows: Row[]): Check[] {
  const out: Check[] = [];
  for (const r of rows) {
    const target = r.op === 'commit' ? TARGETS.commitRatio : TARGETS.checkoutRatio;
    out.push({ workload: r.workload, mode: r.mode, op: r.op, what: 'time', value: r.ratio, target, pass: r.ratio <= target });
    out.push({ workload: r.workload, mode: r.mode, op: r.op, what: 'peak-rss', value: r.ours.peakMB, target: TARGETS.peakMB, pass: r.ours.peakMB < TARGETS.peakMB });
  }
  return out;
}

function table(rows: Row[]): string {
  const head = ['workload', 'mode', 'op', 'ours s', 'ostree s', 'ratio', 'ours peak MB', 'ostree peak MB', 'ours cpu s', 'ostree cpu s'];
  const body = rows.map((r) => [
    r.workload, r.mode, r.op, r.ours.medianSeconds.toFixed(2), r.ostree.medianSeconds.toFixed(2), r.ratio.toFixed(2),
    r.ours.peakMB.toFixed(0), r.ostree.peakMB.toFixed(0), r.ours.medianCpuSeconds.toFixed(2), r.ostree.medianCpuSeconds.toFixed(2),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const fmt = (cells: string[]): string => cells.map((c, i) => (i < 3 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [fmt(head), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(fmt)].join('\n');
}

function checkLine(c: Check): string {
  const where = `${c.workload} ${c.mode} ${c.op}`;
  return c.what === 'time'
    ? `${c.pass ? 'PASS' : 'MISS'}  ${where}: time ratio ${c.value.toFixed(2)} ${c.pass ? '≤' : '>'} ${c.target.toFixed(1)}`
    : `${c.pass ? 'PASS' : 'MISS'}  ${where}: our peak RSS ${c.value.toFixed(0)} MB ${c.pass ? '<' : '≥'} ${c.target} MB`;
}

function versionOf(cmd: string[]): string {
  const r = spawnSync(cmd[0]!, cmd.slice(1), { encoding: 'utf8' });
  return (r.stdout ?? '').match(/Version:\s*'?([\w.]+)/)?.[1] ?? 'unknown';
}

async function main(): Promise<number> {
  if (!fs.existsSync(MCO)) throw new Error(`${MCO} is missing: build first (npx tsc -p .)`);
  if (!fs.existsSync('/usr/bin/time')) throw new Error('/usr/bin/time (GNU time) is missing: run scripts/setup.sh');
  fs.mkdirSync(CACHE, { recursive: true });
  rmrf(WORK);

  const workloads: Workload[] = [];
  for (const name of workloadNames) {
    const w = name === 'generated' ? generatedWorkload() : await debianWorkload();
    if (w) workloads.push(w);
  }
  const rows: Row[] = [];
  // Other processes on this small machine skew wall times: record the load to say so.
  const loads = [loadavg()[0]!];
  for (const w of workloads) {
    log(w.description);
    for (const mode of modes) {
      rows.push(...benchMode(w, mode));
      loads.push(loadavg()[0]!);
    }
  }
  if (!opts.keep) rmrf(WORK);
  const results = checks(rows);
  const meta = {
    date: new Date().toISOString(),
    ostree: versionOf([OSTREE, '--version']),
    // Which code was measured: others edit src/ while benches run, so say if it was dirty.
    revision: spawnSync('git', ['-C', ROOT, 'describe', '--always', '--dirty'], { encoding: 'utf8' }).stdout?.trim() || 'unknown',
    node: process.version,
    cpus: cpus().length,
    memGiB: Math.round(totalmem() / 2 ** 30),
    reps,
    quick: opts.quick,
    totalSeconds: (Date.now() - started) / 1000,
    maxLoadAverage: Math.max(...loads),
    commitFlags: '-b bench --no-bindings --timestamp=@0',
  };

  if (opts.json) {
    process.stdout.write(`${JSON.stringify({ meta, workloads, rows, checks: results, notes, mismatches }, null, 2)}\n`);
  } else {
    const out: string[] = [];
    out.push(`mco ostree (${meta.revision}) vs ostree ${meta.ostree} — node ${meta.node}, ${meta.cpus} CPUs, ${meta.memGiB} GiB; median of ${reps} run${reps > 1 ? 's' : ''} each, wall time; peak RSS over the runs`);
    for (const w of workloads) out.push(`  ${w.name}: ${w.description}`);
    for (const n of notes) out.push(`  note: ${n}`);
    if (meta.maxLoadAverage > meta.cpus * 0.75) {
      out.push(`  note: 1-minute load average reached ${meta.maxLoadAverage.toFixed(1)} on ${meta.cpus} CPUs during the run: other processes competed, wall times are noisy (cpu s is the steadier figure)`);
    }
    out.push('', table(rows), '  (s: median wall seconds; ratio: ours/ostree of those; peak MB: max RSS of the process tree; cpu s: median user+system seconds)', '');
    out.push(`targets: commit ≤ ${TARGETS.commitRatio}× ostree's time, checkout ≤ ${TARGETS.checkoutRatio}×, our peak RSS < ${TARGETS.peakMB} MB`);
    for (const c of results) out.push(checkLine(c));
    out.push(`(${results.filter((c) => c.pass).length}/${results.length} targets met; total bench time ${meta.totalSeconds.toFixed(0)} s)`);
    if (mismatches.length) out.push('', '*** OUTPUTS DIFFER (the timings above compare different work):', ...mismatches);
    process.stdout.write(`${out.join('\n')}\n`);
  }
  if (mismatches.length) {
    process.stderr.write(`\n*** OUTPUTS DIFFER: ours and ostree did not produce the same result, the timings compare different work:\n${mismatches.join('\n')}\n`);
    return 1;
  }
  return 0;
}

try {
  process.exitCode = await main();
} catch (e) {
  process.stderr.write(`bench: ${(e as Error).message}\n`);
  process.exitCode = 1;
}

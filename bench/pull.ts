/**
 * `npm run bench -- pull`: a cold HTTP pull of a whole commit of the generated tree, ours
 * (`mco ostree pull`) against the real `ostree pull`, both from the same server (the real
 * `ostree-trivial-httpd` serving an archive repo the real `ostree commit` wrote), into a fresh
 * repo each time. Prints median wall time, throughput (compressed bytes served per second),
 * the ratio ours/ostree of throughput, and our peak RSS; then checks the targets (throughput
 * ≥ 0.8× ostree's, peak RSS < 200 MB). A missed target is a measurement, not a failure; the
 * two pulls storing different objects is a failure.
 *
 *   node dist/bench/pull.js [--quick] [--json] [--reps=N] [--modes=archive,bare-user] [--keep]
 *
 * Both destination repos have `core.fsync=false`: the figure is the pull's (network,
 * verification, decompression, writes), not the disk's flush latency, which both tools pay
 * alike. NODE_EXTRA_CA_CERTS is removed from the environment, as in bench/ostree.ts.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { median, run, timed, type Sample } from './measure.js';
import { cachedTree, PROFILES } from './tree-gen.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const CACHE = join(ROOT, '.bench');
const WORK = join(CACHE, 'work-pull');
const MCO = join(ROOT, 'dist', 'src', 'cli', 'mco.js');
const OSTREE = '/usr/bin/ostree';
const HTTPD = '/usr/libexec/libostree/ostree-trivial-httpd';
const TARGETS = { throughputRatio: 0.8, peakMB: 200 };

const HELP = `Usage: node dist/bench/pull.js [OPTION…]
  --quick                 the quick generated tree (40 MB), 1 repetition
  --json                  print the results as JSON (progress still goes to stderr)
  --reps=N                repetitions per measurement (default 3; 1 with --quick)
  --modes=archive,bare-user
                          destination repository modes
  --keep                  keep the repos under .bench/work-pull`;

const { values: opts } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
    reps: { type: 'string' },
    modes: { type: 'string', default: 'archive,bare-user' },
    keep: { type: 'boolean', default: false },
    help: { type: 'boolean', default: false },
  },
});
if (opts.help) {
  process.stdout.write(`${HELP}\n`);
  process.exit(0);
}
const reps = Number(opts.reps ?? (opts.quick ? 1 : 3));
const modes = opts.modes.split(',');
for (const m of modes) if (m !== 'archive' && m !== 'bare-user' && m !== 'bare') throw new Error(`--modes: unknown mode ${m}`);
const log = (line: string): void => void process.stderr.write(`[bench pull] ${line}\n`);
delete process.env['NODE_EXTRA_CA_CERTS'];

type Tool = 'ours' | 'ostree';
interface Side {
  medianSeconds: number;
  seconds: number[];
  medianCpuSeconds: number;
  peakMB: number;
  /** Compressed bytes served (the archive repo's objects) per second, at the median. */
  mbPerSecond: number;
}
interface Row {
  mode: string;
  ours: Side;
  ostree: Side;
  /** ours/ostree throughput: above 1, ours is faster. */
  throughputRatio: number;
}

/** Bytes of every object file of an archive repo: what a cold pull transfers. */
function objectBytes(repo: string): number {
  let total = 0;
  const objects = join(repo, 'objects');
  for (const prefix of fs.readdirSync(objects)) {
    for (const name of fs.readdirSync(join(objects, prefix))) total += fs.statSync(join(objects, prefix, name)).size;
  }
  return total;
}

function objectNames(repo: string): string[] {
  const objects = join(repo, 'objects');
  return fs.readdirSync(objects).flatMap((p) => fs.readdirSync(join(objects, p)).map((n) => `${p}${n.replace(/\.filez?$/, '.file')}`)).sort();
}

/** trivial-httpd in the foreground, its port read from stdout: we keep its PID to kill it. */
async function startHttpd(dir: string): Promise<{ url: string; kill: () => void }> {
  const child = spawn(HTTPD, ['-p', '-', dir], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<string>((resolvePort, reject) => {
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('\n')) resolvePort(out.trim());
    });
    child.once('exit', (code) => reject(new Error(`${HTTPD} exited (${code}) before listening`)));
  });
  return { url: `http://127.0.0.1:${port}/`, kill: () => void child.kill('SIGKILL') };
}

const started = Date.now();
const profile = opts.quick ? PROFILES.quick : PROFILES.full;
const { path: tree } = cachedTree(CACHE, profile, log);
fs.rmSync(WORK, { recursive: true, force: true });
fs.mkdirSync(WORK, { recursive: true });
const source = join(WORK, 'source');
run([OSTREE, 'init', `--repo=${source}`, '--mode=archive']);
log(`committing the ${profile.name} tree into an archive repo with the real ostree …`);
const commit = run([OSTREE, 'commit', `--repo=${source}`, '-b', 'main', '--timestamp=@1700000000', '-s', 'bench', tree]).trim();
const served = objectBytes(source);
const httpd = await startHttpd(source);
const rows: Row[] = [];
const mismatches: string[] = [];
try {
  for (const mode of modes) {
    const samples: Record<Tool, Sample[]> = { ours: [], ostree: [] };
    for (let rep = 0; rep < reps; rep++) {
      // Alternate which tool goes first, so neither always gets the warmer caches.
      const order: Tool[] = rep % 2 === 0 ? ['ostree', 'ours'] : ['ours', 'ostree'];
      const dests: Partial<Record<Tool, string>> = {};
      for (const tool of order) {
        const dest = join(WORK, `${tool}-${mode}-${rep}`);
        run([OSTREE, 'init', `--repo=${dest}`, `--mode=${mode}`]);
        fs.appendFileSync(join(dest, 'config'), 'fsync=false\n');
        run([OSTREE, 'remote', 'add', `--repo=${dest}`, '--no-gpg-verify', 'origin', httpd.url]);
        const argv = tool === 'ours'
          ? [process.execPath, MCO, 'ostree', 'pull', `--repo=${dest}`, 'origin', 'main']
          : [OSTREE, 'pull', `--repo=${dest}`, 'origin', 'main'];
        const s = timed(argv);
        samples[tool].push(s);
        log(`${mode} rep ${rep + 1}/${reps} ${tool}: ${s.seconds.toFixed(2)} s, ${s.cpuSeconds.toFixed(2)} s CPU, peak ${s.peakMB.toFixed(0)} MB`);
        dests[tool] = dest;
      }
      const ours = objectNames(dests.ours!);
      const theirs = objectNames(dests.ostree!);
      if (ours.join('\n') !== theirs.join('\n')) mismatches.push(`${mode}: ours stored ${ours.length} objects, ostree ${theirs.length}`);
      if (run([OSTREE, 'rev-parse', `--repo=${dests.ours}`, 'origin:main']).trim() !== commit) mismatches.push(`${mode}: our origin:main is not ${commit}`);
      if (!opts.keep) for (const d of Object.values(dests)) fs.rmSync(d!, { recursive: true, force: true });
    }
    const side = (xs: Sample[]): Side => {
      const m = median(xs.map((x) => x.seconds));
      return {
        medianSeconds: m, seconds: xs.map((x) => x.seconds), medianCpuSeconds: median(xs.map((x) => x.cpuSeconds)),
        peakMB: Math.max(...xs.map((x) => x.peakMB)), mbPerSecond: served / 2 ** 20 / m,
      };
    };
    const ours = side(samples.ours);
    const ostree = side(samples.ostree);
    rows.push({ mode, ours, ostree, throughputRatio: ours.mbPerSecond / ostree.mbPerSecond });
  }
} finally {
  httpd.kill();
  if (!opts.keep) fs.rmSync(WORK, { recursive: true, force: true });
}

const machine = `${cpus().length} CPUs, load ${loadavg().map((l) => l.toFixed(1)).join(' ')}`;
const failures = rows.flatMap((r) => [
  ...(r.throughputRatio < TARGETS.throughputRatio ? [`${r.mode}: throughput ${r.throughputRatio.toFixed(2)}× ostree's (target ≥ ${TARGETS.throughputRatio})`] : []),
  ...(r.ours.peakMB >= TARGETS.peakMB ? [`${r.mode}: peak RSS ${r.ours.peakMB.toFixed(0)} MB (target < ${TARGETS.peakMB})`] : []),
]);
if (opts.json) {
  process.stdout.write(`${JSON.stringify({ profile: profile.name, commit, servedBytes: served, reps, machine, rows, targets: TARGETS, missed: failures, mismatches }, null, 2)}\n`);
} else {
  const out: string[] = [
    `pull: cold HTTP pull of the ${profile.name} tree (${(served / 2 ** 20).toFixed(1)} MiB of archive objects) from ostree-trivial-httpd; ${reps} rep(s); ${machine}`,
    'mode        ours s   ostree s   ours MB/s  ostree MB/s  throughput ours/ostree  ours CPU s  ostree CPU s  ours peak MB  ostree peak MB',
  ];
  for (const r of rows) {
    out.push([
      r.mode.padEnd(10), r.ours.medianSeconds.toFixed(2).padStart(7), r.ostree.medianSeconds.toFixed(2).padStart(10),
      r.ours.mbPerSecond.toFixed(1).padStart(11), r.ostree.mbPerSecond.toFixed(1).padStart(12), `${r.throughputRatio.toFixed(2)}×`.padStart(23),
      r.ours.medianCpuSeconds.toFixed(2).padStart(11), r.ostree.medianCpuSeconds.toFixed(2).padStart(13),
      r.ours.peakMB.toFixed(0).padStart(13), r.ostree.peakMB.toFixed(0).padStart(15),
    ].join(' '));
  }
  out.push(failures.length ? `targets missed: ${failures.join('; ')}` : `targets met: throughput ≥ ${TARGETS.throughputRatio}× ostree's, peak RSS < ${TARGETS.peakMB} MB`);
  out.push(`took ${((Date.now() - started) / 1000).toFixed(0)} s`);
  process.stdout.write(`${out.join('\n')}\n`);
}
if (mismatches.length) {
  process.stderr.write(`different results (the timings compare different work):\n  ${mismatches.join('\n  ')}\n`);
  process.exitCode = 1;
}

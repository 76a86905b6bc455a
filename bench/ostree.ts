/**
 * `npm run bench`: our `mco ostree` against the real `ostree`, side by side in one run, on the
 * same inputs: `commit` and `checkout` in archive and bare repos, on a generated tree and on a
 * Debian minbase rootfs; and `admin deploy` into a sysroot, of a bootable variant of the
 * generated tree (a first deploy, then an upgrade to a commit with ~5% of the files changed,
 * which merges /etc and keeps the first deployment as the rollback). Prints median wall time,
 * the ratio ours/ostree and peak RSS, then checks the targets (commit ≤ 0.8×, checkout and
 * deploy ≤ 1.0× of ostree's time, our peak RSS < 300 MB). A missed target is a measurement,
 * not a failure; different outputs (commit checksums, checked-out trees, deployed sysroots and
 * their `ostree admin status`) are a failure: the timings would compare different work.
 *
 *   node dist/bench/ostree.js [--quick] [--json] [--reps=N] [--ops=commit,checkout,deploy]
 *                              [--modes=archive,bare] [--workloads=generated,debian] [--keep] [--keep-env]
 *
 * NODE_EXTRA_CA_CERTS is removed from the environment of every command run (unless --keep-env):
 * with it set, Node 20 builds its whole CA store while starting (measured here: ~80 ms of CPU,
 * more than the rest of Node's start-up), a cost of the machine's environment that no command
 * measured here needs (none uses TLS) and that a node running the daemon does not pay.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { prepareDebian } from './debian.js';
import { OSNAME, prepareDeployWorkload, REFS, type DeployWorkload } from './deploy-tree.js';
import { compareTrees, median, run, timed, type Sample } from './measure.js';
import { cachedTree, PROFILES, TREE_VERSION } from './tree-gen.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const CACHE = join(ROOT, '.bench');
const WORK = join(CACHE, 'work');
const MCO = join(ROOT, 'dist', 'src', 'cli', 'mco.js');
const OSTREE = fs.existsSync('/usr/bin/ostree') ? '/usr/bin/ostree' : 'ostree';

const HELP = `Usage: node dist/bench/ostree.js [OPTION…]
  --quick                 smaller generated tree, 1 repetition, no Debian rootfs (unless --workloads says so)
  --json                  print the results as JSON (progress still goes to stderr)
  --reps=N                repetitions per measurement (default 3; 1 with --quick)
  --ops=commit,checkout,deploy
                          which operations to time (deploy: \`admin deploy\` into a sysroot, a
                          first deploy and an upgrade, on the generated workload, bare repo only)
  --modes=archive,bare    which repository modes (commit and checkout)
  --workloads=generated,debian
  --keep                  keep repos and checkouts under .bench/work
  --keep-env              keep NODE_EXTRA_CA_CERTS for the commands (Node then loads its CA store at start-up)`;

const TARGETS = { commitRatio: 0.8, checkoutRatio: 1.0, deployRatio: 1.0, peakMB: 300 };

type Tool = 'ours' | 'ostree';
/** deploy-v1: the first deploy into a fresh sysroot; deploy-v2: the upgrade deployed over it. */
type RowOp = 'commit' | 'checkout' | 'deploy-v1' | 'deploy-v2';
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
  op: RowOp;
  ours: Side;
  ostree: Side;
  ratio: number;
  commit: string;
}

interface Check {
  workload: WorkloadName;
  mode: Mode;
  op: RowOp;
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
    ops: { type: 'string', default: 'commit,checkout,deploy' },
    modes: { type: 'string', default: 'archive,bare' },
    workloads: { type: 'string' },
    keep: { type: 'boolean', default: false },
    'keep-env': { type: 'boolean', default: false },
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
const ops = listOption(opts.ops!, ['commit', 'checkout', 'deploy'] as const, 'ops');
const modes = listOption(opts.modes!, ['archive', 'bare'] as const, 'modes');
// The Debian rootfs is a full-size workload: a quick smoke run leaves it out unless asked.
const workloadNames = listOption(opts.workloads ?? (opts.quick ? 'generated' : 'generated,debian'), ['generated', 'debian'] as const, 'workloads');

const log = (line: string): void => void process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${line}\n`);
const notes: string[] = [];
// Every command below inherits process.env: see the header for why this variable goes.
if (process.env['NODE_EXTRA_CA_CERTS'] !== undefined) {
  if (opts['keep-env']) {
    notes.push('NODE_EXTRA_CA_CERTS is set and kept (--keep-env): every Node process (ours) loads the CA store at start-up');
  } else {
    delete process.env['NODE_EXTRA_CA_CERTS'];
    notes.push('NODE_EXTRA_CA_CERTS removed from the commands\' environment (Node 20 would load the CA store at each start-up; --keep-env keeps it)');
  }
}
const mismatches: string[] = [];
const started = Date.now();
/** Set by benchDeploy: what the deploy rows measured. */
let deployDescription: string | undefined;

function rmrf(path: string): void {
  fs.rmSync(path, { recursive: true, force: true });
}

/** The generated tree for this profile, made once and cached by generator version. */
function generatedWorkload(): Workload {
  const { path, stats: s } = cachedTree(CACHE, PROFILES[opts.quick ? 'quick' : 'full'], log);
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

function summarize(workload: WorkloadName, mode: Mode, op: RowOp, samples: Record<Tool, Sample[]>, commit: string): Row {
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
      const s = ops.includes('commit') ? timed(argv(tool, commitArgs(repo(tool), w.path))) : { seconds: 0, cpuSeconds: 0, peakMB: 0, writtenMB: 0, stdout: run(argv(tool, commitArgs(repo(tool), w.path))) };
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

/** Deployment directories are immutable (`chattr +i`, by both tools): clear that, then delete. */
function removeSysroot(sysroot: string): void {
  const deployRoot = join(sysroot, 'ostree', 'deploy');
  const dirs: string[] = [];
  for (const os of fs.existsSync(deployRoot) ? fs.readdirSync(deployRoot) : []) {
    const d = join(deployRoot, os, 'deploy');
    if (!fs.existsSync(d)) continue;
    for (const name of fs.readdirSync(d)) if (fs.lstatSync(join(d, name)).isDirectory()) dirs.push(join(d, name));
  }
  if (dirs.length) {
    const r = spawnSync('chattr', ['-i', ...dirs], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`chattr -i failed: ${r.error?.message ?? r.stderr}`);
  }
  rmrf(sysroot);
}

const deployArgs = (sysroot: string, ref: string): string[] =>
  ['admin', 'deploy', `--sysroot=${sysroot}`, `--os=${OSNAME}`, '--karg=root=LABEL=root', ref];

const deploymentDir = (sysroot: string, checksum: string, serial = 0): string =>
  join(sysroot, 'ostree', 'deploy', OSNAME, 'deploy', `${checksum}.${serial}`);

/**
 * A fresh sysroot, each tool making its own (not timed): init-fs, os-init, and both commits
 * pulled from the workload's bare repo into the sysroot's; the real tool checks the refs.
 * Both tools' pull-local hard-link the objects from the cached repo (same filesystem), and
 * both deploys hard-link them into the deployments: no tool may write through a file object.
 */
function prepareSysroot(tool: Tool, sysroot: string, w: DeployWorkload): void {
  removeSysroot(sysroot);
  fs.mkdirSync(sysroot, { recursive: true });
  run(argv(tool, ['admin', 'init-fs', sysroot]));
  run(argv(tool, ['admin', 'os-init', `--sysroot=${sysroot}`, OSNAME]));
  const repo = join(sysroot, 'ostree', 'repo');
  run(argv(tool, ['pull-local', `--repo=${repo}`, w.repo, REFS.v1, REFS.v2]));
  for (const v of ['v1', 'v2'] as const) {
    const csum = run([OSTREE, 'rev-parse', `--repo=${repo}`, REFS[v]]).trim();
    if (csum !== w.commits[v]) throw new Error(`${tool}'s sysroot ${sysroot}: ${REFS[v]} is ${csum}, expected ${w.commits[v]}`);
  }
}

/** What an administrator does between the two deploys: edit, delete and add files in /etc. */
function editEtc(sysroot: string, w: DeployWorkload): void {
  const etc = join(deploymentDir(sysroot, w.commits.v1), 'etc');
  // Replace rather than write in place: never write through a file we did not make.
  fs.writeFileSync(join(etc, '.hostname.bench'), 'node-17.bench.example\n');
  fs.renameSync(join(etc, '.hostname.bench'), join(etc, 'hostname'));
  fs.unlinkSync(join(etc, 'fstab'));
  fs.writeFileSync(join(etc, 'local.conf'), 'mine=1\n');
  fs.mkdirSync(join(etc, 'local.d'));
  fs.writeFileSync(join(etc, 'local.d', 'override.conf'), 'override=1\n', { mode: 0o600 });
}


/** Loader link, boot entries and the bootlink tree of the current bootversion, as text. */
function bootState(sysroot: string): string[] {
  const loader = fs.readlinkSync(join(sysroot, 'boot', 'loader'));
  const entries = join(sysroot, 'boot', loader, 'entries');
  const out = [`boot/loader -> ${loader}`];
  for (const name of fs.readdirSync(entries).sort()) out.push(`${name}:\n${fs.readFileSync(join(entries, name), 'utf8')}`);
  const b = loader.slice('loader.'.length);
  const sub = fs.readlinkSync(join(sysroot, 'ostree', `boot.${b}`));
  out.push(`ostree/boot.${b} -> ${sub}`);
  const walk = (dir: string, rel: string): void => {
    for (const name of fs.readdirSync(dir).sort()) {
      const p = join(dir, name);
      if (fs.lstatSync(p).isSymbolicLink()) out.push(`${rel}/${name} -> ${fs.readlinkSync(p)}`);
      else walk(p, `${rel}/${name}`);
    }
  };
  walk(join(sysroot, 'ostree', sub), sub);
  return out;
}

/**
 * Differences between the two sysroots after the upgrade: `ostree admin status` (and ours), the
 * boot entries and bootlinks, the stateroot's var, both deployments' /etc and origins; with
 * `full`, also all of /boot and the whole new deployment.
 */
function compareSysroots(s: Record<Tool, string>, w: DeployWorkload, full: boolean): string[] {
  const diffs: string[] = [];
  const status = (tool: Tool, sysroot: string): string => run(argv(tool, ['admin', 'status', `--sysroot=${sysroot}`]));
  const theirs = status('ostree', s.ostree);
  const ours = status('ostree', s.ours);
  if (ours !== theirs) diffs.push(`ostree admin status differs:\n--- of ostree's sysroot\n${theirs}\n--- of our sysroot\n${ours}`);
  // The status must show what the bench claims to measure: v2 the default, v1 kept as the rollback.
  const listed = [...theirs.matchAll(/\b([0-9a-f]{64})\.(\d+)\b/g)].map((m) => `${m[1]}.${m[2]}`);
  const expected = [`${w.commits.v2}.0`, `${w.commits.v1}.0`];
  if (listed.join(' ') !== expected.join(' ')) diffs.push(`ostree admin status lists ${listed.join(', ') || 'nothing'}, expected ${expected.join(', ')}:\n${theirs}`);
  const ourStatus = status('ours', s.ours);
  if (ourStatus !== theirs) diffs.push(`mco ostree admin status of our sysroot differs from ostree's of its:\n--- ostree\n${theirs}\n--- ours\n${ourStatus}`);

  const a = bootState(s.ours);
  const b = bootState(s.ostree);
  if (a.join('\n') !== b.join('\n')) {
    const i = a.findIndex((line, k) => line !== b[k]);
    diffs.push(`boot entries/bootlinks differ: ours ${JSON.stringify(a[i] ?? '(end)')} ostree ${JSON.stringify(b[i] ?? '(end)')}`);
  }
  const tree = (label: string, rel: (sysroot: string) => string): void => {
    const d = compareTrees(rel(s.ours), rel(s.ostree), 5);
    if (d.length) diffs.push(`${label} differs:\n      ${d.join('\n      ')}`);
  };
  for (const v of ['v1', 'v2'] as const) {
    tree(`/etc of the ${v} deployment`, (r) => join(deploymentDir(r, w.commits[v]), 'etc'));
    const origin = (r: string): string => fs.readFileSync(`${deploymentDir(r, w.commits[v])}.origin`, 'utf8');
    if (origin(s.ours) !== origin(s.ostree)) diffs.push(`${v}.origin differs: ours ${JSON.stringify(origin(s.ours))} ostree ${JSON.stringify(origin(s.ostree))}`);
  }
  const varDiffs = compareTrees(join(s.ours, 'ostree', 'deploy', OSNAME, 'var'), join(s.ostree, 'ostree', 'deploy', OSNAME, 'var'), 5);
  if (varDiffs.length) diffs.push(`the stateroot var differs:\n      ${varDiffs.join('\n      ')}`);
  if (full) {
    tree('/boot', (r) => join(r, 'boot'));
    tree('the v2 deployment', (r) => deploymentDir(r, w.commits.v2));
  }
  return diffs;
}

/** `admin deploy` of v1 into fresh sysroots, then of v2 over it; `reps` times, fresh each time. */
function benchDeploy(): Row[] {
  const tree = generatedWorkload();
  const profile = PROFILES[opts.quick ? 'quick' : 'full'];
  const w = prepareDeployWorkload(CACHE, tree.path, `tree-${TREE_VERSION}-${profile.name}`, profile, OSTREE, log);
  const changed = w.v2.modified + w.v2.added + w.v2.removed;
  deployDescription = `bootable variant of the generated tree: ${w.files} files (${w.etcFiles} in /usr/etc), ${(w.bytes / 2 ** 20).toFixed(0)} MiB, `
    + `kernel ${w.kernelMiB} MiB + initramfs ${w.initramfsMiB} MiB; v2 = v1 with ${changed} files changed (${w.v2.modified} modified, `
    + `${w.v2.added} added, ${w.v2.removed} removed: ${((100 * changed) / w.files).toFixed(1)}%) and a new initramfs; `
    + `\`admin deploy --os=${OSNAME} --karg=root=LABEL=root REF\` into a sysroot each tool prepared (init-fs, os-init, pull-local of both commits; not timed); `
    + `deploy-v1: first deploy; deploy-v2: the upgrade, after local /etc edits (a file edited, one deleted, a file and a directory added) that the /etc merge carries over, v1 kept as rollback`;
  log(`deploy: ${deployDescription}`);
  const base = join(WORK, 'deploy');
  const sysroots: Record<Tool, string> = { ours: join(base, 'sysroot-ours'), ostree: join(base, 'sysroot-ostree') };
  const tag = 'generated/deploy';
  const samples: Record<'v1' | 'v2', Record<Tool, Sample[]>> = { v1: { ours: [], ostree: [] }, v2: { ours: [], ostree: [] } };
  for (let rep = 0; rep < reps; rep++) {
    for (const tool of order(rep)) prepareSysroot(tool, sysroots[tool], w);
    for (const v of ['v1', 'v2'] as const) {
      if (v === 'v2') for (const tool of order(rep)) editEtc(sysroots[tool], w);
      const merged: Partial<Record<Tool, string>> = {};
      for (const tool of order(rep)) {
        const s = timed(argv(tool, deployArgs(sysroots[tool], REFS[v])));
        samples[v][tool].push(s);
        log(`${tag} ${v} #${rep + 1} ${tool.padEnd(6)} ${s.seconds.toFixed(2)} s  (cpu ${s.cpuSeconds.toFixed(2)} s)  ${s.peakMB.toFixed(0)} MB`);
        merged[tool] = /^Copying \/etc changes: .*$/m.exec(s.stdout)?.[0] ?? '(no /etc merge reported)';
      }
      // Both print the merge's summary: the same changes must have been carried over.
      if (v === 'v2' && merged.ours !== merged.ostree) {
        const msg = `${tag} #${rep + 1}: /etc MERGES DIFFER: ours "${merged.ours}", ostree "${merged.ostree}"`;
        mismatches.push(msg);
        log(`*** ${msg}`);
      } else if (v === 'v2' && rep === 0) {
        log(`${tag} v2 both: ${merged.ours}`);
      }
    }
    const diffs = compareSysroots(sysroots, w, rep === 0);
    if (diffs.length) {
      const msg = `${tag} #${rep + 1}: DEPLOYED SYSROOTS DIFFER:\n    ${diffs.join('\n    ')}`;
      mismatches.push(msg);
      log(`*** ${msg}`);
    } else {
      log(`${tag} #${rep + 1}: sysroots identical (admin status, boot entries, bootlinks, /etc, origins, var${rep === 0 ? ', /boot, the whole v2 deployment' : ''})`);
    }
    if (!opts.keep || rep < reps - 1) for (const tool of order(rep)) removeSysroot(sysroots[tool]);
  }
  if (!opts.keep) rmrf(base);
  return [
    summarize('generated', 'bare', 'deploy-v1', samples.v1, w.commits.v1),
    summarize('generated', 'bare', 'deploy-v2', samples.v2, w.commits.v2),
  ];
}

function checks(rows: Row[]): Check[] {
  const out: Check[] = [];
  for (const r of rows) {
    const target = r.op === 'commit' ? TARGETS.commitRatio : r.op === 'checkout' ? TARGETS.checkoutRatio : TARGETS.deployRatio;
    out.push({ workload: r.workload, mode: r.mode, op: r.op, what: 'time', value: r.ratio, target, pass: r.ratio <= target });
    out.push({ workload: r.workload, mode: r.mode, op: r.op, what: 'peak-rss', value: r.ours.peakMB, target: TARGETS.peakMB, pass: r.ours.peakMB < TARGETS.peakMB });
  }
  return out;
}

function table(rows: Row[]): string {
  const head = ['workload', 'mode', 'op', 'ours s', 'ostree s', 'ratio', 'ours peak MB', 'ostree peak MB', 'ours cpu s', 'ostree cpu s', 'cpu ratio'];
  const body = rows.map((r) => [
    r.workload, r.mode, r.op, r.ours.medianSeconds.toFixed(2), r.ostree.medianSeconds.toFixed(2), r.ratio.toFixed(2),
    r.ours.peakMB.toFixed(0), r.ostree.peakMB.toFixed(0), r.ours.medianCpuSeconds.toFixed(2), r.ostree.medianCpuSeconds.toFixed(2),
    (r.ours.medianCpuSeconds / r.ostree.medianCpuSeconds).toFixed(2),
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
  if (ops.includes('deploy') && !fs.existsSync('/usr/bin/chattr')) throw new Error('/usr/bin/chattr is missing: deployments are immutable, the bench could not delete them');
  fs.mkdirSync(CACHE, { recursive: true });
  // A kept (or interrupted) deploy run leaves immutable deployment directories behind.
  for (const name of fs.existsSync(join(WORK, 'deploy')) ? fs.readdirSync(join(WORK, 'deploy')) : []) removeSysroot(join(WORK, 'deploy', name));
  rmrf(WORK);

  // commit and checkout run on every workload; deploy on a bootable variant of the generated one.
  const treeOps = ops.filter((o) => o !== 'deploy');
  const workloads: Workload[] = [];
  if (treeOps.length) {
    for (const name of workloadNames) {
      const w = name === 'generated' ? generatedWorkload() : await debianWorkload();
      if (w) workloads.push(w);
    }
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
  if (ops.includes('deploy')) {
    if (workloadNames.includes('generated')) {
      rows.push(...benchDeploy());
      loads.push(loadavg()[0]!);
    } else {
      notes.push('deploy: skipped: it runs on the generated workload, which --workloads leaves out');
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
    const deploy = deployDescription !== undefined ? { deploy: deployDescription } : {};
    process.stdout.write(`${JSON.stringify({ meta, workloads, ...deploy, rows, checks: results, notes, mismatches }, null, 2)}\n`);
  } else {
    const out: string[] = [];
    out.push(`mco ostree (${meta.revision}) vs ostree ${meta.ostree} — node ${meta.node}, ${meta.cpus} CPUs, ${meta.memGiB} GiB; median of ${reps} run${reps > 1 ? 's' : ''} each, wall time; peak RSS over the runs`);
    for (const w of workloads) out.push(`  ${w.name}: ${w.description}`);
    if (deployDescription) out.push(`  deploy: ${deployDescription}`);
    for (const n of notes) out.push(`  note: ${n}`);
    if (meta.maxLoadAverage > meta.cpus * 0.75) {
      out.push(`  note: 1-minute load average reached ${meta.maxLoadAverage.toFixed(1)} on ${meta.cpus} CPUs during the run: other processes competed, wall times are noisy (cpu s is the steadier figure)`);
    }
    out.push('', table(rows), '  (s: median wall seconds; ratio: ours/ostree of those; peak MB: max RSS of the process tree; cpu s: median user+system seconds; cpu ratio: ours/ostree of those)', '');
    out.push(`targets: commit ≤ ${TARGETS.commitRatio}× ostree's time, checkout ≤ ${TARGETS.checkoutRatio}×, deploy ≤ ${TARGETS.deployRatio}×, our peak RSS < ${TARGETS.peakMB} MB`);
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

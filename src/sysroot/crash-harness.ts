/**
 * Helpers of the crash-safety harness (crash.test.ts): running `mco` killed at a named step
 * (MCO_CRASH_AT), and reading a sysroot the way a bootloader and the initramfs would —
 * boot/loader → entries → `ostree=` → ostree/boot.N → deployment directory — so the harness
 * can say what the node would boot after the kill. Test-only: imported by crash.test.ts.
 *
 * Processes run asynchronously (unlike testing.ts's spawnSync helpers) so that several crash
 * points can be tried at once: most of a step's time is process start-up and syncfs waits.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, lstatSync, readdirSync, readFileSync, readlinkSync, realpathSync, rmSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

export const OSTREE_BIN = '/usr/bin/ostree';
/** dist/src/sysroot/crash-harness.js → dist/src/cli/mco.js: the built CLI, run as a user would. */
export const MCO_JS = fileURLToPath(new URL('../cli/mco.js', import.meta.url));
/** dist/src/sysroot/ → the repository's src/sysroot/, where the crash steps are named. */
export const SYSROOT_SOURCES = fileURLToPath(new URL('../../../src/sysroot/', import.meta.url));

export interface ProcessResult {
  pid: number | undefined;
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/**
 * Nothing from the developer's shell may steer a child: a stray MCO_CRASH_AT would kill the
 * re-run, a stray MCO_KERNEL_CMDLINE_FILE would make the scratch sysroot look booted.
 */
function childEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, LC_ALL: 'C.UTF-8' };
  for (const name of ['MCO_CRASH_AT', 'MCO_KERNEL_CMDLINE_FILE', 'MCO_DEBUG', 'OSTREE_REPO', 'OSTREE_SYSROOT']) delete env[name];
  return { ...env, ...extra };
}

/** Runs a process to its end (or its death), collecting its output. */
export function runAsync(file: string, args: string[], env: Record<string, string> = {}): Promise<ProcessResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { env: childEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', reject);
    child.on('close', (status, signal) => resolve({ pid: child.pid, status, signal, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') }));
  });
}

export const mco = (args: string[], env: Record<string, string> = {}): Promise<ProcessResult> => runAsync(process.execPath, [MCO_JS, ...args], env);
export const realOstree = (args: string[]): Promise<ProcessResult> => runAsync(OSTREE_BIN, args);

/** `what` + the process's output, for assertion messages that explain themselves. */
export const describeRun = (what: string, r: ProcessResult): string =>
  `${what}: status ${r.status}, signal ${r.signal}\nstdout: ${r.stdout.trimEnd()}\nstderr: ${r.stderr.trimEnd()}`;

// ---- the crash steps named in the source

/** Index values a template step (`kernel-installed-${index}`) is tried with: a two-deployment list. */
export const TEMPLATE_INDEXES = ['0', '1'];

export interface SourceSteps {
  /** Every step name, templates expanded with TEMPLATE_INDEXES. */
  steps: Set<string>;
  /** `file: call` for crash calls whose step is not a string literal: the harness cannot see them. */
  unreadable: string[];
}

/**
 * The crash steps named in `dir`'s non-test .ts files (recursively): every call of `crash(…)`
 * or `crashPoint(…)`/`crashPoint?.(…)`. A step computed from a variable cannot be listed, so it
 * is reported rather than skipped.
 */
export function crashStepsInSource(dir: string): SourceSteps {
  const steps = new Set<string>();
  const unreadable: string[] = [];
  const files = (d: string): string[] => readdirSync(d, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? files(join(d, e.name)) : e.name.endsWith('.ts') && !e.name.endsWith('.test.ts') && !e.name.endsWith('.d.ts') ? [join(d, e.name)] : []);
  for (const file of files(dir)) {
    if (file.endsWith('crash-harness.ts')) continue; // this file names calls in comments only
    const text = readFileSync(file, 'utf8');
    // No space before the parenthesis: prose like "a crash (best effort…)" in comments is not a call.
    for (const m of text.matchAll(/\b(?:crash|crashPoint)(?:\?\.)?\(([^)]*)\)/g)) {
      const arg = m[1]!.trim();
      const literal = /^(['"])([^'"`$\\]+)\1$/.exec(arg) ?? /^`([^`\\]+)`$/.exec(arg);
      if (!literal) {
        unreadable.push(`${relative(dirname(dir), file)}: ${m[0]}`);
        continue;
      }
      const name = literal[2] ?? literal[1]!;
      if (!name.includes('${')) steps.add(name);
      // A template names one step per index; placeholders must be simple (`${index}`).
      else if (/^[^$]*(\$\{\w+\}[^$]*)+$/.test(name)) for (const i of TEMPLATE_INDEXES) steps.add(name.replace(/\$\{\w+\}/g, i));
      else unreadable.push(`${relative(dirname(dir), file)}: ${m[0]}`);
    }
  }
  return { steps, unreadable };
}

// ---- reading a sysroot as the boot would

export interface BootEntryView {
  file: string;
  version: string;
  /** The `ostree=` argument: `/ostree/boot.N/OS/BOOTCSUM/SERIAL`. */
  ostreeArg: string;
  /** The deployment directory it resolves to, through the bootlink symlinks. */
  deployment: string;
  /** `CHECKSUM.SERIAL`, the deployment directory's name. */
  name: string;
  checksum: string;
  linux: string;
  initrd: string | null;
  /** The kernel command line. */
  options: string;
}

export interface BootView {
  /** The bootversion `boot/loader` points at, null when there is no boot/loader (no deployments yet). */
  bootversion: 0 | 1 | null;
  /** Entries ordered as the boot menu shows them: highest `version` (the default) first. */
  entries: BootEntryView[];
  /** Everything that would not boot, one sentence each. Empty when the sysroot is sound. */
  problems: string[];
}

/** Parses a BLS entry: `key value` lines (the value is the rest of the line). */
function parseEntry(text: string): Map<string, string> {
  const fields = new Map<string, string>();
  for (const line of text.split('\n')) {
    const m = /^(\S+)\s+(.*)$/.exec(line);
    if (m && !fields.has(m[1]!)) fields.set(m[1]!, m[2]!);
  }
  return fields;
}

/**
 * What the bootloader and ostree-prepare-root would find: the entries `boot/loader` points
 * at, each one's `ostree=` resolved through ostree/boot.N to a deployment directory, and its
 * kernel and initramfs. Problems are collected, not thrown, so one assertion shows them all.
 */
export function readBootView(root: string): BootView {
  const problems: string[] = [];
  const loaderLink = join(root, 'boot', 'loader');
  let target: string;
  try {
    target = readlinkSync(loaderLink);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { bootversion: null, entries: [], problems };
    return { bootversion: null, entries: [], problems: [`boot/loader is not a symlink: ${(e as Error).message}`] };
  }
  const m = /^loader\.([01])$/.exec(target);
  if (!m) return { bootversion: null, entries: [], problems: [`boot/loader points at ${target}, not loader.0 or loader.1`] };
  const bootversion = Number(m[1]) as 0 | 1;
  const entriesDir = join(root, 'boot', target, 'entries');
  if (!existsSync(entriesDir)) return { bootversion, entries: [], problems: [`boot/loader -> ${target}, but ${target}/entries does not exist`] };

  const entries: BootEntryView[] = [];
  for (const file of readdirSync(entriesDir).filter((n) => n.endsWith('.conf'))) {
    const fields = parseEntry(readFileSync(join(entriesDir, file), 'utf8'));
    const say = (what: string): void => void problems.push(`${target}/entries/${file}: ${what}`);
    const version = fields.get('version');
    const linux = fields.get('linux');
    const options = fields.get('options') ?? '';
    const ostreeArg = options.split(/\s+/).find((a) => a.startsWith('ostree='))?.slice('ostree='.length);
    if (!version || !linux || !ostreeArg) {
      say(`incomplete entry (version ${version}, linux ${linux}, ostree= ${ostreeArg})`);
      continue;
    }
    const arg = /^\/ostree\/boot\.([01])\/[^/]+\/[0-9a-f]{64}\/\d+$/.exec(ostreeArg);
    if (!arg) say(`malformed ostree=${ostreeArg}`);
    else if (Number(arg[1]) !== bootversion) say(`ostree=${ostreeArg} names bootversion ${arg[1]}, but boot/loader is loader.${bootversion}`);
    let deployment = '';
    try {
      deployment = realpathSync(join(root, ostreeArg));
    } catch (e) {
      say(`ostree=${ostreeArg} does not resolve: ${(e as Error).message}`);
      continue;
    }
    const name = deployment.slice(deployment.lastIndexOf('/') + 1);
    const dm = /^([0-9a-f]{64})\.\d+$/.exec(name);
    const deployRoot = realpathSync(join(root, 'ostree', 'deploy'));
    if (!dm || !deployment.startsWith(`${deployRoot}/`) || !lstatSync(deployment).isDirectory()) {
      say(`ostree=${ostreeArg} resolves to ${deployment}, not a deployment directory`);
      continue;
    }
    const initrd = fields.get('initrd') ?? null;
    for (const f of [linux, initrd]) if (f !== null && !existsSync(join(root, 'boot', f))) say(`boot file ${f} does not exist`);
    entries.push({ file, version, ostreeArg, deployment, name, checksum: dm[1]!, linux, initrd, options });
  }
  // The boot menu's order, libostree's: the highest version is the default.
  entries.sort((a, b) => Number(b.version) - Number(a.version) || b.version.localeCompare(a.version));
  return { bootversion, entries, problems };
}

/** `CHECKSUM.SERIAL` of each deployment `ostree admin status` lists, in its order. */
export function statusDeployments(stdout: string): string[] {
  return [...stdout.matchAll(/^[* ] \S+ ([0-9a-f]{64}\.\d+)(?: \([^)]*\))?$/gm)].map((m) => m[1]!);
}

/** Just the checksums (a re-run after a crash may take the next serial). */
export const checksumsOf = (names: string[]): string[] => names.map((n) => n.slice(0, 64));

// ---- scratch sysroots

/** Deployment directories of every stateroot, immutable (chattr +i) or not. */
export function deploymentDirs(root: string): string[] {
  const base = join(root, 'ostree', 'deploy');
  if (!existsSync(base)) return [];
  return readdirSync(base).flatMap((os) => {
    const dir = join(base, os, 'deploy');
    return existsSync(dir) ? readdirSync(dir).filter((n) => /^[0-9a-f]{64}\.\d+$/.test(n)).map((n) => join(dir, n)) : [];
  });
}

/** Clears the immutable flag of deployment directories, without which nothing can delete them. */
export function unlockDeployments(root: string): void {
  const dirs = deploymentDirs(root);
  if (dirs.length) spawnSync('chattr', ['-i', ...dirs], { stdio: 'ignore' });
}

/** Unlocks every sysroot at or under `dir`, down to `depth` levels of plain directories. */
function unlockUnder(dir: string, depth: number): void {
  if (existsSync(join(dir, 'ostree', 'deploy'))) return unlockDeployments(dir);
  if (depth === 0) return;
  for (const e of readdirSync(dir, { withFileTypes: true })) if (e.isDirectory()) unlockUnder(join(dir, e.name), depth - 1);
}

/** Removes a scratch sysroot, or a directory holding some (3 levels deep at most), immutable deployments included. */
export function removeSysroots(dir: string): void {
  if (!existsSync(dir)) return;
  unlockUnder(dir, 3);
  rmSync(dir, { recursive: true, force: true });
}

/** `cp -a`: a per-step copy of a scenario's template (hard links preserved, as /boot needs). */
export async function copySysroot(from: string, to: string): Promise<void> {
  const r = await runAsync('cp', ['-a', from, to]);
  if (r.status !== 0) throw new Error(describeRun(`cp -a ${from} ${to}`, r));
}

/**
 * A simulated node's firmware and boot loader. At "power on" it finishes what shutdown would
 * have (a staged deployment is finalized, as ostree-finalize-staged.service does; `/run` is a
 * tmpfs, so it starts empty), then boots the default BLS entry of the current loader: the
 * entry's `options` line becomes the node's kernel command line, byte for byte as a boot loader
 * passes it. An entry whose kernel, initramfs or deployment is missing cannot boot; the boot
 * menu's next entry (the previous deployment) is booted instead, and the fallback is reported.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { compareBlsVersionsDescending, isOstreeEntryName, ostreeKarg, parseBlsEntry, splitKargs, type BlsEntry } from '../sysroot/bls.js';
import { bootedFromCmdlineFile, writeCmdlineFile } from '../sysroot/boot.js';
import { finalizeStaged } from '../sysroot/stage.js';
import { readStagedDeployment } from '../sysroot/sysroot.js';

export class BootError extends Error {
  override name = 'BootError';
}

/** A boot menu entry as the firmware sees it: its options line and why it cannot boot, if it cannot. */
export interface BootCandidate {
  file: string;
  options: string;
  problems: string[];
}

export type BootDecision =
  | { boot: number; fallback?: { from: number; reasons: string[] } }
  | { boot: null; reasons: string[] };

/**
 * Which entry boots: the default (the first) if it can, else the next one that can, as a boot
 * loader falls back to the previous entry. Entries are in menu order (default first).
 */
export function chooseBootEntry(candidates: readonly Pick<BootCandidate, 'problems'>[]): BootDecision {
  const first = candidates.findIndex((c) => c.problems.length === 0);
  if (first < 0) return { boot: null, reasons: candidates.flatMap((c) => c.problems) };
  if (first === 0) return { boot: 0 };
  return { boot: first, fallback: { from: 0, reasons: candidates[0]!.problems } };
}

/** The entries of the current loader, default first, each checked for what booting it needs. */
export function bootMenu(sysroot: string): BootCandidate[] {
  const boot = join(sysroot, 'boot');
  let loader: string;
  try {
    // `boot/loader` is a symlink to `loader.0` or `loader.1`: the swap that makes a deploy atomic.
    loader = join(boot, readlinkSync(join(boot, 'loader')));
  } catch (e) {
    throw new BootError(`No boot loader configuration in ${boot}: ${(e as Error).message}`, { cause: e });
  }
  const dir = join(loader, 'entries');
  const names = existsSync(dir) ? readdirSync(dir).filter(isOstreeEntryName) : [];
  const entries = names.map((file) => ({ file, entry: parseBlsEntry(readFileSync(join(dir, file), 'utf8')) }))
    .sort((a, b) => compareBlsVersionsDescending(a.entry, b.entry));
  return entries.map(({ file, entry }) => ({ file: join(dir, file), options: entry.fields.get('options') ?? '', problems: entryProblems(sysroot, entry) }));
}

function entryProblems(sysroot: string, entry: BlsEntry): string[] {
  const problems: string[] = [];
  for (const key of ['linux', 'initrd'] as const) {
    const path = entry.fields.get(key);
    if (path === undefined) {
      if (key === 'linux') problems.push('the entry names no kernel');
      continue;
    }
    if (!existsSync(join(sysroot, 'boot', path))) problems.push(`${key === 'linux' ? 'kernel' : 'initramfs'} /boot${path} is missing`);
  }
  const value = ostreeKarg(splitKargs(entry.fields.get('options') ?? ''));
  if (value === undefined) problems.push('its options have no ostree= argument');
  else if (!existsSync(join(sysroot, value))) problems.push(`deployment ${value} is missing`);
  else if (!existsSync(join(sysroot, value, 'usr'))) problems.push(`deployment ${value} has no /usr`);
  return problems;
}

export interface BootOptions {
  /** Where the firmware says what it does (the supervisor's log). */
  log: (line: string) => void;
  /** Whose firmware this is, for the log. */
  node: string;
}

export interface BootResult {
  /** The kernel command line the node now runs with. */
  cmdline: string;
  /** The entry file booted. */
  entry: string;
  fellBack: boolean;
}

/**
 * Powers the node on: finalize a staged deployment, empty `/run`, boot the default entry (or
 * fall back), and write its options line to `cmdlineFile` through a new file (a new inode per
 * boot: readers see one boot or the other, never a mix), resolved to its deployment at once.
 */
export async function bootNode(sysroot: string, cmdlineFile: string, options: BootOptions): Promise<BootResult> {
  const { log, node } = options;
  if (await readStagedDeployment(sysroot)) {
    // Shutdown's ostree-finalize-staged; a failure leaves the old entries, which then boot.
    try {
      await finalizeStaged(sysroot);
      log(`${node}: finalized the staged deployment at shutdown`);
    } catch (e) {
      log(`${node}: finalizing the staged deployment failed: ${(e as Error).message}`);
    }
  }
  const run = join(sysroot, 'run');
  rmSync(run, { recursive: true, force: true });
  mkdirSync(run, { recursive: true });

  const menu = bootMenu(sysroot);
  const decision = chooseBootEntry(menu);
  if (decision.boot === null) {
    throw new BootError(`${node} cannot boot: ${menu.length === 0 ? `no boot entries under ${join(sysroot, 'boot')}` : decision.reasons.join('; ')}`);
  }
  const chosen = menu[decision.boot]!;
  if (decision.fallback) {
    log(`${node}: the default boot entry ${menu[0]!.file} cannot be booted (${decision.fallback.reasons.join('; ')}); booting the previous entry ${chosen.file}`);
  }
  writeCmdlineFile(cmdlineFile, chosen.options);
  // The initramfs resolves ostree= at once: the boot is pinned to this deployment from now on.
  bootedFromCmdlineFile(sysroot, cmdlineFile);
  log(`${node}: booted ${chosen.file}: ${chosen.options}`);
  return { cmdline: chosen.options, entry: chosen.file, fellBack: decision.fallback !== undefined };
}

/**
 * Which boot a node is in, as the identity of its command-line file (inode and change time:
 * an inode alone can be reused by the next boot's file). '' when the node never booted.
 */
export function bootIdentity(cmdlineFile: string): string {
  try {
    const st = statSync(cmdlineFile, { bigint: true });
    return `${st.ino}:${st.ctimeNs}`;
  } catch {
    return '';
  }
}

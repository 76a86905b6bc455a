/**
 * Booting a simulated node (tests, the lab) as firmware and ostree-prepare-root boot a real
 * host. The "boot loader" writes the default entry's `options` line unchanged —
 * `… ostree=/ostree/boot.B/OS/BOOTCSUM/N`, what a real one passes — into the node's
 * command-line file, through a temp file and a rename, so each boot is a new inode. The first
 * read of that file after each (re)write resolves `ostree=` to its deployment, as the initramfs
 * does at boot, and records the answer in the sysroot's `run/` (the host's /run, where
 * `ostree-booted` lives), keyed by the file's identity. Every later read during that boot gets
 * the recorded deployment, whatever later deploys do to the bootlinks: a deploy flips the
 * bootversion and deletes the old `ostree/boot.B`, and a real host then knows its booted
 * deployment by the inode of "/", which a directory cannot have.
 */
import { closeSync, fstatSync, mkdirSync, openSync, readFileSync, readdirSync, readlinkSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { compareBlsVersionsDescending, isOstreeEntryName, ostreeKarg, parseBlsEntry, splitKargs, withOstreeKarg } from './bls.js';
import { resolveOstreeArgument, SysrootError } from './sysroot.js';
import { deploymentPath, type DeploymentRef, type KernelCmdlineReader } from './types.js';

/** The `options` line of booting entry `index` (0: the default) of the sysroot, unchanged. */
export async function bootCommandLine(sysroot: string, index = 0): Promise<string> {
  const loader = join(sysroot, 'boot', readlinkSync(join(sysroot, 'boot', 'loader')));
  const entries = readdirSync(join(loader, 'entries')).filter(isOstreeEntryName)
    .map((name) => parseBlsEntry(readFileSync(join(loader, 'entries', name), 'utf8')))
    .sort(compareBlsVersionsDescending);
  const entry = entries[index];
  if (!entry) throw new SysrootError(`No boot entry ${index} in ${join(loader, 'entries')}`);
  const options = entry.fields.get('options') ?? '';
  if (ostreeKarg(splitKargs(options)) === undefined) throw new SysrootError(`Boot entry ${index} in ${loader} has no ostree= argument`);
  return options;
}

/** Writes `line` as the kernel command line of the next boot: a temp file renamed over `file`. */
export function writeCmdlineFile(file: string, line: string): void {
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, `${line.trimEnd()}\n`);
  renameSync(tmp, file);
}

export interface BootOptions {
  /** The boot entry to boot, 0 (the default) unless a user picks another in the boot menu. */
  index?: number;
}

/** "Reboots" a simulated node: its command-line file gets entry `index`'s options line; returns that line. */
export async function bootSimulatedNode(sysroot: string, cmdlineFile: string, options: BootOptions = {}): Promise<string> {
  const line = await bootCommandLine(sysroot, options.index ?? 0);
  writeCmdlineFile(cmdlineFile, line);
  return line;
}

/** Where the answer of the current boot is kept: the sysroot's `run/`, which stands for the host's /run. */
export const simulatedBootRecordPath = (sysroot: string): string => join(sysroot, 'run', 'mco-simulated-boot.json');

/** What one boot of a simulated node resolved. */
export interface SimulatedBoot {
  /** The command line as the file holds it (`ostree=` as the boot loader passed it). */
  cmdline: string;
  /** The deployment `ostree=` led to at boot; null when the command line has none. */
  booted: DeploymentRef | null;
}

/** The record beside the answer: which write of which file it belongs to. */
interface BootRecord extends SimulatedBoot {
  file: string;
  dev: string;
  ino: string;
  mtimeNs: string;
  ctimeNs: string;
}

export interface SimulatedBootOptions {
  /** Where the file's name came from (e.g. `MCO_KERNEL_CMDLINE_FILE`), for error messages. */
  source?: string;
}

/**
 * The boot a simulated node is in: the command line of `cmdlineFile` and the deployment its
 * `ostree=` resolved to at the first read after the file was last written (resolved and
 * recorded now when this is that read).
 */
export function bootedFromCmdlineFile(sysroot: string, cmdlineFile: string, options: SimulatedBootOptions = {}): SimulatedBoot {
  const file = resolve(cmdlineFile);
  const named = `${cmdlineFile}${options.source ? ` (${options.source})` : ''}`;
  let current: Omit<BootRecord, 'booted'>;
  try {
    const fd = openSync(file, 'r');
    try {
      const st = fstatSync(fd, { bigint: true });
      current = { file, dev: String(st.dev), ino: String(st.ino), mtimeNs: String(st.mtimeNs), ctimeNs: String(st.ctimeNs), cmdline: readFileSync(fd, 'utf8') };
    } finally {
      closeSync(fd);
    }
  } catch (e) {
    throw new SysrootError(`Cannot read the kernel command line from ${named}: ${(e as Error).message}`, { cause: e });
  }
  const recordFile = simulatedBootRecordPath(sysroot);
  const recorded = readRecord(recordFile);
  if (recorded && sameBoot(recorded, current)) return { cmdline: recorded.cmdline, booted: recorded.booted };

  const value = ostreeKarg(splitKargs(current.cmdline));
  let booted: DeploymentRef | null = null;
  try {
    booted = value === undefined ? null : resolveOstreeArgument(sysroot, value);
  } catch (e) {
    throw new SysrootError(`Booting the kernel command line of ${named}: ${(e as Error).message}`, { cause: e });
  }
  const record: BootRecord = { ...current, booted };
  try {
    mkdirSync(dirname(recordFile), { recursive: true });
    writeFileSync(`${recordFile}.${process.pid}.tmp`, `${JSON.stringify(record, null, 2)}\n`);
    renameSync(`${recordFile}.${process.pid}.tmp`, recordFile);
  } catch (e) {
    throw new SysrootError(`Cannot record the booted deployment in ${recordFile}: ${(e as Error).message}`, { cause: e });
  }
  return { cmdline: current.cmdline, booted };
}

/**
 * The kernel command line reader of a simulated node: the file's command line with `ostree=`
 * naming the deployment path it resolved to at boot, which stays valid for the whole boot.
 */
export function simulatedBoot(sysroot: string, cmdlineFile: string, options: SimulatedBootOptions = {}): KernelCmdlineReader {
  return () => {
    const { cmdline, booted } = bootedFromCmdlineFile(sysroot, cmdlineFile, options);
    return booted ? withOstreeKarg(splitKargs(cmdline), deploymentPath('/', booted)).join(' ') : cmdline;
  };
}

const sameBoot = (a: Omit<BootRecord, 'booted'>, b: Omit<BootRecord, 'booted'>): boolean =>
  a.file === b.file && a.dev === b.dev && a.ino === b.ino && a.mtimeNs === b.mtimeNs && a.ctimeNs === b.ctimeNs && a.cmdline === b.cmdline;

function readRecord(recordFile: string): BootRecord | null {
  let text: string;
  try {
    text = readFileSync(recordFile, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new SysrootError(`Cannot read the booted deployment from ${recordFile}: ${(e as Error).message}`, { cause: e });
  }
  try {
    const r = JSON.parse(text) as BootRecord;
    const b = r.booted;
    const fieldsOk = ['file', 'dev', 'ino', 'mtimeNs', 'ctimeNs', 'cmdline'].every((k) => typeof r[k as keyof BootRecord] === 'string');
    const bootedOk = b === null || (typeof b?.osname === 'string' && typeof b.checksum === 'string' && Number.isSafeInteger(b.serial));
    if (!fieldsOk || !bootedOk) throw new Error('missing or mistyped fields');
    return r;
  } catch (e) {
    throw new SysrootError(`${recordFile} is not a simulated boot record (${(e as Error).message}); remove it to resolve the command line again`, { cause: e });
  }
}

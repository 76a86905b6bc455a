/**
 * Booting a sysroot directory in a virtual machine, as firmware and a BLS bootloader would:
 * the default entry of `boot/loader/entries` (the highest `version`) gives the kernel, the
 * initramfs and the command line (`-kernel`/`-initrd`/`-append`, paths relative to /boot);
 * the whole sysroot becomes the VM's disk, an ext4 image made by `mkfs.ext4 -d` without
 * mounting anything; `qemu-system-x86_64` boots it with the serial console in a file. The
 * initramfs (dracut + ostree-prepare-root) then finds the deployment from `ostree=`, exactly as
 * on a node. The boot fails — with the console's last lines in the error — on a kernel panic,
 * an emergency shell, a VM that exits without the init's report, or the timeout.
 *
 * KVM when /dev/kvm works (probed once per process: a nested or sandboxed /dev/kvm may open
 * and then never run a guest), TCG emulation otherwise; MCO_BOOT_TEST_ACCEL=kvm|tcg decides.
 */
import { spawn } from 'node:child_process';
import { accessSync, constants, createWriteStream, lstatSync, readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { compareBlsVersionsDescending, parseBlsEntry } from '../../sysroot/bls.js';
import { consoleFailure, lastLines, parseConsole, type ConsoleReport } from './console.js';
import { run } from './host-kernel.js';

export const QEMU = 'qemu-system-x86_64';

export class BootFailure extends Error {
  override name = 'BootFailure';
  constructor(message: string, readonly console: string) {
    super(message);
  }
}

export interface DefaultEntry {
  /** The entry file, under boot/loader/entries. */
  file: string;
  /** Absolute paths of the kernel and initramfs in the sysroot's /boot. */
  linux: string;
  initrd: string | null;
  options: string;
}

/**
 * The entry a BLS bootloader boots by default: of `boot/loader/entries/*.conf` (through the
 * `boot/loader` link), the one with the highest `version`.
 */
export function defaultBootEntry(sysroot: string): DefaultEntry {
  const boot = join(sysroot, 'boot');
  const loader = join(boot, readlinkSync(join(boot, 'loader')));
  const dir = join(loader, 'entries');
  const entries = readdirSync(dir).filter((n) => n.endsWith('.conf'))
    .map((file) => ({ file, entry: parseBlsEntry(readFileSync(join(dir, file), 'utf8')) }))
    .sort((a, b) => compareBlsVersionsDescending(a.entry, b.entry));
  const first = entries[0];
  if (!first) throw new BootFailure(`No boot entry in ${dir}: nothing to boot`, '');
  const field = (k: string): string | undefined => first.entry.fields.get(k);
  const linux = field('linux');
  if (!linux) throw new BootFailure(`Boot entry ${join(dir, first.file)} has no linux line`, '');
  const initrd = field('initrd');
  return { file: join(dir, first.file), linux: join(boot, linux), initrd: initrd ? join(boot, initrd) : null, options: field('options') ?? '' };
}

/** Bytes the tree's files take (each inode once: the repository and deployments share them). */
function treeBytes(dir: string, seen = new Set<number>()): number {
  let total = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const st = lstatSync(join(dir, e.name));
    if (seen.has(st.ino)) continue;
    seen.add(st.ino);
    total += st.blocks * 512;
    if (e.isDirectory()) total += treeBytes(join(dir, e.name), seen);
  }
  return total;
}

/** An ext4 image of `sysroot` at `image` (labelled `root`), made without mounting anything. */
export async function makeDiskImage(sysroot: string, image: string): Promise<void> {
  // Room for the metadata and what the boot writes (a journal, /var); whole MiB.
  const mib = Math.ceil((treeBytes(sysroot) * 1.3) / 2 ** 20) + 64;
  await run('mkfs.ext4', ['-q', '-F', '-L', 'root', '-d', sysroot, image, `${mib}M`], `Making the disk image of ${sysroot}`);
}

export type Accel = 'kvm' | 'tcg';

let probed: Promise<Accel> | undefined;

/**
 * KVM when it runs a guest: the kernel alone, booted under KVM, prints its banner on the
 * serial console within seconds; a /dev/kvm that cannot run guests prints nothing. Once per
 * process.
 */
export function chooseAccel(kernel: string, env: NodeJS.ProcessEnv = process.env): Promise<Accel> {
  const forced = env['MCO_BOOT_TEST_ACCEL'];
  if (forced === 'kvm' || forced === 'tcg') return Promise.resolve(forced);
  if (forced) return Promise.reject(new BootFailure(`MCO_BOOT_TEST_ACCEL=${forced}: expected kvm or tcg`, ''));
  try {
    accessSync('/dev/kvm', constants.R_OK | constants.W_OK);
  } catch {
    return Promise.resolve('tcg');
  }
  probed ??= new Promise<Accel>((resolve) => {
    const child = spawn(QEMU, ['-accel', 'kvm', '-m', '256', '-nographic', '-nodefaults', '-no-reboot', '-serial', 'stdio', '-monitor', 'none',
      '-kernel', kernel, '-append', 'console=ttyS0 earlyprintk=ttyS0 panic=-1'], { stdio: ['ignore', 'pipe', 'ignore'] });
    let out = '';
    const done = (accel: Accel): void => {
      clearTimeout(timer);
      child.kill('SIGKILL');
      resolve(accel);
    };
    const timer = setTimeout(() => done('tcg'), 10_000);
    child.stdout.setEncoding('utf8').on('data', (c: string) => {
      out += c;
      if (out.includes('Linux version')) done('kvm');
    });
    child.once('error', () => done('tcg'));
    child.once('close', () => done(out.includes('Linux version') ? 'kvm' : 'tcg'));
  });
  return probed;
}

export interface BootOptions {
  /** Where the disk image (removed after the boot) and the console log go. */
  workDir: string;
  accel: Accel;
  /** Give up after this long (ms). */
  timeoutMs: number;
  /** Names the boot in errors and file names. */
  name: string;
}

export interface BootResult extends ConsoleReport {
  version: string;
  entry: DefaultEntry;
  accel: Accel;
  /** Seconds from starting qemu to the init's report. */
  seconds: number;
  consoleFile: string;
}

/**
 * Boots the default entry of `sysroot` and returns what the booted system reported. Throws
 * BootFailure, naming the cause and quoting the console's last lines, when it did not boot.
 */
export async function bootSysroot(sysroot: string, options: BootOptions): Promise<BootResult> {
  const { workDir, accel, name } = options;
  const entry = defaultBootEntry(sysroot);
  const disk = join(workDir, `${name}.img`);
  await makeDiskImage(sysroot, disk);
  const consoleFile = join(workDir, `${name}.console.log`);
  const log = createWriteStream(consoleFile);
  const args = [
    '-accel', accel, ...(accel === 'tcg' ? ['-cpu', 'max'] : []), '-m', '512',
    // No default devices (no network card, so no option ROM to run), the serial console on stdout.
    '-nographic', '-nodefaults', '-no-reboot', '-serial', 'stdio', '-monitor', 'none',
    '-kernel', entry.linux, ...(entry.initrd ? ['-initrd', entry.initrd] : []), '-append', entry.options,
    '-drive', `file=${disk},format=raw,if=virtio`,
  ];
  const started = Date.now();
  // The disk is a throw-away copy of the sysroot (the console log stays): removed however the boot ends.
  const text = await new Promise<{ console: string; problem: string | null }>((resolve, reject) => {
    const child = spawn(QEMU, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    let problem: string | null = null;
    const stop = (why: string): void => {
      problem ??= why;
      child.kill('SIGKILL');
    };
    const timer = setTimeout(() => stop(`no report within ${options.timeoutMs / 1000} s`), options.timeoutMs);
    child.stdout.setEncoding('utf8').on('data', (c: string) => {
      out += c;
      log.write(c);
      const failure = consoleFailure(out);
      if (failure) stop(failure);
    });
    child.stderr.setEncoding('utf8').on('data', (c: string) => (err += c));
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(new BootFailure(`Booting ${name}: cannot run ${QEMU}: ${e.message}`, out));
    });
    child.once('close', (status) => {
      clearTimeout(timer);
      log.end();
      if (problem === null && status !== 0) problem = `${QEMU} exited with status ${status}: ${err.trim()}`;
      resolve({ console: out, problem });
    });
  }).finally(() => rmSync(disk, { force: true }));
  const seconds = (Date.now() - started) / 1000;
  const report = parseConsole(text.console);
  const problem = text.problem ?? (report.done && report.version !== undefined ? null : 'the VM stopped without the init\'s report');
  if (problem !== null) {
    throw new BootFailure(`Booting ${name} (${entry.file}, ${accel}) failed: ${problem}; the console's last lines (${consoleFile}):\n${lastLines(text.console)}`, text.console);
  }
  return { ...report, version: report.version!, entry, accel, seconds, consoleFile };
}

/**
 * Test-only: sysroots built by the real `ostree admin` (spec §6.2), OS trees to commit into
 * them, and the boot simulation of §6.3 that makes the real tool believe one deployment is
 * booted (a private mount namespace whose "/" is that deployment directory). Imported by
 * *.test.ts only, never by the library.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { hasOstree, isRoot, ok, ostree, type RunResult } from '../ostree/testing.js';
import { parseBlsEntry } from './bls.js';

export { needsOstree } from '../ostree/testing.js';

const MISSING_OSTREE = 'ostree CLI not installed (scripts/setup.sh installs it)';

function probeBootSim(): string | false {
  if (!hasOstree) return MISSING_OSTREE;
  if (!isRoot) return 'the boot simulation needs root (unshare, mount, chroot)';
  const r = spawnSync('unshare', ['-m', '--pid', '--fork', '--propagation', 'private', 'true']);
  if (r.error || r.status !== 0) return `the boot simulation needs unshare -m --pid: ${r.error?.message ?? String(r.stderr).trim()}`;
  return false;
}

/** `{ skip }` for tests that need the real tool to run "booted" (§6.3). */
export const needsBootSim = { skip: probeBootSim() };

/** What goes into a committed OS tree. */
export interface OsTreeSpec {
  /** Commit metadata `version` (a string); omitted when undefined. */
  version?: string;
  /** Commit metadata `ostree.source-title`. */
  sourceTitle?: string;
  /** More `--add-metadata=K=V` (GVariant text) arguments. */
  metadata?: string[];
  kver?: string;
  kernel?: string;
  initramfs?: string;
  /** Files under usr/etc. */
  etc?: Record<string, string>;
  prettyName?: string;
}

/** sha256 over kernel then initramfs bytes: the bootcsum ostree names `/boot/ostree/OS-BOOTCSUM` by. */
export function bootcsumOf(spec: OsTreeSpec): string {
  return createHash('sha256').update(spec.kernel ?? 'KERNEL-A\n').update(spec.initramfs ?? 'INITRD-A\n').digest('hex');
}

/**
 * Writes an OS tree that the boot simulation can chroot into: the kernel layout of §4.4, an
 * os-release, /usr/etc, and the directories and links a booted root has (`ostree ->
 * sysroot/ostree`, and lib/lib64/bin into usr, where the host's /usr gets mounted so the
 * host's ostree binary and its loader run inside).
 */
export function writeOsTree(dir: string, spec: OsTreeSpec): void {
  const kver = spec.kver ?? '5.14.0-1.el8.x86_64';
  const put = (rel: string, content: string, mode = 0o644): void => {
    fs.mkdirSync(join(dir, rel, '..'), { recursive: true });
    fs.writeFileSync(join(dir, rel), content);
    fs.chmodSync(join(dir, rel), mode);
  };
  for (const d of ['usr/bin', 'usr/etc', 'sysroot', 'boot', 'run', 'proc', 'dev', 'tmp', 'var']) fs.mkdirSync(join(dir, d), { recursive: true });
  fs.symlinkSync('sysroot/ostree', join(dir, 'ostree'));
  for (const l of ['lib', 'lib64', 'bin']) fs.symlinkSync(`usr/${l}`, join(dir, l));
  put(`usr/lib/modules/${kver}/vmlinuz`, spec.kernel ?? 'KERNEL-A\n');
  put(`usr/lib/modules/${kver}/initramfs.img`, spec.initramfs ?? 'INITRD-A\n');
  put('usr/lib/os-release', `NAME="Test OS"\nID=testos\nPRETTY_NAME="${spec.prettyName ?? 'Test OS 46'}"\n`);
  for (const [name, content] of Object.entries(spec.etc ?? { 'hostname.conf': 'node\n' })) put(`usr/etc/${name}`, content);
}

/** A sysroot made by the real `ostree admin init-fs` in a scratch directory; removed (immutable bits cleared) after the test. */
export class RealSysroot {
  private commits = 0;

  private constructor(readonly path: string, private readonly scratchDir: string) {}

  /** init-fs + os-init for each stateroot. The caller removes it (see forTest). */
  static create(osnames: string[] = ['rhcos']): RealSysroot {
    const scratchDir = fs.mkdtempSync(join(tmpdir(), 'mco-sysroot-'));
    const s = new RealSysroot(join(scratchDir, 'sysroot'), scratchDir);
    fs.mkdirSync(s.path);
    ok(ostree(['admin', 'init-fs', s.path]), 'ostree admin init-fs');
    for (const os of osnames) s.osInit(os);
    return s;
  }

  static forTest(t: TestContext, osnames?: string[]): RealSysroot {
    const s = RealSysroot.create(osnames);
    t.after(() => s.remove());
    return s;
  }

  osInit(osname: string): void {
    ok(ostree(['admin', 'os-init', `--sysroot=${this.path}`, osname]), `ostree admin os-init ${osname}`);
  }

  get repo(): string {
    return join(this.path, 'ostree', 'repo');
  }

  /** Commits a fresh OS tree on `ref` (with a distinct timestamp each time); returns its checksum. */
  commit(ref: string, spec: OsTreeSpec = {}): string {
    const tree = join(this.scratchDir, `tree-${this.commits}`);
    writeOsTree(tree, spec);
    const args = ['commit', `--repo=${this.repo}`, '-b', ref, `--timestamp=@${1606372800 + 60 * this.commits++}`, '-s', `commit ${this.commits}`];
    if (spec.version !== undefined) args.push(`--add-metadata-string=version=${spec.version}`);
    if (spec.sourceTitle !== undefined) args.push(`--add-metadata-string=ostree.source-title=${spec.sourceTitle}`);
    for (const m of spec.metadata ?? []) args.push(`--add-metadata=${m}`);
    const checksum = ok(ostree([...args, tree]), `ostree commit ${ref}`).stdout.trim();
    fs.rmSync(tree, { recursive: true });
    return checksum;
  }

  /** `ostree admin deploy --sysroot=… ARGS…` */
  deploy(...args: string[]): RunResult {
    return ok(ostree(['admin', 'deploy', `--sysroot=${this.path}`, ...args]), `ostree admin deploy ${args.join(' ')}`);
  }

  /** `ostree admin VERB --sysroot=… ARGS…` (pin, undeploy, cleanup…) */
  admin(verb: string, ...args: string[]): RunResult {
    return ok(ostree(['admin', verb, `--sysroot=${this.path}`, ...args]), `ostree admin ${verb} ${args.join(' ')}`);
  }

  /** The real `ostree admin status --sysroot=…` output. */
  status(): string {
    return this.admin('status').stdout;
  }

  /** `ostree/deploy/OS/deploy/NAME` for NAME = `CSUM.SERIAL`. */
  deployDir(osname: string, name: string): string {
    return join(this.path, 'ostree', 'deploy', osname, 'deploy', name);
  }

  /** The current entries: file name → text. */
  entries(): Map<string, string> {
    const dir = join(this.path, 'boot', 'loader', 'entries');
    return new Map(fs.readdirSync(dir).sort().map((n) => [n, fs.readFileSync(join(dir, n), 'utf8')]));
  }

  /** The kernel command line a boot of deployment `index` gets: its entry's linux and options. */
  cmdlineOf(index: number): string {
    const entries = [...this.entries().values()].map((text) => parseBlsEntry(text));
    const entry = entries.find((e) => Number(e.fields.get('version')) === entries.length - index);
    if (!entry) throw new Error(`No boot entry for deployment ${index} in ${this.path}`);
    return `BOOT_IMAGE=${entry.fields.get('linux')} ${entry.fields.get('options')}\n`;
  }

  /**
   * Runs `script` (bash) as if the host had booted `deployDir` (§6.3): a private mount and PID
   * namespace where "/" is that directory, with the host's /usr for binaries, the sysroot at
   * /sysroot, its /boot, a fresh tmpfs /run holding `ostree-booted`, and proc/dev/tmp.
   */
  bootSim(deployDir: string, script: string): RunResult {
    const mnt = fs.mkdtempSync(join(this.scratchDir, 'root-'));
    const inner = `set -e; S="$1"; R="$2"; M="$3"
mount --bind "$R" "$M"
mount --bind /usr "$M/usr"
mount --bind "$S/boot" "$M/boot"; mount --bind "$S" "$M/sysroot"
mount -t tmpfs tmpfs "$M/run"; touch "$M/run/ostree-booted"
mount -t proc proc "$M/proc"; mount --bind /dev "$M/dev"; mount -t tmpfs tmpfs "$M/tmp"
exec chroot "$M" /bin/bash -c "$4"`;
    const r = spawnSync('unshare', ['-m', '--pid', '--fork', '--propagation', 'private', 'bash', '-c', inner, 'bash', this.path, deployDir, mnt, script], {
      encoding: 'utf8',
      env: { ...process.env, LC_ALL: 'C.UTF-8', PATH: '/usr/bin:/usr/sbin:/bin:/sbin' },
    });
    if (r.error) throw r.error;
    return { status: r.status, stdout: r.stdout, stderr: r.stderr, stdoutBytes: Buffer.from(r.stdout) };
  }

  /** Clears the immutable bit ostree sets on deployment directories, then deletes everything. */
  remove(): void {
    removeWithSysroot(this.scratchDir, this.path);
  }
}

/** Deletes DIR, first clearing the immutable bit ostree sets on the deployment directories of SYSROOT inside it. */
export function removeWithSysroot(dir: string, sysroot: string): void {
  const deployRoot = join(sysroot, 'ostree', 'deploy');
  const dirs: string[] = [];
  for (const os of fs.existsSync(deployRoot) ? fs.readdirSync(deployRoot) : []) {
    const d = join(deployRoot, os, 'deploy');
    if (!fs.existsSync(d)) continue;
    for (const name of fs.readdirSync(d)) if (!name.endsWith('.origin')) dirs.push(join(d, name));
  }
  if (dirs.length) spawnSync('chattr', ['-i', ...dirs]);
  fs.rmSync(dir, { recursive: true, force: true });
}

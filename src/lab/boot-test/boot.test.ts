/**
 * Real boots (issue 16): the sysroots our tools write boot a real kernel in a virtual machine.
 * Two versions of a small OS (Debian's kernel, a dracut initramfs with ostree-prepare-root,
 * busybox) are committed with `mco ostree commit` and built into machine-os-content images in
 * the embedded registry; a node is installed on v1 with `mco ostree admin deploy`; then each
 * step boots the sysroot's default BLS entry in qemu and reads what the booted system printed:
 *   (a) the first boot runs v1;
 *   (e)+(b) after a local /etc edit, `machine-config-daemon pivot` to v2's image: the boot runs
 *       v2, with the edited file kept and the untouched one taking v2's content;
 *   (c) `mco host rollback`: the boot runs v1 again, the edit still there;
 *   (d) the pivot killed (SIGKILL) at named crash steps: each boots v1 or v2, never a panic
 *       nor an emergency shell;
 * and the harness fails, quoting the console, when an entry's kernel or deployment is gone.
 * A boot takes a minute or two under TCG emulation on a loaded 2-core machine; the crash
 * boots run two at a time.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { startEmbeddedRegistry } from '../../image/testing.js';
import { ok, runMco, type RunResult } from '../../ostree/testing.js';
import { copySysroot, removeSysroots } from '../../sysroot/crash-harness.js';
import { cachedInitramfs, findHostKernel } from './host-kernel.js';
import { BUSYBOX, ETC_DIR, INIT_PATH, writeBootableTree } from './os-tree.js';
import { BootFailure, bootSysroot, chooseAccel, defaultBootEntry, QEMU, type Accel, type BootResult } from './vm.js';

const DAEMON_JS = fileURLToPath(new URL('../../cli/machine-config-daemon.js', import.meta.url));
const OS = 'mco-boot-test';

/** Why the tier cannot run here, or false. */
function missing(): string | false {
  const tools = [`/usr/bin/${QEMU}`, '/usr/bin/dracut', '/usr/lib/dracut/modules.d/98ostree', '/usr/lib/ostree/ostree-prepare-root', BUSYBOX, '/usr/sbin/mkfs.ext4'];
  const absent = tools.filter((p) => {
    try {
      accessSync(p, constants.R_OK);
      return false;
    } catch {
      return true;
    }
  });
  if (absent.length) return `missing ${absent.join(', ')} (scripts/setup.sh installs qemu-system-x86, dracut, ostree-boot, busybox-static, e2fsprogs)`;
  try {
    findHostKernel();
  } catch (e) {
    return (e as Error).message;
  }
  return process.getuid?.() === 0 ? false : 'root needed (deployments are made immutable, dracut reads the whole module tree)';
}

interface World {
  dir: string;
  sysroot: string;
  cmdline: string;
  images: { v1: string; v2: string };
  accel: Accel;
  timeoutMs: number;
  /** Every boot, for the summary. */
  boots: { name: string; version: string; seconds: number }[];
  /** Runs a boot when one of the VM slots is free. */
  slot: <T>(work: () => Promise<T>) => Promise<T>;
}

/**
 * At most `n` VMs at once: each is one emulating thread, and the machine has two cores. The
 * last subtests share the slots, so their boots overlap.
 */
function slots(n: number): World['slot'] {
  let free = n;
  const waiting: (() => void)[] = [];
  return async (work) => {
    if (free > 0) free--;
    else await new Promise<void>((resolve) => waiting.push(resolve));
    try {
      return await work();
    } finally {
      const next = waiting.shift();
      if (next) next();
      else free++;
    }
  };
}

const VERSIONS = { v1: '1.0', v2: '2.0' } as const;

/** The deployment args a bootloader passes: the root disk, the console, the test init. */
const KARGS = ['root=/dev/vda', 'rw', 'console=ttyS0', `init=${INIT_PATH}`, 'quiet', 'panic=-1'];

/** `machine-config-daemon pivot` on the node at `sysroot`, booted with the command line in `cmdline`. */
function pivot(sysroot: string, cmdline: string, image: string, env: Record<string, string> = {}): RunResult & { signal: NodeJS.Signals | null } {
  const r = spawnSync(process.execPath, [DAEMON_JS, 'pivot', `--sysroot=${sysroot}`, '--insecure', '-q', image], {
    env: { ...process.env, LC_ALL: 'C.UTF-8', MCO_KERNEL_CMDLINE_FILE: cmdline, ...env },
    encoding: 'utf8',
  });
  if (r.error) throw r.error;
  return { status: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr, stdoutBytes: Buffer.from(r.stdout) };
}

/** Boots `sysroot`'s default entry; the node's command-line file becomes what the VM ran with. */
async function boot(w: World, sysroot: string, name: string): Promise<BootResult> {
  const r = await w.slot(() => bootSysroot(sysroot, { workDir: w.dir, accel: w.accel, timeoutMs: w.timeoutMs, name }));
  w.boots.push({ name, version: r.version, seconds: r.seconds });
  process.stderr.write(`boot ${name}: VERSION=${r.version} in ${r.seconds.toFixed(1)} s (${r.accel})\n`);
  assert.equal(r.cmdline, r.entry.options, `${name}: the VM ran with the default entry's options`);
  assert.ok(r.ostreeBooted, `${name}: ostree-prepare-root prepared the root (/run/ostree-booted)`);
  return r;
}

/** As a reboot leaves it: the node's command line (a new file) is the one the booted kernel printed. */
function booted(file: string, r: BootResult): void {
  writeFileSync(`${file}.tmp`, `${r.cmdline}\n`);
  renameSync(`${file}.tmp`, file);
}

/** v1 and v2 built into images, and a node installed on v1. */
async function world(t: TestContext): Promise<World> {
  const dir = mkdtempSync(join(tmpdir(), 'mco-boot-test-'));
  t.after(() => removeSysroots(dir));
  const kernel = findHostKernel();
  const initramfs = await cachedInitramfs(kernel, { log: (line) => process.stderr.write(`${line}\n`) });
  const accel = await chooseAccel(kernel.vmlinuz);
  const registry = await startEmbeddedRegistry(t);
  const repo = join(dir, 'build-repo');
  ok(runMco(['ostree', 'init', `--repo=${repo}`, '--mode=archive']), 'init build repo');
  const commits = {} as Record<keyof typeof VERSIONS, string>;
  const images = {} as World['images'];
  for (const v of ['v1', 'v2'] as const) {
    const tree = join(dir, `tree-${v}`);
    writeBootableTree(tree, {
      kernel, initramfs, version: VERSIONS[v],
      etc: { 'edited.conf': `value=${v}\n`, 'untouched.conf': `value=${v}\n` },
    });
    commits[v] = ok(runMco(['ostree', 'commit', `--repo=${repo}`, `--branch=${OS}`, `--add-metadata-string=version=${VERSIONS[v]}`, tree]), `commit ${v}`).stdout.trim();
    rmSync(tree, { recursive: true });
    const digest = ok(runMco(['image', 'build', '--from-commit', `${repo}:${commits[v]}`, '--to', `${registry.host}/mco/os:${v}`, '--insecure', '-q']), `image build ${v}`).stdout.trim();
    images[v] = `${registry.host}/mco/os@${digest}`;
  }
  // The installer: v1 pulled into the node's repository and deployed with the boot arguments.
  const sysroot = join(dir, 'sysroot');
  mkdirSync(sysroot);
  ok(runMco(['ostree', 'admin', 'init-fs', sysroot]), 'init-fs');
  ok(runMco(['ostree', 'admin', 'os-init', `--sysroot=${sysroot}`, OS]), 'os-init');
  ok(runMco(['ostree', 'pull-local', `--repo=${join(sysroot, 'ostree', 'repo')}`, repo, commits.v1]), 'pull-local v1');
  ok(runMco(['ostree', 'admin', 'deploy', `--sysroot=${sysroot}`, `--os=${OS}`, ...KARGS.map((k) => `--karg=${k}`), commits.v1]), 'deploy v1');
  return {
    dir, sysroot, cmdline: join(dir, 'cmdline'), images, accel,
    // Generous: a hang is the only thing the timeout catches (a panic or an emergency shell stops the boot at once),
    // and two emulated VMs on a busy 2-core machine took up to 3.5 min each.
    timeoutMs: (accel === 'kvm' ? 120 : 600) * 1000,
    boots: [],
    slot: slots(2),
  };
}

/** The deployment directory the default entry's `ostree=` names, through the bootlinks. */
function defaultDeployment(sysroot: string): string {
  const ostreeArg = /(?:^| )ostree=(\S+)/.exec(defaultBootEntry(sysroot).options)![1]!;
  return realpathSync(join(sysroot, ostreeArg));
}

/** Pivot killed at STEP, and the version a boot must then show. */
const CRASH_POINTS = [
  // The new deployment is checked out and its /etc merged, but no entry names it.
  { step: 'deploy-etc-merged', expect: 'v1' },
  // The new entries and the ostree/boot.N links are in place; boot/loader still names the old entries.
  { step: 'bootlinks-swapped', expect: 'v1' },
  // The boot menu switched; the old list's files not yet cleaned up.
  { step: 'after-loader-rename', expect: 'v2' },
] as const;

describe('real boots of the deployments we write (qemu)', { skip: missing() }, () => {
  // Concurrency 2: the last two subtests run together, sharing the VM slots.
  test('install, pivot, rollback, crashes, and broken entries, each booted in a VM', { timeout: 20 * 60_000, concurrency: 2 }, async (t) => {
    const w = await world(t);

    await t.test('(a) the first boot runs v1', async () => {
      const r = await boot(w, w.sysroot, 'a-first-boot');
      assert.equal(r.version, VERSIONS.v1);
      assert.deepEqual(r.etc, ['edited.conf: value=v1', 'untouched.conf: value=v1']);
      booted(w.cmdline, r);
    });

    // The admin edits /etc on the booted v1; the crash points start from here.
    writeFileSync(join(defaultDeployment(w.sysroot), 'etc', ETC_DIR, 'edited.conf'), 'value=local\n');
    const template = join(w.dir, 'before-pivot');
    await copySysroot(w.sysroot, template);
    const templateCmdline = join(w.dir, 'before-pivot.cmdline');
    writeFileSync(templateCmdline, readFileSync(w.cmdline));

    await t.test('(b, e) pivot to v2\'s image: the boot runs v2, the local /etc edit kept', async () => {
      ok(pivot(w.sysroot, w.cmdline, w.images.v2), 'pivot to v2');
      const r = await boot(w, w.sysroot, 'b-pivot-v2');
      assert.equal(r.version, VERSIONS.v2);
      assert.deepEqual(r.etc, ['edited.conf: value=local', 'untouched.conf: value=v2'], 'the three-way /etc merge, seen from the booted system');
      booted(w.cmdline, r);
    });

    await t.test('(c) mco host rollback: the boot runs v1 again', async () => {
      ok(runMco(['host', 'rollback', `--sysroot=${w.sysroot}`], { env: { ...process.env, MCO_KERNEL_CMDLINE_FILE: w.cmdline } }), 'rollback');
      const r = await boot(w, w.sysroot, 'c-rollback');
      assert.equal(r.version, VERSIONS.v1);
      assert.deepEqual(r.etc, ['edited.conf: value=local', 'untouched.conf: value=v1']);
      booted(w.cmdline, r);
    });

    const crashes = t.test(`(d) pivot killed at ${CRASH_POINTS.map((c) => c.step).join(', ')}: v1 or v2 boots, whole`, async () => {
      const sysroots: string[] = [];
      for (const { step } of CRASH_POINTS) {
        const s = join(w.dir, `crash-${step}`);
        await copySysroot(template, s);
        const killed = pivot(s, templateCmdline, w.images.v2, { MCO_CRASH_AT: step });
        assert.equal(killed.signal, 'SIGKILL', `killed at ${step}: status ${killed.status}\n${killed.stderr}`);
        sysroots.push(s);
      }
      const results = await Promise.all(CRASH_POINTS.map(({ step }, i) => boot(w, sysroots[i]!, `d-crash-${step}`)));
      for (const [i, { step, expect }] of CRASH_POINTS.entries()) {
        assert.equal(results[i]!.version, VERSIONS[expect], `killed at ${step}: boots ${expect}`);
        assert.equal(results[i]!.etc[0], 'edited.conf: value=local', `killed at ${step}: the local /etc edit`);
        removeSysroots(sysroots[i]!);
      }
    });

    const broken = t.test('a missing kernel, a removed deployment: the boot fails, quoting the console', async () => {
      // The default entry's kernel removed: the "firmware" cannot load it.
      const noKernel = join(w.dir, 'broken-kernel');
      await copySysroot(w.sysroot, noKernel);
      rmSync(defaultBootEntry(noKernel).linux);
      await assert.rejects(w.slot(() => bootSysroot(noKernel, { workDir: w.dir, accel: w.accel, timeoutMs: w.timeoutMs, name: 'broken-kernel' })),
        (e: Error) => e instanceof BootFailure && /failed: qemu-system-x86_64 exited with status 1: .*could not (load|open) kernel/is.test(e.message));
      // The default deployment's directory removed: ostree-prepare-root fails, the initramfs drops to its emergency shell.
      const noDeployment = join(w.dir, 'broken-deployment');
      await copySysroot(w.sysroot, noDeployment);
      const deployment = defaultDeployment(noDeployment);
      spawnSync('chattr', ['-i', deployment]);
      rmSync(deployment, { recursive: true });
      const failure = await w.slot(() => bootSysroot(noDeployment, { workDir: w.dir, accel: w.accel, timeoutMs: w.timeoutMs, name: 'broken-deployment' })).then(
        () => assert.fail('a sysroot whose default deployment is gone booted'), (e: unknown) => e);
      assert.ok(failure instanceof BootFailure, String(failure));
      assert.match(failure.message, /failed: (emergency shell|dracut emergency shell|kernel panic)/);
      assert.match(failure.message, /the console's last lines[^]*ostree-prepare-root: realpath\(\/sysroot\/\/ostree\/boot\.\d\/[^)]+\) failed: No such file or directory/,
        'the console quoted names the cause');
      assert.ok(existsSync(join(w.dir, 'broken-deployment.console.log')));
      process.stderr.write(`the broken deployment, as reported: ${failure.message}\n`);
    });

    await Promise.all([crashes, broken]);
    process.stderr.write(`boots (${w.accel}): ${w.boots.map((b) => `${b.name} ${b.version} ${b.seconds.toFixed(1)} s`).join('; ')}\n`);
    assert.ok(readFileSync(w.cmdline, 'utf8').includes('ostree='));
  });
});

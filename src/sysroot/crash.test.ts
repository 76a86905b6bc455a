/**
 * The crash-safety harness: every named step of `mco ostree admin deploy`, `… cleanup`, and
 * of the verbs built on them (`mco host rollback`, `host kargs`, `host cleanup -r`) is
 * tried as the point where the process dies by SIGKILL (MCO_CRASH_AT=STEP), on a sysroot made
 * by the real ostree. After each kill the sysroot must still be one a node can boot and the
 * real tools accept:
 *   (a) `ostree admin status` works and lists the old deployment list or the new one, whole;
 *   (b) the default boot entry resolves through ostree/boot.N to a complete deployment (its
 *       commit's files, its merged /etc, its origin, the kernel it boots), the old default
 *       or the new one, never anything else — and so does every other entry;
 *   (c) `ostree fsck` finds the repository intact;
 *   (d) re-running the operation succeeds, takes over the dead process's lock, leaves no
 *       garbage and the deployment refs right, and the real `ostree admin deploy` still works
 *       on top (for deploys, also straight on the crashed sysroot: an admin who falls back to
 *       the real tool).
 * Sysroots live on tmpfs when there is one, each point on a `cp -a` of its scenario's template,
 * three points at a time; the whole file takes about 80 s on two cores.
 * The step list is explicit and checked against the source, so a new step cannot go untried.
 */
import assert from 'node:assert/strict';
import { accessSync, constants, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, realpathSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { after, describe, test, type TestContext } from 'node:test';
import { hasOstree, noFsync } from '../ostree/testing.js';
import { bootSimulatedNode } from './boot.js';
import {
  checksumsOf, copySysroot, crashStepsInSource, deploymentDirs, describeRun, mco, readBootView, realOstree, removeSysroots,
  statusDeployments, SYSROOT_SOURCES,
} from './crash-harness.js';

const skip = !hasOstree && 'ostree CLI not installed (scripts/setup.sh installs it)';

/**
 * Every crash step the library names, in the order a deploy reaches them. Templates
 * (`kernel-installed-${index}`) are listed for indexes 0 and 1: a two-deployment list.
 * A test below fails when the source and this list disagree.
 */
const CRASH_STEPS = [
  'deploy-checked-out',
  'deploy-etc-merged',
  'deploy-origin-written',
  'deploy-finalized',
  'finalize-state-removed',
  'finalize-etc-merged',
  'entries-dir-created',
  'kernel-installed-0',
  'entry-written-0',
  'kernel-installed-1',
  'entry-written-1',
  'bootlinks-written',
  'bootlinks-swapped',
  'before-loader-rename',
  'after-loader-rename',
  'cleanup-bootversions-removed',
  'cleanup-deployment-removed',
  'cleanup-kernels-removed',
  'cleanup-refs-written',
] as const;
type Step = (typeof CRASH_STEPS)[number];

/** Reached only when a staged deployment is finalized. */
const FINALIZE_STEPS: Step[] = ['finalize-state-removed', 'finalize-etc-merged'];
/** Every step an operation on the boot entries reaches, but these (and the finalization's). */
const ALL_BUT = (...not: Step[]): Step[] => CRASH_STEPS.filter((s) => !not.includes(s) && !FINALIZE_STEPS.includes(s));
const CLEANUP_STEPS: Step[] = ['cleanup-bootversions-removed', 'cleanup-deployment-removed', 'cleanup-kernels-removed', 'cleanup-refs-written'];

// ---- the OS trees

const KVER = '4.18.0-305.el8.x86_64';
/** The commits every template holds, by branch. v3 boots v2's kernel (one /boot dir, bootserials 0 and 1). */
const VERSIONS = { v1: 'k1', v2: 'k2', v3: 'k2', v4: 'k4' } as const;
type Version = keyof typeof VERSIONS;

/** Files every deployment of `version` must have: the proof its checkout is the commit's, whole. */
const markerOf = (version: Version): string => `${version} marker\n`;
const kernelOf = (version: Version): { vmlinuz: string; initramfs: string } =>
  ({ vmlinuz: `KERNEL ${VERSIONS[version]}\n`, initramfs: `INITRD ${VERSIONS[version]}\n` });

function writeTree(dir: string, version: Version): string {
  const tree = join(dir, `tree-${version}`);
  const file = (rel: string, text: string): void => {
    mkdirSync(dirname(join(tree, rel)), { recursive: true });
    writeFileSync(join(tree, rel), text);
  };
  const { vmlinuz, initramfs } = kernelOf(version);
  file(`usr/lib/modules/${KVER}/vmlinuz`, vmlinuz);
  file(`usr/lib/modules/${KVER}/initramfs.img`, initramfs);
  file('usr/lib/os-release', `ID=rhcos\nVERSION_ID=${version}\nPRETTY_NAME="Red Hat Enterprise Linux CoreOS ${version} (Ootpa)"\n`);
  file('usr/share/mco/marker', markerOf(version));
  for (let i = 0; i < 20; i++) file(`usr/share/mco/data/f${i}`, `${version} ${i}\n`);
  file('usr/etc/app.conf', `a=${version}\n`);
  file('usr/etc/keep.conf', 'k=1\n');
  return tree;
}

// ---- scenarios

interface Built {
  root: string;
  /** Commit checksum of each version. */
  commits: Record<Version, string>;
  /** `CHECKSUM.SERIAL` of the deployments before the operation: the old list, to the serial. */
  names: string[];
  /** Environment of every run on this template (MCO_KERNEL_CMDLINE_FILE: what the node booted). */
  env?: Record<string, string>;
}

interface Scenario {
  id: string;
  /** How the test names read: "<title> killed at STEP …". */
  title: string;
  /** The operation under test, on sysroot `s`. */
  args: (s: string) => string[];
  /** The steps this operation reaches on this template (the others are named in `why`). */
  steps: Step[];
  why: string;
  /** Deployment list before and after the operation, newest first. */
  before: Version[];
  after: Version[];
  /** What re-running the operation lists, given what the crash left (checksums). */
  rerun: (left: string[], c: Record<Version, string>) => string[];
  /** The command that finishes the job after a kill, when it is not the operation itself. */
  recover?: (s: string) => string[];
  /** Every deployment's etc/app.conf: the admin's edit is carried by each /etc merge. */
  appConf: (v: Version) => string;
  /**
   * Also run the real `ostree admin deploy` straight on the killed sysroot. Done for the deploy
   * scenarios only: the other verbs leave the same kinds of wreck (the same swap and cleanup
   * code), and the check costs a sysroot copy and two processes per point.
   */
  realAfterKill: boolean;
  /** A kernel argument the default entry must carry under the old list and under the new one. */
  defaultKarg?: { old: string; new: string };
  build: (dir: string) => Promise<Built>;
}

const sysroot = (s: string): string => `--sysroot=${s}`;
const deployArgs = (rev: Version, ...extra: string[]) => (s: string): string[] => ['ostree', 'admin', 'deploy', sysroot(s), '--os=rhcos', ...extra, rev];
/** A deploy lists the new deployment, then the merge deployment (the old default), if any. */
const deployRerun = (rev: Version) => (left: string[], c: Record<Version, string>): string[] => [c[rev], ...left.slice(0, 1)];
const local = (): string => 'a=local\n';

/** Runs the real tool for a template, failing with its output. */
async function must(args: string[], what: string): Promise<string> {
  const r = await realOstree(args);
  assert.equal(r.status, 0, describeRun(what, r));
  return r.stdout;
}

/** init-fs, os-init and v1…v4 committed by the real tool; the repository without fsync (speed). */
async function baseSysroot(dir: string): Promise<Built> {
  const root = join(dir, 'template');
  mkdirSync(root);
  await must(['admin', 'init-fs', root], 'init-fs');
  await must(['admin', 'os-init', sysroot(root), 'rhcos'], 'os-init');
  const repo = join(root, 'ostree', 'repo');
  noFsync(repo);
  const commits = {} as Record<Version, string>;
  for (const v of Object.keys(VERSIONS) as Version[]) {
    commits[v] = (await must(['commit', `--repo=${repo}`, `--branch=${v}`, `--tree=dir=${writeTree(dir, v)}`, `--subject=${v}`, `--add-metadata-string=version=${v}`], `commit ${v}`)).trim();
  }
  return { root, commits, names: [] };
}

/** The template with v1 deployed by the real tool, /etc edited by the admin, branch v1 gone. */
async function withV1(dir: string): Promise<Built> {
  const b = await baseSysroot(dir);
  await must(['admin', 'deploy', sysroot(b.root), '--os=rhcos', '--karg=root=LABEL=root', '--karg=rw', 'v1'], 'real deploy v1');
  const etc = join(b.root, 'ostree', 'deploy', 'rhcos', 'deploy', `${b.commits.v1}.0`, 'etc');
  writeFileSync(join(etc, 'app.conf'), 'a=local\n');
  // Only the deployment ref keeps v1 now: a cleanup that lost it would let prune eat a booted commit.
  await must(['refs', `--repo=${join(b.root, 'ostree', 'repo')}`, '--delete', 'v1'], 'delete branch v1');
  return b;
}

async function withV2V1(dir: string): Promise<Built> {
  const b = await withV1(dir);
  await must(['admin', 'deploy', sysroot(b.root), '--os=rhcos', 'v2'], 'real deploy v2');
  return b;
}

const SCENARIOS: Scenario[] = [
  {
    id: 'first',
    realAfterKill: true,
    title: 'a first deploy onto an empty sysroot',
    args: deployArgs('v1', '--karg=root=LABEL=root', '--karg=rw'),
    steps: ALL_BUT('kernel-installed-1', 'entry-written-1', 'cleanup-deployment-removed'),
    why: 'one deployment in the new list, and nothing to retire',
    before: [],
    after: ['v1'],
    rerun: deployRerun('v1'),
    appConf: (v) => `a=${v}\n`,
    build: baseSysroot,
  },
  {
    id: 'upgrade',
    realAfterKill: true,
    title: 'an upgrade of a sysroot with one deployment',
    args: deployArgs('v2'),
    steps: ALL_BUT('cleanup-deployment-removed'),
    why: 'the old default stays as the rollback: nothing to retire',
    before: ['v1'],
    after: ['v2', 'v1'],
    rerun: deployRerun('v2'),
    appConf: local,
    build: withV1,
  },
  {
    id: 'retire',
    realAfterKill: true,
    title: 'an upgrade that retires the oldest of two deployments',
    args: deployArgs('v3'),
    steps: ALL_BUT(),
    why: 'no staged deployment to finalize',
    before: ['v2', 'v1'],
    after: ['v3', 'v2'],
    rerun: deployRerun('v3'),
    appConf: local,
    build: withV2V1,
  },
  {
    id: 'bootlinks',
    realAfterKill: true,
    title: 'a redeploy that boots as the current list (bootconfig swap: no)',
    args: deployArgs('v2'),
    steps: ALL_BUT('entries-dir-created', 'kernel-installed-0', 'entry-written-0', 'kernel-installed-1', 'entry-written-1', 'before-loader-rename', 'after-loader-rename'),
    why: 'the boot entries stay as they are: only the bootlinks move, through the other subbootversion',
    before: ['v2', 'v2'],
    after: ['v2', 'v2'],
    rerun: deployRerun('v2'),
    appConf: local,
    build: async (dir) => {
      const b = await withV2V1(dir);
      await must(['admin', 'deploy', sysroot(b.root), '--os=rhcos', 'v2'], 'real deploy v2 again');
      return b;
    },
  },
  {
    id: 'rollback',
    realAfterKill: false,
    title: 'a rollback (mco host rollback)',
    args: (s) => ['host', 'rollback', sysroot(s)],
    steps: ALL_BUT('deploy-checked-out', 'deploy-etc-merged', 'deploy-origin-written', 'deploy-finalized', 'cleanup-deployment-removed'),
    why: 'a rollback reorders the list: no checkout, nothing to retire',
    before: ['v2', 'v1'],
    after: ['v1', 'v2'],
    // After the switch, the same command rolls back again: the two swap places once more.
    rerun: (left) => [left[1]!, left[0]!],
    appConf: local,
    build: withV2V1,
  },
  {
    id: 'kargs',
    realAfterKill: false,
    title: 'a kernel argument change (mco host kargs --replace)',
    args: (s) => ['host', 'kargs', sysroot(s), '--replace=root=LABEL=boot'],
    steps: ALL_BUT(),
    why: 'no staged deployment to finalize',
    // A new deployment of the default's commit with the new arguments; v1 is retired.
    before: ['v2', 'v1'],
    after: ['v2', 'v2'],
    rerun: deployRerun('v2'),
    appConf: local,
    defaultKarg: { old: 'root=LABEL=root', new: 'root=LABEL=boot' },
    build: withV2V1,
  },
  {
    id: 'drop-rollback',
    realAfterKill: false,
    title: 'dropping the rollback deployment (mco host cleanup -r)',
    args: (s) => ['host', 'cleanup', '-r', sysroot(s)],
    steps: ALL_BUT('deploy-checked-out', 'deploy-etc-merged', 'deploy-origin-written', 'deploy-finalized', 'kernel-installed-1', 'entry-written-1'),
    why: 'no checkout, and a one-deployment list',
    before: ['v2', 'v1'],
    after: ['v2'],
    // Nothing left to drop is not an error: the re-run only rewrites the same list.
    rerun: (left) => left.slice(0, 1),
    appConf: local,
    build: withV2V1,
  },
  {
    id: 'finalize',
    realAfterKill: false,
    title: 'finalizing a staged upgrade at shutdown (mco ostree admin finalize-staged)',
    args: (s) => ['ostree', 'admin', 'finalize-staged', sysroot(s)],
    steps: [...FINALIZE_STEPS, ...ALL_BUT('deploy-checked-out', 'deploy-etc-merged', 'deploy-origin-written', 'deploy-finalized', 'cleanup-deployment-removed')],
    why: 'the checkout happened when staging, and the booted deployment stays as the rollback',
    before: ['v1'],
    after: ['v2', 'v1'],
    rerun: (left) => left,
    // The state file goes first, so the staged deployment is not finalized twice: after a
    // kill, the next cleanup removes what is left of it (libostree's behaviour).
    recover: (s) => ['ostree', 'admin', 'cleanup', sysroot(s)],
    appConf: local,
    build: async (dir) => {
      const b = await withV1(dir);
      const cmdline = join(dir, 'cmdline');
      await bootSimulatedNode(b.root, cmdline);
      b.env = { MCO_KERNEL_CMDLINE_FILE: cmdline };
      const r = await mco(['ostree', 'admin', 'deploy', '--stage', sysroot(b.root), '--os=rhcos', 'v2'], b.env);
      assert.equal(r.status, 0, describeRun('staging v2 for the finalize template', r));
      return b;
    },
  },
  {
    id: 'cleanup',
    realAfterKill: false,
    title: 'a cleanup of what a deploy killed after its switch left behind',
    args: (s) => ['ostree', 'admin', 'cleanup', sysroot(s)],
    steps: CLEANUP_STEPS,
    why: 'cleanup writes no deployment list',
    before: ['v3', 'v2'],
    after: ['v3', 'v2'],
    rerun: (left) => left,
    appConf: local,
    build: async (dir) => {
      const b = await withV2V1(dir);
      // The garbage: the other bootversion, v1's deployment and kernel, stale refs, a dead lock.
      const r = await mco(deployArgs('v3')(b.root), { MCO_CRASH_AT: 'after-loader-rename' });
      assert.equal(r.signal, 'SIGKILL', describeRun('building the cleanup template', r));
      assert.equal(deploymentDirs(b.root).length, 3, 'the template holds a deployment to clean up');
      return b;
    },
  },
];

// ---- checks

const deploymentsDir = (s: string): string => join(s, 'ostree', 'deploy', 'rhcos', 'deploy');

async function status(s: string, what: string): Promise<string[]> {
  const r = await realOstree(['admin', 'status', sysroot(s)]);
  assert.equal(r.status, 0, describeRun(`ostree admin status ${what}`, r));
  return statusDeployments(r.stdout);
}

/** (b): every boot entry resolves to a complete deployment of a known commit, booting that commit's kernel. */
function assertBootable(s: string, sc: Scenario, b: Built, listed: string[], isNew: boolean, what: string): void {
  const view = readBootView(s);
  assert.deepEqual(view.problems, [], `${what}: the boot entries are broken`);
  assert.deepEqual(view.entries.map((e) => e.name), listed, `${what}: the boot menu and ostree admin status disagree`);
  if (sc.defaultKarg && view.entries[0]) {
    const karg = isNew ? sc.defaultKarg.new : sc.defaultKarg.old;
    assert.ok(view.entries[0].options.split(' ').includes(karg), `${what}: the default entry should boot with ${karg} (the ${isNew ? 'new' : 'old'} list): ${view.entries[0].options}`);
  }
  const versionOf = new Map(Object.entries(b.commits).map(([v, c]) => [c, v as Version]));
  for (const e of view.entries) {
    const v = versionOf.get(e.checksum);
    assert.ok(v, `${what}: ${e.file} boots ${e.name}, a commit the sysroot never had`);
    const d = e.deployment;
    const read = (rel: string): string => readFileSync(join(d, rel), 'utf8');
    assert.ok(existsSync(join(d, 'usr')) && existsSync(join(d, 'etc')), `${what}: ${e.name} lacks usr/ or etc/`);
    assert.equal(read('usr/share/mco/marker'), markerOf(v), `${what}: ${e.name} is not a checkout of ${v}`);
    assert.equal(read('usr/share/mco/data/f19'), `${v} 19\n`, `${what}: ${e.name}'s checkout is incomplete`);
    assert.equal(read('etc/app.conf'), sc.appConf(v), `${what}: ${e.name}'s /etc is not merged`);
    assert.match(readFileSync(`${d}.origin`, 'utf8'), /^\[origin\]\nrefspec=/, `${what}: ${e.name} has no origin`);
    const kernel = kernelOf(v);
    assert.equal(readFileSync(join(s, 'boot', e.linux), 'utf8'), kernel.vmlinuz, `${what}: ${e.file} boots another kernel`);
    assert.equal(e.initrd && readFileSync(join(s, 'boot', e.initrd), 'utf8'), kernel.initramfs, `${what}: ${e.file} boots another initramfs`);
  }
}

async function assertFsck(s: string, what: string): Promise<void> {
  const r = await realOstree(['fsck', `--repo=${join(s, 'ostree', 'repo')}`]);
  assert.equal(r.status, 0, describeRun(`ostree fsck ${what}`, r));
  assert.match(r.stdout, /no errors found/, `ostree fsck ${what}`);
}

/** After a completed operation: nothing on disk that the boot entries do not use. */
function assertNoGarbage(s: string, listed: string[], what: string): void {
  const names = readdirSync(deploymentsDir(s)).sort();
  assert.deepEqual(names, [...new Set(listed)].flatMap((n) => [n, `${n}.origin`]).sort(), `${what}: leftover deployments`);
  const view = readBootView(s);
  const b = view.bootversion;
  assert.deepEqual(readdirSync(join(s, 'boot')).filter((n) => n.startsWith('loader')).sort(), ['loader', `loader.${b}`], `${what}: leftover boot entries`);
  const sub = readlinkSync(join(s, 'ostree', `boot.${b}`));
  assert.deepEqual(readdirSync(join(s, 'ostree')).filter((n) => n.startsWith('boot.')).sort(), [`boot.${b}`, sub], `${what}: leftover bootlinks`);
  const kernels = new Set(view.entries.map((e) => basename(dirname(e.linux))));
  assert.deepEqual(readdirSync(join(s, 'boot', 'ostree')).sort(), [...kernels].sort(), `${what}: leftover kernels`);
  assert.equal(existsSync(join(s, 'ostree', 'mco.lock')), false, `${what}: the lock was not released`);
}

/**
 * The refs that keep deployed commits from any prune: `ostree/B/S/I` → the commit of the I-th
 * deployment, and nothing else under ostree/ (read from disk: an fsck per point costs more,
 * and would not see a commit that a prune removed with its ref).
 */
function assertDeploymentRefs(s: string, listed: string[], what: string): void {
  const repo = join(s, 'ostree', 'repo');
  const b = readBootView(s).bootversion;
  const sub = readlinkSync(join(s, 'ostree', `boot.${b}`)).slice(`boot.${b}.`.length);
  const refs: string[] = [];
  const walk = (dir: string, name: string): void => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      if (e.isDirectory()) walk(join(dir, e.name), `${name}/${e.name}`);
      else refs.push(`${name}/${e.name} ${readFileSync(join(dir, e.name), 'utf8').trim()}`);
    }
  };
  walk(join(repo, 'refs', 'heads', 'ostree'), 'ostree');
  assert.deepEqual(refs.sort(), listed.map((n, i) => `ostree/${b}/${sub}/${i} ${n.slice(0, 64)}`).sort(), `${what}: deployment refs`);
  for (const n of listed) assert.ok(existsSync(join(repo, 'objects', n.slice(0, 2), `${n.slice(2, 64)}.commit`)), `${what}: the commit of ${n} is gone from the repository`);
}

/** `ostree admin deploy v4` by the real tool: the new default, then the old one. */
async function assertRealDeployWorks(s: string, b: Built, defaultBefore: string | undefined, what: string): Promise<void> {
  const r = await realOstree(['admin', 'deploy', sysroot(s), '--os=rhcos', 'v4']);
  assert.equal(r.status, 0, describeRun(`real ostree admin deploy v4 ${what}`, r));
  const listed = await status(s, `after the real deploy ${what}`);
  assert.deepEqual(checksumsOf(listed), [b.commits.v4, ...(defaultBefore ? [defaultBefore] : [])], `real deploy ${what}`);
}

/** One crash point: kill, inspect, recover. */
async function tryCrashPoint(sc: Scenario, b: Built, work: string, step: Step): Promise<void> {
  const s = join(work, step);
  const s2 = join(work, `${step}-real`);
  await copySysroot(b.root, s);
  try {
    const killed = await mco(sc.args(s), { ...b.env, MCO_CRASH_AT: step });
    assert.ok(!(killed.status === 0 && killed.signal === null), `step ${step} was never reached: the operation finished (status 0)`);
    assert.equal(killed.signal, 'SIGKILL', describeRun(`${step}: the operation should die by SIGKILL`, killed));
    assert.equal(killed.status, null);
    // The dead process's lock stays behind: the re-run below must take it over.
    assert.match(readFileSync(join(s, 'ostree', 'mco.lock'), 'utf8'), new RegExp(`^${killed.pid} `), 'the killed process held the lock');

    // (a) the real tool reads the sysroot, and sees the old list or the new one, whole.
    const left = await status(s, `after the kill at ${step}`);
    const [oldList, newList] = [sc.before, sc.after].map((vs) => JSON.stringify(vs.map((v) => b.commits[v])));
    const seen = JSON.stringify(checksumsOf(left));
    assert.ok(seen === oldList || seen === newList,
      `after the kill at ${step}, ostree admin status lists ${checksumsOf(left).join(', ') || 'nothing'}: neither the old list (${sc.before}) nor the new one (${sc.after})`);
    if (seen === oldList && seen !== newList) assert.deepEqual(left, b.names, `after the kill at ${step}: the old list should be untouched, serials included`);
    const defaults = [sc.before[0], sc.after[0]].map((v) => v && b.commits[v]);
    assert.ok(left.length === 0 ? sc.before.length === 0 : defaults.includes(left[0]!.slice(0, 64)), `after the kill at ${step}, the default boots ${left[0]}: neither the old default nor the new one`);
    // (b) what the bootloader and the initramfs find.
    assertBootable(s, sc, b, left, seen === newList, `after the kill at ${step}`);
    // (c)
    await assertFsck(s, `after the kill at ${step}`);

    // The real tool straight on the crashed sysroot (a copy: the re-run gets the original).
    if (sc.realAfterKill) {
      await copySysroot(s, s2);
      await assertRealDeployWorks(s2, b, checksumsOf(left)[0], `straight after the kill at ${step}`);
    }

    // (d) the same operation again, taking over the dead process's lock.
    const rerun = await mco((sc.recover ?? sc.args)(s), b.env);
    assert.equal(rerun.status, 0, describeRun(`re-running after the kill at ${step}`, rerun));
    const listed = await status(s, `after the re-run (killed at ${step})`);
    assert.deepEqual(checksumsOf(listed), sc.rerun(checksumsOf(left), b.commits), `the re-run after the kill at ${step} lists the wrong deployments`);
    assertBootable(s, sc, b, listed, true, `after the re-run (killed at ${step})`);
    assertNoGarbage(s, listed, `after the re-run (killed at ${step})`);
    assertDeploymentRefs(s, listed, `after the re-run (killed at ${step})`);
    await assertRealDeployWorks(s, b, checksumsOf(listed)[0], `after the re-run (killed at ${step})`);
  } finally {
    if (!process.env['MCO_CRASH_KEEP']) {
      removeSysroots(s);
      removeSysroots(s2);
    }
  }
}

// ---- the tests

test('the crash step list names exactly the steps the sysroot code can crash at', () => {
  const { steps, unreadable } = crashStepsInSource(SYSROOT_SOURCES);
  assert.deepEqual(unreadable, [], 'crash steps that are not string literals: the harness cannot try them');
  const known = new Set<string>(CRASH_STEPS);
  assert.deepEqual([...steps].filter((s) => !known.has(s)).sort(), [], `steps in ${SYSROOT_SOURCES} missing from CRASH_STEPS: add them, and to a scenario`);
  assert.deepEqual(CRASH_STEPS.filter((s) => !steps.has(s)), [], 'CRASH_STEPS names steps the source no longer has');
});

test('every crash step is tried by at least one scenario', () => {
  const tried = new Set(SCENARIOS.flatMap((sc) => sc.steps));
  assert.deepEqual(CRASH_STEPS.filter((s) => !tried.has(s)), []);
  for (const sc of SCENARIOS) if (sc.steps.length < CRASH_STEPS.length) assert.ok(sc.why, `${sc.id}: say why the other steps are not reached`);
});

/**
 * Where the sysroots go: tmpfs when there is one. A SIGKILL loses nothing the page cache holds,
 * so the disk adds no realism here — only syncfs waits (each deploy syncs the whole
 * filesystem, three times), which on a shared disk cost more than everything else.
 */
function scratchBase(): string {
  try {
    accessSync('/dev/shm', constants.W_OK);
    if (statSync('/dev/shm').isDirectory()) return '/dev/shm';
  } catch {
    // no writable /dev/shm: the ordinary temporary directory does, only slower
  }
  return realpathSync(tmpdir());
}
/** Crash points tried at once (each is a handful of processes, mostly node start-up). */
const CONCURRENCY = Number(process.env['MCO_CRASH_CONCURRENCY']) || 3;

/** One queue for every scenario's points, so no core idles while a scenario finishes its last ones. */
function pool(size: number): <T>(job: () => Promise<T>) => Promise<T> {
  let running = 0;
  const waiting: (() => void)[] = [];
  return async (job) => {
    if (running >= size) await new Promise<void>((resolve) => waiting.push(resolve));
    running++;
    try {
      return await job();
    } finally {
      running--;
      waiting.shift()?.();
    }
  };
}
const inPool = pool(CONCURRENCY);

const totals = { tried: 0, survived: 0 };
let workRoot: string | undefined;
after(() => {
  if (workRoot && !process.env['MCO_CRASH_KEEP']) removeSysroots(workRoot);
  if (totals.tried) console.log(`crash harness: ${totals.tried} points tried, ${totals.survived} survived (all operations)`);
});

describe('crash safety', { concurrency: true }, () => {
  for (const sc of SCENARIOS) {
    test(`${sc.title} leaves a bootable sysroot wherever it is killed`, { skip, concurrency: true }, async (t: TestContext) => {
      workRoot ??= mkdtempSync(join(scratchBase(), 'mco-crash-'));
      const dir = join(workRoot, sc.id);
      mkdirSync(dir);
      const built = await sc.build(dir);
      const r = await realOstree(['admin', 'status', sysroot(built.root)]);
      assert.equal(r.status, 0, describeRun('ostree admin status of the template', r));
      built.names = statusDeployments(r.stdout);
      assert.deepEqual(checksumsOf(built.names), sc.before.map((v) => built.commits[v]), 'the template holds the old list');
      const work = join(dir, 'runs');
      mkdirSync(work);
      let survived = 0;
      await Promise.all(sc.steps.map((step) => t.test(`killed at ${step}, it boots the old or the new list and a re-run finishes the job`, async () => {
        await inPool(() => tryCrashPoint(sc, built, work, step));
        survived++;
      })));
      totals.tried += sc.steps.length;
      totals.survived += survived;
      console.log(`crash harness: ${sc.steps.length} points tried, ${survived} survived (${sc.id}: ${sc.title})`);
      if (!process.env['MCO_CRASH_KEEP']) removeSysroots(dir);
    });
  }
});

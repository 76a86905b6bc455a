import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { KeyFile } from '../ostree/keyfile.js';
import { scratch } from '../ostree/testing.js';
import { bootcsumOf, needsBootSim, needsOstree, RealSysroot } from './sysroot-fixtures.js';
import {
  isPinned,
  loadSysroot,
  parseStagedDeployment,
  pendingDeployment,
  readStagedDeployment,
  rollbackDeployment,
  stagedDeploymentPath,
  SysrootError,
} from './sysroot.js';
import type { Deployment, SysrootState } from './types.js';

/** One deployment line of `ostree admin status`: marker, stateroot, CSUM.SERIAL, suffix. */
interface StatusLine {
  booted: boolean;
  osname: string;
  checksum: string;
  serial: number;
  mark: string | undefined;
}

function statusLines(text: string): StatusLine[] {
  const out: StatusLine[] = [];
  for (const line of text.split('\n')) {
    const m = /^([* ]) (\S+) ([0-9a-f]{64})\.(\d+)(?: \((\w+)\))?$/.exec(line);
    if (m) out.push({ booted: m[1] === '*', osname: m[2]!, checksum: m[3]!, serial: Number(m[4]), mark: m[5] });
  }
  return out;
}

const ids = (ds: Deployment[]): string[] => ds.map((d) => `${d.osname} ${d.checksum}.${d.serial}`);
const idsOf = (ls: StatusLine[]): string[] => ls.map((l) => `${l.osname} ${l.checksum}.${l.serial}`);
const id = (d: Deployment | null): string | null => (d ? `${d.osname} ${d.checksum}.${d.serial}` : null);


/** Three deployments: A (kernel A, pinned), then B twice (kernel B): [B.1, B.0, A.0]. */
function threeDeployments(s: RealSysroot): { a: string; b: string } {
  const a = s.commit('rhcos', { version: '46.1' });
  s.deploy('--os=rhcos', '--karg=root=LABEL=root', '--karg=rw', 'rhcos');
  const b = s.commit('rhcos', { version: '46.2', kernel: 'KERNEL-B\n' });
  s.deploy('--os=rhcos', 'rhcos');
  s.admin('pin', '1');
  s.deploy('--os=rhcos', 'rhcos');
  return { a, b };
}

describe('loadSysroot() on sysroots the real ostree admin wrote', needsOstree, () => {
  test('an init-fs sysroot has bootversion 0 and no deployments', async (t) => {
    const s = RealSysroot.forTest(t);
    assert.deepEqual(await loadSysroot(s.path), { path: s.path, bootversion: 0, subbootversion: 0, deployments: [], booted: null, staged: null });
  });

  test('finds the deployments in ostree admin status order, with serials, bootcsums, bootserials, kargs and pins', async (t) => {
    const s = RealSysroot.forTest(t);
    const { a, b } = threeDeployments(s);
    const state = await loadSysroot(s.path);
    const real = statusLines(s.status());
    assert.deepEqual(ids(state.deployments), idsOf(real));
    assert.deepEqual(ids(state.deployments), [`rhcos ${b}.1`, `rhcos ${b}.0`, `rhcos ${a}.0`]);
    const kernelB = bootcsumOf({ kernel: 'KERNEL-B\n' });
    assert.deepEqual(state.deployments.map((d) => [d.bootcsum, d.bootserial]), [[kernelB, 0], [kernelB, 1], [bootcsumOf({}), 0]]);
    for (const d of state.deployments) assert.deepEqual(d.kargs, ['root=LABEL=root', 'rw']);
    assert.deepEqual(state.deployments.map(isPinned), [false, false, true]);
    assert.deepEqual(state.deployments.map((d) => d.origin?.get('origin', 'refspec')), ['rhcos', 'rhcos', 'rhcos']);
    // Three deploys: loader.1, loader.0, loader.1; the subbootversion of boot.1 flipped once.
    assert.equal(fs.readlinkSync(join(s.path, 'boot', 'loader')), `loader.${state.bootversion}`);
    assert.equal(fs.readlinkSync(join(s.path, 'ostree', `boot.${state.bootversion}`)), `boot.${state.bootversion}.${state.subbootversion}`);
    assert.equal(state.booted, null);
    assert.equal(state.staged, null);
  });

  test('orders entries by their version with strverscmp, highest first and none last, as the real tool does', async (t) => {
    const s = RealSysroot.forTest(t);
    const { a, b } = threeDeployments(s);
    const dir = join(s.path, 'boot', 'loader', 'entries');
    // File names keep saying 1, 2, 3 (A.0, B.0, B.1); only the version fields move.
    const rewrite = (name: string, version: string | null): void => {
      const text = fs.readFileSync(join(dir, name), 'utf8').replace(/^version .*\n/m, version === null ? '' : `version ${version}\n`);
      fs.writeFileSync(join(dir, name), text);
    };
    rewrite('ostree-1-rhcos.conf', '10');
    rewrite('ostree-2-rhcos.conf', '9');
    rewrite('ostree-3-rhcos.conf', null);
    const ours = ids((await loadSysroot(s.path)).deployments);
    assert.deepEqual(ours, idsOf(statusLines(s.status())));
    assert.deepEqual(ours, [`rhcos ${a}.0`, `rhcos ${b}.0`, `rhcos ${b}.1`]);
  });

  test('reads two stateroots, a hand-written pivot origin, and a deployment without origin', async (t) => {
    const s = RealSysroot.forTest(t, ['rhcos', 'fedora']);
    const a = s.commit('rhcos', { version: '46.1' });
    s.deploy('--os=rhcos', '--karg=root=LABEL=root', 'rhcos');
    const f = s.commit('fedora', { version: '38', kernel: 'FEDORA\n' });
    s.deploy('--os=fedora', '--karg=root=LABEL=fedora', 'fedora');
    const pivot = `[origin]\nrefspec=${a}\ncustom-url=pivot://quay.io/openshift/os@sha256:${'ab'.repeat(32)}\ncustom-description=Managed by machine-config-operator\n`;
    fs.writeFileSync(`${s.deployDir('rhcos', `${a}.0`)}.origin`, pivot);
    fs.rmSync(`${s.deployDir('fedora', `${f}.0`)}.origin`);
    const state = await loadSysroot(s.path);
    assert.deepEqual(ids(state.deployments), idsOf(statusLines(s.status())));
    assert.deepEqual(ids(state.deployments), [`fedora ${f}.0`, `rhcos ${a}.0`]);
    assert.equal(state.deployments[0]!.origin, null);
    assert.deepEqual(state.deployments[0]!.kargs, ['root=LABEL=fedora']);
    assert.equal(state.deployments[1]!.origin?.toString(), pivot);
    assert.equal(state.deployments[1]!.origin?.get('origin', 'custom-url'), `pivot://quay.io/openshift/os@sha256:${'ab'.repeat(32)}`);
  });
});

describe('loadSysroot() with a kernel command line, against the real tool booted (§6.3)', needsBootSim, () => {
  test('marks the deployment booted that ostree= names, with the pending and rollback the real tool reports', async (t) => {
    const s = RealSysroot.forTest(t);
    threeDeployments(s);
    const plain = await loadSysroot(s.path);
    for (let i = 0; i < plain.deployments.length; i++) {
      const d = plain.deployments[i]!;
      const real = s.bootSim(s.deployDir(d.osname, `${d.checksum}.${d.serial}`), 'ostree admin status');
      assert.equal(real.status, 0, real.stderr);
      const lines = statusLines(real.stdout);
      const state = await loadSysroot(s.path, { readCmdline: () => s.cmdlineOf(i) });
      const mark = (m: string): string | null => idsOf(lines.filter((l) => l.mark === m))[0] ?? null;
      assert.equal(id(state.booted), idsOf(lines.filter((l) => l.booted))[0], `booted ${i}`);
      assert.equal(id(pendingDeployment(state)), mark('pending'), `pending when ${i} is booted`);
      assert.equal(id(rollbackDeployment(state)), mark('rollback'), `rollback when ${i} is booted`);
    }
  });

  test('reads the staged deployment the real ostree admin deploy --stage wrote, only when booted', async (t) => {
    const s = RealSysroot.forTest(t);
    const a = s.commit('rhcos', { version: '1' });
    s.deploy('--os=rhcos', '--karg=root=LABEL=root', 'rhcos');
    const b = s.commit('rhcos', { version: '2' });
    s.deploy('--os=rhcos', 'rhcos');
    const c = s.commit('rhcos', { version: '3', kernel: 'KERNEL-C\n' });
    // Booted into the older deployment (index 1), stage c; keep the state file, which lives on a tmpfs /run.
    const real = s.bootSim(s.deployDir('rhcos', `${a}.0`), 'ostree admin deploy --stage --os=rhcos rhcos >&2 && ostree admin status && mkdir -p /sysroot/run/ostree && cp /run/ostree/staged-deployment /sysroot/run/ostree/');
    assert.equal(real.status, 0, real.stderr);
    const file = await readStagedDeployment(s.path);
    assert.deepEqual(file, {
      target: { osname: 'rhcos', checksum: c, serial: 0, bootcsum: bootcsumOf({ kernel: 'KERNEL-C\n' }) },
      merge: { osname: 'rhcos', checksum: a, serial: 0, bootcsum: bootcsumOf({}) },
      kargs: null,
      overlayInitrds: [],
    });
    const state = await loadSysroot(s.path, { readCmdline: () => s.cmdlineOf(1) });
    assert.deepEqual(ids(state.deployments), [`rhcos ${b}.0`, `rhcos ${a}.0`]);
    assert.equal(id(state.booted), `rhcos ${a}.0`);
    assert.equal(id(state.staged), `rhcos ${c}.0`);
    assert.deepEqual(state.staged!.kargs, ['root=LABEL=root'], 'the merge deployment\'s kargs, which finalization writes');
    assert.equal(state.staged!.bootserial, -1);
    assert.equal(state.staged!.origin?.get('origin', 'refspec'), 'rhcos');
    const lines = statusLines(real.stdout);
    assert.deepEqual(idsOf(lines), [`rhcos ${c}.0`, `rhcos ${b}.0`, `rhcos ${a}.0`]);
    assert.equal(id(pendingDeployment(state)), `rhcos ${c}.0`, 'the staged deployment is the pending one');
    // Offline (no command line), like ostree admin status --sysroot: no staged deployment.
    assert.equal((await loadSysroot(s.path)).staged, null);
  });

  test('takes the staged kargs from the state file, without the ostree= that --karg copies from the booted entry', async (t) => {
    const s = RealSysroot.forTest(t);
    const a = s.commit('rhcos', { version: '1' });
    s.deploy('--os=rhcos', '--karg=root=LABEL=root', 'rhcos');
    s.commit('rhcos', { version: '2' });
    const real = s.bootSim(s.deployDir('rhcos', `${a}.0`), 'ostree admin deploy --stage --os=rhcos --karg=quiet --karg=root=LABEL=other rhcos >&2 && mkdir -p /sysroot/run/ostree && cp /run/ostree/staged-deployment /sysroot/run/ostree/');
    assert.equal(real.status, 0, real.stderr);
    const file = await readStagedDeployment(s.path);
    assert.ok(file?.kargs?.some((k) => k.startsWith('ostree=')), `2022.7 records the merge entry's ostree= too: ${file?.kargs}`);
    const state = await loadSysroot(s.path, { readCmdline: () => s.cmdlineOf(0) });
    assert.deepEqual(state.staged!.kargs, ['root=LABEL=other', 'quiet']);
  });
});

describe('loadSysroot() and the kernel command line', needsOstree, () => {
  test('accepts ostree= naming the deployment directory itself, which stays valid when bootlinks are rewritten', async (t) => {
    const s = RealSysroot.forTest(t);
    const { a } = threeDeployments(s);
    const state = await loadSysroot(s.path, { readCmdline: () => `root=LABEL=root ostree=/ostree/deploy/rhcos/deploy/${a}.0` });
    assert.equal(id(state.booted), `rhcos ${a}.0`);
    assert.equal(id(pendingDeployment(state)), id(state.deployments[0]!));
    assert.equal(rollbackDeployment(state), null);
  });

  test('has nothing booted when the command line has no ostree=', async (t) => {
    const s = RealSysroot.forTest(t);
    threeDeployments(s);
    const state = await loadSysroot(s.path, { readCmdline: () => 'root=LABEL=root rw quiet\n' });
    assert.equal(state.booted, null);
    assert.equal(pendingDeployment(state), null);
  });

  test('refuses an ostree= bootlink that cleanup removed after a bootversion swap, naming the path', async (t) => {
    const s = RealSysroot.forTest(t);
    threeDeployments(s);
    const before = s.cmdlineOf(0);
    const beforeBootversion = (await loadSysroot(s.path)).bootversion;
    s.commit('rhcos', { version: '46.3' });
    s.deploy('--os=rhcos', 'rhcos');
    assert.notEqual((await loadSysroot(s.path)).bootversion, beforeBootversion);
    const value = / ostree=(\S+)/.exec(before)![1]!;
    await assert.rejects(loadSysroot(s.path, { readCmdline: () => before }), (e: Error) => {
      assert.ok(e instanceof SysrootError, String(e));
      assert.ok(e.message.includes(join(s.path, value)), e.message);
      return true;
    });
  });
});

// ---- hand-built sysroots, for the errors: no real tool needed

const C = 'c'.repeat(64);
const B = 'b'.repeat(64);

/** The smallest sysroot libostree lists: one entry, its bootlink, the deployment and its origin. */
function handSysroot(root: string): string {
  const mk = (rel: string): void => {
    fs.mkdirSync(join(root, rel), { recursive: true });
  };
  mk('ostree/repo');
  mk(`ostree/deploy/rhcos/deploy/${C}.0`);
  fs.writeFileSync(join(root, `ostree/deploy/rhcos/deploy/${C}.0.origin`), '[origin]\nrefspec=rhcos\n');
  mk(`ostree/boot.0.0/rhcos/${B}`);
  fs.symlinkSync('boot.0.0', join(root, 'ostree/boot.0'));
  fs.symlinkSync(`../../../deploy/rhcos/deploy/${C}.0`, join(root, `ostree/boot.0.0/rhcos/${B}/0`));
  mk('boot/loader.0/entries');
  fs.symlinkSync('loader.0', join(root, 'boot/loader'));
  fs.writeFileSync(join(root, 'boot/loader.0/entries/ostree-1-rhcos.conf'),
    `title Test (ostree:0)\nversion 1\noptions root=x ostree=/ostree/boot.0/rhcos/${B}/0\nlinux /vmlinuz\n`);
  return root;
}

const entryFile = (root: string): string => join(root, 'boot/loader.0/entries/ostree-1-rhcos.conf');
const setOptions = (root: string, options: string): void =>
  fs.writeFileSync(entryFile(root), `title Test (ostree:0)\nversion 1\noptions ${options}\n`);

test('loadSysroot() reads a hand-built sysroot: one deployment, its bootlink and origin', async (t) => {
  const root = handSysroot(scratch(t));
  const state = await loadSysroot(root);
  assert.equal(state.deployments.length, 1);
  const d = state.deployments[0]!;
  assert.deepEqual({ ...d, origin: d.origin?.toString() }, {
    osname: 'rhcos', checksum: C, serial: 0, bootcsum: B, bootserial: 0, kargs: ['root=x'], origin: '[origin]\nrefspec=rhcos\n',
  });
});

test('loadSysroot() skips files that are not ostree-*.conf regular files', async (t) => {
  const root = handSysroot(scratch(t));
  const dir = join(root, 'boot/loader.0/entries');
  fs.writeFileSync(join(dir, 'other.conf'), 'version 9\noptions ostree=/nowhere\n');
  fs.mkdirSync(join(dir, 'ostree-9-rhcos.conf'));
  fs.writeFileSync(join(dir, 'ostree-2-rhcos.conf.bak'), 'version 9\noptions ostree=/nowhere\n');
  assert.equal((await loadSysroot(root)).deployments.length, 1);
});

interface ErrorCase {
  name: string;
  setup: (root: string) => void;
  cmdline?: string;
  /** Strings the message must contain; `ROOT` stands for the sysroot path. */
  mentions: string[];
}

const errorCases: ErrorCase[] = [
  { name: 'a directory without ostree/repo', setup: (r) => fs.rmSync(join(r, 'ostree/repo'), { recursive: true }), mentions: ['Not an OSTree sysroot', 'ROOT/ostree/repo'] },
  { name: 'boot/loader pointing elsewhere', setup: (r) => { fs.rmSync(join(r, 'boot/loader')); fs.symlinkSync('loader.7', join(r, 'boot/loader')); }, mentions: ["'loader.7'", 'ROOT/boot/loader'] },
  { name: 'boot/loader that is a directory', setup: (r) => { fs.rmSync(join(r, 'boot/loader')); fs.mkdirSync(join(r, 'boot/loader')); }, mentions: ['ROOT/boot/loader is not a symbolic link'] },
  { name: 'ostree/boot.0 pointing to a name without .0 or .1', setup: (r) => { fs.rmSync(join(r, 'ostree/boot.0')); fs.symlinkSync('boot.0.x', join(r, 'ostree/boot.0')); }, mentions: ["'boot.0.x'", 'ROOT/ostree/boot.0'] },
  { name: 'an entry without ostree=', setup: (r) => setOptions(r, 'root=x rw'), mentions: ['ROOT/boot/loader.0/entries/ostree-1-rhcos.conf', 'no ostree='] },
  { name: 'an entry whose ostree= is not a bootlink', setup: (r) => setOptions(r, 'ostree=/ostree/boot.3/rhcos/x/0'), mentions: ['ostree-1-rhcos.conf', 'ostree=/ostree/boot.3/rhcos/x/0'] },
  { name: 'a bootlink that does not exist', setup: (r) => setOptions(r, `ostree=/ostree/boot.0/rhcos/${B}/5`), mentions: [`ROOT/ostree/boot.0/rhcos/${B}/5 does not exist`] },
  { name: 'a bootlink that is a directory', setup: (r) => { fs.mkdirSync(join(r, `ostree/boot.0.0/rhcos/${B}/6`)); setOptions(r, `ostree=/ostree/boot.0/rhcos/${B}/6`); }, mentions: [`ROOT/ostree/boot.0/rhcos/${B}/6 is not a symbolic link`] },
  { name: 'a bootlink to a name that is not CSUM.SERIAL', setup: (r) => { fs.rmSync(join(r, `ostree/boot.0.0/rhcos/${B}/0`)); fs.symlinkSync('../../../deploy/rhcos/deploy/NOTHEX.0', join(r, `ostree/boot.0.0/rhcos/${B}/0`)); }, mentions: ['NOTHEX.0', 'not a CHECKSUM.SERIAL'] },
  { name: 'a bootlink to a missing deployment', setup: (r) => { fs.rmSync(join(r, `ostree/boot.0.0/rhcos/${B}/0`)); fs.symlinkSync(`../../../deploy/rhcos/deploy/${C}.4`, join(r, `ostree/boot.0.0/rhcos/${B}/0`)); }, mentions: [`${C}.4`, 'not a directory'] },
  { name: 'an origin that is not a key file', setup: (r) => fs.writeFileSync(join(r, `ostree/deploy/rhcos/deploy/${C}.0.origin`), 'garbage\n'), mentions: [`ROOT/ostree/deploy/rhcos/deploy/${C}.0.origin`, 'garbage'] },
  { name: 'a command line whose ostree= leads nowhere', setup: () => {}, cmdline: 'ostree=/ostree/boot.1/rhcos/x/0', mentions: ['ostree=/ostree/boot.1/rhcos/x/0', 'ROOT/ostree/boot.1/rhcos/x/0'] },
  { name: 'a command line whose ostree= is not a deployment', setup: () => {}, cmdline: 'ostree=/boot', mentions: ['ostree=/boot', 'not a deployment directory'] },
  {
    name: 'a command line naming a deployment without a boot entry',
    setup: (r) => fs.mkdirSync(join(r, `ostree/deploy/rhcos/deploy/${C}.9`)),
    cmdline: `ostree=/ostree/deploy/rhcos/deploy/${C}.9`,
    mentions: [`ROOT/ostree/deploy/rhcos/deploy/${C}.9`, 'has no boot entry'],
  },
  {
    name: 'a staged-deployment file that is not a GVariant a{sv}',
    setup: (r) => { fs.mkdirSync(join(r, 'run/ostree'), { recursive: true }); fs.writeFileSync(join(r, 'run/ostree/staged-deployment'), Buffer.from([1, 2, 3, 0xff])); },
    cmdline: `ostree=/ostree/boot.0/rhcos/${B}/0`,
    mentions: ['ROOT/run/ostree/staged-deployment'],
  },
];

for (const c of errorCases) {
  test(`loadSysroot() refuses ${c.name} with a SysrootError naming the path`, async (t) => {
    const root = handSysroot(scratch(t));
    c.setup(root);
    const cmdline = c.cmdline;
    await assert.rejects(loadSysroot(root, cmdline === undefined ? {} : { readCmdline: () => cmdline }), (e: Error) => {
      assert.ok(e instanceof SysrootError, `${e.name}: ${e.message}`);
      for (const m of c.mentions) assert.ok(e.message.includes(m.replace('ROOT', root)), `"${e.message}" should mention ${m}`);
      return true;
    });
  });
}

test('parseStagedDeployment() names the file when target is missing or of the wrong type', async () => {
  const { serialize } = await import('../ostree/gvariant.js');
  const noTarget = serialize('a{sv}', [['kargs', { type: 'as', value: ['x'] }]]);
  assert.throws(() => parseStagedDeployment(noTarget, '/run/x'), /\/run\/x has no 'target'/);
  const badName = serialize('a{sv}', [['target', { type: 'a{sv}', value: [['name', { type: 's', value: 'zz.0' }], ['osname', { type: 's', value: 'o' }], ['bootcsum', { type: 's', value: 'b' }]] }]]);
  assert.throws(() => parseStagedDeployment(badName, '/run/x'), /"zz\.0", which is not CHECKSUM\.SERIAL/);
  assert.equal(stagedDeploymentPath('/'), '/run/ostree/staged-deployment');
});

// ---- pending and rollback, as pure functions of a state

const dep = (osname: string, name: string): Deployment => ({
  osname, checksum: name.repeat(64).slice(0, 64), serial: 0, bootcsum: B, bootserial: 0, kargs: [], origin: null,
});

function stateOf(list: Deployment[], booted: Deployment | null, staged: Deployment | null = null): SysrootState {
  return { path: '/', bootversion: 0, subbootversion: 0, deployments: list, booted, staged };
}

test('pendingDeployment() and rollbackDeployment() look only at the booted stateroot, around the booted deployment', () => {
  const [a, b, c, x, y] = [dep('rhcos', 'a'), dep('rhcos', 'b'), dep('rhcos', 'c'), dep('fedora', 'd'), dep('fedora', 'e')];
  const s = dep('rhcos', 'f');
  const cases: [string, SysrootState, Deployment | null, Deployment | null][] = [
    ['nothing booted', stateOf([a, b], null), null, null],
    ['the default booted', stateOf([a, b, c], a), null, b],
    ['the middle booted', stateOf([a, b, c], b), a, c],
    ['the last booted', stateOf([a, b], b), a, null],
    ['other stateroots in between', stateOf([x, a, y, b, c], b), a, c],
    ['a staged deployment counts as first', stateOf([a, b], b, s), s, null],
    ['only other stateroots around', stateOf([x, b, y], b), null, null],
  ];
  for (const [name, state, pending, rollback] of cases) {
    assert.equal(pendingDeployment(state), pending, `pending: ${name}`);
    assert.equal(rollbackDeployment(state), rollback, `rollback: ${name}`);
  }
});

test('isPinned() reads [libostree-transient] pinned as a GKeyFile boolean', () => {
  const withOrigin = (text: string | null): Deployment => ({ ...dep('rhcos', 'a'), origin: text === null ? null : KeyFile.parse(text) });
  assert.equal(isPinned(withOrigin('[origin]\nrefspec=r\n\n[libostree-transient]\npinned=true\n')), true);
  assert.equal(isPinned(withOrigin('[origin]\nrefspec=r\n[libostree-transient]\npinned=1\n')), true);
  assert.equal(isPinned(withOrigin('[origin]\nrefspec=r\n[libostree-transient]\npinned=false\n')), false);
  assert.equal(isPinned(withOrigin('[origin]\nrefspec=r\n')), false);
  assert.equal(isPinned(withOrigin(null)), false);
});

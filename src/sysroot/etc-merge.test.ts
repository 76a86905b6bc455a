/**
 * The /etc of a new deployment, against the real tool: a sysroot made by `ostree admin
 * init-fs`/`os-init` gets a first deployment (whose /etc must equal our copy of /usr/etc), local
 * edits of every kind, then a second deployment; the /etc the real three-way merge produced must
 * equal the one ours produces from the same three inputs, entry by entry (types, modes, owners,
 * contents, link targets, xattrs), with the same counts. Then the merge's edges on their own:
 * its one refused conflict, symlinks it must never write through, and /etc vs /usr/etc.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  chmodSync, chownSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, utimesSync, writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { diffTrees, hasOstree, isRoot, ok, ostree, scratch, setXattr, walkTree, type WalkEntry } from '../ostree/testing.js';
import { copyEtcFromUsrEtc, diffEtc, EtcMergeError, mergeEtc, mergeEtcDirs, removeUpdatedStamps } from './etc-merge.js';

const skip = !hasOstree && 'ostree CLI not installed (scripts/setup.sh installs it)';
const KVER = '5.14.0-1.el8.x86_64';
const FIELDS = ['type', 'mode', 'uid', 'gid', 'size', 'target', 'sha256', 'xattrs'] as const;

function put(root: string, rel: string, content: string, mode = 0o644): string {
  const p = join(root, rel);
  mkdirSync(dirname(p), { recursive: true });
  writeFileSync(p, content);
  chmodSync(p, mode);
  return p;
}

/**
 * A scratch directory for sysroots: deployment dirs are immutable (chattr +i), so the flag is
 * cleared before the directory is removed.
 */
function sysrootScratch(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'mco-etc-'));
  t.after(() => {
    spawnSync('sh', ['-c', 'chattr -i "$1"/sysroot/ostree/deploy/*/deploy/*.[0-9]* 2>/dev/null', 'sh', dir]);
    rmSync(dir, { recursive: true, force: true });
  });
  return dir;
}

/** cp -a: an independent copy keeping owners, modes, xattrs, timestamps and hard links. */
function cpA(src: string, dest: string): void {
  mkdirSync(dirname(dest), { recursive: true });
  const r = spawnSync('cp', ['-a', src, dest], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
}

/** The deployment directory (CSUM.SERIAL) of `checksum` in stateroot `os`. */
const deploymentOf = (sysroot: string, os: string, checksum: string): string => join(sysroot, 'ostree/deploy', os, 'deploy', `${checksum}.0`);

function commit(sysroot: string, branch: string, tree: string): string {
  return ok(ostree(['commit', `--repo=${join(sysroot, 'ostree/repo')}`, '-b', branch, '--no-bindings', '--timestamp=@0', tree]), `commit ${branch}`).stdout.trim();
}

function baseTree(root: string): void {
  put(root, `usr/lib/modules/${KVER}/vmlinuz`, 'KERNEL-A\n');
  put(root, `usr/lib/modules/${KVER}/initramfs.img`, 'INITRD-A\n');
  put(root, 'usr/etc/os-release', 'ID=test\nPRETTY_NAME="Test"\n');
}

/** v1 defaults: one file or directory per kind of local change made below. */
function treeV1(root: string): void {
  baseTree(root);
  put(root, 'usr/etc/app.conf', 'app v1\n');
  put(root, 'usr/etc/keep.conf', 'keep v1\n');
  put(root, 'usr/etc/untouched.conf', 'untouched v1\n');
  put(root, 'usr/etc/owner.conf', 'owner\n');
  put(root, 'usr/etc/mode.conf', 'mode\n');
  put(root, 'usr/etc/tolink.conf', 'becomes a symlink\n');
  put(root, 'usr/etc/sub/x.conf', 'x\n');
  put(root, 'usr/etc/modeonly/inside.conf', 'inside\n');
  put(root, 'usr/etc/olddir/a.conf', 'a\n');
  put(root, 'usr/etc/olddir/b/c.conf', 'c\n');
  // Same content and metadata: one object, hard-linked in the checkout; /etc must not be.
  put(root, 'usr/etc/dup1.conf', 'duplicate\n');
  put(root, 'usr/etc/dup2.conf', 'duplicate\n');
  setXattr(put(root, 'usr/etc/labelled.conf', 'labelled\n'), 'user.label', Buffer.from('default'));
  put(root, 'usr/etc/private.conf', 'private\n', 0o600);
  symlinkSync('app.conf', join(root, 'usr/etc/link'));
  symlinkSync('/usr/share/zoneinfo/UTC', join(root, 'usr/etc/localtime'));
}

/** v2: new defaults for some of the same files, plus one new default file. */
function treeV2(root: string): void {
  treeV1(root);
  put(root, 'usr/etc/app.conf', 'app v2\n');
  put(root, 'usr/etc/keep.conf', 'keep v2\n');
  put(root, 'usr/etc/untouched.conf', 'untouched v2\n');
  put(root, 'usr/etc/new.conf', 'new default\n');
  put(root, 'usr/etc/modeonly/new-inside.conf', 'new inside\n');
}

/** What an admin does to the deployed /etc between the two deployments. */
function localEdits(etc: string): void {
  put(etc, 'app.conf', 'local edit\n');
  rmSync(join(etc, 'keep.conf'));
  put(etc, 'local.conf', 'mine\n');
  utimesSync(join(etc, 'local.conf'), new Date('2001-01-01T00:00:00Z'), new Date('2001-01-01T00:00:00Z'));
  if (isRoot) chownSync(join(etc, 'owner.conf'), 1000, 1000);
  chmodSync(join(etc, 'mode.conf'), 0o640);
  rmSync(join(etc, 'tolink.conf'));
  symlinkSync('app.conf', join(etc, 'tolink.conf'));
  chmodSync(join(etc, 'sub'), 0o700);
  put(etc, 'sub/y.conf', 'y\n');
  chmodSync(join(etc, 'modeonly'), 0o750);
  rmSync(join(etc, 'olddir'), { recursive: true });
  put(etc, 'newdir/deep/f.conf', 'deep\n');
  chmodSync(join(etc, 'newdir/deep'), 0o711);
  symlinkSync('../escape-target', join(etc, 'newdir/rel-link'));
  put(etc, 'labelled.conf', 'labelled, edited\n');
  setXattr(join(etc, 'labelled.conf'), 'user.label', Buffer.from('local'));
  rmSync(join(etc, 'link'));
  symlinkSync('untouched.conf', join(etc, 'link'));
  symlinkSync('/', join(etc, 'escape'));
  put(etc, '.updated', 'stamp\n');
}

const byPath = (es: WalkEntry[]): Map<string, WalkEntry> => new Map(es.map((e) => [e.path, e]));

test('our /etc merge gives the same /etc as the real ostree admin deploy, change for change', { skip }, (t) => {
  const dir = sysrootScratch(t);
  const sysroot = join(dir, 'sysroot');
  mkdirSync(sysroot);
  ok(ostree(['admin', 'init-fs', sysroot]), 'init-fs');
  ok(ostree(['admin', 'os-init', `--sysroot=${sysroot}`, 'rhcos']), 'os-init');

  treeV1(join(dir, 'v1'));
  const c1 = commit(sysroot, 'rhcos', join(dir, 'v1'));
  ok(ostree(['admin', 'deploy', `--sysroot=${sysroot}`, '--os=rhcos', 'rhcos']), 'deploy v1');
  const d1 = deploymentOf(sysroot, 'rhcos', c1);

  // First deployment: /etc is a plain copy of /usr/etc. Ours, from a copy of the same usr/etc:
  const first = join(dir, 'ours-first');
  cpA(join(d1, 'usr/etc'), join(first, 'usr/etc'));
  copyEtcFromUsrEtc(first);
  const firstEtc = walkTree(join(first, 'etc'));
  assert.deepEqual(diffTrees(firstEtc, walkTree(join(d1, 'etc')), FIELDS), []);
  assert.ok(lstatSync(join(first, 'usr/etc/dup1.conf')).nlink > 1, 'the copied usr/etc has hard links, so nlink 1 below proves something');
  for (const e of [...firstEtc, ...walkTree(join(d1, 'etc'))]) if (e.type === 'file') assert.equal(e.nlink, 1, `${e.path} must not be a hard link`);

  localEdits(join(d1, 'etc'));
  put(sysroot, 'ostree/deploy/rhcos/var/.updated', 'stamp\n');
  treeV2(join(dir, 'v2'));
  const c2 = commit(sysroot, 'rhcos', join(dir, 'v2'));
  const deployed = ok(ostree(['admin', 'deploy', `--sysroot=${sysroot}`, '--os=rhcos', 'rhcos']), 'deploy v2');
  const d2 = deploymentOf(sysroot, 'rhcos', c2);
  const realMessage = /Copying \/etc changes: [^\n]*/.exec(deployed.stdout + deployed.stderr)?.[0];

  // Ours: a fresh copy of v2's usr/etc, merged with the edited v1 deployment (the real merge's inputs).
  const ours = join(dir, 'ours-second');
  cpA(join(d2, 'usr/etc'), join(ours, 'usr/etc'));
  copyEtcFromUsrEtc(ours);
  const varDir = join(dir, 'ours-var');
  put(varDir, '.updated', 'stamp\n');
  const result = mergeEtc(d1, ours);
  removeUpdatedStamps(ours, varDir);

  assert.equal(result.message, realMessage);
  const mine = walkTree(join(ours, 'etc'));
  const real = walkTree(join(d2, 'etc'));
  assert.deepEqual(diffTrees(mine, real, FIELDS), []);
  assert.equal(lstatSync(join(sysroot, 'ostree/deploy/rhcos/var/.updated'), { throwIfNoEntry: false }), undefined, 'the real tool removed var/.updated');
  assert.equal(lstatSync(join(varDir, '.updated'), { throwIfNoEntry: false }), undefined);

  // Spot checks of what the merge means, beyond "same as ostree".
  const m = byPath(mine);
  assert.equal(readFileSync(join(ours, 'etc/app.conf'), 'utf8'), 'local edit\n', 'local edit wins over the new default');
  assert.equal(m.get('keep.conf'), undefined, 'a locally deleted file stays deleted though its default changed');
  assert.equal(readFileSync(join(ours, 'etc/untouched.conf'), 'utf8'), 'untouched v2\n', 'untouched files follow the new default');
  assert.equal(readFileSync(join(ours, 'etc/new.conf'), 'utf8'), 'new default\n');
  assert.equal(m.get('sub')?.mode, 0o700, 'a directory leading to a copied file takes the local mode');
  assert.equal(m.get('modeonly')?.mode, 0o755, 'a directory changed only in mode keeps the new default (as ostree)');
  assert.equal(m.get('newdir/deep')?.mode, 0o711);
  assert.equal(m.get('escape')?.target, '/', 'symlinks are copied as symlinks');
  assert.equal(m.get('labelled.conf')?.xattrs['user.label'], Buffer.from('local').toString('hex'));
  assert.equal(m.get('.updated'), undefined);
  assert.equal(lstatSync(join(ours, 'etc/local.conf')).mtime.toISOString(), lstatSync(join(d2, 'etc/local.conf')).mtime.toISOString(), 'timestamps kept, as glnx_file_copy_at keeps them');
  if (isRoot) assert.deepEqual([m.get('owner.conf')?.uid, m.get('owner.conf')?.gid], [1000, 1000]);
  assert.ok(result.diff.added.includes('newdir/deep/f.conf') && result.diff.added.includes('newdir'), 'every entry of an added directory counts');
  assert.deepEqual(result.diff.removed, ['keep.conf', 'olddir'], 'a removed directory counts once');
});

test('a locally modified file whose new default is a directory is refused, by the real tool and by us', { skip }, (t) => {
  const dir = sysrootScratch(t);
  const sysroot = join(dir, 'sysroot');
  mkdirSync(sysroot);
  ok(ostree(['admin', 'init-fs', sysroot]), 'init-fs');
  ok(ostree(['admin', 'os-init', `--sysroot=${sysroot}`, 'rhcos']), 'os-init');
  const v1 = join(dir, 'v1');
  baseTree(v1);
  put(v1, 'usr/etc/thing', 'a file\n');
  const c1 = commit(sysroot, 'rhcos', v1);
  ok(ostree(['admin', 'deploy', `--sysroot=${sysroot}`, '--os=rhcos', 'rhcos']), 'deploy v1');
  const d1 = deploymentOf(sysroot, 'rhcos', c1);
  put(d1, 'etc/thing', 'edited\n');
  const v2 = join(dir, 'v2');
  baseTree(v2);
  put(v2, 'usr/etc/thing/inside', 'now a directory\n');
  commit(sysroot, 'rhcos', v2);
  const r = ostree(['admin', 'deploy', `--sysroot=${sysroot}`, '--os=rhcos', 'rhcos']);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /During \/etc merge: Modified config file newly defaults to directory 'thing', cannot merge/);

  const ours = join(dir, 'ours');
  cpA(join(v2, 'usr/etc'), join(ours, 'usr/etc'));
  copyEtcFromUsrEtc(ours);
  assert.throws(() => mergeEtc(d1, ours), (e: Error) => e instanceof EtcMergeError &&
    e.message.includes("During /etc merge: Modified config file newly defaults to directory 'thing', cannot merge") && e.message.includes(join(ours, 'etc/thing')));
});

/** O, C and N side by side in one scratch dir, each from a builder. */
function threeDirs(t: TestContext, build: { o: (d: string) => void; c: (d: string) => void; n: (d: string) => void }): { orig: string; modified: string; target: string; dir: string } {
  const dir = scratch(t, 'mco-etc-');
  const dirs = { orig: join(dir, 'O'), modified: join(dir, 'C'), target: join(dir, 'N'), dir };
  for (const [d, f] of [[dirs.orig, build.o], [dirs.modified, build.c], [dirs.target, build.n]] as const) {
    mkdirSync(d);
    f(d);
  }
  return dirs;
}

test('the merge never writes or deletes through a symlink in the new /etc', (t) => {
  const outside = scratch(t, 'mco-etc-outside-');
  put(outside, 'victim.conf', 'must survive\n');
  const dirs = threeDirs(t, {
    o: (d) => { put(d, 'conf.d/old.conf', 'old\n'); put(d, 'gone.d/victim.conf', 'x\n'); },
    c: (d) => { put(d, 'conf.d/old.conf', 'old\n'); put(d, 'conf.d/added.conf', 'added\n'); mkdirSync(join(d, 'gone.d')); },
    // The new defaults turned both directories into symlinks pointing outside the tree.
    n: (d) => { symlinkSync(outside, join(d, 'conf.d')); symlinkSync(outside, join(d, 'gone.d')); },
  });
  assert.throws(() => mergeEtcDirs(dirs), (e: Error) => e instanceof EtcMergeError && /Refusing to write through the symlink/.test(e.message) && e.message.includes(join(dirs.target, 'conf.d')));
  assert.deepEqual(readdirSync(outside), ['victim.conf'], 'nothing was added outside');
  assert.equal(readFileSync(join(outside, 'victim.conf'), 'utf8'), 'must survive\n', 'the removal of gone.d/victim.conf did not go through the link');
});

test('added symlinks are copied as links, even ones pointing at directories outside the tree', (t) => {
  const outside = scratch(t, 'mco-etc-outside-');
  put(outside, 'secret', 'host file\n');
  const dirs = threeDirs(t, {
    o: () => {},
    c: (d) => { symlinkSync(outside, join(d, 'hostdir')); mkdirSync(join(d, 'added.d')); symlinkSync(join(outside, 'secret'), join(d, 'added.d/s')); },
    n: () => {},
  });
  const r = mergeEtcDirs(dirs);
  assert.deepEqual([r.modified, r.removed, r.added], [0, 0, 3]);
  assert.equal(lstatSync(join(dirs.target, 'hostdir')).isSymbolicLink(), true);
  assert.equal(lstatSync(join(dirs.target, 'added.d/s')).isSymbolicLink(), true);
});

test('the diff counts what ostree counts: mode-only directory changes, type changes, each added entry', (t) => {
  const dirs = threeDirs(t, {
    o: (d) => { put(d, 'a', 'a\n'); mkdirSync(join(d, 'dir')); put(d, 'f2l', 'f\n'); put(d, 'same', 's\n'); },
    c: (d) => {
      put(d, 'a', 'a\n');
      mkdirSync(join(d, 'dir'));
      chmodSync(join(d, 'dir'), 0o700);
      symlinkSync('a', join(d, 'f2l'));
      put(d, 'same', 's\n');
      put(d, 'new/x/y', 'y\n');
    },
    n: () => {},
  });
  // xattrs are ignored: a label added locally is no modification.
  setXattr(join(dirs.modified, 'same'), 'user.label', Buffer.from('x'));
  assert.deepEqual(diffEtc(dirs.orig, dirs.modified), { modified: ['dir', 'f2l'], removed: [], added: ['new', 'new/x', 'new/x/y'] });
});

test('copyEtcFromUsrEtc moves a tree\'s /etc to /usr/etc first, and refuses a tree with both', (t) => {
  const dir = scratch(t, 'mco-etc-');
  const etcOnly = join(dir, 'etc-only');
  put(etcOnly, 'etc/hosts', '127.0.0.1 localhost\n');
  mkdirSync(join(etcOnly, 'usr'));
  copyEtcFromUsrEtc(etcOnly);
  assert.equal(readFileSync(join(etcOnly, 'usr/etc/hosts'), 'utf8'), '127.0.0.1 localhost\n');
  assert.equal(readFileSync(join(etcOnly, 'etc/hosts'), 'utf8'), '127.0.0.1 localhost\n');
  assert.notEqual(lstatSync(join(etcOnly, 'etc/hosts')).ino, lstatSync(join(etcOnly, 'usr/etc/hosts')).ino);

  const both = join(dir, 'both');
  put(both, 'etc/a', 'a');
  put(both, 'usr/etc/a', 'a');
  assert.throws(() => copyEtcFromUsrEtc(both), (e: Error) => e instanceof EtcMergeError && /Tree contains both \/etc and \/usr\/etc/.test(e.message) && e.message.includes(both));

  const neither = join(dir, 'neither');
  mkdirSync(join(neither, 'usr'), { recursive: true });
  copyEtcFromUsrEtc(neither);
  assert.deepEqual(readdirSync(neither), ['usr']);
});

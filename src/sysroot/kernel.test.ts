/**
 * Kernel discovery and installation. The §6.4 bootcsum vector, ostree's readdir-order and
 * layout-precedence rules, and a differential check: the real `ostree admin deploy` installs
 * the kernels of five differently laid out trees, and ours must choose the same bootcsum
 * directory and produce the same file names, bytes, owners and modes from the same deployments.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { diffTrees, hasOstree, isRoot, ok, ostree, scratch, walkTree } from '../ostree/testing.js';
import { findKernel, installKernel, KernelError } from './kernel.js';

const skip = !hasOstree && 'ostree CLI not installed (scripts/setup.sh installs it)';
const KVER = '5.14.0-1.el8.x86_64';
const VECTOR_BOOTCSUM = '79aeff2d147a015f003f59af1b0a05cbe3fe3143b8b28ae8c2fd1ec2625ae870';
const FIELDS = ['type', 'mode', 'uid', 'gid', 'size', 'target', 'sha256', 'xattrs'] as const;

function put(root: string, rel: string, content: string, mode = 0o644): void {
  const p = join(root, rel);
  mkdirSync(dirname(p), { recursive: true });
  writeFileSync(p, content);
  chmodSync(p, mode);
}

/** The §6.4 kernel vector: KERNEL-A and INITRD-A in usr/lib/modules/KVER. */
function vectorTree(root: string): void {
  put(root, `usr/lib/modules/${KVER}/vmlinuz`, 'KERNEL-A\n');
  put(root, `usr/lib/modules/${KVER}/initramfs.img`, 'INITRD-A\n');
}

test('the §6.4 vector: KERNEL-A and INITRD-A give bootcsum 79aeff2d…e870', (t) => {
  const root = scratch(t, 'mco-kernel-');
  vectorTree(root);
  const k = findKernel(root);
  assert.equal(k.bootcsum, VECTOR_BOOTCSUM);
  assert.equal(k.kver, KVER);
  assert.equal(k.layout, 'modules');
  assert.equal(k.paths.vmlinuz.name, `vmlinuz-${KVER}`);
  assert.equal(k.paths.initramfs?.name, `initramfs-${KVER}.img`);
  assert.equal(k.paths.devicetree, null);
  assert.equal(k.paths.hmac, null);
});

test('an initramfs named plain "initramfs" is used when initramfs.img is absent', (t) => {
  const root = scratch(t, 'mco-kernel-');
  put(root, `usr/lib/modules/${KVER}/vmlinuz`, 'KERNEL-A\n');
  put(root, `usr/lib/modules/${KVER}/initramfs`, 'INITRD-A\n');
  const k = findKernel(root);
  assert.equal(k.bootcsum, VECTOR_BOOTCSUM);
  assert.equal(k.paths.initramfs?.name, `initramfs-${KVER}.img`);
});

test('the first kernel directory in raw readdir order wins, skipping symlinked dirs and non-file vmlinuz', (t) => {
  const root = scratch(t, 'mco-kernel-');
  const modules = join(root, 'usr/lib/modules');
  const names = ['zeta', 'alpha', '6.1.0', 'mid', 'b', 'a', '5.14.0', 'omega', 'x9', 'k'];
  for (const n of names) put(root, `usr/lib/modules/${n}/vmlinuz`, `kernel ${n}\n`);
  mkdirSync(join(modules, 'no-kernel'));
  mkdirSync(join(modules, 'dir-kernel/vmlinuz'), { recursive: true });
  symlinkSync('zeta', join(modules, 'link-to-dir'));
  // `ls -U` lists in the order the filesystem returns, independently of our opendir reading.
  const raw = spawnSync('ls', ['-U', modules], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean);
  const expected = raw.find((n) => names.includes(n));
  assert.notEqual(expected, [...names].sort()[0], 'readdir order happens to be sorted here: the test would prove nothing');
  assert.equal(findKernel(root).kver, expected);
});

test('a tree without a kernel is refused with ostree\'s message', (t) => {
  const root = scratch(t, 'mco-kernel-');
  mkdirSync(join(root, 'usr/lib/modules/6.1.0'), { recursive: true });
  mkdirSync(join(root, 'boot'));
  assert.throws(() => findKernel(root), (e: Error) => e instanceof KernelError &&
    e.message.startsWith('Failed to find kernel in /usr/lib/modules, /usr/lib/ostree-boot or /boot') && e.message.includes(root));
});

test('a vmlinuz symlink inside the tree is read through, one leading out of it is refused', (t) => {
  const root = scratch(t, 'mco-kernel-');
  put(root, 'usr/lib/kernels/real-vmlinuz', 'KERNEL-A\n');
  put(root, `usr/lib/modules/${KVER}/initramfs.img`, 'INITRD-A\n');
  symlinkSync('../../kernels/real-vmlinuz', join(root, `usr/lib/modules/${KVER}/vmlinuz`));
  assert.equal(findKernel(root).bootcsum, VECTOR_BOOTCSUM);
  const outside = join(scratch(t, 'mco-kernel-host-'), 'initrd');
  writeFileSync(outside, 'HOST INITRD\n');
  const initrd = join(root, `usr/lib/modules/${KVER}/initramfs.img`);
  spawnSync('rm', [initrd]);
  symlinkSync(outside, initrd);
  assert.throws(() => findKernel(root), (e: Error) => e instanceof KernelError && e.message.includes(initrd) && /out of the deployment/.test(e.message));
});

test('legacy layouts: used alone, preferred when only they have an initramfs, and checked for matching checksums', (t) => {
  const csum = 'ab'.repeat(32);
  const legacy = scratch(t, 'mco-kernel-');
  put(legacy, `usr/lib/ostree-boot/vmlinuz-3.10.0-${csum}`, 'K');
  put(legacy, `usr/lib/ostree-boot/initramfs-3.10.0.img-${csum}`, 'I');
  put(legacy, 'usr/lib/ostree-boot/vmlinuz-not-a-checksum', 'X');
  const k = findKernel(legacy);
  assert.deepEqual([k.layout, k.kver, k.bootcsum, k.paths.vmlinuz.name, k.paths.initramfs?.name], ['legacy', '3.10.0', csum, 'vmlinuz-3.10.0', 'initramfs-3.10.0.img']);

  put(legacy, `usr/lib/modules/${KVER}/vmlinuz`, 'KERNEL-A\n');
  assert.equal(findKernel(legacy).layout, 'legacy', 'modules without an initramfs lose to a legacy layout with one');
  put(legacy, `usr/lib/modules/${KVER}/initramfs.img`, 'INITRD-A\n');
  assert.equal(findKernel(legacy).bootcsum, VECTOR_BOOTCSUM, 'a complete modules layout wins');

  const bad = scratch(t, 'mco-kernel-');
  put(bad, `boot/vmlinuz-${csum}`, 'K');
  put(bad, `boot/initramfs-${'cd'.repeat(32)}`, 'I');
  assert.throws(() => findKernel(bad), (e: Error) => e instanceof KernelError && /Mismatched kernel checksum vs initrd/.test(e.message));
});

test('installKernel hard-links when it can, copies with owner and mode when told not to, and never rewrites', { skip: !isRoot && 'needs root to chown' }, (t) => {
  const dir = scratch(t, 'mco-kernel-');
  const deployment = join(dir, 'deploy');
  vectorTree(deployment);
  const vmlinuz = join(deployment, `usr/lib/modules/${KVER}/vmlinuz`);
  chownSync(vmlinuz, 1000, 1001);
  chmodSync(vmlinuz, 0o600);
  const kernel = findKernel(deployment);

  const linked = join(dir, 'linked');
  const r = installKernel(linked, { osname: 'rhcos', kernel });
  assert.equal(r.dir, join(linked, 'boot/ostree', `rhcos-${VECTOR_BOOTCSUM}`));
  assert.deepEqual(r.files, [{ name: `vmlinuz-${KVER}`, how: 'linked' }, { name: `initramfs-${KVER}.img`, how: 'linked' }]);
  assert.equal(lstatSync(join(r.dir, `vmlinuz-${KVER}`)).ino, lstatSync(vmlinuz).ino);
  assert.deepEqual(installKernel(linked, { osname: 'rhcos', kernel }).files.map((f) => f.how), ['existing', 'existing']);

  const copied = join(dir, 'copied');
  const c = installKernel(copied, { osname: 'rhcos', kernel, link: false });
  assert.deepEqual(c.files.map((f) => f.how), ['copied', 'copied']);
  const st = lstatSync(join(c.dir, `vmlinuz-${KVER}`));
  assert.deepEqual([st.uid, st.gid, st.mode & 0o7777, st.nlink], [1000, 1001, 0o600, 1]);
  assert.equal(readFileSync(join(c.dir, `initramfs-${KVER}.img`), 'utf8'), 'INITRD-A\n');
  assert.deepEqual(readdirSync(c.dir).sort(), [`initramfs-${KVER}.img`, `vmlinuz-${KVER}`], 'no temporaries left behind');
});

test('a copy interrupted by a crash leaves only a temporary, removed by the next install', (t) => {
  const dir = scratch(t, 'mco-kernel-');
  const deployment = join(dir, 'deploy');
  vectorTree(deployment);
  const kernel = findKernel(deployment);
  const bootdir = join(dir, 'sysroot/boot/ostree', `rhcos-${VECTOR_BOOTCSUM}`);
  // What a crash mid-copy leaves: a partial file under a temporary name, never the final one.
  put(dir, `sysroot/boot/ostree/rhcos-${VECTOR_BOOTCSUM}/.mco-tmp-0123456789abcdef`, 'KERN');
  const r = installKernel(join(dir, 'sysroot'), { osname: 'rhcos', kernel, link: false });
  assert.deepEqual(r.files.map((f) => f.how), ['copied', 'copied']);
  assert.deepEqual(readdirSync(bootdir).sort(), [`initramfs-${KVER}.img`, `vmlinuz-${KVER}`]);
  assert.equal(readFileSync(join(bootdir, `vmlinuz-${KVER}`), 'utf8'), 'KERNEL-A\n');
});

/**
 * A scratch directory for sysroots: deployment dirs are immutable (chattr +i), so the flag is
 * cleared before the directory is removed.
 */
function sysrootScratch(t: TestContext, prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  t.after(() => {
    spawnSync('sh', ['-c', 'chattr -i "$1"/*/ostree/deploy/*/deploy/*.[0-9]* 2>/dev/null', 'sh', dir]);
    rmSync(dir, { recursive: true, force: true });
  });
  return dir;
}

/** Trees whose kernels the real tool installs; each is deployed as its own stateroot. */
const LAYOUTS: Record<string, (root: string) => void> = {
  rhcos: vectorTree,
  dt(root) {
    vectorTree(root);
    put(root, `usr/lib/modules/${KVER}/devicetree`, 'DTB\n');
    put(root, `usr/lib/modules/${KVER}/.vmlinuz.hmac`, 'HMAC\n', 0o600);
  },
  dtbdir(root) {
    put(root, `usr/lib/modules/${KVER}/vmlinuz`, 'KERNEL-B\n', 0o755);
    put(root, `usr/lib/modules/${KVER}/dtb/vendor/board-b.dtb`, 'B\n');
    put(root, `usr/lib/modules/${KVER}/dtb/vendor/board-a.dtb`, 'A\n');
    put(root, `usr/lib/modules/${KVER}/dtb/top.dtb`, 'T\n', 0o600);
  },
  legacy(root) {
    const csum = 'ef'.repeat(32);
    put(root, `usr/lib/ostree-boot/vmlinuz-3.10.0-${csum}`, 'LEGACY-K\n');
    put(root, `usr/lib/ostree-boot/initramfs-3.10.0.img-${csum}`, 'LEGACY-I\n');
  },
  mixed(root) {
    put(root, `usr/lib/modules/${KVER}/vmlinuz`, 'KERNEL-A\n');
    const csum = '12'.repeat(32);
    put(root, `boot/vmlinuz-${KVER}-${csum}`, 'OLD-K\n');
    put(root, `boot/initramfs-${KVER}.img-${csum}`, 'OLD-I\n');
  },
};

test('the real ostree admin deploy installs the same bootcsum dir, names and bytes as ours, for five layouts', { skip }, (t) => {
  const dir = sysrootScratch(t, 'mco-kernel-');
  const real = join(dir, 'real');
  mkdirSync(real);
  ok(ostree(['admin', 'init-fs', real]), 'init-fs');
  const repo = join(real, 'ostree/repo');
  for (const [os, build] of Object.entries(LAYOUTS)) {
    const tree = join(dir, 'trees', os);
    build(tree);
    put(tree, 'usr/lib/os-release', `ID=${os}\n`);
    ok(ostree(['admin', 'os-init', `--sysroot=${real}`, os]), 'os-init');
    ok(ostree(['commit', `--repo=${repo}`, '-b', os, '--no-bindings', '--timestamp=@0', tree]), `commit ${os}`);
    ok(ostree(['admin', 'deploy', `--sysroot=${real}`, `--os=${os}`, os]), `deploy ${os}`);
  }

  const ours = join(dir, 'ours');
  const installed = readdirSync(join(real, 'boot/ostree'));
  for (const os of Object.keys(LAYOUTS)) {
    const deployDir = join(real, 'ostree/deploy', os, 'deploy');
    const [name] = readdirSync(deployDir).filter((n) => !n.endsWith('.origin'));
    const kernel = findKernel(join(deployDir, name!));
    const realDirs = installed.filter((n) => n.startsWith(`${os}-`));
    assert.deepEqual(realDirs, [`${os}-${kernel.bootcsum}`], `${os}: bootcsum directory`);
    const r = installKernel(ours, { osname: os, kernel });
    assert.deepEqual(diffTrees(walkTree(r.dir), walkTree(join(real, 'boot/ostree', realDirs[0]!)), FIELDS), [], `${os}: installed files`);
    // The BLS entry names what we installed (the entry is someone else's module; the names are ours).
    const entry = readdirSync(join(real, 'boot/loader/entries')).map((f) => readFileSync(join(real, 'boot/loader/entries', f), 'utf8'))
      .find((e) => e.includes(`/ostree/${os}-${kernel.bootcsum}/`));
    assert.ok(entry?.includes(`linux /ostree/${os}-${kernel.bootcsum}/${kernel.paths.vmlinuz.name}\n`), `${os}: linux line in\n${entry}`);
    if (kernel.paths.initramfs) assert.ok(entry!.includes(`initrd /ostree/${os}-${kernel.bootcsum}/${kernel.paths.initramfs.name}\n`), `${os}: initrd line`);
  }
  assert.equal(findKernel(join(real, 'ostree/deploy/mixed/deploy', readdirSync(join(real, 'ostree/deploy/mixed/deploy'))[0]!)).layout, 'legacy');
});

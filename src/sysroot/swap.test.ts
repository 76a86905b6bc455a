import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { copyFileSync, cpSync, mkdirSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { checkout } from '../ostree/checkout.js';
import { commitTree } from '../ostree/commit.js';
import { Repo } from '../ostree/repo.js';
import { hasOstree, ok, ostree, scratch } from '../ostree/testing.js';
import { ostreeKargFor, writeDeployments } from './swap.js';
import type { Deployment, SysrootState } from './types.js';

const skip = !hasOstree && 'ostree CLI not installed (scripts/setup.sh installs it)';
const KVER = '5.14.0-1.el8.x86_64';

/** A sysroot made by the real tool, with one commit in its repo ready to be deployed by hand. */
async function preparedSysroot(dir: string, version: string): Promise<{ root: string; repo: Repo; checksum: string; bootcsum: string }> {
  const root = join(dir, 'sysroot');
  mkdirSync(root);
  ok(ostree(['admin', 'init-fs', root]), 'init-fs');
  ok(ostree(['admin', 'os-init', `--sysroot=${root}`, 'rhcos']), 'os-init');
  mkdirSync(join(root, 'ostree', 'deploy', 'rhcos', 'deploy'));
  const tree = join(dir, `tree-${version}`);
  mkdirSync(join(tree, 'usr', 'lib', 'modules', KVER), { recursive: true });
  mkdirSync(join(tree, 'usr', 'etc'), { recursive: true });
  writeFileSync(join(tree, 'usr', 'lib', 'modules', KVER, 'vmlinuz'), 'KERNEL-A\n');
  writeFileSync(join(tree, 'usr', 'lib', 'modules', KVER, 'initramfs.img'), 'INITRD-A\n');
  writeFileSync(join(tree, 'usr', 'etc', 'motd'), `version ${version}\n`);
  writeFileSync(join(tree, 'usr', 'etc', 'os-release'), 'ID=rhcos\nPRETTY_NAME="Test OS"\n');
  const repo = await Repo.open(join(root, 'ostree', 'repo'));
  const { checksum } = await commitTree(repo, tree, { branch: 'rhcos', timestamp: 0, metadata: [['version', { type: 's', value: version }]] });
  return { root, repo, checksum, bootcsum: createHash('sha256').update('KERNEL-A\nINITRD-A\n').digest('hex') };
}

const state = (root: string, deployments: Deployment[] = [], bootversion: 0 | 1 = 0): SysrootState => ({
  path: root, bootversion, subbootversion: 0, deployments, booted: null, staged: null,
});

const entry = (d: Deployment, at: { index: number; count: number; bootversion: 0 | 1 }): string =>
  `title test (ostree:${at.index})\nversion ${at.count - at.index}\noptions root=LABEL=root ${ostreeKargFor(d, at.bootversion)}\n` +
  `linux /ostree/${d.osname}-${d.bootcsum}/vmlinuz-${KVER}\ninitrd /ostree/${d.osname}-${d.bootcsum}/initramfs-${KVER}.img\n`;

function installKernel(root: string, d: Deployment): void {
  const dir = join(root, 'boot', 'ostree', `${d.osname}-${d.bootcsum}`);
  mkdirSync(dir, { recursive: true });
  const src = join(root, 'ostree', 'deploy', d.osname, 'deploy', `${d.checksum}.${d.serial}`, 'usr', 'lib', 'modules', KVER);
  copyFileSync(join(src, 'vmlinuz'), join(dir, `vmlinuz-${KVER}`));
  copyFileSync(join(src, 'initramfs.img'), join(dir, `initramfs-${KVER}.img`));
}

/** Deployment directories are immutable (chattr +i, set by real ostree): clear that before teardown. */
function unlockDeployments(root: string): void {
  const deploy = join(root, 'ostree', 'deploy', 'rhcos', 'deploy');
  const dirs = readdirSync(deploy).filter((n) => /^[0-9a-f]{64}\.\d+$/.test(n)).map((n) => join(deploy, n));
  if (dirs.length) spawnSync('chattr', ['-i', ...dirs]);
}

test('writeDeployments() switches the boot menu so that real `ostree admin status` lists the new deployment', { skip }, async (t) => {
  const dir = scratch(t);
  try {
    await deployByHand(dir);
  } finally {
    unlockDeployments(join(dir, 'sysroot')); // before scratch()'s teardown removes the tree
  }
});

async function deployByHand(dir: string): Promise<void> {
  const { root, repo, checksum, bootcsum } = await preparedSysroot(dir, '1.0');
  const deployDir = join(root, 'ostree', 'deploy', 'rhcos', 'deploy', `${checksum}.0`);
  await checkout(repo, checksum, deployDir);
  cpSync(join(deployDir, 'usr', 'etc'), join(deployDir, 'etc'), { recursive: true }); // what deploy does
  writeFileSync(join(root, 'ostree', 'deploy', 'rhcos', 'deploy', `${checksum}.0.origin`), '[origin]\nrefspec=rhcos\n');
  const d: Deployment = { osname: 'rhcos', checksum, serial: 0, bootcsum, bootserial: 0, kargs: ['root=LABEL=root'], origin: null };

  const written = writeDeployments(state(root), [d], { entry, installKernel: (x) => installKernel(root, x) });

  assert.equal(written.bootversion, 1);
  assert.equal(readlinkSync(join(root, 'boot', 'loader')), 'loader.1');
  assert.equal(readlinkSync(join(root, 'ostree', 'boot.1')), 'boot.1.1', 'a new bootversion starts at subbootversion 1');
  assert.equal(readlinkSync(join(root, 'ostree', 'boot.1.1', 'rhcos', bootcsum, '0')), `../../../deploy/rhcos/deploy/${checksum}.0`);
  assert.match(readFileSync(join(root, 'boot', 'loader.1', 'entries', 'ostree-1-rhcos.conf'), 'utf8'), new RegExp(`ostree=/ostree/boot.1/rhcos/${bootcsum}/0`));
  const status = ok(ostree(['admin', 'status', `--sysroot=${root}`]), 'admin status').stdout;
  assert.match(status, new RegExp(`rhcos ${checksum}\\.0\\n\\s+Version: 1\\.0\\n\\s+origin refspec: rhcos`));

  // The real tool deploys on top of what we wrote, and keeps our deployment as the rollback.
  ok(ostree(['admin', 'deploy', `--sysroot=${root}`, '--os=rhcos', checksum]), 'admin deploy');
  const after = ok(ostree(['admin', 'status', `--sysroot=${root}`]), 'admin status').stdout;
  assert.match(after, new RegExp(`rhcos ${checksum}\\.1[\\s\\S]*rhcos ${checksum}\\.0`));
}

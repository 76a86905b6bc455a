import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { commitTree } from '../ostree/commit.js';
import { Repo } from '../ostree/repo.js';
import { diffTrees, hasOstree, ok, ostree, scratch, walkTree } from '../ostree/testing.js';
import { deploy } from './deploy.js';

const skip = !hasOstree && 'ostree CLI not installed (scripts/setup.sh installs it)';
const KVER = '4.18.0-193.el8.x86_64';
const SYNC = spawnSync('sh', ['-c', 'command -v sync'], { encoding: 'utf8' }).stdout.trim();

/** An OS tree: kernel under usr/lib/modules, os-release, default config under usr/etc. */
function writeTree(dir: string, version: string, config: Record<string, string>): string {
  const tree = join(dir, `tree-${version}`);
  mkdirSync(join(tree, 'usr', 'lib', 'modules', KVER), { recursive: true });
  mkdirSync(join(tree, 'usr', 'etc'), { recursive: true });
  writeFileSync(join(tree, 'usr', 'lib', 'modules', KVER, 'vmlinuz'), 'KERNEL\n');
  writeFileSync(join(tree, 'usr', 'lib', 'modules', KVER, 'initramfs.img'), `INITRD ${version}\n`);
  writeFileSync(join(tree, 'usr', 'lib', 'os-release'), `ID=rhcos\nPRETTY_NAME="Red Hat Enterprise Linux CoreOS ${version.startsWith('46') ? '46' : ''}(Ootpa)"\n`);
  for (const [name, text] of Object.entries(config)) writeFileSync(join(tree, 'usr', 'etc', name), text);
  return tree;
}

/** A sysroot made by the real tool, with v1 and v2 committed by us (same checksums for both sides). */
async function sysrootWithTwoVersions(dir: string, name: string): Promise<{ root: string; v1: string; v2: string }> {
  const root = join(dir, name);
  mkdirSync(root);
  ok(ostree(['admin', 'init-fs', root]), 'init-fs');
  ok(ostree(['admin', 'os-init', `--sysroot=${root}`, 'rhcos']), 'os-init');
  const repo = await Repo.open(join(root, 'ostree', 'repo'));
  const meta = (v: string) => [['version', { type: 's', value: v }]] as [string, { type: string; value: string }][];
  const v1 = (await commitTree(repo, writeTree(dir, '46.82.1-0', { 'app.conf': 'a=1\n', 'keep.conf': 'k=1\n' }), { branch: 'v1', timestamp: 1, metadata: meta('46.82.1-0') })).checksum;
  const v2 = (await commitTree(repo, writeTree(dir, '46.82.2-0', { 'app.conf': 'a=2\n', 'keep.conf': 'k=2\n', 'new.conf': 'n=1\n' }), { branch: 'v2', timestamp: 2, metadata: meta('46.82.2-0') })).checksum;
  return { root, v1, v2 };
}

/** Deployment directories are immutable: clear that before the scratch teardown removes them. */
function unlock(root: string): void {
  const dir = join(root, 'ostree', 'deploy', 'rhcos', 'deploy');
  if (!existsSync(dir)) return;
  const dirs = readdirSync(dir).filter((n) => /^[0-9a-f]{64}\.\d+$/.test(n)).map((n) => join(dir, n));
  if (dirs.length) spawnSync('chattr', ['-i', ...dirs]);
}

/** Every boot entry and bootlink of the current bootversion, as text, for comparison. */
function bootState(root: string): string[] {
  const loader = readlinkSync(join(root, 'boot', 'loader'));
  const entries = join(root, 'boot', loader, 'entries');
  const out = [`loader -> ${loader}`];
  for (const name of readdirSync(entries).sort()) out.push(`${name}:\n${readFileSync(join(entries, name), 'utf8')}`);
  const b = loader.slice('loader.'.length);
  const sub = readlinkSync(join(root, 'ostree', `boot.${b}`));
  out.push(`boot.${b} -> ${sub}`);
  const walk = (dir: string, rel: string): void => {
    for (const name of readdirSync(dir).sort()) {
      const path = join(dir, name);
      try {
        out.push(`${rel}/${name} -> ${readlinkSync(path)}`);
      } catch {
        walk(path, `${rel}/${name}`); // a directory of the bootlink tree
      }
    }
  };
  walk(join(root, 'ostree', sub), sub);
  return out;
}

test('deploy() writes the deployments, boot entries, bootlinks and /etc merge that `ostree admin deploy` writes', { skip }, async (t) => {
  const dir = scratch(t);
  const ours = await sysrootWithTwoVersions(dir, 'ours');
  const theirs = await sysrootWithTwoVersions(dir, 'theirs');
  try {
    assert.equal(ours.v1, theirs.v1);
    await deploy(ours.root, 'v1', { osname: 'rhcos', kargs: ['root=LABEL=root', 'rw'] });
    ok(ostree(['admin', 'deploy', `--sysroot=${theirs.root}`, '--os=rhcos', '--karg=root=LABEL=root', '--karg=rw', 'v1']), 'real deploy v1');
    assert.deepEqual(bootState(ours.root), bootState(theirs.root), 'after the first deploy');
    const varOf = (root: string): string[] => readdirSync(join(root, 'ostree', 'deploy', 'rhcos', 'var'), { withFileTypes: true })
      .map((e) => `${e.name} ${e.isFile() ? statSync(join(e.parentPath, e.name)).mode.toString(8) : 'dir'}`).sort();
    assert.deepEqual(varOf(ours.root), varOf(theirs.root), 'the stateroot var, with its .ostree-selabeled stamp');
    assert.ok(varOf(ours.root).includes('.ostree-selabeled 100644'));

    // The admin edits, deletes and adds configuration in the deployed /etc.
    for (const { root, v1 } of [ours, theirs]) {
      const etc = join(root, 'ostree', 'deploy', 'rhcos', 'deploy', `${v1}.0`, 'etc');
      writeFileSync(join(etc, 'app.conf'), 'a=local\n');
      unlinkSync(join(etc, 'keep.conf'));
      writeFileSync(join(etc, 'local.conf'), 'mine\n');
    }
    const result = await deploy(ours.root, 'v2', { osname: 'rhcos' });
    ok(ostree(['admin', 'deploy', `--sysroot=${theirs.root}`, '--os=rhcos', 'v2']), 'real deploy v2');
    assert.deepEqual(bootState(ours.root), bootState(theirs.root), 'after the second deploy');
    assert.equal(result.etc, 'Copying /etc changes: 1 modified, 1 removed, 1 added');

    const status = (root: string) => ok(ostree(['admin', 'status', `--sysroot=${root}`]), 'admin status').stdout;
    assert.equal(status(ours.root), status(theirs.root));
    for (const { root, v2 } of [ours, theirs]) {
      const etc = join(root, 'ostree', 'deploy', 'rhcos', 'deploy', `${v2}.0`, 'etc');
      assert.equal(readFileSync(join(etc, 'app.conf'), 'utf8'), 'a=local\n', 'a local edit survives the upgrade');
      assert.equal(existsSync(join(etc, 'keep.conf')), false, 'a local deletion stays deleted');
      assert.equal(readFileSync(join(etc, 'new.conf'), 'utf8'), 'n=1\n', 'a new default arrives');
      assert.equal(readFileSync(join(etc, 'local.conf'), 'utf8'), 'mine\n', 'a local addition is kept');
    }
    assert.match(ok(ostree(['fsck', `--repo=${join(ours.root, 'ostree', 'repo')}`]), 'fsck').stdout, /no errors found/);
  } finally {
    unlock(ours.root);
    unlock(theirs.root);
  }
});

test('deploy() refuses to run while another operation holds the sysroot', { skip }, async (t) => {
  const dir = scratch(t);
  const { root } = await sysrootWithTwoVersions(dir, 'locked');
  writeFileSync(join(root, 'ostree', 'mco.lock'), `${process.pid} rollback\n`);
  await assert.rejects(deploy(root, 'v1', { osname: 'rhcos' }), /Another operation is running on .*: rollback \(pid \d+\)/);
  rmSync(join(root, 'ostree', 'mco.lock'));
  unlock(root);
});

test('a background flush of the new deployment that fails stops the deploy before any boot entry points at it', { skip }, async (t) => {
  const dir = scratch(t);
  const { root } = await sysrootWithTwoVersions(dir, 'flush');
  await deploy(root, 'v1', { osname: 'rhcos' });
  const before = bootState(root);
  // A sync(1) that fails to flush the deployment being written (the disk's error), as syncfs(2) reports it.
  const bin = join(dir, 'bin');
  mkdirSync(bin);
  writeFileSync(join(bin, 'sync'), `#!/bin/sh\ncase "$2" in */ostree/deploy/*) echo "sync: error syncing '$2': Input/output error" >&2; exit 1;; esac\nexec ${SYNC} "$@"\n`, { mode: 0o755 });
  const path = process.env['PATH'];
  process.env['PATH'] = `${bin}:${path}`;
  try {
    await assert.rejects(deploy(root, 'v2', { osname: 'rhcos' }), /Writing \S+\/ostree\/deploy\/rhcos\/deploy\/[0-9a-f]{64}\.0 to disk failed/);
  } finally {
    process.env['PATH'] = path;
  }
  assert.deepEqual(bootState(root), before);
  unlock(root);
});

test('deploy() turns .ostree-wh.NAME files into whiteout devices NAME, mode kept, as `ostree admin deploy` does', { skip }, async (t) => {
  const dir = scratch(t);
  const layers: string[] = [];
  const roots: string[] = [];
  try {
    for (const name of ['ours', 'theirs']) {
      const { root } = await sysrootWithTwoVersions(dir, name);
      roots.push(root);
      const tree = writeTree(dir, `wh-${name}`, {});
      const layer = join(tree, 'usr', 'container', 'layers', 'abcd');
      mkdirSync(layer, { recursive: true });
      for (const [file, mode] of [['.ostree-wh.whiteout', 0o400], ['.ostree-wh.whiteout2', 0o777]] as const) {
        writeFileSync(join(layer, file), '');
        chmodSync(join(layer, file), mode);
      }
      symlinkSync('elsewhere', join(layer, '.ostree-wh.link'));
      const repo = await Repo.open(join(root, 'ostree', 'repo'));
      const wh = (await commitTree(repo, tree, { branch: 'wh', timestamp: 3 })).checksum;
      if (name === 'ours') await deploy(root, 'wh', { osname: 'rhcos' });
      else ok(ostree(['admin', 'deploy', `--sysroot=${root}`, '--os=rhcos', 'wh']), 'real deploy');
      layers.push(join(root, 'ostree', 'deploy', 'rhcos', 'deploy', `${wh}.0`, 'usr', 'container', 'layers', 'abcd'));
    }
    const [ours, theirs] = layers.map((d) => walkTree(d));
    assert.deepEqual(diffTrees(ours!, theirs!), []);
    assert.deepEqual(ours!.map((e) => `${e.path} ${e.type} ${e.mode.toString(8)}`), ['. dir 755', '.ostree-wh.link symlink 777', 'whiteout char 400', 'whiteout2 char 777']);
    assert.equal(statSync(join(layers[0]!, 'whiteout')).rdev, 0, 'device 0:0');
  } finally {
    roots.forEach(unlock);
  }
});

test('a deploy that leaves every boot entry as it was only swaps the bootlinks (bootconfig swap: no), as `ostree admin deploy` does', { skip }, async (t) => {
  const dir = scratch(t);
  const ours = await sysrootWithTwoVersions(dir, 'ours');
  const theirs = await sysrootWithTwoVersions(dir, 'theirs');
  try {
    for (let i = 0; i < 3; i++) {
      const result = await deploy(ours.root, 'v1', { osname: 'rhcos', ...(i === 0 ? { kargs: ['root=LABEL=root'] } : {}) });
      const real = ok(ostree(['admin', 'deploy', `--sysroot=${theirs.root}`, '--os=rhcos', ...(i === 0 ? ['--karg=root=LABEL=root'] : []), 'v1']), `real deploy ${i}`);
      assert.deepEqual(bootState(ours.root), bootState(theirs.root), `after deploy ${i}`);
      assert.equal(`${result.cleanup.transaction}\n`, /^(Transaction complete|Bootloader updated);.*\n/m.exec(real.stdout)?.[0], 'the summary line');
    }
    // The third list boots as the second did: same loader, the other subbootversion.
    assert.equal(readlinkSync(join(ours.root, 'boot', 'loader')), 'loader.0');
    assert.equal(readlinkSync(join(ours.root, 'ostree', 'boot.0')), 'boot.0.0');
    assert.deepEqual(readdirSync(join(ours.root, 'ostree')).filter((n) => n.startsWith('boot.')).sort(), ['boot.0', 'boot.0.0']);
  } finally {
    unlock(ours.root);
    unlock(theirs.root);
  }
});

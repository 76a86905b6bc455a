/**
 * init-fs and os-init against the real `ostree admin init-fs` / `os-init`: both tools build a
 * sysroot side by side and the trees must match entry by entry (types, modes, owners, symlink
 * targets, the repo config's bytes), under the usual umask and under a strict one.
 */
import assert from 'node:assert/strict';
import { chmodSync, lstatSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { Repo } from '../ostree/repo.js';
import { diffTrees, hasOstree, ok, ostree, scratch, walkTree } from '../ostree/testing.js';
import { initFs, InitFsError, osInit } from './init-fs.js';

const skip = !hasOstree && 'ostree CLI not installed (scripts/setup.sh installs it)';
const FIELDS = ['type', 'mode', 'uid', 'gid', 'size', 'target', 'sha256'] as const;

/** Runs `fn` with the process umask set to `mask` (the real tool, spawned inside, inherits it). */
async function withUmask<T>(mask: number, fn: () => Promise<T>): Promise<T> {
  const old = process.umask(mask);
  try {
    return await fn();
  } finally {
    process.umask(old);
  }
}

async function bothTools(t: TestContext, umask: number, modern = false): Promise<{ real: string; ours: string }> {
  const dir = scratch(t, 'mco-initfs-');
  const real = join(dir, 'real');
  const ours = join(dir, 'ours');
  mkdirSync(real);
  mkdirSync(ours);
  await withUmask(umask, async () => {
    ok(ostree(['admin', 'init-fs', ...(modern ? ['--modern'] : []), real]), 'ostree admin init-fs');
    ok(ostree(['admin', 'os-init', `--sysroot=${real}`, 'rhcos']), 'ostree admin os-init');
    await initFs(ours, { modern });
    await osInit(ours, 'rhcos');
  });
  return { real, ours };
}

test('init-fs and os-init build the same tree as the real tool, mode for mode', { skip }, async (t) => {
  const { real, ours } = await bothTools(t, 0o022);
  assert.deepEqual(diffTrees(walkTree(ours), walkTree(real), FIELDS), []);
  const entry = (p: string): { mode: number; target: string } | undefined => walkTree(ours).find((e) => e.path === p);
  assert.equal(entry('root')?.mode, 0o700);
  assert.equal(entry('tmp')?.mode, 0o1777);
  assert.equal(entry('ostree/deploy/rhcos/var/tmp')?.mode, 0o1777);
  assert.equal(entry('ostree/deploy/rhcos/var/run')?.target, '../run');
  assert.equal(entry('ostree/deploy/rhcos/var/lock')?.target, '../run/lock');
  assert.equal(readFileSync(join(ours, 'ostree/repo/config'), 'utf8'), '[core]\nrepo_version=1\nmode=bare\n');
  assert.equal((await Repo.open(join(ours, 'ostree/repo'))).mode, 'bare');
});

test('under umask 077 both tools make private directories but keep the sticky tmp dirs 1777', { skip }, async (t) => {
  const { real, ours } = await bothTools(t, 0o077);
  // Repo.init creates the repo's own directories, outside this module: compare the sysroot part.
  const outsideRepo = (es: ReturnType<typeof walkTree>): ReturnType<typeof walkTree> => es.filter((e) => !e.path.startsWith('ostree/repo/'));
  assert.deepEqual(diffTrees(outsideRepo(walkTree(ours)), outsideRepo(walkTree(real)), FIELDS), []);
  assert.equal(lstatSync(join(ours, 'ostree/deploy/rhcos/var/tmp')).mode & 0o7777, 0o1777);
  assert.equal(lstatSync(join(ours, 'ostree/deploy/rhcos/var/lib')).mode & 0o7777, 0o700);
});

test('init-fs --modern creates only boot and ostree, like the real tool', { skip }, async (t) => {
  const { real, ours } = await bothTools(t, 0o022, true);
  assert.deepEqual(diffTrees(walkTree(ours), walkTree(real), FIELDS), []);
});

test('init-fs on an existing sysroot keeps what is there and repairs the tmp mode', async (t) => {
  const dir = scratch(t, 'mco-initfs-');
  await initFs(dir);
  writeFileSync(join(dir, 'home', 'keep'), 'x');
  chmodSync(join(dir, 'tmp'), 0o755);
  await initFs(dir);
  assert.equal(readFileSync(join(dir, 'home', 'keep'), 'utf8'), 'x');
  assert.equal(lstatSync(join(dir, 'tmp')).mode & 0o7777, 0o1777);
});

test('init-fs refuses a directory that does not exist, naming it', async (t) => {
  const missing = join(scratch(t, 'mco-initfs-'), 'nope');
  await assert.rejects(initFs(missing), (e: Error) => e instanceof InitFsError && e.message.includes(missing) && /No such file/.test(e.message));
});

test('os-init refuses an existing stateroot, a sysroot without a repo and names that are not one directory', async (t) => {
  const dir = scratch(t, 'mco-initfs-');
  await assert.rejects(osInit(dir, 'rhcos'), (e: Error) => e instanceof InitFsError && /init-fs first/.test(e.message));
  await initFs(dir);
  await osInit(dir, 'rhcos');
  await assert.rejects(osInit(dir, 'rhcos'), (e: Error) => e instanceof InitFsError && e.message.includes(join(dir, 'ostree/deploy/rhcos')) && /File exists/.test(e.message));
  for (const bad of ['', '.', '..', 'a/b']) {
    await assert.rejects(osInit(dir, bad), (e: Error) => e instanceof InitFsError && /Invalid stateroot name/.test(e.message), bad);
  }
});

test('the real tool also refuses os-init twice (so our error is not stricter than ostree)', { skip }, async (t) => {
  const dir = scratch(t, 'mco-initfs-');
  await initFs(dir);
  await osInit(dir, 'rhcos');
  const r = ostree(['admin', 'os-init', `--sysroot=${dir}`, 'rhcos']);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /Creating ostree\/deploy\/rhcos: File exists/);
});

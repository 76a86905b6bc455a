/**
 * The `deploy` workload: two bootable OS commits made from the generated tree, cached in a
 * bare repository under .bench/ that each sysroot pulls from (outside the timing).
 *
 *   v1  the generated tree (hardlinked copy, `cp -al`) plus what `ostree admin deploy` needs
 *       to deploy and boot it: usr/lib/modules/KVER/{vmlinuz,initramfs.img}, usr/lib/os-release,
 *       the tree's etc/ moved to usr/etc (plus hostname, fstab, an os-release link…), its var/
 *       content moved to usr/share/factory/var (an OSTree commit ships an empty /var), and the
 *       mount points of a root filesystem.
 *   v2  an upgrade of v1: ~5% of the files differ (modified, added, removed; chosen by a seeded
 *       generator so it is the same everywhere), a new initramfs (so a new /boot directory) and
 *       a new os-release and version.
 *
 * Both commits are made by the real ostree with a fixed timestamp, so their checksums depend on
 * the tree generator's version and this file's DEPLOY_TREE_VERSION only.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { join, relative } from 'node:path';
import { Rng, type TreeProfile } from './tree-gen.js';

/** Bump when the variant or the commits change: it names the cache directory. */
export const DEPLOY_TREE_VERSION = 'd1';

export const KVER = '5.14.0-284.bench.el9.x86_64';
export const OSNAME = 'rhcos';
export const REFS = { v1: 'bench/v1', v2: 'bench/v2' } as const;
const VERSIONS = { v1: '416.94.202601010000-0', v2: '416.94.202602010000-0' } as const;

export interface DeployWorkload {
  /** The bare repository holding REFS.v1 and REFS.v2. */
  repo: string;
  commits: { v1: string; v2: string };
  /** Non-directory entries of v1 (regular files and symlinks). */
  files: number;
  etcFiles: number;
  bytes: number;
  v2: { modified: number; added: number; removed: number };
  kernelMiB: number;
  initramfsMiB: number;
}

function sh(argv: string[]): string {
  const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.error) throw new Error(`${argv[0]}: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`command failed (exit ${r.status}): ${argv.join(' ')}\n${(r.stderr ?? '').trim().slice(-2000)}`);
  return r.stdout;
}

function randomFile(path: string, seed: string, bytes: number): void {
  const buf = Buffer.alloc(bytes);
  new Rng(seed).fill(buf);
  fs.writeFileSync(path, buf, { mode: 0o644 });
  fs.chmodSync(path, 0o644);
}

function put(root: string, rel: string, content: string, mode = 0o644): void {
  const path = join(root, rel);
  fs.mkdirSync(join(path, '..'), { recursive: true });
  fs.rmSync(path, { force: true }); // may be a hardlink into the cached tree: never write through it
  fs.writeFileSync(path, content, { mode });
  fs.chmodSync(path, mode);
}

const osRelease = (version: string): string =>
  `NAME="Bench CoreOS"\nID=rhcos\nID_LIKE="rhel fedora"\nVERSION="${version}"\nVERSION_ID="4.16"\nPRETTY_NAME="Bench CoreOS ${version} (Plow)"\n`;

/** v1 at `dest` from the generated tree at `tree`. */
function makeV1(tree: string, dest: string, profile: TreeProfile): void {
  // Hardlinks: nothing below writes through an existing file (put() unlinks first), and the
  // commit only reads; this keeps the variant cheap in time and space.
  sh(['cp', '-al', tree, dest]);
  const moveInto = (from: string, to: string): void => {
    if (fs.existsSync(join(dest, to))) throw new Error(`deploy tree: ${to} exists in the generated tree`);
    fs.mkdirSync(join(dest, to, '..'), { recursive: true });
    fs.renameSync(join(dest, from), join(dest, to));
  };
  // ostree refuses a tree with both /etc and /usr/etc; /etc in a commit is a compatibility path.
  moveInto('etc', 'usr/etc');
  // ostree ignores (and warns about each file of) content in /var: ship it as factory data.
  moveInto('var', 'usr/share/factory/var');
  for (const d of ['boot', 'dev', 'proc', 'run', 'sys', 'sysroot', 'tmp', 'var', 'mnt']) {
    fs.mkdirSync(join(dest, d));
    fs.chmodSync(join(dest, d), d === 'tmp' ? 0o1777 : 0o755);
  }
  fs.symlinkSync('sysroot/ostree', join(dest, 'ostree'));
  const mod = join(dest, 'usr', 'lib', 'modules', KVER);
  fs.mkdirSync(mod, { recursive: true, mode: 0o755 });
  // Full-size kernel and initramfs: both tools copy them into /boot.
  const quick = profile.name === 'quick';
  randomFile(join(mod, 'vmlinuz'), 'bench-vmlinuz', (quick ? 2 : 10) * 2 ** 20);
  randomFile(join(mod, 'initramfs.img'), 'bench-initramfs-v1', (quick ? 4 : 24) * 2 ** 20);
  put(dest, 'usr/lib/os-release', osRelease(VERSIONS.v1));
  fs.symlinkSync('../usr/lib/os-release', join(dest, 'usr', 'etc', 'os-release'));
  put(dest, 'usr/etc/hostname', 'localhost\n');
  put(dest, 'usr/etc/fstab', '# bench: no mounts\n');
  put(dest, 'usr/etc/bench/node.conf', 'role=worker\n');
  put(dest, 'usr/etc/bench/upgrade.conf', `version=${VERSIONS.v1}\n`);
  put(dest, 'usr/etc/bench/secret.key', 'not-a-secret\n', 0o600);
}

/** v2 at `dest`: v1 with ~5% of its files changed. */
function makeV2(v1: string, dest: string, profile: TreeProfile): DeployWorkload['v2'] {
  sh(['cp', '-al', v1, dest]);
  const rng = new Rng(`mco-bench-deploy-${DEPLOY_TREE_VERSION}-${profile.name}`);
  const files: string[] = [];
  const dirs: string[] = [];
  const walk = (dir: string): void => {
    for (const name of fs.readdirSync(dir).sort()) {
      const p = join(dir, name);
      const rel = relative(dest, p);
      if (rel === 'usr/lib/modules' || rel === 'usr/lib/os-release' || rel.startsWith('usr/etc/bench')) continue;
      const st = fs.lstatSync(p);
      if (st.isDirectory()) (dirs.push(p), walk(p));
      else if (st.isFile()) files.push(p);
    }
  };
  walk(dest);
  const changed = { modified: 0, added: 0, removed: 0 };
  for (const p of files) {
    const r = rng.float();
    if (r < 0.045) {
      const st = fs.lstatSync(p);
      const content = Buffer.concat([fs.readFileSync(p), Buffer.from(`\n# changed in ${VERSIONS.v2}: ${rng.next().toString(16)}\n`)]);
      fs.unlinkSync(p); // a hardlink into v1 and the cached tree: replace, never write through
      fs.writeFileSync(p, content, { mode: st.mode & 0o7777 });
      fs.chmodSync(p, st.mode & 0o7777);
      fs.chownSync(p, st.uid, st.gid);
      changed.modified++;
    } else if (r < 0.05) {
      fs.unlinkSync(p);
      changed.removed++;
    }
  }
  const newFiles = Math.round(files.length * 0.005);
  for (let i = 0; i < newFiles; i++) {
    const dir = rng.pick(dirs);
    fs.writeFileSync(join(dir, `bench-new-${i}.conf`), `added in ${VERSIONS.v2}\nkey${i}=${rng.next()}\n`, { mode: 0o644 });
    fs.chmodSync(join(dir, `bench-new-${i}.conf`), 0o644);
    changed.added++;
  }
  // A new initramfs (a new /boot/ostree/OS-BOOTCSUM), os-release and default config.
  const quick = profile.name === 'quick';
  const initramfs = join(dest, 'usr', 'lib', 'modules', KVER, 'initramfs.img');
  fs.unlinkSync(initramfs);
  randomFile(initramfs, 'bench-initramfs-v2', (quick ? 4 : 24) * 2 ** 20);
  put(dest, 'usr/lib/os-release', osRelease(VERSIONS.v2));
  put(dest, 'usr/etc/bench/upgrade.conf', `version=${VERSIONS.v2}\n`);
  put(dest, 'usr/etc/bench/new-default.conf', 'feature=on\n');
  changed.modified += 3;
  changed.added += 1;
  return changed;
}

function countTree(root: string): { files: number; bytes: number } {
  let files = 0;
  let bytes = 0;
  const walk = (dir: string): void => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else (files++, e.isFile() && (bytes += fs.lstatSync(p).size));
    }
  };
  walk(root);
  return { files, bytes };
}

function commit(ostree: string, repo: string, ref: string, version: string, tree: string): string {
  const out = sh([ostree, 'commit', `--repo=${repo}`, '-b', ref, '--no-bindings', '--timestamp=@1767225600',
    `--add-metadata-string=version=${version}`, '-s', `Bench CoreOS ${version}`, tree]);
  const csum = out.trim().split('\n').at(-1) ?? '';
  if (!/^[0-9a-f]{64}$/.test(csum)) throw new Error(`ostree commit printed no checksum: ${JSON.stringify(out.slice(0, 200))}`);
  return csum;
}

/**
 * The workload for the generated tree at `tree` (named `treeName`): made once, cached in
 * `cache/deploy-VERSION-TREENAME/` (trees v1/ and v2/, repo/, workload.json).
 */
export function prepareDeployWorkload(cache: string, tree: string, treeName: string, profile: TreeProfile, ostree: string, log: (line: string) => void): DeployWorkload {
  const name = `deploy-${DEPLOY_TREE_VERSION}-${treeName}`;
  const dir = join(cache, name);
  const jsonPath = join(dir, 'workload.json');
  if (fs.existsSync(jsonPath)) {
    const w = JSON.parse(fs.readFileSync(jsonPath, 'utf8')) as DeployWorkload;
    w.repo = join(dir, 'repo'); // the cache may have moved with the checkout
    return w;
  }
  const tmp = join(cache, `tmp-${name}`);
  fs.rmSync(tmp, { recursive: true, force: true });
  fs.mkdirSync(tmp);
  log(`making the bootable deploy workload from ${treeName} (${DEPLOY_TREE_VERSION}, once; cached in ${dir}) …`);
  const t0 = Date.now();
  makeV1(tree, join(tmp, 'v1'), profile);
  const v2 = makeV2(join(tmp, 'v1'), join(tmp, 'v2'), profile);
  const repo = join(tmp, 'repo');
  sh([ostree, 'init', `--repo=${repo}`, '--mode=bare']);
  const commits = { v1: commit(ostree, repo, REFS.v1, VERSIONS.v1, join(tmp, 'v1')), v2: commit(ostree, repo, REFS.v2, VERSIONS.v2, join(tmp, 'v2')) };
  const { files, bytes } = countTree(join(tmp, 'v1'));
  const w: DeployWorkload = {
    repo: join(dir, 'repo'), commits, files, bytes, etcFiles: countTree(join(tmp, 'v1', 'usr', 'etc')).files, v2,
    kernelMiB: fs.statSync(join(tmp, 'v1', 'usr', 'lib', 'modules', KVER, 'vmlinuz')).size / 2 ** 20,
    initramfsMiB: fs.statSync(join(tmp, 'v1', 'usr', 'lib', 'modules', KVER, 'initramfs.img')).size / 2 ** 20,
  };
  fs.writeFileSync(join(tmp, 'workload.json'), `${JSON.stringify(w, null, 2)}\n`);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.renameSync(tmp, dir);
  log(`deploy workload made in ${((Date.now() - t0) / 1000).toFixed(1)} s: v1 ${commits.v1.slice(0, 12)}, v2 ${commits.v2.slice(0, 12)}`);
  return w;
}

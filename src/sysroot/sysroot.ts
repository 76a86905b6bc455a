/**
 * Loading a sysroot as libostree 2022.7 does (`ostree_sysroot_load`, §4.7 of the spec): the
 * bootversion from `boot/loader`, the boot entries of that loader, each entry's deployment
 * through its `ostree=` bootlink, origins, the booted deployment named by the kernel command
 * line, and a staged deployment from `run/ostree/staged-deployment`. Reads the sysroot
 * directory only; never writes. The kernel command line comes in through a reader, so tests
 * and the lab decide what "booted" means.
 */
import { promises as fs, realpathSync, statSync, type Stats } from 'node:fs';
import { basename, join, relative, sep } from 'node:path';
import { deserialize, type GValue, type Variant } from '../ostree/gvariant.js';
import { KeyFile, KeyFileError } from '../ostree/keyfile.js';
import {
  type BlsEntry,
  compareBlsVersionsDescending,
  isOstreeEntryName,
  ostreeKarg,
  parseBlsEntry,
  parseBootLink,
  splitKargs,
  withoutOstreeKarg,
} from './bls.js';
import { type Deployment, deploymentPath, type DeploymentRef, type KernelCmdlineReader, sameDeployment, type SysrootState } from './types.js';

export class SysrootError extends Error {
  override name = 'SysrootError';
}

export interface LoadSysrootOptions {
  /**
   * The kernel command line the host booted with. Absent: nothing is booted (like
   * `ostree admin status --sysroot=DIR`), so there is no pending, rollback or staged deployment.
   */
  readCmdline?: KernelCmdlineReader;
}

/** `CSUM.SERIAL`, the name of a deployment directory. */
const DEPLOY_NAME_RE = /^([0-9a-f]+)\.([0-9]+)$/;

/** Splits a deployment directory name `CSUM.SERIAL`; null when it is not one. */
export function parseDeployName(name: string): { checksum: string; serial: number } | null {
  const m = DEPLOY_NAME_RE.exec(name);
  if (!m) return null;
  const serial = Number(m[2]);
  return Number.isSafeInteger(serial) ? { checksum: m[1]!, serial } : null;
}

const errnoOf = (e: unknown): string | undefined => (e as NodeJS.ErrnoException | null)?.code;

async function lstatOrNull(path: string): Promise<Stats | null> {
  try {
    return await fs.lstat(path);
  } catch (e) {
    if (errnoOf(e) === 'ENOENT') return null;
    throw new SysrootError(`Cannot read ${path}: ${(e as Error).message}`, { cause: e });
  }
}

/** B in `boot/loader -> loader.B`; 0 when the link is missing. */
export async function readBootversion(sysroot: string): Promise<0 | 1> {
  const link = join(sysroot, 'boot', 'loader');
  const st = await lstatOrNull(link);
  if (!st) return 0;
  if (!st.isSymbolicLink()) throw new SysrootError(`${link} is not a symbolic link`);
  const target = await fs.readlink(link);
  if (target === 'loader.0') return 0;
  if (target === 'loader.1') return 1;
  throw new SysrootError(`Invalid target '${target}' in ${link} (expected loader.0 or loader.1)`);
}

/** S in `ostree/boot.B -> boot.B.S`; 0 when the link is missing. */
export async function readSubbootversion(sysroot: string, bootversion: 0 | 1): Promise<0 | 1> {
  const link = join(sysroot, 'ostree', `boot.${bootversion}`);
  const st = await lstatOrNull(link);
  if (!st) return 0;
  if (!st.isSymbolicLink()) throw new SysrootError(`${link} is not a symbolic link`);
  const target = await fs.readlink(link);
  // libostree looks only at the suffix, so `boot.0.1` and `/elsewhere/x.1` are both S=1.
  if (target.endsWith('.0')) return 0;
  if (target.endsWith('.1')) return 1;
  throw new SysrootError(`Invalid target '${target}' in ${link} (expected boot.${bootversion}.0 or boot.${bootversion}.1)`);
}

/** The `ostree-*.conf` regular files of `boot/loader.B/entries`, parsed, in libostree's order. */
async function readBootEntries(sysroot: string, bootversion: 0 | 1): Promise<{ file: string; entry: BlsEntry }[]> {
  const dir = join(sysroot, 'boot', `loader.${bootversion}`, 'entries');
  let names: string[];
  try {
    names = await fs.readdir(dir);
  } catch (e) {
    // No entries directory is a sysroot with no deployments yet (just after init-fs).
    if (errnoOf(e) === 'ENOENT') return [];
    throw new SysrootError(`Cannot read ${dir}: ${(e as Error).message}`, { cause: e });
  }
  const entries: { file: string; entry: BlsEntry }[] = [];
  // Ties in `version` keep this order; libostree keeps readdir order, which no test can rely on.
  for (const name of names.filter(isOstreeEntryName).sort()) {
    const file = join(dir, name);
    const st = await fs.stat(file).catch(() => null);
    if (!st?.isFile()) continue;
    let bytes: Buffer;
    try {
      bytes = await fs.readFile(file);
    } catch (e) {
      throw new SysrootError(`Cannot read boot entry ${file}: ${(e as Error).message}`, { cause: e });
    }
    const text = bytes.toString('utf8');
    // libostree reads entries as UTF-8 and refuses anything else.
    if (!Buffer.from(text, 'utf8').equals(bytes)) throw new SysrootError(`Boot entry ${file} is not valid UTF-8`);
    entries.push({ file, entry: parseBlsEntry(text) });
  }
  return entries.sort((a, b) => compareBlsVersionsDescending(a.entry, b.entry));
}

/** Loads `CSUM.SERIAL.origin` beside the deployment directory; null when absent. */
export async function readOrigin(sysroot: string, d: Pick<Deployment, 'osname' | 'checksum' | 'serial'>): Promise<KeyFile | null> {
  const file = `${deploymentPath(sysroot, d)}.origin`;
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (e) {
    if (errnoOf(e) === 'ENOENT') return null;
    throw new SysrootError(`Cannot read origin ${file}: ${(e as Error).message}`, { cause: e });
  }
  try {
    return KeyFile.parse(text, file);
  } catch (e) {
    if (e instanceof KeyFileError) throw new SysrootError(`Invalid origin file: ${e.message}`, { cause: e });
    throw e;
  }
}

/** One boot entry's deployment: its `ostree=` bootlink, read one level (libostree's readlink), then the directory. */
async function entryDeployment(sysroot: string, file: string, entry: BlsEntry): Promise<Deployment> {
  const options = entry.fields.get('options');
  const kargs = splitKargs(options ?? '');
  const value = ostreeKarg(kargs);
  if (value === undefined) throw new SysrootError(`Boot entry ${file} has no ostree= kernel argument in its options`);
  const link = parseBootLink(value);
  if (!link) {
    throw new SysrootError(`Boot entry ${file}: invalid ostree=${value}, expected ostree=/ostree/boot.BOOTVERSION/OSNAME/BOOTCSUM/TREESERIAL`);
  }
  const linkPath = join(sysroot, value);
  let target: string;
  try {
    target = await fs.readlink(linkPath);
  } catch (e) {
    const why = errnoOf(e) === 'ENOENT' ? 'does not exist' : errnoOf(e) === 'EINVAL' ? 'is not a symbolic link' : (e as Error).message;
    throw new SysrootError(`Boot entry ${file}: bootlink ${linkPath} ${why}`, { cause: e });
  }
  const name = parseDeployName(basename(target));
  if (!name) throw new SysrootError(`Boot entry ${file}: bootlink ${linkPath} points to ${target}, which is not a CHECKSUM.SERIAL deployment`);
  const st = await fs.stat(linkPath).catch(() => null);
  if (!st?.isDirectory()) throw new SysrootError(`Boot entry ${file}: deployment ${target} (through ${linkPath}) is not a directory`);
  const d: Deployment = {
    osname: link.osname,
    checksum: name.checksum,
    serial: name.serial,
    bootcsum: link.bootcsum,
    bootserial: link.bootserial,
    kargs: withoutOstreeKarg(kargs),
    origin: null,
  };
  d.origin = await readOrigin(sysroot, d);
  return d;
}

/**
 * Where the kernel command line's `ostree=` leads, resolved as the initramfs does (realpath of
 * SYSROOT + value): a bootlink, or any path that ends in a deployment directory, such as
 * `/ostree/deploy/OS/deploy/CSUM.SERIAL`. Null when the command line has no `ostree=`.
 *
 * A bootlink form goes stale once a new bootversion is written (cleanup deletes the old
 * `ostree/boot.B`) while the host keeps running; libostree never notices, because it compares
 * inodes with "/", and so does this for the sysroot "/". A simulated node resolves its
 * command line once per boot instead (boot.ts, `simulatedBoot`).
 */
export async function resolveBootedDeployment(sysroot: string, cmdline: string): Promise<DeploymentRef | null> {
  const value = ostreeKarg(splitKargs(cmdline));
  if (value === undefined) return null;
  try {
    return resolveOstreeArgument(sysroot, value);
  } catch (e) {
    // On a live host the bootlink goes stale after the next deploy; "/" itself still says.
    const live = e instanceof StaleBootlinkError && e.root === '/' ? await deploymentOfRoot(e.root) : null;
    if (live) return live;
    throw e;
  }
}

/** `ostree=VALUE` leads nowhere under `root`: a bootlink removed by a later deploy, or a typo. */
class StaleBootlinkError extends SysrootError {
  constructor(message: string, readonly root: string, options: ErrorOptions) {
    super(message, options);
  }
}

/**
 * The deployment directory `ostree=VALUE` leads to under `sysroot` (synchronous: kernel command
 * line readers are). Throws SysrootError when it leads nowhere or elsewhere.
 */
export function resolveOstreeArgument(sysroot: string, value: string): DeploymentRef {
  const where = `ostree=${value} from the kernel command line`;
  let root: string;
  let real: string;
  try {
    root = realpathSync(sysroot);
  } catch (e) {
    throw new SysrootError(`Cannot open sysroot ${sysroot}: ${(e as Error).message}`, { cause: e });
  }
  try {
    real = realpathSync(join(root, value));
  } catch (e) {
    throw new StaleBootlinkError(`${where} does not resolve under sysroot ${sysroot}: ${join(sysroot, value)}: ${(e as Error).message}`, root, { cause: e });
  }
  const rel = relative(root, real).split(sep).join('/');
  const m = /^ostree\/deploy\/([^/]+)\/deploy\/([^/]+)$/.exec(rel);
  const name = m ? parseDeployName(m[2]!) : null;
  if (!m || !name) throw new SysrootError(`${where} resolves to ${real}, which is not a deployment directory ostree/deploy/OS/deploy/CHECKSUM.SERIAL of sysroot ${sysroot}`);
  if (!statSync(real).isDirectory()) throw new SysrootError(`${where} resolves to ${real}, which is not a directory`);
  return { osname: m[1]!, ...name };
}

/** The deployment directory that is "/" (same device and inode), as libostree finds the booted one. */
async function deploymentOfRoot(root: string): Promise<DeploymentRef | null> {
  const slash = await fs.stat('/');
  const deployRoot = join(root, 'ostree', 'deploy');
  for (const osname of await fs.readdir(deployRoot).catch(() => [] as string[])) {
    for (const entry of await fs.readdir(join(deployRoot, osname, 'deploy')).catch(() => [] as string[])) {
      const name = parseDeployName(entry);
      if (!name) continue;
      const st = await fs.stat(join(deployRoot, osname, 'deploy', entry)).catch(() => null);
      if (st && st.dev === slash.dev && st.ino === slash.ino) return { osname, ...name };
    }
  }
  return null;
}

// ---- staged deployments

/** A deployment as named in `run/ostree/staged-deployment`. */
export interface StagedDeploymentRef {
  osname: string;
  checksum: string;
  serial: number;
  bootcsum: string;
}

/** The contents of `run/ostree/staged-deployment` (§4.11). */
export interface StagedDeploymentFile {
  target: StagedDeploymentRef;
  /** The deployment whose `/etc` finalization merges; null when the file names none. */
  merge: StagedDeploymentRef | null;
  /** Kernel arguments for the entry; null when absent (finalization then takes the merge deployment's). */
  kargs: string[] | null;
  overlayInitrds: string[];
}

/** `run/ostree/staged-deployment` under the sysroot (`/run/…` on a host). */
export const stagedDeploymentPath = (sysroot: string): string => join(sysroot, 'run', 'ostree', 'staged-deployment');

function lookup(dict: GValue, key: string): Variant | undefined {
  // deserialize('a{sv}') yields [key, variant] pairs; the last duplicate wins, as GVariantDict's table.
  let found: Variant | undefined;
  for (const [k, v] of dict as [string, Variant][]) if (k === key) found = v;
  return found;
}

function deploymentRef(v: Variant | undefined, what: string, file: string): StagedDeploymentRef | null {
  if (v === undefined) return null;
  if (v.type !== 'a{sv}') throw new SysrootError(`${file}: '${what}' is of type ${v.type}, expected a{sv}`);
  const str = (key: string): string => {
    const x = lookup(v.value, key);
    if (x?.type !== 's') throw new SysrootError(`${file}: missing '${key}' string in '${what}'`);
    return x.value as string;
  };
  const name = str('name');
  const parsed = parseDeployName(name);
  if (!parsed) throw new SysrootError(`${file}: '${what}' names ${JSON.stringify(name)}, which is not CHECKSUM.SERIAL`);
  return { osname: str('osname'), ...parsed, bootcsum: str('bootcsum') };
}

function stringArray(v: Variant | undefined, what: string, file: string): string[] | null {
  if (v === undefined) return null;
  if (v.type !== 'as') throw new SysrootError(`${file}: '${what}' is of type ${v.type}, expected as`);
  return v.value as string[];
}

/** Parses the bytes of a staged-deployment file (a GVariant `a{sv}`); `file` names it in errors. */
export function parseStagedDeployment(bytes: Uint8Array, file: string): StagedDeploymentFile {
  let dict: GValue;
  try {
    dict = deserialize('a{sv}', bytes);
  } catch (e) {
    throw new SysrootError(`${file} is not a GVariant a{sv}: ${(e as Error).message}`, { cause: e });
  }
  const target = deploymentRef(lookup(dict, 'target'), 'target', file);
  if (!target) throw new SysrootError(`${file} has no 'target' deployment`);
  return {
    target,
    merge: deploymentRef(lookup(dict, 'merge-deployment'), 'merge-deployment', file),
    kargs: stringArray(lookup(dict, 'kargs'), 'kargs', file),
    overlayInitrds: stringArray(lookup(dict, 'overlay-initrds'), 'overlay-initrds', file) ?? [],
  };
}

/** Reads `run/ostree/staged-deployment` under the sysroot; null when there is none. */
export async function readStagedDeployment(sysroot: string): Promise<StagedDeploymentFile | null> {
  const file = stagedDeploymentPath(sysroot);
  let bytes: Buffer;
  try {
    bytes = await fs.readFile(file);
  } catch (e) {
    if (errnoOf(e) === 'ENOENT') return null;
    throw new SysrootError(`Cannot read ${file}: ${(e as Error).message}`, { cause: e });
  }
  return parseStagedDeployment(bytes, file);
}

async function stagedDeployment(sysroot: string, deployments: Deployment[]): Promise<Deployment | null> {
  const staged = await readStagedDeployment(sysroot);
  if (!staged) return null;
  const { target, merge } = staged;
  const mergeDeployment = merge && deployments.find((d) => d.osname === merge.osname && d.checksum === merge.checksum && d.serial === merge.serial);
  const d: Deployment = {
    osname: target.osname,
    checksum: target.checksum,
    serial: target.serial,
    bootcsum: target.bootcsum,
    // No boot entry exists yet; libostree leaves the bootserial unassigned (-1) until finalization.
    bootserial: -1,
    // What finalization will write: the recorded kargs, else the merge deployment's.
    kargs: staged.kargs ? withoutOstreeKarg(staged.kargs) : [...(mergeDeployment?.kargs ?? [])],
    origin: null,
  };
  d.origin = await readOrigin(sysroot, d);
  return d;
}

// ---- loading

/**
 * Loads the sysroot at `path` (`/` on a host). Throws SysrootError naming the file at fault
 * when the sysroot is inconsistent: libostree refuses to list anything then, and so do we.
 */
export async function loadSysroot(path: string, options: LoadSysrootOptions = {}): Promise<SysrootState> {
  const repoDir = join(path, 'ostree', 'repo');
  const st = await fs.stat(repoDir).catch(() => null);
  // libostree opens the system repo first; a directory without one is not a sysroot.
  if (!st?.isDirectory()) throw new SysrootError(`Not an OSTree sysroot: ${path} (no ${repoDir})`);

  const bootversion = await readBootversion(path);
  const subbootversion = await readSubbootversion(path, bootversion);
  const deployments: Deployment[] = [];
  for (const { file, entry } of await readBootEntries(path, bootversion)) {
    deployments.push(await entryDeployment(path, file, entry));
  }

  let booted: Deployment | null = null;
  const cmdline = options.readCmdline?.();
  if (cmdline !== undefined) {
    const ref = await resolveBootedDeployment(path, cmdline);
    if (ref) {
      booted = deployments.find((d) => d.osname === ref.osname && d.checksum === ref.checksum && d.serial === ref.serial) ?? null;
      if (!booted) {
        const dir = deploymentPath(path, ref);
        throw new SysrootError(`The booted deployment ${dir} (ostree= on the kernel command line) has no boot entry in ${join(path, 'boot', `loader.${bootversion}`, 'entries')}`);
      }
    }
  }
  // As libostree: staged state belongs to the running system, so only a booted one has any.
  const staged = booted ? await stagedDeployment(path, deployments) : null;
  return { path, bootversion, subbootversion, deployments, booted, staged };
}

// ---- queries on a loaded state

/** libostree's view: the staged deployment, if any, heads the list. */
const withStaged = (state: SysrootState): Deployment[] => (state.staged ? [state.staged, ...state.deployments] : state.deployments);

function around(state: SysrootState): { pending: Deployment | null; rollback: Deployment | null } {
  const booted = state.booted;
  let pending: Deployment | null = null;
  let rollback: Deployment | null = null;
  if (!booted) return { pending, rollback };
  let passed = false;
  for (const d of withStaged(state)) {
    if (d.osname !== booted.osname) continue;
    if (sameDeployment(d, booted)) passed = true;
    else if (!passed) pending ??= d;
    else rollback ??= d;
  }
  return { pending, rollback };
}

/**
 * The deployment the next boot would switch to: the first of the booted stateroot before the
 * booted one, counting a staged deployment as first. Null when nothing is booted.
 */
export const pendingDeployment = (state: SysrootState): Deployment | null => around(state).pending;

/** The first deployment of the booted stateroot after the booted one. Null when nothing is booted. */
export const rollbackDeployment = (state: SysrootState): Deployment | null => around(state).rollback;

/**
 * libostree's merge deployment of a stateroot: the booted one when it is of that stateroot,
 * else the first (default-most) deployment of it; null when it has none.
 */
export const mergeDeployment = (state: SysrootState, osname: string): Deployment | null =>
  state.booted?.osname === osname ? state.booted : (state.deployments.find((d) => d.osname === osname) ?? null);

/** `ostree admin pin`: `[libostree-transient] pinned=true` in the origin (GKeyFile booleans: true or 1). */
export const isPinned = (d: Deployment): boolean => d.origin?.getBoolean('libostree-transient', 'pinned') === true;

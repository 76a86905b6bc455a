/**
 * A host's file system as the daemon sees it: host paths (`/etc/…`, `/home/core/…`, `/run/…`)
 * resolved under `--sysroot`. On a real host (sysroot `/`) they are the paths themselves. A
 * simulated node is a sysroot directory, and its paths resolve as on a booted OSTree host:
 * `/etc` and the rest of the tree into the booted deployment, `/var` and `/home` (RHCOS links
 * /home to /var/home) into the stateroot's shared var, `/run` into the sysroot's run. Nothing
 * resolves outside the sysroot: a simulated root refuses to write through a symlinked
 * directory, whose target would be read on the machine running the lab.
 */
import { lstatSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { loadSysroot, SysrootError } from '../sysroot/sysroot.js';
import { deploymentPath, type Deployment, type KernelCmdlineReader } from '../sysroot/types.js';
import { pivotImageOf } from './pivot.js';

export class HostPathError extends Error {
  override name = 'HostPathError';
}

export interface HostRoot {
  /** The `--sysroot` directory. */
  sysroot: string;
  /** True for a real host (`--sysroot=/`): paths are not remapped. */
  real: boolean;
  /** The deployment the host booted (a simulated node: its `ostree=` argument). */
  booted: Deployment;
  /** Where host path `hostPath` (absolute, normalised) is on this machine. */
  resolve(hostPath: string): string;
}

/** One path on the host as the validator needs to see it. */
export type ObservedPath =
  | { kind: 'missing' }
  | { kind: 'file'; contents: Buffer; mode: number }
  | { kind: 'symlink'; target: string }
  | { kind: 'other'; what: string };

/** What `validateOnDiskState` reads of a host. */
export interface OnDiskState {
  /** osImageURL of the booted deployment (`pivot://` origin), `""` when it has none. */
  osImageURL: string;
  /** Kernel arguments of the booted deployment. */
  kargs: readonly string[];
  read(path: string): ObservedPath;
}

function checkAbsolute(hostPath: string): string[] {
  const parts = hostPath.split('/').filter((p) => p !== '');
  if (!hostPath.startsWith('/') || parts.some((p) => p === '.' || p === '..')) throw new HostPathError(`Host path "${hostPath}" must be absolute and normalised`);
  return parts;
}

/** The host root of `sysroot` for the boot `readCmdline` describes. */
export async function openHostRoot(sysroot: string, options: { readCmdline?: KernelCmdlineReader } = {}): Promise<HostRoot> {
  const state = await loadSysroot(sysroot, options.readCmdline ? { readCmdline: options.readCmdline } : {});
  if (!state.booted) throw new SysrootError(`not currently booted in a deployment (sysroot ${sysroot})`);
  const booted = state.booted;
  const real = sysroot === '/';
  const deployment = deploymentPath(sysroot, booted);
  const stateVar = join(sysroot, 'ostree', 'deploy', booted.osname, 'var');
  return {
    sysroot,
    real,
    booted,
    resolve(hostPath) {
      const parts = checkAbsolute(hostPath);
      if (real) return `/${parts.join('/')}`;
      const [top, ...rest] = parts;
      if (top === 'var') return join(stateVar, ...rest);
      if (top === 'home') return join(stateVar, 'home', ...rest);
      if (top === 'run') return join(sysroot, 'run', ...rest);
      return join(deployment, ...parts);
    },
  };
}

/**
 * Checks that no directory on the way to `hostPath` is a symlink (a simulated root only):
 * writes then stay inside the sysroot. Missing directories are fine; they are created as
 * directories.
 */
export function checkNoSymlinkedParents(root: HostRoot, hostPath: string): void {
  if (root.real) return;
  const parts = checkAbsolute(hostPath);
  for (let i = 1; i < parts.length; i++) {
    const dir = `/${parts.slice(0, i).join('/')}`;
    // The mapped tops (/var, /home, /run) are where they point by construction.
    if (i === 1 && ['var', 'home', 'run'].includes(parts[0]!)) continue;
    let st;
    try {
      st = lstatSync(root.resolve(dir));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw e;
    }
    if (st.isSymbolicLink()) throw new HostPathError(`Refusing to write ${hostPath}: ${dir} is a symlink (to ${readlinkSync(root.resolve(dir))}), which could lead outside ${root.sysroot}`);
    if (!st.isDirectory()) throw new HostPathError(`Cannot write ${hostPath}: ${dir} is not a directory`);
  }
}

/** What is at host path `hostPath`, without following a final symlink. */
export function observe(root: HostRoot, hostPath: string): ObservedPath {
  const path = root.resolve(hostPath);
  let st;
  try {
    st = lstatSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return { kind: 'missing' };
    throw e;
  }
  if (st.isSymbolicLink()) return { kind: 'symlink', target: readlinkSync(path) };
  if (st.isFile()) return { kind: 'file', contents: readFileSync(path), mode: st.mode & 0o7777 };
  return { kind: 'other', what: st.isDirectory() ? 'directory' : 'special file' };
}

/** The host's on-disk state for validation: its booted deployment and its files. */
export function onDiskState(root: HostRoot): OnDiskState {
  return { osImageURL: pivotImageOf(root.booted) ?? '', kargs: root.booted.kargs, read: (p) => observe(root, p) };
}

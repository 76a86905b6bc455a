/**
 * Creating a sysroot and a stateroot, as `ostree admin init-fs DIR` and `ostree admin os-init
 * --sysroot=DIR OS` do (ostree 2022.7, ot-admin-builtin-init-fs.c and
 * ostree_sysroot_init_osname): the top-level directories of a root filesystem, `ostree/deploy`,
 * a bare system repository in `ostree/repo`, and per stateroot the shared `var` that every
 * deployment of that OS mounts.
 *
 * Modes are requested as ostree requests them and then reduced by the process umask, exactly as
 * mkdirat() reduces ostree's; only the sticky `tmp` directories are chmod-ed explicitly, as
 * ostree does, so they are 1777 whatever the umask.
 */
import { chmodSync, lstatSync, mkdirSync, symlinkSync, utimesSync } from 'node:fs';
import { join } from 'node:path';
import { Repo } from '../ostree/repo.js';

export class InitFsError extends Error {
  override name = 'InitFsError';
}

export interface InitFsOptions {
  /** `--modern`: only `boot` and `ostree`, none of the traditional top-level directories. */
  modern?: boolean;
}

const errnoOf = (e: unknown): string | undefined => (e as NodeJS.ErrnoException)?.code;

/** mkdir -p that names the path when something other than a directory is in the way. */
function mkdirP(path: string, mode: number): void {
  try {
    mkdirSync(path, { recursive: true, mode });
  } catch (e) {
    throw new InitFsError(`Creating ${path}: ${(e as Error).message}`, { cause: e });
  }
}

function requireDir(dir: string, what: string): void {
  let isDir: boolean;
  try {
    isDir = lstatSync(dir).isDirectory();
  } catch (e) {
    throw new InitFsError(`${what} ${dir}: ${errnoOf(e) === 'ENOENT' ? 'No such file or directory' : (e as Error).message}`, { cause: e });
  }
  if (!isDir) throw new InitFsError(`${what} ${dir}: Not a directory`);
}

/**
 * `ostree_sysroot_ensure_initialized`: `ostree/repo` (a bare repository) and `ostree/deploy`.
 * Idempotent, like ostree's: an existing repository is opened, not recreated.
 */
async function ensureInitialized(sysroot: string): Promise<void> {
  mkdirP(join(sysroot, 'ostree', 'repo'), 0o755);
  mkdirP(join(sysroot, 'ostree', 'deploy'), 0o755);
  await Repo.init(join(sysroot, 'ostree', 'repo'), { mode: 'bare' });
}

/**
 * `ostree admin init-fs DIR`: DIR must exist. Creates `boot dev home proc run sys` (0755),
 * `root` (0700), `tmp` (1777), then `ostree/deploy` and the bare `ostree/repo`. Existing
 * directories are left as they are (except `tmp`'s mode), so running it twice is harmless.
 */
export async function initFs(dir: string, options: InitFsOptions = {}): Promise<void> {
  requireDir(dir, 'Opening sysroot');
  // /boot is commonly mounted outside a deployment too, so even --modern creates it.
  mkdirP(join(dir, 'boot'), 0o755);
  if (!options.modern) {
    for (const name of ['boot', 'dev', 'home', 'proc', 'run', 'sys']) mkdirP(join(dir, name), 0o755);
    mkdirP(join(dir, 'root'), 0o700);
    mkdirP(join(dir, 'tmp'), 0o1777);
    // mkdir's mode went through the umask; world-writable sticky must not depend on it.
    chmodSync(join(dir, 'tmp'), 0o1777);
  }
  await ensureInitialized(dir);
}

/** Rejects stateroot names that are not one directory name (ostree fails later, on mkdirat). */
function validateOsname(osname: string): void {
  if (osname === '' || osname === '.' || osname === '..' || osname.includes('/') || osname.includes('\0')) {
    throw new InitFsError(`Invalid stateroot name ${JSON.stringify(osname)}: must be a single directory name`);
  }
}

/**
 * `ostree admin os-init --sysroot=SYSROOT OSNAME`: creates the stateroot
 * `ostree/deploy/OSNAME` with its shared `var/{lib,log,tmp}`, `var/run -> ../run` and
 * `var/lock -> ../run/lock`, then bumps the mtime of `ostree/deploy` (readers use it to notice
 * changes). The sysroot must have been initialized (`ostree/repo` present), as the real tool
 * requires to load it; an existing stateroot is an error, as with ostree.
 */
export async function osInit(sysroot: string, osname: string): Promise<void> {
  validateOsname(osname);
  requireDir(sysroot, 'Opening sysroot');
  try {
    requireDir(join(sysroot, 'ostree', 'repo'), 'Loading sysroot: opening');
  } catch (e) {
    throw new InitFsError(`${(e as Error).message} (not an OSTree sysroot; run init-fs first)`, { cause: e });
  }
  await ensureInitialized(sysroot);

  const osdir = join(sysroot, 'ostree', 'deploy', osname);
  const step = (what: string, path: string, fn: () => void): void => {
    try {
      fn();
    } catch (e) {
      const reason = errnoOf(e) === 'EEXIST' ? 'File exists' : (e as Error).message;
      throw new InitFsError(`${what} ${path}: ${reason}`, { cause: e });
    }
  };
  // Non-recursive mkdirs, like ostree's mkdirat: an existing stateroot must fail, not merge.
  step('Creating', osdir, () => mkdirSync(osdir, { mode: 0o777 }));
  const v = (rel: string): string => join(osdir, 'var', rel);
  step('Creating', join(osdir, 'var'), () => mkdirSync(join(osdir, 'var'), { mode: 0o777 }));
  step('Creating', v('tmp'), () => mkdirSync(v('tmp'), { mode: 0o777 }));
  step('Changing mode of', v('tmp'), () => chmodSync(v('tmp'), 0o1777));
  step('Creating', v('lib'), () => mkdirSync(v('lib'), { mode: 0o777 }));
  // ostree asks 0755 for var/log only (journald must be able to flush there on first boot).
  step('Creating', v('log'), () => mkdirSync(v('log'), { mode: 0o755 }));
  step('Symlinking', v('run'), () => symlinkSync('../run', v('run')));
  step('Symlinking', v('lock'), () => symlinkSync('../run/lock', v('lock')));
  const now = new Date();
  utimesSync(join(sysroot, 'ostree', 'deploy'), now, now);
}

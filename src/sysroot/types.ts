/**
 * The sysroot data model shared by the sysroot modules: what libostree calls a deployment,
 * and the loaded state of a sysroot (`ostree admin status` reads exactly this). Plain data;
 * loading is in sysroot.ts, writing in deploy.ts.
 */
import { join } from 'node:path';
import type { KeyFile } from '../ostree/keyfile.js';

export interface Deployment {
  /** The stateroot (`--os`), e.g. `rhcos`. */
  osname: string;
  /** Commit checksum the deployment is a checkout of. */
  checksum: string;
  /** The SERIAL in `ostree/deploy/OS/deploy/CHECKSUM.SERIAL`. */
  serial: number;
  /** sha256 over kernel, initramfs (and devicetree) bytes: names `boot/ostree/OS-BOOTCSUM/`. */
  bootcsum: string;
  /** Position among the deployments sharing this bootcsum, in list order (`…/BOOTCSUM/N`). */
  bootserial: number;
  /** Kernel arguments of its boot entry, without `ostree=`. */
  kargs: string[];
  /** The `.origin` key file; null when the file is absent. */
  origin: KeyFile | null;
}

export interface SysrootState {
  /** The sysroot directory (`/` on a real host). */
  path: string;
  /** B in `boot/loader -> loader.B`. */
  bootversion: 0 | 1;
  /** S in `ostree/boot.B -> boot.B.S`. */
  subbootversion: 0 | 1;
  /** In boot-entry order: index 0 is the default. A staged deployment is not in this list. */
  deployments: Deployment[];
  /** The deployment the kernel command line's `ostree=` resolves to; null when none (offline). */
  booted: Deployment | null;
  /** A staged deployment waiting for finalization; null when none. */
  staged: Deployment | null;
}

/** A deployment's identity: what `ostree/deploy/OS/deploy/CHECKSUM.SERIAL` names. */
export type DeploymentRef = Pick<Deployment, 'osname' | 'checksum' | 'serial'>;

/** `ostree/deploy/OS/deploy/CHECKSUM.SERIAL` under the sysroot. */
export function deploymentPath(sysroot: string, d: Pick<Deployment, 'osname' | 'checksum' | 'serial'>): string {
  return join(sysroot, 'ostree', 'deploy', d.osname, 'deploy', `${d.checksum}.${d.serial}`);
}

/** Same deployment: same stateroot, commit and serial. */
export function sameDeployment(a: Deployment, b: Deployment): boolean {
  return a.osname === b.osname && a.checksum === b.checksum && a.serial === b.serial;
}

/**
 * Reads the kernel command line the host booted with. Production: `/proc/cmdline`, or the file
 * named by `MCO_KERNEL_CMDLINE_FILE` (tests and the lab); wired in cli/ and lab/ only.
 */
export type KernelCmdlineReader = () => string;

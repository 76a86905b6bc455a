/**
 * A small bootable OS tree in the layout an OSTree commit has: the kernel and its initramfs in
 * `usr/lib/modules/KVER/`, the default configuration in `usr/etc`, `usr/lib/os-release` with
 * the version, a static busybox as the whole userspace, and the directories
 * ostree-prepare-root mounts over in a deployment (`sysroot`, `var`, the API filesystems) with
 * the `ostree -> sysroot/ostree` link. Its init (`init=` INIT_PATH, which systemd's
 * switch-root runs in the booted deployment) prints what the test reads, one
 * `MCO-BOOT-TEST KEY=VALUE` line each, to the serial console, then powers off:
 *   VERSION      the deployment's os-release VERSION
 *   CMDLINE      the kernel command line
 *   OSTREE-BOOTED yes when ostree-prepare-root left /run/ostree-booted
 *   ETC          `NAME: LINE` for each line of each file in /etc/mco-boot-test/ (the
 *                deployment's merged /etc)
 */
import { chmodSync, copyFileSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { HostKernel } from './host-kernel.js';

/** The init the deployments boot: pass `init=INIT_PATH` as a kernel argument. */
export const INIT_PATH = '/usr/lib/mco-boot-test/init';
/** The directory of the deployment's /etc whose files the init prints (ETC lines). */
export const ETC_DIR = 'mco-boot-test';
/** Debian's busybox-static. */
export const BUSYBOX = '/bin/busybox';

export interface BootableTreeOptions {
  kernel: HostKernel;
  /** The initramfs image (cachedInitramfs). */
  initramfs: string;
  /** os-release VERSION, which the booted system prints. */
  version: string;
  /** Files of usr/etc/ETC_DIR/, by name. */
  etc: Record<string, string>;
  /** Path of the static busybox to install (default BUSYBOX). */
  busybox?: string;
}

// `exec` keeps the script PID 1 … until poweroff: PID 1 must never exit (that panics).
const INIT_SCRIPT = `#!/usr/bin/busybox sh
# The boot test's init: report what booted on the serial console, then power off.
export PATH=/usr/bin
[ -e /proc/cmdline ] || busybox mount -t proc proc /proc
. /usr/lib/os-release
echo "MCO-BOOT-TEST VERSION=$VERSION"
echo "MCO-BOOT-TEST CMDLINE=$(busybox cat /proc/cmdline)"
[ -e /run/ostree-booted ] && echo "MCO-BOOT-TEST OSTREE-BOOTED=yes"
for f in /etc/${ETC_DIR}/*; do
  [ -f "$f" ] || continue
  while IFS= read -r line; do echo "MCO-BOOT-TEST ETC=\${f##*/}: $line"; done < "$f"
done
echo "MCO-BOOT-TEST DONE=yes"
busybox sync
exec busybox poweroff -f
`;

/** Writes the tree into `dir` (created; must not exist or be empty). */
export function writeBootableTree(dir: string, options: BootableTreeOptions): void {
  const { kernel, version } = options;
  const file = (rel: string, text: string, mode = 0o644): void => {
    mkdirSync(dirname(join(dir, rel)), { recursive: true });
    writeFileSync(join(dir, rel), text);
    chmodSync(join(dir, rel), mode);
  };
  const modules = join(dir, 'usr', 'lib', 'modules', kernel.kver);
  mkdirSync(modules, { recursive: true });
  copyFileSync(kernel.vmlinuz, join(modules, 'vmlinuz'));
  copyFileSync(options.initramfs, join(modules, 'initramfs.img'));
  mkdirSync(join(dir, 'usr', 'bin'), { recursive: true });
  copyFileSync(options.busybox ?? BUSYBOX, join(dir, 'usr', 'bin', 'busybox'));
  chmodSync(join(dir, 'usr', 'bin', 'busybox'), 0o755);
  symlinkSync('busybox', join(dir, 'usr', 'bin', 'sh'));
  file('usr/lib/os-release', `NAME="MCO boot test"\nID=mco-boot-test\nVERSION="${version}"\nVERSION_ID="${version}"\nPRETTY_NAME="MCO boot test ${version}"\n`);
  file(INIT_PATH.slice(1), INIT_SCRIPT, 0o755);
  for (const [name, text] of Object.entries(options.etc)) file(`usr/etc/${ETC_DIR}/${name}`, text);
  symlinkSync('../usr/lib/os-release', join(dir, 'usr', 'etc', 'os-release'));
  // The merged-/usr links, and what ostree-prepare-root and systemd's switch-root mount over.
  for (const [link, target] of [['bin', 'usr/bin'], ['sbin', 'usr/bin'], ['lib', 'usr/lib'], ['ostree', 'sysroot/ostree']] as const) {
    symlinkSync(target, join(dir, link));
  }
  for (const d of ['sysroot', 'var', 'proc', 'sys', 'dev', 'run', 'tmp']) mkdirSync(join(dir, d));
}

/**
 * The real kernel a boot test boots, and its initramfs: the host's installed kernel package
 * (Debian's linux-image-cloud-amd64: `/boot/vmlinuz-KVER` with `/usr/lib/modules/KVER`) and an
 * initramfs made by dracut with the `ostree` module of Debian's ostree-boot, so that
 * `ostree-prepare-root` picks the deployment of the `ostree=` argument at boot, as on a real
 * node. dracut takes about a minute; its image is cached by kernel version (and by the dracut
 * arguments, so a change of them rebuilds) under the cache directory, shared by every test
 * process: written under a temporary name and renamed, so a concurrent build never leaves a
 * half-written image under the final name.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

export class BootTestSetupError extends Error {
  override name = 'BootTestSetupError';
}

export interface HostKernel {
  /** The kernel version: the `/usr/lib/modules` directory name, e.g. `6.1.0-57-cloud-amd64`. */
  kver: string;
  /** The kernel image, `/boot/vmlinuz-KVER`. */
  vmlinuz: string;
}

/**
 * The installed kernel with both an image in `bootDir` and modules in `modulesDir` (the newest
 * by version order when there are several).
 */
export function findHostKernel(options: { bootDir?: string; modulesDir?: string } = {}): HostKernel {
  const bootDir = options.bootDir ?? '/boot';
  const modulesDir = options.modulesDir ?? '/usr/lib/modules';
  const kvers = existsSync(modulesDir) ? readdirSync(modulesDir).filter((k) => existsSync(join(bootDir, `vmlinuz-${k}`))) : [];
  kvers.sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
  const kver = kvers.at(-1);
  if (kver === undefined) {
    throw new BootTestSetupError(`No kernel installed: no ${bootDir}/vmlinuz-KVER with modules in ${modulesDir}/KVER (scripts/setup.sh installs linux-image-cloud-amd64)`);
  }
  return { kver, vmlinuz: join(bootDir, `vmlinuz-${kver}`) };
}

/**
 * dracut's arguments, the kernel version appended. Not host-only (the image boots a virtual
 * machine, not this host); only the modules a boot from a virtio disk through
 * ostree-prepare-root needs, so the image stays small and the boot fast under emulation:
 * systemd as the initramfs init (the ostree module installs a systemd unit), udev to find
 * /dev/vda, the block-device root, ext4, and the virtio drivers (modules in Debian's cloud
 * kernel).
 */
export const DRACUT_ARGS: readonly string[] = [
  '--no-hostonly', '--no-hostonly-cmdline', '--no-early-microcode', '--reproducible', '--force',
  '--modules', 'base systemd systemd-initrd dracut-systemd udev-rules ostree rootfs-block fs-lib',
  '--drivers', 'virtio_pci virtio_blk',
  '--filesystems', 'ext4',
  '--compress', 'zstd',
];

/** The cache directory: MCO_BOOT_TEST_CACHE, else `$XDG_CACHE_HOME/machine-config/boot-test`. */
export function bootTestCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return env['MCO_BOOT_TEST_CACHE'] || join(env['XDG_CACHE_HOME'] || join(homedir(), '.cache'), 'machine-config', 'boot-test');
}

/** Runs a command to its end; rejects with its output's tail when it fails. */
export function run(file: string, args: readonly string[], what: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (out += c));
    child.once('error', (e) => reject(new BootTestSetupError(`${what}: cannot run ${file}: ${e.message}`, { cause: e })));
    child.once('close', (status, signal) => {
      if (status === 0) resolve(out);
      else reject(new BootTestSetupError(`${what}: ${file} exited with ${signal ?? status}:\n${out.split('\n').slice(-20).join('\n')}`));
    });
  });
}

/**
 * The path of an initramfs for `kernel` made by dracut with DRACUT_ARGS, built into the cache
 * when it is not there yet.
 */
export async function cachedInitramfs(kernel: HostKernel, options: { cacheDir?: string; log?: (line: string) => void } = {}): Promise<string> {
  const cacheDir = options.cacheDir ?? bootTestCacheDir();
  const key = createHash('sha256').update(DRACUT_ARGS.join('\0')).digest('hex').slice(0, 12);
  const image = join(cacheDir, `initramfs-${kernel.kver}-${key}.img`);
  if (existsSync(image)) return image;
  mkdirSync(cacheDir, { recursive: true });
  const tmp = `${image}.tmp-${process.pid}`;
  options.log?.(`Building the initramfs for ${kernel.kver} with dracut (once; cached as ${image})`);
  try {
    await run('dracut', [...DRACUT_ARGS, tmp, kernel.kver], `Building the initramfs for kernel ${kernel.kver}`);
    renameSync(tmp, image);
  } finally {
    rmSync(tmp, { force: true });
  }
  return image;
}

/**
 * Generated OS trees for demos and the lab: a few hundred "packages" whose files change
 * between versions, a kernel and initramfs under `usr/lib/modules/KVER/`, `usr/lib/os-release`,
 * default config under `usr/etc`, and the package list rpm-ostree keeps in commit metadata
 * (`rpmostree.rpmdb.pkglist`, `a(sssss)`). Deterministic: the same version always gives the
 * same bytes, so the same tree always gives the same commit.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs/promises';
import { join } from 'node:path';
import type { Variant } from '../ostree/gvariant.js';

export interface FakeOsOptions {
  /** The OS version string, e.g. `46.82.202012051820-0`. */
  version: string;
  /** How many packages the image has. */
  packages?: number;
  /** Packages 0..upgraded-1 get a newer release in this version (relative to generation 0). */
  generation?: number;
  /** How many packages a generation upgrades. */
  upgradedPerGeneration?: number;
  kernelVersion?: string;
}

export interface FakePackage {
  name: string;
  epoch: string;
  version: string;
  release: string;
  arch: string;
}

export interface FakeOs {
  packages: FakePackage[];
  /** Commit metadata: `version` and `rpmostree.rpmdb.pkglist`, in the order rpm-ostree writes them. */
  metadata: [string, Variant][];
}

/** Deterministic filler bytes: looks like text, compresses like text. */
function filler(seed: string, size: number): Buffer {
  const words = createHash('sha256').update(seed).digest('hex').match(/.{1,6}/g)!;
  let text = '';
  for (let i = 0; text.length < size; i++) text += `${words[i % words.length]}${i % 12 === 11 ? '\n' : ' '}`;
  return Buffer.from(text.slice(0, size));
}

export function fakePackages(options: FakeOsOptions): FakePackage[] {
  const count = options.packages ?? 300;
  const upgraded = (options.generation ?? 0) * (options.upgradedPerGeneration ?? 19);
  return Array.from({ length: count }, (_, i) => ({
    name: `pkg-${String(i).padStart(3, '0')}`,
    epoch: '0',
    version: `1.${i % 7}.${i % 3}`,
    // Upgrades cycle through the list so every generation touches different packages.
    release: `${1 + Math.floor(upgraded / count) + (i < upgraded % count ? 1 : 0)}.el8`,
    arch: i % 9 === 0 ? 'noarch' : 'x86_64',
  }));
}

/** Writes the OS tree for `options.version` into `dir` (created; must not exist). */
export async function writeFakeOs(dir: string, options: FakeOsOptions): Promise<FakeOs> {
  const kver = options.kernelVersion ?? '4.18.0-193.el8.x86_64';
  const packages = fakePackages(options);
  const write = async (rel: string, data: string | Buffer, mode = 0o644): Promise<void> => {
    const path = join(dir, rel);
    await fs.mkdir(join(path, '..'), { recursive: true });
    await fs.writeFile(path, data, { mode });
    await fs.chmod(path, mode);
  };
  await fs.mkdir(dir, { recursive: false });
  for (const p of packages) {
    const evr = `${p.version}-${p.release}`;
    await write(`usr/bin/${p.name}`, `#!/bin/sh\necho "${p.name} ${evr}"\n${filler(`${p.name}-${evr}-bin`, 2000)}`, 0o755);
    await write(`usr/lib/${p.name}/lib${p.name}.so.1`, filler(`${p.name}-${evr}-lib`, 8000 + (p.name.length * 997) % 20000), 0o755);
    await write(`usr/share/doc/${p.name}/README`, `${p.name} ${evr}\n${filler(`${p.name}-doc`, 600)}`);
  }
  await write('usr/lib/os-release', `NAME="Red Hat Enterprise Linux CoreOS"\nVERSION="${options.version}"\nID="rhcos"\nPRETTY_NAME="Red Hat Enterprise Linux CoreOS ${options.version} (Ootpa)"\nOSTREE_VERSION='${options.version}'\n`);
  await write(`usr/lib/modules/${kver}/vmlinuz`, filler(`kernel-${kver}`, 64 * 1024), 0o755);
  await write(`usr/lib/modules/${kver}/initramfs.img`, filler(`initramfs-${options.version}`, 32 * 1024));
  await write('usr/etc/hostname', 'localhost\n');
  await write('usr/etc/os-release', '../usr/lib/os-release\n');
  await write('usr/etc/machine-config/release', `${options.version}\n`);
  await fs.symlink('usr/bin', join(dir, 'bin'));
  await fs.symlink('usr/lib', join(dir, 'lib'));
  for (const d of ['boot', 'dev', 'proc', 'run', 'sys', 'sysroot', 'tmp', 'var']) await fs.mkdir(join(dir, d));
  await fs.symlink('sysroot/ostree', join(dir, 'ostree'));
  return {
    packages,
    metadata: [
      ['version', { type: 's', value: options.version }],
      ['rpmostree.rpmdb.pkglist', { type: 'a(sssss)', value: packages.map((p) => [p.name, p.epoch, p.version, p.release, p.arch]) }],
    ],
  };
}

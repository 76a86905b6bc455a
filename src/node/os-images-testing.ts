/**
 * Test-only: two OS versions committed by the real ostree and built into machine-os-content
 * images on a registry, and nodes installed on the first (as a pivot to it would leave them):
 * a sysroot directory and a kernel command line file. Imported by *.test.ts only.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { ok, ostree, runMco } from '../ostree/testing.js';
import { bootSimulatedNode } from '../sysroot/boot.js';
import { removeWithSysroot, writeOsTree } from '../sysroot/sysroot-fixtures.js';
import { PIVOT_ORIGIN_DESCRIPTION } from './pivot.js';

export interface OsImages {
  /** The archive repo both versions were committed to. */
  repo: string;
  /** `HOST/ocp/machine-os-content@sha256:…` of each version. */
  images: { v1: string; v2: string };
  commits: { v1: string; v2: string };
}

export const OS_VERSIONS = { v1: '46.82.202012051820-0', v2: '46.82.202101191342-0' } as const;

/** Builds v1 and v2 (50 small files, 5 of them changed, unless told otherwise) under `dir` and pushes them to `host`. */
export function buildOsImages(dir: string, host: string, shape: { files?: number; changed?: number } = {}): OsImages {
  const files = shape.files ?? 50;
  const changed = shape.changed ?? 5;
  const repo = join(dir, 'build-repo');
  ok(ostree(['init', '--mode=archive', `--repo=${repo}`]), 'ostree init');
  const commits = {} as OsImages['commits'];
  const images = {} as OsImages['images'];
  for (const v of ['v1', 'v2'] as const) {
    const tree = join(dir, `tree-${v}`);
    writeOsTree(tree, { version: OS_VERSIONS[v], kernel: `KERNEL ${v}\n`, etc: { 'app.conf': `a=${v}\n` } });
    for (let i = 0; i < files; i++) fs.writeFileSync(join(tree, 'usr', `pkg-${i}`), `${i < changed ? v : 'same'} ${i}\n`);
    commits[v] = ok(ostree(['commit', `--repo=${repo}`, '-b', 'rhcos', '--timestamp=@1606372800', `--add-metadata-string=version=${OS_VERSIONS[v]}`, tree]), 'commit').stdout.trim();
    const digest = ok(runMco(['image', 'build', '--from-commit', `${repo}:${commits[v]}`, '--to', `${host}/ocp/machine-os-content:${v}`, '--insecure', '-q']), `mco image build ${v}`).stdout.trim();
    assert.match(digest, /^sha256:[0-9a-f]{64}$/);
    images[v] = `${host}/ocp/machine-os-content@${digest}`;
  }
  return { repo, images, commits };
}

export interface TestNode {
  sysroot: string;
  /** The node's kernel command line file (MCO_KERNEL_CMDLINE_FILE). */
  cmdline: string;
}

/**
 * A node installed on v1 in `dir`, then its first boot: by the installer's `mco host rebase`
 * with the pivot origin or, with `installer: 'ostree'`, by the real `ostree admin deploy`.
 */
export async function installNode(dir: string, os: OsImages, options: { installer?: 'mco' | 'ostree' } = {}): Promise<TestNode> {
  const sysroot = join(dir, 'sysroot');
  fs.mkdirSync(sysroot, { recursive: true });
  ok(ostree(['admin', 'init-fs', sysroot]), 'init-fs');
  ok(ostree(['admin', 'os-init', `--sysroot=${sysroot}`, 'rhcos']), 'os-init');
  if (options.installer === 'ostree') {
    ok(ostree(['pull-local', `--repo=${join(sysroot, 'ostree', 'repo')}`, os.repo, os.commits.v1]), 'pull-local v1');
    const origin = join(dir, 'v1.origin');
    fs.writeFileSync(origin, `[origin]\nrefspec=${os.commits.v1}\ncustom-url=pivot://${os.images.v1}\ncustom-description=${PIVOT_ORIGIN_DESCRIPTION}\n`);
    ok(ostree(['admin', 'deploy', `--sysroot=${sysroot}`, '--os=rhcos', '--karg=root=LABEL=root', `--origin-file=${origin}`, os.commits.v1]), 'ostree admin deploy v1');
  } else {
    ok(runMco(['host', 'rebase', `--sysroot=${sysroot}`, `${os.repo}:${os.commits.v1}`, '--os=rhcos', `--custom-origin-url=pivot://${os.images.v1}`, `--custom-origin-description=${PIVOT_ORIGIN_DESCRIPTION}`]), 'install v1');
  }
  const cmdline = join(dir, 'cmdline');
  await bootSimulatedNode(sysroot, cmdline);
  return { sysroot, cmdline };
}

/** Removes a node's directory (deployment directories are immutable, as ostree leaves them). */
export const removeNodeDir = (dir: string): void => removeWithSysroot(dir, join(dir, 'sysroot'));

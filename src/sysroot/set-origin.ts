/**
 * `ostree admin set-origin REMOTE URL [BRANCH]`: points a deployment's upgrades at
 * `REMOTE:BRANCH`, adding the remote to the repo config when it is not there yet. Only the
 * config and the origin file change; no deployment is made.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { KeyFile } from '../ostree/keyfile.js';
import { atomicWrite, splitRefspec } from '../ostree/repo.js';
import { writeOrigin } from './deploy.js';
import { lockSysroot } from './lock.js';
import { loadSysroot, SysrootError } from './sysroot.js';
import type { Deployment, KernelCmdlineReader } from './types.js';

export interface SetOriginOptions {
  /** The branch; default: the deployment's current one. */
  branch?: string;
  /** Which deployment (`--index`); default: the booted one. */
  index?: number;
  /** Options for a remote that is added (`--set=KEY=VALUE`), e.g. `gpg-verify=false`. */
  set?: string[];
  readCmdline?: KernelCmdlineReader;
}

export async function setOrigin(sysroot: string, remote: { name: string; url: string }, options: SetOriginOptions = {}): Promise<{ deployment: Deployment; refspec: string }> {
  const lock = lockSysroot(sysroot, `set-origin ${remote.name}`);
  try {
    const state = await loadSysroot(sysroot, options.readCmdline ? { readCmdline: options.readCmdline } : {});
    let d: Deployment | null | undefined;
    if (options.index !== undefined) {
      d = state.deployments[options.index];
      if (!d) throw new SysrootError(`Invalid index ${options.index}: the sysroot has ${state.deployments.length} deployments`);
    } else {
      d = state.booted;
      if (!d) throw new SysrootError('Not currently booted into an OSTree system: use --index');
    }
    const current = d.origin?.get('origin', 'refspec');
    const branch = options.branch ?? (current !== undefined ? splitRefspec(current)[1] : undefined);
    if (branch === undefined) throw new SysrootError(`Deployment ${d.checksum}.${d.serial} has no origin refspec: give BRANCH`);

    const configPath = join(sysroot, 'ostree', 'repo', 'config');
    const config = KeyFile.parse(readFileSync(configPath, 'utf8'), configPath);
    const group = `remote "${remote.name}"`;
    if (!config.hasGroup(group)) {
      config.set(group, 'url', remote.url);
      for (const kv of options.set ?? []) {
        const eq = kv.indexOf('=');
        if (eq <= 0) throw new SysrootError(`Invalid --set '${kv}': expected KEY=VALUE`);
        config.set(group, kv.slice(0, eq), kv.slice(eq + 1));
      }
      await atomicWrite(configPath, join(sysroot, 'ostree', 'repo', 'tmp'), config.toString(), 0o644);
    }
    const refspec = `${remote.name}:${branch}`;
    const origin = KeyFile.parse(d.origin?.toString() ?? '');
    origin.set('origin', 'refspec', refspec);
    await writeOrigin(sysroot, d, origin);
    return { deployment: d, refspec };
  } finally {
    lock.release();
  }
}

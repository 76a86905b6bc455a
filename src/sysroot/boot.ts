/**
 * What booting pins: the kernel command line a node runs with after booting the default
 * entry, with `ostree=` resolved to the deployment it reached — as ostree-prepare-root does at
 * boot. The bootlink form on a real command line goes stale after the next deploy (cleanup
 * removes the old `ostree/boot.B`), and libostree then finds the booted deployment by inode; a
 * simulated node (tests, the lab) has no such "/", so its command line names the deployment
 * path, which stays valid.
 */
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { compareBlsVersionsDescending, isOstreeEntryName, ostreeKarg, parseBlsEntry, splitKargs, withOstreeKarg } from './bls.js';
import { resolveBootedDeployment, SysrootError } from './sysroot.js';
import { deploymentPath } from './types.js';

/** The command line of booting entry `index` (0: the default) of the sysroot, `ostree=` resolved. */
export async function bootCommandLine(sysroot: string, index = 0): Promise<string> {
  const loader = join(sysroot, 'boot', readlinkSync(join(sysroot, 'boot', 'loader')));
  const entries = readdirSync(join(loader, 'entries')).filter(isOstreeEntryName)
    .map((name) => parseBlsEntry(readFileSync(join(loader, 'entries', name), 'utf8')))
    .sort(compareBlsVersionsDescending);
  const entry = entries[index];
  if (!entry) throw new SysrootError(`No boot entry ${index} in ${join(loader, 'entries')}`);
  const kargs = splitKargs(entry.fields.get('options') ?? '');
  if (ostreeKarg(kargs) === undefined) throw new SysrootError(`Boot entry ${index} in ${loader} has no ostree= argument`);
  const booted = await resolveBootedDeployment(sysroot, kargs.join(' '));
  const path = deploymentPath('/', booted!);
  return withOstreeKarg(kargs, path).join(' ');
}

/**
 * `ostree admin pin INDEX` / `--unpin`: a pinned deployment is never garbage-collected. The
 * mark lives in the origin's transient group; only the origin file changes.
 */
import { KeyFile } from '../ostree/keyfile.js';
import { writeOrigin } from './deploy.js';
import { lockSysroot } from './lock.js';
import { isPinned, loadSysroot, SysrootError } from './sysroot.js';

export async function setPinned(sysroot: string, index: number, pinned: boolean): Promise<{ changed: boolean }> {
  const lock = lockSysroot(sysroot, `pin ${index}`);
  try {
    const state = await loadSysroot(sysroot);
    const d = state.deployments[index];
    if (!d) throw new SysrootError(`Invalid index ${index}: the sysroot has ${state.deployments.length} deployments`);
    if (isPinned(d) === pinned) return { changed: false };
    const origin = KeyFile.parse(d.origin?.toString() ?? '');
    if (pinned) origin.set('libostree-transient', 'pinned', 'true');
    else {
      origin.delete('libostree-transient', 'pinned');
      if (origin.keys('libostree-transient').length === 0) origin.delete('libostree-transient');
    }
    await writeOrigin(sysroot, d, origin);
    return { changed: true };
  } finally {
    lock.release();
  }
}

/**
 * Small file operations the image stores (OCI layouts, the registry's storage) share: a file
 * replaced whole or not at all, and whether a path exists.
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs/promises';
import { dirname, join } from 'node:path';

/**
 * Writes DATA to PATH through a temporary file beside it (same filesystem) and a rename:
 * readers see the old content or the new, never a part. Creates the parent directory.
 */
export async function writeAtomically(path: string, data: Buffer | string): Promise<void> {
  await fs.mkdir(dirname(path), { recursive: true });
  const tmp = join(dirname(path), `.tmp-${process.pid}-${randomBytes(6).toString('hex')}`);
  try {
    await fs.writeFile(tmp, data, { mode: 0o644 });
    await fs.rename(tmp, path);
  } catch (e) {
    await fs.rm(tmp, { force: true });
    throw e;
  }
}

/** Whether PATH exists (a symlink counts, dangling or not); false when a parent is missing or not a directory. */
export async function exists(path: string): Promise<boolean> {
  try {
    await fs.lstat(path);
    return true;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return false;
    throw e;
  }
}

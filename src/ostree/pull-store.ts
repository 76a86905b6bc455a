/**
 * Verifying and storing a content object fetched whole into memory (`.filez` bytes): its
 * header decoded, its content inflated and hashed as ostree names it, and only then written,
 * in the repository's mode. Apart from pull-http.ts so that worker threads (pull-worker.ts)
 * run it without loading the HTTP client.
 */
import { createHash } from 'node:crypto';
import { closeSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { inflateRawSync } from 'node:zlib';
import { decodeArchiveHeader, encodeArchiveHeader, fileChecksumPrefix, isSymlinkMode } from './objects.js';
import { checkStorableMode } from './pull-local.js';
import { STREAM_THRESHOLD, type Repo } from './repo.js';

/** The fetched bytes are not the object they are named after (the message says how). */
export class ContentError extends Error {
  override name = 'ContentError';
}

export interface StoreJob {
  checksum: string;
  raw: Uint8Array;
}

/**
 * Stores `raw` as content object `checksum` once verified; returns the content's size. The
 * caller streams content larger than STREAM_THRESHOLD instead: here it is refused.
 */
export async function storeFetchedContent(repo: Repo, checksum: string, raw: Buffer): Promise<number> {
  const { header, size, dataOffset } = decodeArchiveHeader(raw);
  if (!isSymlinkMode(header.mode) && size > STREAM_THRESHOLD) throw new ContentError(`Content of ${size} bytes is too large to inflate in memory`);
  const data = raw.subarray(dataOffset);
  let content: Buffer;
  if (data.length === 0) content = Buffer.alloc(0);
  else {
    let inflated: { buffer: Buffer; engine: { bytesWritten: number } };
    try {
      // One byte more than announced, so that content longer than its header says shows.
      inflated = inflateRawSync(data, { maxOutputLength: Math.max(1, size + 1), info: true }) as unknown as typeof inflated;
    } catch (e) {
      throw new ContentError(`Corrupted file object: ${(e as Error).message}`, { cause: e });
    }
    content = inflated.buffer;
    if (inflated.engine.bytesWritten !== data.length) {
      throw new ContentError(`Corrupted file object: ${data.length - inflated.engine.bytesWritten} bytes of garbage after the compressed content`);
    }
  }
  if (content.length !== size) throw new ContentError(`Corrupted file object: content is ${content.length} bytes, its header says ${size}`);
  const actual = createHash('sha256').update(fileChecksumPrefix(header)).update(content).digest('hex');
  if (actual !== checksum) throw new ContentError(`Corrupted file object; checksum expected='${checksum}' actual='${actual}'`);
  checkStorableMode(repo, checksum, header);
  if (repo.mode !== 'archive') {
    repo.writeFileObjectSync(checksum, header, content);
    return size;
  }
  // Stored as received when its header is in normal form, else with the header rewritten.
  const canonical = encodeArchiveHeader(header, size);
  const parts = canonical.equals(raw.subarray(0, dataOffset)) ? [raw] : [canonical, data];
  const tmp = repo.tmpName();
  try {
    const fd = openSync(tmp, 'wx', 0o644);
    try {
      for (const b of parts) writeFileSync(fd, b);
    } finally {
      closeSync(fd);
    }
    await repo.publishObject(tmp, 'file', checksum);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
  return size;
}

/**
 * The embedded registry's store: an OCI-layout-like tree that survives restarts.
 *
 *   ROOT/oci-layout, ROOT/blobs/sha256/<hex>          every blob and manifest, once, by digest
 *   ROOT/repositories/<name>/_layers/sha256/<hex>     blob links: which repository may serve which blob
 *   ROOT/repositories/<name>/_manifests/revisions/sha256/<hex>   manifest links (content: media type)
 *   ROOT/repositories/<name>/_manifests/tags/<tag>    the digest the tag names
 *   ROOT/_uploads/<uuid>/{repository,data}            upload sessions in progress
 *
 * Blobs are linked per repository as in distribution, so a manifest is accepted only when its
 * blobs were pushed to (or mounted into) the same repository. Every file is written under a
 * temporary name and renamed into place; a blob is renamed into `blobs/` only after its
 * content hashed to the digest the client named, so two clients pushing the same blob at
 * once both end with the same complete file.
 */
import { createHash, randomUUID, type Hash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import * as fs from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { exists, writeAtomically } from './atomic-file.js';
import { DigestingStream, OciLayout, validateDigest } from './oci-layout.js';

/** Error codes of the distribution API (distribution-spec "Error Codes"). */
export type DistributionErrorCode =
  | 'BLOB_UNKNOWN'
  | 'BLOB_UPLOAD_INVALID'
  | 'BLOB_UPLOAD_UNKNOWN'
  | 'DIGEST_INVALID'
  | 'MANIFEST_BLOB_UNKNOWN'
  | 'MANIFEST_INVALID'
  | 'MANIFEST_UNKNOWN'
  | 'NAME_INVALID'
  | 'NAME_UNKNOWN'
  | 'SIZE_INVALID'
  | 'TAG_INVALID'
  | 'RANGE_INVALID'
  | 'UNSUPPORTED';

/** A refusal the registry reports to its client, in the distribution error shape. */
export class DistributionError extends Error {
  override name = 'DistributionError';
  constructor(
    readonly code: DistributionErrorCode,
    message: string,
    readonly detail: unknown = null,
    /** Further errors of the same response (distribution lists every missing blob of a manifest). */
    readonly others: DistributionError[] = [],
  ) {
    super(message);
  }
}

// distribution's reference grammar for repository names (oci.md §1.1).
const NAME_RE = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$/;
const TAG_RE = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
const UUID_RE = /^[0-9a-f-]{36}$/;

export function validateRepositoryName(name: string): void {
  if (name.length > 255 || !NAME_RE.test(name)) throw new DistributionError('NAME_INVALID', 'invalid repository name', { name });
}

export function validateTag(tag: string): void {
  if (!TAG_RE.test(tag)) throw new DistributionError('TAG_INVALID', 'manifest tag did not match URI', { tag });
}

/** Digests in URLs become paths: anything but `sha256:`/`sha512:` + hex is refused first. */
export function checkDigest(digest: string): void {
  try {
    validateDigest(digest);
  } catch {
    throw new DistributionError('DIGEST_INVALID', 'provided digest did not match uploaded content', { digest });
  }
  // Content is stored and verified by sha256 (what every client sends); sha512 is refused up front.
  if (!digest.startsWith('sha256:')) throw new DistributionError('DIGEST_INVALID', 'only sha256 digests are supported by this registry', { digest });
}

export interface StoredManifest {
  digest: string;
  mediaType: string;
  bytes: Buffer;
}

interface UploadState {
  /** Running hash of `data`; absent after a restart, when the file is hashed again at the end. */
  hash?: Hash;
  size: number;
  /** Operations on one session run one after the other. */
  queue: Promise<unknown>;
}

export class RegistryStorage {
  private readonly uploads = new Map<string, UploadState>();

  private constructor(
    readonly root: string,
    private readonly layout: OciLayout,
  ) {}

  static async open(root: string): Promise<RegistryStorage> {
    const layout = await OciLayout.create(root);
    await fs.mkdir(join(root, 'repositories'), { recursive: true });
    await fs.mkdir(join(root, '_uploads'), { recursive: true });
    return new RegistryStorage(root, layout);
  }

  private repoDir(name: string): string {
    validateRepositoryName(name);
    return join(this.root, 'repositories', name);
  }

  private blobLink(name: string, digest: string): string {
    checkDigest(digest);
    return join(this.repoDir(name), '_layers', ...digest.split(':'));
  }

  private revisionLink(name: string, digest: string): string {
    checkDigest(digest);
    return join(this.repoDir(name), '_manifests', 'revisions', ...digest.split(':'));
  }

  private tagPath(name: string, tag: string): string {
    validateTag(tag);
    return join(this.repoDir(name), '_manifests', 'tags', tag);
  }

  async repositoryExists(name: string): Promise<boolean> {
    return exists(join(this.repoDir(name), '_manifests')).then(async (m) => m || exists(join(this.repoDir(name), '_layers')));
  }

  // ---- blobs

  /** Size of the blob if `name` may serve it. */
  async blobSize(name: string, digest: string): Promise<number | undefined> {
    if (!(await exists(this.blobLink(name, digest)))) return undefined;
    try {
      return (await fs.stat(this.layout.blobPath(digest))).size;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw e;
    }
  }

  openBlob(digest: string, range?: { start: number; end: number }): Readable {
    return createReadStream(this.layout.blobPath(digest), range);
  }

  async linkBlob(name: string, digest: string): Promise<void> {
    await writeAtomically(this.blobLink(name, digest), '');
  }

  /** Removes the blob from `name` (the content stays for other repositories); false if it was not there. */
  async unlinkBlob(name: string, digest: string): Promise<boolean> {
    return removed(this.blobLink(name, digest));
  }

  /** Cross-repository mount: links into `name` a blob that `from` may serve. */
  async mountBlob(name: string, digest: string, from: string): Promise<boolean> {
    if ((await this.blobSize(from, digest)) === undefined) return false;
    await this.linkBlob(name, digest);
    return true;
  }

  // ---- upload sessions

  async startUpload(name: string): Promise<string> {
    validateRepositoryName(name);
    const uuid = randomUUID();
    const dir = join(this.root, '_uploads', uuid);
    await fs.mkdir(dir);
    await fs.writeFile(join(dir, 'repository'), name);
    await fs.writeFile(join(dir, 'data'), '');
    this.uploads.set(uuid, { hash: createHash('sha256'), size: 0, queue: Promise.resolve() });
    return uuid;
  }

  /** Bytes received so far by the session; BLOB_UPLOAD_UNKNOWN if it is not a session of `name`. */
  async uploadSize(name: string, uuid: string): Promise<number> {
    return (await this.session(name, uuid)).size;
  }

  /**
   * Appends a chunk. With `start`, the chunk must begin where the upload ends (the spec's
   * Content-Range rule, which distribution 2.8 does not enforce): otherwise RANGE_INVALID.
   */
  async appendUpload(name: string, uuid: string, body: Readable, start?: number): Promise<number> {
    const state = await this.session(name, uuid);
    return this.serialized(state, async () => {
      if (start !== undefined && start !== state.size) {
        body.resume();
        throw new DistributionError('RANGE_INVALID', `chunk starts at ${start} but the upload has ${state.size} bytes`, { size: state.size });
      }
      const tap = new DigestingStream(state.hash ?? null);
      try {
        await pipeline(body, tap, createWriteStream(join(this.root, '_uploads', uuid, 'data'), { flags: 'a' }));
        state.size += tap.size;
      } catch (e) {
        // A half-written chunk leaves the running hash behind the file: hash it again at the end.
        delete state.hash;
        state.size = (await fs.stat(join(this.root, '_uploads', uuid, 'data'))).size;
        throw e;
      }
      return state.size;
    });
  }

  /** Ends the session: the content must hash to `digest`, then it becomes a blob of `name`. */
  async finishUpload(name: string, uuid: string, digest: string): Promise<number> {
    checkDigest(digest);
    const state = await this.session(name, uuid);
    return this.serialized(state, async () => {
      const data = join(this.root, '_uploads', uuid, 'data');
      const actual = state.hash && digest.startsWith('sha256:') ? `sha256:${state.hash.digest('hex')}` : await hashFile(data, digest);
      if (actual !== digest) {
        await this.cancelUpload(name, uuid);
        throw new DistributionError('DIGEST_INVALID', 'provided digest did not match uploaded content', { digest, actual });
      }
      await fs.rename(data, this.layout.blobPath(digest));
      await this.linkBlob(name, digest);
      await this.cancelUpload(name, uuid);
      return state.size;
    });
  }

  async cancelUpload(name: string, uuid: string): Promise<void> {
    await this.session(name, uuid);
    this.uploads.delete(uuid);
    await fs.rm(join(this.root, '_uploads', uuid), { recursive: true, force: true });
  }

  private async session(name: string, uuid: string): Promise<UploadState> {
    const unknown = new DistributionError('BLOB_UPLOAD_UNKNOWN', 'blob upload unknown to registry', { uuid });
    if (!UUID_RE.test(uuid)) throw unknown;
    const dir = join(this.root, '_uploads', uuid);
    let owner: string;
    try {
      owner = await fs.readFile(join(dir, 'repository'), 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw unknown;
      throw e;
    }
    if (owner !== name) throw unknown;
    let state = this.uploads.get(uuid);
    if (!state) {
      // A session from before a restart: its hash state is gone, its data is not.
      state = { size: (await fs.stat(join(dir, 'data'))).size, queue: Promise.resolve() };
      this.uploads.set(uuid, state);
    }
    return state;
  }

  private serialized<T>(state: UploadState, work: () => Promise<T>): Promise<T> {
    const run = state.queue.then(work);
    state.queue = run.catch(() => undefined); // the next operation waits for this one, failed or not; the caller gets the failure
    return run;
  }

  // ---- manifests and tags

  async putManifest(name: string, bytes: Buffer, mediaType: string, tag?: string): Promise<string> {
    if (tag !== undefined) validateTag(tag);
    const { digest } = await this.layout.putBlob(bytes, mediaType);
    await writeAtomically(this.revisionLink(name, digest), mediaType);
    if (tag !== undefined) await writeAtomically(this.tagPath(name, tag), digest);
    return digest;
  }

  /** The manifest a tag or digest names in `name`, or undefined. */
  async getManifest(name: string, reference: string): Promise<StoredManifest | undefined> {
    let digest = reference;
    if (!reference.includes(':')) {
      const tagged = await readIfExists(this.tagPath(name, reference));
      if (tagged === undefined) return undefined;
      digest = tagged;
    }
    const mediaType = await readIfExists(this.revisionLink(name, digest));
    if (mediaType === undefined) return undefined;
    return { digest, mediaType, bytes: await this.layout.readBlob(digest) };
  }

  /** Deletes a manifest revision and every tag naming it; false if `name` has no such manifest. */
  async deleteManifest(name: string, digest: string): Promise<boolean> {
    if (!(await removed(this.revisionLink(name, digest)))) return false;
    for (const tag of (await this.listTags(name)) ?? []) {
      if ((await readIfExists(this.tagPath(name, tag))) === digest) await removed(this.tagPath(name, tag));
    }
    return true;
  }

  /** Sorted tags of `name`; undefined when the repository does not exist. */
  async listTags(name: string): Promise<string[] | undefined> {
    if (!(await this.repositoryExists(name))) return undefined;
    const tags = await readdirIfExists(join(this.repoDir(name), '_manifests', 'tags'));
    return tags.filter((t) => !t.startsWith('.tmp-')).sort();
  }

  /** Sorted names of every repository. */
  async listRepositories(): Promise<string[]> {
    const found: string[] = [];
    const walk = async (dir: string, prefix: string): Promise<void> => {
      for (const entry of await readdirIfExists(dir)) {
        if (entry === '_layers' || entry === '_manifests') {
          if (!found.includes(prefix)) found.push(prefix);
          continue;
        }
        await walk(join(dir, entry), prefix ? `${prefix}/${entry}` : entry);
      }
    };
    await walk(join(this.root, 'repositories'), '');
    return found.sort();
  }
}

async function hashFile(path: string, digest: string): Promise<string> {
  const algorithm = digest.slice(0, digest.indexOf(':'));
  const hash = createHash(algorithm);
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return `${algorithm}:${hash.digest('hex')}`;
}

async function readIfExists(path: string): Promise<string | undefined> {
  try {
    return await fs.readFile(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw e;
  }
}

async function readdirIfExists(dir: string): Promise<string[]> {
  try {
    return await fs.readdir(dir);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return [];
    throw e;
  }
}

async function removed(path: string): Promise<boolean> {
  try {
    await fs.unlink(path);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw e;
  }
}

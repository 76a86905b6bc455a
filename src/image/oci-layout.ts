/**
 * An OCI image layout directory, as skopeo's `oci:DIR[:REF]` transport reads and writes it:
 * `oci-layout`, `index.json` (manifests named by `org.opencontainers.image.ref.name`) and
 * `blobs/<alg>/<hex>`. Every write goes to a temporary file in the same directory and is
 * renamed into place, so a reader never sees half a blob or half an index; every blob is
 * named by the digest computed while it was written, never by one a caller claims.
 */
import { createHash, randomBytes, type Hash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import * as fs from 'node:fs/promises';
import { join } from 'node:path';
import { Readable, Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { exists, writeAtomically } from './atomic-file.js';
import { isDigest, OCI_INDEX, type Descriptor, type ImageIndex } from './media-types.js';

export class OciLayoutError extends Error {
  override name = 'OciLayoutError';
}

/** The annotation skopeo and the image-spec use to name a manifest in `index.json`. */
export const REF_NAME_ANNOTATION = 'org.opencontainers.image.ref.name';

// image-spec image-layout.md: ref names are components of alphanumerics joined by separators.
const REF_NAME_RE = /^[A-Za-z0-9]+(?:(?:[-._:@+]|--)[A-Za-z0-9]+)*(?:\/[A-Za-z0-9]+(?:(?:[-._:@+]|--)[A-Za-z0-9]+)*)*$/;

/** Throws unless `digest` is `sha256:` + 64 lowercase hex (or sha512 + 128): it becomes a path. */
export function validateDigest(digest: string): void {
  if (!isDigest(digest)) throw new OciLayoutError(`Invalid digest "${digest}": expected sha256: followed by 64 lowercase hex digits`);
}

export function validateRefName(refName: string): void {
  if (!REF_NAME_RE.test(refName)) throw new OciLayoutError(`Invalid image reference name "${refName}" for an OCI layout`);
}

/**
 * Splits skopeo's `oci:DIR[:REF]` (the `oci:` prefix is optional here). As in skopeo, the
 * directory ends at the first colon, so DIR itself cannot contain one.
 */
export function parseOciLayoutReference(text: string): { dir: string; refName?: string } {
  const body = text.startsWith('oci:') ? text.slice(4) : text;
  const colon = body.indexOf(':');
  const dir = colon < 0 ? body : body.slice(0, colon);
  const refName = colon < 0 ? undefined : body.slice(colon + 1);
  if (!dir) throw new OciLayoutError(`Invalid OCI layout reference "${text}": expected oci:DIR[:REF]`);
  if (refName !== undefined) validateRefName(refName);
  return refName === undefined ? { dir } : { dir, refName };
}

/** A temporary name beside its final place (same filesystem, so rename is atomic). */
const tmpBeside = (dir: string): string => join(dir, `.tmp-${process.pid}-${randomBytes(6).toString('hex')}`);

/**
 * Counts the bytes passing through and feeds them to a hash: sha256 unless another is given,
 * none when null (a registry upload whose running hash was lost counts only).
 */
export class DigestingStream extends Transform {
  size = 0;
  constructor(private readonly hash: Hash | null = createHash('sha256')) {
    super();
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.hash?.update(chunk);
    this.size += chunk.length;
    done(null, chunk);
  }
  /** `sha256:HEX` of everything that passed (the default hash only; it can be read once). */
  digest(): string {
    if (!this.hash) throw new Error('DigestingStream: no hash to digest');
    return `sha256:${this.hash.digest('hex')}`;
  }
}

export class OciLayout {
  // index.json updates are read-modify-write: serialized within this process.
  private indexLock: Promise<unknown> = Promise.resolve();

  private constructor(readonly dir: string) {}

  /** Creates the layout (or opens it when it is one already, as skopeo adds to an existing layout). */
  static async create(dir: string): Promise<OciLayout> {
    await fs.mkdir(join(dir, 'blobs', 'sha256'), { recursive: true });
    const layout = new OciLayout(dir);
    if (!(await exists(join(dir, 'oci-layout')))) await writeAtomically(join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
    if (!(await exists(join(dir, 'index.json')))) await layout.writeIndex({ schemaVersion: 2, manifests: [] });
    return OciLayout.open(dir);
  }

  static async open(dir: string): Promise<OciLayout> {
    let marker: unknown;
    try {
      marker = JSON.parse(await fs.readFile(join(dir, 'oci-layout'), 'utf8'));
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') throw new OciLayoutError(`Not an OCI image layout: ${dir} (no oci-layout file)`, { cause: e });
      throw new OciLayoutError(`Invalid OCI image layout ${dir}: oci-layout: ${(e as Error).message}`, { cause: e });
    }
    const version = (marker as { imageLayoutVersion?: unknown })?.imageLayoutVersion;
    if (version !== '1.0.0') throw new OciLayoutError(`Unsupported OCI image layout version ${JSON.stringify(version)} in ${dir}/oci-layout`);
    return new OciLayout(dir);
  }

  blobPath(digest: string): string {
    validateDigest(digest);
    const [alg, hex] = digest.split(':') as [string, string];
    return join(this.dir, 'blobs', alg, hex);
  }

  async hasBlob(digest: string): Promise<boolean> {
    return exists(this.blobPath(digest));
  }

  async putBlob(bytes: Buffer, mediaType: string): Promise<Descriptor> {
    return this.putBlobFromStream(Readable.from([bytes]), mediaType);
  }

  async putBlobFromFile(path: string, mediaType: string): Promise<Descriptor> {
    return this.putBlobFromStream(createReadStream(path), mediaType);
  }

  /**
   * Stores a blob streamed in, named by the digest computed on the way. With `expected`, a
   * digest or size that does not match is refused and nothing is stored.
   */
  async putBlobFromStream(source: Readable, mediaType: string, expected?: { digest: string; size?: number }): Promise<Descriptor> {
    const blobs = join(this.dir, 'blobs', 'sha256');
    await fs.mkdir(blobs, { recursive: true });
    const tmp = tmpBeside(blobs);
    const counter = new DigestingStream();
    try {
      await pipeline(source, counter, createWriteStream(tmp, { mode: 0o644 }));
      const digest = counter.digest();
      if (expected && (expected.digest !== digest || (expected.size !== undefined && expected.size !== counter.size))) {
        throw new OciLayoutError(
          `Blob ${expected.digest} does not match its content (got ${digest}, ${counter.size} bytes${expected.size !== undefined ? ` instead of ${expected.size}` : ''})`,
        );
      }
      await fs.rename(tmp, this.blobPath(digest));
      return { mediaType, digest, size: counter.size };
    } finally {
      await fs.rm(tmp, { force: true });
    }
  }

  /** A blob's bytes, checked against its digest (a layout on disk can be corrupted too). */
  async readBlob(digest: string): Promise<Buffer> {
    let bytes: Buffer;
    try {
      bytes = await fs.readFile(this.blobPath(digest));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new OciLayoutError(`Blob ${digest} is missing from OCI layout ${this.dir}`, { cause: e });
      throw e;
    }
    const actual = `${digest.split(':')[0]}:${createHash(digest.split(':')[0]!).update(bytes).digest('hex')}`;
    if (actual !== digest) throw new OciLayoutError(`Blob ${digest} in OCI layout ${this.dir} is corrupted (its content hashes to ${actual})`);
    return bytes;
  }

  /** A blob as a stream; the caller verifies it (registry pushes and extraction hash as they go). */
  openBlob(digest: string): Readable {
    return createReadStream(this.blobPath(digest));
  }

  async readIndex(): Promise<ImageIndex> {
    const path = join(this.dir, 'index.json');
    let index: ImageIndex;
    try {
      index = JSON.parse(await fs.readFile(path, 'utf8')) as ImageIndex;
    } catch (e) {
      throw new OciLayoutError(`Invalid OCI image layout ${this.dir}: index.json: ${(e as Error).message}`, { cause: e });
    }
    if (index?.schemaVersion !== 2 || !Array.isArray(index.manifests)) throw new OciLayoutError(`Invalid OCI image layout ${this.dir}: index.json is not an image index`);
    return index;
  }

  /**
   * Stores a manifest and lists it in index.json. A manifest already named `refName` loses
   * the name (it is dropped from the index when that was its only name), as skopeo does.
   */
  async addManifest(bytes: Buffer, mediaType: string, refName?: string): Promise<Descriptor> {
    if (refName !== undefined) validateRefName(refName);
    const stored = await this.putBlob(bytes, mediaType);
    const descriptor: Descriptor = refName === undefined ? stored : { ...stored, annotations: { [REF_NAME_ANNOTATION]: refName } };
    await this.updateIndex((index) => {
      const others = index.manifests.filter((m) => {
        if (refName !== undefined) return m.annotations?.[REF_NAME_ANNOTATION] !== refName;
        return !(m.digest === stored.digest && !m.annotations?.[REF_NAME_ANNOTATION]);
      });
      return { ...index, manifests: [...others, descriptor] };
    });
    return descriptor;
  }

  /** The manifest descriptor named `refName`, or the only one when no name is given. */
  async resolve(refName?: string): Promise<Descriptor> {
    const { manifests } = await this.readIndex();
    if (refName !== undefined) {
      const found = manifests.find((m) => m.annotations?.[REF_NAME_ANNOTATION] === refName);
      if (!found) throw new OciLayoutError(`No image named "${refName}" in OCI layout ${this.dir} (names: ${names(manifests)})`);
      return found;
    }
    if (manifests.length === 1) return manifests[0]!;
    if (manifests.length === 0) throw new OciLayoutError(`OCI layout ${this.dir} holds no image`);
    throw new OciLayoutError(`OCI layout ${this.dir} holds ${manifests.length} images: name one with oci:${this.dir}:REF (names: ${names(manifests)})`);
  }

  private async updateIndex(change: (index: ImageIndex) => ImageIndex): Promise<void> {
    const run = this.indexLock.then(async () => this.writeIndex(change(await this.readIndex())));
    this.indexLock = run.catch(() => undefined); // the next update starts after this one, failed or not
    await run;
  }

  private async writeIndex(index: ImageIndex): Promise<void> {
    const body: ImageIndex = { ...index, mediaType: OCI_INDEX };
    await writeAtomically(join(this.dir, 'index.json'), JSON.stringify(body));
  }
}

const names = (manifests: Descriptor[]): string =>
  manifests.map((m) => m.annotations?.[REF_NAME_ANNOTATION] ?? `(unnamed ${m.digest})`).join(', ') || 'none';


/**
 * Layer sources read from local files (an OCI layout's blobs, a `skopeo copy … dir:` copy):
 * the bytes are checked against the descriptor's size and digest while they stream, so a
 * corrupted blob fails the extraction instead of being trusted.
 */
import { createHash, getHashes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { Transform, type TransformCallback } from 'node:stream';
import { ExtractError, type LayerSource } from './extract.js';

export interface BlobDescriptor {
  digest: string;
  mediaType: string;
  size: number;
  diffId?: string;
}

/** A pass-through that errors (naming the blob) when the bytes differ from DIGEST or SIZE. */
export function verifyBlob(digest: string, size: number): Transform {
  const algorithm = digest.slice(0, digest.indexOf(':'));
  if (!['sha256', 'sha512'].includes(algorithm) || !getHashes().includes(algorithm)) {
    throw new ExtractError(`Blob ${digest}: unsupported digest algorithm "${algorithm}"`, { layer: digest });
  }
  const hash = createHash(algorithm);
  let seen = 0;
  return new Transform({
    transform(chunk: Buffer, _enc: BufferEncoding, callback: TransformCallback) {
      seen += chunk.length;
      if (seen > size) return callback(new ExtractError(`Blob ${digest}: longer than its descriptor's size ${size}`, { layer: digest }));
      hash.update(chunk);
      callback(null, chunk);
    },
    flush(callback: TransformCallback) {
      if (seen !== size) return callback(new ExtractError(`Blob ${digest}: ${seen} bytes, its descriptor says ${size}`, { layer: digest }));
      const actual = `${algorithm}:${hash.digest('hex')}`;
      if (actual !== digest) return callback(new ExtractError(`Blob ${digest}: digest mismatch (got ${actual})`, { layer: digest }));
      callback();
    },
  });
}

/** A layer whose blob is the file PATH, verified against DESCRIPTOR as it is read. */
export function layerFromFile(path: string, descriptor: BlobDescriptor): LayerSource {
  return {
    ...descriptor,
    open: async () => createReadStream(path, { highWaterMark: 256 * 1024 }).pipe(verifyBlob(descriptor.digest, descriptor.size)),
  };
}

/**
 * Manifest, index, config and layer media types of the OCI image spec and Docker schema2, the
 * shapes of those documents, and the checks that turn registry bytes into one of them. Pure:
 * no I/O. Schema1 is refused: it cannot be verified by digest.
 */
import { createHash } from 'node:crypto';

export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
export const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
export const OCI_LAYER = 'application/vnd.oci.image.layer.v1.tar';
export const OCI_LAYER_GZIP = 'application/vnd.oci.image.layer.v1.tar+gzip';
export const OCI_LAYER_ZSTD = 'application/vnd.oci.image.layer.v1.tar+zstd';
export const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';
export const DOCKER_MANIFEST_LIST = 'application/vnd.docker.distribution.manifest.list.v2+json';
export const DOCKER_CONFIG = 'application/vnd.docker.container.image.v1+json';
export const DOCKER_LAYER_GZIP = 'application/vnd.docker.image.rootfs.diff.tar.gzip';
const DOCKER_SCHEMA1 = ['application/vnd.docker.distribution.manifest.v1+prettyjws', 'application/vnd.docker.distribution.manifest.v1+json'];

export const IMAGE_MANIFEST_TYPES: readonly string[] = [OCI_MANIFEST, DOCKER_MANIFEST];
export const INDEX_TYPES: readonly string[] = [OCI_INDEX, DOCKER_MANIFEST_LIST];
/**
 * The Accept list for every manifest request. Distribution 2.8 answers 404 for an OCI
 * manifest unless its type is listed, and rewrites schema2 to schema1 (another digest) when
 * no Accept is sent at all.
 */
export const MANIFEST_ACCEPT = [OCI_INDEX, OCI_MANIFEST, DOCKER_MANIFEST_LIST, DOCKER_MANIFEST].join(', ');

/** Layer types the extractor can apply, with the compression each one implies. */
export const LAYER_COMPRESSION: Record<string, 'none' | 'gzip' | 'zstd'> = {
  [OCI_LAYER]: 'none',
  [OCI_LAYER_GZIP]: 'gzip',
  [OCI_LAYER_ZSTD]: 'zstd',
  [DOCKER_LAYER_GZIP]: 'gzip',
  'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip': 'gzip',
  'application/vnd.oci.image.layer.nondistributable.v1.tar': 'none',
  'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip': 'gzip',
  'application/vnd.oci.image.layer.nondistributable.v1.tar+zstd': 'zstd',
};

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
  urls?: string[];
  platform?: Platform & { 'os.version'?: string; 'os.features'?: string[] };
}

export interface ImageManifest {
  schemaVersion: 2;
  mediaType?: string;
  config: Descriptor;
  layers: Descriptor[];
  annotations?: Record<string, string>;
}

export interface ImageIndex {
  schemaVersion: 2;
  mediaType?: string;
  manifests: Descriptor[];
  annotations?: Record<string, string>;
}

export interface ImageConfig {
  architecture?: string;
  os?: string;
  variant?: string;
  created?: string;
  author?: string;
  config?: {
    Labels?: Record<string, string> | null;
    Env?: string[] | null;
    Entrypoint?: string[] | null;
    Cmd?: string[] | null;
    [key: string]: unknown;
  };
  rootfs: { type: 'layers'; diff_ids: string[] };
  history?: { created?: string; created_by?: string; comment?: string; empty_layer?: boolean }[];
  docker_version?: string;
}

/** A manifest, index or config that is not what its media type or digest promised. */
export class ManifestError extends Error {
  override name = 'ManifestError';
}

export function sha256Digest(bytes: Uint8Array): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

/** Computes the digest of BYTES with the algorithm of EXPECTED (`sha256:` or `sha512:`). */
export function digestWithAlgorithmOf(expected: string, bytes: Uint8Array): string {
  const algorithm = expected.slice(0, expected.indexOf(':'));
  return `${algorithm}:${createHash(algorithm).update(bytes).digest('hex')}`;
}

export type ParsedManifest = { kind: 'image'; mediaType: string; manifest: ImageManifest } | { kind: 'index'; mediaType: string; index: ImageIndex };

/** `sha256:` + 64 or `sha512:` + 128 lowercase hex: the only digests that may become request paths and file names. */
export const isDigest = (text: string): boolean => /^(sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128})$/.test(text);

function isDescriptor(d: unknown): d is Descriptor {
  const x = d as Descriptor;
  // The digest becomes part of request paths and file names: only a well-formed one is a descriptor.
  return typeof x === 'object' && x !== null && typeof x.mediaType === 'string' && typeof x.digest === 'string'
    && isDigest(x.digest) && Number.isSafeInteger(x.size) && x.size >= 0;
}

/**
 * Reads manifest bytes whose media type comes from the body's `mediaType`, else the response's
 * Content-Type, else the document's shape. A body and header that disagree are refused: one
 * document must not be readable as two different things.
 */
export function parseManifest(bytes: Buffer, contentType: string | undefined, what: string): ParsedManifest {
  let doc: Record<string, unknown>;
  try {
    doc = JSON.parse(bytes.toString('utf8')) as Record<string, unknown>;
  } catch (e) {
    throw new ManifestError(`${what}: manifest is not JSON (${(e as Error).message})`);
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw new ManifestError(`${what}: manifest is not a JSON object`);
  const header = contentType?.split(';')[0]!.trim();
  const bodyType = typeof doc['mediaType'] === 'string' ? (doc['mediaType'] as string) : undefined;
  const known = (t: string | undefined): boolean => t !== undefined && (IMAGE_MANIFEST_TYPES.includes(t) || INDEX_TYPES.includes(t));
  if (bodyType && known(header) && header !== bodyType) {
    throw new ManifestError(`${what}: served as ${header} but the manifest says mediaType ${bodyType}`);
  }
  const mediaType = bodyType ?? (known(header) ? header! : Array.isArray(doc['manifests']) ? OCI_INDEX : OCI_MANIFEST);
  if (DOCKER_SCHEMA1.includes(mediaType) || doc['schemaVersion'] === 1) {
    throw new ManifestError(`${what}: Docker schema1 manifests are not supported (push the image again as schema2 or OCI)`);
  }
  if (doc['schemaVersion'] !== 2) throw new ManifestError(`${what}: unsupported manifest schemaVersion ${JSON.stringify(doc['schemaVersion'])}`);
  if (INDEX_TYPES.includes(mediaType)) {
    const manifests = doc['manifests'];
    if (!Array.isArray(manifests) || !manifests.every(isDescriptor)) throw new ManifestError(`${what}: ${mediaType} without a valid manifests[] list`);
    return { kind: 'index', mediaType, index: doc as unknown as ImageIndex };
  }
  if (!IMAGE_MANIFEST_TYPES.includes(mediaType)) throw new ManifestError(`${what}: unsupported manifest media type ${mediaType}`);
  if (!isDescriptor(doc['config'])) throw new ManifestError(`${what}: manifest has no valid config descriptor`);
  const layers = doc['layers'];
  if (!Array.isArray(layers) || !layers.every(isDescriptor)) throw new ManifestError(`${what}: manifest has no valid layers[] list`);
  return { kind: 'image', mediaType, manifest: doc as unknown as ImageManifest };
}

/** Parses a config blob and checks it has one diff_id per layer of MANIFEST. */
export function parseImageConfig(bytes: Buffer, manifest: ImageManifest, what: string): ImageConfig {
  let config: ImageConfig;
  try {
    config = JSON.parse(bytes.toString('utf8')) as ImageConfig;
  } catch (e) {
    throw new ManifestError(`${what}: config ${manifest.config.digest} is not JSON (${(e as Error).message})`);
  }
  const diffIds = config?.rootfs?.diff_ids;
  if (!Array.isArray(diffIds)) throw new ManifestError(`${what}: config ${manifest.config.digest} has no rootfs.diff_ids`);
  if (diffIds.length !== manifest.layers.length) {
    throw new ManifestError(`${what}: config lists ${diffIds.length} diff_ids for ${manifest.layers.length} layers`);
  }
  return config;
}

/** The OCI platform of this machine (Node's `process.arch` mapped to GOARCH names). */
export function hostPlatform(arch: string = process.arch): Platform {
  const map: Record<string, string> = { x64: 'amd64', arm64: 'arm64', ppc64: 'ppc64le', s390x: 's390x', arm: 'arm', ia32: '386' };
  return { os: 'linux', architecture: map[arch] ?? arch };
}

export const formatPlatform = (p: Platform): string => `${p.os}/${p.architecture}${p.variant ? `/${p.variant}` : ''}`;

/** Parses `os/arch[/variant]` as `oc --filter-by-os` takes it. */
export function parsePlatform(text: string): Platform {
  const [os, architecture, variant, ...rest] = text.split('/');
  if (!os || !architecture || rest.length > 0 || variant === '') throw new ManifestError(`invalid platform "${text}": expected OS/ARCH[/VARIANT], e.g. linux/amd64`);
  return variant ? { os, architecture, variant } : { os, architecture };
}

/**
 * The entry of an index for PLATFORM: the first image manifest whose os/architecture (and
 * variant, when asked) match. Attestation entries (`unknown/unknown`) never match.
 */
export function selectPlatform(index: ImageIndex, platform: Platform, what: string): Descriptor {
  const images = index.manifests.filter((d) => IMAGE_MANIFEST_TYPES.includes(d.mediaType));
  const match = images.find(
    (d) => d.platform?.os === platform.os && d.platform.architecture === platform.architecture && (!platform.variant || d.platform.variant === platform.variant),
  );
  if (match) return match;
  const available = images.map((d) => (d.platform ? formatPlatform(d.platform) : 'unspecified')).join(', ') || 'none';
  throw new ManifestError(`no image for ${formatPlatform(platform)} in ${what} (available: ${available})`);
}

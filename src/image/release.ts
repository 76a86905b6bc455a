/**
 * OpenShift release payloads (oci.md §7.1–7.2): an image whose last layer holds
 * `release-manifests/image-references`, an ImageStream naming each component image by pull
 * spec, and `release-manifests/release-metadata` (Cincinnati JSON). Building one, reading one
 * back from its last layer only (as `oc adm release info` does), and finding the pull spec of
 * a named component — `machine-os-content` for the OS.
 */
import * as fs from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import tar from 'tar-stream';
import { parse as parseYaml } from 'yaml';
import { buildImage } from './build.js';
import { layerTarStages, type LayerSource } from './extract.js';
import { type Descriptor, type ImageConfig, type Platform } from './media-types.js';

export class ReleaseError extends Error {
  override name = 'ReleaseError';
}

export const RELEASE_LABEL = 'io.openshift.release';
/** Labels of a component image that `oc adm release new` carries into its tag's annotations. */
export const BUILD_ANNOTATIONS = [
  'io.openshift.build.commit.id',
  'io.openshift.build.commit.ref',
  'io.openshift.build.source-location',
  'io.openshift.build.versions',
  'io.openshift.build.version-display-names',
] as const;

export interface ReleaseTag {
  name: string;
  /** The component's pull spec, normally by digest. */
  from: string;
  annotations?: Record<string, string>;
}

export interface ImageStream {
  kind: 'ImageStream';
  apiVersion: 'image.openshift.io/v1';
  metadata: { name: string; creationTimestamp: null };
  spec: {
    lookupPolicy: { local: boolean };
    tags: {
      name: string;
      annotations?: Record<string, string>;
      from: { kind: string; name: string };
      generation: null;
      importPolicy: Record<string, never>;
      referencePolicy: { type: string };
    }[];
  };
  status: { dockerImageRepository: string };
}

export interface ReleaseMetadata {
  kind: 'cincinnati-metadata-v0';
  version: string;
  previous?: string[];
  metadata?: Record<string, unknown>;
}

export interface ReleaseInfo {
  imageReferences: ImageStream;
  metadata?: ReleaseMetadata;
}

const RELEASE_DIR = 'release-manifests';
/** image-references and release-metadata are small documents: never read more than this of one. */
const MAX_PAYLOAD_FILE = 4 * 1024 * 1024;
const TAG_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

/**
 * The component images of MAPPING: `NAME=PULLSPEC` lines (blank lines and `#` comments
 * allowed, as `oc adm release new NAME=PULLSPEC…` takes them), or an ImageStream in YAML or
 * JSON (as `oc adm release new --from-image-stream-file`), whose tag annotations are kept.
 */
export function parseImageMapping(text: string, source: string): ReleaseTag[] {
  const tags = /^\s*[{]|^\s*(apiVersion|kind):/m.test(text) ? tagsOfImageStream(text, source) : tagsOfLines(text, source);
  if (tags.length === 0) throw new ReleaseError(`${source}: no images (expected NAME=PULLSPEC lines or an ImageStream)`);
  const seen = new Set<string>();
  for (const tag of tags) {
    if (!TAG_NAME_RE.test(tag.name)) throw new ReleaseError(`${source}: invalid image name "${tag.name}"`);
    if (seen.has(tag.name)) throw new ReleaseError(`${source}: image "${tag.name}" is named twice`);
    seen.add(tag.name);
  }
  return tags;
}

function tagsOfLines(text: string, source: string): ReleaseTag[] {
  return text.split('\n').flatMap((raw, i) => {
    const line = raw.trim();
    if (!line || line.startsWith('#')) return [];
    const eq = line.indexOf('=');
    if (eq <= 0 || eq === line.length - 1) throw new ReleaseError(`${source}:${i + 1}: expected NAME=PULLSPEC, got "${line}"`);
    return [{ name: line.slice(0, eq).trim(), from: line.slice(eq + 1).trim() }];
  });
}

function tagsOfImageStream(text: string, source: string): ReleaseTag[] {
  const stream = checkImageStream(parseDocument(text, source), source);
  return stream.spec.tags.map((t) => ({ name: t.name, from: t.from.name, ...(t.annotations ? { annotations: t.annotations } : {}) }));
}

function parseDocument(text: string, source: string): unknown {
  try {
    return parseYaml(text);
  } catch (e) {
    throw new ReleaseError(`${source}: not YAML or JSON: ${(e as Error).message}`, { cause: e });
  }
}

/** Checks the ImageStream shape oc requires of image-references ("unrecognized image-references" otherwise). */
function checkImageStream(doc: unknown, source: string): ImageStream {
  const s = doc as Partial<ImageStream> | null;
  if (s?.kind !== 'ImageStream' || s.apiVersion !== 'image.openshift.io/v1') {
    throw new ReleaseError(`unrecognized image-references in release payload (${source}: expected kind ImageStream, apiVersion image.openshift.io/v1)`);
  }
  if (!Array.isArray(s.spec?.tags)) throw new ReleaseError(`${source}: ImageStream has no spec.tags list`);
  for (const t of s.spec.tags) {
    if (typeof t?.name !== 'string' || typeof t.from?.name !== 'string') throw new ReleaseError(`${source}: every spec.tags entry needs a name and from.name`);
  }
  return s as ImageStream;
}

/** The release-wide ImageStream, in the shape `oc adm release new` writes. */
export function releaseImageStream(version: string, tags: ReleaseTag[]): ImageStream {
  return {
    kind: 'ImageStream',
    apiVersion: 'image.openshift.io/v1',
    metadata: { name: version, creationTimestamp: null },
    spec: {
      lookupPolicy: { local: false },
      tags: tags.map((t) => ({
        name: t.name,
        ...(t.annotations && Object.keys(t.annotations).length ? { annotations: t.annotations } : {}),
        from: { kind: 'DockerImage', name: t.from },
        generation: null,
        importPolicy: {},
        referencePolicy: { type: 'Source' },
      })),
    },
    status: { dockerImageRepository: '' },
  };
}

export interface BuildReleaseOptions {
  layoutDir: string;
  refName?: string;
  /** The release version: the ImageStream's name and release-metadata's `version`. */
  version: string;
  previous?: string[];
  tags: ReleaseTag[];
  created?: Date;
  platform?: Platform;
}

/** Builds the release image (one layer: `/release-manifests/`) into an OCI layout. */
export async function buildReleaseImage(options: BuildReleaseOptions): Promise<{ digest: string; descriptor: Descriptor }> {
  if (!options.version) throw new ReleaseError('A release needs a version name');
  const staging = await fs.mkdtemp(join(tmpdir(), 'mco-release-'));
  try {
    const dir = join(staging, RELEASE_DIR);
    await fs.mkdir(dir);
    await fs.writeFile(join(dir, 'image-references'), `${JSON.stringify(releaseImageStream(options.version, options.tags), null, 2)}\n`);
    const metadata: ReleaseMetadata = { kind: 'cincinnati-metadata-v0', version: options.version, previous: options.previous ?? [], metadata: {} };
    await fs.writeFile(join(dir, 'release-metadata'), `${JSON.stringify(metadata, null, 2)}\n`);
    return await buildImage({
      layoutDir: options.layoutDir,
      refName: options.refName,
      layers: [{ dir, prefix: `/${RELEASE_DIR}` }],
      labels: { [RELEASE_LABEL]: options.version },
      created: options.created,
      platform: options.platform,
    });
  } finally {
    await fs.rm(staging, { recursive: true, force: true });
  }
}

/**
 * Reads `release-manifests/image-references` and `release-metadata` from the LAST layer of the
 * release image only, as oc does. `what` names the release in errors.
 */
export async function readReleaseInfo(image: { layers: LayerSource[] }, what: string): Promise<ReleaseInfo> {
  const last = image.layers[image.layers.length - 1];
  if (!last) throw new ReleaseError(`release image ${what} has no layers`);
  const files = await readLayerFiles(last, ['image-references', 'release-metadata'].map((f) => `${RELEASE_DIR}/${f}`), what);
  const references = files.get(`${RELEASE_DIR}/image-references`);
  if (references === undefined) throw new ReleaseError(`release image ${what} did not contain an image-references file`);
  const info: ReleaseInfo = { imageReferences: checkImageStream(parseDocument(references.toString('utf8'), `${what} image-references`), `${what} image-references`) };
  const metadata = files.get(`${RELEASE_DIR}/release-metadata`);
  if (metadata !== undefined) {
    let parsed: ReleaseMetadata;
    try {
      parsed = JSON.parse(metadata.toString('utf8')) as ReleaseMetadata;
    } catch (e) {
      throw new ReleaseError(`invalid release metadata: ${(e as Error).message}`, { cause: e });
    }
    if (parsed?.kind !== 'cincinnati-metadata-v0' || typeof parsed.version !== 'string') {
      throw new ReleaseError(`invalid release metadata: expected kind cincinnati-metadata-v0 with a version, in ${what}`);
    }
    info.metadata = parsed;
  }
  return info;
}

/** `oc adm release info --image-for NAME`: the pull spec of the component named NAME. */
export function imageFor(info: ReleaseInfo, name: string, what: string): string {
  const tag = info.imageReferences.spec.tags.find((t) => t.name === name && t.from.kind === 'DockerImage' && t.from.name);
  if (!tag) throw new ReleaseError(`no image tag "${name}" exists in the release image ${what}`);
  return tag.from.name;
}

/** The regular files WANTED (names without `./` or `/` in front) of a layer, each at most 4 MiB. */
async function readLayerFiles(layer: LayerSource, wanted: string[], what: string): Promise<Map<string, Buffer>> {
  let tarStages: NodeJS.ReadWriteStream[];
  try {
    tarStages = layerTarStages(layer);
  } catch (e) {
    throw new ReleaseError(`release image ${what}: cannot read its last layer ${layer.digest} of type ${layer.mediaType} (expected a tar or gzip tar layer)`, { cause: e });
  }
  const found = new Map<string, Buffer>();
  const extract = tar.extract();
  extract.on('entry', (header, stream, next) => {
    const name = header.name.replace(/^(\.\/|\/)+/, '');
    if (header.type !== 'file' || !wanted.includes(name)) {
      stream.on('end', () => next()).resume();
      return;
    }
    if (header.size !== undefined && header.size > MAX_PAYLOAD_FILE) {
      next(new ReleaseError(`release image ${what}: ${name} is ${header.size} bytes, more than the ${MAX_PAYLOAD_FILE} allowed`));
      return;
    }
    const chunks: Buffer[] = [];
    stream.on('data', (c: unknown) => void chunks.push(c as Buffer));
    stream.on('end', () => {
      found.set(name, Buffer.concat(chunks)); // a later entry of the same name wins, as in tar
      next();
    });
  });
  const blob = await layer.open();
  await pipeline([blob, ...tarStages, extract as unknown as NodeJS.WritableStream]);
  return found;
}

/** The labels of a component image that become its tag's annotations. */
export function buildAnnotations(config: ImageConfig): Record<string, string> {
  const labels = config.config?.Labels ?? {};
  return Object.fromEntries(BUILD_ANNOTATIONS.filter((k) => typeof labels[k] === 'string').map((k) => [k, labels[k]!]));
}

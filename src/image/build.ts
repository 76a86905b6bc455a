/**
 * Builds images into an OCI layout: each layer a gzip tar of a directory (optionally placed
 * under a prefix such as `/srv/repo`), written reproducibly — names sorted bytewise, owners
 * 0:0 with no names, every mtime the image's `created` time, gzip without a timestamp — so the
 * same input gives the same digests on any machine. `buildMachineOsContent` makes the legacy
 * `machine-os-content` shape on top: an archive-mode OSTree repo holding exactly one commit
 * and no refs under `/srv/repo`, `/pkglist.txt`, and the labels MCO reads.
 */
import { randomBytes } from 'node:crypto';
import { createReadStream, lstatSync, readdirSync, readFileSync, readlinkSync, type Stats } from 'node:fs';
import * as fs from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { createGzip, constants as zlibConstants } from 'node:zlib';
import tar from 'tar-stream';
import { commitMetadataValue } from '../ostree/objects.js';
import { pullLocal } from '../ostree/pull-local.js';
import { Repo } from '../ostree/repo.js';
import { hostPlatform, OCI_CONFIG, OCI_LAYER_GZIP, OCI_MANIFEST, type Descriptor, type ImageConfig, type ImageManifest, type Platform } from './media-types.js';
import { DigestingStream, OciLayout } from './oci-layout.js';
import { BUILD_VERSIONS_LABEL, COMMIT_LABEL, VERSION_LABEL } from './os-labels.js';

export class ImageBuildError extends Error {
  override name = 'ImageBuildError';
}

export interface LayerInput {
  /** Directory whose contents become the layer. */
  dir: string;
  /** Where the contents go in the image (default `/`), e.g. `/srv/repo`. */
  prefix?: string;
}

export interface BuildImageOptions {
  layoutDir: string;
  /** Name in the layout's index.json (`org.opencontainers.image.ref.name`). */
  refName?: string;
  layers: LayerInput[];
  labels?: Record<string, string>;
  entrypoint?: string[];
  /** The image's creation time and every file's mtime (default: the epoch, for reproducibility). */
  created?: Date;
  /** Default: linux on the architecture of this machine. */
  platform?: Platform;
}

/** Files at most this big are read in one call; bigger ones are streamed. */
const SMALL_FILE = 1024 * 1024;

/** Builds the image and names it in the layout; returns the manifest's digest and descriptor. */
export async function buildImage(options: BuildImageOptions): Promise<{ digest: string; descriptor: Descriptor }> {
  const created = options.created ?? new Date(0);
  const platform = options.platform ?? hostPlatform();
  const layout = await OciLayout.create(options.layoutDir);
  const layers: Descriptor[] = [];
  const diffIds: string[] = [];
  for (const input of options.layers) {
    const { descriptor, diffId } = await writeLayer(layout, input, created);
    layers.push(descriptor);
    diffIds.push(diffId);
  }
  const iso = created.toISOString().replace(/\.000Z$/, 'Z');
  const config: ImageConfig = {
    created: iso,
    architecture: platform.architecture,
    ...(platform.variant ? { variant: platform.variant } : {}),
    os: platform.os,
    config: {
      ...(options.entrypoint ? { Entrypoint: options.entrypoint } : {}),
      ...(options.labels && Object.keys(options.labels).length ? { Labels: sortedRecord(options.labels) } : {}),
    },
    rootfs: { type: 'layers', diff_ids: diffIds },
    // No source paths here: the same content built from another directory must give the same digest.
    history: options.layers.map((l) => ({ created: iso, created_by: `mco image build${l.prefix ? ` (under ${normalizePrefix(l.prefix) || '/'})` : ''}` })),
  };
  const configDescriptor = await layout.putBlob(Buffer.from(JSON.stringify(config)), OCI_CONFIG);
  const manifest: ImageManifest = { schemaVersion: 2, mediaType: OCI_MANIFEST, config: configDescriptor, layers };
  const descriptor = await layout.addManifest(Buffer.from(JSON.stringify(manifest)), OCI_MANIFEST, options.refName);
  return { digest: descriptor.digest, descriptor };
}

function sortedRecord(record: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(record).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

async function writeLayer(layout: OciLayout, input: LayerInput, mtime: Date): Promise<{ descriptor: Descriptor; diffId: string }> {
  let root: Stats;
  try {
    root = lstatSync(input.dir);
  } catch (e) {
    throw new ImageBuildError(`Cannot read layer directory ${input.dir}: ${(e as Error).message}`, { cause: e });
  }
  if (!root.isDirectory()) throw new ImageBuildError(`Layer source ${input.dir} is not a directory`);
  const prefix = normalizePrefix(input.prefix ?? '/');
  const pack = tar.pack();
  const uncompressed = new DigestingStream();
  const gzip = createGzip({ level: zlibConstants.Z_DEFAULT_COMPRESSION });
  // pack → diff_id hash → gzip → layout (which hashes the compressed bytes): one pass, no buffering.
  const out = new PassThrough();
  pack.pipe(uncompressed).pipe(gzip).pipe(out);
  const stored = layout.putBlobFromStream(out, OCI_LAYER_GZIP);
  // Awaited below; until then a failed write must not become an unhandled rejection.
  stored.catch(() => undefined);
  const fail = (e: Error): void => {
    out.destroy(e);
  };
  pack.on('error', fail);
  uncompressed.on('error', fail);
  gzip.on('error', fail);
  try {
    const parts = prefix ? prefix.split('/') : [];
    for (let i = 1; i < parts.length; i++) await addEntry(pack, { name: `${parts.slice(0, i).join('/')}/`, type: 'directory', mode: 0o755, mtime });
    await packTree(pack, input.dir, prefix, root, mtime);
    pack.finalize();
  } catch (e) {
    out.destroy(e as Error);
    await stored.catch(() => undefined); // the failure that matters is the one thrown below
    throw e;
  }
  const descriptor = await stored;
  return { descriptor, diffId: uncompressed.digest() };
}

/** `/srv/repo/` → `srv/repo`; `/` → ``. Refuses `..` so a layer cannot be aimed outside its root. */
function normalizePrefix(prefix: string): string {
  const parts = prefix.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.includes('..')) throw new ImageBuildError(`Invalid layer prefix "${prefix}": ".." is not allowed`);
  return parts.join('/');
}

/** What varies per entry; owners are always 0:0 without names. */
type EntryHeader = Pick<tar.Header, 'name' | 'type' | 'mode' | 'mtime'> & Partial<Pick<tar.Header, 'size' | 'linkname'>>;

async function addEntry(pack: tar.Pack, header: EntryHeader, content?: Buffer | string): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const entry = pack.entry({ ...header, size: header.size ?? 0, uid: 0, gid: 0, uname: '', gname: '' }, (err) => (err ? reject(err) : resolve()));
    if (typeof content === 'string') createReadStream(content).on('error', reject).pipe(entry);
    else entry.end(content);
  });
}

/** Tars `dir` depth-first in bytewise name order; a file seen again through a hard link becomes a link entry. */
async function packTree(pack: tar.Pack, dir: string, prefix: string, rootStat: Stats, mtime: Date): Promise<void> {
  const links = new Map<string, string>();
  const mode = (s: Stats): number => s.mode & 0o7777;
  if (prefix) await addEntry(pack, { name: `${prefix}/`, type: 'directory', mode: mode(rootStat), mtime });
  const walk = async (abs: string, rel: string): Promise<void> => {
    const names = readdirSync(abs).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
    for (const name of names) {
      const path = join(abs, name);
      const entryName = [prefix, rel, name].filter(Boolean).join('/');
      const st = lstatSync(path);
      if (st.isDirectory()) {
        await addEntry(pack, { name: `${entryName}/`, type: 'directory', mode: mode(st), mtime });
        await walk(path, rel ? `${rel}/${name}` : name);
      } else if (st.isSymbolicLink()) {
        await addEntry(pack, { name: entryName, type: 'symlink', linkname: readlinkSync(path), mode: 0o777, mtime });
      } else if (st.isFile()) {
        const key = `${st.dev}:${st.ino}`;
        const first = st.nlink > 1 ? links.get(key) : undefined;
        if (first !== undefined) {
          await addEntry(pack, { name: entryName, type: 'link', linkname: first, mode: mode(st), mtime });
          continue;
        }
        if (st.nlink > 1) links.set(key, entryName);
        const header: EntryHeader = { name: entryName, type: 'file', mode: mode(st), size: st.size, mtime };
        await addEntry(pack, header, st.size <= SMALL_FILE ? readFileSync(path) : path);
      } else {
        throw new ImageBuildError(`Cannot put ${path} in an image layer: only files, directories and symlinks are supported`);
      }
    }
  };
  await walk(dir, '');
}

// ---- machine-os-content

export interface MachineOsContentOptions {
  /** The OSTree repository holding the commit. */
  repo: string;
  /** A ref or checksum in it. */
  rev: string;
  layoutDir: string;
  refName?: string;
  /** Labels added to (and overriding) the ones derived from the commit. */
  labels?: Record<string, string>;
  /** Default: the commit's timestamp. */
  created?: Date;
  platform?: Platform;
}

/**
 * The legacy `machine-os-content` image of the commit `rev` (oci.md §7.3): `/srv/repo` an
 * archive repo with that one commit and no refs, `/pkglist.txt` the commit's package list,
 * labels `com.coreos.ostree-commit`, `version` and `io.openshift.build.versions`, entrypoint
 * `/noentry`.
 */
export async function buildMachineOsContent(options: MachineOsContentOptions): Promise<{ digest: string; descriptor: Descriptor; commit: string; version?: string }> {
  let source: Repo;
  let commit: string;
  try {
    source = await Repo.open(options.repo);
    commit = await source.resolveRev(options.rev);
  } catch (e) {
    throw new ImageBuildError(`Cannot build machine-os-content from ${options.repo}:${options.rev}: ${(e as Error).message}`, { cause: e });
  }
  const loaded = await source.loadCommit(commit);
  const versionValue = commitMetadataValue(loaded, 'version');
  const version = typeof versionValue === 'string' ? versionValue : undefined;
  const staging = await fs.mkdtemp(join(tmpdir(), `mco-image-build-${randomBytes(3).toString('hex')}-`));
  try {
    const repo = await Repo.init(join(staging, 'srv', 'repo'), { mode: 'archive' });
    await pullLocal(repo, source, { refs: [commit] });
    await fs.writeFile(join(staging, 'pkglist.txt'), packageList(commitMetadataValue(loaded, 'rpmostree.rpmdb.pkglist')));
    const labels: Record<string, string> = {
      [COMMIT_LABEL]: commit,
      ...(version ? { [VERSION_LABEL]: version, [BUILD_VERSIONS_LABEL]: `machine-os=${version}` } : {}),
      ...options.labels,
    };
    const built = await buildImage({
      layoutDir: options.layoutDir,
      refName: options.refName,
      layers: [{ dir: staging }],
      labels,
      entrypoint: ['/noentry'],
      // The commit's own time: the same commit always gives the same image.
      created: options.created ?? new Date(loaded.timestamp * 1000),
      platform: options.platform,
    });
    return { ...built, commit, ...(version ? { version } : {}) };
  } finally {
    await fs.rm(staging, { recursive: true, force: true });
  }
}

/** `rpmostree.rpmdb.pkglist` (`a(sssss)`: name, epoch, version, release, arch) as sorted NEVRA lines. */
function packageList(value: unknown): string {
  if (!Array.isArray(value)) return '';
  const lines = value
    .filter((p): p is string[] => Array.isArray(p) && p.length === 5 && p.every((x) => typeof x === 'string'))
    .map(([name, epoch, ver, release, arch]) => `${name}-${epoch && epoch !== '0' ? `${epoch}:` : ''}${ver}-${release}.${arch}`)
    .sort();
  return lines.length ? `${lines.join('\n')}\n` : '';
}

/**
 * The cluster-local OS content cache's store (`mco os-content serve`): each OS image
 * (machine-os-content: an archive-mode OSTree repo at /srv/repo) pulled from its registry once,
 * by digest, through the safe extractor, and kept as an archive repo under the cache directory
 * for nodes to pull objects from:
 *
 *   DIR/images/sha256:<hex>/        the image's /srv/repo (appears whole, by one rename)
 *   DIR/images/sha256:<hex>.json    what it holds (image, commit, version), written after it
 *
 * A repo directory without its record was left by a crash between the two and is removed when
 * the cache opens. Concurrent requests for one image share one extraction. Nothing here is
 * trusted by the nodes: they check every object against the commit the image's own config
 * names (node/pivot.ts).
 */
import * as fs from 'node:fs';
import { join } from 'node:path';
import { Repo } from '../ostree/repo.js';
import { writeAtomically } from './atomic-file.js';
import { COMMIT_LABEL, VERSION_LABEL } from './os-labels.js';
import { extractLayers, type ExtractLimits } from './extract.js';
import { pullImage } from './pull.js';
import { formatImageReference, parseImageReference } from './reference.js';
import type { RegistryClient } from './registry-client.js';

/** Where the image keeps its OSTree repo (the legacy machine-os-content layout). */
export const IMAGE_REPO_PATH = '/srv/repo';

export interface CachedImage {
  /** The reference it was first asked for by (`HOST/REPO@sha256:…`). */
  image: string;
  /** The image manifest's digest: the name it is served under. */
  digest: string;
  /** The OSTree commit its config's label names (or the repo's single ref, without a label). */
  commit: string;
  version?: string;
  extractedAt: string;
}

export class OsContentCacheError extends Error {
  override name = 'OsContentCacheError';
  /**
   * What the HTTP front answers: 400 for a request to refuse, 403 for an image from a
   * repository the cache does not serve, 502 when the registry or the image failed.
   */
  constructor(message: string, readonly status: 400 | 403 | 404 | 502, options?: ErrorOptions) {
    super(message, options);
  }
}

export interface OsContentCacheOptions {
  cacheDir: string;
  /** Where images are pulled from; a cache opened without one (to prune, to list) pulls nothing. */
  client?: RegistryClient;
  log?: (line: string) => void;
  limits?: Partial<ExtractLimits>;
  now?: () => Date;
  /**
   * The repositories (`HOST/PATH`, as in an image reference before `@`) whose images the cache
   * pulls when a node asks; none given: any. Whoever can reach the cache can otherwise make it
   * pull any image its registry credentials open.
   */
  allowedRepositories?: string[];
}

export type PruneDecision = { remove: CachedImage[]; keep: CachedImage[] } | { refused: string };

/**
 * Which cached images to remove: those whose digest no referenced image names. A reference
 * without a digest cannot be matched to what is cached, so it refuses the whole prune rather
 * than removing an image a pool may still need.
 */
export function decidePrune(cached: CachedImage[], referenced: string[]): PruneDecision {
  const digests = new Set<string>();
  for (const image of referenced) {
    let digest: string | undefined;
    try {
      digest = parseImageReference(image).digest;
    } catch (e) {
      return { refused: `Not pruning: referenced image "${image}" is not an image reference: ${(e as Error).message}` };
    }
    if (!digest) return { refused: `Not pruning: referenced image "${image}" names no digest, so the cached image it means cannot be told` };
    digests.add(digest);
  }
  return { remove: cached.filter((c) => !digests.has(c.digest)), keep: cached.filter((c) => digests.has(c.digest)) };
}

const DIGEST_NAME = /^sha256:[0-9a-f]{64}$/;

export class OsContentCache {
  private readonly imagesDir: string;
  private readonly inFlight = new Map<string, Promise<CachedImage>>();
  /** Completed extractions (a count the lab and the benchmark read: the registry was read this often). */
  extractions = 0;

  private constructor(private readonly options: OsContentCacheOptions) {
    this.imagesDir = join(options.cacheDir, 'images');
  }

  /** Opens (creating) the cache directory, removing repos a crash left without their record. */
  static open(options: OsContentCacheOptions): OsContentCache {
    const cache = new OsContentCache(options);
    fs.mkdirSync(cache.imagesDir, { recursive: true });
    for (const name of fs.readdirSync(cache.imagesDir)) {
      if (DIGEST_NAME.test(name) && !fs.existsSync(cache.recordPath(name))) {
        fs.rmSync(join(cache.imagesDir, name), { recursive: true, force: true });
        options.log?.(`Removed ${join(cache.imagesDir, name)}: an extraction interrupted before its record was written`);
      }
    }
    return cache;
  }

  /** The archive repo of the cached image with this manifest digest (it may not exist). */
  repoPath(digest: string): string {
    if (!DIGEST_NAME.test(digest)) throw new OsContentCacheError(`"${digest}" is not an image digest (sha256:<64 hex digits>)`, 400);
    return join(this.imagesDir, digest);
  }

  private recordPath(digest: string): string {
    return join(this.imagesDir, `${digest}.json`);
  }

  get(digest: string): CachedImage | undefined {
    try {
      return JSON.parse(fs.readFileSync(this.recordPath(digest), 'utf8')) as CachedImage;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw e;
    }
  }

  list(): CachedImage[] {
    return fs.readdirSync(this.imagesDir)
      .filter((n) => n.endsWith('.json') && DIGEST_NAME.test(n.slice(0, -5)))
      .map((n) => this.get(n.slice(0, -5)))
      .filter((c): c is CachedImage => c !== undefined);
  }

  /**
   * The cached image IMAGE (a digest reference) names, pulled and extracted first when it is
   * not cached yet; concurrent calls for one image share one extraction.
   */
  async ensure(image: string): Promise<CachedImage> {
    let ref;
    try {
      ref = parseImageReference(image);
    } catch (e) {
      throw new OsContentCacheError((e as Error).message, 400, { cause: e });
    }
    if (!ref.digest) throw new OsContentCacheError(`Image ${image} names no digest: the cache serves images by digest only (NAME@sha256:DIGEST)`, 400);
    const cached = this.get(ref.digest);
    if (cached) return cached;
    const allowed = this.options.allowedRepositories;
    const repository = `${ref.registry}/${ref.repository}`;
    if (allowed && !allowed.includes(repository)) {
      throw new OsContentCacheError(`Image ${image}: this cache pulls only images of ${allowed.join(', ')}, not of ${repository}`, 403);
    }
    let p = this.inFlight.get(ref.digest);
    if (!p) {
      p = this.extract(formatImageReference(ref), ref.digest).finally(() => this.inFlight.delete(ref.digest!));
      this.inFlight.set(ref.digest, p);
    }
    return p;
  }

  private async extract(image: string, digest: string): Promise<CachedImage> {
    const { log } = this.options;
    const final = this.repoPath(digest);
    log?.(`Pulling ${image} into the cache`);
    const { client } = this.options;
    if (!client) throw new OsContentCacheError(`${image} is not cached, and this cache was opened without a registry client`, 502);
    let pulled;
    try {
      pulled = await pullImage(client, parseImageReference(image));
    } catch (e) {
      throw new OsContentCacheError(`Reading ${image} from its registry: ${(e as Error).message}`, 502, { cause: e });
    }
    // A directory without its record is what a killed extraction leaves: extract it again.
    fs.rmSync(final, { recursive: true, force: true });
    try {
      await extractLayers(pulled.layers, final, {
        paths: [{ source: IMAGE_REPO_PATH, dest: '.' }],
        ...(log ? { log } : {}),
        ...(this.options.limits ? { limits: this.options.limits } : {}),
      });
    } catch (e) {
      throw new OsContentCacheError(`Extracting ${IMAGE_REPO_PATH} of ${image}: ${(e as Error).message}`, 502, { cause: e });
    }
    try {
      const labels = pulled.config.config?.Labels ?? {};
      const commit = labels[COMMIT_LABEL] || (await this.singleRef(final, image));
      const repo = await Repo.open(final);
      if (repo.mode !== 'archive') throw new OsContentCacheError(`${image}: ${IMAGE_REPO_PATH} is a ${repo.mode} repo; only an archive repo can be served`, 502);
      if (!(await repo.hasObject('commit', commit))) throw new OsContentCacheError(`${image}: its ${COMMIT_LABEL} label names commit ${commit}, which ${IMAGE_REPO_PATH} does not hold`, 502);
      const version = labels[VERSION_LABEL] || undefined;
      const record: CachedImage = { image, digest, commit, ...(version ? { version } : {}), extractedAt: (this.options.now?.() ?? new Date()).toISOString() };
      await writeAtomically(this.recordPath(digest), `${JSON.stringify(record, null, 2)}\n`);
      this.extractions++;
      log?.(`Cached ${image}: commit ${commit}${version ? ` (${version})` : ''} served under /images/${digest}/`);
      return record;
    } catch (e) {
      fs.rmSync(final, { recursive: true, force: true });
      if (e instanceof OsContentCacheError) throw e;
      throw new OsContentCacheError(`${image}: ${IMAGE_REPO_PATH}: ${(e as Error).message}`, 502, { cause: e });
    }
  }

  private async singleRef(repoPath: string, image: string): Promise<string> {
    const refs = await (await Repo.open(repoPath)).listRefs();
    if (refs.length !== 1) throw new OsContentCacheError(`${image} has no ${COMMIT_LABEL} label and its repo has ${refs.length} refs: which commit it carries is unknown`, 502);
    return refs[0]![1];
  }

  /** Removes every cached image that no image of REFERENCED names (see decidePrune). */
  prune(referenced: string[]): CachedImage[] {
    const decision = decidePrune(this.list(), referenced);
    if ('refused' in decision) throw new OsContentCacheError(decision.refused, 400);
    for (const c of decision.remove) {
      // The record first: a crash in between leaves a repo without one, removed at the next open.
      fs.rmSync(this.recordPath(c.digest), { force: true });
      fs.rmSync(this.repoPath(c.digest), { recursive: true, force: true });
      this.options.log?.(`Pruned ${c.image} (commit ${c.commit}): no pool references it`);
    }
    return decision.remove;
  }
}

/**
 * `machine-config-daemon pivot IMAGE` (mco.md §6): extract the OS image (legacy
 * machine-os-content: an archive-mode OSTree repo under /srv/repo) into a fresh directory
 * under the host's run/mco-machine-os-content, find the commit from the image's labels (or
 * the repo's single ref), and rebase the node onto it with a `pivot://IMAGE` custom origin —
 * logging the lines the original logs. The new deployment becomes the default boot entry;
 * the node runs it after a reboot. Until that atomic switch, a failure at any step leaves the
 * node booting exactly what it booted, and the extracted content is always removed.
 *
 * With an OS content cache (issue 15) the node moves objects, not the image: the commit named
 * by the label of the image's config (read from the registry by digest: the trust anchor) is
 * pulled from the cache into the node's repo, each object verified against that commit's
 * Merkle tree, and deployed from there. A cache that is down, wrong or lacks the commit costs
 * one warning line and the whole-image flow.
 */
import { existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { COMMIT_LABEL } from '../image/os-labels.js';
import { Repo } from '../ostree/repo.js';
import { rebase, type RebaseResult } from '../sysroot/rebase.js';
import { takeLock } from '../sysroot/lock.js';
import { loadSysroot, pendingDeployment } from '../sysroot/sysroot.js';
import type { CrashPoint } from '../sysroot/swap.js';
import type { Deployment, KernelCmdlineReader } from '../sysroot/types.js';

/** The custom origin description the MCO writes; `rpm-ostree status` shows it as CustomOrigin. */
export const PIVOT_ORIGIN_DESCRIPTION = 'Managed by machine-config-operator';
/** Where the original extracts images: under the host's /run (tmpfs, gone after a reboot; `run/mco-pivot.lock` beside it). */
export const EXTRACT_PARENT = 'run/mco-machine-os-content';

export class PivotError extends Error {
  override name = 'PivotError';
}

/** The image side of a pivot; production pulls from a registry, tests may pass their own. */
export interface OsImageSource {
  /** The image config's labels. */
  labels(image: string): Promise<Record<string, string>>;
  /**
   * Extracts the whole image to `dest`, which must not exist yet: it appears complete, or not
   * at all. Files whose image path `skip` accepts are left out.
   */
  extract(image: string, dest: string, options?: { skip?: (path: string) => boolean }): Promise<void>;
}

export interface CachePull {
  fetchedObjects: number;
  fetchedBytes: number;
  /** Called once the deploy has flushed the filesystem holding `syncedPath` (the sysroot). */
  synced?: (syncedPath: string) => Promise<void>;
}

/** The OS content cache a pivot pulls objects from (production: node/os-content.ts). */
export interface OsContentSource {
  /** The cache's URL, named in log lines. */
  url: string;
  /**
   * Pulls exactly COMMIT, the commit IMAGE's config names, from the cache into the repo at
   * REPOPATH, every object verified against the commit's tree before it is stored; a pull cut
   * short resumes, fetching only what is missing. What it stored may not be durable yet:
   * `synced`, when given, is called once the deploy has flushed the sysroot's filesystem.
   */
  pullCommit(image: string, commit: string, repoPath: string): Promise<CachePull>;
}

export interface PivotEffects {
  source: OsImageSource;
  /** When given, objects are pulled from this cache, and the whole image only when that fails. */
  osContent?: OsContentSource;
  /** One line per step, as the daemon logs them. */
  log: (line: string) => void;
  /** Why the cache was not used (default: `log`); the daemon logs it as a warning. */
  warn?: (line: string) => void;
  /** What `--reboot` does (production: `systemctl reboot`). */
  reboot?: () => Promise<void>;
  readCmdline?: KernelCmdlineReader;
  crashPoint?: CrashPoint;
  /** Waits between extraction attempts; tests pass a quick one. */
  sleep?: (ms: number) => Promise<void>;
  /** Runs `work` at idle I/O priority where the host allows it (the original's `nice ionice -c 3`). */
  idleIo?: <T>(work: () => Promise<T>) => Promise<T>;
}

export interface PivotOptions {
  reboot?: boolean;
  /** Backoff before the 2nd, 3rd… extraction attempt (the original: 5 s, then 10 s). */
  retryDelaysMs?: number[];
}

export type PivotResult =
  | { changed: false }
  | { changed: true; checksum: string; version: string | undefined; rebase: RebaseResult };

/** `pivot://IMAGE` of a deployment's custom origin, if it has one. */
export function pivotImageOf(d: Deployment | null): string | undefined {
  const url = d?.origin?.get('origin', 'custom-url');
  return url?.startsWith('pivot://') ? url.slice('pivot://'.length) : undefined;
}

function previousOriginLine(d: Deployment | null): string {
  const url = d?.origin?.get('origin', 'custom-url');
  if (url === undefined) return 'Current origin is not custom';
  return url.startsWith('pivot://') ? `Previous pivot: ${url.slice('pivot://'.length)}` : `Previous custom origin: ${url}`;
}

/** A fresh `os-content-NNNN` name under `parent` (digits, as Go's TempDir makes them). */
function freshExtractDir(parent: string): string {
  for (;;) {
    const dir = join(parent, `os-content-${Math.floor(Math.random() * 1e9)}`);
    if (!existsSync(dir)) return dir;
  }
}

/**
 * The image's OSTree objects the node's repository already holds (content `.filez` in the
 * image's archive repo is `.file` in the node's bare one; dirtree and dirmeta objects are the
 * same in both): extracting them would only be thrown away by the pull, which reads what it
 * walks from the node's copy. With a few percent of an OS changed between versions, this is
 * most of the image's files. Each object directory of the node is listed once.
 */
function objectsTheNodeHas(sysroot: string): (path: string) => boolean {
  const objects = join(sysroot, 'ostree', 'repo', 'objects');
  const listed = new Map<string, Set<string>>();
  return (path) => {
    const m = /^srv\/repo\/objects\/([0-9a-f]{2})\/([0-9a-f]{62})\.(filez|dirtree|dirmeta)$/.exec(path);
    if (!m) return false;
    let names = listed.get(m[1]!);
    if (!names) {
      names = new Set(existsSync(join(objects, m[1]!)) ? readdirSync(join(objects, m[1]!)) : []);
      listed.set(m[1]!, names);
    }
    return names.has(`${m[2]}.${m[3] === 'filez' ? 'file' : m[3]}`);
  };
}

async function extractWithRetries(image: string, dest: string, effects: PivotEffects, delays: number[], skip: (path: string) => boolean): Promise<void> {
  const sleep = effects.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const idle = effects.idleIo ?? ((work) => work());
  for (let attempt = 0; ; attempt++) {
    try {
      await idle(() => effects.source.extract(image, dest, { skip }));
      return;
    } catch (e) {
      rmSync(dest, { recursive: true, force: true });
      const delay = delays[attempt];
      if (delay === undefined) throw new PivotError(`Extracting ${image} failed after ${attempt + 1} attempts: ${(e as Error).message}`, { cause: e });
      effects.log(`Extracting ${image} failed (attempt ${attempt + 1}): ${(e as Error).message}; retrying in ${delay / 1000} s`);
      await sleep(delay);
    }
  }
}

/** The commit to deploy: the image's label, else the single ref of the image's repo. */
async function commitOf(repoPath: string, labels: Record<string, string>, image: string, log: (line: string) => void): Promise<{ checksum: string; version: string | undefined }> {
  const version = labels['version'] || undefined;
  const labelled = labels[COMMIT_LABEL];
  if (labelled) {
    log(version ? `Pivoting to: ${version} (${labelled})` : `Pivoting to: ${labelled}`);
    return { checksum: labelled, version };
  }
  log(`No ${COMMIT_LABEL} label found in metadata! Inspecting...`);
  const repo = await Repo.open(repoPath).catch((e: Error) => {
    throw new PivotError(`${image} holds no OSTree repository at /srv/repo: ${e.message}`, { cause: e });
  });
  const refs = await repo.listRefs();
  if (refs.length === 0) throw new PivotError(`No refs found in repo (${image}, /srv/repo)`);
  if (refs.length > 1) throw new PivotError(`multiple refs found in repo (${image}, /srv/repo): ${refs.map(([ref]) => ref).join(', ')}`);
  return { checksum: refs[0]![1], version };
}

/**
 * Pivots the node at `sysroot` to `image`. Already there (the booted or pending deployment's
 * origin is `pivot://IMAGE`): changes nothing.
 */
export async function pivot(sysroot: string, image: string, effects: PivotEffects, options: PivotOptions = {}): Promise<PivotResult> {
  const { log } = effects;
  // Known before anything changes: a pivot must not fail after making the new deployment the default.
  if (options.reboot && !effects.reboot) throw new PivotError('--reboot: no way to reboot this host was given');
  const state = await loadSysroot(sysroot, effects.readCmdline ? { readCmdline: effects.readCmdline } : {});
  // Offline (nothing booted, as in an installer or a test), the default entry is the reference.
  const booted = state.booted ?? state.deployments[0] ?? null;
  log(previousOriginLine(booted));
  const pending = state.booted ? pendingDeployment(state) : null;
  if (pivotImageOf(pending ?? booted) === image) {
    log('No changes; already at target oscontainer');
    return { changed: false };
  }

  const parent = join(sysroot, EXTRACT_PARENT);
  mkdirSync(parent, { recursive: true, mode: 0o755 });
  // One pivot at a time: holding this, whatever else is under the parent was left by a dead one.
  const lock = takeLock(join(sysroot, 'run', 'mco-pivot.lock'), `pivot ${image}`, sysroot);
  try {
    removeLeftovers(parent, log);
    return await pivotLocked(sysroot, image, effects, options, parent);
  } finally {
    lock.release();
  }
}

/** Extraction directories of pivots that were killed (`os-content-N`, and the extractor's staging). */
function removeLeftovers(parent: string, log: (line: string) => void): void {
  for (const name of readdirSync(parent)) {
    if (!/^\.?os-content-\d+(\.partial-.+)?$/.test(name)) continue;
    rmSync(join(parent, name), { recursive: true, force: true });
    log(`Removed ${join(parent, name)}, left by an interrupted pivot`);
  }
}

async function pivotLocked(sysroot: string, image: string, effects: PivotEffects, options: PivotOptions, parent: string): Promise<PivotResult> {
  const { log } = effects;
  const dir = freshExtractDir(parent);
  try {
    const labels = await effects.source.labels(image).catch((e: Error) => {
      throw new PivotError(`Reading the labels of ${image}: ${e.message}`, { cause: e });
    });
    const hostRepo = join(sysroot, 'ostree', 'repo');
    let repoPath = hostRepo;
    const fromCache = await pullFromCache(image, labels, hostRepo, effects);
    if (!fromCache) {
      await extractWithRetries(image, dir, effects, options.retryDelaysMs ?? [5000, 10000], objectsTheNodeHas(sysroot));
      repoPath = join(dir, 'srv', 'repo');
    }
    const { checksum, version } = await commitOf(repoPath, labels, image, log);
    const customOriginUrl = `pivot://${image}`;
    log(`Executing rebase from repo path ${repoPath} with customImageURL ${customOriginUrl} and checksum ${checksum}`);
    let result: RebaseResult;
    try {
      result = await rebase(sysroot, `${repoPath}:${checksum}`, {
        customOriginUrl,
        customOriginDescription: PIVOT_ORIGIN_DESCRIPTION,
        ...(effects.readCmdline ? { readCmdline: effects.readCmdline } : {}),
        ...(effects.crashPoint ? { crashPoint: effects.crashPoint } : {}),
      });
    } catch (e) {
      throw new PivotError(`Rebasing to ${checksum} from ${image}: ${(e as Error).message}`, { cause: e });
    }
    if (fromCache) {
      // The deploy synced the sysroot. Marks left behind only make the next pull re-check what
      // it finds: no reason to fail a pivot that is done.
      await fromCache.synced?.(sysroot).catch((e: Error) => (effects.warn ?? log)(`Could not drop the pull's marks in ${hostRepo} (the next pull re-checks the objects it finds): ${e.message}`));
      log(`Fetched ${fromCache.fetchedObjects} objects (${fromCache.fetchedBytes} bytes) new to the node's repository from the OS content cache ${effects.osContent!.url}`);
    } else {
      const p = result.pulled;
      log(`Imported ${p.metadata} metadata and ${p.content} content objects (${p.contentBytes} bytes) new to the node's repository`);
    }
    if (result.etc) log(result.etc);
    const d = result.deployment;
    log(`Deployed ${d.osname} ${d.checksum}.${d.serial} as the default; it boots at the next reboot`);
    if (options.reboot && effects.reboot) {
      log(`Rebooting into ${version ?? checksum}`);
      await effects.reboot();
    }
    return { changed: true, checksum, version, rebase: result };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * The object path: the commit the image's label names, pulled from the cache into the node's
 * repo. Null (after one warning naming the cache, the image and why) when the cache is not
 * configured, the image names no commit, or the pull fails: the caller takes the whole image.
 * Objects a failed pull stored were verified, so they stay; the extraction then skips them.
 */
async function pullFromCache(image: string, labels: Record<string, string>, hostRepo: string, effects: PivotEffects): Promise<CachePull | null> {
  const cache = effects.osContent;
  if (!cache) return null;
  const warn = effects.warn ?? effects.log;
  const commit = labels[COMMIT_LABEL];
  if (!commit) {
    warn(`Not using the OS content cache ${cache.url} for ${image}: its config has no ${COMMIT_LABEL} label to verify the cache's objects against; pulling the whole image`);
    return null;
  }
  const idle = effects.idleIo ?? ((work) => work());
  try {
    return await idle(() => cache.pullCommit(image, commit, hostRepo));
  } catch (e) {
    warn(`Pulling ${image} (commit ${commit}) from the OS content cache ${cache.url} failed; pulling the whole image instead: ${(e as Error).message}`);
    return null;
  }
}

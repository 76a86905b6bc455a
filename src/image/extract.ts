/**
 * Safe extraction of image layers, as `oc image extract --path /SRC:DEST` does it, for
 * images that may be hostile: each layer is streamed (blob → gunzip → byte budget → tar
 * parser) into a private staging directory beside DEST through StagingTree, which never
 * follows a symlink; whiteouts and opaque directories are applied across layers in order; and
 * DEST appears (by one rename) only when every layer is in. Any failure removes the staging
 * directory and leaves DEST as it was. See reference/oci.md §5.
 */
import { createHash, type Hash } from 'node:crypto';
import * as fs from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { Transform, type Readable, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import type * as tar from 'tar-stream';
import type { Xattr } from '../ostree/objects.js';
import { isAlive } from '../ostree/process.js';
import { LAYER_COMPRESSION } from './media-types.js';
import { StagingTree, type EntryMeta, type FileSink, type TreeOptions } from './extract-tree.js';
import { tarParser } from './tar-pax.js';

export interface LayerSource {
  digest: string;
  mediaType: string;
  size: number;
  /** The layer's `rootfs.diff_ids` entry: when given, the uncompressed tar is checked against it. */
  diffId?: string;
  /** The blob as stored (compressed); the opener verifies its digest: the stream errors on mismatch. */
  open(): Promise<Readable>;
}

export interface ExtractLimits {
  /** Uncompressed tar bytes over all layers. */
  maxBytes: number;
  /** Tar entries over all layers. */
  maxEntries: number;
}

/** Generous enough for a whole OS image; a decompression bomb stops here while streaming. */
export const DEFAULT_EXTRACT_LIMITS: ExtractLimits = { maxBytes: 32 * 2 ** 30, maxEntries: 2_000_000 };

export interface ExtractOptions {
  /**
   * Like `oc image extract --path /SRC:DEST`: only entries under SRC, re-rooted at DEST
   * (relative DESTs are resolved against the `dest` argument). Default: the whole image into `dest`.
   */
  paths?: { source: string; dest: string }[];
  limits?: Partial<ExtractLimits>;
  /** chown to the image's owners, keep setuid/setgid, apply xattrs. Default: when running as root. */
  preserveOwnership?: boolean;
  /** Create device nodes and FIFOs; when false they are refused. Default: when running as root. */
  devices?: boolean;
  log?: (line: string) => void;
  /**
   * Regular files whose image path (relative: `srv/repo/objects/ab/….filez`) it accepts are
   * read past, not written. Only for content-addressed paths, where a copy the caller already
   * has is as good as the image's (a pivot skips the OSTree objects its node holds).
   */
  skip?: (path: string) => boolean;
}

export class ExtractError extends Error {
  override name = 'ExtractError';
  readonly entry?: string;
  readonly layer?: string;
  constructor(message: string, context: { layer?: string; entry?: string; cause?: unknown } = {}) {
    super(message, context.cause === undefined ? undefined : { cause: context.cause });
    if (context.layer !== undefined) this.layer = context.layer;
    if (context.entry !== undefined) this.entry = context.entry;
  }
}

const ZSTD_MAGIC = Buffer.from([0x28, 0xb5, 0x2f, 0xfd]);
const GZIP_MAGIC = Buffer.from([0x1f, 0x8b]);

/** One `--path` mapping being extracted: entries under SOURCE go to STAGING, later renamed to FINAL. */
interface Target {
  source: string;
  final: string;
  staging: string;
  tree: StagingTree;
  /** DEST before the extraction: an empty directory (its mode), or nothing. */
  existed: { mode: number } | null;
}

/** What the caller's `skip` accepted, and the paths it skipped (a hard link to one is skipped too, or refused). */
interface Skipped {
  accepts: (path: string) => boolean;
  paths: Set<string>;
}

interface Budget {
  limits: ExtractLimits;
  bytes: number;
  entries: number;
}

/**
 * Applies LAYERS in order and moves the result into place. Returns the entries and
 * uncompressed bytes read.
 */
export async function extractLayers(layers: LayerSource[], dest: string, options: ExtractOptions = {}): Promise<{ entries: number; bytes: number }> {
  const isRoot = process.getuid?.() === 0;
  const treeOptions = { preserveOwnership: options.preserveOwnership ?? isRoot, devices: options.devices ?? isRoot };
  const budget: Budget = { limits: { ...DEFAULT_EXTRACT_LIMITS, ...options.limits }, bytes: 0, entries: 0 };
  const mappings = options.paths ?? [{ source: '/', dest: '.' }];
  if (mappings.length === 0) throw new ExtractError('No --path mapping given');
  const finals = mappings.map((m) => resolve(dest, m.dest));
  refuseOverlaps(mappings, finals);
  const targets: Target[] = [];
  const skipped = options.skip ? { accepts: options.skip, paths: new Set<string>() } : undefined;
  try {
    for (const [i, m] of mappings.entries()) targets.push(createTarget(normalizeSource(m.source), finals[i]!, treeOptions, options.log));
    for (const [i, layer] of layers.entries()) {
      for (const t of targets) t.tree.beginLayer();
      await applyLayer(layer, targets, budget, skipped);
      options.log?.(`Extracted layer ${i + 1}/${layers.length} ${layer.digest} (${budget.entries} entries, ${(budget.bytes / 2 ** 20).toFixed(1)} MiB so far)`);
    }
    for (const t of targets) t.tree.finish();
    moveAllIntoPlace(targets);
  } catch (e) {
    for (const t of targets) fs.rmSync(t.staging, { recursive: true, force: true });
    if (e instanceof ExtractError) throw e;
    throw new ExtractError((e as Error).message, { cause: e });
  }
  return { entries: budget.entries, bytes: budget.bytes };
}

function normalizeSource(source: string): string {
  if (!source.startsWith('/')) throw new ExtractError(`Invalid --path source "${source}": it must be an absolute path in the image, e.g. /srv/repo`);
  const parts = source.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.includes('..')) throw new ExtractError(`Invalid --path source "${source}": ".." is not allowed`);
  return parts.join('/');
}

/**
 * Two mappings into the same directory, or one inside the other, would have one rename
 * replace or break the other's tree: refused before anything is written.
 */
function refuseOverlaps(mappings: { source: string; dest: string }[], finals: string[]): void {
  for (let i = 0; i < finals.length; i++) {
    for (let j = i + 1; j < finals.length; j++) {
      const [a, b] = [finals[i]!, finals[j]!];
      if (a === b || b.startsWith(`${a}/`) || a.startsWith(`${b}/`) || a === '/' || b === '/') {
        const how = a === b ? 'the same directory' : 'one inside the other';
        throw new ExtractError(`--path ${mappings[i]!.source}:${mappings[i]!.dest} and --path ${mappings[j]!.source}:${mappings[j]!.dest} extract into ${how} (${a}, ${b}); give each mapping its own destination`);
      }
    }
  }
}

/** `.DEST.partial-PID-XXXXXX`: the staging directory of an extraction into DEST by process PID. */
const stagingPrefix = (final: string): string => `.${basename(final)}.partial-`;

/**
 * Removes staging directories beside FINAL left by extractions that were killed (SIGKILL, a
 * crash, a power cut): those of processes that no longer run, and any of an unknown form.
 */
function removeStaleStaging(final: string, log: ((line: string) => void) | undefined): void {
  const prefix = stagingPrefix(final);
  for (const name of fs.readdirSync(dirname(final))) {
    if (!name.startsWith(prefix)) continue;
    const pid = Number(/^(\d+)-/.exec(name.slice(prefix.length))?.[1]);
    if (Number.isSafeInteger(pid) && pid > 0 && isAlive(pid)) continue;
    fs.rmSync(join(dirname(final), name), { recursive: true, force: true });
    log?.(`Removed ${join(dirname(final), name)}, the staging directory of an interrupted extraction`);
  }
}

/**
 * DEST must not exist, or be an empty directory (MCO hands `oc image extract` a fresh temp
 * dir); the staging directory sits beside it so the final rename stays on one filesystem.
 */
function createTarget(source: string, final: string, treeOptions: TreeOptions, log: ((line: string) => void) | undefined): Target {
  const st = fs.statSync(final, { throwIfNoEntry: false });
  if (st && !st.isDirectory()) throw new ExtractError(`Destination ${final} exists and is not a directory`);
  if (st && fs.readdirSync(final).length > 0) throw new ExtractError(`Destination ${final} is not empty`);
  if (!fs.statSync(dirname(final), { throwIfNoEntry: false })?.isDirectory()) {
    throw new ExtractError(`Parent directory of destination ${final} does not exist`);
  }
  removeStaleStaging(final, log);
  const staging = fs.mkdtempSync(join(dirname(final), `${stagingPrefix(final)}${process.pid}-`));
  const tree = new StagingTree(staging, treeOptions);
  tree.setRootDefault({ mode: st ? st.mode & 0o7777 : 0o755, uid: st?.uid ?? 0, gid: st?.gid ?? 0, mtime: st?.mtime ?? new Date(), xattrs: [] });
  return { source, final, staging, tree, existed: st ? { mode: st.mode & 0o7777 } : null };
}

/**
 * Renames every staging tree over its DEST, all or nothing: when one rename fails, those done
 * are moved back to staging (and an empty DEST that was there is made again).
 */
function moveAllIntoPlace(targets: Target[]): void {
  for (const [i, t] of targets.entries()) {
    try {
      // rename(2) replaces an empty directory atomically; a non-empty one fails (ENOTEMPTY).
      fs.renameSync(t.staging, t.final);
    } catch (e) {
      const failure = `Cannot move the extracted tree into ${t.final}: ${(e as Error).message}`;
      for (const done of targets.slice(0, i).reverse()) {
        try {
          fs.renameSync(done.final, done.staging);
          if (done.existed) {
            fs.mkdirSync(done.final);
            fs.chmodSync(done.final, done.existed.mode);
          }
        } catch (undo) {
          throw new ExtractError(`${failure}; and ${done.final}, already in place, could not be taken back: ${(undo as Error).message}`, { cause: e });
        }
      }
      throw new ExtractError(failure, { cause: e });
    }
  }
}

async function applyLayer(layer: LayerSource, targets: Target[], budget: Budget, skipped: Skipped | undefined): Promise<void> {
  const fail = (message: string, cause?: unknown): ExtractError => new ExtractError(`Layer ${layer.digest}: ${message}`, { layer: layer.digest, cause });
  const tarStages = layerTarStages(layer);
  const meter = new UncompressedMeter(layer, budget);
  const { parser, takeXattrs } = tarParser();
  let current: { name: string; sinks: FileSink[] } | undefined;
  parser.on('entry', (header, body, next) => {
    const name = header.name;
    const xattrs = takeXattrs();
    const abort = (e: unknown): void => {
      for (const s of current?.sinks ?? []) s.abort();
      body.resume();
      parser.destroy(e instanceof ExtractError ? e : new ExtractError(`Layer ${layer.digest}: entry "${name}": ${(e as Error).message}`, { layer: layer.digest, entry: name, cause: e }));
    };
    // When the parser dies mid-entry it destroys the body with the same error, which the
    // pipeline already reports: the body's copy needs a listener, not a second report.
    body.on('error', () => undefined);
    try {
      if (++budget.entries > budget.limits.maxEntries) {
        throw new Error(`more than ${budget.limits.maxEntries} entries in the image (raise the limit with --max-entries if the image is trusted)`);
      }
      const sinks = applyEntry(header, xattrs, targets, skipped);
      current = { name, sinks };
      if (sinks.length === 0) {
        body.on('end', () => next()).resume();
        return;
      }
      body.on('data', (chunk) => {
        try {
          for (const s of sinks) s.write(chunk as Buffer);
        } catch (e) {
          abort(e);
        }
      });
      body.on('end', () => {
        try {
          for (const s of sinks) s.close();
          current = undefined;
          next();
        } catch (e) {
          abort(e);
        }
      });
    } catch (e) {
      abort(e);
    }
  });
  let source: Readable;
  try {
    source = await layer.open();
  } catch (e) {
    throw fail((e as Error).message, e);
  }
  // tar-stream's parser is a streamx Writable, which node's pipeline drives like its own.
  const stages: (NodeJS.ReadableStream | NodeJS.WritableStream)[] = [source, ...tarStages, meter, parser as unknown as NodeJS.WritableStream];
  try {
    await pipeline(stages);
  } catch (e) {
    for (const s of current?.sinks ?? []) s.abort();
    if (e instanceof ExtractError) throw e;
    throw fail(describeStreamError(e as Error), e);
  }
  meter.checkDiffId();
}

/**
 * The stages that turn LAYER's blob (as stored) into its tar: a check of the first bytes
 * against the media type, then gunzip when it is compressed. ExtractError for a media type
 * that is not a tar or a gzip tar (zstd included: Node 20 has none).
 */
export function layerTarStages(layer: LayerSource): NodeJS.ReadWriteStream[] {
  const compression = LAYER_COMPRESSION[layer.mediaType];
  const fail = (message: string): ExtractError => new ExtractError(`Layer ${layer.digest}: ${message}`, { layer: layer.digest });
  if (compression === undefined) throw fail(`unsupported layer media type ${layer.mediaType}`);
  if (compression === 'zstd') throw fail('zstd-compressed layers are not supported (Node 20 has no zstd; push the image with gzip layers)');
  const stages: NodeJS.ReadWriteStream[] = [new MagicCheck(layer, compression)];
  if (compression === 'gzip') stages.push(createGunzip({ chunkSize: 256 * 1024 }));
  return stages;
}

/** Turns the zlib and parser wording into what happened to the blob. */
function describeStreamError(e: Error): string {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'Z_BUF_ERROR' || /unexpected end of file/i.test(e.message)) return `blob is truncated (gzip stream ended early: ${e.message})`;
  if (/Unexpected end of data/.test(e.message)) return 'blob is truncated (tar stream ended inside an entry)';
  if (code?.startsWith('Z_')) return `blob is not valid gzip (${e.message})`;
  return e.message;
}

const ENTRY_KINDS = new Set(['file', 'contiguous-file', 'directory', 'symlink', 'link', 'character-device', 'block-device', 'fifo']);

/** Normalizes a tar member name; refuses what could address a path outside the root. */
export function normalizeEntryName(raw: string, what = 'path'): string {
  if (raw.startsWith('/')) throw new Error(`absolute ${what} "${raw}" refused (layer members are relative to the image root)`);
  const parts = raw.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.includes('..')) throw new Error(`${what} "${raw}" has a ".." component (refused: it could escape the destination)`);
  return parts.join('/');
}

/** Where REL (a path in the image) lands for target T: undefined when it is not under T's source. */
function mapTo(t: Target, rel: string): string | undefined {
  if (t.source === '') return rel;
  if (rel === t.source) return '';
  return rel.startsWith(`${t.source}/`) ? rel.slice(t.source.length + 1) : undefined;
}

/** True when removing REL from the image removes T's whole source tree. */
const coversSource = (t: Target, rel: string): boolean => t.source !== '' && (rel === '' || t.source.startsWith(`${rel}/`));

/**
 * Whether the entry is read past: a regular file the caller's `skip` accepts, or a hard link
 * to a skipped one whose own path it accepts too. A hard link to a skipped file at a path it
 * does not accept has no content to link to: refused, naming both.
 */
function skips(skipped: Skipped, type: string, rel: string, linkname: string | undefined): boolean {
  let skip = false;
  if (type === 'file' || type === 'contiguous-file') {
    skip = skipped.accepts(rel);
  } else if (type === 'link') {
    const target = normalizeEntryName(linkname ?? '', 'hardlink target');
    if (skipped.paths.has(target)) {
      if (!skipped.accepts(rel)) throw new Error(`hard link to "${target}", which was skipped as content the caller has, but "${rel}" is not such content`);
      skip = true;
    }
  }
  if (skip) skipped.paths.add(rel);
  else skipped.paths.delete(rel);
  return skip;
}

/** Applies one entry to every target it maps into; returns the open files its body goes to. */
function applyEntry(header: tar.Header, xattrs: Xattr[], targets: Target[], skipped: Skipped | undefined): FileSink[] {
  // The typings promise a known type; the parser gives null for a typeflag it does not know.
  const type: string = header.type ?? 'unknown';
  if (!ENTRY_KINDS.has(type)) throw new Error(`unsupported tar entry type ${type}`);
  const rel = normalizeEntryName(header.name);
  const parts = rel.split('/');
  // AUFS bookkeeping (`.wh..wh.plnk/`, `.wh..wh.aufs`): not content, as oc skips it.
  if (parts.some((p) => p.startsWith('.wh..wh.') && p !== '.wh..wh..opq')) return [];
  const base = parts.at(-1)!;
  const dir = parts.slice(0, -1).join('/');
  if (base === '.wh..wh..opq') {
    for (const t of targets) {
      const m = mapTo(t, dir);
      if (m !== undefined) t.tree.opaque(m);
      else if (coversSource(t, dir)) t.tree.opaque('');
    }
    return [];
  }
  if (base.startsWith('.wh.')) {
    const victim = base.slice('.wh.'.length);
    if (victim === '' || victim === '.' || victim === '..') throw new Error(`whiteout of "${victim}" refused`);
    const path = dir === '' ? victim : `${dir}/${victim}`;
    for (const t of targets) {
      const m = mapTo(t, path);
      if (m === '' || (m === undefined && coversSource(t, path))) t.tree.opaque('');
      else if (m !== undefined) t.tree.whiteout(m);
    }
    return [];
  }
  if (skipped && skips(skipped, type, rel, header.linkname)) return [];
  const meta: EntryMeta = {
    mode: header.mode ?? 0o644,
    uid: header.uid ?? 0,
    gid: header.gid ?? 0,
    mtime: header.mtime ?? new Date(0),
    xattrs,
  };
  const sinks: FileSink[] = [];
  for (const t of targets) {
    const m = mapTo(t, rel);
    if (m === undefined) continue;
    if (m === '' && type !== 'directory') throw new Error(`/${t.source} is a ${type} in the image, not a directory`);
    switch (type) {
      case 'directory':
        t.tree.directory(m, meta);
        break;
      case 'file':
      case 'contiguous-file':
        sinks.push(t.tree.file(m, meta, header.size ?? 0));
        break;
      case 'symlink':
        t.tree.symlink(m, header.linkname ?? '', meta);
        break;
      case 'link': {
        const linkTarget = normalizeEntryName(header.linkname ?? '', 'hardlink target');
        const mapped = mapTo(t, linkTarget);
        if (mapped === undefined) throw new Error(`hardlink target "${linkTarget}" is outside the extracted path /${t.source}`);
        t.tree.hardlink(m, mapped);
        break;
      }
      default:
        t.tree.device(m, type as 'character-device' | 'block-device' | 'fifo', meta, header.devmajor ?? 0, header.devminor ?? 0);
    }
  }
  return sinks;
}

/** Checks the blob's first bytes against what its media type promises. */
class MagicCheck extends Transform {
  private checked = false;
  constructor(
    private readonly layer: LayerSource,
    private readonly compression: 'none' | 'gzip',
  ) {
    super();
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, callback: TransformCallback): void {
    if (!this.checked && chunk.length > 0) {
      this.checked = true;
      const d = this.layer.digest;
      if (chunk.subarray(0, 4).equals(ZSTD_MAGIC)) return callback(new ExtractError(`Layer ${d}: zstd-compressed data under media type ${this.layer.mediaType} (zstd layers are not supported)`, { layer: d }));
      const gzip = chunk.subarray(0, 2).equals(GZIP_MAGIC);
      if (this.compression === 'gzip' && !gzip) return callback(new ExtractError(`Layer ${d}: media type ${this.layer.mediaType} says gzip but the blob is not gzip`, { layer: d }));
      if (this.compression === 'none' && gzip) return callback(new ExtractError(`Layer ${d}: media type ${this.layer.mediaType} says uncompressed tar but the blob is gzip`, { layer: d }));
    }
    callback(null, chunk);
  }
}

/**
 * Counts the uncompressed tar against the byte budget as it streams (a bomb stops at the
 * limit, not after) and hashes it for the layer's diff_id.
 */
class UncompressedMeter extends Transform {
  private readonly hash: Hash | undefined;
  constructor(
    private readonly layer: LayerSource,
    private readonly budget: Budget,
  ) {
    super();
    this.hash = layer.diffId ? createHash(layer.diffId.split(':')[0]!) : undefined;
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, callback: TransformCallback): void {
    this.budget.bytes += chunk.length;
    if (this.budget.bytes > this.budget.limits.maxBytes) {
      const d = this.layer.digest;
      return callback(
        new ExtractError(`Layer ${d}: image expands past the limit of ${this.budget.limits.maxBytes} uncompressed bytes (raise it with --max-bytes if the image is trusted)`, { layer: d }),
      );
    }
    this.hash?.update(chunk);
    callback(null, chunk);
  }
  checkDiffId(): void {
    if (!this.hash || !this.layer.diffId) return;
    const actual = `${this.layer.diffId.split(':')[0]}:${this.hash.digest('hex')}`;
    if (actual !== this.layer.diffId) {
      throw new ExtractError(`Layer ${this.layer.digest}: uncompressed content does not match its diff_id (expected ${this.layer.diffId}, got ${actual})`, { layer: this.layer.digest });
    }
  }
}

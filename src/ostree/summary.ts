/**
 * The repository summary (`ostree summary -u`): each local ref with its commit's size,
 * checksum, timestamp and version, and the repository's mode, in libostree's GVariant layout
 * `(a(s(taya{sv}))a{sv})`, so that ostree's pull and `summary --view` read it.
 */
import { rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { deserialize, serialize, type GValue, type Variant } from './gvariant.js';
import { printGVariant } from './gvariant-text.js';
import { commitMetadataValue } from './objects.js';
import { formatSize } from './prune.js';
import { atomicWrite, CONFIG_MODE, RepoError, type Repo } from './repo.js';

export const SUMMARY_TYPE = '(a(s(taya{sv}))a{sv})';

export interface SummaryOptions {
  /** Seconds since the epoch, for `ostree.summary.last-modified` (default: now). */
  now?: number;
  /** More keys for the summary's own metadata, after libostree's (`summary -m KEY=VALUE`). */
  metadata?: [string, Variant][];
}

/** A big-endian uint64 as a `t` variant holds it. */
function beUint64(n: number | bigint): bigint {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(BigInt.asUintN(64, BigInt(n)));
  return b.readBigUInt64LE();
}

/** The summary's bytes for the repository as it is now. */
export async function buildSummary(repo: Repo, options: SummaryOptions = {}): Promise<Buffer> {
  // Remote refs are the remotes' business: ostree leaves them out.
  const refs = (await repo.listRefs()).filter(([name]) => !name.includes(':'));
  // Byte order (strcmp) of names, as ostree sorts them for lookups by bisection.
  refs.sort((a, b) => Buffer.compare(Buffer.from(a[0]), Buffer.from(b[0])));
  const entries: GValue[] = [];
  for (const [name, checksum] of refs) {
    const commit = await repo.loadCommit(checksum);
    const size = (await stat(repo.objectPath('commit', checksum))).size;
    const meta: [string, Variant][] = [];
    const version = commitMetadataValue(commit, 'version');
    if (typeof version === 'string') meta.push(['ostree.commit.version', { type: 's', value: version }]);
    meta.push(['ostree.commit.timestamp', { type: 't', value: beUint64(commit.timestamp) }]);
    // The size in the machine's (little-endian) order, unlike the timestamps: as libostree writes it.
    entries.push([name, [BigInt(size), Buffer.from(checksum, 'hex'), meta]]);
  }
  const additional: [string, Variant][] = [
    ['ostree.summary.mode', { type: 's', value: CONFIG_MODE[repo.mode] }],
    ['ostree.summary.last-modified', { type: 't', value: beUint64(options.now ?? Math.floor(Date.now() / 1000)) }],
    ['ostree.summary.tombstone-commits', { type: 'b', value: repo.config.getBoolean('core', 'tombstone-commits') === true }],
    // No static deltas here, so none to index; said as ostree says it.
    ['ostree.summary.indexed-deltas', { type: 'b', value: true }],
  ];
  for (const [key, value] of options.metadata ?? []) {
    if (additional.some(([k]) => k === key)) throw new RepoError(`Summary metadata key ${key} is set by ostree itself`);
    additional.push([key, value]);
  }
  return serialize(SUMMARY_TYPE, [entries, additional]);
}

/** Writes `summary` afresh; a `summary.sig` signed the old one, so it goes. */
export async function regenerateSummary(repo: Repo, options: SummaryOptions = {}): Promise<void> {
  await atomicWrite(join(repo.path, 'summary'), repo.tmpDir, await buildSummary(repo, options), 0o644, true);
  await rm(join(repo.path, 'summary.sig'), { force: true });
}

/** A big-endian uint64 variant's number. */
const fromBe = (v: GValue): bigint => beUint64(v as bigint);

/** Seconds since the epoch as ostree's `summary --view` shows them (`2023-11-14T22:13:20+00`). */
const isoSeconds = (seconds: bigint): string => `${new Date(Number(seconds) * 1000).toISOString().slice(0, 19)}+00`;

/** One metadata line of `summary --view`: libostree's labels for the keys it knows. */
function viewLine(key: string, value: Variant): string {
  switch (key) {
    case 'ostree.commit.version': return `Version (${key}): ${String(value.value)}`;
    case 'ostree.commit.timestamp': return `Timestamp (${key}): ${isoSeconds(fromBe(value.value))}`;
    case 'ostree.summary.mode': return `Repository Mode (${key}): ${String(value.value)}`;
    case 'ostree.summary.last-modified': return `Last-Modified (${key}): ${isoSeconds(fromBe(value.value))}`;
    case 'ostree.summary.tombstone-commits': return `Has Tombstone Commits (${key}): ${value.value ? 'Yes' : 'No'}`;
    default: return `${key}: ${printGVariant(value, { typeAnnotate: false })}`;
  }
}

/** What `ostree summary --view` prints for a summary file's bytes. */
export function formatSummaryView(bytes: Buffer): string {
  const [refs, additional] = deserialize(SUMMARY_TYPE, bytes) as [[string, [bigint, Uint8Array, [string, Variant][]]][], [string, Variant][]];
  const blocks = refs.map(([name, [size, checksum, meta]]) => [
    `* ${name}`,
    `    Latest Commit (${formatSize(Number(size))}):`,
    `      ${Buffer.from(checksum).toString('hex')}`,
    ...meta.map(([k, v]) => `    ${viewLine(k, v)}`),
    '',
  ].join('\n'));
  return [...blocks, ...additional.map(([k, v]) => viewLine(k, v))].join('\n') + '\n';
}

/**
 * The repository summary (`ostree summary -u`): each local ref with its commit's size,
 * checksum, timestamp and version, and the repository's mode, in libostree's GVariant layout
 * `(a(s(taya{sv}))a{sv})`, so that ostree's pull and `summary --view` read it.
 */
import { rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { serialize, type GValue, type Variant } from './gvariant.js';
import { commitMetadataValue } from './objects.js';
import { atomicWrite, CONFIG_MODE, type Repo } from './repo.js';

export const SUMMARY_TYPE = '(a(s(taya{sv}))a{sv})';

export interface SummaryOptions {
  /** Seconds since the epoch, for `ostree.summary.last-modified` (default: now). */
  now?: number;
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
  return serialize(SUMMARY_TYPE, [entries, additional]);
}

/** Writes `summary` afresh; a `summary.sig` signed the old one, so it goes. */
export async function regenerateSummary(repo: Repo, options: SummaryOptions = {}): Promise<void> {
  await atomicWrite(join(repo.path, 'summary'), repo.tmpDir, await buildSummary(repo, options), 0o644, true);
  await rm(join(repo.path, 'summary.sig'), { force: true });
}

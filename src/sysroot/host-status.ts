/**
 * `rpm-ostree status` and `rpm-ostree status --json`, rendered from a plain model of the
 * deployments (HostStatusModel). The renderers are pure; `hostStatusModel()` is the one
 * adapter, and it only reads commit objects and refs through a Repo.
 *
 * Follows rpm-ostree v2020.7: `print_one_deployment()` / `print_deployments()` in
 * src/app/rpmostree-builtin-status.c for the text, `rpmostreed_deployment_generate_variant()`
 * in src/daemon/rpmostreed-deployment-utils.c for the JSON fields, and json-glib 1.4.4
 * (RHEL 8's, so RHCOS 4.6's) for how the JSON is laid out. See ostree.md §5.
 *
 * Not modelled, because nothing here produces them: package layering and overrides, live
 * updates, GPG signatures, remote errors, cached updates, busy transactions and automatic
 * update policies other than `none`.
 */
import { parseType, type GValue, type Variant } from '../ostree/gvariant.js';
import { formatDouble } from '../ostree/gvariant-text.js';
import { isChecksum, type Commit } from '../ostree/objects.js';
import type { Repo } from '../ostree/repo.js';
import { diffPackageLists, formatDiffSummary, type PackageDiff, type PkgTuple } from './pkg-diff.js';
import { formatEvr, formatNevra } from './rpmvercmp.js';
import { sameDeployment, type Deployment, type SysrootState } from './types.js';

// ---------------------------------------------------------------------------------------------
// Model

/** What rpm-ostree reads from a deployment's `.origin` file. */
export interface HostOrigin {
  /** `origin/refspec` (or `baserefspec`): `REMOTE:REF`, `REF` or a commit checksum, maybe with `ostree://`. */
  refspec: string;
  /** `origin/custom-url`, e.g. `pivot://quay.io/…@sha256:…`; rpm-ostree honours it only with a checksum refspec. */
  customUrl?: string;
  /** `origin/custom-description`, e.g. `Managed by machine-config-operator`. */
  customDescription?: string;
}

/** The commit a ref origin's ref points at now, when that is not the deployed commit. */
export interface PendingBase {
  checksum: string;
  version?: string;
  timestamp: number;
}

export interface HostDeployment {
  /** The stateroot. */
  osname: string;
  checksum: string;
  serial: number;
  /** The commit's timestamp, seconds since the epoch. */
  timestamp: number;
  /** The commit's metadata in stored order, `rpmostree.rpmdb.pkglist` included. */
  commitMetadata: [key: string, value: Variant][];
  /** null when the deployment has no origin file or the file names no refspec. */
  origin: HostOrigin | null;
  booted: boolean;
  staged: boolean;
  /** Staged only: finalization is blocked (`/run/ostree/staged-deployment-locked`). */
  finalizationLocked?: boolean;
  pinned: boolean;
  /** libostree's unlocked state: `none`, `hotfix`, `development` or `transient`. */
  unlocked: string;
  /** Ref origins only: what the ref resolves to now, if it moved on. */
  pendingBase?: PendingBase;
}

export interface HostStatusModel {
  /** Only the idle daemon is modelled. */
  state: 'idle';
  /** libostree order: the staged deployment first, then boot-entry order. */
  deployments: HostDeployment[];
}

/** `OSNAME-CHECKSUM.SERIAL`, rpm-ostree's deployment id. */
export function deploymentId(d: Pick<HostDeployment, 'osname' | 'checksum' | 'serial'>): string {
  return `${d.osname}-${d.checksum}.${d.serial}`;
}

/** A metadata string value, only when it is stored with type `s` (rpm-ostree looks keys up typed). */
function metadataString(meta: [string, Variant][], key: string): string | undefined {
  const v = meta.find(([k]) => k === key)?.[1];
  return v?.type === 's' && typeof v.value === 'string' ? v.value : undefined;
}

/** The commit's `version`, as rpm-ostree shows it. */
export function commitVersion(meta: [string, Variant][]): string | undefined {
  return metadataString(meta, 'version');
}

export const PKGLIST_KEY = 'rpmostree.rpmdb.pkglist';

/** The commit's `rpmostree.rpmdb.pkglist`, or undefined when missing or not `a(sssss)`. */
export function commitPkglist(meta: [string, Variant][]): PkgTuple[] | undefined {
  const v = meta.find(([k]) => k === PKGLIST_KEY)?.[1];
  if (v?.type !== 'a(sssss)' || !Array.isArray(v.value)) return undefined;
  // The decoder gives tuples as arrays of their members, already checked against the type.
  return v.value as unknown as PkgTuple[];
}

type RefspecKind = 'checksum' | 'ostree';

/** rpm-ostree's refspec classification: an optional `ostree://` prefix, then a checksum or a ref. */
function classifyRefspec(refspec: string): { kind: RefspecKind; data: string } {
  const data = refspec.startsWith('ostree://') ? refspec.slice('ostree://'.length) : refspec;
  return { kind: isChecksum(data) ? 'checksum' : 'ostree', data };
}

/** The custom origin rpm-ostree reports: only for checksum refspecs, only with a non-empty URL. */
function customOrigin(origin: HostOrigin | null): [url: string, description: string] | undefined {
  if (!origin || classifyRefspec(origin.refspec).kind !== 'checksum' || !origin.customUrl) return undefined;
  return [origin.customUrl, origin.customDescription ?? ''];
}

// ---------------------------------------------------------------------------------------------
// Adapter: sysroot state + repo → model

export interface HostStatusModelOptions {
  /** Whether `/run/ostree/staged-deployment-locked` exists; reported on the staged deployment. */
  finalizationLocked?: boolean;
}

/**
 * Builds the status model of a loaded sysroot: the staged deployment (if any) first, then the
 * boot-entry list, each with its commit's timestamp and metadata from `repo`.
 */
export async function hostStatusModel(state: SysrootState, repo: Repo, options: HostStatusModelOptions = {}): Promise<HostStatusModel> {
  const list = state.staged ? [state.staged, ...state.deployments] : state.deployments;
  const deployments: HostDeployment[] = [];
  for (const d of list) {
    const commit = await repo.loadCommit(d.checksum);
    const staged = state.staged !== null && sameDeployment(d, state.staged);
    const origin = readOrigin(d);
    const model: HostDeployment = {
      osname: d.osname,
      checksum: d.checksum,
      serial: d.serial,
      timestamp: commit.timestamp,
      commitMetadata: commit.metadata,
      origin,
      booted: state.booted !== null && sameDeployment(d, state.booted),
      staged,
      pinned: d.origin?.getBoolean('libostree-transient', 'pinned') ?? false,
      // libostree knows `hotfix` from the origin; `development` lives under /run, not modelled.
      unlocked: d.origin?.get('origin', 'unlocked') === 'hotfix' ? 'hotfix' : 'none',
    };
    if (staged) model.finalizationLocked = options.finalizationLocked ?? false;
    const pending = origin ? await pendingBase(repo, origin, d.checksum) : undefined;
    if (pending) model.pendingBase = pending;
    deployments.push(model);
  }
  return { state: 'idle', deployments };
}

function readOrigin(d: Deployment): HostOrigin | null {
  const kf = d.origin;
  const refspec = kf?.get('origin', 'refspec') ?? kf?.get('origin', 'baserefspec');
  if (!kf || refspec === undefined) return null;
  const origin: HostOrigin = { refspec };
  // rpm-ostree treats empty values as absent, and reads the description only with a URL.
  const url = kf.get('origin', 'custom-url');
  if (url) {
    origin.customUrl = url;
    const description = kf.get('origin', 'custom-description');
    if (description) origin.customDescription = description;
  }
  return origin;
}

async function pendingBase(repo: Repo, origin: HostOrigin, deployed: string): Promise<PendingBase | undefined> {
  const { kind, data } = classifyRefspec(origin.refspec);
  if (kind !== 'ostree') return undefined;
  let target: string | undefined;
  try {
    target = await repo.readRef(data);
  } catch {
    // rpm-ostree resolves with allow-noent; an unreadable ref just means no pending base.
    return undefined;
  }
  if (!target || target === deployed) return undefined;
  const commit: Commit = await repo.loadCommit(target);
  const pending: PendingBase = { checksum: target, timestamp: commit.timestamp };
  const version = commitVersion(commit.metadata);
  if (version !== undefined) pending.version = version;
  return pending;
}

// ---------------------------------------------------------------------------------------------
// Text

export interface HostStatusOptions {
  /** `-v`: Commit, Staged and StateRoot lines, repo timestamps, per-package diff. */
  verbose?: boolean;
  /** `utf8` (default) draws `●` and `└─`; `ascii` draws `*` and `` `- `` as rpm-ostree does in other locales. */
  glyphs?: 'utf8' | 'ascii';
}

/** rpm-ostree's key column: `strlen("InactiveBaseReplacements")`. */
const KEY_WIDTH = 24;

const GLYPHS = {
  utf8: { booted: '\u25cf', treeRight: '\u2514\u2500', treeBranch: '\u251c\u2500' },
  ascii: { booted: '*', treeRight: '`-', treeBranch: '|-' },
};

/** `printf("  %*s%s %s", 24, key, key ? ":" : " ", value)`: an empty key continues a list. */
export function formatKeyValue(key: string, value: string): string {
  return `  ${key.padStart(KEY_WIDTH)}${key ? ':' : ' '} ${value}`;
}

/**
 * The text of `rpm-ostree status` (ends with a newline). The pending deployment (first in
 * the list, not booted, same stateroot as the booted one) gets a `Diff:` line computed from
 * both commits' pkglists; without a pkglist on either side there is no Diff line (rpm-ostree
 * would fall back to reading the rpmdb out of the commits).
 */
export function formatHostStatus(model: HostStatusModel, options: HostStatusOptions = {}): string {
  const verbose = options.verbose ?? false;
  const glyphs = GLYPHS[options.glyphs ?? 'utf8'];
  const out: string[] = [`State: ${model.state}`];
  // rpm-ostree prints the policy only when it is not `none`, except in verbose mode.
  if (verbose) out.push('AutomaticUpdates: disabled');
  out.push('Deployments:');

  const booted = model.deployments.find((d) => d.booted);
  const stateroots = new Set(model.deployments.map((d) => d.osname));
  model.deployments.forEach((d, index) => {
    if (index > 0) out.push('');
    const first = index === 0;
    const refspec = d.origin ? classifyRefspec(d.origin.refspec) : undefined;
    const custom = customOrigin(d.origin);

    let title: string;
    if (!refspec) title = d.checksum;
    else if (custom) title = custom[0];
    else title = `ostree://${refspec.data}`;
    out.push(`${d.booted ? glyphs.booted : ' '} ${title}`);

    if (custom?.[1]) out.push(formatKeyValue('CustomOrigin', custom[1]));
    const sourceTitle = metadataString(d.commitMetadata, 'ostree.source-title');
    if (sourceTitle !== undefined) out.push(`  ${glyphs.treeRight} ${sourceTitle}`);

    const when = formatTimestamp(d.timestamp);
    const version = commitVersion(d.commitMetadata);
    out.push(version === undefined ? formatKeyValue('Timestamp', when) : formatKeyValue('Version', `${version} (${when})`));

    // A deployment without an origin counts as a ref origin here, as in rpm-ostree.
    if (verbose || (refspec?.kind ?? 'ostree') === 'ostree') {
      out.push(formatKeyValue('Commit', d.checksum));
      if (verbose) out.push(...rpmmdRepoLines(d.commitMetadata, glyphs));
    }
    if (verbose && (d.staged || first)) out.push(formatKeyValue('Staged', d.staged ? 'yes' : 'no'));
    if (verbose || stateroots.size > 1) out.push(formatKeyValue('StateRoot', d.osname));

    if (first && !d.booted && booted && d.osname === booted.osname) {
      const oldList = commitPkglist(booted.commitMetadata);
      const newList = commitPkglist(d.commitMetadata);
      if (oldList && newList) {
        const diff = diffPackageLists(oldList, newList);
        if (verbose) out.push(...diffDetailLines(diff));
        else if (formatDiffSummary(diff)) out.push(formatKeyValue('Diff', formatDiffSummary(diff)));
      }
    }

    if (d.pinned) out.push(formatKeyValue('Pinned', 'yes'));
    if (d.unlocked !== 'none') out.push(formatKeyValue('Unlocked', d.unlocked));
    const endOfLife = metadataString(d.commitMetadata, 'ostree.endoflife');
    if (endOfLife !== undefined) out.push(formatKeyValue('EndOfLife', endOfLife));
  });
  return out.join('\n') + '\n';
}

/**
 * `status -v`'s per-package diff. Like rpm-ostree, the `Upgraded:`/`Downgraded:` label goes on
 * the row of the *first modified pair*, so a list whose first pair is a downgrade prints its
 * upgrades without a label.
 */
function diffDetailLines(diff: PackageDiff): string[] {
  const out: string[] = [];
  const upgrades = new Set(diff.upgraded);
  for (const wantUpgrade of [true, false]) {
    diff.modified.forEach((pair, i) => {
      if (upgrades.has(pair) !== wantUpgrade) return;
      const [oldPkg, newPkg] = pair;
      const label = i === 0 ? (wantUpgrade ? 'Upgraded' : 'Downgraded') : '';
      out.push(formatKeyValue(label, `${oldPkg[0]} ${evrOf(oldPkg)} -> ${evrOf(newPkg)}`));
    });
  }
  diff.removed.forEach((p, i) => out.push(formatKeyValue(i === 0 ? 'Removed' : '', nevraOf(p))));
  diff.added.forEach((p, i) => out.push(formatKeyValue(i === 0 ? 'Added' : '', nevraOf(p))));
  return out;
}

const evrOf = (p: PkgTuple): string => formatEvr({ epoch: p[1], version: p[2], release: p[3] });
const nevraOf = (p: PkgTuple): string => formatNevra({ name: p[0], epoch: p[1], version: p[2], release: p[3], arch: p[4] });

/**
 * `status -v` lists the rpm-md repos a compose used, from `rpmostree.rpmmd-repos` (`aa{sv}`).
 * Compose stores that dict big-endian, so rpm-ostree byte-swaps the timestamps of the base
 * commit; a commit whose metadata was written little-endian therefore shows nonsense dates,
 * as it would under rpm-ostree.
 */
function rpmmdRepoLines(meta: [string, Variant][], glyphs: (typeof GLYPHS)['utf8']): string[] {
  const repos = meta.find(([k]) => k === 'rpmostree.rpmmd-repos')?.[1];
  if (repos?.type !== 'aa{sv}' || !Array.isArray(repos.value)) return [];
  const dicts = repos.value as [string, Variant][][];
  const out: string[] = [];
  dicts.forEach((dict, i) => {
    const id = dict.find(([k]) => k === 'id')?.[1];
    const ts = dict.find(([k]) => k === 'timestamp')?.[1];
    if (id?.type !== 's' || ts?.type !== 't' || typeof ts.value !== 'bigint') return;
    const glyph = i === dicts.length - 1 ? glyphs.treeRight : glyphs.treeBranch;
    out.push(`  ${' '.padStart(KEY_WIDTH + 2)}${glyph} ${String(id.value)} (${formatTimestamp(byteSwap64(ts.value))})`);
  });
  return out;
}

function byteSwap64(n: bigint): bigint {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(n);
  return b.readBigUInt64BE();
}

// GDateTime's range: 0001-01-01T00:00:00Z to 9999-12-31T23:59:59Z.
const MIN_UNIX = -62135596800n;
const MAX_UNIX = 253402300799n;

/**
 * `rpmostree_timestamp_str_from_unix_utc()`: GLib's `%FT%H:%M:%SZ` in UTC, where `%F` does not
 * pad the year, and `(invalid timestamp)` outside GDateTime's range. A uint64 above 2^63 is
 * negative by the time GLib sees it (gint64).
 */
export function formatTimestamp(seconds: number | bigint): string {
  let t = BigInt(seconds);
  if (t >= 1n << 63n) t -= 1n << 64n;
  if (t < MIN_UNIX || t > MAX_UNIX) return '(invalid timestamp)';
  const d = new Date(Number(t) * 1000);
  const two = (n: number): string => String(n).padStart(2, '0');
  return `${d.getUTCFullYear()}-${two(d.getUTCMonth() + 1)}-${two(d.getUTCDate())}T${two(d.getUTCHours())}:${two(d.getUTCMinutes())}:${two(d.getUTCSeconds())}Z`;
}

// ---------------------------------------------------------------------------------------------
// JSON

/** A JSON value with ordered object members and 64-bit integers, as json-glib holds them. */
export type JsonValue = null | boolean | number | bigint | JsonDouble | string | JsonValue[] | JsonObject;
/** Object members in insertion order (a plain object would move integer-like keys first). */
export type JsonObject = Map<string, JsonValue>;
/** A GVariant double: json-glib prints it unlike an integer. */
export interface JsonDouble {
  double: number;
}

/**
 * The document `rpm-ostree status --json` prints: deployments in libostree order, no
 * transaction, no cached update. Members are in the order rpm-ostree inserts them (the real
 * order comes out of a GHashTable and is not stable across versions; consumers look keys up).
 */
export function hostStatusDocument(model: HostStatusModel): JsonObject {
  const anyBooted = model.deployments.some((d) => d.booted);
  return new Map<string, JsonValue>([
    ['deployments', model.deployments.map((d) => deploymentJson(d, anyBooted))],
    ['transaction', null],
    ['cached-update', null],
  ]);
}

/** `rpm-ostree status --json` as json-glib 1.4.4 pretty-prints it (no trailing newline). */
export function hostStatusJson(model: HostStatusModel): string {
  return printJson(hostStatusDocument(model));
}

function deploymentJson(d: HostDeployment, anyBooted: boolean): JsonObject {
  const o: JsonObject = new Map();
  o.set('id', deploymentId(d));
  o.set('osname', d.osname);
  o.set('serial', d.serial);
  o.set('checksum', d.checksum);
  const endOfLife = metadataString(d.commitMetadata, 'ostree.endoflife');
  if (endOfLife !== undefined) o.set('endoflife', endOfLife);
  // rpm-ostreed filters the pkglist out: it is large and `rpm-ostree db` serves it.
  const meta: JsonObject = new Map();
  for (const [key, value] of d.commitMetadata) if (key !== PKGLIST_KEY) meta.set(key, variantToJson(value.type, value.value));
  o.set('base-commit-meta', meta);
  addCommitDetails(o, '', { version: commitVersion(d.commitMetadata), timestamp: d.timestamp });

  const refspec = d.origin ? classifyRefspec(d.origin.refspec) : undefined;
  if (refspec?.kind === 'checksum') {
    const custom = customOrigin(d.origin);
    if (custom) o.set('custom-origin', [...custom]);
  } else if (refspec?.kind === 'ostree') {
    // GPG verification is not implemented, so no remote is reported as verifying.
    o.set('gpg-enabled', false);
    if (d.pendingBase) {
      o.set('pending-base-checksum', d.pendingBase.checksum);
      addCommitDetails(o, 'pending-base-', d.pendingBase);
    }
  }
  if (d.staged) {
    o.set('staged', true);
    o.set('finalization-locked', d.finalizationLocked ?? false);
  }
  if (d.origin) o.set('origin', d.origin.refspec);
  // Layering and overrides are not modelled: rpm-ostree reports them as empty lists.
  for (const key of ['requested-packages', 'requested-local-packages', 'requested-base-removals', 'requested-base-local-replacements', 'packages', 'base-removals', 'base-local-replacements']) {
    o.set(key, []);
  }
  o.set('pinned', d.pinned);
  o.set('unlocked', d.unlocked);
  o.set('regenerate-initramfs', false);
  o.set('initramfs-etc', []);
  if (anyBooted) o.set('booted', d.booted);
  return o;
}

/** rpm-ostreed's `variant_add_commit_details`: version if any, timestamp unless 0. */
function addCommitDetails(o: JsonObject, prefix: string, c: { version?: string | undefined; timestamp: number }): void {
  if (c.version !== undefined) o.set(`${prefix}version`, c.version);
  if (c.timestamp > 0) o.set(`${prefix}timestamp`, c.timestamp);
}

type GTypeNode = ReturnType<typeof parseType>;

/**
 * json-glib's `json_gvariant_serialize`: integers as numbers (uint64 wrapped to int64),
 * strings, booleans, variants unwrapped, maybes as null or the value, dictionaries as
 * objects (keys printed as text), every other array and every tuple as an array — `ay`
 * included, as numbers.
 */
export function variantToJson(type: string, value: GValue): JsonValue {
  return toJson(parseType(type), value);
}

function toJson(t: GTypeNode, v: GValue): JsonValue {
  switch (t.kind) {
    case 'basic':
      return basicToJson(t.code, v);
    case 'variant': {
      const inner = v as Variant;
      return variantToJson(inner.type, inner.value);
    }
    case 'maybe':
      return v === null ? null : toJson(t.elem, v);
    case 'array': {
      const elems: GValue[] = v instanceof Uint8Array ? [...v] : (v as GValue[]);
      const elem = t.elem;
      if (elem.kind === 'tuple' && elem.str.startsWith('{')) {
        const obj: JsonObject = new Map();
        for (const entry of elems as GValue[][]) obj.set(keyText(elem.members[0]!, entry[0]!), toJson(elem.members[1]!, entry[1]!));
        return obj;
      }
      return elems.map((e) => toJson(elem, e));
    }
    case 'tuple':
      return (v as GValue[]).map((m, i) => toJson(t.members[i]!, m));
  }
}

function basicToJson(code: string, v: GValue): JsonValue {
  switch (code) {
    case 'b':
      return v as boolean;
    case 'd':
      return { double: v as number };
    case 's':
    case 'o':
    case 'g':
      return v as string;
    case 't':
      // json-glib keeps integers as gint64.
      return BigInt.asIntN(64, BigInt(v as bigint));
    case 'x':
      return BigInt(v as bigint);
    default:
      return v as number;
  }
}

/** json-glib's `gvariant_simple_to_string` for dictionary keys. */
function keyText(t: GTypeNode, v: GValue): string {
  if (t.kind === 'basic' && t.code === 'd') return (v as number).toFixed(6);
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  return String(v);
}

/**
 * json-glib 1.4.4's pretty generator: two-space indent, `"key" : value`, and containers always
 * opened with a newline, so an empty list prints as `[` and `]` on two lines (1.6 prints
 * `[]`). Strings escape `"`, `\` and control characters and keep everything else as is.
 */
export function printJson(value: JsonValue): string {
  return dump(value, 0);
}

function dump(v: JsonValue, level: number): string {
  const pad = '  '.repeat(level);
  const inner = '  '.repeat(level + 1);
  if (v === null) return 'null';
  if (typeof v === 'boolean' || typeof v === 'number' || typeof v === 'bigint') return String(v);
  if (typeof v === 'string') return jsonString(v);
  if (Array.isArray(v)) {
    return `[\n${v.map((e) => `${inner}${dump(e, level + 1)}`).join(',\n')}${v.length ? '\n' : ''}${pad}]`;
  }
  if (v instanceof Map) {
    const members = [...v].map(([k, e]) => `${inner}${jsonString(k)} : ${dump(e, level + 1)}`);
    return `{\n${members.join(',\n')}${members.length ? '\n' : ''}${pad}}`;
  }
  // g_ascii_dtostr (%.17g), then ".0" when there is no decimal point.
  const s = formatDouble(v.double).replace(/\.0$/, '');
  return s.includes('.') ? s : `${s}.0`;
}

const ESCAPES: Record<string, string> = { '\b': '\\b', '\f': '\\f', '\n': '\\n', '\r': '\\r', '\t': '\\t', '"': '\\"', '\\': '\\\\' };

function jsonString(s: string): string {
  // json-glib leaves 0x1f unescaped (an off-by-one); we escape it so the output stays JSON.
  return `"${s.replace(/[\x01-\x1f\x7f"\\]/g, (c) => ESCAPES[c] ?? `\\u00${c.charCodeAt(0).toString(16).padStart(2, '0')}`)}"`;
}

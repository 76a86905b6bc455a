/**
 * RPM version ordering: rpm's `rpmvercmp()` segment comparison, the EVR comparison that
 * rpm-ostree's package diff uses (libdnf `dnf_sack_evr_cmp` → libsolv `pool_evrcmp_str`),
 * and the EVR/NEVRA spellings rpm-ostree prints. Pure string functions.
 *
 * Written from the behaviour of rpm's `rpmio/rpmvercmp.cc` and its test table
 * `tests/rpmvercmp.at`, libsolv's `src/evr.c`, and rpm-ostree v2020.7
 * `_rpm_ostree_package_new_from_variant()` (see ostree.md §5.2).
 */

export type Ordering = -1 | 0 | 1;

/** An epoch/version/release triple as `rpmostree.rpmdb.pkglist` stores it: all strings. */
export interface Evr {
  /** Decimal string; `"0"` (or empty) when the package has no epoch. */
  epoch: string;
  version: string;
  release: string;
}

// rpm's risalnum/risdigit/risalpha are ASCII-only, so every other character (including each
// UTF-16 unit of a non-ASCII character) is a separator, exactly as each UTF-8 byte is in C.
const isDigit = (c: string): boolean => c >= '0' && c <= '9';
const isAlpha = (c: string): boolean => (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
const isSeparator = (c: string): boolean => !isDigit(c) && !isAlpha(c) && c !== '~' && c !== '^';

/**
 * Compares two version (or release) strings as rpm does: 1 when `a` is newer, -1 when `b` is.
 *
 * - Segments are maximal runs of digits or of ASCII letters; anything else separates them,
 *   and which separator it is does not matter (`2.0` equals `2_0`).
 * - `~` sorts before everything, even the end of the string (`1.0~rc1` < `1.0`).
 * - `^` sorts after the end of the string but before any further segment
 *   (`1.0` < `1.0^git1` < `1.0.1`).
 * - Numbers compare numerically without leading zeros (`10.0001` equals `10.1`) and beat
 *   letters (`2.0.1` > `2.0.a`); letters compare with strcmp.
 * - When all shared segments are equal, the string with segments left over is newer.
 */
export function rpmvercmp(a: string, b: string): Ordering {
  if (a === b) return 0;
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    while (i < a.length && isSeparator(a[i]!)) i++;
    while (j < b.length && isSeparator(b[j]!)) j++;
    const ca = a[i];
    const cb = b[j];

    if (ca === '~' || cb === '~') {
      if (ca !== '~') return 1;
      if (cb !== '~') return -1;
      i++;
      j++;
      continue;
    }
    // Like `~`, except that the end of a string sorts before the caret.
    if (ca === '^' || cb === '^') {
      if (ca === undefined) return -1;
      if (cb === undefined) return 1;
      if (ca !== '^') return 1;
      if (cb !== '^') return -1;
      i++;
      j++;
      continue;
    }
    if (ca === undefined || cb === undefined) break;

    // The segment's type is decided by `a`; `b` contributes a run of the same type.
    const numeric = isDigit(ca);
    const inSegment = numeric ? isDigit : isAlpha;
    let ei = i;
    while (ei < a.length && inSegment(a[ei]!)) ei++;
    let ej = j;
    while (ej < b.length && inSegment(b[ej]!)) ej++;
    let sa = a.slice(i, ei);
    let sb = b.slice(j, ej);
    // `b` has a segment of the other type here: numbers are newer than letters.
    if (sb === '') return numeric ? 1 : -1;

    if (numeric) {
      sa = sa.replace(/^0+/, '');
      sb = sb.replace(/^0+/, '');
      if (sa.length !== sb.length) return sa.length > sb.length ? 1 : -1;
    }
    // Both segments are ASCII here, so UTF-16 order is strcmp order.
    if (sa !== sb) return sa > sb ? 1 : -1;
    i = ei;
    j = ej;
  }
  // All segments matched; only separators may differ.
  if (i >= a.length && j >= b.length) return 0;
  return i >= a.length ? -1 : 1;
}

/**
 * Compares two EVRs the way rpm-ostree's diff does: it spells each as `[E:]V-R` and hands
 * the strings to libsolv's `pool_evrcmp_str(…, EVRCMP_COMPARE)`. That means: epochs compare
 * numerically with a missing epoch equal to 0, then versions, then releases, each with
 * `rpmvercmp`. The string round trip is kept so odd inputs (a `-` inside a version) split
 * where libsolv splits them, at the last `-`.
 */
export function compareEvr(a: Evr, b: Evr): Ordering {
  return compareEvrStrings(formatEvr(a), formatEvr(b));
}

/** libsolv's `pool_evrcmp_str` in EVRCMP_COMPARE mode over `[E:]V[-R]` strings. */
export function compareEvrStrings(a: string, b: string): Ordering {
  if (a === b) return 0;
  const pa = splitEvrString(a);
  const pb = splitEvrString(b);
  if (pa.epoch !== undefined || pb.epoch !== undefined) {
    // A side without an epoch loses to any epoch that is not all zeros.
    const c = rpmvercmp(pa.epoch ?? '0', pb.epoch ?? '0');
    if (c !== 0) return c;
  }
  const c = rpmvercmp(pa.version, pb.version);
  if (c !== 0) return c;
  if (pa.release === undefined || pb.release === undefined) {
    if (pa.release === undefined && pb.release !== undefined) return -1;
    if (pa.release !== undefined && pb.release === undefined) return 1;
    return 0;
  }
  return rpmvercmp(pa.release, pb.release);
}

function splitEvrString(evr: string): { epoch?: string; version: string; release?: string } {
  // An epoch is a non-empty run of digits followed by ':'; otherwise the ':' is version text.
  const m = /^([0-9]+):/.exec(evr);
  const epoch = m ? m[1] : undefined;
  const rest = m ? evr.slice(m[0].length) : evr;
  const dash = rest.lastIndexOf('-');
  return dash < 0 ? { epoch, version: rest } : { epoch, version: rest.slice(0, dash), release: rest.slice(dash + 1) };
}

/** rpm-ostree's EVR spelling: `V-R` when the epoch is `"0"`, else `E:V-R`. */
export function formatEvr(evr: Evr): string {
  // rpm-ostree compares the epoch string with "0" literally (libdnf's "skip a 0 epoch"
  // convention), so an empty epoch would print as ":V-R"; the pkglist never holds one, and
  // we print it as no epoch rather than invent that spelling.
  return evr.epoch === '0' || evr.epoch === '' ? `${evr.version}-${evr.release}` : `${evr.epoch}:${evr.version}-${evr.release}`;
}

/** `name-EVR.arch`, as `rpm-ostree status -v` and `rpm-ostree db diff` print packages. */
export function formatNevra(pkg: Evr & { name: string; arch: string }): string {
  return `${pkg.name}-${formatEvr(pkg)}.${pkg.arch}`;
}

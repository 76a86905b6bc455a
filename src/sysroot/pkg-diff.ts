/**
 * The package diff behind `rpm-ostree status`'s `Diff:` line: two commits'
 * `rpmostree.rpmdb.pkglist` (`a(sssss)`: name, epoch, version, release, arch) walked side by
 * side like comm(1). Pure functions over the tuples; reading them out of commits is the
 * caller's job.
 *
 * Follows rpm-ostree v2020.7 `_rpm_ostree_diff_package_lists()` (the walk),
 * `rpmostree_diff_print_formatted()` (upgrade vs downgrade) and
 * `rpmostree_generate_diff_summary()` (the summary words); see ostree.md §5.2.
 */
import { compareNames } from '../ostree/objects.js';
import { compareEvr, type Ordering } from './rpmvercmp.js';

/** One `rpmostree.rpmdb.pkglist` entry: `(name, epoch, version, release, arch)`, all strings. */
export type PkgTuple = readonly [name: string, epoch: string, version: string, release: string, arch: string];

export interface PackageDiff {
  /** Same package in both lists with another EVR (or, alone under its name, another arch), in walk order. */
  modified: [old: PkgTuple, new: PkgTuple][];
  /** The `modified` pairs whose new side sorts after the old one. */
  upgraded: [old: PkgTuple, new: PkgTuple][];
  /** The `modified` pairs whose new side sorts before the old one. */
  downgraded: [old: PkgTuple, new: PkgTuple][];
  /** Only in the old list. */
  removed: PkgTuple[];
  /** Only in the new list. */
  added: PkgTuple[];
}

const evrOf = (p: PkgTuple) => ({ epoch: p[1], version: p[2], release: p[3] });

/**
 * rpm-ostree's package order (libdnf `dnf_package_cmp`): name with strcmp, then EVR, then
 * arch with strcmp. Compose stores the pkglist in this order.
 */
export function comparePackages(a: PkgTuple, b: PkgTuple): Ordering {
  return sign(compareNames(a[0], b[0])) || compareEvr(evrOf(a), evrOf(b)) || sign(compareNames(a[4], b[4]));
}

const sign = (n: number): Ordering => (n < 0 ? -1 : n > 0 ? 1 : 0);

/**
 * Diffs an old (booted) and a new (pending) package list.
 *
 * - A name only in one list is removed/added (every entry of it).
 * - Same name and arch with another EVR is a modified pair.
 * - Same name with another arch is a pair only when the name has a single entry on each side
 *   (a package that changed arch, as yum reports it); multilib sets are instead walked by
 *   arch and reported as removed/added.
 * - A pair is an upgrade when old sorts before new by name, EVR, arch, else a downgrade.
 *
 * Both lists are sorted first (a copy), which changes nothing for a pkglist written by
 * rpm-ostree but keeps the walk meaningful for lists written by hand.
 */
export function diffPackageLists(oldList: readonly PkgTuple[], newList: readonly PkgTuple[]): PackageDiff {
  const a = [...oldList].sort(comparePackages);
  const b = [...newList].sort(comparePackages);
  const diff: PackageDiff = { modified: [], upgraded: [], downgraded: [], removed: [], added: [] };
  // Whether the entry at i is the last one of its name: rpm-ostree's "single package" test.
  const lastOfName = (list: PkgTuple[], i: number): boolean => i + 1 >= list.length || list[i + 1]![0] !== list[i]![0];

  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    const pa = a[i]!;
    const pb = b[j]!;
    const byName = compareNames(pa[0], pb[0]);
    if (byName < 0) {
      diff.removed.push(pa);
      i++;
    } else if (byName > 0) {
      diff.added.push(pb);
      j++;
    } else {
      const byArch = compareNames(pa[4], pb[4]);
      if (byArch === 0) {
        // Equal EVRs are common packages, which the diff does not report.
        if (compareEvr(evrOf(pa), evrOf(pb)) !== 0) diff.modified.push([pa, pb]);
        i++;
        j++;
      } else if (lastOfName(a, i) && lastOfName(b, j)) {
        diff.modified.push([pa, pb]);
        i++;
        j++;
      } else if (byArch < 0) {
        diff.removed.push(pa);
        i++;
      } else {
        diff.added.push(pb);
        j++;
      }
    }
  }
  diff.removed.push(...a.slice(i));
  diff.added.push(...b.slice(j));

  for (const pair of diff.modified) {
    // Never equal: a pair differs in EVR or in arch.
    (comparePackages(pair[0], pair[1]) < 0 ? diff.upgraded : diff.downgraded).push(pair);
  }
  return diff;
}

/**
 * The `Diff:` value: the non-zero counts among upgraded, downgraded, removed and added, in
 * that order, joined with ", " (`19 upgraded`, `1 upgraded, 2 removed`); '' when the lists
 * are the same, in which case status prints no Diff line.
 */
export function formatDiffSummary(diff: Pick<PackageDiff, 'upgraded' | 'downgraded' | 'removed' | 'added'>): string {
  const counts: [number, string][] = [
    [diff.upgraded.length, 'upgraded'],
    [diff.downgraded.length, 'downgraded'],
    [diff.removed.length, 'removed'],
    [diff.added.length, 'added'],
  ];
  return counts
    .filter(([n]) => n > 0)
    .map(([n, word]) => `${n} ${word}`)
    .join(', ');
}

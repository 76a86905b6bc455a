/** diffPackageLists() and formatDiffSummary(): rpm-ostree's comm-style walk over two pkglists. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { comparePackages, diffPackageLists, formatDiffSummary, type PkgTuple } from './pkg-diff.js';

const pkg = (name: string, evr: string, arch = 'x86_64'): PkgTuple => {
  const m = /^(?:(\d+):)?(.+)-([^-]+)$/.exec(evr)!;
  return [name, m[1] ?? '0', m[2]!, m[3]!, arch];
};
const names = (list: PkgTuple[]) => list.map((p) => `${p[0]}.${p[4]}`);
const pairs = (list: [PkgTuple, PkgTuple][]) => list.map(([o, n]) => `${o[0]} ${o[2]}-${o[3]}.${o[4]} -> ${n[2]}-${n[3]}.${n[4]}`);

const BASE = [
  pkg('bash', '4.4.19-12.el8'),
  pkg('cri-o', '1.19.0-26.rhaos4.6.git8a05a29.el8'),
  pkg('glibc', '2.28-127.el8'),
  pkg('kernel', '4.18.0-193.28.1.el8_2'),
  pkg('openssl-libs', '1:1.1.1g-11.el8'),
];

test('diffPackageLists() reports nothing for identical lists, and the summary is empty', () => {
  const diff = diffPackageLists(BASE, BASE);
  assert.deepEqual(diff, { modified: [], upgraded: [], downgraded: [], removed: [], added: [] });
  assert.equal(formatDiffSummary(diff), '');
});

test('diffPackageLists() counts 19 release bumps as 19 upgraded', () => {
  const old = Array.from({ length: 40 }, (_, i) => pkg(`pkg${String(i).padStart(2, '0')}`, '1.0-1.el8'));
  const next = old.map((p, i) => (i % 2 === 0 && i < 38 ? ([p[0], p[1], p[2], '2.el8', p[4]] as PkgTuple) : p));
  const diff = diffPackageLists(old, next);
  assert.equal(diff.upgraded.length, 19);
  assert.equal(formatDiffSummary(diff), '19 upgraded');
  assert.equal(formatDiffSummary(diffPackageLists(next, old)), '19 downgraded');
});

test('diffPackageLists() sorts upgrades, downgrades, removals and additions apart, in walk order', () => {
  const next = [
    pkg('bash', '4.4.19-14.el8'),
    pkg('cri-o', '1.18.3-19.rhaos4.5.git2a3fcb1.el8'),
    pkg('glibc', '2.28-127.el8'),
    pkg('ignition', '2.6.0-5.rhaos4.6.git947598e.el8'),
    pkg('openssl-libs', '1:1.1.1g-12.el8_3'),
  ];
  const diff = diffPackageLists(BASE, next);
  assert.deepEqual(pairs(diff.modified), [
    'bash 4.4.19-12.el8.x86_64 -> 4.4.19-14.el8.x86_64',
    'cri-o 1.19.0-26.rhaos4.6.git8a05a29.el8.x86_64 -> 1.18.3-19.rhaos4.5.git2a3fcb1.el8.x86_64',
    'openssl-libs 1.1.1g-11.el8.x86_64 -> 1.1.1g-12.el8_3.x86_64',
  ]);
  assert.deepEqual(pairs(diff.upgraded), [pairs(diff.modified)[0], pairs(diff.modified)[2]]);
  assert.deepEqual(pairs(diff.downgraded), [pairs(diff.modified)[1]]);
  assert.deepEqual(names(diff.removed), ['kernel.x86_64']);
  assert.deepEqual(names(diff.added), ['ignition.x86_64']);
  assert.equal(formatDiffSummary(diff), '2 upgraded, 1 downgraded, 1 removed, 1 added');
});

test('diffPackageLists() lets a higher epoch win over a lower version', () => {
  const diff = diffPackageLists([pkg('skopeo', '1.2.0-1.el8')], [pkg('skopeo', '1:0.1.40-11.el8')]);
  assert.equal(formatDiffSummary(diff), '1 upgraded');
});

test('diffPackageLists() treats a ~ prerelease as older than the release', () => {
  const diff = diffPackageLists([pkg('podman', '2.0~rc1-1.el8')], [pkg('podman', '2.0-1.el8')]);
  assert.equal(formatDiffSummary(diff), '1 upgraded');
});

test('diffPackageLists() pairs a lone package that changed arch, ranking the pair by arch name', () => {
  // noarch < x86_64 in strcmp order, so rpm-ostree calls noarch → x86_64 an upgrade even at one EVR.
  const diff = diffPackageLists([pkg('python3-six', '1.11.0-8.el8', 'noarch')], [pkg('python3-six', '1.11.0-8.el8', 'x86_64')]);
  assert.equal(diff.modified.length, 1);
  assert.equal(formatDiffSummary(diff), '1 upgraded');
  assert.equal(formatDiffSummary(diffPackageLists([pkg('a', '1-1', 'x86_64')], [pkg('a', '1-1', 'noarch')])), '1 downgraded');
});

test('diffPackageLists() reports a dropped multilib arch as removed rather than as a changed arch', () => {
  const old = [pkg('glibc', '2.28-127.el8', 'i686'), pkg('glibc', '2.28-127.el8', 'x86_64')];
  const next = [pkg('glibc', '2.28-151.el8', 'x86_64')];
  const diff = diffPackageLists(old, next);
  assert.deepEqual(names(diff.removed), ['glibc.i686']);
  assert.deepEqual(pairs(diff.upgraded), ['glibc 2.28-127.el8.x86_64 -> 2.28-151.el8.x86_64']);
  assert.equal(formatDiffSummary(diff), '1 upgraded, 1 removed');
  assert.equal(formatDiffSummary(diffPackageLists(next, old)), '1 downgraded, 1 added');
});

test('diffPackageLists() flushes what is left of either list once the other runs out', () => {
  const diff = diffPackageLists([pkg('a', '1-1')], [pkg('a', '1-1'), pkg('x', '1-1'), pkg('y', '1-1')]);
  assert.deepEqual(names(diff.added), ['x.x86_64', 'y.x86_64']);
  assert.equal(formatDiffSummary(diffPackageLists([], [pkg('a', '1-1')])), '1 added');
  assert.equal(formatDiffSummary(diffPackageLists([pkg('a', '1-1'), pkg('b', '1-1')], [])), '2 removed');
});

test('diffPackageLists() gives the same answer for a list that is not sorted', () => {
  const shuffled = [BASE[3]!, BASE[0]!, BASE[4]!, BASE[2]!, BASE[1]!];
  const next = BASE.map((p) => [p[0], p[1], p[2], `${p[3]}.1`, p[4]] as PkgTuple);
  assert.equal(formatDiffSummary(diffPackageLists(shuffled, next)), '5 upgraded');
});

test('comparePackages() orders by name bytes, then EVR, then arch', () => {
  const sorted = [pkg('B', '1-1'), pkg('a', '1-1', 'x86_64'), pkg('a', '1-1', 'i686'), pkg('a', '1-2', 'i686')].sort(comparePackages);
  assert.deepEqual(sorted.map((p) => `${p[0]}-${p[3]}.${p[4]}`), ['B-1.x86_64', 'a-1.i686', 'a-1.x86_64', 'a-2.i686']);
});

test('formatDiffSummary() joins the non-zero counts in the order upgraded, downgraded, removed, added', () => {
  const n = (count: number) => Array.from({ length: count }, () => [pkg('a', '1-1'), pkg('a', '1-2')] as [PkgTuple, PkgTuple]);
  const p = (count: number) => Array.from({ length: count }, () => pkg('a', '1-1'));
  assert.equal(formatDiffSummary({ upgraded: n(1), downgraded: [], removed: p(2), added: [] }), '1 upgraded, 2 removed');
  assert.equal(formatDiffSummary({ upgraded: [], downgraded: n(3), removed: [], added: p(1) }), '3 downgraded, 1 added');
  assert.equal(formatDiffSummary({ upgraded: [], downgraded: [], removed: [], added: p(4) }), '4 added');
});

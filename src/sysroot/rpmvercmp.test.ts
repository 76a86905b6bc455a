/**
 * rpmvercmp() against rpm's own table (rpm tests/rpmvercmp.at, every active case, each pair
 * also checked reversed), plus the EVR comparison libsolv applies for rpm-ostree's diff.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { compareEvr, compareEvrStrings, formatEvr, formatNevra, rpmvercmp, type Ordering } from './rpmvercmp.js';

// [a, b, rpmvercmp(a, b)] as rpm's test suite states them.
const RPM_TABLE: [string, string, Ordering][] = [
  ['1.0', '1.0', 0],
  ['1.0', '2.0', -1],
  ['2.0.1', '2.0.1', 0],
  ['2.0', '2.0.1', -1],
  ['2.0.1a', '2.0.1a', 0],
  ['2.0.1a', '2.0.1', 1],
  ['5.5p1', '5.5p1', 0],
  ['5.5p1', '5.5p2', -1],
  ['5.5p10', '5.5p10', 0],
  ['5.5p1', '5.5p10', -1],
  ['10xyz', '10.1xyz', -1],
  ['xyz10', 'xyz10', 0],
  ['xyz10', 'xyz10.1', -1],
  ['xyz.4', 'xyz.4', 0],
  ['xyz.4', '8', -1],
  ['xyz.4', '2', -1],
  ['5.5p2', '5.6p1', -1],
  ['5.6p1', '6.5p1', -1],
  ['6.0.rc1', '6.0', 1],
  ['10b2', '10a1', 1],
  ['10a2', '10b2', -1],
  ['1.0aa', '1.0aa', 0],
  ['1.0a', '1.0aa', -1],
  ['10.0001', '10.0001', 0],
  ['10.0001', '10.1', 0],
  ['10.0001', '10.0039', -1],
  ['4.999.9', '5.0', -1],
  ['20101121', '20101121', 0],
  ['20101121', '20101122', -1],
  ['2_0', '2_0', 0],
  ['2.0', '2_0', 0],
  // RhBug:178798: separators are interchangeable, and a string of separators equals another.
  ['a', 'a', 0],
  ['a+', 'a+', 0],
  ['a+', 'a_', 0],
  ['+a', '+a', 0],
  ['+a', '_a', 0],
  ['+_', '+_', 0],
  ['_+', '+_', 0],
  ['_+', '_+', 0],
  ['+', '_', 0],
  // Tilde: sorts before everything, the end of the string included.
  ['1.0~rc1', '1.0~rc1', 0],
  ['1.0~rc1', '1.0', -1],
  ['1.0~rc1', '1.0~rc2', -1],
  ['1.0~rc1~git123', '1.0~rc1~git123', 0],
  ['1.0~rc1~git123', '1.0~rc1', -1],
  // Caret: after the end of the string, before any other segment.
  ['1.0^', '1.0^', 0],
  ['1.0^', '1.0', 1],
  ['1.0^git1', '1.0^git1', 0],
  ['1.0^git1', '1.0', 1],
  ['1.0^git1', '1.0^git2', -1],
  ['1.0^git1', '1.01', -1],
  ['1.0^20160101', '1.0^20160101', 0],
  ['1.0^20160101', '1.0.1', -1],
  ['1.0^20160101^git1', '1.0^20160101^git1', 0],
  ['1.0^20160102', '1.0^20160101^git1', 1],
  // Tilde and caret together.
  ['1.0~rc1^git1', '1.0~rc1^git1', 0],
  ['1.0~rc1^git1', '1.0~rc1', 1],
  ['1.0^git1~pre', '1.0^git1~pre', 0],
  ['1.0^git1', '1.0^git1~pre', 1],
];

// Cases rpm's table keeps commented out as "arguably buggy" but that its algorithm produces:
// the letter after a number is compared with the next segment's letters (RhBug:811992), and
// non-ASCII characters are separators, so they never make two versions differ.
const RPM_ODDITIES: [string, string, Ordering][] = [
  ['1b.fc17', '1b.fc17', 0],
  ['1b.fc17', '1.fc17', -1],
  ['1g.fc17', '1.fc17', 1],
  ['1.1.α', '1.1.α', 0],
  ['1.1.α', '1.1.β', 0],
  ['1.1.αα', '1.1.α', 0],
  ['1.1.ββ', '1.1.αα', 0],
];

const flip = (o: Ordering): Ordering => (o === 0 ? 0 : o === 1 ? -1 : 1);

test("rpmvercmp() agrees with every case of rpm's own rpmvercmp test table, both ways round", () => {
  for (const [a, b, want] of RPM_TABLE) {
    assert.equal(rpmvercmp(a, b), want, `rpmvercmp(${a}, ${b})`);
    assert.equal(rpmvercmp(b, a), flip(want), `rpmvercmp(${b}, ${a})`);
  }
});

test("rpmvercmp() reproduces the oddities rpm's table documents but does not assert", () => {
  for (const [a, b, want] of RPM_ODDITIES) {
    assert.equal(rpmvercmp(a, b), want, `rpmvercmp(${a}, ${b})`);
    assert.equal(rpmvercmp(b, a), flip(want), `rpmvercmp(${b}, ${a})`);
  }
});

test('rpmvercmp() ranks a number above letters in the same position', () => {
  // The rule behind rpm's "2.0.1a > 2.0.1" and "xyz.4 < 8", applied where the brief asked.
  assert.equal(rpmvercmp('1.0a', '1.0.1'), -1);
  assert.equal(rpmvercmp('1.0', '1.0.1'), -1);
  assert.equal(rpmvercmp('1.el8', '1.el8_3'), -1);
});

test('rpmvercmp() compares numbers of any length without overflowing', () => {
  assert.equal(rpmvercmp('1.123456789012345678901234567890', '1.123456789012345678901234567891'), -1);
  assert.equal(rpmvercmp('202101191342', '202012051820'), 1);
  assert.equal(rpmvercmp('0', '00'), 0);
});

test('rpmvercmp() treats empty strings and trailing separators as no further segments', () => {
  assert.equal(rpmvercmp('', ''), 0);
  assert.equal(rpmvercmp('', '1'), -1);
  assert.equal(rpmvercmp('1.0.', '1.0'), 0);
  assert.equal(rpmvercmp('1.0', '1.0.0'), -1);
});

test('compareEvr() lets the epoch decide before the version, and a missing epoch counts as 0', () => {
  const evr = (epoch: string, version: string, release: string) => ({ epoch, version, release });
  assert.equal(compareEvr(evr('1', '1.0', '1'), evr('0', '9.9', '9')), 1);
  assert.equal(compareEvr(evr('0', '1.0', '1'), evr('', '1.0', '1')), 0);
  assert.equal(compareEvr(evr('2', '1.0', '1'), evr('10', '1.0', '1')), -1, 'epochs are numbers, not text');
  assert.equal(compareEvr(evr('0', '2.28', '127.el8'), evr('0', '2.28', '101.el8')), 1, 'then the release');
  assert.equal(compareEvr(evr('0', '2.28', '1.el8'), evr('0', '2.28', '1.el8')), 0);
});

test("compareEvrStrings() follows libsolv on [E:]V-R text: an all-zero epoch is no epoch, a release beats none", () => {
  assert.equal(compareEvrStrings('1:1.0-1', '1.0-1'), 1);
  assert.equal(compareEvrStrings('00:1.0-1', '1.0-1'), 0);
  assert.equal(compareEvrStrings('1.0', '1.0-1'), -1);
  assert.equal(compareEvrStrings('1.0-1', '1.0'), 1);
  assert.equal(compareEvrStrings(':1.0-1', ':1.0-1'), 0, 'a colon without digits is version text');
});

test('formatEvr() omits a 0 epoch, and formatNevra() spells name-EVR.arch', () => {
  assert.equal(formatEvr({ epoch: '0', version: '2.28', release: '127.el8' }), '2.28-127.el8');
  assert.equal(formatEvr({ epoch: '2', version: '2.28', release: '127.el8' }), '2:2.28-127.el8');
  assert.equal(formatNevra({ name: 'glibc', epoch: '0', version: '2.28', release: '127.el8', arch: 'x86_64' }), 'glibc-2.28-127.el8.x86_64');
  assert.equal(formatNevra({ name: 'cri-o', epoch: '1', version: '1.19.1', release: '2.rhaos4.6.git2af9ecf.el8', arch: 'x86_64' }), 'cri-o-1:1.19.1-2.rhaos4.6.git2af9ecf.el8.x86_64');
});

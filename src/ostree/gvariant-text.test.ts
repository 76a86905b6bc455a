/**
 * The GVariant text format: first the printer and the parser on their own (expected strings and
 * messages are GLib 2.74's, as `ostree` 2022.7 prints them), then differentially against the real
 * `ostree` CLI: values it parses must be stored as the same bytes, and what `ostree show` prints
 * must be exactly what printGVariant prints.
 *
 * `ostree show` byte-swaps metadata before printing on little-endian hosts (it assumes
 * big-endian data), while `ostree commit --add-metadata` stores host order; `show -B` prints the
 * stored value as is, so the comparisons use it.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { commitTree } from './commit.js';
import { GVariantError, deserialize, serialize, type GValue, type Variant } from './gvariant.js';
import { GVariantParseError, formatDouble, parseGVariantText, printGVariant } from './gvariant-text.js';
import { Repo } from './repo.js';

const hasOstree = existsSync('/usr/bin/ostree');
const needsOstree = { skip: !hasOstree && 'ostree CLI not installed (scripts/setup.sh installs it)' };

const print = (type: string, value: GValue, typeAnnotate = true): string => printGVariant({ type, value }, { typeAnnotate });
const bytes = (...b: number[]): Buffer => Buffer.from(b);

/** The message parseGVariantText throws for `text`, which must be a GVariantParseError. */
function parseError(text: string, type?: string): string {
  try {
    parseGVariantText(text, type);
  } catch (e) {
    assert.ok(e instanceof GVariantParseError && e instanceof GVariantError, `${text}: ${String(e)}`);
    return e.message;
  }
  assert.fail(`${JSON.stringify(text)} parsed without error`);
}

// ---- printing

test('strings are single-quoted, or double-quoted with escaped double quotes when they hold a single quote', () => {
  assert.equal(print('s', '1.0'), "'1.0'");
  assert.equal(print('s', 'a"b'), `'a"b'`);
  assert.equal(print('s', "it's"), `"it's"`);
  assert.equal(print('s', `it's "x"`), `"it's \\"x\\""`);
  assert.equal(print('s', 'back\\slash'), "'back\\\\slash'");
  assert.equal(print('s', ''), "''");
});

test('control, format and unassigned characters in strings are escaped, everything printable is kept', () => {
  assert.equal(print('s', '\x07\b\f\n\r\t\v'), "'\\a\\b\\f\\n\\r\\t\\v'");
  assert.equal(print('s', '\x01\x1b\x7f'), "'\\u0001\\u001b\\u007f'");
  assert.equal(print('s', 'é €😀 \u2028'), "'é €😀 \u2028'");
  assert.equal(print('s', '\u00ad\u200b\ufeff\u0378\ufffe'), "'\\u00ad\\u200b\\ufeff\\u0378\\ufffe'");
  assert.equal(print('s', '\u{e0001}\u{10fffe}'), "'\\U000e0001\\U0010fffe'");
});

test('numbers carry the type keyword g_variant_print adds, except int32 and double', () => {
  assert.equal(print('y', 1), 'byte 0x01');
  assert.equal(print('y', 255), 'byte 0xff');
  assert.equal(print('n', -3), 'int16 -3');
  assert.equal(print('q', 65535), 'uint16 65535');
  assert.equal(print('i', -1), '-1');
  assert.equal(print('u', 7), 'uint32 7');
  assert.equal(print('h', 3), 'handle 3');
  assert.equal(print('x', -(2n ** 63n)), 'int64 -9223372036854775808');
  assert.equal(print('t', 5n), 'uint64 5');
  assert.equal(print('t', 2n ** 64n - 1n), 'uint64 18446744073709551615');
  assert.equal(print('d', 1.5), '1.5');
  assert.equal(print('b', true), 'true');
  assert.equal(print('o', '/a/b'), "objectpath '/a/b'");
  assert.equal(print('g', 'a{sv}'), "signature 'a{sv}'");
});

test('doubles print as glibc %.17g does, with .0 added so they read back as doubles', () => {
  const cases: [number, string][] = [
    [1.5, '1.5'], [100, '100.0'], [0.1, '0.10000000000000001'], [1 / 3, '0.33333333333333331'],
    [1e16, '10000000000000000.0'], [1e17, '1e+17'], [1e20, '1e+20'], [0.0001, '0.0001'], [0.00001, '1.0000000000000001e-05'],
    [-0, '-0.0'], [0, '0.0'], [5e-324, '4.9406564584124654e-324'], [1.7976931348623157e308, '1.7976931348623157e+308'],
    [Infinity, 'inf'], [-Infinity, '-inf'], [NaN, 'nan'], [-NaN, '-nan'],
    // An exact tie at the 17th digit rounds to even, where JS's toPrecision would round up.
    [1125899906842624.25, '1125899906842624.2'], [1125899906842624.75, '1125899906842624.8'],
  ];
  for (const [d, want] of cases) assert.equal(formatDouble(d), want, `${d}`);
});

test('byte arrays print as b strings only when their single NUL is the last byte', () => {
  assert.equal(print('ay', Buffer.from('val\0')), "b'val'");
  assert.equal(print('ay', bytes(0)), "b''");
  assert.equal(print('ay', Buffer.from("it's\0")), `b"it's"`);
  assert.equal(print('ay', Buffer.from('a"\\\x07\x1b\x7f\x80\xff\n\0', 'latin1')), `b'a\\"\\\\\\007\\033\\177\\200\\377\\n'`);
  assert.equal(print('ay', bytes(1, 2)), '[byte 0x01, 0x02]');
  assert.equal(print('ay', Buffer.from('ab')), '[byte 0x61, 0x62]');
  assert.equal(print('ay', bytes(0x61, 0, 0x62, 0)), '[byte 0x61, 0x00, 0x62, 0x00]');
  assert.equal(print('ay', bytes()), '@ay []');
  assert.equal(print('ay', bytes(), false), '[]');
});

test('empty containers carry their type, and in a full array only the first element is annotated', () => {
  assert.equal(print('as', []), '@as []');
  assert.equal(print('a{sv}', []), '@a{sv} {}');
  assert.equal(print('as', ['a', 'b']), "['a', 'b']");
  assert.equal(print('au', [1, 2]), '[uint32 1, 2]');
  assert.equal(print('aai', [[], [1]]), '[@ai [], [1]]');
  assert.equal(print('a{ts}', [[1n, 'a'], [2n, 'b']]), "{uint64 1: 'a', 2: 'b'}");
  assert.equal(print('a{sv}', [['k', { type: 's', value: 'v' }], ['n', { type: 't', value: 5n }]]), "{'k': <'v'>, 'n': <uint64 5>}");
  assert.equal(print('a(sy)', [['a', 1], ['b', 2]]), "[('a', byte 0x01), ('b', 0x02)]");
});

test('tuples annotate every member and a one-tuple keeps its comma', () => {
  assert.equal(print('()', []), '()');
  assert.equal(print('(i)', [1]), '(1,)');
  assert.equal(print('(yq)', [1, 2]), '(byte 0x01, uint16 2)');
  assert.equal(print('{sv}', ['a', { type: 'i', value: 1 }]), "{'a', <1>}");
});

test('maybes are prefixed with their type and say just only before a nested nothing', () => {
  assert.equal(print('ms', null), '@ms nothing');
  assert.equal(print('ms', 'm'), "@ms 'm'");
  assert.equal(print('mt', 5n), '@mt 5');
  assert.equal(print('mmi', 5), '@mmi 5');
  assert.equal(print('mas', []), '@mas []');
  assert.equal(print('ami', [null, 1]), '[@mi nothing, 1]');
  assert.equal(print('ms', null, false), 'nothing');
});

test('variants always annotate their contents, even when the rest of the text is bare', () => {
  assert.equal(print('v', { type: 't', value: 5n }, false), '<uint64 5>');
  assert.equal(print('v', { type: 'v', value: { type: 's', value: 'x' } }), "<<'x'>>");
  assert.equal(print('(tv)', [5n, { type: 'as', value: [] }], false), '(5, <@as []>)');
});

test('values that do not fit their type are refused rather than printed', () => {
  assert.throws(() => print('y', 256), GVariantError);
  assert.throws(() => print('i', 1.5), GVariantError);
  assert.throws(() => print('t', -1n), GVariantError);
  assert.throws(() => print('s', 5), GVariantError);
  assert.throws(() => print('(ss)', ['a']), GVariantError);
  assert.throws(() => print('v', 'x'), GVariantError);
  assert.throws(() => print('a*', []), GVariantError);
});

// ---- parsing

test('unannotated integers are int32, numbers with a point or exponent are doubles, strings are s', () => {
  assert.deepEqual(parseGVariantText('5'), { type: 'i', value: 5 });
  assert.deepEqual(parseGVariantText('-3'), { type: 'i', value: -3 });
  assert.deepEqual(parseGVariantText('1.5'), { type: 'd', value: 1.5 });
  assert.deepEqual(parseGVariantText('1e5'), { type: 'd', value: 100000 });
  assert.deepEqual(parseGVariantText('.5'), { type: 'd', value: 0.5 });
  assert.deepEqual(parseGVariantText('-inf'), { type: 'd', value: -Infinity });
  assert.deepEqual(parseGVariantText("'a'"), { type: 's', value: 'a' });
  assert.deepEqual(parseGVariantText('"a"'), { type: 's', value: 'a' });
  assert.deepEqual(parseGVariantText(' true '), { type: 'b', value: true });
});

test('type keywords and @ annotations decide the type', () => {
  assert.deepEqual(parseGVariantText('@t 5'), { type: 't', value: 5n });
  assert.deepEqual(parseGVariantText('uint64 1234567890123'), { type: 't', value: 1234567890123n });
  assert.deepEqual(parseGVariantText('int64 -9'), { type: 'x', value: -9n });
  assert.deepEqual(parseGVariantText('byte 0x41'), { type: 'y', value: 0x41 });
  assert.deepEqual(parseGVariantText('int16 -3'), { type: 'n', value: -3 });
  assert.deepEqual(parseGVariantText('handle 3'), { type: 'h', value: 3 });
  assert.deepEqual(parseGVariantText('double 3'), { type: 'd', value: 3 });
  assert.deepEqual(parseGVariantText("objectpath '/x'"), { type: 'o', value: '/x' });
  assert.deepEqual(parseGVariantText("signature 'a{sv}'"), { type: 'g', value: 'a{sv}' });
  assert.deepEqual(parseGVariantText('@as []'), { type: 'as', value: [] });
  assert.deepEqual(parseGVariantText('@a{sv} {}'), { type: 'a{sv}', value: [] });
  assert.deepEqual(parseGVariantText('@ms "m"'), { type: 'ms', value: 'm' });
  assert.deepEqual(parseGVariantText('@ms @s "m"'), { type: 'ms', value: 'm' });
});

test('integers read hex and octal as C does and must fit their type', () => {
  assert.deepEqual(parseGVariantText('0x10'), { type: 'i', value: 16 });
  assert.deepEqual(parseGVariantText('010'), { type: 'i', value: 8 });
  assert.deepEqual(parseGVariantText('+5'), { type: 'i', value: 5 });
  assert.deepEqual(parseGVariantText('-'), { type: 'i', value: 0 });
  assert.deepEqual(parseGVariantText('@d 010'), { type: 'd', value: 10 });
  assert.deepEqual(parseGVariantText('0x1.8p1'), { type: 'd', value: 3 });
  assert.deepEqual(parseGVariantText('@t 0xffffffffffffffff'), { type: 't', value: 2n ** 64n - 1n });
  assert.deepEqual(parseGVariantText('@x -9223372036854775808'), { type: 'x', value: -(2n ** 63n) });
  assert.deepEqual(parseGVariantText('@n -32768'), { type: 'n', value: -32768 });
  assert.equal(parseError('@n 32768'), "3-8:number out of range for type 'n'");
  assert.equal(parseError('byte -1'), "5-7:number out of range for type 'y'");
  assert.equal(parseError('5000000000'), "0-10:number out of range for type 'i'");
  assert.equal(parseError('@t 18446744073709551616'), '3-23:integer too big for any type');
  assert.equal(parseError('1e400'), '0-5:number too big for any type');
  assert.equal(parseError('1E5'), '1-2:invalid character in number');
  assert.equal(parseError('09'), '1-2:invalid character in number');
  assert.equal(parseError('@ai [1, 2.5]'), '9-10:invalid character in number');
});

test('array elements are unified: integers widen to doubles and plain values become maybes', () => {
  assert.deepEqual(parseGVariantText('[1, 2.5]'), { type: 'ad', value: [1, 2.5] });
  assert.deepEqual(parseGVariantText('[1, @u 2]'), { type: 'au', value: [1, 2] });
  assert.deepEqual(parseGVariantText('[just 1, nothing]'), { type: 'ami', value: [1, null] });
  assert.deepEqual(parseGVariantText('[1, just 1]'), { type: 'ami', value: [1, 1] });
  assert.deepEqual(parseGVariantText('[[], [1]]'), { type: 'aai', value: [[], [1]] });
  assert.deepEqual(parseGVariantText('[[1], [], [just 2]]'), { type: 'aami', value: [[1], [], [2]] });
  assert.deepEqual(parseGVariantText('[<1>, <"a">]'), { type: 'av', value: [{ type: 'i', value: 1 }, { type: 's', value: 'a' }] });
  assert.deepEqual(parseGVariantText('[byte 1, 2]'), { type: 'ay', value: bytes(1, 2) });
  assert.equal(parseError('[1, "a"]'), '1-2,4-7:unable to find a common type');
  assert.equal(parseError('[(1, "a"), (2, 3)]'), '1-9,11-17:unable to find a common type');
  assert.equal(parseError('[@y 1, @u 2]'), '1-5,7-11:unable to find a common type');
});

test('tuples, dictionaries, dict entries and variants parse to the plain-data model', () => {
  assert.deepEqual(
    parseGVariantText('[("bash","0","5.1","1.el8","x86_64"),("glibc","0","2.34","7.el8","x86_64")]'),
    { type: 'a(sssss)', value: [['bash', '0', '5.1', '1.el8', 'x86_64'], ['glibc', '0', '2.34', '7.el8', 'x86_64']] },
  );
  assert.deepEqual(parseGVariantText('()'), { type: '()', value: [] });
  assert.deepEqual(parseGVariantText('(1,)'), { type: '(i)', value: [1] });
  assert.deepEqual(parseGVariantText('{"a": <1>}'), { type: 'a{sv}', value: [['a', { type: 'i', value: 1 }]] });
  assert.deepEqual(parseGVariantText('{1: "x", 2: "y"}'), { type: 'a{is}', value: [[1, 'x'], [2, 'y']] });
  assert.deepEqual(parseGVariantText('{"k", 1}'), { type: '{si}', value: ['k', 1] });
  assert.deepEqual(parseGVariantText('<<"x">>'), { type: 'v', value: { type: 'v', value: { type: 's', value: 'x' } } });
  assert.deepEqual(parseGVariantText('<@t 5>'), { type: 'v', value: { type: 't', value: 5n } });
  // Only the first value decides a dictionary's value type.
  assert.equal(parseError('{"a": 1, "b": "x"}'), "14-17:can not parse as value of type 'i'");
  assert.equal(parseError('{"a": 1, 2: 3}'), '1-4,9-10:unable to find a common type');
  assert.equal(parseError('{<1>: 2}'), '0-8:dictionary keys must have basic types');
});

test('maybes: just and nothing, with the type given where nothing would leave it open', () => {
  assert.deepEqual(parseGVariantText('just "m"'), { type: 'ms', value: 'm' });
  assert.deepEqual(parseGVariantText('@ms nothing'), { type: 'ms', value: null });
  assert.deepEqual(parseGVariantText('just just 1'), { type: 'mmi', value: 1 });
  assert.deepEqual(parseGVariantText('@mas just []'), { type: 'mas', value: [] });
  assert.equal(parseError('nothing'), '0-7:unable to infer type');
  assert.equal(parseError('just nothing'), '0-12:unable to infer type');
  assert.equal(parseError('@i nothing'), "3-10:can not parse as value of type 'i'");
});

test('a nested just nothing is refused, since the value model has one null for both nothings', () => {
  assert.match(parseError('@mms just nothing'), /^5-17:.*cannot be represented/);
  assert.deepEqual(parseGVariantText('@mms nothing'), { type: 'mms', value: null });
});

test('string escapes: C letters, \\u and \\U code points, line continuations, anything else literal', () => {
  assert.equal(parseGVariantText("'\\a\\b\\f\\n\\r\\t\\v'").value, '\x07\b\f\n\r\t\v');
  assert.equal(parseGVariantText("'\\u00e9\\U0001F600'").value, 'é😀');
  assert.equal(parseGVariantText("'\\x01\\q\\'\\\\'").value, "x01q'\\");
  assert.equal(parseGVariantText("\"it's \\\"q\\\"\"").value, `it's "q"`);
  assert.equal(parseGVariantText("'a\\\nb'").value, 'ab');
  assert.equal(parseGVariantText("'é'").value, 'é');
  assert.equal(parseError("'a\\u0000'"), '4-8:invalid 4-character unicode escape');
  assert.equal(parseError("'\\u12'"), '3-5:invalid 4-character unicode escape');
  assert.equal(parseError("'\\ud800'"), '3-7:invalid 4-character unicode escape');
  assert.equal(parseError("'abc"), '0-4:unterminated string constant');
  assert.equal(parseError('@o "x"'), '3-6:not a valid object path');
  assert.equal(parseError('@g "(("'), '3-7:not a valid signature');
});

test('byte strings take octal escapes, end at their first NUL and gain the trailing NUL GLib stores', () => {
  assert.deepEqual(parseGVariantText("b'val'"), { type: 'ay', value: Buffer.from('val\0') });
  assert.deepEqual(parseGVariantText("b''"), { type: 'ay', value: bytes(0) });
  assert.deepEqual(parseGVariantText("b'\\001\\377\\777\\n'"), { type: 'ay', value: bytes(1, 0xff, 0xff, 10, 0) });
  assert.deepEqual(parseGVariantText("b'a\\000b'"), { type: 'ay', value: bytes(0x61, 0) });
  assert.deepEqual(parseGVariantText('[b"ab", b"c"]'), { type: 'aay', value: [Buffer.from('ab\0'), Buffer.from('c\0')] });
  assert.equal(parseError('@ay "x"'), "4-7:can not parse as value of type 'ay'");
});

test('an explicit type parses what inference alone cannot', () => {
  assert.deepEqual(parseGVariantText('[]', 'as'), { type: 'as', value: [] });
  assert.deepEqual(parseGVariantText('nothing', 'mi'), { type: 'mi', value: null });
  assert.deepEqual(parseGVariantText('[1, 2]', 'at'), { type: 'at', value: [1n, 2n] });
  assert.deepEqual(parseGVariantText('5', 'mu'), { type: 'mu', value: 5 });
  assert.equal(parseError('[1, 2]', 'as'), "1-2:can not parse as value of type 's'");
  assert.throws(() => parseGVariantText('1', 'a*'), GVariantError);
});

test('syntax errors name the byte position and what was expected there, in GLib words', () => {
  const cases: [string, string][] = [
    ['', '0:expected value'],
    ['  ', '2:expected value'],
    ['True', '0:expected value'],
    ['%i', '0:expected value'],
    ['truex', '0-5:unknown keyword'],
    ['justx', '0-5:unknown keyword'],
    ['just', '4:expected value'],
    ['[1', "2:expected ',' or ']' to follow array element"],
    ['[1,]', '3:expected value'],
    ['(1)', "2:expected ',' after first tuple element"],
    ['(1,2', "4:expected ',' or ')' to follow tuple element"],
    ['(1,2,)', '5:expected value'],
    ['{1', "2:expected ':' or ',' to follow dictionary entry key"],
    ['{1,2,3}', "4:expected '}' at end of dictionary entry"],
    ['{1: 2 3}', "6:expected ',' or '}' to follow dictionary entry"],
    ['{1: 2, 3 4}', "9:expected ':' to follow dictionary entry key"],
    ['<1 2>', "3:expected '>' to follow variant value"],
    ['1 2', '2:expected end of input'],
    ['@as[]', '0-4:invalid type declaration'],
    ['@a* []', '0-3:type declarations must be definite'],
    ['[]', '0-2:unable to infer type'],
    ['<[]>', '1-3:unable to infer type'],
    // Positions are bytes of the UTF-8 text, as GLib counts them.
    ['["é", 1]', '1-5,7-8:unable to find a common type'],
  ];
  for (const [text, message] of cases) assert.equal(parseError(text), message, JSON.stringify(text));
  assert.equal(parseError(`${'['.repeat(128)}1${']'.repeat(128)}`), '128:variant nested too deeply');
  assert.deepEqual(parseGVariantText(`${'['.repeat(127)}1${']'.repeat(127)}`).type, `${'a'.repeat(127)}i`);
  assert.equal(parseError('1\0'), '1:unexpected NUL character');
});

test('what printGVariant prints parses back to the same value and type', () => {
  const values: Variant[] = [
    { type: 'a{sv}', value: [['version', { type: 's', value: "1.0 'beta'" }], ['n', { type: 'x', value: -5n }], ['e', { type: 'as', value: [] }]] },
    { type: 'a(sssss)', value: [['bash', '0', '5.1', '1.el8', 'x86_64']] },
    { type: '(ybnqiuxthdsog)', value: [255, false, -1, 2, -3, 4, -5n, 6n, 7, 0.1, 's\n\u200b', '/o', 'a{sv}'] },
    { type: 'ay', value: bytes(0, 1, 2, 255) },
    { type: 'aay', value: [Buffer.from('x\0'), bytes()] },
    { type: 'ami', value: [null, 1] },
    { type: 'mmi', value: 1 },
    { type: 'mav', value: [{ type: 'mt', value: null }] },
    { type: 'a{ias}', value: [[1, []], [2, ['a']]] },
    // (Not subnormals: GLib prints them but its strtod then reports ERANGE, so they do not read back.)
    { type: 'ad', value: [-0, 2.2250738585072014e-308, 1.7976931348623157e308, 1 / 3] },
    { type: 's', value: '\x01\x7f\u00ad\u{e0001}"\'\\' },
  ];
  for (const v of values) {
    for (const typeAnnotate of [true, false]) {
      const text = printGVariant(v, { typeAnnotate });
      // Bare text may be ambiguous on its own; GLib reads it back given the type.
      const back = typeAnnotate ? parseGVariantText(text) : parseGVariantText(text, v.type);
      assert.deepEqual(back, v, text);
    }
  }
});

// ---- against the real ostree
//
// Each ostree run costs a process start, so values are batched: many metadata keys in one commit,
// one `ostree show --raw` for all of them, and per-key `show` only to pinpoint a failure.

const COMMIT_TYPE = '(a{sv}aya(say)sstayay)';

function run(args: string[]): { status: number | null; stdout: string; stderr: string } {
  return spawnSync('ostree', args, { encoding: 'utf8' });
}

/** A scratch dir with a one-file tree and an empty archive repo made by the real ostree. */
function scratch(t: TestContext): { tree: string; real: string; dir: string } {
  const dir = mkdtempSync(join(tmpdir(), 'mco-gvariant-text-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const tree = join(dir, 'tree');
  mkdirSync(tree);
  writeFileSync(join(tree, 'file'), 'hello\n');
  const real = join(dir, 'real');
  const init = run([`--repo=${real}`, 'init', '--mode=archive']);
  assert.equal(init.status, 0, init.stderr);
  return { tree, real, dir };
}

/** Commits `tree` with the real ostree, deterministically, with `metadata` as KEY=TEXT pairs. */
function realCommit(real: string, tree: string, metadata: string[]) {
  return run([`--repo=${real}`, 'commit', '--orphan', '--no-bindings', '--no-xattrs', '--timestamp=@0',
    ...metadata.map((m) => `--add-metadata=${m}`), tree]);
}

/** What `ostree show` prints for a metadata key, without its byte-swapping. */
function realShow(repo: string, commit: string, key: string): string {
  const shown = run([`--repo=${repo}`, 'show', '-B', `--print-metadata-key=${key}`, commit]);
  assert.equal(shown.status, 0, shown.stderr);
  return shown.stdout.replace(/\n$/, '');
}

/** The metadata of a commit object, read back with the binary codec. */
async function storedMetadata(repoPath: string, commit: string): Promise<Map<string, Variant>> {
  const repo = await Repo.open(repoPath);
  const [metadata] = deserialize(COMMIT_TYPE, await repo.readMetadata('commit', commit)) as [[string, Variant][]];
  return new Map(metadata);
}

/**
 * Asserts that printGVariant prints the whole commit object exactly as `ostree show -B --raw`
 * does (each metadata value sits in a variant, so it is printed as `--print-metadata-key`
 * prints it); on a difference, names the first metadata key that prints differently.
 */
async function assertPrintsLikeOstree(repoPath: string, commit: string): Promise<void> {
  const repo = await Repo.open(repoPath);
  const value = deserialize(COMMIT_TYPE, await repo.readMetadata('commit', commit));
  const shown = run([`--repo=${repoPath}`, 'show', '-B', '--raw', commit]);
  assert.equal(shown.status, 0, shown.stderr);
  // Line 1 is "commit CHECKSUM", line 2 the printed variant (printed text never holds a newline).
  const want = shown.stdout.split('\n')[1];
  const got = printGVariant({ type: COMMIT_TYPE, value });
  if (got === want) return;
  for (const [key, v] of (value as [[string, Variant][]])[0]) {
    assert.equal(printGVariant(v), realShow(repoPath, commit, key), `metadata ${key} of type ${v.type}: ${serialize(v.type, v.value).toString('hex')}`);
  }
  assert.equal(got, want, 'ostree show -B --raw');
}

const VALID_TEXTS = [
  // The examples ostree users write.
  '@t 1234567890123', 'true', '[("bash","0","5.1","1.el8","x86_64"),("glibc","0","2.34","7.el8","x86_64")]',
  '<<"x">>', '{"a": <1>}', '@ms nothing', 'just "m"', '1.5', 'int32 -3',
  // Strings and byte strings.
  "'1.0'", `"a'b"`, `'a"b'`, `"a'b\\"c"`, "'tab\\there'", "'\\x01'", "'\\u200b'", "'\\U0001F600'", "'back\\\\slash'",
  "'ünïcødé'", "b'val'", "b''", '@ay []', '[byte 1,2]', '[byte 0x61, 0x62, 0x00]', "b'\\001\\002'", `b"it's"`,
  "b'\\a\\b\\f\\n\\r\\t\\v\\033\\177\\200'", "b'a\\000b'", "b'\\777'",
  // Numbers.
  '@t 5', '5', 'int32 -1', 'byte 1', 'byte 0xff', '@q 65535', '@n -32768', '@h -1', 'handle 3', '@u 4',
  '@x -9223372036854775808', '@t 18446744073709551615', '0x10', '-0x10', '010', '+5', '-', '@t 0x1f',
  '1.0', '1e20', '1e-5', '0.1', '3.0e100', '-0.0', 'inf', '-inf', 'nan', '-nan', '.5', '1.', '0x1.8p1', '-0x1e',
  '1e-400', '1e-300', '@d 010', '@d 0x10', "objectpath '/x'", '@o "/a/b"', '@g "a(s)"', "signature ''",
  // Containers and inference.
  "['a', 'b']", '@as []', "('a','b')", '()', '(1,)', "{'k': <'v'>}", '{1: "x", 2: "y"}', '{"k", 1}', '{true: 1}',
  '{2.5: 1}', '@a{sv} {}', '{"a": <@as []>, "b": <(1, @x -2, 0.25)>}', '<@t 5>', '<@as []>', '@mms nothing',
  '@mmi just 1', '@mt 5', '@my 3', '@may just []', '@mas just []', '@mv <1>', '(@mi nothing,)',
  '[just 1, nothing]', '[nothing, just 1]', '[1, just 1]', '[[], [1]]', '[@ai [], [1]]', '[[1], [], [just 2]]',
  '[(), ()]', '[1, 2.5]', '@ad [1]', '@au [1, 2]', '@a{ts} {1: "a", 2: "b"}', '{@y 1: <@q 2>, 3: <@n -4>}',
  '@a(yy) [(1, 2)]', '[b"ab", b"c"]', '[<1>, <"a">]', '{"k", [1.5]}', '<@mas just []>', '{@s "a": 1}',
  '@ms @s "a"', 'just just 1', `${'['.repeat(10)}1${']'.repeat(10)}`,
];

test('parsed values are the values ostree commit --add-metadata stores, and the commits are identical', needsOstree, async (t) => {
  const { tree, real, dir } = scratch(t);
  const keys = VALID_TEXTS.map((_, i) => `k${i}`);
  const c = realCommit(real, tree, VALID_TEXTS.map((text, i) => `${keys[i]}=${text}`));
  assert.equal(c.status, 0, c.stderr);
  const stored = await storedMetadata(real, c.stdout.trim());
  const parsed = VALID_TEXTS.map((text) => parseGVariantText(text));
  VALID_TEXTS.forEach((text, i) => assert.deepEqual(parsed[i], stored.get(keys[i]!), `--add-metadata=${keys[i]}=${text}`));

  // The same tree and metadata committed by the library: byte-identical metadata, same checksum.
  const repo = await Repo.init(join(dir, 'ours'), { mode: 'archive' });
  const metadata = parsed.map((v, i): [string, Variant] => [keys[i]!, v]);
  const ours = await commitTree(repo, tree, { metadata, bindings: false, timestamp: 0, noXattrs: true });
  assert.equal(ours.checksum, c.stdout.trim(), 'commit checksum');
});

test('printGVariant prints the values ostree stored exactly as ostree show prints them', needsOstree, async (t) => {
  const { tree, real } = scratch(t);
  const c = realCommit(real, tree, VALID_TEXTS.map((text, i) => `k${i}=${text}`));
  assert.equal(c.status, 0, c.stderr);
  await assertPrintsLikeOstree(real, c.stdout.trim());
});

test('parse errors are the ones ostree commit --add-metadata reports, positions included', needsOstree, (t) => {
  const { tree, real } = scratch(t);
  const texts = [
    'nothing', '[]', '{}', 'just []', '<[]>', '[1, "a"]', '{"a": 1, "b": "x"}', '{"a": 1, 2: 3}', '(1)', '(1,2,)',
    '[1', '{1,2,3}', '<1 2>', '1 2', '', 'truex', 'True', '@as[]', '@a* []', '@q -1', '5000000000',
    '@t 18446744073709551616', '--5', '1E5', '1e-310', '1e400', 'infinity', '0x', '+-5', "'abc", "'a\\u0000'", '@o "x"',
    '@g "(("', '{just 1: 2}', '@(i) (1, 2)', '@ai [1, 2.5]', '@ay "x"', '%i', '["é", 1]',
    `@${'a'.repeat(128)}i []`, `@${'a'.repeat(129)}i []`, `${'['.repeat(128)}1${']'.repeat(128)}`,
  ];
  for (const text of texts) {
    const c = realCommit(real, tree, [`k=${text}`]);
    const prefix = `error: Parsing k=${text}: `;
    assert.ok(c.status !== 0 && c.stderr.startsWith(prefix), `${text}: ${c.stderr}`);
    assert.equal(parseError(text), c.stderr.slice(prefix.length).trimEnd(), `--add-metadata=k=${text}`);
  }
});

test('printGVariant matches ostree show byte for byte for values only the library writes', needsOstree, async (t) => {
  const { tree, dir } = scratch(t);
  const repoPath = join(dir, 'ours');
  const repo = await Repo.init(repoPath, { mode: 'archive' });
  const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
  const values: Variant[] = [
    ...[0.1, 1 / 3, 5e-324, 2.2250738585072014e-308, 1.7976931348623157e308, -0, Infinity, -Infinity, NaN,
      1125899906842624.25, 1125899906842624.75, 1e16, 1e17, 123456789012345680000, 100, 0.000123, 1e-5, -2.5]
      .map((value) => ({ type: 'd', value })),
    { type: 's', value: Array.from({ length: 95 }, (_, i) => String.fromCharCode(32 + i)).join('') },
    { type: 's', value: 'only "double" quotes' },
    { type: 's', value: Array.from({ length: 31 }, (_, i) => String.fromCharCode(i + 1)).join('') + '\x7f' },
    { type: 's', value: 'é\u00a0\u00ad\u0300\u200b\u2028\u2029\ufeff\ufffd\ufffe\u0378\ue000😀\u{1f1e6}\u{e0001}\u{f0000}\u{10fffe}' },
    { type: 'ay', value: all },
    { type: 'ay', value: Buffer.concat([all.subarray(1), bytes(0)]) },
    { type: 'ay', value: Buffer.from(`it's "x"\0`) },
    { type: 'ay', value: bytes(0, 0) },
    { type: 'ay', value: bytes() },
    { type: 'y', value: 0 }, { type: 'n', value: -32768 }, { type: 'q', value: 65535 }, { type: 'i', value: -2147483648 },
    { type: 'u', value: 4294967295 }, { type: 'x', value: -(2n ** 63n) }, { type: 't', value: 2n ** 64n - 1n }, { type: 'h', value: -1 },
    { type: 'mmi', value: 5 }, { type: 'm(ii)', value: [1, 2] }, { type: 'ami', value: [null, 5] }, { type: 'mv', value: { type: 'ms', value: null } },
    { type: 'a{sv}', value: [['a', { type: 'ay', value: bytes(1) }], ['b', { type: 'a{sv}', value: [] }], ['c', { type: 'v', value: { type: 'u', value: 1 } }]] },
    { type: '{sv}', value: ['k', { type: '(sd)', value: ['x', 2] }] },
    { type: 'a(say)', value: [['a', Buffer.from('x\0')], ['b', bytes(2)]] },
    { type: 'a{ias}', value: [[1, []], [2, ['a']]] },
    { type: 'ao', value: ['/', '/a/b_c'] },
    { type: '(gv)', value: ['a{sv}', { type: 'mmas', value: [] }] },
  ];
  const metadata = values.map((v, i): [string, Variant] => [`k${i}`, v]);
  const { checksum } = await commitTree(repo, tree, { metadata, bindings: false, timestamp: 0, noXattrs: true });
  await assertPrintsLikeOstree(repoPath, checksum);
});

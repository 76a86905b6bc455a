/**
 * GVariant text format: what GLib's `g_variant_print` writes and `g_variant_parse` reads, for
 * `ostree commit --add-metadata=KEY=TEXT` and `ostree show --print-metadata-key=KEY`.
 *
 * Values use the plain-data model of gvariant.ts (y n q i u h d → number, x t → bigint,
 * b → boolean, s o g → string, ay → Uint8Array, aT → array, mT → value | null, tuples and dict
 * entries → arrays, v → Variant), so a parsed value goes straight to `serialize`.
 *
 * The parser mirrors GLib's two passes, because ostree's output depends on GLib's exact
 * inference rules rather than on any "obvious" typing:
 *   1. the text becomes a syntax tree (no types yet: `5` is just a number token);
 *   2. each node yields a type *pattern* (`MN` = "any number, maybe wrapped", `Ma*` = "array of
 *      anything"); array elements and dict keys are unified pattern by pattern, and leftover
 *      wildcards get GLib's defaults (integer → `i`, string → `s`, no maybe) or fail with
 *      "unable to infer type"; then the tree is evaluated against the final type.
 * Errors carry GLib's own messages with its byte ranges into the UTF-8 text
 * (`START-END:message`, or `START-END,START-END:` for two conflicting values), so a CLI can
 * print exactly what `ostree` prints.
 *
 * Not supported: `%` positional values (C varargs only), nested maybes holding "just nothing"
 * (the value model has one `null` for both), strings the host cannot hold (a `\u` escape of a
 * surrogate or of a code point past U+10FFFF, which GLib turns into invalid UTF-8). Which
 * characters count as printable comes from Node's Unicode tables, newer than GLib 2.74's
 * Unicode 15.0: a character assigned since then prints raw here where GLib writes `\uXXXX`.
 */
import { GVariantError, type GValue, type Variant } from './gvariant.js';

/** A parse failure; `start`/`end` are byte offsets into the UTF-8 text, as GLib reports them. */
export class GVariantParseError extends GVariantError {
  override name = 'GVariantParseError';

  constructor(
    message: string,
    readonly start: number,
    readonly end: number,
  ) {
    super(message);
  }
}

// ---------------------------------------------------------------------------------------------
// Type strings

type TypeNode =
  | { kind: 'basic'; str: string }
  | { kind: 'variant'; str: string }
  | { kind: 'array' | 'maybe'; str: string; elem: TypeNode }
  | { kind: 'tuple'; str: string; members: TypeNode[] }
  | { kind: 'entry'; str: string; key: TypeNode; value: TypeNode };

const BASIC = 'bynqiuxthdsog';
/** GLib's G_VARIANT_MAX_RECURSION_DEPTH: bounds both value nesting and type strings. */
const MAX_DEPTH = 128;

interface Scan {
  end: number;
  depth: number;
  definite: boolean;
}

/**
 * Scans one complete type at `pos` with GLib's rules (indefinite codes `* ? r` allowed, each
 * container level costs one unit of `limit`). Returns null when the type string is invalid.
 */
function scanType(s: string, pos: number, limit: number): Scan | null {
  const c = s[pos];
  if (c === undefined) return null;
  if (BASIC.includes(c) || c === 'v') return { end: pos + 1, depth: 1, definite: true };
  if (c === '*' || c === '?' || c === 'r') return { end: pos + 1, depth: 1, definite: false };
  if (limit === 0) return null;
  if (c === 'a' || c === 'm') {
    const child = scanType(s, pos + 1, limit - 1);
    return child && { end: child.end, depth: child.depth + 1, definite: child.definite };
  }
  if (c === '(') {
    let p = pos + 1;
    let depth = 1;
    let definite = true;
    while (s[p] !== ')') {
      const child = scanType(s, p, limit - 1);
      if (!child) return null;
      p = child.end;
      depth = Math.max(depth, child.depth + 1);
      definite &&= child.definite;
    }
    return { end: p + 1, depth, definite };
  }
  if (c === '{') {
    const key = s[pos + 1];
    if (key === undefined || !(BASIC + '?').includes(key)) return null;
    const value = scanType(s, pos + 2, limit - 1);
    if (!value || s[value.end] !== '}') return null;
    return { end: value.end + 1, depth: value.depth + 1, definite: key !== '?' && value.definite };
  }
  return null;
}

const typeCache = new Map<string, TypeNode>();

/** Parses a complete, definite type string; throws GVariantError otherwise. */
function typeNode(str: string): TypeNode {
  const cached = typeCache.get(str);
  if (cached) return cached;
  const scan = scanType(str, 0, MAX_DEPTH);
  if (!scan || scan.end !== str.length) throw new GVariantError(`Invalid GVariant type string "${str}"`);
  if (!scan.definite) throw new GVariantError(`GVariant type "${str}" is not definite`);
  const [node] = buildType(str, 0);
  typeCache.set(str, node);
  return node;
}

/** Builds the tree of a type already checked by scanType. */
function buildType(s: string, pos: number): [TypeNode, number] {
  const c = s[pos]!;
  if (c === 'v') return [{ kind: 'variant', str: 'v' }, pos + 1];
  if (BASIC.includes(c)) return [{ kind: 'basic', str: c }, pos + 1];
  if (c === 'a' || c === 'm') {
    const [elem, end] = buildType(s, pos + 1);
    return [{ kind: c === 'a' ? 'array' : 'maybe', str: s.slice(pos, end), elem }, end];
  }
  const members: TypeNode[] = [];
  let p = pos + 1;
  while (s[p] !== ')' && s[p] !== '}') {
    const [m, end] = buildType(s, p);
    members.push(m);
    p = end;
  }
  const str = s.slice(pos, p + 1);
  if (c === '{') return [{ kind: 'entry', str, key: members[0]!, value: members[1]! }, p + 1];
  return [{ kind: 'tuple', str, members }, p + 1];
}

// ---------------------------------------------------------------------------------------------
// Printing (g_variant_print)

export interface PrintOptions {
  /** Add the type information g_variant_print(value, TRUE) adds (`uint64 5`, `@as []`). Default true. */
  typeAnnotate?: boolean;
}

/**
 * Formats `v` exactly as GLib's `g_variant_print(v, typeAnnotate)` does, which is what
 * `ostree show --print-metadata-key` prints.
 */
export function printGVariant(v: Variant, options: PrintOptions = {}): string {
  return printValue(typeNode(v.type), v.value, options.typeAnnotate ?? true);
}

function printValue(t: TypeNode, v: GValue, annotate: boolean): string {
  switch (t.kind) {
    case 'basic': return printBasic(t.str, v, annotate);
    case 'variant': {
      const inner = asVariant(v);
      // GLib always annotates inside a variant: its contents can be of any type.
      return `<${printValue(typeNode(inner.type), inner.value, true)}>`;
    }
    case 'maybe': {
      const prefix = annotate ? `@${t.str} ` : '';
      if (v === null) return `${prefix}nothing`;
      // The child is printed bare; "just" is only needed to tell a nested nothing apart.
      const child = printValue(t.elem, v, false);
      return prefix + (child.endsWith('nothing') ? `just ${child}` : child);
    }
    case 'array': {
      if (t.elem.str === 'y') return printBytes(asBytes(v, t.str), annotate);
      const items = asArray(v, t.str);
      const dict = t.elem.kind === 'entry';
      if (items.length === 0) return `${annotate ? `@${t.str} ` : ''}${dict ? '{}' : '[]'}`;
      // Only the first element carries annotations: the rest must have the same type.
      const parts = items.map((item, i) => {
        if (t.elem.kind !== 'entry') return printValue(t.elem, item, annotate && i === 0);
        const [k, val] = asTuple(item, 2, t.elem.str);
        return `${printValue(t.elem.key, k, annotate && i === 0)}: ${printValue(t.elem.value, val, annotate && i === 0)}`;
      });
      return dict ? `{${parts.join(', ')}}` : `[${parts.join(', ')}]`;
    }
    case 'tuple': {
      const items = asTuple(v, t.members.length, t.str);
      const parts = t.members.map((m, i) => printValue(m, items[i]!, annotate));
      return `(${parts.join(', ')}${parts.length === 1 ? ',' : ''})`;
    }
    case 'entry': {
      const [k, val] = asTuple(v, 2, t.str);
      return `{${printValue(t.key, k, annotate)}, ${printValue(t.value, val, annotate)}}`;
    }
  }
}

function printBytes(bytes: Uint8Array, annotate: boolean): string {
  // A byte string is printed as b'…' only when its one NUL is the last byte (so it round-trips).
  const nul = bytes.indexOf(0);
  if (nul !== -1 && nul === bytes.length - 1) {
    const body = bytes.subarray(0, nul);
    const quote = body.includes(0x27) ? '"' : "'";
    return `b${quote}${strescape(body)}${quote}`;
  }
  if (bytes.length === 0) return annotate ? '@ay []' : '[]';
  const parts = Array.from(bytes, (b, i) => `${annotate && i === 0 ? 'byte ' : ''}0x${hex(b, 2)}`);
  return `[${parts.join(', ')}]`;
}

/** GLib's g_strescape: C escapes, octal for control bytes and everything outside ASCII. */
function strescape(bytes: Uint8Array): string {
  let out = '';
  for (const b of bytes) {
    const named = C_ESCAPES[b];
    if (named) out += `\\${named}`;
    else if (b === 0x5c) out += '\\\\';
    else if (b === 0x22) out += '\\"';
    else if (b < 0x20 || b >= 0x7f) out += `\\${b.toString(8).padStart(3, '0')}`;
    else out += String.fromCharCode(b);
  }
  return out;
}

/** Escapes both printers write by name (g_strescape has no `\a`; strings add it below). */
const C_ESCAPES: Record<number, string> = { 8: 'b', 12: 'f', 10: 'n', 13: 'r', 9: 't', 11: 'v' };
const STRING_ESCAPES: Record<number, string> = { ...C_ESCAPES, 7: 'a' };

// g_unichar_isprint: everything except control, format, unassigned and surrogate code points.
const NON_PRINTABLE = /[\p{Cc}\p{Cf}\p{Cn}\p{Cs}]/u;

function printString(s: string): string {
  const quote = s.includes("'") ? '"' : "'";
  let out = quote;
  for (const ch of s) {
    const cp = ch.codePointAt(0)!;
    if (ch === quote || ch === '\\') out += '\\';
    if (!NON_PRINTABLE.test(ch)) out += ch;
    else if (cp >= 0x10000) out += `\\U${hex(cp, 8)}`;
    else out += `\\${STRING_ESCAPES[cp] ?? `u${hex(cp, 4)}`}`;
  }
  return out + quote;
}

const hex = (n: number, width: number): string => n.toString(16).padStart(width, '0');

const INT_RANGES: Record<string, [min: number, max: number, keyword: string]> = {
  y: [0, 0xff, 'byte'], n: [-0x8000, 0x7fff, 'int16'], q: [0, 0xffff, 'uint16'],
  i: [-0x80000000, 0x7fffffff, ''], h: [-0x80000000, 0x7fffffff, 'handle'], u: [0, 0xffffffff, 'uint32'],
};

function printBasic(code: string, v: GValue, annotate: boolean): string {
  const range = INT_RANGES[code];
  if (range) {
    const [min, max, keyword] = range;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
      throw new GVariantError(`Expected an integer in [${min}, ${max}] for "${code}", got ${describe(v)}`);
    }
    // int32 is never annotated: it is what an unannotated number parses as.
    const prefix = annotate && keyword ? `${keyword} ` : '';
    return prefix + (code === 'y' ? `0x${hex(v, 2)}` : String(v));
  }
  switch (code) {
    case 'x': case 't': {
      if (typeof v !== 'bigint' && !(typeof v === 'number' && Number.isInteger(v))) {
        throw new GVariantError(`Expected a bigint for "${code}", got ${describe(v)}`);
      }
      const n = BigInt(v);
      const ok = code === 'x' ? BigInt.asIntN(64, n) === n : BigInt.asUintN(64, n) === n;
      if (!ok) throw new GVariantError(`${n} is out of range for "${code}"`);
      return `${annotate ? (code === 'x' ? 'int64 ' : 'uint64 ') : ''}${n}`;
    }
    case 'd':
      if (typeof v !== 'number') throw new GVariantError(`Expected a number for "d", got ${describe(v)}`);
      return formatDouble(v);
    case 'b':
      if (typeof v !== 'boolean') throw new GVariantError(`Expected a boolean for "b", got ${describe(v)}`);
      return v ? 'true' : 'false';
    case 's':
      if (typeof v !== 'string') throw new GVariantError(`Expected a string for "s", got ${describe(v)}`);
      return printString(v);
    case 'o': case 'g':
      if (typeof v !== 'string') throw new GVariantError(`Expected a string for "${code}", got ${describe(v)}`);
      // Object paths and signatures cannot hold quotes or escapes, so GLib prints them raw.
      return `${annotate ? (code === 'o' ? 'objectpath ' : 'signature ') : ''}'${v}'`;
  }
  throw new GVariantError(`Unsupported basic type "${code}"`);
}

/**
 * `%.17g` as glibc prints it (exact decimal expansion, ties to even), plus GLib's `.0` so the
 * text reads back as a double. JS's own conversions round ties away from zero, hence BigInt.
 */
export function formatDouble(d: number): string {
  if (Number.isNaN(d)) {
    const view = new DataView(new ArrayBuffer(8));
    view.setFloat64(0, d);
    return view.getUint8(0) & 0x80 ? '-nan' : 'nan';
  }
  if (!Number.isFinite(d)) return d > 0 ? 'inf' : '-inf';
  const s = formatG17(d);
  return /[.e]/.test(s) ? s : `${s}.0`;
}

function formatG17(d: number): string {
  if (d === 0) return Object.is(d, -0) ? '-0' : '0';
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, Math.abs(d));
  const bits = view.getBigUint64(0);
  const biased = Number(bits >> 52n);
  const fraction = bits & ((1n << 52n) - 1n);
  const mant = biased === 0 ? fraction : fraction | (1n << 52n);
  const e2 = (biased === 0 ? 1 : biased) - 1075;
  // |d| = num / 10^scale exactly.
  const num = e2 >= 0 ? mant << BigInt(e2) : mant * 5n ** BigInt(-e2);
  const scale = e2 >= 0 ? 0 : -e2;
  let digits = num.toString();
  let exp10 = digits.length - 1 - scale;
  if (digits.length > 17) {
    const p = 10n ** BigInt(digits.length - 17);
    let q = num / p;
    const r = num % p;
    const half = p / 2n;
    if (r > half || (r === half && (q & 1n) === 1n)) q += 1n;
    digits = q.toString();
    if (digits.length > 17) {
      digits = digits.slice(0, 17);
      exp10 += 1;
    }
  }
  digits = digits.replace(/0+$/, '') || '0';
  let out: string;
  if (exp10 < -4 || exp10 >= 17) {
    const mantissa = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
    out = `${mantissa}e${exp10 < 0 ? '-' : '+'}${String(Math.abs(exp10)).padStart(2, '0')}`;
  } else if (exp10 >= 0) {
    const int = digits.slice(0, exp10 + 1).padEnd(exp10 + 1, '0');
    const frac = digits.slice(exp10 + 1);
    out = frac ? `${int}.${frac}` : int;
  } else {
    out = `0.${'0'.repeat(-exp10 - 1)}${digits}`;
  }
  return d < 0 ? `-${out}` : out;
}

function describe(v: GValue): string {
  if (v === null) return 'null';
  if (v instanceof Uint8Array) return 'bytes';
  if (Array.isArray(v)) return 'an array';
  return typeof v === 'object' ? 'a variant' : `${typeof v} ${String(v)}`;
}

function asVariant(v: GValue): Variant {
  if (v === null || typeof v !== 'object' || Array.isArray(v) || v instanceof Uint8Array || typeof v.type !== 'string') {
    throw new GVariantError(`Expected a Variant {type, value} for "v", got ${describe(v)}`);
  }
  return v;
}

function asBytes(v: GValue, type: string): Uint8Array {
  if (!(v instanceof Uint8Array)) throw new GVariantError(`Expected bytes for "${type}", got ${describe(v)}`);
  return v;
}

function asArray(v: GValue, type: string): GValue[] {
  if (!Array.isArray(v)) throw new GVariantError(`Expected an array for "${type}", got ${describe(v)}`);
  return v;
}

function asTuple(v: GValue, n: number, type: string): GValue[] {
  const items = asArray(v, type);
  if (items.length !== n) throw new GVariantError(`Expected ${n} items for "${type}", got ${items.length}`);
  return items;
}

// ---------------------------------------------------------------------------------------------
// Parsing (g_variant_parse): tokens

interface Ref {
  start: number;
  end: number;
}

function fail(ref: Ref, message: string, other?: Ref): never {
  let where = ref.start === ref.end ? `${ref.start}` : `${ref.start}-${ref.end}`;
  if (other) where += `,${other.start}-${other.end}`;
  throw new GVariantParseError(`${where}:${message}`, ref.start, ref.end);
}

const SPACE = new Set([0x20, 0x09, 0x0a, 0x0b, 0x0c, 0x0d]);
const isDigit = (c: number): boolean => c >= 0x30 && c <= 0x39;
const isAlpha = (c: number): boolean => (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);
const isAlnum = (c: number): boolean => isDigit(c) || isAlpha(c);
const isXDigit = (c: number): boolean => isDigit(c) || ((c | 0x20) >= 0x61 && (c | 0x20) <= 0x66);

/** GLib's tokenizer over the UTF-8 bytes: one token of lookahead, positions in bytes. */
class Tokens {
  /** Where scanning resumes: the end of the current token once there is one. */
  pos = 0;
  /** Start of the current token, or -1 when the next one has not been read yet. */
  private tok = -1;

  constructor(readonly src: Buffer) {}

  /** Reads the next token if needed; an empty token at the end of input. */
  prepare(): void {
    if (this.tok >= 0) return;
    const s = this.src;
    let p = this.pos;
    while (p < s.length && SPACE.has(s[p]!)) p++;
    this.tok = p;
    if (p === s.length) {
      this.pos = p;
      return;
    }
    const c = s[p]!;
    let end = p + 1;
    if (isDigit(c) || c === 0x2d || c === 0x2b || c === 0x2e) {
      // Numbers take letters too, so that `0x1f`, `1e-5` and `inf` stay one token.
      end = p;
      while (end < s.length && (isAlnum(s[end]!) || s[end] === 0x2d || s[end] === 0x2b || s[end] === 0x2e)) end++;
    } else if (c === 0x62 && (s[p + 1] === 0x27 || s[p + 1] === 0x22)) {
      end = this.quoted(p + 2, s[p + 1]!);
    } else if (c >= 0x61 && c <= 0x7a) {
      while (end < s.length && isAlnum(s[end]!)) end++;
    } else if (c === 0x27 || c === 0x22) {
      end = this.quoted(p + 1, c);
    } else if (c === 0x40 || c === 0x25) {
      // A type declaration runs to a space, comma, colon or closing bracket it did not open.
      let brackets = 0;
      for (; end < s.length; end++) {
        const d = s[end]!;
        if (d === 0x2c || d === 0x3a || d === 0x3e || d === 0x5d || SPACE.has(d)) break;
        if (d === 0x28 || d === 0x7b) brackets++;
        else if ((d === 0x29 || d === 0x7d) && brackets-- === 0) break;
      }
    }
    this.pos = end;
  }

  /** End of a quoted token whose body starts at `p`; unterminated ones run to the end. */
  private quoted(p: number, quote: number): number {
    const s = this.src;
    for (; p < s.length; p++) {
      if (s[p] === quote) return p + 1;
      if (s[p] === 0x5c && ++p === s.length) break;
    }
    return s.length;
  }

  /** Start of the current token. */
  get start(): number {
    this.prepare();
    return this.tok;
  }

  text(): string {
    this.prepare();
    return this.src.toString('latin1', this.tok, this.pos);
  }

  bytes(): Buffer {
    this.prepare();
    return this.src.subarray(this.tok, this.pos);
  }

  peek(c: string): boolean {
    this.prepare();
    return this.pos > this.tok && this.src[this.tok] === c.charCodeAt(0);
  }

  is(token: string): boolean {
    return this.text() === token;
  }

  consume(token: string): boolean {
    if (!this.is(token)) return false;
    this.next();
    return true;
  }

  next(): void {
    this.prepare();
    this.tok = -1;
  }

  require(token: string, purpose: string): void {
    if (!this.consume(token)) this.error(`expected '${token}'${purpose}`);
  }

  /** An error at the current token: its start only, or its whole extent. */
  error(message: string, wholeToken = false): never {
    const start = this.start;
    return fail({ start, end: wholeToken ? this.pos : start }, message);
  }
}

// ---------------------------------------------------------------------------------------------
// Parsing: syntax tree

type Ast = { ref: Ref } & (
  | { k: 'array'; items: Ast[] }
  | { k: 'tuple'; items: Ast[] }
  | { k: 'variant'; child: Ast }
  | { k: 'dict'; keys: Ast[]; values: Ast[]; entry: boolean }
  | { k: 'string'; bytes: Buffer }
  | { k: 'bytestring'; bytes: Buffer }
  | { k: 'number'; token: string }
  | { k: 'boolean'; value: boolean }
  | { k: 'maybe'; child: Ast | null }
  | { k: 'typedecl'; type: string; child: Ast }
);

/** A node before its source range is known. */
type Unref<T> = T extends unknown ? Omit<T, 'ref'> : never;
type AstBody = Unref<Ast>;

const KEYWORDS: Record<string, string> = {
  boolean: 'b', byte: 'y', int16: 'n', uint16: 'q', int32: 'i', handle: 'h', uint32: 'u',
  int64: 'x', uint64: 't', double: 'd', string: 's', objectpath: 'o', signature: 'g',
};

function parseValue(ts: Tokens, depth: number): Ast {
  const start = ts.start;
  if (depth === 0) ts.error('variant nested too deeply');
  const body = parseBody(ts, depth);
  // A node spans from its first token to the end of its last one (trailing space excluded).
  return { ...body, ref: { start, end: ts.pos } } as Ast;
}

function parseBody(ts: Tokens, depth: number): AstBody {
  if (ts.peek('[')) {
    ts.next();
    const items: Ast[] = [];
    while (!ts.consume(']')) {
      if (items.length > 0) ts.require(',', " or ']' to follow array element");
      items.push(parseValue(ts, depth - 1));
    }
    return { k: 'array', items };
  }
  if (ts.peek('(')) {
    ts.next();
    const items: Ast[] = [];
    while (!ts.consume(')')) {
      if (items.length > 1) ts.require(',', " or ')' to follow tuple element");
      items.push(parseValue(ts, depth - 1));
      // The comma after the first element is what makes `(1,)` a tuple and `(1)` an error.
      if (items.length === 1) ts.require(',', ' after first tuple element');
    }
    return { k: 'tuple', items };
  }
  if (ts.peek('<')) {
    ts.next();
    const child = parseValue(ts, depth - 1);
    ts.require('>', ' to follow variant value');
    return { k: 'variant', child };
  }
  if (ts.peek('{')) return parseDict(ts, depth);
  if (ts.consume('true')) return { k: 'boolean', value: true };
  if (ts.consume('false')) return { k: 'boolean', value: false };
  const first = ts.bytes()[0];
  if (first !== undefined && (isDigit(first) || first === 0x2d || first === 0x2b || first === 0x2e || ts.is('inf') || ts.is('nan'))) {
    const token = ts.text();
    ts.next();
    return { k: 'number', token };
  }
  if (ts.peek('n') || ts.peek('j')) {
    if (ts.consume('just')) return { k: 'maybe', child: parseValue(ts, depth - 1) };
    if (ts.consume('nothing')) return { k: 'maybe', child: null };
    ts.error('unknown keyword', true);
  }
  const tok = ts.bytes();
  if (ts.peek('@') || (tok.length >= 2 && isAlpha(tok[0]!) && isAlpha(tok[1]!))) return parseTypeDecl(ts, depth);
  if (ts.peek("'") || ts.peek('"')) return { k: 'string', bytes: unescapeString(ts) };
  if (tok.length >= 2 && tok[0] === 0x62 && (tok[1] === 0x27 || tok[1] === 0x22)) {
    return { k: 'bytestring', bytes: unescapeBytes(ts) };
  }
  ts.error('expected value');
}

function parseDict(ts: Tokens, depth: number): AstBody {
  ts.next();
  const keys: Ast[] = [];
  const values: Ast[] = [];
  if (ts.consume('}')) return { k: 'dict', keys, values, entry: false };
  keys.push(parseValue(ts, depth - 1));
  // `{k, v}` is a lone dict entry, `{k: v, …}` a dictionary.
  const entry = ts.consume(',');
  if (!entry) ts.require(':', " or ',' to follow dictionary entry key");
  values.push(parseValue(ts, depth - 1));
  if (entry) {
    ts.require('}', ' at end of dictionary entry');
    return { k: 'dict', keys, values, entry };
  }
  while (!ts.consume('}')) {
    ts.require(',', " or '}' to follow dictionary entry");
    keys.push(parseValue(ts, depth - 1));
    ts.require(':', ' to follow dictionary entry key');
    values.push(parseValue(ts, depth - 1));
  }
  return { k: 'dict', keys, values, entry };
}

function parseTypeDecl(ts: Tokens, depth: number): AstBody {
  let type: string | undefined;
  if (ts.peek('@')) {
    const str = ts.text().slice(1);
    const scan = scanType(str, 0, MAX_DEPTH);
    if (!scan || scan.end !== str.length) ts.error('invalid type declaration', true);
    if (scan.depth > depth) ts.error('type declaration recurses too deeply', true);
    if (!scan.definite) ts.error('type declarations must be definite', true);
    type = str;
  } else {
    type = KEYWORDS[ts.text()];
    if (type === undefined) ts.error('unknown keyword', true);
  }
  ts.next();
  return { k: 'typedecl', type, child: parseValue(ts, depth - 1) };
}

const SIMPLE_ESCAPES: Record<number, number> = {
  0x61: 0x07, 0x62: 0x08, 0x66: 0x0c, 0x6e: 0x0a, 0x72: 0x0d, 0x74: 0x09, 0x76: 0x0b,
};

/**
 * Resolves the escapes of a quoted token starting at `open` (the quote's index). Both kinds
 * share the letter escapes and backslash-newline; `special` handles what differs (unicode in
 * strings, octal in bytestrings) and returns the index after what it consumed, or undefined.
 */
function unescapeQuoted(ts: Tokens, open: number, special: (tok: Buffer, i: number, out: number[], ref: Ref) => number | undefined): number[] {
  const ref = { start: ts.start, end: ts.pos };
  const tok = ts.bytes();
  const quote = tok[open]!;
  const out: number[] = [];
  let i = open + 1;
  for (;;) {
    const c = tok[i];
    if (c === quote) break;
    if (c === undefined) fail(ref, 'unterminated string constant');
    if (c !== 0x5c) {
      out.push(c);
      i++;
      continue;
    }
    const e = tok[++i];
    if (e === undefined) fail(ref, 'unterminated string constant');
    const next = special(tok, i, out, ref);
    if (next !== undefined) {
      i = next;
    } else if (SIMPLE_ESCAPES[e] !== undefined) {
      out.push(SIMPLE_ESCAPES[e]);
      i++;
    } else if (e === 0x0a) {
      i++; // a backslash-newline continues the line
    } else {
      out.push(e); // any other escaped byte stands for itself: \' \" \\
      i++;
    }
  }
  ts.next();
  return out;
}

/** The UTF-8 bytes of a quoted string token, escapes resolved. */
function unescapeString(ts: Tokens): Buffer {
  return Buffer.from(unescapeQuoted(ts, 0, (tok, i, out, ref) => {
    const e = tok[i]!;
    if (e !== 0x75 && e !== 0x55) return undefined;
    // \uXXXX and \UXXXXXXXX: exactly 4 or 8 hex digits naming a non-NUL character.
    const len = e === 0x75 ? 4 : 8;
    let valid = 0;
    while (valid < len && tok[i + 1 + valid] !== undefined && isXDigit(tok[i + 1 + valid]!)) valid++;
    const cp = valid === len ? parseInt(tok.toString('latin1', i + 1, i + 1 + len), 16) : 0;
    // Surrogates and code points past U+10FFFF would be invalid UTF-8 (GLib emits it anyway).
    if (cp === 0 || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
      fail({ start: ref.start + i + 1, end: ref.start + i + 1 + valid }, `invalid ${len}-character unicode escape`);
    }
    out.push(...Buffer.from(String.fromCodePoint(cp), 'utf8'));
    return i + 1 + len;
  }));
}

/** The bytes of a b'…' token, escapes resolved, cut at the first NUL as GLib's C string is. */
function unescapeBytes(ts: Tokens): Buffer {
  const out = unescapeQuoted(ts, 1, (tok, i, bytes) => {
    const e = tok[i]!;
    if (e < 0x30 || e > 0x37) return undefined;
    // Up to three octal digits; \777 wraps to one byte as C's unsigned char does.
    let val = e - 0x30;
    let j = i + 1;
    for (let n = 0; n < 2 && tok[j] !== undefined && tok[j]! >= 0x30 && tok[j]! <= 0x37; n++) val = (val << 3) | (tok[j++]! - 0x30);
    bytes.push(val & 0xff);
    return j;
  });
  const nul = out.indexOf(0);
  return Buffer.from(nul === -1 ? out : out.slice(0, nul));
}

// ---------------------------------------------------------------------------------------------
// Parsing: type inference
//
// Pattern alphabet (GLib's): ordinary type codes, plus `*` any type, `M` "zero or more maybes
// may go here", `N` any number type, `S` any string type (s, o, g).

function pattern(ast: Ast): string {
  switch (ast.k) {
    case 'array': return ast.items.length === 0 ? 'Ma*' : `Ma${commonPattern(ast.items)}`;
    case 'tuple': return `M(${ast.items.map(pattern).join('')})`;
    case 'variant': return 'Mv';
    case 'dict': {
      if (ast.keys.length === 0) return 'Ma{**}';
      const keyPattern = commonPattern(ast.keys);
      const key = keyPattern[0] === 'M' ? keyPattern[1]! : keyPattern[0]!;
      if (!'bynqiuxthdsogNS'.includes(key)) fail(ast.ref, 'dictionary keys must have basic types');
      // As in GLib, only the first value decides the value type; others must then fit it.
      return `M${ast.entry ? '' : 'a'}{${key}${pattern(ast.values[0]!)}}`;
    }
    case 'string': return 'MS';
    case 'bytestring': return 'May';
    case 'boolean': return 'Mb';
    case 'number': {
      const t = ast.token;
      const floating = t.includes('.') || (!t.startsWith('0x') && t.includes('e')) || t.includes('inf') || t.includes('nan');
      return floating ? 'Md' : 'MN';
    }
    case 'maybe': return ast.child ? `m${pattern(ast.child)}` : 'm*';
    case 'typedecl': return ast.type;
  }
}

/** The pattern all of `items` fit; on conflict names the first pair that cannot agree. */
function commonPattern(items: Ast[]): string {
  let merged = pattern(items[0]!);
  for (let i = 1; i < items.length; i++) {
    const next = pattern(items[i]!);
    const m = coalesce(merged, next);
    if (m !== null) {
      merged = m;
      continue;
    }
    for (let j = 0; j < i; j++) {
      if (coalesce(next, pattern(items[j]!)) === null) fail(items[j]!.ref, 'unable to find a common type', items[i]!.ref);
    }
    fail(items[i]!.ref, 'unable to find a common type');
  }
  return merged;
}

/** Unifies two patterns character by character, as GLib's pattern_coalesce; null if they clash. */
function coalesce(left: string, right: string): string | null {
  const side = [left, right];
  const at = [0, 0];
  let out = '';
  while (at[0]! < side[0]!.length && at[1]! < side[1]!.length) {
    const l = side[0]![at[0]!]!;
    const r = side[1]![at[1]!]!;
    if (l === r) {
      out += l;
      at[0]!++;
      at[1]!++;
      continue;
    }
    let matched = false;
    for (const [one, other] of [[0, 1], [1, 0]] as const) {
      const a = side[one]![at[one]!]!;
      const b = side[other]![at[other]!]!;
      if (a === '*' && b !== ')') {
        // A wildcard takes one complete type from the other side.
        const end = patternEnd(side[other]!, at[other]!);
        out += side[other]!.slice(at[other]!, end);
        at[other] = end;
        at[one]!++;
      } else if (a === 'M' && b === 'm') {
        out += 'm';
        at[other]!++;
      } else if (a === 'M' && b !== '*') {
        at[one]!++;
      } else if (a === 'N' && 'ynqiuxthd'.includes(b)) {
        out += b;
        at[one]!++;
        at[other]!++;
      } else if (a === 'S' && 'sog'.includes(b)) {
        out += b;
        at[one]!++;
        at[other]!++;
      } else {
        continue;
      }
      matched = true;
      break;
    }
    if (!matched) return null;
  }
  return at[0] === side[0]!.length && at[1] === side[1]!.length ? out : null;
}

/** End of the one complete type in a pattern starting at `p`. */
function patternEnd(s: string, p: number): number {
  while (s[p] === 'a' || s[p] === 'm' || s[p] === 'M') p++;
  let brackets = 0;
  do {
    const c = s[p++];
    if (c === '(' || c === '{') brackets++;
    else if (c === ')' || c === '}') brackets--;
  } while (brackets > 0 && p < s.length);
  return p;
}

/** Infers the type of `ast` with GLib's defaults and evaluates it. */
function resolve(ast: Ast): Variant {
  let type = '';
  for (const c of pattern(ast)) {
    if (c === '*') fail(ast.ref, 'unable to infer type');
    if (c === 'M') continue; // prefer plain values to maybes
    type += c === 'S' ? 's' : c === 'N' ? 'i' : c;
  }
  return { type, value: evaluate(ast, typeNode(type)) };
}

// ---------------------------------------------------------------------------------------------
// Parsing: evaluation against a type

function typeError(ast: Ast, t: TypeNode): never {
  return fail(ast.ref, `can not parse as value of type '${t.str}'`);
}

function evaluate(ast: Ast, t: TypeNode): GValue {
  if (ast.k === 'typedecl') return evaluate(ast.child, t);
  if (ast.k === 'maybe') {
    if (t.kind !== 'maybe') typeError(ast, t);
    if (!ast.child) return null;
    const value = evaluate(ast.child, t.elem);
    if (value === null) fail(ast.ref, `'just nothing' of type '${t.str}' cannot be represented (nested maybes share one null)`);
    return value;
  }
  // Any other value may stand where maybes of its type are expected: `'a'` is a fine `ms`.
  let base = t;
  while (base.kind === 'maybe') base = base.elem;
  return evaluateBase(ast, base);
}

function evaluateBase(ast: Ast, t: TypeNode): GValue {
  switch (ast.k) {
    case 'array': {
      if (t.kind !== 'array') typeError(ast, t);
      const items = ast.items.map((item) => evaluate(item, t.elem));
      return t.elem.str === 'y' ? Buffer.from(items as number[]) : items;
    }
    case 'tuple': {
      if (t.kind !== 'tuple') typeError(ast, t);
      const out: GValue[] = [];
      ast.items.forEach((item, i) => {
        const member = t.members[i];
        if (!member) typeError(ast, t);
        out.push(evaluate(item, member));
      });
      if (out.length !== t.members.length) typeError(ast, t);
      return out;
    }
    case 'variant':
      if (t.kind !== 'variant') typeError(ast, t);
      return resolve(ast.child);
    case 'dict': {
      if (ast.entry) {
        if (t.kind !== 'entry') typeError(ast, t);
        return [evaluate(ast.keys[0]!, t.key), evaluate(ast.values[0]!, t.value)];
      }
      if (t.kind !== 'array' || t.elem.kind !== 'entry') typeError(ast, t);
      const entry = t.elem;
      return ast.keys.map((k, i) => [evaluate(k, entry.key), evaluate(ast.values[i]!, entry.value)]);
    }
    case 'string': {
      const s = ast.bytes.toString('utf8');
      if (t.str === 's') return s;
      if (t.str === 'o') {
        if (!isObjectPath(s)) fail(ast.ref, 'not a valid object path');
        return s;
      }
      if (t.str === 'g') {
        if (!isSignature(s)) fail(ast.ref, 'not a valid signature');
        return s;
      }
      return typeError(ast, t);
    }
    case 'bytestring': {
      if (t.str !== 'ay') typeError(ast, t);
      return Buffer.concat([ast.bytes, Buffer.from([0])]);
    }
    case 'boolean':
      if (t.str !== 'b') typeError(ast, t);
      return ast.value;
    case 'number': return numberValue(ast, t);
    case 'maybe': case 'typedecl': return evaluate(ast, t);
  }
}

function isObjectPath(s: string): boolean {
  return s === '/' || /^(\/[A-Za-z0-9_]+)+$/.test(s);
}

/** A D-Bus signature: any run of complete definite types, no maybes. */
function isSignature(s: string): boolean {
  if (!/^[ybnqiuxthdvasog(){}]*$/.test(s)) return false;
  for (let p = 0; p < s.length;) {
    const scan = scanType(s, p, MAX_DEPTH);
    if (!scan) return false;
    p = scan.end;
  }
  return true;
}

const INT_LIMITS: Record<string, [negMax: bigint, posMax: bigint]> = {
  // [largest magnitude allowed when negative, largest allowed when positive]
  y: [0n, 0xffn], n: [0x8000n, 0x7fffn], q: [0n, 0xffffn], i: [0x80000000n, 0x7fffffffn],
  h: [0x80000000n, 0x7fffffffn], u: [0n, 0xffffffffn], x: [1n << 63n, (1n << 63n) - 1n], t: [0n, (1n << 64n) - 1n],
};

function numberValue(ast: Ast & { k: 'number' }, t: TypeNode): GValue {
  const token = ast.token;
  const invalidAt = (offset: number): never => {
    const start = ast.ref.start + offset;
    return fail({ start, end: start + 1 }, 'invalid character in number');
  };
  if (t.str === 'd') {
    const r = strtod(token);
    if (r.erange && r.value !== 0) fail(ast.ref, 'number too big for any type');
    if (r.end !== token.length) invalidAt(r.end);
    return r.value;
  }
  let negative = token[0] === '-';
  const skip = negative ? 1 : 0;
  const r = strtoull(token.slice(skip));
  if (r.overflow) fail(ast.ref, 'integer too big for any type');
  if (r.end + skip !== token.length) invalidAt(r.end + skip);
  if (r.value === 0n) negative = false;
  const limits = INT_LIMITS[t.str];
  if (!limits) typeError(ast, t);
  const [negMax, posMax] = limits;
  if (negative ? r.value > negMax : r.value > posMax) fail(ast.ref, `number out of range for type '${t.str}'`);
  const n = negative ? -r.value : r.value;
  return t.str === 'x' || t.str === 't' ? n : Number(n);
}

const MAX_U64 = (1n << 64n) - 1n;

/**
 * glibc's strtoull with base 0 (`0x` hex, leading `0` octal), reporting where it stopped.
 * A leading `-` negates modulo 2^64, as C does.
 */
function strtoull(s: string): { value: bigint; end: number; overflow: boolean } {
  let i = 0;
  let negative = false;
  if (s[i] === '-' || s[i] === '+') negative = s[i++] === '-';
  let base = 10;
  if (s[i] === '0') {
    if (s[i + 1] === 'x' || s[i + 1] === 'X') {
      i += 2;
      base = 16;
    } else {
      base = 8;
    }
  }
  const save = i;
  let value = 0n;
  let overflow = false;
  for (; i < s.length; i++) {
    const digit = parseInt(s[i]!, 36);
    if (Number.isNaN(digit) || digit >= base) break;
    value = value * BigInt(base) + BigInt(digit);
    if (value > MAX_U64) overflow = true;
  }
  if (i === save) {
    // Nothing converted; after a bare "0x" the "0" counts and parsing stops at the x.
    const end = save >= 2 && (s[save - 1] === 'x' || s[save - 1] === 'X') && s[save - 2] === '0' ? save - 1 : 0;
    return { value: 0n, end, overflow: false };
  }
  if (overflow) return { value: MAX_U64, end: i, overflow };
  return { value: negative ? BigInt.asUintN(64, -value) : value, end: i, overflow };
}

/**
 * glibc's strtod: decimal and hex floats, inf/infinity/nan in any case, reporting where it
 * stopped and whether the result over- or underflowed (ERANGE).
 */
function strtod(s: string): { value: number; end: number; erange: boolean } {
  let i = 0;
  const sign = s[i] === '-' ? -1 : 1;
  if (s[i] === '-' || s[i] === '+') i++;
  const rest = s.slice(i).toLowerCase();
  if (rest.startsWith('inf')) return { value: sign * Infinity, end: i + (rest.startsWith('infinity') ? 8 : 3), erange: false };
  if (rest.startsWith('nan')) return { value: sign < 0 ? -NaN : NaN, end: i + 3, erange: false };
  const code = (k: number): number => s.charCodeAt(k);
  if (rest.startsWith('0x') && (isXDigit(code(i + 2)) || (s[i + 2] === '.' && isXDigit(code(i + 3))))) {
    return hexFloat(s, i + 2, sign);
  }
  const digitsFrom = (k: number): number => {
    while (k < s.length && isDigit(code(k))) k++;
    return k;
  };
  const intEnd = digitsFrom(i);
  let end = intEnd;
  let fracEnd = intEnd;
  if (s[end] === '.') fracEnd = digitsFrom(end + 1);
  if (intEnd === i && fracEnd <= intEnd + 1) return { value: 0, end: 0, erange: false };
  end = s[intEnd] === '.' ? fracEnd : intEnd;
  if (s[end] === 'e' || s[end] === 'E') {
    const expStart = s[end + 1] === '-' || s[end + 1] === '+' ? end + 2 : end + 1;
    const expEnd = digitsFrom(expStart);
    if (expEnd > expStart) end = expEnd;
  }
  const text = s.slice(i, end);
  const value = sign * Number(text.startsWith('.') ? `0${text}` : text);
  const nonzero = /[1-9]/.test(text.split(/[eE]/)[0]!);
  // Overflow, underflow to zero and (inexact) subnormal results all set ERANGE in glibc.
  const erange = !Number.isFinite(value) || (nonzero && Math.abs(value) < 2.2250738585072014e-308);
  return { value, end, erange };
}

function hexFloat(s: string, i: number, sign: number): { value: number; end: number; erange: boolean } {
  let mant = 0n;
  let exp2 = 0;
  let seenPoint = false;
  for (; i < s.length; i++) {
    if (s[i] === '.' && !seenPoint) {
      seenPoint = true;
      continue;
    }
    if (!isXDigit(s.charCodeAt(i))) break;
    mant = mant * 16n + BigInt(parseInt(s[i]!, 16));
    if (seenPoint) exp2 -= 4;
  }
  let end = i;
  if (s[i] === 'p' || s[i] === 'P') {
    const expStart = s[i + 1] === '-' || s[i + 1] === '+' ? i + 2 : i + 1;
    let k = expStart;
    while (k < s.length && isDigit(s.charCodeAt(k))) k++;
    if (k > expStart) {
      exp2 += Number(s.slice(i + 1, k));
      end = k;
    }
  }
  if (mant === 0n) return { value: sign * 0, end, erange: false };
  // Round mant × 2^exp2 to the precision a double has at that magnitude, ties to even.
  const bits = mant.toString(2).length;
  const top = bits - 1 + exp2;
  const keep = top >= -1022 ? 53 : 53 - (-1022 - top);
  const shift = bits - keep;
  let q = mant;
  let inexact = false;
  if (shift > 0) {
    q = mant >> BigInt(shift);
    const r = mant - (q << BigInt(shift));
    const half = 1n << BigInt(shift - 1);
    inexact = r !== 0n;
    if (r > half || (r === half && (q & 1n) === 1n)) q += 1n;
  }
  let k = exp2 + Math.max(shift, 0);
  let value = Number(q);
  // Scale in steps: 2 ** k alone under- or overflows for |k| > 1023.
  while (k > 1000) { value *= 2 ** 1000; k -= 1000; }
  while (k < -1000) { value *= 2 ** -1000; k += 1000; }
  value *= 2 ** k;
  const erange = !Number.isFinite(value) || (inexact && value < 2.2250738585072014e-308);
  return { value: sign * value, end, erange };
}

// ---------------------------------------------------------------------------------------------
// Entry point

/**
 * Parses GVariant text as `g_variant_parse(type, text, NULL, NULL, &error)` does; with no
 * `type` the type is inferred exactly as GLib infers it (`5` → `i`, `1.5` → `d`, `'a'` → `s`,
 * `[]` → error). Throws GVariantParseError (a GVariantError) with GLib's message on bad input.
 */
export function parseGVariantText(text: string, type?: string): Variant {
  const nul = text.indexOf('\0');
  if (nul !== -1) {
    // GLib would silently stop at a NUL; refusing is safer than dropping the rest.
    const at = Buffer.byteLength(text.slice(0, nul));
    fail({ start: at, end: at }, 'unexpected NUL character');
  }
  const ts = new Tokens(Buffer.from(text, 'utf8'));
  const ast = parseValue(ts, MAX_DEPTH);
  const result = type === undefined ? resolve(ast) : { type, value: evaluate(ast, typeNode(type)) };
  // Every token of the value has been consumed, so `ts.pos` is right after its last one.
  let rest = ts.pos;
  while (rest < ts.src.length && SPACE.has(ts.src[rest]!)) rest++;
  if (rest !== ts.src.length) fail({ start: rest, end: rest }, 'expected end of input');
  return result;
}

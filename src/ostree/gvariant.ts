/**
 * GVariant serialization in normal form: the subset of the format libostree uses for every
 * metadata object (commit, dirtree, dirmeta, file headers, summary, detached metadata).
 *
 * Values are plain JS data driven by a type string:
 *   y n q i u h d → number, x t → bigint, b → boolean, s o g → string, ay → Uint8Array,
 *   aT → T[], mT → T | null, (T…) and {KV} → tuple arrays, v → Variant.
 *
 * Only pure functions on bytes live here; nothing touches the disk.
 */

export class GVariantError extends Error {
  override name = 'GVariantError';
}

export interface Variant {
  type: string;
  value: GValue;
}

// A recursive union; `unknown` would force casts at every use.
export type GValue = number | bigint | boolean | string | Uint8Array | null | Variant | GValue[];

type GType =
  | { kind: 'basic'; code: string; align: number; size: number | null }
  | { kind: 'array'; elem: GType; align: number; size: null; str: string }
  | { kind: 'maybe'; elem: GType; align: number; size: null; str: string }
  | { kind: 'tuple'; members: GType[]; align: number; size: number | null; str: string }
  | { kind: 'variant'; align: 8; size: null };

const BASIC: Record<string, [align: number, size: number | null]> = {
  y: [1, 1], b: [1, 1], n: [2, 2], q: [2, 2], i: [4, 4], u: [4, 4], h: [4, 4],
  x: [8, 8], t: [8, 8], d: [8, 8], s: [1, null], o: [1, null], g: [1, null],
};

const typeCache = new Map<string, GType>();

/** Parses a complete GVariant type string, e.g. `(a{sv}aya(say)sstayay)`. */
export function parseType(str: string): GType {
  const cached = typeCache.get(str);
  if (cached) return cached;
  const [type, end] = parseTypeAt(str, 0);
  if (end !== str.length) throw new GVariantError(`Invalid GVariant type string "${str}"`);
  typeCache.set(str, type);
  return type;
}

function parseTypeAt(str: string, pos: number): [GType, number] {
  const c = str[pos];
  if (c === undefined) throw new GVariantError(`Truncated GVariant type string "${str}"`);
  const basic = BASIC[c];
  if (basic) return [{ kind: 'basic', code: c, align: basic[0], size: basic[1] }, pos + 1];
  if (c === 'v') return [{ kind: 'variant', align: 8, size: null }, pos + 1];
  if (c === 'a' || c === 'm') {
    const [elem, end] = parseTypeAt(str, pos + 1);
    return [{ kind: c === 'a' ? 'array' : 'maybe', elem, align: elem.align, size: null, str: str.slice(pos, end) }, end];
  }
  if (c === '(' || c === '{') {
    const close = c === '(' ? ')' : '}';
    const members: GType[] = [];
    let p = pos + 1;
    while (str[p] !== close) {
      if (p >= str.length) throw new GVariantError(`Unterminated container in GVariant type "${str}"`);
      const [m, end] = parseTypeAt(str, p);
      members.push(m);
      p = end;
    }
    if (c === '{' && (members.length !== 2 || members[0]!.kind !== 'basic')) {
      throw new GVariantError(`Dict entry in "${str}" must have a basic key and one value`);
    }
    const align = members.reduce((a, m) => Math.max(a, m.align), 1);
    let size: number | null = 0;
    for (const m of members) {
      if (m.size === null) { size = null; break; }
      size = alignUp(size, m.align) + m.size;
    }
    if (size !== null) size = members.length === 0 ? 1 : alignUp(size, align);
    return [{ kind: 'tuple', members, align, size, str: str.slice(pos, p + 1) }, p + 1];
  }
  throw new GVariantError(`Unsupported GVariant type code "${c}" in "${str}"`);
}

const alignUp = (n: number, a: number): number => (n + a - 1) & ~(a - 1);

/** Minimal framing-offset width for a container whose body is `body` bytes with `n` offsets. */
function offsetSize(body: number, n: number): number {
  if (n === 0) return 0;
  for (const k of [1, 2, 4]) if (body + n * k <= 2 ** (8 * k) - 1) return k;
  return 8;
}

function writeOffsets(out: Buffer, at: number, offsets: number[], k: number): void {
  for (const o of offsets) {
    if (k === 1) out.writeUInt8(o, at);
    else if (k === 2) out.writeUInt16LE(o, at);
    else if (k === 4) out.writeUInt32LE(o, at);
    else out.writeBigUInt64LE(BigInt(o), at);
    at += k;
  }
}

const EMPTY = Buffer.alloc(0);

/** Serializes `value` as type `type` in normal form. */
export function serialize(type: string, value: GValue): Buffer {
  return write(parseType(type), value);
}

function write(t: GType, v: GValue): Buffer {
  switch (t.kind) {
    case 'basic': return writeBasic(t.code, v);
    case 'variant': {
      const variant = v as Variant;
      if (!variant || typeof variant !== 'object' || !('type' in variant)) throw new GVariantError('Expected a Variant {type, value}');
      const child = write(parseType(variant.type), variant.value);
      return Buffer.concat([child, Buffer.from([0]), Buffer.from(variant.type, 'ascii')]);
    }
    case 'maybe': {
      if (v === null) return EMPTY;
      const child = write(t.elem, v);
      return t.elem.size === null ? Buffer.concat([child, Buffer.from([0])]) : child;
    }
    case 'array': {
      if (t.elem.kind === 'basic' && t.elem.code === 'y') {
        if (!(v instanceof Uint8Array)) throw new GVariantError('Expected bytes for "ay"');
        return Buffer.from(v.buffer, v.byteOffset, v.byteLength);
      }
      if (!Array.isArray(v)) throw new GVariantError(`Expected an array for "${t.str}"`);
      const parts = v.map((e) => write(t.elem, e));
      return assemble(parts, t.elem.align, t.elem.size === null ? parts.map((_, i) => i) : [], false);
    }
    case 'tuple': {
      if (!Array.isArray(v) || v.length !== t.members.length) throw new GVariantError(`Expected a ${t.members.length}-tuple for "${t.str}"`);
      const parts = t.members.map((m, i) => write(m, v[i] as GValue));
      if (t.members.length === 0) return Buffer.from([0]);
      const framed: number[] = [];
      t.members.forEach((m, i) => { if (m.size === null && i < t.members.length - 1) framed.push(i); });
      const out = assemble(parts, 0, framed, true, t.members.map((m) => m.align));
      if (t.size !== null) {
        // Fixed-size tuples are padded to their alignment and carry no offsets.
        return out.length === t.size ? out : Buffer.concat([out, Buffer.alloc(t.size - out.length)]);
      }
      return out;
    }
  }
}

/**
 * Lays out `parts` with alignment padding and appends framing offsets for the parts listed in
 * `framed` (end positions; reversed for structures).
 */
function assemble(parts: Buffer[], elemAlign: number, framed: number[], reverse: boolean, aligns?: number[]): Buffer {
  const ends: number[] = [];
  let pos = 0;
  for (let i = 0; i < parts.length; i++) {
    pos = alignUp(pos, aligns ? aligns[i]! : elemAlign) + parts[i]!.length;
    ends.push(pos);
  }
  const offsets = framed.map((i) => ends[i]!);
  if (reverse) offsets.reverse();
  const k = offsetSize(pos, offsets.length);
  const out = Buffer.alloc(pos + offsets.length * k);
  pos = 0;
  for (let i = 0; i < parts.length; i++) {
    pos = alignUp(pos, aligns ? aligns[i]! : elemAlign);
    parts[i]!.copy(out, pos);
    pos += parts[i]!.length;
  }
  writeOffsets(out, pos, offsets, k);
  return out;
}

function writeBasic(code: string, v: GValue): Buffer {
  switch (code) {
    case 's': case 'o': case 'g': {
      if (typeof v !== 'string') throw new GVariantError(`Expected a string for "${code}"`);
      if (v.includes('\0')) throw new GVariantError('GVariant strings cannot contain NUL');
      const b = Buffer.alloc(Buffer.byteLength(v) + 1);
      b.write(v, 0);
      return b;
    }
    case 'b': return Buffer.from([v ? 1 : 0]);
    case 'y': return Buffer.from([Number(v) & 0xff]);
    case 'n': { const b = Buffer.alloc(2); b.writeInt16LE(Number(v)); return b; }
    case 'q': { const b = Buffer.alloc(2); b.writeUInt16LE(Number(v)); return b; }
    case 'i': case 'h': { const b = Buffer.alloc(4); b.writeInt32LE(Number(v)); return b; }
    case 'u': { const b = Buffer.alloc(4); b.writeUInt32LE(Number(v)); return b; }
    case 'x': { const b = Buffer.alloc(8); b.writeBigInt64LE(BigInt(v as bigint)); return b; }
    case 't': { const b = Buffer.alloc(8); b.writeBigUInt64LE(BigInt(v as bigint)); return b; }
    case 'd': { const b = Buffer.alloc(8); b.writeDoubleLE(Number(v)); return b; }
  }
  throw new GVariantError(`Unsupported basic type "${code}"`);
}

/** Parses `bytes` as type `type`. Every offset is bounds-checked: input may be hostile. */
export function deserialize(type: string, bytes: Uint8Array): GValue {
  const buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return read(parseType(type), buf);
}

function readOffset(b: Buffer, at: number, k: number): number {
  // k is 0 for an empty container, which has no room for the offset it needs.
  if (k === 0 || at < 0 || at + k > b.length) throw new GVariantError('Framing offset out of range');
  if (k === 1) return b.readUInt8(at);
  if (k === 2) return b.readUInt16LE(at);
  if (k === 4) return b.readUInt32LE(at);
  return Number(b.readBigUInt64LE(at));
}

function readerOffsetSize(size: number): number {
  if (size === 0) return 0;
  if (size <= 0xff) return 1;
  if (size <= 0xffff) return 2;
  if (size <= 0xffffffff) return 4;
  return 8;
}

function read(t: GType, b: Buffer): GValue {
  switch (t.kind) {
    case 'basic': return readBasic(t.code, t.size, b);
    case 'variant': {
      const nul = b.lastIndexOf(0);
      if (nul < 0) throw new GVariantError('Variant without a type string');
      const typeStr = b.subarray(nul + 1).toString('ascii');
      return { type: typeStr, value: read(parseType(typeStr), b.subarray(0, nul)) };
    }
    case 'maybe': {
      if (b.length === 0) return null;
      if (t.elem.size !== null) {
        if (b.length !== t.elem.size) throw new GVariantError(`Maybe of size ${b.length} does not match its element`);
        return read(t.elem, b);
      }
      if (b[b.length - 1] !== 0) throw new GVariantError('Maybe value without its trailing NUL');
      return read(t.elem, b.subarray(0, b.length - 1));
    }
    case 'array': {
      if (t.elem.kind === 'basic' && t.elem.code === 'y') return b;
      if (t.elem.size !== null) {
        if (b.length % t.elem.size !== 0) throw new GVariantError(`Array of ${b.length} bytes is not a multiple of ${t.elem.size}`);
        const out: GValue[] = [];
        for (let p = 0; p < b.length; p += t.elem.size) out.push(read(t.elem, b.subarray(p, p + t.elem.size)));
        return out;
      }
      if (b.length === 0) return [];
      const k = readerOffsetSize(b.length);
      const last = readOffset(b, b.length - k, k);
      const tableLen = b.length - last;
      if (last > b.length || tableLen % k !== 0 || tableLen === 0) throw new GVariantError('Invalid array framing');
      const n = tableLen / k;
      const out: GValue[] = [];
      let start = 0;
      for (let i = 0; i < n; i++) {
        const end = readOffset(b, last + i * k, k);
        start = alignUp(start, t.elem.align);
        if (end < start || end > last) throw new GVariantError('Array element offset out of range');
        out.push(read(t.elem, b.subarray(start, end)));
        start = end;
      }
      return out;
    }
    case 'tuple': {
      if (t.size !== null && b.length !== t.size) throw new GVariantError(`Expected ${t.size} bytes for "${t.str}", got ${b.length}`);
      const k = readerOffsetSize(b.length);
      let tableEnd = b.length; // offsets are read backwards from the end
      let pos = 0;
      const out: GValue[] = [];
      t.members.forEach((m, i) => {
        pos = alignUp(pos, m.align);
        let end: number;
        if (m.size !== null) end = pos + m.size;
        else if (i < t.members.length - 1) { tableEnd -= k; end = readOffset(b, tableEnd, k); }
        else end = tableEnd;
        if (pos > end || end > tableEnd) throw new GVariantError(`Member ${i} of "${t.str}" out of range`);
        out.push(read(m, b.subarray(pos, end)));
        pos = end;
      });
      return out;
    }
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

function readBasic(code: string, size: number | null, b: Buffer): GValue {
  if (size !== null && b.length !== size) throw new GVariantError(`Expected ${size} bytes for "${code}", got ${b.length}`);
  switch (code) {
    case 's': case 'o': case 'g': {
      if (b.length === 0 || b[b.length - 1] !== 0) throw new GVariantError('String without its terminating NUL');
      const body = b.subarray(0, b.length - 1);
      if (body.includes(0)) throw new GVariantError('String with an embedded NUL');
      try {
        return utf8.decode(body);
      } catch (cause) {
        throw new GVariantError('String is not valid UTF-8', { cause });
      }
    }
    case 'b': return b[0] !== 0;
    case 'y': return b[0]!;
    case 'n': return b.readInt16LE(0);
    case 'q': return b.readUInt16LE(0);
    case 'i': case 'h': return b.readInt32LE(0);
    case 'u': return b.readUInt32LE(0);
    case 'x': return b.readBigInt64LE(0);
    case 't': return b.readBigUInt64LE(0);
    case 'd': return b.readDoubleLE(0);
  }
  throw new GVariantError(`Unsupported basic type "${code}"`);
}

/** True when `bytes` is the one normal-form serialization of its value (what `ostree fsck` demands). */
export function isNormalForm(type: string, bytes: Uint8Array): boolean {
  // A value that does not even parse is, by definition, not in normal form.
  try {
    return Buffer.compare(serialize(type, deserialize(type, bytes)), Buffer.from(bytes)) === 0;
  } catch {
    return false;
  }
}

/**
 * The value with every multi-byte number byte-swapped (g_variant_byteswap): `ostree show`
 * reads metadata as big-endian unless told not to (`-B`), as values written on
 * big-endian hosts are.
 */
export function byteswapVariant(v: Variant): Variant {
  return { type: v.type, value: byteswapValue(parseType(v.type), v.value) };
}

function byteswapValue(t: GType, value: GValue): GValue {
  switch (t.kind) {
    case 'variant':
      return byteswapVariant(value as Variant);
    case 'array':
      return value instanceof Uint8Array ? value : (value as GValue[]).map((e) => byteswapValue(t.elem, e));
    case 'maybe':
      return value === null ? null : byteswapValue(t.elem, value);
    case 'tuple':
      return (value as GValue[]).map((e, i) => byteswapValue(t.members[i]!, e));
    case 'basic':
      return byteswapBasic(t.code, value);
  }
}

function byteswapBasic(code: string, value: GValue): GValue {
  const buf = Buffer.alloc(8);
  switch (code) {
    case 'n': buf.writeInt16LE(value as number); return buf.readInt16BE();
    case 'q': buf.writeUInt16LE(value as number); return buf.readUInt16BE();
    case 'i': case 'h': buf.writeInt32LE(value as number); return buf.readInt32BE();
    case 'u': buf.writeUInt32LE(value as number); return buf.readUInt32BE();
    case 'x': buf.writeBigInt64LE(value as bigint); return buf.readBigInt64BE();
    case 't': buf.writeBigUInt64LE(value as bigint); return buf.readBigUInt64BE();
    case 'd': buf.writeDoubleLE(value as number); return buf.readDoubleBE();
    default: return value;
  }
}

/**
 * The tar parser of layer extraction: tar-stream's, with the PAX `SCHILY.xattr.NAME` records
 * (GNU tar's and Docker's form of extended attributes) read as bytes. tar-stream decodes every
 * PAX record value as UTF-8, which mangles binary values: `security.capability` of any file
 * with cap_setuid (newuidmap) has a byte ≥ 0x80. tar-stream 3 exposes the raw header block in
 * one place only, its `_decodeLongHeader(buf)`; tarParser() wraps it, and refuses to run if an
 * upgrade removed it (the binary-xattr tests fail with it).
 */
import * as tar from 'tar-stream';
import type { Xattr } from '../ostree/objects.js';

const XATTR_PREFIX = 'SCHILY.xattr.';

/**
 * The records of a PAX extended header block (`LENGTH KEY=VALUE\n`, LENGTH counting the whole
 * record), values as bytes; a later duplicate key wins. Throws on a malformed record, as GNU
 * tar refuses a malformed extended header.
 */
export function parsePaxRecords(block: Uint8Array): Map<string, Buffer> {
  const buf = Buffer.from(block.buffer, block.byteOffset, block.byteLength);
  const records = new Map<string, Buffer>();
  let pos = 0;
  // Trailing NULs pad some writers' blocks.
  while (pos < buf.length && buf[pos] !== 0) {
    const space = buf.indexOf(0x20, pos);
    const digits = space < 0 ? '' : buf.toString('latin1', pos, space);
    const length = /^[0-9]{1,9}$/.test(digits) ? Number(digits) : NaN;
    const end = pos + length;
    if (!(end > space + 1) || end > buf.length || buf[end - 1] !== 0x0a) {
      throw new Error(`malformed PAX extended header record at byte ${pos} (expected "LENGTH KEY=VALUE\\n")`);
    }
    const eq = buf.indexOf(0x3d, space + 1);
    if (eq < 0 || eq >= end - 1) throw new Error(`malformed PAX extended header record at byte ${pos} (no "=")`);
    records.set(buf.toString('utf8', space + 1, eq), Buffer.from(buf.subarray(eq + 1, end - 1)));
    pos = end;
  }
  return records;
}

/** The extended attributes among PAX records: `SCHILY.xattr.NAME` → [NAME, bytes]. */
function xattrRecords(records: Map<string, Buffer>): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  for (const [key, value] of records) if (key.startsWith(XATTR_PREFIX) && key.length > XATTR_PREFIX.length) out.set(key.slice(XATTR_PREFIX.length), value);
  return out;
}

/** The parts of tar-stream 3's parser the raw PAX block is taken from (not in its typings). */
interface ParserInternals {
  _header: { type: string | null } | null;
  _decodeLongHeader(buf: Buffer): void;
}

export interface XattrTarParser {
  parser: tar.Extract;
  /**
   * The xattrs of the entry the parser just emitted (global PAX records, then the entry's own);
   * call once per `entry` event, before the next one.
   */
  takeXattrs(): Xattr[];
}

/** A tar-stream parser whose entries' xattrs come as bytes through takeXattrs(). */
export function tarParser(): XattrTarParser {
  const parser = tar.extract();
  const internals = parser as unknown as ParserInternals;
  const decode = internals._decodeLongHeader;
  if (typeof decode !== 'function') throw new Error('tar-stream no longer has _decodeLongHeader: binary xattrs cannot be read (see src/image/tar-pax.ts)');
  let global = new Map<string, Buffer>();
  let pending: Map<string, Buffer> | null = null;
  internals._decodeLongHeader = (buf: Buffer): void => {
    const type = internals._header?.type;
    if (type === 'pax-header') pending = xattrRecords(parsePaxRecords(buf));
    else if (type === 'pax-global-header') global = new Map([...global, ...xattrRecords(parsePaxRecords(buf))]);
    decode.call(parser, buf);
  };
  return {
    parser,
    takeXattrs: () => {
      const own: Map<string, Buffer> = pending ?? new Map();
      pending = null;
      return [...new Map([...global, ...own])];
    },
  };
}

/**
 * Boot Loader Specification entries as libostree 2022.7 reads and writes them
 * (`boot/loader.B/entries/ostree-N-OS.conf`), the `ostree=` kernel argument that ties an entry
 * to its deployment (`/ostree/boot.B/OS/BOOTCSUM/BOOTSERIAL`), and glibc's strverscmp, which
 * orders entries by their `version` field. Pure text in, text out: nothing here touches the disk.
 */

export class BlsError extends Error {
  override name = 'BlsError';
}

export interface BlsEntry {
  /**
   * key → value in first-seen order. A repeated key keeps its last value, as libostree's hash
   * table does; a repeated `initrd` is the exception (see overlayInitrds).
   */
  fields: Map<string, string>;
  /** `initrd` lines after the first: libostree keeps them as overlay initrds, in order. */
  overlayInitrds: string[];
}

/** Keys written first, in this order; any others follow in the entry's own order. */
const WRITE_ORDER = ['title', 'version', 'options', 'devicetree', 'linux', 'initrd'] as const;

/**
 * Parses an entry file. Only lines starting with an ASCII letter count; each splits at its
 * first space or tab into key and value (the value is kept verbatim, even if it starts with
 * more blanks). A line with no separator is ignored, as libostree ignores it: an entry that
 * only lost its value must not hide the rest of the file.
 */
export function parseBlsEntry(text: string): BlsEntry {
  const entry: BlsEntry = { fields: new Map(), overlayInitrds: [] };
  for (const line of text.split('\n')) {
    if (!/^[A-Za-z]/.test(line)) continue;
    const sep = line.search(/[ \t]/);
    if (sep < 0) continue;
    const key = line.slice(0, sep);
    const value = line.slice(sep + 1);
    if (key === 'initrd' && entry.fields.has('initrd')) entry.overlayInitrds.push(value);
    else entry.fields.set(key, value);
  }
  return entry;
}

/** Serializes as libostree does: the well-known keys first, overlay initrds after the initrd, one space as separator. */
export function serializeBlsEntry(entry: BlsEntry): string {
  const lines: string[] = [];
  for (const key of WRITE_ORDER) {
    const value = entry.fields.get(key);
    if (value !== undefined) lines.push(`${key} ${value}`);
  }
  if (entry.overlayInitrds.length > 0) {
    // An overlay without a primary initrd would be read back as the primary: refuse to write it.
    if (!entry.fields.has('initrd')) throw new BlsError('BLS entry has overlay initrds but no initrd');
    for (const value of entry.overlayInitrds) lines.push(`initrd ${value}`);
  }
  for (const [key, value] of entry.fields) {
    if (!(WRITE_ORDER as readonly string[]).includes(key)) lines.push(`${key} ${value}`);
  }
  for (const line of lines) {
    // A newline in a value would smuggle in another key; a key must parse back as the same key.
    if (line.includes('\n')) throw new BlsError(`BLS entry value contains a newline: ${JSON.stringify(line)}`);
  }
  for (const key of entry.fields.keys()) {
    if (!/^[A-Za-z][^ \t\n]*$/.test(key)) throw new BlsError(`Invalid BLS entry key ${JSON.stringify(key)}`);
  }
  return lines.map((l) => `${l}\n`).join('');
}

/** The 2022.7 file name of the entry with `version` N: `ostree-N-OS.conf` (2024.5+ drops `-OS`; readers accept both). */
export function blsEntryFileName(version: number, osname: string): string {
  return `ostree-${version}-${osname}.conf`;
}

/** Files in `loader.B/entries` that libostree reads as its entries (it also requires a regular file). */
export const isOstreeEntryName = (name: string): boolean => name.startsWith('ostree-') && name.endsWith('.conf');

// ---- kernel arguments

/**
 * Splits a kernel command line (or an entry's `options`) into arguments at spaces, keeping
 * double-quoted spaces inside their argument (`foo="a b"`), as the kernel and libostree do.
 * Runs of spaces, and leading or trailing ones, yield no empty arguments.
 */
export function splitKargs(cmdline: string): string[] {
  const out: string[] = [];
  let current = '';
  let quoted = false;
  for (const c of cmdline.replace(/\n+$/, '')) {
    if (c === '"') quoted = !quoted;
    if ((c === ' ' || c === '\t' || c === '\n') && !quoted) {
      if (current) out.push(current);
      current = '';
    } else {
      current += c;
    }
  }
  if (current) out.push(current);
  return out;
}

/** The value of the first `ostree=` argument; undefined when there is none. */
export function ostreeKarg(kargs: readonly string[]): string | undefined {
  return kargs.find((a) => a.startsWith('ostree='))?.slice('ostree='.length);
}

/** The arguments without any `ostree=` (what a deployment's kargs are). */
export function withoutOstreeKarg(kargs: readonly string[]): string[] {
  return kargs.filter((a) => !a.startsWith('ostree='));
}

/** `ostree=VALUE` in place of the first existing one (others dropped), else appended: how libostree writes `options`. */
export function withOstreeKarg(kargs: readonly string[], value: string): string[] {
  const arg = `ostree=${value}`;
  const at = kargs.findIndex((a) => a.startsWith('ostree='));
  if (at < 0) return [...kargs, arg];
  return kargs.flatMap((a, i) => (i === at ? [arg] : a.startsWith('ostree=') ? [] : [a]));
}

/** What an `ostree=` bootlink names: `/ostree/boot.B/OS/BOOTCSUM/BOOTSERIAL`. */
export interface BootLink {
  bootversion: 0 | 1;
  osname: string;
  bootcsum: string;
  bootserial: number;
}

// libostree's pattern, with the dot after "boot" taken literally (theirs matches any character,
// which only ever leads to a missing directory later).
const BOOTLINK_RE = /^\/ostree\/boot\.([01])\/([^/]+)\/([^/]+)\/([0-9]+)$/;

/** Parses an `ostree=` value; null when it is not of the bootlink form. */
export function parseBootLink(value: string): BootLink | null {
  const m = BOOTLINK_RE.exec(value);
  if (!m) return null;
  const bootserial = Number(m[4]);
  if (!Number.isSafeInteger(bootserial)) return null;
  return { bootversion: m[1] === '1' ? 1 : 0, osname: m[2]!, bootcsum: m[3]!, bootserial };
}

/** `/ostree/boot.B/OS/BOOTCSUM/BOOTSERIAL`, the value of `ostree=`. */
export function formatBootLink(link: BootLink): string {
  return `/ostree/boot.${link.bootversion}/${link.osname}/${link.bootcsum}/${link.bootserial}`;
}

// ---- ordering

const isDigit = (c: number): boolean => c >= 0x30 && c <= 0x39;

/**
 * glibc's strverscmp: like strcmp, but digit runs compare as numbers, and runs with leading
 * zeros as fractional parts (`1.02 < 1.1`, `9 < 10`, `000 < 00`). Compares UTF-8 bytes.
 * Returns <0, 0 or >0.
 */
export function strverscmp(a: string, b: string): number {
  const p = Buffer.from(a);
  const q = Buffer.from(b);
  // States, named as in glibc: normal, integral digits, fractional digits, leading zeros.
  const N = 0, I = 3, F = 6, Z = 9;
  const CMP = 2, LEN = 3;
  // Indexed by state + class of the current char (0 other, 1 non-zero digit, 2 zero).
  const next = [N, I, Z, N, I, I, N, F, F, N, F, Z];
  // Indexed by state*3 + class of the differing char in `b`.
  const result = [
    CMP, CMP, CMP, CMP, LEN, CMP, CMP, CMP, CMP,
    CMP, -1, -1, +1, LEN, LEN, +1, LEN, LEN,
    CMP, CMP, CMP, CMP, CMP, CMP, CMP, CMP, CMP,
    CMP, +1, +1, -1, CMP, CMP, -1, CMP, CMP,
  ];
  const at = (buf: Buffer, i: number): number => (i < buf.length ? buf[i]! : 0);
  const cls = (c: number): number => (c === 0x30 ? 2 : isDigit(c) ? 1 : 0);

  let i = 0;
  let c1 = at(p, 0);
  let c2 = at(q, 0);
  let state = N + cls(c1);
  while (c1 === c2) {
    if (c1 === 0) return 0;
    state = next[state]!;
    i++;
    c1 = at(p, i);
    c2 = at(q, i);
    state += cls(c1);
  }
  const diff = c1 - c2;
  const r = result[state * 3 + cls(c2)]!;
  if (r === CMP) return diff;
  if (r !== LEN) return r;
  // Both in a digit run: the longer run is the larger number; equal lengths fall back to diff.
  // The run is measured from the character after the first difference, as glibc does.
  let j = i + 1;
  while (isDigit(at(p, j))) {
    if (!isDigit(at(q, j))) return 1;
    j++;
  }
  return isDigit(at(q, j)) ? -1 : diff;
}

/**
 * libostree's entry order: by `version` with strverscmp, highest first; entries without a
 * version last. Stable, so callers decide ties (libostree leaves them in readdir order).
 */
export function compareBlsVersionsDescending(a: BlsEntry, b: BlsEntry): number {
  const va = a.fields.get('version');
  const vb = b.fields.get('version');
  if (va !== undefined && vb !== undefined) return -Math.sign(strverscmp(va, vb));
  if (va !== undefined) return -1;
  return vb !== undefined ? 1 : 0;
}

/**
 * The benchmark's synthetic workload: a deterministic directory tree that looks like an OS
 * image or application bundle. Same seed and profile → byte-identical tree (content, names,
 * modes, ownership, symlinks, hardlinks, xattrs), so figures from different runs and machines
 * compare. Generated once and cached, because writing 300 MB takes longer than a commit.
 */
import { createRequire } from 'node:module';
import * as fs from 'node:fs';
import { dirname, join, relative } from 'node:path';

/** Bump when the generator's output changes: it names the cache directory. */
export const TREE_VERSION = 'v2';

export interface TreeProfile {
  name: 'full' | 'quick';
  dirs: number;
  emptyDirs: number;
  smallText: number;
  /** Binaries are added until the tree holds at least this many bytes. */
  minBytes: number;
  minBinaries: number;
  /** Sizes in MiB of the few large files (above the 4 MiB streaming threshold most of them). */
  largeMiB: number[];
  symlinks: number;
  hardlinks: number;
  duplicates: number;
  emptyFiles: number;
  xattrFiles: number;
}

export const PROFILES: Record<TreeProfile['name'], TreeProfile> = {
  full: {
    name: 'full', dirs: 900, emptyDirs: 40, smallText: 9000, minBytes: 300 * 2 ** 20, minBinaries: 900,
    largeMiB: [24, 16, 12, 8, 6, 5], symlinks: 400, hardlinks: 25, duplicates: 300, emptyFiles: 150, xattrFiles: 20,
  },
  quick: {
    name: 'quick', dirs: 120, emptyDirs: 6, smallText: 1200, minBytes: 40 * 2 ** 20, minBinaries: 100,
    largeMiB: [6, 5], symlinks: 60, hardlinks: 5, duplicates: 40, emptyFiles: 20, xattrFiles: 5,
  },
};

export interface TreeStats {
  version: string;
  profile: string;
  files: number;
  regularFiles: number;
  bytes: number;
  dirs: number;
  emptyDirs: number;
  symlinks: number;
  hardlinks: number;
  emptyFiles: number;
  duplicates: number;
  largeFiles: number;
  xattrFiles: number;
}

/** sfc32: small, fast, and good enough for test data; seeded from a string. */
export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d = 1;

  constructor(seed: string) {
    // FNV-1a over the seed gives three starting words; then warm up as sfc32 recommends.
    let h = 0x811c9dc5;
    const words: number[] = [];
    for (let k = 0; k < 3; k++) {
      for (let i = 0; i < seed.length; i++) h = Math.imul(h ^ seed.charCodeAt(i), 0x01000193) >>> 0;
      h = Math.imul(h ^ k, 0x01000193) >>> 0;
      words.push(h);
    }
    [this.a, this.b, this.c] = words as [number, number, number];
    for (let i = 0; i < 15; i++) this.next();
  }

  next(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  float(): number {
    return this.next() / 2 ** 32;
  }

  /** Integer in [lo, hi]. */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.float() * (hi - lo + 1));
  }

  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.float() * items.length)]!;
  }

  chance(p: number): boolean {
    return this.float() < p;
  }

  /** Log-uniform in [lo, hi]: many small values, a long tail, like real file sizes. */
  logUniform(lo: number, hi: number): number {
    return Math.round(Math.exp(Math.log(lo) + this.float() * (Math.log(hi) - Math.log(lo))));
  }

  /** Incompressible bytes, generated 4 at a time. */
  fill(buf: Buffer): void {
    const words = new Uint32Array(Math.ceil(buf.length / 4));
    for (let i = 0; i < words.length; i++) words[i] = this.next();
    Buffer.from(words.buffer, 0, buf.length).copy(buf);
  }
}

const SYLLABLES = ['ka', 'lo', 'mi', 'ne', 'ru', 'ta', 'so', 'vi', 'der', 'gen', 'pol', 'ster', 'ix', 'qu', 'an', 'el', 'or', 'ba', 'ch', 'fy', 'net', 'sys', 'lib', 'conf', 'io', 'us', 'ra', 'te'];

function makeVocabulary(rng: Rng, n: number): string[] {
  const seen = new Set<string>();
  while (seen.size < n) {
    let w = '';
    for (let i = rng.int(1, 4); i > 0; i--) w += rng.pick(SYLLABLES);
    seen.add(w);
  }
  return [...seen];
}

/** Text that compresses like real text: config files, source code, prose, CSV. */
function textContent(rng: Rng, vocab: string[], size: number): Buffer {
  const style = rng.int(0, 3);
  const parts: string[] = [];
  let len = 0;
  const push = (line: string): void => {
    parts.push(line);
    len += line.length + 1;
  };
  while (len < size) {
    const w = (): string => rng.pick(vocab);
    switch (style) {
      case 0:
        if (rng.chance(0.08)) push(`\n[${w()}.${w()}]`);
        else push(`${w()}_${w()} = ${rng.chance(0.5) ? rng.int(0, 65535) : `"${w()} ${w()}"`}`);
        break;
      case 1: {
        const indent = '    '.repeat(rng.int(0, 3));
        const r = rng.int(0, 5);
        if (r === 0) push(`${indent}def ${w()}_${w()}(${w()}, ${w()}):`);
        else if (r === 1) push(`${indent}if ${w()} is not None and ${w()}.${w()}(${rng.int(0, 99)}):`);
        else if (r === 2) push(`${indent}# ${w()} ${w()} ${w()} ${w()}`);
        else push(`${indent}${w()} = ${w()}.${w()}(${w()}, ${rng.int(0, 9999)})`);
        break;
      }
      case 2: {
        const words: string[] = [];
        for (let i = rng.int(6, 18); i > 0; i--) words.push(w());
        push(`${words.join(' ')}.`);
        break;
      }
      default:
        push(`${rng.int(1, 1e6)},${w()},${w()},${rng.int(0, 100)}.${rng.int(0, 99)},${rng.chance(0.5)}`);
    }
  }
  return Buffer.from(parts.join('\n'), 'latin1').subarray(0, size);
}

/** Binary content: a mix of random (already compressed) data, zero runs, tables and strings. */
function binaryContent(rng: Rng, vocab: string[], size: number): Buffer {
  const out = Buffer.alloc(size);
  let off = 0;
  while (off < size) {
    const n = Math.min(size - off, rng.logUniform(512, 64 * 1024));
    const seg = out.subarray(off, off + n);
    const kind = rng.float();
    if (kind < 0.35) {
      rng.fill(seg);
    } else if (kind < 0.55) {
      // zeros: already there
    } else if (kind < 0.8) {
      // A table of 16-byte records with slowly changing fields, like relocation or symbol tables.
      let base = rng.next();
      for (let i = 0; i + 16 <= n; i += 16) {
        seg.writeUInt32LE(base >>> 0, i);
        seg.writeUInt32LE(i >>> 4, i + 4);
        seg.writeUInt32LE(rng.int(0, 15), i + 8);
        base += rng.int(1, 64);
      }
    } else {
      textContent(rng, vocab, n).copy(seg);
    }
    off += n;
  }
  return out;
}

interface Dir {
  path: string;
  depth: number;
  names: Set<string>;
}

/** Writes the tree for `profile` at `dest` (which must not exist) and returns what it holds. */
export function generateTree(dest: string, profile: TreeProfile): TreeStats {
  const rng = new Rng(`mco-bench-${TREE_VERSION}-${profile.name}`);
  const vocab = makeVocabulary(rng, 1500);
  const xattr = loadXattr();
  const stats: TreeStats = {
    version: TREE_VERSION, profile: profile.name, files: 0, regularFiles: 0, bytes: 0, dirs: 0, emptyDirs: 0,
    symlinks: 0, hardlinks: 0, emptyFiles: 0, duplicates: 0, largeFiles: 0, xattrFiles: 0,
  };

  fs.mkdirSync(dest, { mode: 0o755 });
  const root: Dir = { path: dest, depth: 0, names: new Set() };
  const dirs: Dir[] = [];
  const dirModes: [string, number][] = [];
  const mkdir = (parent: Dir, name: string): Dir => {
    parent.names.add(name);
    const d: Dir = { path: join(parent.path, name), depth: parent.depth + 1, names: new Set() };
    fs.mkdirSync(d.path, { mode: 0o755 });
    // A few private or group-owned directories, as on a real system.
    if (rng.chance(0.05)) dirModes.push([d.path, 0o700]);
    if (rng.chance(0.03)) fs.chownSync(d.path, 1000, 1000);
    dirs.push(d);
    stats.dirs++;
    return d;
  };
  const uniqueName = (dir: Dir, stem: () => string, ext = ''): string => {
    for (;;) {
      const name = `${stem()}${ext}`;
      if (!dir.names.has(name)) {
        dir.names.add(name);
        return name;
      }
    }
  };

  for (const top of ['usr', 'etc', 'var', 'opt', 'srv', 'home']) mkdir(root, top);
  while (dirs.length < profile.dirs) {
    // Preferential attachment (pick any existing dir, deeper ones included) gives a realistic
    // mix of wide and deep branches; cap the depth so paths stay plausible.
    const parent = rng.pick(dirs);
    if (parent.depth >= 8) continue;
    mkdir(parent, uniqueName(parent, () => rng.pick(vocab) + (rng.chance(0.2) ? `-${rng.int(1, 9)}` : '')));
  }
  // Skewed placement: some directories hold hundreds of files (like /usr/bin), most a few.
  const fileDir = (): Dir => dirs[Math.floor(dirs.length * rng.float() ** 2.5)]!;

  const regular: string[] = [];
  const smallText: string[] = [];
  const writeFile = (dir: Dir, name: string, content: Buffer, mode: number): string => {
    const path = join(dir.path, name);
    fs.writeFileSync(path, content, { mode });
    fs.chmodSync(path, mode); // the umask must not change the tree
    if (rng.chance(0.03)) fs.chownSync(path, 1000, 1000);
    stats.files++;
    stats.regularFiles++;
    stats.bytes += content.length;
    regular.push(path);
    return path;
  };

  const TEXT_EXT = ['.txt', '.conf', '.py', '.h', '.c', '.json', '.md', '.csv', '.sh', ''];
  for (let i = 0; i < profile.smallText; i++) {
    const dir = fileDir();
    const ext = rng.pick(TEXT_EXT);
    const mode = ext === '.sh' || ext === '' ? 0o755 : rng.chance(0.05) ? 0o600 : 0o644;
    smallText.push(writeFile(dir, uniqueName(dir, () => rng.pick(vocab), ext), textContent(rng, vocab, rng.logUniform(64, 32 * 1024)), mode));
  }

  const BIN_EXT = ['.so', '.bin', '.dat', '.so.1', '.a', '.pyc', ''];
  const largeBytes = profile.largeMiB.reduce((s, m) => s + m * 2 ** 20, 0);
  for (let i = 0; i < profile.minBinaries || stats.bytes + largeBytes < profile.minBytes; i++) {
    const dir = fileDir();
    const ext = rng.pick(BIN_EXT);
    writeFile(dir, uniqueName(dir, () => rng.pick(vocab), ext), binaryContent(rng, vocab, rng.logUniform(4 * 1024, 768 * 1024)), ext === '' || ext === '.bin' ? 0o755 : 0o644);
  }

  // A few large files of different kinds: media (random), a database (tables), a log (text).
  for (const [i, mib] of profile.largeMiB.entries()) {
    const size = mib * 2 ** 20 + rng.int(0, 4095);
    const dir = rng.pick(dirs);
    const kind = i % 3;
    let content: Buffer;
    if (kind === 0) {
      content = Buffer.alloc(size);
      rng.fill(content);
    } else if (kind === 1) {
      content = binaryContent(rng, vocab, size);
    } else {
      content = textContent(rng, vocab, size);
    }
    writeFile(dir, uniqueName(dir, () => `large-${rng.pick(vocab)}`, ['.img', '.db', '.log'][kind]), content, 0o644);
    stats.largeFiles++;
  }

  // Same content under another name (licenses, vendored copies): exercises deduplication.
  for (let i = 0; i < profile.duplicates; i++) {
    const dir = fileDir();
    const src = rng.pick(smallText);
    writeFile(dir, uniqueName(dir, () => rng.pick(vocab), '.copy'), fs.readFileSync(src), fs.statSync(src).mode & 0o7777);
    stats.duplicates++;
  }

  for (let i = 0; i < profile.emptyFiles; i++) {
    const dir = fileDir();
    writeFile(dir, uniqueName(dir, () => rng.pick(vocab), rng.pick(['', '.keep', '.lock', '.stamp'])), Buffer.alloc(0), 0o644);
    stats.emptyFiles++;
  }

  for (let i = 0; i < profile.hardlinks; i++) {
    const dir = fileDir();
    const target = rng.pick(regular);
    fs.linkSync(target, join(dir.path, uniqueName(dir, () => rng.pick(vocab), '.link')));
    stats.files++;
    stats.hardlinks++;
  }

  for (let i = 0; i < profile.symlinks; i++) {
    const dir = fileDir();
    const path = join(dir.path, uniqueName(dir, () => rng.pick(vocab), rng.chance(0.5) ? '.lnk' : ''));
    const r = rng.float();
    let target: string;
    if (r < 0.6) target = relative(dirname(path), rng.pick(regular)); // like lib.so -> lib.so.1
    else if (r < 0.75) target = relative(dirname(path), rng.pick(dirs).path) || '.';
    else if (r < 0.9) target = `/usr/lib/${rng.pick(vocab)}/${rng.pick(vocab)}.so`; // absolute, dangling here
    else target = `../${rng.pick(vocab)}-missing`; // dangling
    fs.symlinkSync(target, path);
    if (rng.chance(0.05)) fs.lchownSync(path, 1000, 1000);
    stats.files++;
    stats.symlinks++;
  }

  for (let i = 0; i < profile.xattrFiles; i++) {
    const path = rng.pick(regular);
    xattr.setAttributeSync(path, `user.bench.${rng.pick(vocab)}`, Buffer.from(`${rng.pick(vocab)}=${rng.int(0, 1e6)}`));
    stats.xattrFiles++;
  }

  // Directories with nothing in them, created last so no file lands there.
  for (let i = 0; i < profile.emptyDirs; i++) {
    const parent = rng.pick(dirs);
    mkdir(parent, uniqueName(parent, () => `empty-${rng.pick(vocab)}`));
    stats.emptyDirs++;
  }
  for (const [path, mode] of dirModes) fs.chmodSync(path, mode);
  return stats;
}

interface XattrBinding {
  setAttributeSync(path: string, name: string, value: Uint8Array): void;
}

/** The project's own xattr binding (a dependency already); Node has no xattr API. */
function loadXattr(): XattrBinding {
  const require = createRequire(import.meta.url);
  return require('@napi-rs/xattr') as XattrBinding;
}

/**
 * The generated tree of PROFILE under CACHE (`tree-VERSION-PROFILE`, with its stats beside it
 * as JSON), generated once and shared by every benchmark.
 */
export function cachedTree(cache: string, profile: TreeProfile, log: (line: string) => void): { path: string; stats: TreeStats } {
  const name = `tree-${TREE_VERSION}-${profile.name}`;
  const path = join(cache, name);
  const statsPath = join(cache, `${name}.json`);
  if (!fs.existsSync(path) || !fs.existsSync(statsPath)) {
    const tmp = join(cache, `tmp-${name}`);
    // The first benchmark run on a machine may find no cache folder yet.
    fs.mkdirSync(cache, { recursive: true });
    fs.rmSync(tmp, { recursive: true, force: true });
    log(`generating the ${profile.name} tree (${TREE_VERSION}, once; cached in ${path}) …`);
    const t0 = Date.now();
    const stats = generateTree(tmp, profile);
    fs.rmSync(path, { recursive: true, force: true });
    fs.renameSync(tmp, path);
    fs.writeFileSync(statsPath, `${JSON.stringify(stats, null, 2)}\n`);
    log(`generated in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  }
  return { path, stats: JSON.parse(fs.readFileSync(statsPath, 'utf8')) as TreeStats };
}

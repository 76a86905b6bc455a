/**
 * Shared helpers for the differential tests against the real `ostree` CLI: running `mco` and
 * `ostree` as processes, building source trees with every awkward feature a filesystem has,
 * and describing a directory tree (types, modes, owners, content, link targets, xattrs) so two
 * checkouts can be compared entry by entry. Test-only: imported by *.test.ts, never by the
 * library.
 */
import assert from 'node:assert/strict';
import { spawnSync, type SpawnSyncOptions } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { readXattrs } from './xattrs.js';

export const OSTREE_BIN = '/usr/bin/ostree';
export const hasOstree = fs.existsSync(OSTREE_BIN);
/** `{ skip }` for tests that drive the real tool: they say why instead of passing silently. */
export const needsOstree = { skip: !hasOstree && 'ostree CLI not installed (scripts/setup.sh installs it)' };
export const isRoot = process.getuid?.() === 0;

/** dist/src/ostree/testing.js → dist/src/cli/mco.js: the built CLI, run as a user would. */
const MCO_JS = fileURLToPath(new URL('../cli/mco.js', import.meta.url));

export interface RunResult {
  status: number | null;
  stdout: string;
  stderr: string;
  /** stdout undecoded, for `cat` of binary content. */
  stdoutBytes: Buffer;
}

// A stack trace in an error test must come from a real bug, not from a debugging variable
// left in the developer's shell; and no repository may be picked up from the environment.
const childEnv = (): NodeJS.ProcessEnv => {
  const env: NodeJS.ProcessEnv = { ...process.env, LC_ALL: 'C.UTF-8' };
  delete env['MCO_DEBUG'];
  delete env['OSTREE_REPO'];
  return env;
};

function run(file: string, args: string[], options: SpawnSyncOptions = {}): RunResult {
  const r = spawnSync(file, args, { env: childEnv(), maxBuffer: 512 * 1024 * 1024, ...options });
  if (r.error) throw r.error;
  const stdoutBytes = Buffer.isBuffer(r.stdout) ? r.stdout : Buffer.from(r.stdout ?? '');
  return { status: r.status, stdout: stdoutBytes.toString('utf8'), stderr: String(r.stderr ?? ''), stdoutBytes };
}

/** Runs `node dist/src/cli/mco.js ARGS…`. */
export function runMco(args: string[], options: SpawnSyncOptions = {}): RunResult {
  return run(process.execPath, [MCO_JS, ...args], options);
}

/** Runs the real `/usr/bin/ostree ARGS…`. */
export function ostree(args: string[], options: SpawnSyncOptions = {}): RunResult {
  return run(OSTREE_BIN, args, options);
}

/** `mco ostree VERB --repo=REPO ARGS…` */
export const mcoIn = (repo: string, verb: string, ...args: string[]): RunResult => runMco(['ostree', verb, `--repo=${repo}`, ...args]);
/** `ostree VERB --repo=REPO ARGS…` */
export const ostreeIn = (repo: string, verb: string, ...args: string[]): RunResult => ostree([verb, `--repo=${repo}`, ...args]);

/** Asserts exit status 0, showing the command's stderr when it is not. */
export function ok(r: RunResult, what: string): RunResult {
  assert.equal(r.status, 0, `${what} failed (status ${r.status}):\n${r.stderr}`);
  return r;
}

/**
 * Asserts the CLI's error contract: exit status 1 and exactly one line on stderr, starting
 * `error: `, with no stack trace.
 */
export function assertCleanError(r: RunResult, what: string, mentions: (string | RegExp)[] = []): void {
  assert.equal(r.status, 1, `${what}: expected exit status 1, got ${r.status}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  assert.match(r.stderr, /^error: [^\n]+\n$/, `${what}: expected one "error: …" line on stderr, got:\n${r.stderr}`);
  assert.doesNotMatch(r.stderr, /\n\s+at /, `${what}: stack trace on stderr`);
  for (const m of mentions) {
    if (typeof m === 'string') assert.ok(r.stderr.includes(m), `${what}: error should mention ${JSON.stringify(m)}: ${r.stderr}`);
    else assert.match(r.stderr, m, `${what}: error should match ${m}`);
  }
}

/**
 * Turns off fsync/syncfs in a repo just made by `init` (either tool honours `core.fsync`):
 * tests need no durability, and on a busy disk the syncs cost more than everything else.
 */
export function noFsync(repo: string): void {
  const config = join(repo, 'config');
  const text = fs.readFileSync(config, 'utf8');
  assert.match(text, /\[core\][^[]*$/, `${config}: [core] should be the last group`);
  fs.writeFileSync(config, `${text.replace(/\n?$/, '\n')}fsync=false\n`);
}

/** A fresh scratch directory, removed when the test ends (pass or fail). */
export function scratch(t: TestContext, prefix = 'mco-test-'): string {
  const dir = fs.mkdtempSync(join(tmpdir(), prefix));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

// ---- tree builders

/** Deterministic pseudo-random bytes: the same tree every run, so failures reproduce. */
export function pseudoRandom(seed: string, size: number): Buffer {
  const out = Buffer.alloc(size);
  let block = createHash('sha256').update(seed).digest();
  for (let off = 0; off < size; off += block.length) {
    block.copy(out, off);
    block = createHash('sha256').update(block).digest();
  }
  return out;
}

/** Sets an xattr with Debian's setfattr, independently of the library under test. */
export function setXattr(path: string, name: string, value: Buffer): void {
  // setfattr takes "0x…" as hex; with no -v it writes an empty value.
  const args = value.length ? ['-n', name, '-v', `0x${value.toString('hex')}`, path] : ['-n', name, path];
  const r = spawnSync('setfattr', args, { encoding: 'utf8' });
  if (r.error || r.status !== 0) throw new Error(`setfattr ${args.join(' ')}: ${r.error?.message ?? r.stderr}`);
}

class TreeBuilder {
  /** Directory modes are applied last, so a 0500 directory can still be filled. */
  private readonly dirModes: [string, number][] = [];

  constructor(readonly root: string) {
    fs.mkdirSync(root, { recursive: true });
    this.dirModes.push([root, 0o755]);
  }

  dir(rel: string, mode = 0o755): string {
    const p = join(this.root, rel);
    fs.mkdirSync(p, { recursive: true });
    this.dirModes.push([p, mode]);
    return p;
  }

  file(rel: string, content: string | Buffer, mode = 0o644): string {
    const p = join(this.root, rel);
    fs.mkdirSync(dirname(p), { recursive: true });
    fs.writeFileSync(p, content);
    fs.chmodSync(p, mode); // explicit: the umask must not decide a checksum
    return p;
  }

  symlink(rel: string, target: string): string {
    const p = join(this.root, rel);
    fs.mkdirSync(dirname(p), { recursive: true });
    fs.symlinkSync(target, p);
    return p;
  }

  /** Ownership before mode: chown clears setuid/setgid bits. */
  own(rel: string, uid: number, gid: number, mode?: number): void {
    const p = join(this.root, rel);
    fs.lchownSync(p, uid, gid);
    if (mode !== undefined) fs.chmodSync(p, mode);
  }

  finish(): void {
    for (const [p, mode] of this.dirModes.reverse()) fs.chmodSync(p, mode);
  }
}

/** Names whose byte (strcmp) order differs from JS's UTF-16 order and from locale order. */
export const ORDER_NAMES = ['B', '_u', 'a', 'é', 'z', 'Ａ', '🎉', 'file-1', 'file-10', 'file-100', 'file-2'];
/** 255 bytes of UTF-8 (NAME_MAX), with multibyte characters. */
export const LONG_NAME = 'é'.repeat(127) + 'x';

/**
 * Builds a tree with what trips up a reimplementation: nested and empty directories, empty
 * files, every kind of symlink, setuid/setgid/sticky/0000 modes, non-root owners (as root),
 * non-ASCII and 255-byte names, names in a byte order unlike UTF-16 order, hard links,
 * user xattrs (one empty-valued, which ostree drops) on files and directories, a file large
 * enough (200 KB) that Node's zlib and the system's compress it differently, and enough
 * files (400) that commit and checkout hand work to their worker threads.
 */
export function buildRichTree(root: string): void {
  const b = new TreeBuilder(root);
  b.file('etc/hello.txt', 'hello\n');
  b.file('etc/empty', '');
  b.file('usr/bin/hi', '#!/bin/sh\necho hi\n', 0o755);
  b.file('usr/lib/a/b/c/d/deep.txt', 'deep\n');
  b.file('usr/share/doc/random.txt', pseudoRandom('random.txt', 200 * 1024).toString('base64'));
  b.file('usr/share/doc/binary.bin', pseudoRandom('binary.bin', 70 * 1024));
  b.dir('empty-dir');
  b.dir('nested/empty/dirs/all/the/way');

  b.symlink('links/absolute', '/etc/hostname');
  b.symlink('links/relative', '../etc/hello.txt');
  b.symlink('links/dangling', 'no/such/file');
  b.symlink('links/to-dir', '../usr/bin');
  b.symlink('links/to-xattr-file', '../xattrs/file');
  b.symlink('links/non-ascii-target', 'ü/日本語');

  b.file('modes/setuid', 'suid\n', 0o4755);
  b.file('modes/setgid', 'sgid\n', 0o2755);
  b.file('modes/none', 'nobody may read\n', 0o000);
  b.file('modes/world-writable', 'ww\n', 0o666);
  b.file('modes/exec-only', 'x\n', 0o111);
  b.file('modes/sticky-file', 't\n', 0o1644);
  b.dir('modes/sticky-dir', 0o1777);
  b.dir('modes/setgid-dir', 0o2775);
  b.dir('modes/private-dir', 0o700);
  b.file('modes/private-dir/inside', 'in\n', 0o600);
  b.dir('modes/read-only-dir', 0o555);
  b.file('modes/read-only-dir/inside', 'ro\n', 0o444);

  b.dir('owned', 0o750);
  b.file('owned/key', 'secret\n', 0o600);
  b.file('owned/setuid-user', 'suid user\n');
  b.file('owned/group-only', 'g\n', 0o640);
  b.symlink('owned/link', 'key');
  b.dir('owned/sub', 0o700);
  if (isRoot) {
    b.own('owned', 1000, 1000);
    b.own('owned/key', 1000, 1000);
    b.own('owned/setuid-user', 1000, 1000, 0o4755);
    b.own('owned/group-only', 0, 1000);
    b.own('owned/link', 1000, 1000);
    b.own('owned/sub', 1000, 1000);
  }

  for (const n of ORDER_NAMES) {
    b.file(`names/${n}`, `${n}\n`);
    b.dir(`names/dirs/${n}`);
  }
  b.file('names/ü.txt', 'u\n');
  b.file('names/日本語', 'nihongo\n');
  b.file(`names/${LONG_NAME}`, 'long\n');
  b.dir(`names/dirs/${LONG_NAME}`);

  const one = b.file('hard/one', 'linked content\n');
  b.dir('hard/sub');
  fs.linkSync(one, join(root, 'hard/two'));
  fs.linkSync(one, join(root, 'hard/sub/three'));

  // Past the 256 files that commit and checkout handle inline, the rest go to worker threads.
  for (let i = 0; i < 300; i++) b.file(`many/f${i}`, i % 3 ? `file ${i}\n` : '', i % 5 ? 0o644 : 0o755);

  const x = b.file('xattrs/file', 'has xattrs\n');
  setXattr(x, 'user.b', Buffer.from('2'));
  setXattr(x, 'user.a', Buffer.from('1'));
  setXattr(x, 'user.empty', Buffer.alloc(0));
  setXattr(x, 'user.binary', Buffer.from([0, 0xff, 0, 0x10]));
  setXattr(b.file('xattrs/empty-only', 'only an empty xattr\n'), 'user.empty', Buffer.alloc(0));
  setXattr(b.dir('xattrs/dir'), 'user.dirattr', Buffer.from('1'));
  b.file('xattrs/dir/plain', 'plain\n');
  b.finish();
}

/**
 * Writes `mib` MiB by repeating one pseudo-random MiB: fast to generate, yet incompressible
 * within deflate's 32 KiB window, so compression does real work.
 */
export function writeBigFile(path: string, mib: number): void {
  const block = pseudoRandom(path, 1 << 20);
  const fd = fs.openSync(path, 'w', 0o644);
  try {
    for (let i = 0; i < mib; i++) fs.writeSync(fd, block);
  } finally {
    fs.closeSync(fd);
  }
  fs.chmodSync(path, 0o644);
}

// ---- describing trees

export type EntryType = 'dir' | 'file' | 'symlink' | 'fifo' | 'socket' | 'char' | 'block';

export interface WalkEntry {
  /** Relative to the walked root; the root itself is '.'. */
  path: string;
  type: EntryType;
  /** Permission bits, with setuid/setgid/sticky (st_mode & 07777). */
  mode: number;
  uid: number;
  gid: number;
  /** Content size of regular files; 0 for everything else. */
  size: number;
  /** Symlink target; '' for the rest. */
  target: string;
  /** sha256 of a regular file's content; '' for the rest. */
  sha256: string;
  /** name → hex value, sorted by name. */
  xattrs: Record<string, string>;
  ino: number;
  nlink: number;
}

/** The fields `diffTrees` compares by default: what a checkout must reproduce. */
export const CONTENT_FIELDS = ['type', 'mode', 'uid', 'gid', 'size', 'target', 'sha256', 'xattrs'] as const;
export type CompareField = (typeof CONTENT_FIELDS)[number];

function typeOf(st: fs.Stats): EntryType {
  if (st.isDirectory()) return 'dir';
  if (st.isFile()) return 'file';
  if (st.isSymbolicLink()) return 'symlink';
  if (st.isFIFO()) return 'fifo';
  if (st.isSocket()) return 'socket';
  return st.isCharacterDevice() ? 'char' : 'block';
}

function sha256File(path: string): string {
  const hash = createHash('sha256');
  const fd = fs.openSync(path, 'r');
  try {
    const buf = Buffer.alloc(1 << 20);
    for (let n; (n = fs.readSync(fd, buf, 0, buf.length, null)) > 0;) hash.update(buf.subarray(0, n));
  } finally {
    fs.closeSync(fd);
  }
  return hash.digest('hex');
}

const byteOrder = (a: string, b: string): number => Buffer.compare(Buffer.from(a), Buffer.from(b));

/** Every path under `dir` (and `dir` itself as '.'), sorted by path bytes. Never follows symlinks. */
export function walkTree(dir: string): WalkEntry[] {
  const out: WalkEntry[] = [];
  const visit = (rel: string): void => {
    const abs = rel === '.' ? dir : join(dir, rel);
    const st = fs.lstatSync(abs);
    const type = typeOf(st);
    const xattrs: Record<string, string> = {};
    // The library's binding uses the l*xattr calls: a symlink's own xattrs, never its target's.
    for (const [name, value] of readXattrs(abs).sort((a, b) => byteOrder(a[0], b[0]))) xattrs[name] = value.toString('hex');
    out.push({
      path: rel, type, mode: st.mode & 0o7777, uid: st.uid, gid: st.gid,
      size: type === 'file' ? st.size : 0,
      target: type === 'symlink' ? fs.readlinkSync(abs) : '',
      sha256: type === 'file' ? sha256File(abs) : '',
      xattrs, ino: st.ino, nlink: st.nlink,
    });
    if (type === 'dir') for (const name of fs.readdirSync(abs)) visit(rel === '.' ? name : `${rel}/${name}`);
  };
  visit('.');
  return out.sort((a, b) => byteOrder(a.path, b.path));
}

const show = (field: CompareField, e: WalkEntry): string => {
  const v = e[field];
  if (field === 'mode') return `0${(v as number).toString(8).padStart(4, '0')}`;
  return typeof v === 'object' ? JSON.stringify(v) : String(v);
};

/**
 * The differences between two walks, one line each (`path: field actual != expected`), so
 * an assertion failure says exactly which file came out wrong and how. At most `limit` lines,
 * then a count of the rest: one systematic bug should not bury the others.
 */
export function diffTrees(actual: WalkEntry[], expected: WalkEntry[], fields: readonly CompareField[] = CONTENT_FIELDS, limit = 30): string[] {
  const diffs: string[] = [];
  const want = new Map(expected.map((e) => [e.path, e]));
  const have = new Map(actual.map((e) => [e.path, e]));
  for (const e of expected) if (!have.has(e.path)) diffs.push(`${e.path}: missing (expected ${e.type})`);
  for (const a of actual) {
    const e = want.get(a.path);
    if (!e) {
      diffs.push(`${a.path}: unexpected ${a.type}`);
      continue;
    }
    for (const f of fields) {
      if (show(f, a) !== show(f, e)) diffs.push(`${a.path}: ${f} ${show(f, a)} != expected ${show(f, e)}`);
    }
  }
  return diffs.length > limit ? [...diffs.slice(0, limit), `… and ${diffs.length - limit} more differences`] : diffs;
}

/** What ostree stores of a tree: xattrs with an empty value are dropped (libglnx does). */
export function withoutEmptyXattrs(entries: WalkEntry[]): WalkEntry[] {
  return entries.map((e) => ({ ...e, xattrs: Object.fromEntries(Object.entries(e.xattrs).filter(([, v]) => v !== '')) }));
}

/** Parses `ostree ls -R -C` into path → content checksum, for files and symlinks. */
export function fileChecksums(lsOutput: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of lsOutput.split('\n')) {
    const m = /^[-l]\d+ \d+ \d+ +\d+ ([0-9a-f]{64}) (\/.*?)(?: -> .*)?$/.exec(line);
    if (m) out.set(m[2]!, m[1]!);
  }
  return out;
}

/**
 * Measuring one command the same way for both tools: a whole process under GNU time (peak
 * RSS of the process tree it waited for), wall time from our own clock, after a `sync` so the
 * previous run's writeback is not billed to this one.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRequire } from 'node:module';

export interface Sample {
  seconds: number;
  /** User + system CPU time of the process tree: less disturbed than wall time by other load. */
  cpuSeconds: number;
  peakMB: number;
  /** Bytes the process tree wrote to files (GNU time's file system outputs, 512-byte blocks). */
  writtenMB: number;
  stdout: string;
}

const TIME = '/usr/bin/time';

/** Runs `argv` under `/usr/bin/time`; throws with its stderr when it fails. */
export function timed(argv: string[]): Sample {
  if (spawnSync('sync', { stdio: 'ignore' }).status !== 0) throw new Error('sync failed');
  const timeFile = join(tmpdir(), `mco-bench-time-${process.pid}`);
  const t0 = process.hrtime.bigint();
  const r = spawnSync(TIME, ['-f', '%e %M %U %S %O', '-o', timeFile, ...argv], { stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 << 20 });
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  if (r.error) throw new Error(`${argv[0]}: ${r.error.message}`);
  // With a failing command GNU time writes "Command exited with non-zero status N" first.
  const lines = fs.readFileSync(timeFile, 'utf8').trim().split('\n');
  fs.rmSync(timeFile, { force: true });
  if (r.status !== 0) {
    throw new Error(`command failed (exit ${r.status}): ${argv.join(' ')}\n${r.stderr.toString().trim().slice(-2000)}`);
  }
  const [, maxRssKiB, user, sys, outputs] = lines.at(-1)!.split(' ').map(Number) as [number, number, number, number, number];
  return { seconds, cpuSeconds: user + sys, peakMB: maxRssKiB / 1024, writtenMB: (outputs * 512) / 2 ** 20, stdout: r.stdout.toString() };
}

/** Runs a command that is not measured (init, cleanup); throws with its stderr on failure. */
export function run(argv: string[]): string {
  const r = spawnSync(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 << 20 });
  if (r.error) throw new Error(`${argv[0]}: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`command failed (exit ${r.status}): ${argv.join(' ')}\n${r.stderr.toString().trim().slice(-2000)}`);
  return r.stdout.toString();
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

interface XattrBinding {
  listAttributesSync(path: string): string[];
  getAttributeSync(path: string, name: string): Buffer | null;
}
const xattr = createRequire(import.meta.url)('@napi-rs/xattr') as XattrBinding;

/** One line per entry: type, mode, owner, size, link target, xattrs, content hash. */
function describeTree(root: string): Map<string, string> {
  const out = new Map<string, string>();
  const visit = (rel: string): void => {
    const p = rel ? join(root, rel) : root;
    const st = fs.lstatSync(p);
    const parts = [`mode=${st.mode.toString(8)}`, `uid=${st.uid}`, `gid=${st.gid}`];
    if (st.isSymbolicLink()) {
      parts.push(`link=${fs.readlinkSync(p)}`);
    } else {
      const names = xattr.listAttributesSync(p).sort();
      for (const n of names) parts.push(`xattr:${n}=${xattr.getAttributeSync(p, n)?.toString('hex')}`);
    }
    if (st.isFile()) parts.push(`size=${st.size}`, `sha256=${createHash('sha256').update(fs.readFileSync(p)).digest('hex')}`);
    out.set(rel || '.', parts.join(' '));
    if (st.isDirectory()) for (const name of fs.readdirSync(p).sort()) visit(rel ? join(rel, name) : name);
  };
  visit('');
  return out;
}

/** Differences between two checked-out trees (at most `limit`), empty when identical. */
export function compareTrees(a: string, b: string, limit = 10): string[] {
  const da = describeTree(a);
  const db = describeTree(b);
  const diffs: string[] = [];
  for (const [path, desc] of da) {
    const other = db.get(path);
    if (other === undefined) diffs.push(`only in ours: ${path}`);
    else if (other !== desc) diffs.push(`${path}: ours {${desc}} ostree {${other}}`);
    if (diffs.length >= limit) return diffs;
  }
  for (const path of db.keys()) {
    if (!da.has(path)) diffs.push(`only in ostree's: ${path}`);
    if (diffs.length >= limit) break;
  }
  return diffs;
}

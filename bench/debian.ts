/**
 * The benchmark's real-world workload: a Debian bookworm minbase root filesystem, made once
 * with debootstrap from the machine's own apt mirror and cached. The mirror's address is read
 * from the apt configuration at run time and never printed (it is redacted from everything
 * this module reports), so no host name ends up in output or in committed files.
 */
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { join } from 'node:path';

/** Bump when the way the rootfs is prepared changes: it names the cache directory. */
export const DEBIAN_VERSION = 'v1';
const SUITE = 'bookworm';

export interface DebianRootfs {
  path: string;
  /** Special files removed from the cached copy, because ostree cannot commit them. */
  removed: { devices: number; fifos: number; sockets: number };
}

export type DebianResult = { ok: true; rootfs: DebianRootfs } | { ok: false; reason: string };

/** The apt mirror URL for `suite` from deb822 `.sources` files or the one-line format. */
export function findMirror(suite = SUITE): string | undefined {
  const dir = '/etc/apt/sources.list.d';
  const files = fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => f.endsWith('.sources') || f.endsWith('.list')).map((f) => join(dir, f)) : [];
  if (fs.existsSync('/etc/apt/sources.list')) files.push('/etc/apt/sources.list');
  for (const file of files) {
    const text = fs.readFileSync(file, 'utf8');
    if (file.endsWith('.sources')) {
      for (const para of text.split(/\n\s*\n/)) {
        const fields = new Map<string, string>();
        for (const line of para.split('\n')) {
          if (line.startsWith('#')) continue;
          const m = /^([\w-]+):\s*(.*)$/.exec(line);
          if (m) fields.set(m[1]!.toLowerCase(), m[2]!.trim());
        }
        const types = (fields.get('types') ?? '').split(/\s+/);
        const suites = (fields.get('suites') ?? '').split(/\s+/);
        if (fields.get('enabled') === 'no' || !types.includes('deb') || !suites.includes(suite)) continue;
        const uri = (fields.get('uris') ?? '').split(/\s+/)[0];
        if (uri) return uri;
      }
    } else {
      for (const line of text.split('\n')) {
        const m = /^deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)/.exec(line.trim());
        if (m && m[2] === suite) return m[1];
      }
    }
  }
  return undefined;
}

/** Replaces the mirror's host (and the whole URL) in text that is about to be shown or logged. */
export function redactor(mirror: string | undefined): (text: string) => string {
  if (!mirror) return (t) => t;
  let host = '';
  try {
    host = new URL(mirror).host;
  } catch {
    // Not a URL: redacting the string itself is all we can do.
  }
  return (text) => {
    let out = text.split(mirror).join('<apt-mirror>');
    if (host) out = out.split(host).join('<apt-mirror-host>');
    return out;
  };
}

/** Mount points at or under `dir` (debootstrap mounts proc and sys in the target). */
function mountsUnder(dir: string): string[] {
  const real = fs.existsSync(dir) ? fs.realpathSync(dir) : dir;
  return fs.readFileSync('/proc/self/mounts', 'utf8').split('\n')
    .map((l) => l.split(' ')[1]?.replace(/\\040/g, ' ') ?? '')
    .filter((m) => m === real || m.startsWith(`${real}/`))
    .sort((a, b) => b.length - a.length);
}

/** Unmounts what debootstrap may have left mounted, so that deleting the directory is safe. */
function unmountUnder(dir: string): void {
  for (const m of mountsUnder(dir)) spawnSync('umount', ['-l', m], { stdio: 'ignore' });
  const left = mountsUnder(dir);
  if (left.length) throw new Error(`refusing to delete ${dir}: still mounted: ${left.join(', ')}`);
}

function removeSpecialFiles(root: string): DebianRootfs['removed'] {
  const removed = { devices: 0, fifos: 0, sockets: 0 };
  const walk = (dir: string): void => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isBlockDevice() || e.isCharacterDevice()) (fs.unlinkSync(p), removed.devices++);
      else if (e.isFIFO()) (fs.unlinkSync(p), removed.fifos++);
      else if (e.isSocket()) (fs.unlinkSync(p), removed.sockets++);
    }
  };
  walk(root);
  return removed;
}

/**
 * The cached rootfs under `cacheDir`, made now if missing. `log` receives progress lines,
 * already redacted. Fails (with a reason, never throwing) when debootstrap is missing or fails.
 */
export async function prepareDebian(cacheDir: string, log: (line: string) => void): Promise<DebianResult> {
  const name = `debian-${SUITE}-minbase-${DEBIAN_VERSION}`;
  const final = join(cacheDir, name);
  const info = join(cacheDir, `${name}.json`);
  if (fs.existsSync(final) && fs.existsSync(info)) {
    return { ok: true, rootfs: { path: final, removed: (JSON.parse(fs.readFileSync(info, 'utf8')) as DebianRootfs).removed } };
  }
  if (spawnSync('sh', ['-c', 'command -v debootstrap'], { stdio: 'ignore' }).status !== 0 && !fs.existsSync('/usr/sbin/debootstrap')) {
    return { ok: false, reason: 'debootstrap is not installed' };
  }
  if (process.getuid?.() !== 0) return { ok: false, reason: 'debootstrap needs root' };
  const mirror = findMirror();
  if (!mirror) return { ok: false, reason: `no apt source for ${SUITE} in /etc/apt (needed as the debootstrap mirror)` };
  const redact = redactor(mirror);

  const tmp = join(cacheDir, `tmp-${name}`);
  unmountUnder(tmp);
  fs.rmSync(tmp, { recursive: true, force: true });
  const logPath = join(cacheDir, `${name}.debootstrap.log`);
  log(`debian: debootstrap --variant=minbase ${SUITE} (from the apt mirror; log in ${logPath}) …`);
  const t0 = Date.now();
  const status = await new Promise<number | string>((resolve) => {
    const child = spawn('debootstrap', ['--variant=minbase', SUITE, tmp, mirror], { stdio: ['ignore', 'pipe', 'pipe'] });
    const out = fs.createWriteStream(logPath);
    // Redact whole lines before anything reaches the disk: a chunk may split a host name.
    const partial = { stdout: '', stderr: '' };
    const onData = (which: 'stdout' | 'stderr') => (chunk: Buffer): void => {
      const lines = (partial[which] + chunk.toString('utf8')).split('\n');
      partial[which] = lines.pop()!;
      for (const line of lines) out.write(`${redact(line)}\n`);
    };
    child.stdout.on('data', onData('stdout'));
    child.stderr.on('data', onData('stderr'));
    child.on('error', (e) => resolve(e.message));
    child.on('close', (code) => {
      for (const rest of [partial.stdout, partial.stderr]) if (rest) out.write(`${redact(rest)}\n`);
      out.end(() => resolve(code ?? -1));
    });
  });
  unmountUnder(tmp);
  if (status !== 0) {
    const tail = fs.existsSync(logPath) ? fs.readFileSync(logPath, 'utf8').trim().split('\n').slice(-3).join(' | ') : '';
    fs.rmSync(tmp, { recursive: true, force: true });
    return { ok: false, reason: redact(`debootstrap failed (${status}): ${tail}`) };
  }
  log(`debian: debootstrap done in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  const removed = removeSpecialFiles(tmp);
  fs.renameSync(tmp, final);
  fs.writeFileSync(info, `${JSON.stringify({ path: final, removed }, null, 2)}\n`);
  return { ok: true, rootfs: { path: final, removed } };
}

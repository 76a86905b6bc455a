/**
 * Helpers for the extraction tests: layers built by tools other than ours (Python's tarfile
 * for hand-made and hostile members, GNU tar for real trees), a reference extraction by GNU
 * tar with the OCI whiteout rules applied by hand, and layer sources over those files.
 * Test-only: imported by *.test.ts, never by the library.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import type { LayerSource } from './extract.js';
import { layerFromFile } from './extract-source.js';
import { OCI_LAYER, OCI_LAYER_GZIP } from './media-types.js';

/** One member of a hand-made layer; Python's tarfile writes it exactly as given. */
export interface Member {
  name: string;
  type?: 'file' | 'dir' | 'symlink' | 'link' | 'char' | 'block' | 'fifo';
  /** File content (UTF-8); or `zeros` bytes of zeros. */
  data?: string;
  zeros?: number;
  linkname?: string;
  mode?: number;
  uid?: number;
  gid?: number;
  mtime?: number;
  devmajor?: number;
  devminor?: number;
}

// Reads the member list as JSON on stdin; zero-filled bodies are streamed, so a bomb's
// content never sits in memory.
const PY_TAR = `
import io, json, sys, tarfile
spec = json.load(sys.stdin)
kinds = {'file': tarfile.REGTYPE, 'dir': tarfile.DIRTYPE, 'symlink': tarfile.SYMTYPE, 'link': tarfile.LNKTYPE,
         'char': tarfile.CHRTYPE, 'block': tarfile.BLKTYPE, 'fifo': tarfile.FIFOTYPE}
class Zeros(io.RawIOBase):
    def __init__(self, n): self.n = n
    def readable(self): return True
    def readinto(self, b):
        k = min(len(b), self.n); b[:k] = bytes(k); self.n -= k; return k
with tarfile.open(spec['path'], 'w:gz' if spec['gzip'] else 'w', format=tarfile.PAX_FORMAT) as tar:
    for m in spec['members']:
        ti = tarfile.TarInfo(m['name'])
        ti.type = kinds[m.get('type', 'file')]
        ti.mode = m.get('mode', 0o755 if ti.type == tarfile.DIRTYPE else 0o644)
        ti.uid, ti.gid, ti.mtime = m.get('uid', 0), m.get('gid', 0), m.get('mtime', 1600000000)
        ti.linkname = m.get('linkname', '')
        ti.devmajor, ti.devminor = m.get('devmajor', 0), m.get('devminor', 0)
        body = None
        if ti.type == tarfile.REGTYPE:
            if 'zeros' in m:
                ti.size, body = m['zeros'], io.BufferedReader(Zeros(m['zeros']))
            else:
                data = m.get('data', '').encode()
                ti.size, body = len(data), io.BytesIO(data)
        tar.addfile(ti, body)
`;

/** Writes a layer holding MEMBERS (gzip unless told otherwise) with Python's tarfile. */
export function pythonLayer(path: string, members: Member[], options: { gzip?: boolean } = {}): string {
  const r = spawnSync('python3', ['-c', PY_TAR], { input: JSON.stringify({ path, gzip: options.gzip ?? true, members }), encoding: 'utf8' });
  if (r.error || r.status !== 0) throw new Error(`python3 tarfile: ${r.error?.message ?? r.stderr}`);
  return path;
}

/** Writes a gzip layer of the tree at DIR with GNU tar (numeric owners, xattrs). */
export function gnuTarLayer(path: string, dir: string): string {
  run('tar', ['--xattrs', '--xattrs-include=*', '--numeric-owner', '-czf', path, '-C', dir, '.']);
  return path;
}

/** A verifying layer source over a blob file; its digest and size come from the file itself. */
export function layerOf(path: string): LayerSource {
  const bytes = fs.readFileSync(path);
  const gzip = bytes[0] === 0x1f && bytes[1] === 0x8b;
  const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
  return layerFromFile(path, { digest, mediaType: gzip ? OCI_LAYER_GZIP : OCI_LAYER, size: bytes.length });
}

/**
 * The reference result: each layer extracted by GNU tar in order, after deleting by hand what
 * its whiteouts name (`.wh.X` removes X, `.wh..wh..opq` empties its directory). Whiteouts only
 * hide lower layers, so deleting before extracting the layer gives the OCI result.
 */
export function gnuTarApply(layers: string[], dest: string): void {
  fs.mkdirSync(dest, { recursive: true });
  for (const layer of layers) {
    for (const member of run('tar', ['-tzf', layer]).split('\n').filter(Boolean)) {
      const name = member.replace(/^\.\//, '').replace(/\/$/, '');
      const slash = name.lastIndexOf('/');
      const dir = join(dest, name.slice(0, slash + 1));
      const base = name.slice(slash + 1);
      if (base === '.wh..wh..opq') {
        for (const child of fs.existsSync(dir) ? fs.readdirSync(dir) : []) fs.rmSync(join(dir, child), { recursive: true, force: true });
      } else if (base.startsWith('.wh.')) {
        fs.rmSync(join(dir, base.slice(4)), { recursive: true, force: true });
      }
    }
    run('tar', ['--xattrs', '--xattrs-include=*', '--numeric-owner', '-xzpf', layer, '-C', dest, '--exclude=.wh.*']);
  }
}

function run(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.error || r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.error?.message ?? r.stderr}`);
  return r.stdout;
}

/** Every name under DIR (recursively, not following symlinks), for "nothing was left behind" checks. */
export function listAll(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return (fs.readdirSync(dir, { recursive: true }) as string[]).sort();
}

export interface LayoutLayer {
  digest: string;
  size: number;
  /** sha256 of the uncompressed tar. */
  diffId: string;
}

/** Copies the gzip layer at PATH into the blobs of the OCI layout DIR. */
export function addLayerBlob(dir: string, path: string): LayoutLayer {
  const bytes = fs.readFileSync(path);
  const sha = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;
  const layer = { digest: sha(bytes), size: bytes.length, diffId: sha(gunzipSync(bytes)) };
  fs.mkdirSync(join(dir, 'blobs', 'sha256'), { recursive: true });
  fs.writeFileSync(join(dir, 'blobs', 'sha256', layer.digest.slice(7)), bytes);
  return layer;
}

/**
 * Writes config, manifest, index.json and oci-layout by hand around LAYERS (gzip blobs already
 * in DIR/blobs), so skopeo can push an image our image code never touched. Returns the
 * manifest digest.
 */
export function writeOciLayout(dir: string, layers: LayoutLayer[], refName: string): string {
  const blob = (bytes: Buffer): { digest: string; size: number } => {
    const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
    fs.mkdirSync(join(dir, 'blobs', 'sha256'), { recursive: true });
    fs.writeFileSync(join(dir, 'blobs', 'sha256', digest.slice(7)), bytes);
    return { digest, size: bytes.length };
  };
  const config = blob(Buffer.from(JSON.stringify({
    architecture: 'amd64', os: 'linux', created: '2020-01-01T00:00:00Z', config: {},
    rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) },
  })));
  const manifest = blob(Buffer.from(JSON.stringify({
    schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
    layers: layers.map((l) => ({ mediaType: OCI_LAYER_GZIP, digest: l.digest, size: l.size })),
  })));
  fs.writeFileSync(join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  fs.writeFileSync(join(dir, 'index.json'), JSON.stringify({
    schemaVersion: 2,
    manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', ...manifest, annotations: { 'org.opencontainers.image.ref.name': refName } }],
  }));
  return manifest.digest;
}

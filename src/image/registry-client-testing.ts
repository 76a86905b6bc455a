/**
 * Fixtures for the registry client's tests against the real docker-registry and skopeo: a
 * small multi-layer image in an OCI layout, a token server for Bearer auth (RS256 JWT with an
 * x5c certificate made by @peculiar/x509), and a fault-injecting HTTP proxy. Test-only.
 */
import { createHash, webcrypto } from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { gzipSync } from 'node:zlib';
import * as x509 from '@peculiar/x509';
import tar from 'tar-stream';
import { OCI_CONFIG, OCI_LAYER_GZIP, OCI_MANIFEST, type Descriptor, type ImageManifest } from './media-types.js';
import { OciLayout } from './oci-layout.js';

export function scratchDir(t: TestContext, prefix = 'mco-image-'): string {
  const dir = fs.mkdtempSync(join(tmpdir(), prefix));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const sha256 = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

async function tarOf(files: Record<string, Buffer | string>): Promise<Buffer> {
  const pack = tar.pack();
  for (const [name, content] of Object.entries(files)) pack.entry({ name, mode: 0o644, mtime: new Date(0), uid: 0, gid: 0 }, Buffer.from(content));
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const c of pack) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

export interface FixtureImage {
  dir: string;
  refName: string;
  manifestDigest: string;
  manifest: ImageManifest;
  configBytes: Buffer;
  labels: Record<string, string>;
}

/**
 * An OCI layout DIR holding one image named REFNAME: a small layer, and a second one of
 * BIGBYTES incompressible bytes (for chunked uploads and resumed downloads).
 */
export async function makeFixtureImage(dir: string, options: { refName?: string; bigBytes?: number; seed?: string } = {}): Promise<FixtureImage> {
  const refName = options.refName ?? 'test';
  const seed = options.seed ?? 'seed';
  const layout = await OciLayout.create(dir);
  const bigBytes = options.bigBytes ?? 300_000;
  const blocks: Buffer[] = [];
  for (let i = 0; i * 64 < bigBytes; i++) blocks.push(createHash('sha512').update(`${seed}${i}`).digest());
  const noise = Buffer.concat(blocks);
  const tars = [
    await tarOf({ 'srv/repo/config': `[core]\nrepo_version=1\nmode=archive-z2\n# ${seed}\n`, 'etc/os-release': 'ID=rhcos\n' }),
    await tarOf({ 'srv/repo/objects/ab/noise.filez': noise.subarray(0, bigBytes) }),
  ];
  const layers: Descriptor[] = [];
  for (const t of tars) layers.push(await layout.putBlob(gzipSync(t, { level: 1 }), OCI_LAYER_GZIP));
  const labels = { 'com.coreos.ostree-commit': createHash('sha256').update(seed).digest('hex'), version: '46.82.202101191342-0' };
  const configBytes = Buffer.from(
    JSON.stringify({ architecture: 'amd64', os: 'linux', config: { Entrypoint: ['/noentry'], Labels: labels }, rootfs: { type: 'layers', diff_ids: tars.map(sha256) } }),
  );
  const config = await layout.putBlob(configBytes, OCI_CONFIG);
  const manifest: ImageManifest = { schemaVersion: 2, mediaType: OCI_MANIFEST, config, layers };
  const desc = await layout.addManifest(Buffer.from(JSON.stringify(manifest)), OCI_MANIFEST, refName);
  return { dir, refName, manifestDigest: desc.digest, manifest, configBytes, labels };
}

export interface TokenServer {
  realm: string;
  /** PEM of the certificate the tokens carry (the registry's `rootcertbundle`). */
  certPath: string;
  /** Each token request seen: the Basic user (or "anonymous") and the scopes asked for. */
  requests: { user: string; scopes: string[] }[];
}

/**
 * A token server as distribution's token auth expects: Basic credentials from USERS give every
 * action asked for; anonymous callers get `pull` only; wrong credentials get 401.
 */
export async function startTokenServer(t: TestContext, dir: string, options: { users: Record<string, string>; service: string; issuer: string }): Promise<TokenServer> {
  const subtle = webcrypto.subtle;
  const alg = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256', publicExponent: new Uint8Array([1, 0, 1]), modulusLength: 2048 };
  const keys = (await subtle.generateKey(alg, true, ['sign', 'verify'])) as CryptoKeyPair;
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.createSelfSigned(
    { serialNumber: '01', name: 'CN=test-token-issuer', notBefore: new Date(now - 3600_000), notAfter: new Date(now + 86400_000), signingAlgorithm: alg, keys },
    webcrypto as unknown as Crypto,
  );
  const certPath = join(dir, 'token.crt');
  fs.writeFileSync(certPath, cert.toString('pem'));
  const b64url = (b: Buffer | string): string => Buffer.from(b).toString('base64url');
  const requests: TokenServer['requests'] = [];
  const server = http.createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url!, 'http://x');
      const scopes = url.searchParams.getAll('scope');
      let user = 'anonymous';
      const auth = req.headers.authorization;
      if (auth?.startsWith('Basic ')) {
        const [u, ...p] = Buffer.from(auth.slice(6), 'base64').toString().split(':');
        if (options.users[u!] !== p.join(':')) {
          res.writeHead(401).end('{"details":"bad credentials"}');
          return;
        }
        user = u!;
      }
      requests.push({ user, scopes });
      const access = scopes.map((s) => {
        const [type, name, actions] = s.split(':');
        return { type, name, actions: (actions ?? '').split(',').filter((a) => user !== 'anonymous' || a === 'pull') };
      });
      const secs = Math.floor(Date.now() / 1000);
      const header = b64url(JSON.stringify({ typ: 'JWT', alg: 'RS256', x5c: [Buffer.from(cert.rawData).toString('base64')] }));
      const claims = b64url(JSON.stringify({ iss: options.issuer, sub: user, aud: options.service, exp: secs + 300, nbf: secs - 10, iat: secs, jti: `${secs}-${requests.length}`, access }));
      const signature = Buffer.from(await subtle.sign(alg, keys.privateKey, Buffer.from(`${header}.${claims}`)));
      const token = `${header}.${claims}.${b64url(signature)}`;
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ token, access_token: token, expires_in: 300 }));
    })();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return { realm: `http://127.0.0.1:${(server.address() as AddressInfo).port}/token`, certPath, requests };
}

export interface FaultProxy {
  host: string;
  /** Requests seen, `METHOD PATH` (query dropped), in order. */
  seen: string[];
}

/**
 * An HTTP proxy in front of TARGET (`127.0.0.1:PORT`). FAULT sees each request (numbered from
 * 0) and may answer it itself: 'fail503' answers 503, 'cut' forwards but resets the
 * connection after half of the response body; undefined forwards untouched.
 */
export async function startFaultProxy(t: TestContext, target: string, fault: (method: string, path: string, n: number) => 'fail503' | 'cut' | undefined): Promise<FaultProxy> {
  const seen: string[] = [];
  const [host, port] = target.split(':');
  const server = http.createServer((req, res) => {
    const path = req.url!.split('?')[0]!;
    const n = seen.push(`${req.method} ${path}`) - 1;
    const action = fault(req.method!, path, n);
    if (action === 'fail503') {
      req.resume();
      res.writeHead(503, { 'content-type': 'text/plain' }).end('injected failure');
      return;
    }
    const upstream = http.request({ host, port: Number(port), method: req.method, path: req.url, headers: { ...req.headers, host: target } }, (up) => {
      const rewritten = { ...up.headers };
      if (typeof rewritten.location === 'string') rewritten.location = rewritten.location.replace(`//${target}`, `//${req.headers.host}`);
      res.writeHead(up.statusCode!, rewritten);
      if (action !== 'cut') {
        up.pipe(res);
        return;
      }
      const half = Number(up.headers['content-length'] ?? 0) / 2;
      let sent = 0;
      up.on('data', (chunk: Buffer) => {
        if (sent >= half) return;
        res.write(chunk.subarray(0, Math.max(0, half - sent)));
        sent += chunk.length;
        if (sent >= half) {
          up.destroy();
          res.socket?.destroy();
        }
      });
    });
    upstream.on('error', () => res.socket?.destroy());
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  }));
  return { host: `127.0.0.1:${(server.address() as AddressInfo).port}`, seen };
}

/**
 * Test helpers for HTTP pulls: the real `ostree-trivial-httpd` serving a directory, started
 * as our child (so the test knows its PID and kills it), with `--autoexit` as a second line
 * of defence (it exits when its directory goes); a static https server with certificates
 * made by the machine's openssl; `mco` and `ostree` run without blocking the event loop (for
 * servers in the test's own process). Test-only.
 */
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';

/** dist/src/ostree/serve-testing.js → dist/src/cli/mco.js. */
const MCO_JS = fileURLToPath(new URL('../cli/mco.js', import.meta.url));

export const TRIVIAL_HTTPD = '/usr/libexec/libostree/ostree-trivial-httpd';

export interface Httpd {
  url: string;
  pid: number;
  kill(): void;
}

/**
 * Starts trivial-httpd on `dir` in the foreground (not `--daemonize`: then the PID we could
 * kill would be gone) and waits until its port file says it listens.
 */
export function startTrivialHttpd(dir: string, extraArgs: string[] = []): Httpd {
  const portFile = `${dir}.httpd-port`;
  fs.rmSync(portFile, { force: true });
  const child = spawn(TRIVIAL_HTTPD, ['--autoexit', '-p', portFile, ...extraArgs, dir], { stdio: 'ignore', detached: false });
  const deadline = Date.now() + 30_000;
  while (!fs.existsSync(portFile) || fs.readFileSync(portFile, 'utf8').trim() === '') {
    if (Date.now() > deadline || child.exitCode !== null) {
      child.kill('SIGKILL');
      throw new Error(`${TRIVIAL_HTTPD} did not start serving ${dir}`);
    }
    spawnSync('sleep', ['0.05']);
  }
  const port = Number(fs.readFileSync(portFile, 'utf8').trim());
  fs.rmSync(portFile, { force: true });
  return {
    url: `http://127.0.0.1:${port}/`,
    pid: child.pid!,
    kill: () => {
      if (child.exitCode === null) child.kill('SIGKILL');
    },
  };
}

/** A command's exit status and output, run without blocking the event loop. */
function runAsync(file: string, args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const env: NodeJS.ProcessEnv = { ...process.env, LC_ALL: 'C.UTF-8' };
    delete env['MCO_DEBUG'];
    const child = spawn(file, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

/**
 * Runs the real ostree without blocking the event loop: needed when the server it talks to
 * (serveRepo) runs in the test's own process.
 */
export const ostreeAsync = (args: string[]): ReturnType<typeof runAsync> => runAsync('/usr/bin/ostree', args);

/** Runs `mco ARGS…` (the built CLI) without blocking the event loop, for the same reason. */
export const mcoAsync = (args: string[]): ReturnType<typeof runAsync> => runAsync(process.execPath, [MCO_JS, ...args]);

/** Certificates for https tests, as PEM files in one directory. */
export interface TestPki {
  /** The CA that issued the server's and the client's certificates. */
  caPath: string;
  /** The server's certificate (for 127.0.0.1 and localhost) and key. */
  serverCertPath: string;
  serverKeyPath: string;
  /** A server certificate the CA issued for another address (192.0.2.1), and its key. */
  misnamedCertPath: string;
  misnamedKeyPath: string;
  /** A client certificate the CA issued, and its key. */
  clientCertPath: string;
  clientKeyPath: string;
  /** A client certificate of its own making (self-signed), and its key: one no server trusts. */
  strangerCertPath: string;
  strangerKeyPath: string;
}

/** Makes a CA and the certificates it issues with the machine's openssl (EC P-256, valid two days). */
export function makeTestPki(dir: string): TestPki {
  fs.mkdirSync(dir, { recursive: true });
  const at = (name: string): string => `${dir}/${name}`;
  const openssl = (...args: string[]): void => {
    const r = spawnSync('openssl', args, { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`openssl ${args.join(' ')} failed:\n${r.stderr}`);
  };
  const newKey = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '2'];
  openssl('req', '-x509', ...newKey, '-keyout', at('ca.key'), '-out', at('ca.pem'), '-subj', '/CN=mco test CA');
  const issue = (name: string, subject: string, ...ext: string[]): void =>
    openssl('req', '-x509', '-CA', at('ca.pem'), '-CAkey', at('ca.key'), ...newKey, '-keyout', at(`${name}.key`), '-out', at(`${name}.pem`), '-subj', subject,
      '-addext', 'basicConstraints=critical,CA:FALSE', ...ext.flatMap((e) => ['-addext', e]));
  issue('server', '/CN=127.0.0.1', 'subjectAltName=IP:127.0.0.1,DNS:localhost', 'extendedKeyUsage=serverAuth');
  issue('misnamed', '/CN=192.0.2.1', 'subjectAltName=IP:192.0.2.1', 'extendedKeyUsage=serverAuth');
  issue('client', '/CN=mco test client', 'extendedKeyUsage=clientAuth');
  openssl('req', '-x509', ...newKey, '-keyout', at('stranger.key'), '-out', at('stranger.pem'), '-subj', '/CN=stranger');
  return {
    caPath: at('ca.pem'), serverCertPath: at('server.pem'), serverKeyPath: at('server.key'),
    misnamedCertPath: at('misnamed.pem'), misnamedKeyPath: at('misnamed.key'), clientCertPath: at('client.pem'), clientKeyPath: at('client.key'),
    strangerCertPath: at('stranger.pem'), strangerKeyPath: at('stranger.key'),
  };
}

export interface HttpsServer {
  url: string;
  /** Requests answered. */
  requests(): number;
  /** TLS connections established. */
  connections(): number;
  close(): Promise<void>;
}

/**
 * Serves `dir` as static files (GET, whole bodies) over https with the PKI's server
 * certificate (with `misnamed`, the one for another address); with `clientCertificates`, only
 * to clients presenting one the CA issued; with `tls12`, over TLS 1.2 at most; with
 * `hangUpUnder`, hanging up without an answer on every request for a path under it.
 */
export async function startHttpsServer(dir: string, pki: TestPki, options: { clientCertificates?: boolean; misnamed?: boolean; tls12?: boolean; hangUpUnder?: string } = {}): Promise<HttpsServer> {
  let requests = 0;
  const server = https.createServer({
    // TLS 1.2 judges a client certificate inside the handshake; 1.3 after it.
    ...(options.tls12 ? { maxVersion: 'TLSv1.2' as const } : {}),
    cert: fs.readFileSync(options.misnamed ? pki.misnamedCertPath : pki.serverCertPath), key: fs.readFileSync(options.misnamed ? pki.misnamedKeyPath : pki.serverKeyPath),
    ...(options.clientCertificates ? { requestCert: true, rejectUnauthorized: true, ca: fs.readFileSync(pki.caPath) } : {}),
  }, (req, res) => {
    requests++;
    const path = decodeURIComponent((req.url ?? '/').split('?')[0]!);
    if (options.hangUpUnder !== undefined && path.startsWith(options.hangUpUnder)) {
      req.socket.destroy();
      return;
    }
    let bytes: Buffer;
    try {
      if (path.split('/').includes('..')) throw new Error('outside');
      bytes = fs.readFileSync(`${dir}${path}`);
    } catch {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'Content-Length': bytes.length }).end(bytes);
  });
  let connections = 0;
  server.on('secureConnection', () => connections++);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `https://127.0.0.1:${(server.address() as AddressInfo).port}/`,
    requests: () => requests,
    connections: () => connections,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

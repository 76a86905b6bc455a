/**
 * Test helper: the built `mco apiserver` started as a child process, as a user would run it,
 * on a kernel-picked loopback port with its own data directory, plus a `kubectl` runner with
 * a private discovery cache and kubeconfig, and bearer tokens for every kind of user.
 * Test-only: imported by *.test.ts (and benchmarks), never by the library.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as k8s from '@kubernetes/client-node';
import { mintToken, tokenSecret } from './auth.js';

export const KUBECTL_BIN = '/usr/bin/kubectl';
export const hasKubectl = fs.existsSync(KUBECTL_BIN);
/** `{ skip }` for tests that drive the real kubectl: they say why instead of passing silently. */
export const needsKubectl = { skip: !hasKubectl && 'kubectl not installed (scripts/setup.sh installs kubernetes-client when none is there)' };

/** dist/src/apiserver/testing.js → dist/src/cli/mco.js */
const MCO_JS = fileURLToPath(new URL('../cli/mco.js', import.meta.url));

export interface KubectlResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

export interface KubectlOptions {
  input?: string;
  env?: Record<string, string>;
  /** Run as another user (overrides the admin kubeconfig's token). */
  token?: string;
}

export interface TestApiServer {
  /** `https://127.0.0.1:PORT` */
  url: string;
  dataDir: string;
  /** Path of the admin kubeconfig. */
  kubeconfig: string;
  /** PEM of the server's CA. */
  caCert: string;
  tokens: { admin: string; node(name: string): string; controller: string };
  kubectl(args: string[], opts?: KubectlOptions): KubectlResult;
  /** kubectl as a child process, for commands that run on (`get -w`, `wait`). */
  spawnKubectl(args: string[], opts?: KubectlOptions): ChildProcess;
  stop(): Promise<void>;
}

export interface StartApiServerOptions {
  /** Reuse this data directory (e.g. a restart); it is then left in place afterwards. */
  dataDir?: string;
  /** Extra `mco apiserver` flags, e.g. `--watch-history=5`. */
  args?: string[];
}

function kubectlEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, ...extra };
  // Nothing of the developer's own cluster may leak in.
  delete env['KUBECONFIG'];
  delete env['KUBECACHEDIR'];
  return env;
}

/** Where the server's teardown is registered: a TestContext, or `{ after }` of node:test in a suite. */
export interface Teardown {
  after(fn: () => unknown): void;
}

/** A client-node KubeConfig for `api` as the user of `token`, trusting the server's CA. */
export function clientKubeConfig(api: Pick<TestApiServer, 'url' | 'caCert'>, token: string): k8s.KubeConfig {
  const kc = new k8s.KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'mco', server: api.url, caData: Buffer.from(api.caCert).toString('base64'), skipTLSVerify: false }],
    users: [{ name: 'u', token }],
    contexts: [{ name: 'c', cluster: 'mco', user: 'u' }],
    currentContext: 'c',
  });
  return kc;
}

export async function startApiServer(t: Teardown, opts: StartApiServerOptions = {}): Promise<TestApiServer> {
  const scratch = fs.mkdtempSync(join(tmpdir(), 'mco-apiserver-'));
  const dataDir = opts.dataDir ?? join(scratch, 'data');
  const kubeconfig = join(scratch, 'kubeconfig');
  const cacheDir = join(scratch, 'kube-cache');
  const env = { ...process.env };
  delete env['MCO_DEBUG'];
  const child = spawn(process.execPath, [MCO_JS, 'apiserver', '--data-dir', dataDir, '--listen', '127.0.0.1:0', '--kubeconfig-out', kubeconfig, ...(opts.args ?? [])], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env,
  });
  // A test process that dies (or is cancelled) must not leave its server behind.
  const killOnExit = (): void => void child.kill('SIGKILL');
  process.once('exit', killOnExit);
  child.once('exit', () => process.off('exit', killOnExit));
  let stderr = '';
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (c: string) => (stderr += c));
  let stopped = false;
  const stop = async (): Promise<void> => {
    if (!stopped) {
      stopped = true;
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGTERM');
        await exited;
      }
    }
    fs.rmSync(scratch, { recursive: true, force: true });
  };
  t.after(stop);

  const address = await new Promise<string>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`mco apiserver did not start in 20 s:\n${out}\n${stderr}`)), 20_000);
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', (chunk: string) => {
      out += chunk;
      const m = /Serving securely on (\S+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`mco apiserver exited (${code}) before serving:\n${stderr}`));
    });
  });
  const secret = tokenSecret(dataDir);
  const args = (a: string[], o: KubectlOptions): string[] => [`--kubeconfig=${kubeconfig}`, `--cache-dir=${cacheDir}`, ...(o.token ? [`--token=${o.token}`] : []), ...a];
  return {
    url: `https://${address}`,
    dataDir,
    kubeconfig,
    caCert: fs.readFileSync(join(dataDir, 'ca.crt'), 'utf8'),
    tokens: {
      admin: mintToken(secret, { kind: 'admin' }),
      controller: mintToken(secret, { kind: 'controller' }),
      node: (name) => mintToken(secret, { kind: 'node', nodeName: name }),
    },
    kubectl(a, o = {}) {
      const r = spawnSync(KUBECTL_BIN, args(a, o), { env: kubectlEnv(o.env), input: o.input ?? '', encoding: 'utf8', timeout: 60_000 });
      if (r.error) throw r.error;
      return { status: r.status, stdout: r.stdout, stderr: r.stderr };
    },
    spawnKubectl(a, o = {}) {
      return spawn(KUBECTL_BIN, args(a, o), { env: kubectlEnv(o.env), stdio: ['ignore', 'pipe', 'pipe'] });
    },
    stop,
  };
}

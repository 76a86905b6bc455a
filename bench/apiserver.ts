/**
 * The embedded API server under watch load (issue 6): `mco apiserver` runs as its own process,
 * as in the lab; watcher processes hold 2,000 concurrent watches (half on Nodes, half on
 * MachineConfigPools), each its own HTTP/1.1 keep-alive TLS connection, the way 2,000
 * informers would; a writer PATCHes the annotations of 2,000 Nodes as fast as the server
 * takes them (several requests in flight); a reader GETs single Nodes meanwhile. Prints
 * writes/s, p50/p99 latency of a GET, event delivery lag (from the start of the PATCH that
 * caused an event to its arrival at a watcher) p50/p99, events lost, and the server's peak
 * RSS (VmHWM). Targets: p99 GET < 50 ms, p99 lag < 500 ms, peak RSS < 1 GiB. A missed
 * target is a measurement, not a failure.
 *
 *   node dist/bench/apiserver.js [--quick] [--json] [--watches=N] [--nodes=N] [--seconds=S]
 *                                [--watcher-procs=N] [--writers=N] [--server-cpu-prof=DIR]
 */
import { fork, spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import { Agent, request } from 'node:https';
import { cpus, tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { parse as parseYaml } from 'yaml';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const MCO = join(ROOT, 'dist', 'src', 'cli', 'mco.js');
const STAMP = 'bench.mco.openshift.io/written-at';
const TARGETS = { getP99Ms: 50, lagP99Ms: 500, peakMB: 1024 };

const HELP = `Usage: node dist/bench/apiserver.js [OPTION…]
  --quick             200 watches, 200 nodes, 5 s of writes
  --json              print the results as JSON (progress goes to stderr)
  --watches=N         concurrent watches, half on nodes, half on machineconfigpools (default 2000)
  --nodes=N           Node objects the writer updates (default 2000)
  --seconds=S         how long the writer runs (default 30)
  --watcher-procs=N   processes holding the watches (default 4)
  --writers=N         PATCH requests kept in flight (default 4)
  --server-cpu-prof=DIR  run the server under node --cpu-prof, profile written to DIR`;

interface Endpoint {
  /** `https://127.0.0.1:PORT` */
  url: string;
  ca: string;
  token: string;
}

interface WatcherConfig extends Endpoint {
  nodeWatches: number;
  poolWatches: number;
  nodesRv: string;
  poolsRv: string;
}

interface WatcherReport {
  lags: number[];
  events: number;
  errors: string[];
}

// ---------------------------------------------------------------------------------------
// HTTP over one keep-alive agent per process.

function agentFor(ca: string): Agent {
  return new Agent({ ca, keepAlive: true, maxSockets: Infinity });
}

function call(ep: Endpoint, agent: Agent, method: string, path: string, body?: unknown, contentType = 'application/json'): Promise<{ status: number; body: string }> {
  return new Promise((resolvePromise, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const req = request(new URL(path, ep.url), {
      method, agent,
      headers: { authorization: `Bearer ${ep.token}`, accept: 'application/json', ...(payload ? { 'content-type': contentType } : {}) },
    }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolvePromise({ status: res.statusCode ?? 0, body: text }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(payload);
  });
}

async function ok(ep: Endpoint, agent: Agent, method: string, path: string, body?: unknown, contentType?: string): Promise<Record<string, unknown>> {
  const r = await call(ep, agent, method, path, body, contentType);
  if (r.status >= 300) throw new Error(`${method} ${path}: HTTP ${r.status}: ${r.body.slice(0, 500)}`);
  return JSON.parse(r.body) as Record<string, unknown>;
}

// ---------------------------------------------------------------------------------------
// Watcher process: opens its share of the watches, measures lag on node events.

function openWatch(cfg: WatcherConfig, agent: Agent, path: string, onLine: (line: string) => void, errors: string[]): Promise<void> {
  return new Promise((resolvePromise, reject) => {
    const req = request(new URL(path, cfg.url), { agent, headers: { authorization: `Bearer ${cfg.token}`, accept: 'application/json' } }, (res) => {
      if (res.statusCode !== 200) {
        reject(new Error(`watch ${path}: HTTP ${res.statusCode}`));
        return;
      }
      let buffered = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        buffered += chunk;
        let nl: number;
        while ((nl = buffered.indexOf('\n')) >= 0) {
          onLine(buffered.slice(0, nl));
          buffered = buffered.slice(nl + 1);
        }
      });
      res.on('end', () => errors.push(`watch ${path} ended by the server`));
      resolvePromise();
    });
    req.on('error', (err) => errors.push(`watch ${path}: ${err.message}`));
    req.end();
  });
}

async function watcherMain(): Promise<void> {
  const cfg = await new Promise<WatcherConfig>((r) => process.once('message', (m) => r(m as WatcherConfig)));
  const agent = agentFor(cfg.ca);
  const report: WatcherReport = { lags: [], events: 0, errors: [] };
  const stampRe = new RegExp(`"${STAMP.replace(/\./g, '\\.')}":"(\\d+)"`);
  const onNodeEvent = (line: string): void => {
    const received = Date.now();
    report.events++;
    const m = stampRe.exec(line);
    if (m) report.lags.push(received - Number(m[1]));
  };
  const onPoolEvent = (): void => void report.events++;
  const opening: Promise<void>[] = [];
  for (let i = 0; i < cfg.nodeWatches; i++) opening.push(openWatch(cfg, agent, `/api/v1/nodes?watch=true&resourceVersion=${cfg.nodesRv}`, onNodeEvent, report.errors));
  for (let i = 0; i < cfg.poolWatches; i++) {
    opening.push(openWatch(cfg, agent, `/apis/machineconfiguration.openshift.io/v1/machineconfigpools?watch=true&resourceVersion=${cfg.poolsRv}`, onPoolEvent, report.errors));
  }
  await Promise.all(opening);
  process.send!({ ready: true });
  await new Promise((r) => process.once('message', r));
  process.send!(report, () => process.exit(0));
}

// ---------------------------------------------------------------------------------------
// Coordinator.

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

function peakRssMB(pid: number): number {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmHWM:\s+(\d+) kB/.exec(status)![1]) / 1024;
}

async function startServer(dir: string, cpuProfDir: string | undefined): Promise<{ child: ChildProcess; ep: Endpoint }> {
  const kubeconfig = join(dir, 'kubeconfig');
  const profiling = cpuProfDir ? ['--cpu-prof', `--cpu-prof-dir=${resolve(cpuProfDir)}`] : [];
  const child = spawn(process.execPath, [...profiling, MCO, 'apiserver', '--data-dir', join(dir, 'data'), '--listen', '127.0.0.1:0', '--kubeconfig-out', kubeconfig], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  await new Promise<void>((resolvePromise, reject) => {
    let out = '';
    child.stdout!.setEncoding('utf8').on('data', (c: string) => {
      out += c;
      if (/Serving securely on/.test(out)) resolvePromise();
    });
    child.once('exit', (code) => reject(new Error(`mco apiserver exited (${code}) before serving:\n${stderr}`)));
  });
  const kc = parseYaml(fs.readFileSync(kubeconfig, 'utf8')) as {
    clusters: Array<{ cluster: { server: string; 'certificate-authority-data': string } }>;
    users: Array<{ user: { token: string } }>;
  };
  return {
    child,
    ep: {
      url: kc.clusters[0]!.cluster.server,
      ca: Buffer.from(kc.clusters[0]!.cluster['certificate-authority-data'], 'base64').toString(),
      token: kc.users[0]!.user.token,
    },
  };
}

/** Runs `count` tasks with `width` in flight. */
async function pool(count: number, width: number, task: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: width }, async () => {
    while (next < count) await task(next++);
  }));
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean' }, json: { type: 'boolean' }, help: { type: 'boolean' },
      watches: { type: 'string' }, nodes: { type: 'string' }, seconds: { type: 'string' },
      'watcher-procs': { type: 'string' }, writers: { type: 'string' }, role: { type: 'string' },
      'server-cpu-prof': { type: 'string' },
    },
  });
  if (values.role === 'watcher') return watcherMain();
  if (values.help) {
    console.log(HELP);
    return;
  }
  const num = (v: string | undefined, quick: number, full: number): number => {
    const n = v === undefined ? (values.quick ? quick : full) : Number(v);
    if (!Number.isInteger(n) || n < 0) throw new Error(`Not a whole number: ${v}`);
    return n;
  };
  const watches = num(values.watches, 200, 2000);
  const nodes = num(values.nodes, 200, 2000);
  const seconds = num(values.seconds, 5, 30);
  const procs = Math.max(1, num(values['watcher-procs'], 2, 4));
  const writers = Math.max(1, num(values.writers, 4, 4));
  const log = (s: string): void => void process.stderr.write(`${s}\n`);

  const dir = fs.mkdtempSync(join(tmpdir(), 'mco-bench-apiserver-'));
  const { child: server, ep } = await startServer(dir, values['server-cpu-prof']);
  const watchers: ChildProcess[] = [];
  try {
    const agent = agentFor(ep.ca);
    log(`creating ${nodes} nodes and the master/worker pools…`);
    await pool(nodes, 16, async (i) => {
      await ok(ep, agent, 'POST', '/api/v1/nodes', { apiVersion: 'v1', kind: 'Node', metadata: { name: `node-${i}`, labels: { 'node-role.kubernetes.io/worker': '' } } });
    });
    for (const role of ['master', 'worker']) {
      await ok(ep, agent, 'POST', '/apis/machineconfiguration.openshift.io/v1/machineconfigpools', {
        apiVersion: 'machineconfiguration.openshift.io/v1', kind: 'MachineConfigPool', metadata: { name: role },
        spec: { nodeSelector: { matchLabels: { [`node-role.kubernetes.io/${role}`]: '' } } },
      });
    }
    const nodesRv = (await ok(ep, agent, 'GET', '/api/v1/nodes?limit=1')).metadata as { resourceVersion: string };
    const poolsRv = (await ok(ep, agent, 'GET', '/apis/machineconfiguration.openshift.io/v1/machineconfigpools?limit=1')).metadata as { resourceVersion: string };

    const nodeWatches = Math.ceil(watches / 2);
    log(`opening ${watches} watches (${nodeWatches} on nodes) from ${procs} processes…`);
    const share = (total: number, i: number): number => Math.floor(total / procs) + (i < total % procs ? 1 : 0);
    const ready: Promise<unknown>[] = [];
    for (let i = 0; i < procs; i++) {
      const w = fork(fileURLToPath(import.meta.url), ['--role=watcher'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
      watchers.push(w);
      ready.push(new Promise((r, reject) => {
        w.once('message', r);
        w.once('exit', (code) => reject(new Error(`watcher process exited (${code}) before its watches were open`)));
      }));
      const cfg: WatcherConfig = { ...ep, nodeWatches: share(nodeWatches, i), poolWatches: share(watches - nodeWatches, i), nodesRv: nodesRv.resourceVersion, poolsRv: poolsRv.resourceVersion };
      w.send(cfg);
    }
    await Promise.all(ready);
    const idleMB = peakRssMB(server.pid!);

    log(`writing node annotations for ${seconds} s with ${writers} requests in flight, reading meanwhile…`);
    const deadline = Date.now() + seconds * 1000;
    let writes = 0;
    const getLatencies: number[] = [];
    const writer = async (): Promise<void> => {
      while (Date.now() < deadline) {
        const name = `node-${writes++ % nodes}`;
        await ok(ep, agent, 'PATCH', `/api/v1/nodes/${name}`, { metadata: { annotations: { [STAMP]: String(Date.now()) } } }, 'application/merge-patch+json');
      }
    };
    const reader = async (): Promise<void> => {
      const readAgent = agentFor(ep.ca);
      while (Date.now() < deadline) {
        const t0 = performance.now();
        await ok(ep, readAgent, 'GET', `/api/v1/nodes/node-${Math.floor(Math.random() * nodes)}`);
        getLatencies.push(performance.now() - t0);
      }
    };
    const t0 = Date.now();
    await Promise.all([...Array.from({ length: writers }, writer), reader()]);
    const elapsed = (Date.now() - t0) / 1000;
    // Let events still in flight arrive before counting.
    await new Promise((r) => setTimeout(r, 3000));

    const reports = await Promise.all(watchers.map((w) => new Promise<WatcherReport>((r) => {
      w.once('message', (m) => r(m as WatcherReport));
      w.send('report');
    })));
    const lags = reports.flatMap((r) => r.lags).sort((a, b) => a - b);
    const errors = reports.flatMap((r) => r.errors);
    getLatencies.sort((a, b) => a - b);
    const result = {
      watches, nodes, seconds: elapsed, watcherProcesses: procs, writersInFlight: writers, cpus: cpus().length,
      writes, writesPerSecond: writes / elapsed,
      getCount: getLatencies.length, getP50Ms: percentile(getLatencies, 50), getP99Ms: percentile(getLatencies, 99),
      nodeEventsExpected: writes * nodeWatches, nodeEventsReceived: lags.length,
      lagP50Ms: percentile(lags, 50), lagP99Ms: percentile(lags, 99), lagMaxMs: lags.at(-1) ?? NaN,
      serverIdlePeakMB: idleMB, serverPeakMB: peakRssMB(server.pid!), watchErrors: errors.slice(0, 5), watchErrorCount: errors.length,
    };
    if (values.json) {
      console.log(JSON.stringify(result, null, 2));
    } else {
      const mark = (okay: boolean): string => (okay ? 'ok' : 'MISSED');
      console.log(`mco apiserver: ${watches} watches (${nodeWatches} nodes, ${watches - nodeWatches} pools) in ${procs} processes, ${nodes} nodes, ${writers} writers in flight, ${elapsed.toFixed(1)} s, ${result.cpus} CPUs`);
      console.log(`  writes/s             ${result.writesPerSecond.toFixed(0)} (${writes} PATCHes)`);
      console.log(`  GET p50 / p99        ${result.getP50Ms.toFixed(1)} / ${result.getP99Ms.toFixed(1)} ms (${result.getCount} GETs)   target p99 < ${TARGETS.getP99Ms} ms: ${mark(result.getP99Ms < TARGETS.getP99Ms)}`);
      console.log(`  delivery lag p50/p99 ${result.lagP50Ms.toFixed(0)} / ${result.lagP99Ms.toFixed(0)} ms (max ${result.lagMaxMs.toFixed(0)})   target p99 < ${TARGETS.lagP99Ms} ms: ${mark(result.lagP99Ms < TARGETS.lagP99Ms)}`);
      console.log(`  node events          ${lags.length} of ${result.nodeEventsExpected} delivered${errors.length ? `, ${errors.length} watch errors: ${errors[0]}` : ''}`);
      console.log(`  server peak RSS      ${result.serverPeakMB.toFixed(0)} MB (${idleMB.toFixed(0)} MB with the watches open, before writes)   target < ${TARGETS.peakMB} MB: ${mark(result.serverPeakMB < TARGETS.peakMB)}`);
    }
  } finally {
    for (const w of watchers) w.kill();
    const exited = new Promise((r) => server.once('exit', r));
    server.kill('SIGTERM');
    await exited;
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(`error: ${(err as Error).message}`);
  process.exit(1);
});

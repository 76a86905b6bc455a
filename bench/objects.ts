/**
 * `node dist/bench/objects.js`: one node on OS v1 pivots to v2 (the generated bootable tree of
 * the pivot bench; v2 changes ~5% of its files), side by side on a fresh copy of the same node:
 *   legacy  the seed's flow with the real tools: `skopeo copy` of the whole image, GNU tar,
 *           `ostree pull-local`, `ostree admin deploy`
 *   objects `machine-config-daemon pivot --os-content-url URL IMAGE`: the image's manifest and
 *           config from the registry, then only the OSTree objects the node lacks from the
 *           cluster's OS content cache (`mco os-content serve`, warmed once before: in a
 *           rollout the first node's request pulls the image into it, for the whole cluster)
 *   ostree  for reference, the real tools on the same objects: `ostree pull` of the commit
 *           from the cache's copy of the image, then `ostree admin deploy`
 * Each flow is a whole process tree under GNU time. Bytes received by the node are what the
 * registry (our `mco registry serve`) and the cache sent over their sockets meanwhile.
 * Targets: bytes per node ≤ 10% of the image's compressed size, node time ≤ 0.2× legacy.
 *
 *   node dist/bench/objects.js [--quick] [--json] [--reps=N]
 */
import { spawn } from 'node:child_process';
import { get } from 'node:http';
import * as fs from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import type { TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { median, timed, type Sample } from './measure.js';
import { deployments, legacyScript, ostreeObjectsScript, pivotBenchArgs, prepareNode, preparePivotWorkload, pushOsImages, removeNode } from './pivot-workload.js';
import { startEmbeddedRegistry } from '../src/image/testing.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const CACHE = join(ROOT, '.bench');
const WORK = join(CACHE, 'work-objects');
const MCO = join(ROOT, 'dist', 'src', 'cli', 'mco.js');
const DAEMON = join(ROOT, 'dist', 'src', 'cli', 'machine-config-daemon.js');
const TARGETS = { bytes: 0.1, time: 0.2 };
const FLOWS = ['legacy', 'objects', 'ostree'] as const;
type Flow = (typeof FLOWS)[number];

const opts = pivotBenchArgs('objects');
const { reps, log } = opts;

/** The image's compressed size: manifest, config and layers as the registry stores them. */
function imageBytes(layoutDir: string): number {
  const blob = (digest: string): string => join(layoutDir, 'blobs', ...digest.split(':'));
  const index = JSON.parse(fs.readFileSync(join(layoutDir, 'index.json'), 'utf8')) as { manifests: { digest: string; size: number }[] };
  const top = index.manifests[0]!;
  const manifest = JSON.parse(fs.readFileSync(blob(top.digest), 'utf8')) as { config: { size: number }; layers: { size: number }[] };
  return top.size + manifest.config.size + manifest.layers.reduce((sum, l) => sum + l.size, 0);
}

/** `mco os-content serve` as its own process (the node's pivot runs synchronously under GNU time). */
async function startCache(cacheDir: string): Promise<{ url: string; stop: () => Promise<void> }> {
  const child = spawn(process.execPath, [MCO, 'os-content', 'serve', '--listen', '127.0.0.1:0', '--cache-dir', cacheDir, '--insecure'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const url = await new Promise<string>((resolveUrl, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /serving OS content on (http:\/\/\S+)/.exec(out);
      if (m) resolveUrl(m[1]!);
    });
    child.once('exit', (code) => reject(new Error(`mco os-content serve exited (${code}) before listening`)));
  });
  return { url, stop: () => new Promise<void>((done) => (child.exitCode !== null ? done() : (child.once('exit', () => done()), child.kill('SIGTERM')))) };
}

/**
 * A server's `bytesSent`, on a connection of its own: between two readings this process blocks
 * in a timed run for longer than the servers keep idle connections open.
 */
function bytesSent(statsUrl: string): Promise<number> {
  return new Promise((resolveBytes, reject) => {
    get(statsUrl, { agent: false }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolveBytes((JSON.parse(body) as { bytesSent: number }).bytesSent));
    }).on('error', reject);
  });
}

interface FlowSample extends Sample {
  /** Bytes the node received: from the registry, and from the cache. */
  registryBytes: number;
  cacheBytes: number;
}

async function main(): Promise<void> {
  const { w, layouts } = await preparePivotWorkload(CACHE, WORK, opts.quick, log);
  const afters: (() => unknown)[] = [];
  // startEmbeddedRegistry wants a test context: only its after() is used.
  const registry = await startEmbeddedRegistry({ after: (fn: () => unknown) => afters.push(fn) } as unknown as TestContext);
  const cache = await startCache(join(WORK, 'cache'));
  afters.push(cache.stop);
  try {
    const refs = pushOsImages(layouts, registry.host, WORK);
    const registryStats = `${registry.url}/_stats`;
    const cacheStats = `${cache.url}/stats`;
    const image = imageBytes(layouts.v2);
    const changed = w.v2.modified + w.v2.added + w.v2.removed;
    const description = `bootable generated tree: ${w.files} files, ${(w.bytes / 2 ** 20).toFixed(0)} MiB; v2 changes ${changed} files `
      + `(${((100 * changed) / w.files).toFixed(1)}%); image v2 ${(image / 2 ** 20).toFixed(1)} MiB compressed`;
    log(description);

    // The cluster's one pull of the image into the cache (the first node's request does it in a rollout).
    const r0 = await bytesSent(registryStats);
    const t0 = Date.now();
    const warm = await fetch(`${cache.url}/images?ref=${encodeURIComponent(refs.v2)}`, { method: 'POST' });
    if (!warm.ok) throw new Error(`warming the cache: ${await warm.text()}`);
    const cachedRepo = `${cache.url}${(await warm.json() as { path: string }).path}`;
    const warmup = { seconds: (Date.now() - t0) / 1000, registryBytes: (await bytesSent(registryStats)) - r0 };
    log(`cache warmed in ${warmup.seconds.toFixed(2)} s: the registry sent ${(warmup.registryBytes / 2 ** 20).toFixed(1)} MiB (${(warmup.registryBytes / image).toFixed(2)}× the image)`);

    const samples: Record<Flow, FlowSample[]> = { legacy: [], objects: [], ostree: [] };
    const results: Record<Flow, string> = { legacy: '', objects: '', ostree: '' };
    for (let rep = 0; rep < reps; rep++) {
      // The order turns each repetition, so that no flow always follows the same one.
      for (const flow of FLOWS.map((_, i) => FLOWS[(i + rep) % FLOWS.length]!)) {
        const sysroot = join(WORK, `node-${flow}`);
        prepareNode(sysroot, w.repo, w.commits.v1, refs.v1);
        const [reg0, cache0] = [await bytesSent(registryStats), await bytesSent(cacheStats)];
        const s = timed(flow === 'legacy'
          ? legacyScript(sysroot, join(WORK, 'legacy-work'), refs.v2, w.commits.v2)
          : flow === 'ostree'
            ? ostreeObjectsScript(sysroot, cachedRepo, refs.v2, w.commits.v2)
            : [process.execPath, DAEMON, 'pivot', `--sysroot=${sysroot}`, '--insecure', '-q', `--os-content-url=${cache.url}`, refs.v2]);
        const sample: FlowSample = { ...s, registryBytes: (await bytesSent(registryStats)) - reg0, cacheBytes: (await bytesSent(cacheStats)) - cache0 };
        samples[flow].push(sample);
        results[flow] = deployments(sysroot).replace(/origin refspec: .*\n/g, '');
        log(`#${rep + 1} ${flow.padEnd(7)} ${s.seconds.toFixed(2)} s  (cpu ${s.cpuSeconds.toFixed(2)} s)  received ${((sample.registryBytes + sample.cacheBytes) / 2 ** 20).toFixed(2)} MiB `
          + `(registry ${(sample.registryBytes / 2 ** 20).toFixed(2)}, cache ${(sample.cacheBytes / 2 ** 20).toFixed(2)})  peak ${s.peakMB.toFixed(0)} MB`);
        removeNode(sysroot);
      }
    }
    const same = results.legacy === results.objects && results.legacy === results.ostree;
    if (!same) log(`*** THE FLOWS LEFT DIFFERENT DEPLOYMENTS:\n${FLOWS.map((f) => `${f}:\n${results[f]}`).join('\n')}`);
    const m = (flow: Flow, k: 'seconds' | 'cpuSeconds' | 'peakMB' | 'registryBytes' | 'cacheBytes'): number => median(samples[flow].map((s) => s[k]));
    const received = (flow: Flow): number => median(samples[flow].map((s) => s.registryBytes + s.cacheBytes));
    const timeRatio = m('objects', 'seconds') / m('legacy', 'seconds');
    // The machine's disk slows through a run (legacy writes ~400 MB each time): the ratio of each
    // repetition's two runs shows the spread that the ratio of medians hides.
    const repRatios = samples.objects.map((s, i) => s.seconds / samples.legacy[i]!.seconds);
    const bytesRatio = received('objects') / image;
    const report = {
      meta: { node: process.version, cpus: cpus().length, reps, quick: opts.quick, loadAverage: loadavg()[0], description, imageBytes: image },
      warmup,
      legacy: { seconds: m('legacy', 'seconds'), cpuSeconds: m('legacy', 'cpuSeconds'), receivedBytes: received('legacy'), peakMB: m('legacy', 'peakMB') },
      objects: { seconds: m('objects', 'seconds'), cpuSeconds: m('objects', 'cpuSeconds'), receivedBytes: received('objects'), registryBytes: m('objects', 'registryBytes'), cacheBytes: m('objects', 'cacheBytes'), peakMB: m('objects', 'peakMB') },
      ostree: { seconds: m('ostree', 'seconds'), cpuSeconds: m('ostree', 'cpuSeconds'), receivedBytes: received('ostree'), peakMB: m('ostree', 'peakMB') },
      timeRatio, repTimeRatios: repRatios, bytesRatio, targets: TARGETS, pass: timeRatio <= TARGETS.time && bytesRatio <= TARGETS.bytes, sameDeployments: same,
    };
    if (opts.json) {
      process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    } else {
      const mib = (b: number): string => `${(b / 2 ** 20).toFixed(2)} MiB`;
      process.stdout.write([
        `one node's pivot to v2 (${description}), median of ${reps}:`,
        `  legacy  (skopeo + tar + ostree pull-local + ostree admin deploy)  ${report.legacy.seconds.toFixed(2)} s  received ${mib(report.legacy.receivedBytes)}`,
        `  objects (pivot --os-content-url)                                  ${report.objects.seconds.toFixed(2)} s  received ${mib(report.objects.receivedBytes)} `
          + `(registry ${mib(report.objects.registryBytes)}, cache ${mib(report.objects.cacheBytes)})  peak ${report.objects.peakMB.toFixed(0)} MB`,
        `  ostree  (ostree pull from the cache + ostree admin deploy)          ${report.ostree.seconds.toFixed(2)} s  received ${mib(report.ostree.receivedBytes)}  `
          + `(${(report.ostree.seconds / report.legacy.seconds).toFixed(2)}× legacy; ours ${(report.objects.seconds / report.ostree.seconds).toFixed(2)}× this)`,
        `  bytes per node ${(100 * bytesRatio).toFixed(1)}% of the image (target ≤ ${100 * TARGETS.bytes}%: ${bytesRatio <= TARGETS.bytes ? 'met' : 'MISSED'}); `
          + `time ratio ${timeRatio.toFixed(2)} (target ≤ ${TARGETS.time}: ${timeRatio <= TARGETS.time ? 'met' : 'MISSED'}); same deployments: ${same ? 'yes' : 'NO'}`,
        `  time ratio of each repetition (objects / legacy run in it): ${repRatios.map((r) => r.toFixed(2)).join(' ')}`,
        `  the cache's one pull of the image: ${warmup.seconds.toFixed(2)} s, ${mib(warmup.registryBytes)} from the registry`,
        '',
      ].join('\n'));
    }
    if (!same) process.exitCode = 1;
  } finally {
    for (const fn of afters.reverse()) await fn();
    // A node left by a failed run holds immutable deployment directories.
    for (const flow of FLOWS) removeNode(join(WORK, `node-${flow}`));
    fs.rmSync(WORK, { recursive: true, force: true });
  }
}

await main();

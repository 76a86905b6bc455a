/**
 * `node dist/bench/pivot.js`: a node on OS v1 pivots to v2 (the bootable ≥10,000-file workload
 * of the deploy bench; v2 changes ~5% of its files), both shipped as legacy machine-os-content
 * images in a local Debian docker-registry. Side by side, each a whole process tree under GNU
 * time, on a fresh copy of the same node sysroot:
 *   legacy  the seed's flow with the real tools: `skopeo copy docker://IMAGE oci:DIR`, GNU tar
 *           extracting every layer, `ostree pull-local` of the commit, `ostree admin deploy`
 *   ours    `machine-config-daemon pivot IMAGE`
 * Prints median wall time, bytes written (GNU time's file system outputs) and the ratio
 * (target: ours ≤ 0.5× of legacy). Both must leave the same deployment list.
 *
 *   node dist/bench/pivot.js [--quick] [--json] [--reps=N]
 */
import * as fs from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import type { TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { median, timed, type Sample } from './measure.js';
import { deployments, legacyScript, pivotBenchArgs, prepareNode, preparePivotWorkload, pushOsImages, removeNode } from './pivot-workload.js';
import { startDockerRegistry } from '../src/image/testing.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const CACHE = join(ROOT, '.bench');
const WORK = join(CACHE, 'work-pivot');
const DAEMON = join(ROOT, 'dist', 'src', 'cli', 'machine-config-daemon.js');
const TARGET_RATIO = 0.5;

const opts = pivotBenchArgs('pivot');
const { reps, log } = opts;

async function main(): Promise<void> {
  const { w, layouts } = await preparePivotWorkload(CACHE, WORK, opts.quick, log);
  const afters: (() => unknown)[] = [];
  // startDockerRegistry wants a test context: only its after() is used.
  const registry = await startDockerRegistry({ after: (fn: () => unknown) => afters.push(fn) } as unknown as TestContext);
  try {
    const refs = pushOsImages(layouts, registry.host, WORK);
    const changed = w.v2.modified + w.v2.added + w.v2.removed;
    const description = `bootable generated tree: ${w.files} files, ${(w.bytes / 2 ** 20).toFixed(0)} MiB; v2 changes ${changed} files `
      + `(${((100 * changed) / w.files).toFixed(1)}%); images: machine-os-content (archive repo at /srv/repo) in a local docker-registry`;
    log(description);
    const samples: Record<'legacy' | 'ours', Sample[]> = { legacy: [], ours: [] };
    const results: Record<'legacy' | 'ours', string> = { legacy: '', ours: '' };
    for (let rep = 0; rep < reps; rep++) {
      for (const flow of rep % 2 ? (['ours', 'legacy'] as const) : (['legacy', 'ours'] as const)) {
        const sysroot = join(WORK, `node-${flow}`);
        prepareNode(sysroot, w.repo, w.commits.v1, refs.v1);
        const s = flow === 'legacy'
          ? timed(legacyScript(sysroot, join(WORK, 'legacy-work'), refs.v2, w.commits.v2))
          : timed([process.execPath, DAEMON, 'pivot', `--sysroot=${sysroot}`, '--insecure', '-q', refs.v2]);
        samples[flow].push(s);
        results[flow] = deployments(sysroot).replace(/origin refspec: .*\n/g, '');
        log(`#${rep + 1} ${flow.padEnd(6)} ${s.seconds.toFixed(2)} s  (cpu ${s.cpuSeconds.toFixed(2)} s)  wrote ${s.writtenMB.toFixed(0)} MB  peak ${s.peakMB.toFixed(0)} MB`);
        removeNode(sysroot);
      }
    }
    const same = results.legacy === results.ours;
    if (!same) log(`*** THE TWO FLOWS LEFT DIFFERENT DEPLOYMENTS:\nlegacy:\n${results.legacy}\nours:\n${results.ours}`);
    const m = (flow: 'legacy' | 'ours', k: 'seconds' | 'writtenMB' | 'peakMB'): number => median(samples[flow].map((s) => s[k]));
    const ratio = m('ours', 'seconds') / m('legacy', 'seconds');
    const report = {
      meta: { node: process.version, cpus: cpus().length, reps, quick: opts.quick, loadAverage: loadavg()[0], description },
      legacy: { seconds: m('legacy', 'seconds'), writtenMB: m('legacy', 'writtenMB'), peakMB: m('legacy', 'peakMB') },
      ours: { seconds: m('ours', 'seconds'), writtenMB: m('ours', 'writtenMB'), peakMB: m('ours', 'peakMB') },
      ratio, target: TARGET_RATIO, pass: ratio <= TARGET_RATIO, sameDeployments: same,
    };
    if (opts.json) {
      process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    } else {
      process.stdout.write([
        `pivot to v2 (${description}), median of ${reps}:`,
        `  legacy (skopeo + tar + ostree pull-local + ostree admin deploy)  ${report.legacy.seconds.toFixed(2)} s  wrote ${report.legacy.writtenMB.toFixed(0)} MB`,
        `  ours   (machine-config-daemon pivot)                             ${report.ours.seconds.toFixed(2)} s  wrote ${report.ours.writtenMB.toFixed(0)} MB  peak ${report.ours.peakMB.toFixed(0)} MB`,
        `  ratio ${ratio.toFixed(2)} (target ≤ ${TARGET_RATIO}: ${report.pass ? 'met' : 'MISSED'}); same deployments: ${same ? 'yes' : 'NO'}`,
        '',
      ].join('\n'));
    }
    if (!same) process.exitCode = 1;
  } finally {
    for (const fn of afters.reverse()) await fn();
    fs.rmSync(WORK, { recursive: true, force: true });
  }
}

await main();

/**
 * `node dist/bench/image.js`: pull + extract of one multi-layer image from a local Debian
 * `docker-registry`, ours (`mco image extract IMAGE@sha256:… --insecure --path /:DEST`, a whole
 * process) against skopeo and GNU tar (`skopeo copy docker://… oci:DIR` then `tar -xzf` of each
 * layer, one shell pipeline). The image (≥ 500 MiB uncompressed, three gzip layers of generated
 * OS-like trees) is built once with GNU tar + gzip into an OCI layout under .bench/, so the bench
 * does not depend on our image code, and pushed with skopeo. Prints median wall time of each,
 * the ratio, our MB/s and peak RSS (targets: ratio ≤ 1.0, peak < 200 MB). The two extracted
 * trees are compared once: different trees would mean the timings compare different work.
 *
 *   node dist/bench/image.js [--quick] [--json] [--reps=N] [--keep]
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import type { TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { compareTrees, median, run, timed, type Sample } from './measure.js';
import { cachedTree, PROFILES, TREE_VERSION } from './tree-gen.js';
import { writeOciLayout } from '../src/image/extract-testing.js';
import { SKOPEO_BIN, startDockerRegistry } from '../src/image/testing.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const CACHE = join(ROOT, '.bench');
const MCO = join(ROOT, 'dist', 'src', 'cli', 'mco.js');
const IMAGE_VERSION = 'v2';
const TARGETS = { ratio: 1.0, peakMB: 200 };
const REPOSITORY = 'bench/os';

const { values: opts } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
    reps: { type: 'string' },
    keep: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
const reps = Number(opts.reps ?? (opts.quick ? 1 : 3));
const log = (line: string): void => void process.stderr.write(`[bench image] ${line}\n`);

interface BuiltLayer {
  digest: string;
  diffId: string;
  size: number;
  uncompressed: number;
}
interface BuiltImage {
  layout: string;
  layers: BuiltLayer[];
  description: string;
}

const sha256File = (path: string): string => {
  const hash = createHash('sha256');
  const fd = fs.openSync(path, 'r');
  const buf = Buffer.alloc(4 << 20);
  try {
    for (let n; (n = fs.readSync(fd, buf, 0, buf.length, null)) > 0; ) hash.update(buf.subarray(0, n));
  } finally {
    fs.closeSync(fd);
  }
  return `sha256:${hash.digest('hex')}`;
};

/**
 * Writes one gzip layer of DIR with GNU tar (numeric owners, xattrs; PREFIX re-roots it) into the
 * layout's blobs; digests are computed from the files.
 */
function tarLayer(layout: string, dir: string, prefix: string | undefined): BuiltLayer {
  const tarPath = join(layout, 'layer.tar');
  const transform = prefix ? [`--transform=s,^\\./,./${prefix}/,`] : [];
  run(['tar', '--numeric-owner', '--xattrs', '--xattrs-include=*', '--sort=name', ...transform, '-cf', tarPath, '-C', dir, '.']);
  const diffId = sha256File(tarPath);
  const uncompressed = fs.statSync(tarPath).size;
  run(['gzip', '-6', '-n', tarPath]);
  const gz = `${tarPath}.gz`;
  const digest = sha256File(gz);
  const size = fs.statSync(gz).size;
  fs.renameSync(gz, join(layout, 'blobs', 'sha256', digest.slice(7)));
  return { digest, diffId, size, uncompressed };
}

/**
 * The bench image: the generated tree as the base layer, the same tree again under
 * /usr/share/extra (a second large layer), and a small layer replacing files of the first
 * (as an update does). No whiteouts, so GNU tar applying the layers in order is the exact result.
 */
function buildImage(): BuiltImage {
  const profile = PROFILES[opts.quick ? 'quick' : 'full'];
  const name = `image-${IMAGE_VERSION}-tree-${TREE_VERSION}-${profile.name}`;
  const layout = join(CACHE, name);
  const metaPath = `${layout}.json`;
  if (!fs.existsSync(metaPath)) {
    const tree = cachedTree(CACHE, profile, log).path;
    log(`building the ${profile.name} image with GNU tar + gzip (once; cached in ${layout}) …`);
    const t0 = Date.now();
    fs.rmSync(layout, { recursive: true, force: true });
    fs.mkdirSync(join(layout, 'blobs', 'sha256'), { recursive: true });
    const update = join(CACHE, `${name}.update`);
    fs.rmSync(update, { recursive: true, force: true });
    // The update layer: every file of the tree's first directory, rewritten.
    const firstDir = fs.readdirSync(tree).filter((n) => fs.lstatSync(join(tree, n)).isDirectory()).sort()[0]!;
    fs.cpSync(join(tree, firstDir), join(update, firstDir), { recursive: true, verbatimSymlinks: true });
    for (const f of fs.readdirSync(join(update, firstDir), { recursive: true }) as string[]) {
      const p = join(update, firstDir, f);
      if (fs.lstatSync(p).isFile()) fs.appendFileSync(p, 'updated\n');
    }
    const layers = [tarLayer(layout, tree, undefined), tarLayer(layout, tree, 'usr/share/extra'), tarLayer(layout, update, undefined)];
    fs.rmSync(update, { recursive: true, force: true });
    writeOciLayout(layout, layers, 'bench');
    fs.writeFileSync(metaPath, `${JSON.stringify({ layers }, null, 2)}\n`);
    log(`built in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  }
  const { layers } = JSON.parse(fs.readFileSync(metaPath, 'utf8')) as { layers: BuiltLayer[] };
  const mib = (n: number): string => (n / 2 ** 20).toFixed(0);
  const total = (k: 'size' | 'uncompressed'): number => layers.reduce((s, l) => s + l[k], 0);
  return {
    layout,
    layers,
    description: `${layers.length} gzip layers, ${mib(total('size'))} MiB compressed, ${mib(total('uncompressed'))} MiB of tar `
      + `(${layers.map((l) => `${mib(l.size)}/${mib(l.uncompressed)}`).join(', ')} MiB)`,
  };
}

interface Side {
  medianSeconds: number;
  seconds: number[];
  medianCpuSeconds: number;
  peakMB: number;
}
const summarize = (samples: Sample[]): Side => ({
  medianSeconds: median(samples.map((s) => s.seconds)),
  seconds: samples.map((s) => s.seconds),
  medianCpuSeconds: median(samples.map((s) => s.cpuSeconds)),
  peakMB: Math.max(...samples.map((s) => s.peakMB)),
});

async function main(): Promise<number> {
  if (opts.help) {
    process.stdout.write('Usage: node dist/bench/image.js [--quick] [--json] [--reps=N] [--keep]\n');
    return 0;
  }
  if (!fs.existsSync(MCO)) throw new Error(`${MCO} is missing: build first (npm run build)`);
  for (const tool of [SKOPEO_BIN, '/usr/bin/docker-registry', '/usr/bin/time']) {
    if (!fs.existsSync(tool)) throw new Error(`${tool} is missing: run scripts/setup.sh`);
  }
  const started = Date.now();
  const image = buildImage();
  log(image.description);

  // startDockerRegistry() registers its cleanup with a test's after(); the bench runs them itself.
  const cleanups: (() => Promise<void> | void)[] = [];
  const scope = { after: (fn: () => Promise<void> | void) => void cleanups.push(fn) } as unknown as TestContext;
  const work = join(CACHE, 'work-image');
  try {
    const registry = await startDockerRegistry(scope);
    const digestFile = join(CACHE, 'image-digest');
    run([SKOPEO_BIN, '--insecure-policy', 'copy', '--quiet', '--dest-tls-verify=false', '--digestfile', digestFile, `oci:${image.layout}:bench`, `docker://${registry.host}/${REPOSITORY}:bench`]);
    const digest = fs.readFileSync(digestFile, 'utf8').trim();
    fs.rmSync(digestFile);
    const ref = `${registry.host}/${REPOSITORY}@${digest}`;
    log(`pushed with skopeo: ${ref}`);

    const ours: Sample[] = [];
    const theirs: Sample[] = [];
    let compared = false;
    const mismatches: string[] = [];
    for (let rep = 0; rep < reps; rep++) {
      fs.rmSync(work, { recursive: true, force: true });
      fs.mkdirSync(work, { recursive: true });
      const ourDest = join(work, 'ours');
      const theirDest = join(work, 'skopeo-tar');
      const layout = join(work, 'oci');
      fs.mkdirSync(theirDest);
      // Alternate who goes first, so page-cache warmth and load favour neither.
      const steps = [
        (): void => void ours.push(timed([process.execPath, MCO, 'image', 'extract', ref, '--insecure', `--path=/:${ourDest}`])),
        (): void => {
          const untar = image.layers.map((l) => `tar --numeric-owner --xattrs --xattrs-include='*' -xzpf ${layout}/blobs/sha256/${l.digest.slice(7)} -C ${theirDest}`).join(' && ');
          theirs.push(timed(['sh', '-c', `${SKOPEO_BIN} --insecure-policy copy --quiet --src-tls-verify=false docker://${ref} oci:${layout}:x && ${untar}`]));
        },
      ];
      for (const step of rep % 2 ? [...steps].reverse() : steps) step();
      log(`#${rep + 1}: ours ${ours.at(-1)!.seconds.toFixed(2)} s, skopeo+tar ${theirs.at(-1)!.seconds.toFixed(2)} s`);
      if (!compared) {
        mismatches.push(...compareTrees(ourDest, theirDest));
        compared = true;
        log(mismatches.length ? `trees differ:\n${mismatches.join('\n')}` : 'extracted trees identical (types, modes, owners, link targets, xattrs, content)');
      }
    }
    if (!opts.keep) fs.rmSync(work, { recursive: true, force: true });

    const o = summarize(ours);
    const s = summarize(theirs);
    const ratio = o.medianSeconds / s.medianSeconds;
    const compressed = image.layers.reduce((n, l) => n + l.size, 0);
    const uncompressed = image.layers.reduce((n, l) => n + l.uncompressed, 0);
    const result = {
      meta: {
        date: new Date().toISOString(),
        revision: spawnSync('git', ['-C', ROOT, 'describe', '--always', '--dirty'], { encoding: 'utf8' }).stdout?.trim() || 'unknown',
        node: process.version, cpus: cpus().length, reps, quick: opts.quick, loadAverage: loadavg()[0],
        totalSeconds: (Date.now() - started) / 1000,
      },
      image: image.description,
      ours: o,
      skopeoTar: s,
      ratio,
      oursCompressedMBps: compressed / 2 ** 20 / o.medianSeconds,
      oursTarMBps: uncompressed / 2 ** 20 / o.medianSeconds,
      checks: { ratio: ratio <= TARGETS.ratio, peakMB: o.peakMB < TARGETS.peakMB },
      mismatches,
    };
    if (opts.json) {
      process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    } else {
      const pass = (ok: boolean): string => (ok ? 'PASS' : 'MISS');
      process.stdout.write([
        `mco image extract (${result.meta.revision}) vs skopeo copy + tar -xzf — node ${process.version}, ${result.meta.cpus} CPUs; median of ${reps} run${reps > 1 ? 's' : ''}, wall time`,
        `  image: ${image.description}`,
        `  ours:       ${o.medianSeconds.toFixed(2)} s (cpu ${o.medianCpuSeconds.toFixed(2)} s, peak ${o.peakMB.toFixed(0)} MB)  runs ${o.seconds.map((x) => x.toFixed(2)).join(' ')}`,
        `  skopeo+tar: ${s.medianSeconds.toFixed(2)} s (cpu ${s.medianCpuSeconds.toFixed(2)} s, peak ${s.peakMB.toFixed(0)} MB)  runs ${s.seconds.map((x) => x.toFixed(2)).join(' ')}`,
        `  ours: ${result.oursCompressedMBps.toFixed(0)} MB/s of blobs pulled, ${result.oursTarMBps.toFixed(0)} MB/s of tar extracted`,
        `${pass(result.checks.ratio)}  time ratio ours/skopeo+tar ${ratio.toFixed(2)} (target ≤ ${TARGETS.ratio.toFixed(1)})`,
        `${pass(result.checks.peakMB)}  our peak RSS ${o.peakMB.toFixed(0)} MB (target < ${TARGETS.peakMB} MB)`,
        ...(mismatches.length ? ['*** EXTRACTED TREES DIFFER (the timings compare different work):', ...mismatches] : []),
        '',
      ].join('\n'));
    }
    return mismatches.length ? 1 : 0;
  } finally {
    for (const fn of cleanups.reverse()) await fn();
  }
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`bench image: ${(e as Error).message}\n`);
    process.exit(1);
  },
);

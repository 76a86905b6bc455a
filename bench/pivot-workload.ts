/**
 * The pivot benchmarks' shared workload (bench/pivot.ts, bench/objects.ts): the generated
 * bootable tree's v1 and v2 built into machine-os-content images once (OCI layouts under
 * .bench/), a node sysroot on v1 made by the real tool, and the seed's legacy flow as one
 * shell script of the real tools.
 */
import * as fs from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { OSNAME, prepareDeployWorkload, REFS, type DeployWorkload } from './deploy-tree.js';
import { run } from './measure.js';
import { cachedTree, PROFILES, TREE_VERSION } from './tree-gen.js';
import { buildMachineOsContent } from '../src/image/build.js';
import { SKOPEO_BIN } from '../src/image/testing.js';

const OSTREE = '/usr/bin/ostree';
const DESCRIPTION = 'Managed by machine-config-operator';
/** `s` as one word of a bash command. */
const q = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

/** The pivot benchmarks' command line (`--quick`, `--json`, `--reps=N`, `--help`) and their log. */
export function pivotBenchArgs(name: string): { quick: boolean; json: boolean; reps: number; log: (line: string) => void } {
  const { values: opts } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
      reps: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (opts.help) {
    process.stdout.write(`Usage: node dist/bench/${name}.js [--quick] [--json] [--reps=N]\n`);
    process.exit(0);
  }
  return {
    quick: opts.quick!, json: opts.json!, reps: Number(opts.reps ?? (opts.quick ? 1 : 3)),
    log: (line) => void process.stderr.write(`[bench ${name}] ${line}\n`),
  };
}

/** The generated bootable tree's two commits and their OS images (built once under `cache`), and `work` emptied. */
export async function preparePivotWorkload(cache: string, work: string, quick: boolean, log: (line: string) => void): Promise<{ w: DeployWorkload; layouts: Record<'v1' | 'v2', string> }> {
  const profile = PROFILES[quick ? 'quick' : 'full'];
  const tree = cachedTree(cache, profile, log);
  const w = prepareDeployWorkload(cache, tree.path, `tree-${TREE_VERSION}-${profile.name}`, profile, OSTREE, log);
  const layouts = await osImageLayouts(cache, w.repo, profile.name, log);
  fs.rmSync(work, { recursive: true, force: true });
  fs.mkdirSync(work, { recursive: true });
  return { w, layouts };
}

/** machine-os-content of each version, built once into OCI layouts under .bench/. */
async function osImageLayouts(cache: string, repo: string, profileName: string, log: (line: string) => void): Promise<Record<'v1' | 'v2', string>> {
  const out = {} as Record<'v1' | 'v2', string>;
  for (const v of ['v1', 'v2'] as const) {
    const layoutDir = join(cache, `pivot-image-${TREE_VERSION}-${profileName}-${v}`);
    if (!fs.existsSync(join(layoutDir, 'index.json'))) {
      log(`building machine-os-content ${v} (once; cached in ${layoutDir}) …`);
      fs.rmSync(layoutDir, { recursive: true, force: true });
      await buildMachineOsContent({ repo, rev: REFS[v], layoutDir, refName: v });
    }
    out[v] = layoutDir;
  }
  return out;
}

/** Copies both OS images into the registry at `registryHost` with skopeo; their references by digest. */
export function pushOsImages(layouts: Record<'v1' | 'v2', string>, registryHost: string, work: string): Record<'v1' | 'v2', string> {
  const refs = {} as Record<'v1' | 'v2', string>;
  for (const v of ['v1', 'v2'] as const) {
    const digestFile = join(work, `digest-${v}`);
    run([SKOPEO_BIN, '--insecure-policy', 'copy', '-q', '--dest-tls-verify=false', `--digestfile=${digestFile}`, `oci:${layouts[v]}:${v}`, `docker://${registryHost}/ocp/machine-os-content:${v}`]);
    refs[v] = `${registryHost}/ocp/machine-os-content@${fs.readFileSync(digestFile, 'utf8').trim()}`;
  }
  return refs;
}

/** A node sysroot on v1 with the pivot origin of image v1 (the real tool makes it; not timed). */
export function prepareNode(sysroot: string, repo: string, v1Commit: string, imageV1: string): void {
  fs.rmSync(sysroot, { recursive: true, force: true });
  fs.mkdirSync(sysroot, { recursive: true });
  run([OSTREE, 'admin', 'init-fs', sysroot]);
  run([OSTREE, 'admin', 'os-init', `--sysroot=${sysroot}`, OSNAME]);
  run([OSTREE, 'pull-local', `--repo=${join(sysroot, 'ostree', 'repo')}`, repo, v1Commit]);
  const origin = `${sysroot}.origin-v1`;
  fs.writeFileSync(origin, `[origin]\nrefspec=${v1Commit}\ncustom-url=pivot://${imageV1}\ncustom-description=${DESCRIPTION}\n`);
  run([OSTREE, 'admin', 'deploy', `--sysroot=${sysroot}`, `--os=${OSNAME}`, '--karg=root=LABEL=root', `--origin-file=${origin}`, v1Commit]);
}

export function removeNode(sysroot: string): void {
  const deploy = join(sysroot, 'ostree', 'deploy', OSNAME, 'deploy');
  if (fs.existsSync(deploy)) {
    const dirs = fs.readdirSync(deploy).filter((n) => !n.endsWith('.origin')).map((n) => join(deploy, n));
    if (dirs.length) run(['chattr', '-i', ...dirs]);
  }
  fs.rmSync(sysroot, { recursive: true, force: true });
}

/** The seed's legacy flow as one shell script: what `machine-config-daemon pivot` ran in 4.6, with the real tools. */
export function legacyScript(sysroot: string, work: string, image: string, commit: string): string[] {
  const origin = join(work, 'origin');
  return ['bash', '-euo', 'pipefail', '-c', [
    `mkdir -p ${q(work)}/extract`,
    `${SKOPEO_BIN} --insecure-policy copy -q --src-tls-verify=false docker://${image} oci:${q(work)}/oci:v2`,
    // Every layer of the manifest, in order, as `oc image extract --path /:DIR` applies them.
    `manifest=$(python3 -c "import json,sys; d=json.load(open(sys.argv[1]+'/index.json')); print(d['manifests'][0]['digest'].split(':')[1])" ${q(work)}/oci)`,
    `for l in $(python3 -c "import json,sys; print(' '.join(x['digest'].split(':')[1] for x in json.load(open(sys.argv[1]))['layers']))" ${q(work)}/oci/blobs/sha256/$manifest); do tar -xzf ${q(work)}/oci/blobs/sha256/$l -C ${q(work)}/extract; done`,
    `${OSTREE} pull-local --repo=${q(join(sysroot, 'ostree', 'repo'))} ${q(work)}/extract/srv/repo ${commit} >/dev/null`,
    `printf '[origin]\\nrefspec=%s\\ncustom-url=pivot://%s\\ncustom-description=${DESCRIPTION}\\n' ${commit} ${q(image)} > ${q(origin)}`,
    `${OSTREE} admin deploy --sysroot=${q(sysroot)} --os=${OSNAME} --origin-file=${q(origin)} ${commit} >/dev/null`,
    `rm -rf ${q(work)}`,
  ].join('\n')];
}

/**
 * The best the real tools do with objects: `ostree pull` of the commit from an archive repo over
 * HTTP (the OS content cache's copy of the image), then `ostree admin deploy`. The commit is
 * given (the node would read it from the image's config label, a request of a few hundred bytes).
 */
export function ostreeObjectsScript(sysroot: string, repoUrl: string, image: string, commit: string): string[] {
  const repo = q(join(sysroot, 'ostree', 'repo'));
  const origin = q(`${sysroot}.origin-objects`);
  return ['bash', '-euo', 'pipefail', '-c', [
    `${OSTREE} remote add --repo=${repo} --force --no-gpg-verify mco-os-content ${q(repoUrl)}`,
    `${OSTREE} pull --repo=${repo} mco-os-content ${commit} >/dev/null`,
    `printf '[origin]\\nrefspec=%s\\ncustom-url=pivot://%s\\ncustom-description=${DESCRIPTION}\\n' ${commit} ${q(image)} > ${origin}`,
    `${OSTREE} admin deploy --sysroot=${q(sysroot)} --os=${OSNAME} --origin-file=${origin} ${commit} >/dev/null`,
    `${OSTREE} remote delete --repo=${repo} mco-os-content`,
    `rm -f ${origin}`,
  ].join('\n')];
}

/** The real tool's deployment list, the markers of the booted and pending ones taken out. */
export const deployments = (sysroot: string): string => run([OSTREE, 'admin', 'status', `--sysroot=${sysroot}`]).replace(/^[ *] /gm, '');


/**
 * The OS side shared by `mco demo pivot` and the lab: the seed's two RHCOS versions generated,
 * committed and built into `machine-os-content` images pushed as
 * `REGISTRY/openshift-release-dev/ocp-v4.0-art-dev@sha256:…`, release images naming them,
 * and a node sysroot installed on one of them as the installer leaves it (a `pivot://IMAGE`
 * custom origin, so the daemon reads its booted osImageURL).
 */
import * as fs from 'node:fs/promises';
import { join } from 'node:path';
import { buildMachineOsContent } from '../image/build.js';
import { COMMIT_LABEL } from '../image/os-labels.js';
import { pullImage } from '../image/pull.js';
import { pushLayout } from '../image/push.js';
import { parseImageReference } from '../image/reference.js';
import type { RegistryClient } from '../image/registry-client.js';
import { buildAnnotations, buildReleaseImage } from '../image/release.js';
import type { OsImageSource } from '../node/pivot.js';
import { PIVOT_ORIGIN_DESCRIPTION } from '../node/pivot.js';
import { commitTree } from '../ostree/commit.js';
import { Repo } from '../ostree/repo.js';
import { initFs, osInit } from '../sysroot/init-fs.js';
import { rebase } from '../sysroot/rebase.js';
import { writeFakeOs } from './fake-os.js';

/** The seed's two RHCOS versions and their dates, and the OpenShift releases that carry them. */
export const OS_VERSIONS = [
  { version: '46.82.202012051820-0', timestamp: Date.UTC(2020, 11, 5, 18, 24, 10) / 1000, release: '4.6.8' },
  { version: '46.82.202101191342-0', timestamp: Date.UTC(2021, 0, 19, 13, 45, 40) / 1000, release: '4.6.13' },
] as const;
export const OSNAME = 'rhcos';
/** Where the seed's OS images live, under the registry host. */
export const OS_REPOSITORY = 'openshift-release-dev/ocp-v4.0-art-dev';
/** Where the seed's release images live: `…/ocp-release:4.6.8-x86_64`. */
export const RELEASE_REPOSITORY = 'openshift-release-dev/ocp-release';
export const releaseTag = (release: string): string => `${release}-x86_64`;

export interface BuiltOsImage {
  version: string;
  release: string;
  /** `REGISTRY/openshift-release-dev/ocp-v4.0-art-dev@sha256:…` */
  image: string;
  /** The OSTree commit inside the image. */
  commit: string;
  packages: number;
}

export interface BuildOsImagesOptions {
  /** Scratch space (build repo, trees, OCI layouts); left for the caller to remove. */
  workDir: string;
  /** `HOST:PORT` of the registry pushed to. */
  registry: string;
  client: RegistryClient;
  say?: (line: string) => void;
}

/** Generates, commits, builds and pushes each of OS_VERSIONS; the images are pinned by digest. */
export async function buildOsImages(options: BuildOsImagesOptions): Promise<BuiltOsImage[]> {
  const { workDir, registry, client } = options;
  await fs.mkdir(workDir, { recursive: true });
  const buildRepoPath = join(workDir, 'build-repo');
  const buildRepo = await Repo.init(buildRepoPath, { mode: 'archive' });
  const images: BuiltOsImage[] = [];
  for (const [generation, { version, timestamp, release }] of OS_VERSIONS.entries()) {
    const tree = join(workDir, `tree-${version}`);
    const os = await writeFakeOs(tree, { version, generation });
    const commit = await commitTree(buildRepo, tree, { branch: `${OSNAME}/4.6`, subject: `RHCOS ${version}`, metadata: os.metadata, timestamp });
    await fs.rm(tree, { recursive: true, force: true });
    const layoutDir = join(workDir, `oci-${version}`);
    const built = await buildMachineOsContent({ repo: buildRepoPath, rev: commit.checksum, layoutDir, refName: version });
    const { digest } = await pushLayout(client, layoutDir, version, parseImageReference(`${registry}/${OS_REPOSITORY}:${version}`));
    const image = `${registry}/${OS_REPOSITORY}@${digest}`;
    images.push({ version, release, image, commit: built.commit, packages: os.packages.length });
    options.say?.(`Built machine-os-content ${version} (${os.packages.length} packages, commit ${built.commit.slice(0, 12)}…) and pushed it as ${image}`);
  }
  return images;
}

/**
 * Pushes `REGISTRY/openshift-release-dev/ocp-release:<release>-x86_64` for each OS image: a
 * release payload whose `machine-os-content` tag names the image by digest, annotated with its
 * build labels as `oc adm release new` does. Returns the release pull specs.
 */
export async function pushReleaseImages(images: BuiltOsImage[], options: Omit<BuildOsImagesOptions, 'say'>): Promise<string[]> {
  const releases: string[] = [];
  for (const os of images) {
    const pulled = await pullImage(options.client, parseImageReference(os.image));
    const layoutDir = join(options.workDir, `release-${os.release}`);
    await buildReleaseImage({
      layoutDir,
      refName: os.release,
      version: os.release,
      tags: [{ name: 'machine-os-content', from: os.image, annotations: buildAnnotations(pulled.config) }],
      created: new Date(OS_VERSIONS.find((v) => v.release === os.release)!.timestamp * 1000),
    });
    const spec = `${options.registry}/${RELEASE_REPOSITORY}:${releaseTag(os.release)}`;
    await pushLayout(options.client, layoutDir, os.release, parseImageReference(spec));
    releases.push(spec);
  }
  return releases;
}

/** The OSTree repo inside an extracted machine-os-content image, and the commit its label pins. */
export interface OsContent {
  image: string;
  repo: string;
  commit: string;
}

/** Extracts `image` to `dir` (which must not exist) once, for installing any number of nodes from it. */
export async function extractOsContent(source: OsImageSource, image: string, dir: string): Promise<OsContent> {
  await source.extract(image, dir);
  const commit = (await source.labels(image))[COMMIT_LABEL];
  if (!commit) throw new Error(`OS image ${image} has no ${COMMIT_LABEL} label: it is not a machine-os-content image`);
  return { image, repo: join(dir, 'srv', 'repo'), commit };
}

/** Installs a fresh node sysroot at `sysroot` (created) on `content`, as the installer leaves a node. */
export async function installNode(sysroot: string, content: OsContent): Promise<void> {
  await fs.mkdir(sysroot, { recursive: true });
  await initFs(sysroot);
  await osInit(sysroot, OSNAME);
  await rebase(sysroot, `${content.repo}:${content.commit}`, {
    osname: OSNAME, customOriginUrl: `pivot://${content.image}`, customOriginDescription: PIVOT_ORIGIN_DESCRIPTION,
  });
}

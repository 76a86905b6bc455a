import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseOciLayoutReference } from '../../image/oci-layout.js';
import { pullImage } from '../../image/pull.js';
import { pushLayout } from '../../image/push.js';
import { formatImageReference, parseImageReference } from '../../image/reference.js';
import type { RegistryClient } from '../../image/registry-client.js';
import { buildAnnotations, buildReleaseImage, parseImageMapping, type ReleaseTag } from '../../image/release.js';
import { str, UsageError } from '../args.js';
import type { Command } from '../command.js';
import { clientFromFlags, registryOptions, withClient } from '../image/registry-flags.js';

export const command: Command = {
  summary: 'Build a release image whose release-manifests/image-references names each component image by digest; prints its digest',
  usage: '[OPTION…] --name VERSION --from-images MAPPING --to oci:DIR[:REF]|IMAGE',
  options: {
    'from-images': { type: 'string', description: 'NAME=PULLSPEC lines, or an ImageStream (YAML or JSON)', argument: 'FILE' },
    name: { type: 'string', description: 'The release version, e.g. 4.6.8', argument: 'VERSION' },
    previous: { type: 'string', description: 'Versions this release upgrades from, comma-separated', argument: 'V1,V2' },
    to: { type: 'string', description: 'Where the release image goes: an OCI layout or a registry image', argument: 'DEST' },
    ...registryOptions,
  },
  async run(args, ctx) {
    const mappingFile = str(args, 'from-images');
    const version = str(args, 'name');
    const to = str(args, 'to');
    if (!mappingFile) throw new UsageError('--from-images must name the file of component images');
    if (!version) throw new UsageError('--name must give the release version');
    if (!to) throw new UsageError('--to must name where the release image goes');
    if (args.positionals.length > 0) throw new UsageError(`unexpected argument "${args.positionals[0]}"`);
    const mapping = parseImageMapping(await readFile(mappingFile, 'utf8'), mappingFile);
    const previous = (str(args, 'previous') ?? '').split(',').map((v) => v.trim()).filter(Boolean);

    const client = clientFromFlags(args, ctx);
    const digest = await withClient(client, async () => {
      const tags = await resolveTags(client, mapping);
      if (to.startsWith('oci:')) {
        const { dir, refName } = parseOciLayoutReference(to);
        return (await buildReleaseImage({ layoutDir: dir, refName, version, previous, tags })).digest;
      }
      const target = parseImageReference(to);
      const dir = await mkdtemp(join(tmpdir(), 'mco-release-'));
      try {
        await buildReleaseImage({ layoutDir: dir, refName: 'release', version, previous, tags });
        return (await pushLayout(client, dir, 'release', target)).digest;
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });
    ctx.output.out(`${digest}\n`);
  },
};

/**
 * Reads each component image as oc does: its pull spec is pinned to the image's digest and
 * its build labels become the tag's annotations (annotations given in the mapping win).
 */
async function resolveTags(client: RegistryClient, mapping: ReleaseTag[]): Promise<ReleaseTag[]> {
  const tags: ReleaseTag[] = [];
  for (const tag of mapping) {
    const ref = parseImageReference(tag.from);
    const image = await pullImage(client, ref);
    const annotations = { ...buildAnnotations(image.config), ...tag.annotations };
    tags.push({ name: tag.name, from: formatImageReference({ registry: ref.registry, repository: ref.repository, digest: image.digest }), annotations });
  }
  return tags;
}

import { pullImage } from '../../image/pull.js';
import { formatImageReference, parseImageReference } from '../../image/reference.js';
import { flag, required } from '../args.js';
import type { Command } from '../command.js';
import { clientFromFlags, registryOptions, withClient } from './registry-flags.js';

export const command: Command = {
  summary: 'Show an image\'s name, digest, labels, platform and layers as JSON, the fields skopeo inspect prints',
  usage: '[OPTION…] IMAGE',
  options: {
    raw: { type: 'boolean', description: 'Print the manifest (or manifest list) exactly as the registry stores it' },
    config: { type: 'boolean', description: 'Print the image config (with --raw: its bytes as stored)' },
    ...registryOptions,
  },
  async run(args, ctx) {
    const ref = parseImageReference(required(args, 0, 'IMAGE'));
    await withClient(clientFromFlags(args, ctx), async (client) => {
      if (flag(args, 'raw') && !flag(args, 'config')) {
        ctx.output.out((await client.getRawManifest(ref)).bytes);
        return;
      }
      const image = await pullImage(client, ref);
      if (flag(args, 'config')) {
        ctx.output.out(flag(args, 'raw') ? image.configBytes : `${JSON.stringify(image.config, null, 4)}\n`);
        return;
      }
      const name = `${ref.registry}/${ref.repository}`;
      const tags = await client.listTags(ref);
      const c = image.config;
      const info = {
        Name: name,
        Digest: image.resolved.list?.digest ?? image.digest,
        RepoTags: tags,
        Created: c.created ?? null,
        DockerVersion: c.docker_version ?? '',
        Labels: c.config?.Labels ?? null,
        Architecture: c.architecture ?? '',
        Os: c.os ?? '',
        ...(c.variant ? { Variant: c.variant } : {}),
        Layers: image.manifest.layers.map((l) => l.digest),
        LayersData: image.manifest.layers.map((l) => ({ MIMEType: l.mediaType, Digest: l.digest, Size: l.size, Annotations: l.annotations ?? null })),
        Env: c.config?.Env ?? null,
      };
      ctx.output.out(`${JSON.stringify(info, null, 4)}\n`);
      if (image.resolved.list) ctx.output.err(`${formatImageReference(ref)} is a manifest list: showing image ${image.digest}\n`);
    });
  },
};

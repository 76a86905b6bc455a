import { imageFor, readReleaseInfo } from '../../image/release.js';
import type { RegistryClient } from '../../image/registry-client.js';
import { required, str, UsageError } from '../args.js';
import type { Command } from '../command.js';
import { clientFromFlags, registryOptions } from '../image/registry-flags.js';
import { openImage } from './source.js';

export const command: Command = {
  summary: 'Show the images of a release (oci:DIR[:REF] or a registry image), or with --image-for the pull spec of one, as oc adm release info',
  usage: '[OPTION…] RELEASE',
  options: {
    'image-for': { type: 'string', description: 'Print the pull spec of the specified image or an error if it does not exist', argument: 'NAME' },
    ...registryOptions,
  },
  async run(args, ctx) {
    const release = required(args, 0, 'RELEASE');
    if (args.positionals.length > 1) throw new UsageError(`unexpected argument "${args.positionals[1]}"`);
    let client: RegistryClient | undefined;
    try {
      const image = await openImage(release, () => (client = clientFromFlags(args, ctx)));
      const info = await readReleaseInfo(image, release);
      const name = str(args, 'image-for');
      if (name !== undefined) {
        ctx.output.out(`${imageFor(info, name, release)}\n`);
        return;
      }
      const rows = info.imageReferences.spec.tags.map((t) => [t.name, t.from.name] as const);
      const width = Math.max(4, ...rows.map(([n]) => n.length)) + 2;
      ctx.output.out(
        `Name:      ${info.metadata?.version ?? info.imageReferences.metadata.name}\n` +
          `Digest:    ${image.digest}\n` +
          `Created:   ${image.config.created ?? 'unknown'}\n` +
          `OS/Arch:   ${image.config.os ?? 'unknown'}/${image.config.architecture ?? 'unknown'}\n` +
          (info.metadata?.previous?.length ? `Upgrades:  ${info.metadata.previous.join(', ')}\n` : '') +
          `\nImages:\n  ${'NAME'.padEnd(width)}PULL SPEC\n` +
          rows.map(([n, from]) => `  ${n.padEnd(width)}${from}\n`).join(''),
      );
    } finally {
      await client?.close();
    }
  },
};

import { parseOciLayoutReference } from '../../image/oci-layout.js';
import { pullToLayout } from '../../image/pull.js';
import { pushLayout } from '../../image/push.js';
import { parseImageReference } from '../../image/reference.js';
import { required, UsageError } from '../args.js';
import type { Command } from '../command.js';
import { clientFromFlags, quietOption, registryOptions, withClient } from './registry-flags.js';

export const command: Command = {
  summary: 'Copy an image from an OCI layout to a registry, or back (skopeo copy\'s oci: and docker:// transports); prints the manifest digest',
  usage: '[OPTION…] oci:DIR[:REF] [docker://]IMAGE | [docker://]IMAGE oci:DIR[:REF]',
  options: { ...quietOption, ...registryOptions },
  async run(args, ctx) {
    const source = required(args, 0, 'SOURCE');
    const destination = required(args, 1, 'DESTINATION');
    if (args.positionals.length > 2) throw new UsageError(`unexpected argument "${args.positionals[2]}"`);
    const client = clientFromFlags(args, ctx, { progress: true });
    const { digest } = await withClient(client, async () => {
      if (source.startsWith('oci:')) {
        const from = parseOciLayoutReference(source);
        return pushLayout(client, from.dir, from.refName, parseImageReference(destination));
      }
      if (destination.startsWith('oci:')) return pullToLayout(client, parseImageReference(source), parseOciLayoutReference(destination));
      throw new UsageError('one side must be an OCI layout (oci:DIR[:REF]) and the other a registry image');
    });
    ctx.output.out(`${digest}\n`);
  },
};

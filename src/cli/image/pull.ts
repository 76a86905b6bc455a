import { parseOciLayoutReference } from '../../image/oci-layout.js';
import { pullToLayout } from '../../image/pull.js';
import { parseImageReference } from '../../image/reference.js';
import { required, str, UsageError } from '../args.js';
import type { Command } from '../command.js';
import { clientFromFlags, quietOption, registryOptions, withClient } from './registry-flags.js';

export const command: Command = {
  summary: 'Copy an image from a registry into an OCI layout directory; prints the image digest',
  usage: '[OPTION…] IMAGE --to oci:DIR[:REF]',
  options: {
    to: { type: 'string', description: 'The OCI layout to write (created when missing), as skopeo\'s oci: transport', argument: 'oci:DIR[:REF]' },
    ...quietOption,
    ...registryOptions,
  },
  async run(args, ctx) {
    const ref = parseImageReference(required(args, 0, 'IMAGE'));
    const to = str(args, 'to');
    if (!to) throw new UsageError('--to oci:DIR[:REF] must be specified');
    if (!to.startsWith('oci:')) throw new UsageError(`--to takes oci:DIR[:REF], not "${to}"`);
    const target = parseOciLayoutReference(to);
    const { digest } = await withClient(clientFromFlags(args, ctx, { progress: true }), (client) => pullToLayout(client, ref, target));
    ctx.output.out(`${digest}\n`);
  },
};

import { extractLayers, type ExtractLimits } from '../../image/extract.js';
import { pullImage } from '../../image/pull.js';
import { parseImageReference } from '../../image/reference.js';
import { flag, positiveInt, required, strs, UsageError } from '../args.js';
import type { Command } from '../command.js';
import { clientFromFlags, quietOption, registryOptions, withClient } from './registry-flags.js';

/** `/SRC:DEST`, split at the first colon as oc does. */
function parsePathMapping(text: string): { source: string; dest: string } {
  const colon = text.indexOf(':');
  if (colon <= 0 || colon === text.length - 1) throw new UsageError(`--path takes /SRC:DEST (a path in the image and a local directory), not "${text}"`);
  return { source: text.slice(0, colon), dest: text.slice(colon + 1) };
}

export const command: Command = {
  summary: 'Pull an image and extract its files: layers applied in order with whiteouts, nothing written outside DEST',
  usage: '[OPTION…] IMAGE [--path /SRC:DEST]…',
  options: {
    path: { type: 'string', multiple: true, description: 'Extract the image directory SRC into the local directory DEST (default /:.)', argument: '/SRC:DEST' },
    'max-bytes': { type: 'string', description: 'Refuse images of more uncompressed bytes than this (default 32 GiB)', argument: 'N' },
    'max-entries': { type: 'string', description: 'Refuse images of more files than this (default 2000000)', argument: 'N' },
    'preserve-ownership': { type: 'boolean', short: 'p', description: 'Keep the owners and setuid bits of the image (default: when root)' },
    ...quietOption,
    ...registryOptions,
  },
  async run(args, ctx) {
    const ref = parseImageReference(required(args, 0, 'IMAGE'));
    const paths = strs(args, 'path').map(parsePathMapping);
    const limits: Partial<ExtractLimits> = {};
    const maxBytes = positiveInt(args, 'max-bytes');
    const maxEntries = positiveInt(args, 'max-entries');
    if (maxBytes !== undefined) limits.maxBytes = maxBytes;
    if (maxEntries !== undefined) limits.maxEntries = maxEntries;
    await withClient(clientFromFlags(args, ctx, { progress: true }), async (client) => {
      const image = await pullImage(client, ref);
      await extractLayers(image.layers, process.cwd(), {
        ...(paths.length > 0 ? { paths } : {}),
        limits,
        ...(flag(args, 'preserve-ownership') ? { preserveOwnership: true } : {}),
        ...(flag(args, 'verbose') ? { log: (line: string) => ctx.output.err(`${line}\n`) } : {}),
      });
    });
  },
};

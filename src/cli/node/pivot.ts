import { cacheContentSource } from '../../node/os-content.js';
import { registryImageSource, withIdleIo } from '../../node/os-image.js';
import { pivot } from '../../node/pivot.js';
import { flag, required, str, UsageError } from '../args.js';
import type { Command } from '../command.js';
import { clientFromFlags, quietOption, registryOptions } from '../image/registry-flags.js';
import { rebooter, sysrootEffects, sysrootOf } from '../sysroot-args.js';

export const command: Command = {
  summary: 'Pull an OS image and rebase the host onto the OSTree commit inside it',
  usage: '[--sysroot=PATH] [--registry-config=FILE] [--insecure] [--os-content-url=URL] [--reboot] IMAGE',
  options: {
    ...registryOptions,
    ...quietOption,
    'os-content-url': { type: 'string', description: 'Pull the OSTree objects from this OS content cache (mco os-content serve), the whole image only when that fails', argument: 'URL' },
    reboot: { type: 'boolean', description: 'Reboot into the new deployment once it is the default' },
  },
  async run(args, ctx) {
    const sysroot = sysrootOf(args);
    const image = required(args, 0, 'IMAGE');
    const log = (line: string): void => ctx.output.err(`${line}\n`);
    const osContentUrl = str(args, 'os-content-url');
    if (osContentUrl !== undefined && !/^https?:\/\/[^/]/.test(osContentUrl)) throw new UsageError(`--os-content-url must be an http(s) URL, not "${osContentUrl}"`);
    const client = clientFromFlags(args, ctx, { progress: !flag(args, 'quiet') });
    try {
      const result = await pivot(sysroot, image, {
        source: registryImageSource(client, { log }),
        ...(osContentUrl ? { osContent: cacheContentSource(osContentUrl) } : {}),
        log,
        idleIo: withIdleIo,
        reboot: rebooter(sysroot, ctx),
        ...sysrootEffects(sysroot, ctx),
      }, { reboot: flag(args, 'reboot'), ...retryDelays(ctx.env['MCO_PIVOT_RETRY_DELAYS_MS']) });
      if (result.changed) ctx.output.out(`Pivoted to ${result.version ?? result.checksum} (${image})${flag(args, 'reboot') ? '' : '; reboot to run it'}\n`);
    } finally {
      await client.close();
    }
  },
};

/** MCO_PIVOT_RETRY_DELAYS_MS=5000,10000: the waits before each extraction retry (the original's by default). */
function retryDelays(text: string | undefined): { retryDelaysMs?: number[] } {
  if (text === undefined) return {};
  const delays = text.split(',').map((part) => Number(part.trim()));
  if (delays.some((d) => !Number.isInteger(d) || d < 0)) throw new UsageError(`MCO_PIVOT_RETRY_DELAYS_MS must be milliseconds separated by commas, not "${text}"`);
  return { retryDelaysMs: delays };
}

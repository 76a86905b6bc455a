import { OsContentCache } from '../../image/os-content-cache.js';
import { serveOsContent } from '../../image/os-content-server.js';
import { str, strs, UsageError } from '../args.js';
import { untilInterrupted, type Command } from '../command.js';
import { parseImageReference } from '../../image/reference.js';
import { clientFromFlags, registryOptions } from '../image/registry-flags.js';

/** `HOST/PATH` as image references name it (`busybox` is `docker.io/library/busybox`). */
function repositoryOf(text: string): string {
  let ref;
  try {
    ref = parseImageReference(text);
  } catch (e) {
    throw new UsageError(`--allow-repository ${text}: ${(e as Error).message}`);
  }
  if (ref.digest || text.slice(text.lastIndexOf('/') + 1).includes(':')) throw new UsageError(`--allow-repository ${text}: name a repository, without a tag or digest`);
  return `${ref.registry}/${ref.repository}`;
}

export const command: Command = {
  summary: 'Serve OS images (by digest) as OSTree archive repos under /images/DIGEST/, each pulled and extracted once; prints the URL once listening',
  usage: '--listen HOST:PORT --cache-dir DIR [--allow-repository HOST/PATH…] [--registry-config FILE] [--insecure]',
  options: {
    listen: { type: 'string', description: 'Address to listen on (port 0 picks a free one)', argument: 'HOST:PORT' },
    'cache-dir': { type: 'string', description: 'Where the extracted images are kept (created when missing); they survive restarts', argument: 'DIR' },
    'allow-repository': { type: 'string', multiple: true, description: 'Pull only images of this repository when asked (repeat for each; default: any)', argument: 'HOST/PATH' },
    ...registryOptions,
  },
  async run(args, ctx) {
    const listen = str(args, 'listen');
    const cacheDir = str(args, 'cache-dir');
    if (!listen) throw new UsageError('--listen must name the address to serve on (HOST:PORT)');
    if (!cacheDir) throw new UsageError('--cache-dir must name the directory the images are kept in');
    if (args.positionals.length > 0) throw new UsageError(`unexpected argument "${args.positionals[0]}"`);
    const log = (line: string): void => ctx.output.err(`${line}\n`);
    const client = clientFromFlags(args, ctx);
    try {
      const allowed = strs(args, 'allow-repository').map(repositoryOf);
      const cache = OsContentCache.open({ cacheDir, client, log, ...(allowed.length ? { allowedRepositories: allowed } : {}) });
      const server = await serveOsContent(cache, { listen, log });
      ctx.output.out(`serving OS content on ${server.url}\n`);
      await untilInterrupted();
      await server.close();
    } finally {
      await client.close();
    }
  },
};

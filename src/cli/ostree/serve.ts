/** `mco ostree serve --repo R --listen ADDR`: serves a repository as static files for `ostree pull`. */
import { Repo } from '../../ostree/repo.js';
import { serveRepo } from '../../ostree/serve.js';
import { str } from '../args.js';
import { untilInterrupted, type Command } from '../command.js';
import { repoPath } from './repo-arg.js';

export const command: Command = {
  summary: 'Serve the repository over HTTP for pulls',
  usage: '--repo=PATH [--listen=HOST:PORT]',
  options: {
    listen: { type: 'string', description: 'Address to listen on (default: 127.0.0.1:8080; port 0 picks a free one)', argument: 'HOST:PORT' },
  },
  async run(args, ctx) {
    const path = repoPath(args, ctx);
    await Repo.open(path); // refuse what is not a repository before listening
    const server = await serveRepo(path, { listen: str(args, 'listen') ?? '127.0.0.1:8080' });
    ctx.output.out(`Serving ${path} at ${server.url}\n`);
    await untilInterrupted();
    await server.close();
    const { requests, bytesServed } = server.stats();
    ctx.output.err(`Served ${requests} requests, ${bytesServed} bytes\n`);
  },
};

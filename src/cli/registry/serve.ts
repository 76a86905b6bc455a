import { startRegistryServer } from '../../image/registry-server.js';
import { str, UsageError } from '../args.js';
import { untilInterrupted, type Command } from '../command.js';

export const command: Command = {
  summary: 'Serve the registry HTTP API v2 (pull and push, no authentication) from DIR until interrupted; prints the address once listening',
  usage: '--root DIR [--listen HOST:PORT]',
  options: {
    root: { type: 'string', description: 'Storage directory (created when missing); content survives restarts', argument: 'DIR' },
    listen: { type: 'string', description: 'Address to listen on (default 127.0.0.1:5000; port 0 picks a free one)', argument: 'HOST:PORT' },
  },
  async run(args, ctx) {
    const root = str(args, 'root');
    if (!root) throw new UsageError('--root must name the storage directory');
    if (args.positionals.length > 0) throw new UsageError(`unexpected argument "${args.positionals[0]}"`);
    const listen = str(args, 'listen') ?? '127.0.0.1:5000';
    const registry = await startRegistryServer({ root, listen, log: (line) => ctx.output.err(`${line}\n`) });
    if (!/^(127\.|\[::1\]|localhost)/.test(registry.address)) {
      ctx.output.err(`warning: serving ${registry.address} without authentication: anyone who can reach it can push\n`);
    }
    ctx.output.out(`listening on ${registry.address}\n`);
    await untilInterrupted();
    await registry.close();
  },
};

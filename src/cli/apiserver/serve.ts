/** `mco apiserver [serve] --data-dir DIR --listen HOST:PORT [--kubeconfig-out FILE] [--pod-log-dir DIR]` */
import * as fs from 'node:fs';
import { join } from 'node:path';
import { adminKubeconfig, startApiServer } from '../../apiserver/server.js';
import { parseListenAddress } from '../../image/listen.js';
import { positiveInt, str, UsageError } from '../args.js';
import { untilInterrupted, type Command } from '../command.js';

/** `HOST:PORT` or `[V6]:PORT`; port 0 lets the kernel pick. */
export function parseListen(text: string): { host: string; port: number } {
  const address = parseListenAddress(text);
  if (!address) throw new UsageError(`--listen must be HOST:PORT (e.g. 127.0.0.1:6443, port 0 for any), not "${text}"`);
  return address;
}

export const command: Command = {
  summary: 'Serve the Kubernetes-compatible API over HTTPS until interrupted',
  usage: '--data-dir=DIR --listen=HOST:PORT [--kubeconfig-out=FILE] [--pod-log-dir=DIR]',
  options: {
    'data-dir': { type: 'string', argument: 'DIR', description: 'State (SQLite), CA, serving certificate and token secret; created if missing' },
    listen: { type: 'string', argument: 'HOST:PORT', description: 'Address to serve on (port 0: any free port); default 127.0.0.1:6443' },
    'kubeconfig-out': { type: 'string', argument: 'FILE', description: 'Write an admin kubeconfig here (always written to DIR/admin.kubeconfig)' },
    'watch-history': { type: 'string', argument: 'N', description: 'Changes kept for watches to resume from (default 100000); older ones get 410 Gone' },
    'pod-log-dir': { type: 'string', argument: 'DIR', description: 'Serve `kubectl logs` of pod NS/NAME from DIR/NS/NAME.log (the pod must exist)' },
    'bookmark-interval': { type: 'string', argument: 'SECONDS', description: 'Interval of BOOKMARK events on watches that allow them (default 60)' },
  },
  async run(args, ctx) {
    if (args.positionals.length) throw new UsageError(`Unexpected argument '${args.positionals[0]}'`);
    const dataDir = str(args, 'data-dir');
    if (!dataDir) throw new UsageError('--data-dir must be specified');
    const { host, port } = parseListen(str(args, 'listen') ?? '127.0.0.1:6443');
    const history = positiveInt(args, 'watch-history');
    const bookmarkSeconds = positiveInt(args, 'bookmark-interval');
    const podLogDir = str(args, 'pod-log-dir');
    const server = await startApiServer({
      dataDir,
      host,
      port,
      ...(history ? { historyLimit: history } : {}),
      ...(bookmarkSeconds ? { bookmarkIntervalMs: bookmarkSeconds * 1000 } : {}),
      ...(podLogDir ? { podLogDir } : {}),
    });
    const kubeconfig = adminKubeconfig(dataDir, server.url);
    fs.writeFileSync(join(dataDir, 'admin.kubeconfig'), kubeconfig, { mode: 0o600 });
    const out = str(args, 'kubeconfig-out');
    if (out) fs.writeFileSync(out, kubeconfig, { mode: 0o600 });
    ctx.output.out(`Serving securely on ${server.url.replace(/^https:\/\//, '')}\n`);
    await untilInterrupted();
    await server.close();
  },
};

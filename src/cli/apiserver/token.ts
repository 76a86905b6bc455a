/** `mco apiserver token --data-dir DIR --user USER`: a bearer token for the lab's nodes and controllers. */
import * as fs from 'node:fs';
import { join } from 'node:path';
import { mintToken, parseUser, tokenSecret } from '../../apiserver/auth.js';
import { UsageError, str } from '../args.js';
import type { Command } from '../command.js';

export const command: Command = {
  summary: "Print a user's bearer token for the server of a data directory",
  usage: '--data-dir=DIR --user=USER',
  options: {
    'data-dir': { type: 'string', argument: 'DIR', description: 'The data directory of `mco apiserver`' },
    user: { type: 'string', argument: 'USER', description: 'admin, controller or node:NODE-NAME' },
  },
  async run(args, ctx) {
    const dataDir = str(args, 'data-dir');
    if (!dataDir) throw new UsageError('--data-dir must be specified');
    const userText = str(args, 'user');
    if (!userText) throw new UsageError('--user must be specified');
    const user = parseUser(userText);
    if (!fs.existsSync(join(dataDir, 'state.db'))) throw new Error(`${dataDir} is not the data directory of an API server (no state.db): run 'mco apiserver --data-dir ${dataDir}' first`);
    ctx.output.out(`${mintToken(tokenSecret(dataDir), user)}\n`);
  },
};

/** `mco ostree summary`: regenerates the repository's summary file (-u), or shows it (--view). */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseGVariantText } from '../../ostree/gvariant-text.js';
import { RepoError } from '../../ostree/repo.js';
import { formatSummaryView, regenerateSummary } from '../../ostree/summary.js';
import { flag, strs, UsageError } from '../args.js';
import type { Command } from '../command.js';
import { openRepo } from './repo-arg.js';

export const command: Command = {
  summary: 'Manage summary metadata',
  usage: '--repo=PATH -u|--view [OPTION…]',
  options: {
    update: { type: 'boolean', short: 'u', description: 'Update the summary' },
    view: { type: 'boolean', short: 'v', description: 'View the local summary file' },
    'add-metadata': { type: 'string', short: 'm', multiple: true, description: 'Additional metadata field to add to the summary', argument: 'KEY=VALUE' },
  },
  async run(args, ctx) {
    const repo = await openRepo(args, ctx);
    if (flag(args, 'update')) {
      const metadata = strs(args, 'add-metadata').map((kv): [string, ReturnType<typeof parseGVariantText>] => {
        const eq = kv.indexOf('=');
        if (eq <= 0) throw new UsageError(`Missing '=' in KEY=VALUE metadata '${kv}'`);
        return [kv.slice(0, eq), parseGVariantText(kv.slice(eq + 1))];
      });
      await regenerateSummary(repo, { metadata });
    } else if (flag(args, 'view')) {
      let bytes: Buffer;
      try {
        bytes = await readFile(join(repo.path, 'summary'));
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new RepoError(`No summary file in ${repo.path}: run 'ostree summary -u' first`, { cause: e });
        throw e;
      }
      ctx.output.out(formatSummaryView(bytes));
    } else {
      throw new RepoError('No option specified; use -u to update summary');
    }
  },
};

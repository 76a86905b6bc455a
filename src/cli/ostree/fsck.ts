/** `mco ostree fsck`: verifies every reachable object, printing ostree's lines. */
import { fsckRepo } from '../../ostree/fsck.js';
import { RepoError } from '../../ostree/repo.js';
import { flag } from '../args.js';
import type { Command } from '../command.js';
import { openRepo } from './repo-arg.js';

export const command: Command = {
  summary: 'Check the repository for consistency',
  usage: '--repo=PATH [OPTION…]',
  options: {
    quiet: { type: 'boolean', short: 'q', description: 'Only print error messages' },
    // We always go on past the first error; accepted so scripts written for ostree work.
    all: { type: 'boolean', short: 'a', description: "Don't stop on first error (always the case here)" },
  },
  async run(args, ctx) {
    const repo = await openRepo(args, ctx);
    const quiet = flag(args, 'quiet');
    const say = (line: string): void => {
      if (!quiet) ctx.output.out(`${line}\n`);
    };
    const result = await fsckRepo(repo, {
      onPhase: (p) => {
        if (p.phase === 'refs') say('Validating refs...');
        else if (p.phase === 'commits') say('Enumerating commits...');
        else say(`Verifying content integrity of ${p.commits} commit objects...`);
      },
    });
    if (result.partialCommits) say(`${result.partialCommits} partial commits not verified`);
    for (const problem of result.problems) ctx.output.err(`${problem.message}\n`);
    if (result.problems.length) throw new RepoError('Repository corruption encountered');
    if (result.fsckPartialCommits) throw new RepoError(`${result.fsckPartialCommits} partial commits from fsck-detected corruption`);
    // Printed even with --quiet, as ostree does.
    ctx.output.out(`object fsck of ${result.commits} commits completed successfully - no errors found.\n`);
  },
};

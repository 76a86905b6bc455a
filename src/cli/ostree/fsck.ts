/** `mco ostree fsck`: verifies every reachable object, printing ostree's lines. */
import { fsckRepo, markCorruption } from '../../ostree/fsck.js';
import { RepoError } from '../../ostree/repo.js';
import { flag } from '../args.js';
import type { Command } from '../command.js';
import { openRepo } from './repo-arg.js';

export const command: Command = {
  summary: 'Check the repository for consistency',
  usage: '--repo=PATH [OPTION…]',
  options: {
    quiet: { type: 'boolean', short: 'q', description: 'Only print error messages' },
    all: { type: 'boolean', short: 'a', description: "Don't stop on first error" },
    delete: { type: 'boolean', description: 'Remove corrupted objects' },
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
    // As ostree: without --all or --delete, the first bad ref or corrupted object ends the run
    // (missing objects never do: their commits are marked partial and the check goes on).
    const fatal = !flag(args, 'all') && !flag(args, 'delete') ? result.problems.find((p) => p.kind !== 'missing') : undefined;
    if (fatal) throw new RepoError(fatal.message);
    for (const { problem, marked } of await markCorruption(repo, result.problems, { delete: flag(args, 'delete') })) {
      ctx.output.err(`${problem.message}\n`);
      for (const commit of marked) ctx.output.err(`Marking commit as partial: ${commit}\n`);
    }
    if (result.problems.length) throw new RepoError('Repository corruption encountered');
    if (result.fsckPartialCommits) throw new RepoError(`${result.fsckPartialCommits} partial commits from fsck-detected corruption`);
    // Printed even with --quiet, as ostree does.
    ctx.output.out(`object fsck of ${result.commits} commits completed successfully - no errors found.\n`);
  },
};

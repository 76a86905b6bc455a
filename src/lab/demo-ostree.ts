/**
 * `mco demo ostree`: the most useful demonstration of what exists until the lab lands.
 * Builds two generated OS versions, commits them into an archive repository (as a build
 * system would), shows history and content with our CLI's renderers, checks the repo with our
 * fsck and — when installed — with the real `ostree` CLI, then checks the new version out.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs/promises';
import { join } from 'node:path';
import { checkout } from '../ostree/checkout.js';
import { commitTree } from '../ostree/commit.js';
import { formatCommit } from '../ostree/describe.js';
import { Repo } from '../ostree/repo.js';
import { writeFakeOs } from './fake-os.js';

export interface OstreeDemoOptions {
  /** Everything the demo writes goes under here (wiped first). */
  stateDir: string;
  say: (line: string) => void;
}

const VERSIONS = ['46.82.202011260640-0', '46.82.202012051820-0'];
const REF = 'rhcos/4.6/x86_64';

export async function runOstreeDemo(options: OstreeDemoOptions): Promise<void> {
  const { stateDir, say } = options;
  await fs.rm(stateDir, { recursive: true, force: true });
  await fs.mkdir(stateDir, { recursive: true });
  const repoPath = join(stateDir, 'build-repo');
  const repo = await Repo.init(repoPath, { mode: 'archive' });
  say(`Initialized archive repository ${repoPath}`);

  for (const [generation, version] of VERSIONS.entries()) {
    const tree = join(stateDir, `tree-${version}`);
    const os = await writeFakeOs(tree, { version, generation });
    const started = performance.now();
    const result = await commitTree(repo, tree, {
      branch: REF,
      subject: `RHCOS ${version}`,
      metadata: os.metadata,
      timestamp: Date.UTC(2020, 10, 26 + generation * 9) / 1000,
    });
    say(`Committed ${version} (${os.packages.length} packages, ${result.files} files, ${result.newFiles} new objects) as ${result.checksum} in ${Math.round(performance.now() - started)} ms`);
  }

  say(`\n$ mco ostree log --repo=${repoPath} ${REF}`);
  let checksum: string | null = await repo.resolveRev(REF);
  while (checksum) {
    const commit = await repo.loadCommit(checksum);
    say(formatCommit(checksum, commit).trimEnd());
    checksum = commit.parent;
  }

  const peer = realOstree();
  if (peer) {
    say(`\n$ ostree fsck --repo=${repoPath}    # the real libostree reads what we wrote`);
    say(peer(['fsck', `--repo=${repoPath}`]).trimEnd());
    say(`\n$ ostree show --repo=${repoPath} --print-metadata-key=version ${REF}`);
    say(peer(['show', `--repo=${repoPath}`, '--print-metadata-key=version', REF]).trimEnd());
  } else {
    say('\n(the real ostree CLI is not installed: `npm test` installs it, then this demo also checks the repo with it)');
  }

  const dest = join(stateDir, 'checkout');
  const done = await checkout(repo, REF, dest);
  say(`\nChecked out ${REF} into ${dest}: ${done.files} files (${done.copied} copied from the archive repo)`);
  say(`Its os-release says: ${(await fs.readFile(join(dest, 'usr/lib/os-release'), 'utf8')).split('\n').find((l) => l.startsWith('PRETTY_NAME'))}`);
}

/** The real `ostree`, when installed: the demos show that libostree reads what we wrote. */
export function realOstree(): ((args: string[]) => string) | undefined {
  try {
    execFileSync('ostree', ['--version'], { stdio: 'ignore' });
  } catch {
    return undefined;
  }
  return (args) => execFileSync('ostree', args, { encoding: 'utf8' });
}

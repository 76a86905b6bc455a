/** `mco ostree`: the ostree CLI's verbs and flags, over the library in src/ostree/. */
import { lazyVerb as verb, type Group } from '../command.js';

export const ostreeGroup: Group = {
  name: 'ostree',
  summary: 'Manage OSTree repositories in libostree\'s on-disk format.',
  globals: {
    repo: { type: 'string', description: 'Path to OSTree repository (default: $OSTREE_REPO)', argument: 'PATH' },
    // ostree's debug switch, accepted so that scripts written for ostree run; we have no debug output.
    verbose: { type: 'boolean', short: 'v', description: 'Accepted for ostree\'s scripts (no debug output here)' },
  },
  // As `ostree --version`'s YAML, which scripts grep for features: the libostree release whose
  // formats and CLI we follow, and none of its optional build features (GPG, libcurl, …).
  version: () => `libostree:\n Version: '2022.7'\n Implementation: mco\n Features: []\n`,
  verbs: {
    init: verb('Initialize a new empty repository', () => import('./init.js')),
    commit: verb('Commit a new revision', () => import('./commit.js')),
    checkout: verb('Check out a commit into a filesystem tree', () => import('./checkout.js')),
    log: verb('Show log starting at a commit or ref', () => import('./log.js')),
    show: verb('Output a metadata object', () => import('./show.js')),
    ls: verb('List file paths', () => import('./ls.js')),
    cat: verb('Concatenate contents of files', () => import('./cat.js')),
    refs: verb('List refs, or create or delete them', () => import('./refs.js')),
    'rev-parse': verb('Output the target of a rev', () => import('./rev-parse.js')),
    fsck: verb('Check the repository for consistency', () => import('./fsck.js')),
    'pull-local': verb('Copy data from SRC_REPO', () => import('./pull-local.js')),
    pull: verb('Download data from remote repository', () => import('./pull.js')),
    remote: { summary: 'Remote commands that may involve network access', load: async () => (await import('./remote/index.js')).remoteGroup },
    serve: verb('Serve the repository over HTTP for pulls', () => import('./serve.js')),
    prune: verb('Search for unreachable objects', () => import('./prune.js')),
    reset: verb('Reset a REF to a previous COMMIT', () => import('./reset.js')),
    diff: verb('Compare directory TARGETDIR against revision REV', () => import('./diff.js')),
    checksum: verb('Checksum a file or directory', () => import('./checksum.js')),
    config: verb('Change repo configuration settings', () => import('./config.js')),
    summary: verb('Manage summary metadata', () => import('./summary.js')),
    admin: { summary: 'Commands for managing a host system booted with ostree', load: async () => (await import('./admin/index.js')).adminGroup },
  },
};

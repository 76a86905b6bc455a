import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { deserialize, type Variant } from './gvariant.js';
import { Repo } from './repo.js';
import { regenerateSummary, SUMMARY_TYPE } from './summary.js';
import { mcoIn, needsOstree, ok, ostreeIn, scratch } from './testing.js';

test('our summary is byte for byte the real `ostree summary -u`\'s: local refs only, with versions and timestamps', needsOstree, async (t) => {
  const dir = scratch(t, 'mco-summary-');
  const tree = join(dir, 'tree');
  fs.mkdirSync(tree);
  fs.writeFileSync(join(tree, 'f'), 'f\n');
  const real = join(dir, 'real');
  ok(ostreeIn(real, 'init', '--mode=archive'), 'ostree init');
  ok(ostreeIn(real, 'commit', '-b', 'main', '--add-metadata-string=version=1.2', '--timestamp=@1700000000', tree), 'commit');
  ok(ostreeIn(real, 'commit', '-b', 'b/c', '--timestamp=@-5', tree), 'commit');
  ok(ostreeIn(real, 'commit', '-b', 'origin:remote', tree), 'commit');
  const ours = join(dir, 'ours');
  fs.cpSync(real, ours, { recursive: true });
  ok(ostreeIn(real, 'summary', '-u'), 'ostree summary -u');
  const want = fs.readFileSync(join(real, 'summary'));
  // The one field that differs between runs: take the real one's clock.
  const [, additional] = deserialize(SUMMARY_TYPE, want) as [unknown, [string, Variant][]];
  const lastModified = additional.find(([k]) => k === 'ostree.summary.last-modified')![1].value as bigint;
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(lastModified);
  fs.writeFileSync(join(ours, 'summary.sig'), 'stale');
  await regenerateSummary(await Repo.open(ours), { now: Number(b.readBigUInt64BE()) });
  assert.deepEqual(fs.readFileSync(join(ours, 'summary')), want);
  assert.ok(!fs.existsSync(join(ours, 'summary.sig')), 'the old signature was kept');

  const cli = mcoIn(ours, 'summary');
  assert.equal(cli.stderr, 'error: No option specified; use -u to update summary\n');
  ok(mcoIn(ours, 'summary', '-u'), 'mco ostree summary -u');
  assert.match(ok(ostreeIn(ours, 'summary', '--view'), 'ostree summary --view').stdout, /^\* main\n {4}Latest Commit \(\d+ bytes\):/m);
});

test('core.commit-update-summary refreshes the summary on each commit, core.auto-update-summary on each ref change', needsOstree, async (t) => {
  const dir = scratch(t, 'mco-summary-auto-');
  const tree = join(dir, 'tree');
  fs.mkdirSync(tree);
  fs.writeFileSync(join(tree, 'f'), 'f\n');
  const view = (repo: string): string => ok(ostreeIn(repo, 'summary', '--view'), 'ostree summary --view').stdout;
  for (const key of ['commit-update-summary', 'auto-update-summary']) {
    const repo = join(dir, key);
    await Repo.init(repo, { mode: 'archive' });
    fs.appendFileSync(join(repo, 'config'), `${key}=true\n`); // under [core], the config's one group
    ok(mcoIn(repo, 'commit', '-b', 'main', tree), 'mco ostree commit');
    assert.match(view(repo), /^\* main$/m, key);
  }
  const auto = join(dir, 'auto-update-summary');
  ok(mcoIn(auto, 'refs', 'main', '--create=other'), 'refs --create');
  assert.match(view(auto), /^\* other$/m);
  ok(mcoIn(auto, 'refs', '--delete', 'main'), 'refs --delete');
  assert.doesNotMatch(view(auto), /^\* main$/m);
});

test('summary --view prints what the real one prints, and -m adds keys the real tool reads back', needsOstree, (t) => {
  const dir = scratch(t, 'mco-summary-view-');
  const tree = join(dir, 'tree');
  fs.mkdirSync(tree);
  fs.writeFileSync(join(tree, 'f'), 'f\n');
  const repo = join(dir, 'repo');
  ok(ostreeIn(repo, 'init', '--mode=archive'), 'ostree init');
  ok(ostreeIn(repo, 'commit', '-b', 'main', '--add-metadata-string=version=1.2', tree), 'commit');
  const extra = ["--add-metadata=key='value'", '-m', 'some-int=@t 123', '--add-metadata=map=@a{sv} {}'];
  ok(ostreeIn(repo, 'summary', '-u', ...extra), 'ostree summary -u -m');
  assert.equal(ok(mcoIn(repo, 'summary', '--view'), 'mco ostree summary --view').stdout, ok(ostreeIn(repo, 'summary', '--view'), 'ostree summary --view').stdout);
  ok(mcoIn(repo, 'summary', '-u', ...extra), 'mco ostree summary -u -m');
  assert.match(ok(ostreeIn(repo, 'summary', '--view'), 'ostree summary --view').stdout, /\nkey: 'value'\nsome-int: 123\nmap: \{\}\n$/);
});

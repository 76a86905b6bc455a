import assert from 'node:assert/strict';
import { test } from 'node:test';
import { UsageError } from './args.js';
import { runGroup, type Group } from './command.js';

const group: Group = {
  name: 'ostree',
  summary: 'Manage repositories.',
  globals: {
    repo: { type: 'string', description: 'Repository', argument: 'PATH' },
    verbose: { type: 'boolean', short: 'v', description: 'Debug output' },
  },
  version: () => 'libostree:\n Version: x\n',
  verbs: {
    init: { summary: 'Initialize a new empty repository', load: async () => ({ summary: 'Init', usage: '', options: {}, run: async (a) => (a.values['verbose'] ? 10 : 0) }) },
    summary: {
      summary: 'Manage summary metadata',
      load: async () => ({ summary: 'Summary', usage: '', options: { view: { type: 'boolean', short: 'v', description: 'View' } }, run: async (a) => (a.values['view'] ? 20 : 0) }),
    },
  },
};

async function run(argv: string[]): Promise<{ out: string; err: string; result: number | Error }> {
  let out = '';
  let err = '';
  const ctx = { output: { out: (d: string | Uint8Array) => { out += String(d); }, err: (t: string) => { err += t; } }, env: {} };
  const result = await runGroup('mco', group, argv, ctx).catch((e: Error) => e);
  return { out, err, result };
}

test('--help lists the verbs under "Builtin Commands:" on stdout, as ostree does (its test-help.sh reads them)', async () => {
  const { out, err, result } = await run(['--help']);
  assert.equal(result, 0);
  assert.equal(err, '');
  assert.match(out, /^Usage:\n  mco ostree \[OPTION…\] COMMAND\n/);
  assert.match(out, /\nBuiltin Commands:\n  init +Initialize a new empty repository\n  summary +Manage summary metadata\n\n/);
});

test('a missing or unknown verb is a usage error, with the group\'s usage on stderr and nothing on stdout', async () => {
  for (const [argv, message] of [[[], 'No command specified'], [['--repo=r', 'frobnicate'], "Unknown command 'frobnicate'"]] as const) {
    const { out, err, result } = await run([...argv]);
    assert.ok(result instanceof UsageError && result.message === message, `${argv.join(' ')}: ${String(result)}`);
    assert.equal(out, '');
    assert.match(err, /^Usage:\n  mco ostree/);
  }
});

test('--version before any verb prints the group\'s version text', async () => {
  assert.deepEqual(await run(['--version']), { out: 'libostree:\n Version: x\n', err: '', result: 0 });
});

test('a global short flag means the global, unless the verb gives that letter its own flag (ostree\'s -v: --verbose, but --view for summary)', async () => {
  assert.equal((await run(['-v', 'init'])).result, 10);
  assert.equal((await run(['summary', '-v'])).result, 20);
});

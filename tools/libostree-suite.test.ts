/**
 * libostree's own installed tests, run with `mco ostree` as `ostree`: each script listed in
 * LIBOSTREE_SCRIPTS must pass whole. A directory first on PATH holds an `ostree` that runs our
 * built CLI; each script runs in a fresh empty directory (libtest.sh insists), its output kept
 * beside it, in its own process group so that whatever it leaves running is killed afterwards.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { removeSysroots } from '../src/sysroot/crash-harness.js';
import { LIBOSTREE_SCRIPTS } from './libostree-suite.js';

const TESTS_DIR = '/usr/libexec/installed-tests/libostree';
const MCO = join(dirname(fileURLToPath(import.meta.url)), '..', 'src', 'cli', 'mco.js');
// Our CLI starts a node process per `ostree` call, and the machine is shared: generous.
const SCRIPT_TIMEOUT_MS = 20 * 60_000;

interface ScriptRun { code: number | null; signal: NodeJS.Signals | null; timedOut: boolean; output: string; dir: string }

/** A directory holding an `ostree` that runs `mco ostree` from this build. */
function wrapperDir(): string {
  const bin = mkdtempSync(join(tmpdir(), 'libostree-bin-'));
  writeFileSync(join(bin, 'ostree'), `#!/bin/sh\nexec ${JSON.stringify(process.execPath)} ${JSON.stringify(MCO)} ostree "$@"\n`);
  chmodSync(join(bin, 'ostree'), 0o755);
  return bin;
}

/** Kills the script's process group: the script, and whatever it started and left running. */
function killGroup(pid: number): void {
  try {
    process.kill(-pid, 'SIGKILL');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ESRCH') throw e;
  }
}

/**
 * Kills, by PID, processes that left the script's process group but still work in its
 * directory: libtest.sh starts ostree-trivial-httpd with --daemonize (a new session), which
 * otherwise lives on while a failed script's directory is kept for reading.
 */
function killLeftovers(dir: string): void {
  for (const entry of readdirSync('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid) || pid === process.pid) continue;
    let uses = false;
    try {
      uses = readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(dir) || readlinkSync(`/proc/${pid}/cwd`).startsWith(dir);
    } catch (e) {
      // Gone meanwhile, or a kernel thread or another user's: not the script's.
      if (['ENOENT', 'EACCES', 'ESRCH'].includes((e as NodeJS.ErrnoException).code ?? '')) continue;
      throw e;
    }
    if (!uses) continue;
    try {
      process.kill(pid, 'SIGKILL');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ESRCH') throw e;
    }
  }
}

async function runScript(script: string, bin: string): Promise<ScriptRun> {
  const dir = mkdtempSync(join(tmpdir(), `libostree-${script.replace(/\.sh$/, '')}-`));
  const cwd = join(dir, 't');
  mkdirSync(cwd);
  const outFile = join(dir, 'output.txt');
  const fd = openSync(outFile, 'w');
  const env: NodeJS.ProcessEnv = { ...process.env, PATH: `${bin}:${process.env.PATH ?? ''}`, G_TEST_SRCDIR: TESTS_DIR, G_TEST_BUILDDIR: TESTS_DIR };
  for (const leaked of ['OSTREE_REPO', 'OSTREE_SYSROOT', 'NODE_TEST_CONTEXT']) delete env[leaked];
  const child = spawn(join(TESTS_DIR, script), [], { cwd, env, detached: true, stdio: ['ignore', fd, fd] });
  closeSync(fd);
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    killGroup(child.pid!);
  }, SCRIPT_TIMEOUT_MS);
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (c, s) => resolve([c, s]));
  });
  clearTimeout(timer);
  killGroup(child.pid!);
  killLeftovers(dir);
  return { code, signal, timedOut, output: readFileSync(outFile, 'utf8'), dir };
}

/** Why a run failed, naming the first failing TAP line, or the output's end when the script died; undefined when it passed whole. */
export function scriptFailure(run: Pick<ScriptRun, 'code' | 'signal' | 'timedOut' | 'output'>): string | undefined {
  const lines = run.output.split('\n');
  const notOk = lines.find((l) => /^not ok\b/.test(l));
  if (notOk) return `first failure: ${notOk}`;
  // `1..0 # SKIP reason`: the script found a feature missing (our --version lists none) and
  // checked nothing, which must not count as passing.
  const skipped = lines.find((l) => /^1\.\.0\b.*#\s*SKIP/i.test(l));
  if (skipped) return `skipped itself, checking nothing: ${skipped}`;
  const plan = lines.map((l) => /^1\.\.(\d+)$/.exec(l)).find((m) => m);
  const oks = lines.filter((l) => /^ok\b/.test(l)).length;
  const planned = plan ? Number(plan[1]) : undefined;
  const died = run.timedOut ? `timed out after ${SCRIPT_TIMEOUT_MS / 60_000} min` : run.code !== 0 ? `exited ${run.code ?? run.signal}` : planned !== oks ? `reached ${oks} of ${planned ?? '?'} planned oks` : undefined;
  if (!died) return undefined;
  return `${died} after ${oks} ok${planned ? ` of ${planned}` : ''}; last lines:\n${lines.slice(-15).join('\n')}`;
}

describe('libostree installed tests with mco ostree as ostree', { concurrency: 2 }, () => {
  const installed = existsSync(TESTS_DIR);
  if (!installed) console.warn(`libostree installed tests: ${TESTS_DIR} is missing; install Debian's ostree-tests (scripts/setup.sh does) — skipping ${LIBOSTREE_SCRIPTS.length} scripts`);
  const bin = installed ? wrapperDir() : '';
  after(() => { if (bin) rmSync(bin, { recursive: true, force: true }); });
  for (const script of LIBOSTREE_SCRIPTS) {
    it(script, { timeout: SCRIPT_TIMEOUT_MS + 60_000, skip: installed ? false : `ostree-tests is not installed (${TESTS_DIR} missing)` }, async () => {
      const run = await runScript(script, bin);
      const failure = scriptFailure(run);
      if (failure) assert.fail(`${script}: ${failure}\n(full output and work directory kept in ${run.dir})`);
      // The sysroot scripts leave deployments with the immutable flag ostree sets.
      removeSysroots(run.dir);
    });
  }
});

describe('scriptFailure()', () => {
  const base = { code: 0, signal: null, timedOut: false };
  it('passes a script whose every planned ok was reached', () => {
    assert.equal(scriptFailure({ ...base, output: '1..2\nok 1 a\nok 2 b\n' }), undefined);
  });
  it('names the first not ok line', () => {
    assert.equal(scriptFailure({ ...base, code: 1, output: '1..3\nok 1 a\nnot ok 2 b\nnot ok 3 c\n' }), 'first failure: not ok 2 b');
  });
  it('does not pass a script that skipped itself', () => {
    assert.equal(scriptFailure({ ...base, output: '1..0 # SKIP no gpg support compiled in\n' }), 'skipped itself, checking nothing: 1..0 # SKIP no gpg support compiled in');
  });
  it('gives the end of the output when the script died before its plan', () => {
    const failure = scriptFailure({ ...base, code: 1, output: '1..3\nok 1 a\nerror: Unknown command\n' });
    assert.match(failure!, /^exited 1 after 1 ok of 3; last lines:\n.*error: Unknown command/s);
  });
});

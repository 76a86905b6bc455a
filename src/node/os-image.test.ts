import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { test } from 'node:test';
import { ioniceArguments, previousIoClasses, restoreIoClasses, withIdleIo } from './os-image.js';

const cases: { status: string; args: string[] | null }[] = [
  { status: 'none: prio 0', args: ['-c', '0'] },
  { status: 'best-effort: prio 7', args: ['-c', '2', '-n', '7'] },
  { status: 'realtime: prio 0', args: ['-c', '1', '-n', '0'] },
  { status: 'idle\n', args: ['-c', '3'] },
  { status: 'ionice: ioprio_get failed: No such process', args: null },
];
for (const c of cases) {
  test(`ioniceArguments() reads ${JSON.stringify(c.status.trim())}`, () => assert.deepEqual(ioniceArguments(c.status), c.args));
}

test('previousIoClasses() needs one readable line per thread', () => {
  assert.deepEqual(previousIoClasses(['1', '2'], 'none: prio 0\nbest-effort: prio 2\n'), new Map([['1', ['-c', '0']], ['2', ['-c', '2', '-n', '2']]]));
  assert.equal(previousIoClasses(['1', '2'], 'none: prio 0\n'), null);
  assert.equal(previousIoClasses(['1'], null), null);
});

test('restoreIoClasses() puts each thread back to its own class, and a new thread to the main thread\'s', () => {
  const before = new Map([['10', ['-c', '0']], ['11', ['-c', '2', '-n', '7']]]);
  assert.deepEqual(restoreIoClasses(before, ['10', '11', '12'], '10'), [[['-c', '0'], ['10', '12']], [['-c', '2', '-n', '7'], ['11']]]);
});

const ioniceWorks = spawnSync('ionice', ['-p', String(process.pid)]).status === 0;

test('withIdleIo() runs the work at the idle class and restores the class the threads had, not best-effort 4', { skip: !ioniceWorks && 'ionice is missing or refused here' }, async (t) => {
  const tids = readdirSync('/proc/self/task');
  const classOf = (): string => spawnSync('ionice', ['-p', String(process.pid)], { encoding: 'utf8' }).stdout.trim();
  const original = classOf();
  t.after(() => spawnSync('ionice', [...ioniceArguments(original)!, '-p', ...readdirSync('/proc/self/task')]));
  assert.equal(spawnSync('ionice', ['-c', '2', '-n', '7', '-p', ...tids]).status, 0);
  const during = await withIdleIo(async () => classOf());
  assert.equal(during, 'idle');
  assert.equal(classOf(), 'best-effort: prio 7');
});

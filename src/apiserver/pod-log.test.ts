/**
 * `kubectl logs` against `mco apiserver --pod-log-dir DIR`: the pod's log file served as
 * kubelet would, the tail and byte limit honoured, `-f` following appended lines, and the
 * errors kubectl users see for a missing pod or a wrong container.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parsePodLogOptions, tailLines } from './pod-log.js';
import { needsKubectl, startApiServer, type KubectlResult, type TestApiServer } from './testing.js';

describe('tailLines()', () => {
  const cases: { name: string; text: string; n: number; want: string }[] = [
    { name: 'keeps the last n lines with their final newline', text: 'a\nb\nc\n', n: 2, want: 'b\nc\n' },
    { name: 'keeps a last line that has no newline yet', text: 'a\nb\nc', n: 2, want: 'b\nc' },
    { name: 'returns everything when asked for more lines than there are', text: 'a\nb\n', n: 5, want: 'a\nb\n' },
    { name: 'returns nothing for zero lines', text: 'a\nb\n', n: 0, want: '' },
    { name: 'returns nothing for an empty log', text: '', n: 3, want: '' },
  ];
  for (const c of cases) {
    test(`tailLines() ${c.name}`, () => assert.equal(tailLines(Buffer.from(c.text), c.n).toString(), c.want));
  }
});

describe('parsePodLogOptions()', () => {
  test('parsePodLogOptions() reads the options kubectl logs sends', () => {
    assert.deepEqual(parsePodLogOptions(new URLSearchParams('container=c&follow=true&tailLines=10&limitBytes=5&timestamps=true')), {
      container: 'c',
      follow: true,
      tailLines: 10,
      limitBytes: 5,
    });
  });
  test('parsePodLogOptions() refuses a malformed number naming the parameter', () => {
    assert.throws(() => parsePodLogOptions(new URLSearchParams('tailLines=-2')), /tailLines must be an integer of at least 0, not "-2"/);
    assert.throws(() => parsePodLogOptions(new URLSearchParams('limitBytes=0')), /limitBytes must be an integer of at least 1/);
  });
});

function ok(r: KubectlResult, what: string): string {
  assert.equal(r.status, 0, `${what} failed (status ${r.status}):\n${r.stderr}`);
  return r.stdout;
}

describe('kubectl logs against mco apiserver --pod-log-dir', needsKubectl, () => {
  let api: TestApiServer;
  let logs: string;
  const teardown: (() => unknown)[] = [];
  after(async () => {
    for (const fn of teardown.reverse()) await fn();
  });
  before(async () => {
    logs = fs.mkdtempSync(join(tmpdir(), 'mco-pod-logs-'));
    teardown.push(() => fs.rmSync(logs, { recursive: true, force: true }));
    api = await startApiServer({ after: (fn) => teardown.push(fn) }, { args: ['--pod-log-dir', logs] });
    const pods = join(logs, 'pods.yaml');
    fs.writeFileSync(
      pods,
      [
        'apiVersion: v1\nkind: Pod\nmetadata: {name: machine-config-daemon-a, namespace: openshift-machine-config-operator}\nspec:\n  nodeName: worker-0\n  containers: [{name: machine-config-daemon, image: mcd}]\n',
        'apiVersion: v1\nkind: Pod\nmetadata: {name: two, namespace: default}\nspec:\n  containers: [{name: a, image: a}, {name: b, image: b}]\n',
      ].join('---\n'),
    );
    ok(api.kubectl(['apply', '-f', pods]), 'create pods');
    fs.mkdirSync(join(logs, 'openshift-machine-config-operator'));
    fs.writeFileSync(join(logs, 'openshift-machine-config-operator', 'machine-config-daemon-a.log'), 'I1204 line one\nI1204 line two\nI1204 line three\n');
  });

  test('kubectl logs prints the pod log file; --tail and --limit-bytes cut it', () => {
    const ns = ['-n', 'openshift-machine-config-operator'];
    assert.equal(ok(api.kubectl(['logs', ...ns, 'machine-config-daemon-a']), 'logs'), 'I1204 line one\nI1204 line two\nI1204 line three\n');
    assert.equal(ok(api.kubectl(['logs', ...ns, 'machine-config-daemon-a', '--tail=1']), 'logs --tail'), 'I1204 line three\n');
    assert.equal(ok(api.kubectl(['logs', ...ns, 'pod/machine-config-daemon-a', '-c', 'machine-config-daemon', '--limit-bytes=10']), 'logs --limit-bytes'), 'I1204 line');
    assert.equal(ok(api.kubectl(['logs', ...ns, 'machine-config-daemon-a', '--timestamps']), 'logs --timestamps').split('\n').length, 4);
  });

  test('kubectl logs -f streams lines appended to the file until interrupted', async () => {
    const file = join(logs, 'openshift-machine-config-operator', 'machine-config-daemon-a.log');
    const child = api.spawnKubectl(['logs', '-f', '-n', 'openshift-machine-config-operator', 'machine-config-daemon-a', '--tail=1']);
    let out = '';
    const seen = (pattern: RegExp): Promise<void> =>
      new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`timed out waiting for ${pattern} in:\n${out}`)), 20_000);
        const check = (): void => {
          if (pattern.test(out)) {
            clearTimeout(timer);
            child.stdout!.off('data', onData);
            resolve();
          }
        };
        const onData = (c: Buffer): void => {
          out += c.toString();
          check();
        };
        child.stdout!.on('data', onData);
        check();
      });
    try {
      await seen(/line three\n/);
      fs.appendFileSync(file, 'I1204 line four\n');
      await seen(/line four\n/);
      assert.equal(out, 'I1204 line three\nI1204 line four\n');
    } finally {
      child.kill();
    }
  });

  test('kubectl logs of a missing pod, a wrong container or a container not started says so, as the real server does', () => {
    const missing = api.kubectl(['logs', '-n', 'default', 'nope']);
    assert.equal(missing.status, 1);
    assert.match(missing.stderr, /error from server \(NotFound\): pods "nope" not found in namespace "default"/);
    const raw = api.kubectl(['get', '--raw', '/api/v1/namespaces/default/pods/nope/log']);
    assert.match(raw.stderr, /Error from server \(NotFound\): pods "nope" not found/);
    const wrong = api.kubectl(['logs', '-n', 'openshift-machine-config-operator', 'machine-config-daemon-a', '-c', 'other']);
    assert.equal(wrong.status, 1);
    assert.match(wrong.stderr, /container other is not valid for pod machine-config-daemon-a/);
    const notStarted = api.kubectl(['logs', '-n', 'default', 'two', '-c', 'b']);
    assert.equal(notStarted.status, 1);
    assert.match(notStarted.stderr, /container "b" in pod "two" is waiting to start: ContainerCreating/);
  });
});

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { HostConfig } from '../node/host-config.js';
import type { ObservedPath, OnDiskState } from '../node/host-root.js';
import { formatMode, goQuote, onDiskDifferences, validationMessage } from './validate.js';

const A = 'quay.io/openshift-release-dev/ocp-v4.0-art-dev@sha256:4c5b83a192734ad6aa33da798f51b4b7ebe0f633ed63d53867a0c3fb73993024';
const B = 'quay.io/openshift-release-dev/ocp-v4.0-art-dev@sha256:8869972a7f3cf7be7c936ef5b3277f20da7f5b577d66e37a5b9db25889c2a515';

const config = (over: Partial<HostConfig> = {}): HostConfig => ({ name: 'rendered-worker-0820700c2d496a3cacc73c82b7cd5c5f', osImageURL: A, kernelArguments: [], files: [], units: [], sshKeys: null, ...over });
const host = (osImageURL: string, files: Record<string, ObservedPath> = {}, kargs: string[] = []): OnDiskState => ({ osImageURL, kargs, read: (p) => files[p] ?? { kind: 'missing' } });
const f = (text: string, mode = 0o644): ObservedPath => ({ kind: 'file', contents: Buffer.from(text), mode });

describe('onDiskDifferences()', () => {
  test('the seed\'s message for a node force-pivoted to another image, exactly', () => {
    const c = config();
    assert.equal(validationMessage(c.name, onDiskDifferences(c, host(B))),
      'unexpected on-disk state validating against rendered-worker-0820700c2d496a3cacc73c82b7cd5c5f: expected target osImageURL "quay.io/openshift-release-dev/ocp-v4.0-art-dev@sha256:4c5b83a192734ad6aa33da798f51b4b7ebe0f633ed63d53867a0c3fb73993024", have "quay.io/openshift-release-dev/ocp-v4.0-art-dev@sha256:8869972a7f3cf7be7c936ef5b3277f20da7f5b577d66e37a5b9db25889c2a515"');
  });

  const cases: [string, HostConfig, OnDiskState, string[]][] = [
    ['a matching host', config({ files: [{ path: '/etc/a', contents: Buffer.from('x'), mode: 0o644, user: {}, group: {} }] }), host(A, { '/etc/a': f('x') }), []],
    ['no osImageURL in the config: any OS', config({ osImageURL: '' }), host(''), []],
    ['every differing path, not just the first', config({
      files: [
        { path: '/etc/a', contents: Buffer.from('x'), mode: 0o644, user: {}, group: {} },
        { path: '/etc/b', contents: Buffer.from('y'), mode: 0o600, user: {}, group: {} },
        { path: '/etc/c', contents: Buffer.from('z'), mode: 0o644, user: {}, group: {} },
      ],
      units: [{ name: 'a.service', contents: 'u', mask: false, dropins: [{ name: '10.conf', contents: 'd' }] }, { name: 'm.service', mask: true, dropins: [] }],
      kernelArguments: ['nosmt', 'quiet'],
    }), host(B, { '/etc/a': f('edited'), '/etc/b': f('y', 0o755), '/etc/systemd/system/a.service': f('u'), '/etc/systemd/system/a.service.d/10.conf': f('other') }, ['quiet']), [
      `expected target osImageURL ${goQuote(A)}, have ${goQuote(B)}`,
      'missing expected kernel arguments: [nosmt]',
      'content mismatch for file "/etc/a"',
      'mode mismatch for file: "/etc/b"; expected: -rw-------; received: -rwxr-xr-x',
      'could not read file "/etc/c": no such file or directory',
      'content mismatch for file "/etc/systemd/system/a.service.d/10.conf"',
      'state validation: invalid unit masked setting. path: "/etc/systemd/system/m.service"; expected: true; received: false',
    ]],
    ['a file replaced by a symlink', config({ files: [{ path: '/etc/a', contents: Buffer.from('x'), mode: 0o644, user: {}, group: {} }] }), host(A, { '/etc/a': { kind: 'symlink', target: '/tmp/x' } }), ['could not read file "/etc/a": it is a symlink to /tmp/x, not a regular file']],
    ['SSH keys for core', config({ sshKeys: ['k1', 'k2'] }), host(A, { '/home/core/.ssh/authorized_keys': f('k1\n') }), ['content mismatch for file "/home/core/.ssh/authorized_keys"']],
  ];
  for (const [what, expected, seen, diffs] of cases) test(what, () => assert.deepEqual(onDiskDifferences(expected, seen), diffs));
});

test('goQuote() quotes as Go\'s %q, formatMode() as os.FileMode', () => {
  assert.equal(goQuote('a"b\\c\n\x01'), '"a\\"b\\\\c\\n\\x01"');
  assert.equal(formatMode(0o644), '-rw-r--r--');
  assert.equal(formatMode(0o7), '-------rwx');
});

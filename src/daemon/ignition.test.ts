import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { MachineConfig } from '../api/machineconfig.js';
import { decodeDataUrl, hostConfigOf, splitKernelArguments } from './ignition.js';
import { ConfigError } from './errors.js';

const mc = (name: string, config: Record<string, unknown>, spec: Partial<MachineConfig['spec']> = {}): MachineConfig => ({
  apiVersion: 'machineconfiguration.openshift.io/v1',
  kind: 'MachineConfig',
  metadata: { name },
  spec: { osImageURL: 'quay.io/os@sha256:aa', config: { ignition: { version: '3.1.0' }, ...config }, ...spec },
});
const file = (path: unknown, source?: string, extra: Record<string, unknown> = {}): Record<string, unknown> => ({ path, ...(source !== undefined ? { contents: { source } } : {}), ...extra });

describe('hostConfigOf()', () => {
  test('reads files (decoded, mode, owners), units with drop-ins, SSH keys of core and kernel arguments', () => {
    const cfg = hostConfigOf(mc('rendered-worker-1', {
      storage: { files: [file('/etc/a.conf', 'data:,hello%20world%0A', { mode: 0o600, user: { name: 'core' } }), file('//etc/./b', 'data:text/plain;base64,aGk=')] },
      systemd: { units: [{ name: 'kubelet.service', enabled: true, contents: '[Unit]\n', dropins: [{ name: '10-mco.conf', contents: 'x' }] }, { name: 'masked.service', mask: true }] },
      passwd: { users: [{ name: 'core', sshAuthorizedKeys: ['ssh-ed25519 A', 'ssh-rsa B'] }] },
    }, { kernelArguments: ['nosmt', 'foo="a b" bar'] }));
    assert.deepEqual(cfg.files.map((f) => [f.path, f.contents.toString(), f.mode, f.user.name]), [['/etc/a.conf', 'hello world\n', 0o600, 'core'], ['/etc/b', 'hi', 0o644, undefined]]);
    assert.deepEqual(cfg.units.map((u) => [u.name, u.enabled, u.mask, u.dropins.length]), [['kubelet.service', true, false, 1], ['masked.service', undefined, true, 0]]);
    assert.deepEqual(cfg.sshKeys, ['ssh-ed25519 A', 'ssh-rsa B']);
    assert.deepEqual(cfg.kernelArguments, ['nosmt', 'foo="a b"', 'bar']);
    assert.equal(cfg.osImageURL, 'quay.io/os@sha256:aa');
  });

  test('a config without users leaves SSH keys alone (null), a file without contents is empty', () => {
    const cfg = hostConfigOf(mc('r', { storage: { files: [file('/etc/empty')] } }));
    assert.equal(cfg.sshKeys, null);
    assert.equal(cfg.files[0]!.contents.length, 0);
  });

  const refusals: [string, Record<string, unknown>, RegExp][] = [
    ['a relative path', { storage: { files: [file('etc/x', 'data:,a')] } }, /^rendered-worker-1: spec\.config\.storage\.files\[0\]\.path: "etc\/x" is not an absolute path$/],
    ['a .. component', { storage: { files: [file('/etc/../../root/x', 'data:,a')] } }, /^rendered-worker-1: spec\.config\.storage\.files\[0\]\.path: "\/etc\/\.\.\/\.\.\/root\/x" contains a "\.\." component$/],
    ['base64 that does not decode', { storage: { files: [file('/etc/x', 'data:;base64,@@@')] } }, /^rendered-worker-1: spec\.config\.storage\.files\[0\]\.contents\.source: the data URL's base64 data does not decode$/],
    ['a malformed %-escape', { storage: { files: [file('/etc/x', 'data:,100%')] } }, /files\[0\]\.contents\.source: the data URL has a malformed %-escape$/],
    ['a remote source', { storage: { files: [file('/etc/x', 'https://example.com/x')] } }, /files\[0\]\.contents\.source: only data URLs are supported/],
    ['append', { storage: { files: [file('/etc/x', 'data:,a', { append: [{ source: 'data:,b' }] })] } }, /files\[0\]: found an append section when writing files\. Append is not supported$/],
    ['a bad mode', { storage: { files: [file('/etc/x', 'data:,a', { mode: -1 })] } }, /files\[0\]\.mode: -1 is not a file mode$/],
    ['a path written twice', { storage: { files: [file('/etc/x', 'data:,a'), file('/etc//x', 'data:,b')] } }, /files\[1\]\.path: "\/etc\/x" is also written by spec\.config\.storage\.files\[0\]$/],
    ['an invalid unit name', { systemd: { units: [{ name: '../evil.service' }] } }, /^rendered-worker-1: spec\.config\.systemd\.units\[0\]\.name: "\.\.\/evil\.service" is not a valid systemd unit name$/],
    ['a unit without a type', { systemd: { units: [{ name: 'kubelet' }] } }, /units\[0\]\.name: "kubelet" is not a valid systemd unit name$/],
    ['a bad drop-in name', { systemd: { units: [{ name: 'a.service', dropins: [{ name: 'x/y.conf' }] }] } }, /units\[0\]\.dropins\[0\]\.name: "x\/y\.conf" is not a valid drop-in name/],
  ];
  for (const [what, config, message] of refusals) {
    test(`refuses ${what}, naming the config and the field`, () => {
      assert.throws(() => hostConfigOf(mc('rendered-worker-1', config)), (e: Error) => e instanceof ConfigError && message.test(e.message));
    });
  }
});

test('decodeDataUrl() decodes percent-escaped bytes and base64', () => {
  assert.deepEqual([...decodeDataUrl('data:,%00%ff', 'f')], [0, 255]);
  assert.equal(decodeDataUrl('data:text/plain;charset=utf-8;base64,w6k=', 'f').toString(), 'é');
});

test('splitKernelArguments() splits on whitespace outside double quotes', () => {
  assert.deepEqual(splitKernelArguments(['  a  b=c ', 'd="e f"']), ['a', 'b=c', 'd="e f"']);
});

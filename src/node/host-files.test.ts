import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import type { HostConfig } from './host-config.js';
import { writeHostConfig } from './host-files.js';
import type { HostRoot } from './host-root.js';

/** A simulated host root: host paths under DIR/root (the booted deployment's place). */
function fakeRoot(t: TestContext): { root: HostRoot; dir: string; at: (p: string) => string } {
  const dir = fs.mkdtempSync(join(tmpdir(), 'mco-host-files-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const at = (p: string): string => join(dir, 'root', p);
  fs.mkdirSync(at('/etc'), { recursive: true });
  const root: HostRoot = { sysroot: dir, real: false, booted: { osname: 'rhcos', checksum: 'c', serial: 0, bootcsum: 'b', bootserial: 0, kargs: [], origin: null }, resolve: at };
  return { root, dir, at };
}

const cfg = (name: string, over: Partial<HostConfig> = {}): HostConfig => ({ name, osImageURL: '', kernelArguments: [], files: [], units: [], sshKeys: null, ...over });
const file = (path: string, text: string, mode = 0o644): HostConfig['files'][number] => ({ path, contents: Buffer.from(text), mode, user: {}, group: {} });

test('writeHostConfig() writes files, units, enablement, masks and SSH keys; a later config restores originals and removes what it no longer has', (t) => {
  const { root, at } = fakeRoot(t);
  fs.writeFileSync(at('/etc/existing.conf'), 'original\n');
  const one = cfg('rendered-1', {
    files: [file('/etc/existing.conf', 'managed\n'), file('/etc/new.conf', 'new\n', 0o600)],
    units: [{ name: 'a.service', contents: '[Service]\n', enabled: true, mask: false, dropins: [{ name: '10-x.conf', contents: 'd' }] }, { name: 'm.service', mask: true, dropins: [] }],
    sshKeys: ['ssh-ed25519 K'],
  });
  writeHostConfig(root, [], one);
  assert.equal(fs.readFileSync(at('/etc/existing.conf'), 'utf8'), 'managed\n');
  assert.equal(fs.statSync(at('/etc/new.conf')).mode & 0o777, 0o600);
  assert.equal(fs.readlinkSync(at('/etc/systemd/system/multi-user.target.wants/a.service')), '/etc/systemd/system/a.service');
  assert.equal(fs.readFileSync(at('/etc/systemd/system/a.service.d/10-x.conf'), 'utf8'), 'd');
  assert.equal(fs.readlinkSync(at('/etc/systemd/system/m.service')), '/dev/null');
  assert.equal(fs.readFileSync(at('/home/core/.ssh/authorized_keys'), 'utf8'), 'ssh-ed25519 K\n');
  assert.equal(fs.readFileSync(at('/etc/machine-config-daemon/orig/etc/existing.conf.mcdorig'), 'utf8'), 'original\n');
  assert.ok(fs.existsSync(at('/etc/machine-config-daemon/noorig/etc/new.conf.mcdnoorig')));

  writeHostConfig(root, [one], cfg('rendered-2'));
  assert.equal(fs.readFileSync(at('/etc/existing.conf'), 'utf8'), 'original\n', 'the original is back');
  assert.equal(fs.existsSync(at('/etc/new.conf')), false);
  assert.equal(fs.existsSync(at('/etc/systemd/system/a.service')), false);
  assert.equal(fs.existsSync(at('/etc/systemd/system/multi-user.target.wants/a.service')), false);
  assert.equal(fs.existsSync(at('/home/core/.ssh/authorized_keys')), true, 'keys of a config without users are left');
});

test('rollback() puts every path back as it was before the update', (t) => {
  const { root, at } = fakeRoot(t);
  fs.writeFileSync(at('/etc/a.conf'), 'before\n');
  fs.chmodSync(at('/etc/a.conf'), 0o640);
  const writes = writeHostConfig(root, [], cfg('r', { files: [file('/etc/a.conf', 'after\n'), file('/etc/b.conf', 'b\n')], units: [{ name: 'x.service', mask: true, dropins: [] }] }));
  writes.rollback();
  assert.equal(fs.readFileSync(at('/etc/a.conf'), 'utf8'), 'before\n');
  assert.equal(fs.statSync(at('/etc/a.conf')).mode & 0o777, 0o640);
  assert.equal(fs.existsSync(at('/etc/b.conf')), false);
  assert.equal(fs.existsSync(at('/etc/systemd/system/x.service')), false);
});

test('a symlinked directory on the way is refused: nothing is written outside the root, and what was written is rolled back', (t) => {
  const { root, dir, at } = fakeRoot(t);
  const outside = join(dir, 'outside');
  fs.mkdirSync(outside);
  fs.symlinkSync(outside, at('/etc/evil'));
  fs.writeFileSync(at('/etc/first.conf'), 'kept\n');
  assert.throws(() => writeHostConfig(root, [], cfg('rendered-bad', { files: [file('/etc/first.conf', 'changed\n'), file('/etc/evil/x.conf', 'pwned\n')] })), /Refusing to write \/etc\/evil\/x\.conf: \/etc\/evil is a symlink/);
  assert.deepEqual(fs.readdirSync(outside), []);
  assert.equal(fs.readFileSync(at('/etc/first.conf'), 'utf8'), 'kept\n', 'the first file was put back');
});

test('an owner named by a user the host does not have is refused, naming the config and file', (t) => {
  const { root } = fakeRoot(t);
  assert.throws(() => writeHostConfig(root, [], cfg('rendered-x', { files: [{ ...file('/etc/o.conf', 'o'), user: { name: 'nobody-here' } }] })), /rendered-x: file \/etc\/o\.conf: no user named "nobody-here" in the host's \/etc\/passwd/);
});

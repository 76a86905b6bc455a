import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { MachineConfig } from '../api/machineconfig.js';
import { UnreconcilableError } from './errors.js';
import { diffConfigs, emptyMachineConfig, formatDiff, reconcilable } from './reconcile.js';

const mc = (name: string, config: Record<string, unknown> = {}, spec: Partial<MachineConfig['spec']> = {}): MachineConfig => ({
  apiVersion: 'machineconfiguration.openshift.io/v1', kind: 'MachineConfig', metadata: { name },
  spec: { osImageURL: 'os@sha256:1', config: { ignition: { version: '3.1.0' }, ...config }, ...spec },
});
const core = (keys: string[]): Record<string, unknown> => ({ passwd: { users: [{ name: 'core', sshAuthorizedKeys: keys }] } });

describe('reconcilable()', () => {
  const allowed: [string, MachineConfig, MachineConfig][] = [
    ['a new OS image, files, units and kernel arguments', mc('a'), mc('b', { storage: { files: [{ path: '/etc/x' }] }, systemd: { units: [{ name: 'x.service' }] } }, { osImageURL: 'os@sha256:2', kernelArguments: ['nosmt'] })],
    ['new SSH keys for core', mc('a', core(['k1'])), mc('b', core(['k1', 'k2']))],
    ['removing a link', mc('a', { storage: { links: [{ path: '/etc/l', target: '/x' }] } }), mc('b')],
    ['nothing at all', mc('a'), mc('b')],
    ['from the empty config', emptyMachineConfig(), mc('b', core(['k']))],
  ];
  for (const [what, from, to] of allowed) test(`allows ${what}`, () => void reconcilable(from, to));

  const refused: [string, MachineConfig, MachineConfig, string][] = [
    ['a non-core user', mc('a', core(['k'])), mc('b', { passwd: { users: [{ name: 'admin', sshAuthorizedKeys: ['k'] }] } }), 'ignition passwd user section contains unsupported changes: non-core user'],
    ['a password for core', mc('a', core(['k'])), mc('b', { passwd: { users: [{ name: 'core', sshAuthorizedKeys: ['k'], passwordHash: 'x' }] } }), 'ignition passwd user section contains unsupported changes: non-sshKey changes'],
    ['core without keys', mc('a', core(['k'])), mc('b', core([])), 'ignition passwd user section contains unsupported changes: user must be core and have 1 or more sshKeys'],
    ['groups', mc('a'), mc('b', { passwd: { groups: [{ name: 'g' }] } }), 'ignition Passwd Groups section contains changes'],
    ['disks', mc('a'), mc('b', { storage: { disks: [{ device: '/dev/sdb' }] } }), 'ignition disks section contains changes'],
    ['directories', mc('a'), mc('b', { storage: { directories: [{ path: '/var/x' }] } }), 'ignition directories section contains changes'],
    ['a new link', mc('a'), mc('b', { storage: { links: [{ path: '/etc/l', target: '/x' }] } }), 'ignition links section contains changes'],
    ['append', mc('a'), mc('b', { storage: { files: [{ path: '/etc/x', append: [{ source: 'data:,a' }] }] } }), 'ignition file /etc/x includes append'],
    ['FIPS', mc('a'), mc('b', {}, { fips: true }), 'detected change to FIPS flag; refusing to modify FIPS on a running cluster'],
    ['the kernel type', mc('a'), mc('b', {}, { kernelType: 'realtime' }), 'spec.kernelType: changing the kernel type to "realtime" is not supported on this host'],
  ];
  for (const [what, from, to, why] of refused) {
    test(`refuses ${what}`, () => {
      assert.throws(() => reconcilable(from, to), (e: Error) => e instanceof UnreconcilableError && e.message === `can't reconcile config a with b: ${why}`);
    });
  }
});

test('diffConfigs() and formatDiff() print the flags as the original logs them', () => {
  const d = diffConfigs(mc('a'), mc('b', { storage: { files: [{ path: '/etc/x' }] } }, { osImageURL: 'os@sha256:2' }));
  assert.equal(formatDiff(d), '&{osUpdate:true kargs:false fips:false passwd:false files:true units:false kernelType:false extensions:false}');
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { MachineConfig } from '../api/machineconfig.js';
import { mergeIgnition, parseIgnition } from './ignition.js';
import { RenderError, renderPool, renderedName, specYaml } from './render.js';
import { controllerConfig, IMAGE_A, IMAGE_B, mc, pool } from './testing.js';

const ign = (extra: Record<string, unknown> = {}, version = '3.1.0'): MachineConfig['spec']['config'] => ({ ignition: { version }, ...extra });
const file = (path: string, source: string): object => ({ path, contents: { source } });
const opts = { controllerVersion: 'v-test' };

test('renderPool() merges the selected configs in name order: later files and units override, kargs and extensions concatenate, fips ORs, realtime wins', () => {
  const configs = [
    mc('99-worker-ssh', { config: ign({ passwd: { users: [{ name: 'core', sshAuthorizedKeys: ['ssh-ed25519 B'] }] } }), kernelArguments: ['z=1'] }),
    mc('00-worker', { config: ign({ storage: { files: [file('/etc/a', 'data:,base'), file('/etc/b', 'data:,b')] }, passwd: { users: [{ name: 'core', sshAuthorizedKeys: ['ssh-ed25519 A'] }] } }), kernelArguments: ['a=1'], extensions: ['usbguard'] }),
    mc('50-worker-rt', { config: ign({ storage: { files: [file('/etc/a', 'data:,override')] }, systemd: { units: [{ name: 'x.service', enabled: true }] } }), kernelType: 'realtime', fips: true, extensions: ['usbguard'] }),
    mc('10-master', { kernelArguments: ['master-only'] }, 'master'),
    mc('no-labels', { kernelArguments: ['never'] }, null),
  ];
  const { config, source } = renderPool(pool('worker'), configs, controllerConfig(IMAGE_A), opts);
  assert.deepEqual(source.map((s) => s.name), ['00-worker', '50-worker-rt', '99-worker-ssh']);
  assert.equal(config.spec.osImageURL, IMAGE_A);
  assert.deepEqual(config.spec.kernelArguments, ['a=1', 'z=1']);
  assert.deepEqual(config.spec.extensions, ['usbguard', 'usbguard']);
  assert.equal(config.spec.fips, true);
  assert.equal(config.spec.kernelType, 'realtime');
  assert.deepEqual(config.spec.config, {
    ignition: { version: '3.1.0' },
    storage: { files: [file('/etc/a', 'data:,override'), file('/etc/b', 'data:,b')] },
    passwd: { users: [{ name: 'core', sshAuthorizedKeys: ['ssh-ed25519 A', 'ssh-ed25519 B'] }] },
    systemd: { units: [{ name: 'x.service', enabled: true }] },
  });
  assert.match(config.metadata.name!, /^rendered-worker-[0-9a-f]{32}$/);
  assert.equal(config.metadata.annotations!['machineconfiguration.openshift.io/generated-by-controller-version'], 'v-test');
  assert.deepEqual(config.metadata.ownerReferences, [{ apiVersion: 'machineconfiguration.openshift.io/v1', kind: 'MachineConfigPool', name: 'worker', uid: 'uid-worker', controller: true, blockOwnerDeletion: true }]);
  assert.equal(config.metadata.labels, undefined, 'rendered configs carry no labels, so they never select themselves');
});

test('renderedName() is a function of the merged spec: same inputs same name, osImageURL changes it, pools share the hash', () => {
  const configs = [mc('00-worker', { config: ign({ storage: { files: [file('/etc/a', 'data:,x')] } }) })];
  const a1 = renderPool(pool('worker'), configs, controllerConfig(IMAGE_A), opts).config.metadata.name!;
  const a2 = renderPool(pool('worker'), [...configs].reverse(), controllerConfig(IMAGE_A), { controllerVersion: 'other' }).config.metadata.name!;
  const b = renderPool(pool('worker'), configs, controllerConfig(IMAGE_B), opts).config.metadata.name!;
  assert.equal(a1, a2, 'the controller version is an annotation, not part of the hash');
  assert.notEqual(a1, b);
  const spec = renderPool(pool('worker'), configs, controllerConfig(IMAGE_A), opts).config.spec;
  assert.equal(renderedName('infra', spec).slice(-32), a1.slice(-32));
});

test('specYaml() emits the spec as ghodss/yaml does: sorted keys, unindented lists, quoted look-alikes, no folding', () => {
  const long = 'x'.repeat(120);
  const yaml = specYaml({ osImageURL: '', config: { ignition: { version: '3.1.0' }, storage: { files: [{ path: '/etc/y', mode: 420, contents: { source: `data:,${long}` } }] } }, kernelArguments: ['yes'], extensions: [], fips: false, kernelType: 'default' });
  assert.equal(
    yaml,
    [
      'config:',
      '  ignition:',
      '    version: 3.1.0',
      '  storage:',
      '    files:',
      '    - contents:',
      `        source: data:,${long}`,
      '      mode: 420',
      '      path: /etc/y',
      'extensions: []',
      'fips: false',
      'kernelArguments:',
      '- "yes"',
      'kernelType: default',
      'osImageURL: ""',
      '',
    ].join('\n'),
  );
});

test('renderedName() stays the same for the same spec written with keys in another order', () => {
  const a = renderedName('worker', { osImageURL: IMAGE_A, config: { ignition: { version: '3.1.0' }, storage: { files: [{ path: '/a', mode: 420 }] } }, kernelArguments: [], extensions: [], fips: false, kernelType: 'default' });
  const b = renderedName('worker', { kernelType: 'default', fips: false, extensions: [], kernelArguments: [], config: { storage: { files: [{ mode: 420, path: '/a' }] }, ignition: { version: '3.1.0' } }, osImageURL: IMAGE_A });
  assert.equal(a, b);
});

const failures: { name: string; configs: MachineConfig[]; selector?: object; message: RegExp; config?: string; field?: string }[] = [
  {
    name: 'an unknown Ignition version',
    configs: [mc('00-worker'), mc('50-bad', { config: ign({}, '3.9.0') })],
    message: /^MachineConfig 50-bad: spec\.config\.ignition\.version: parsing Ignition config failed: unknown version "3\.9\.0"\. Supported spec versions: 2\.2, 3\.0, 3\.1$/,
    config: '50-bad',
    field: 'spec.config.ignition.version',
  },
  {
    name: 'a relative file path',
    configs: [mc('50-rel', { config: ign({ storage: { files: [file('/etc/ok', 'data:,'), file('etc/motd', 'data:,hi')] } }) })],
    message: /^MachineConfig 50-rel: spec\.config\.storage\.files\[1\]\.path: "etc\/motd" is not an absolute path$/,
    config: '50-rel',
    field: 'spec.config.storage.files[1].path',
  },
  { name: 'an invalid kernelType', configs: [mc('50-kt', { kernelType: 'fast' as 'realtime' })], message: /^MachineConfig 50-kt: spec\.kernelType: kernelType=fast is invalid$/, config: '50-kt', field: 'spec.kernelType' },
  { name: 'kernel-devel with realtime', configs: [mc('50-rt', { kernelType: 'realtime', extensions: ['kernel-devel'] })], message: /^installing kernel-devel extension is not supported with kernelType: realtime$/, field: 'spec.extensions' },
  { name: 'a selector that matches nothing', configs: [mc('00-master', {}, 'master')], message: /^no MachineConfigs found matching selector machineconfiguration\.openshift\.io\/role=worker$/, field: 'spec.machineConfigSelector' },
];
for (const c of failures) {
  test(`renderPool() refuses ${c.name}, naming the config and field`, () => {
    assert.throws(
      () => renderPool(pool('worker'), c.configs, controllerConfig(IMAGE_A), opts),
      (e: unknown) => e instanceof RenderError && c.message.test(e.message) && e.config === c.config && e.field === c.field,
    );
  });
}

test('renderPool() reads Ignition 2.2 configs (the seed has 99-worker-mtu at 2.2.0), converted to 3.1', () => {
  const v2 = mc('99-worker-mtu', { config: ign({ storage: { files: [{ filesystem: 'root', path: '/etc/mtu', mode: 420, contents: { source: 'data:,9000' } }] }, systemd: { units: [{ name: 'mtu.service', enable: true }] } }, '2.2.0') });
  const { config } = renderPool(pool('worker'), [mc('00-worker', { config: ign() }), v2], controllerConfig(IMAGE_A), opts);
  assert.deepEqual(config.spec.config, {
    ignition: { version: '3.1.0' },
    storage: { files: [{ path: '/etc/mtu', mode: 420, contents: { source: 'data:,9000' } }] },
    systemd: { units: [{ name: 'mtu.service', enabled: true }] },
  });
});

test('mergeIgnition(): a path the later config makes a directory replaces the earlier file; dropins merge by name; append lists append', () => {
  const parent = parseIgnition({ ignition: { version: '3.1.0' }, storage: { files: [{ path: '/etc/x' }, { path: '/etc/log', append: [{ source: 'data:,a' }] }] }, systemd: { units: [{ name: 'u', dropins: [{ name: '10.conf', contents: 'A' }] }] } });
  const child = parseIgnition({ ignition: { version: '3.0.0' }, storage: { directories: [{ path: '/etc/x' }], files: [{ path: '/etc/log', append: [{ source: 'data:,b' }] }] }, systemd: { units: [{ name: 'u', dropins: [{ name: '10.conf', contents: 'B' }, { name: '20.conf', contents: 'C' }] }] } });
  assert.deepEqual(mergeIgnition(parent, child), {
    ignition: { version: '3.1.0' },
    storage: { files: [{ path: '/etc/log', append: [{ source: 'data:,a' }, { source: 'data:,b' }] }], directories: [{ path: '/etc/x' }] },
    systemd: { units: [{ name: 'u', dropins: [{ name: '10.conf', contents: 'B' }, { name: '20.conf', contents: 'C' }] }] },
  });
});

test('renderPool(): a source config deleted while the pool references it renders a new config without it; restoring it gives the old name back', () => {
  const base = mc('00-worker', { config: ign({ storage: { files: [file('/etc/a', 'data:,a')] } }) });
  const extra = mc('50-worker-extra', { kernelArguments: ['nosmt'] });
  const withExtra = renderPool(pool('worker'), [base, extra], controllerConfig(IMAGE_A), opts);
  const without = renderPool(pool('worker'), [base], controllerConfig(IMAGE_A), opts);
  assert.notEqual(without.config.metadata.name, withExtra.config.metadata.name);
  assert.deepEqual(without.source.map((s) => s.name), ['00-worker']);
  assert.deepEqual(without.config.spec.kernelArguments, []);
  assert.equal(renderPool(pool('worker'), [extra, base], controllerConfig(IMAGE_A), opts).config.metadata.name, withExtra.config.metadata.name);
});

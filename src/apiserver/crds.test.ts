import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { loadBuiltinCrds, loadManifests } from './crds.js';
import { applyDefaults, pruneUnknownFields, validateObject } from './schema.js';

interface Crd {
  kind: string;
  metadata: { name: string };
  spec: {
    group: string;
    scope: string;
    names: { plural: string; singular: string; kind: string; shortNames?: string[] };
    versions: Array<{
      name: string;
      served: boolean;
      storage: boolean;
      subresources?: { status?: object };
      additionalPrinterColumns?: Array<{ name: string; type: string; jsonPath: string }>;
      schema: { openAPIV3Schema: Record<string, unknown> };
    }>;
  };
}

const crds = loadBuiltinCrds() as Crd[];
function crd(kind: string): Crd {
  const found = crds.find((c) => c.spec.names.kind === kind);
  assert.ok(found, `no CRD for ${kind} in manifests/`);
  return found;
}
const schemaOf = (kind: string) => crd(kind).spec.versions[0]!.schema.openAPIV3Schema;

/**
 * The rules apiextensions.k8s.io/v1 enforces for a structural schema: a type on every node
 * (or int-or-string / preserve-unknown-fields), no $ref, properties and additionalProperties
 * not both, one schema for items, and nothing but `type: object` under the root metadata.
 */
function structuralViolations(node: Record<string, unknown>, path: string, out: string[]): string[] {
  if ('$ref' in node) out.push(`${path}: $ref is not allowed`);
  if (!node.type && !node['x-kubernetes-int-or-string'] && !node['x-kubernetes-preserve-unknown-fields']) out.push(`${path}: type missing`);
  if (node.properties && node.additionalProperties) out.push(`${path}: properties and additionalProperties both set`);
  if (node['x-kubernetes-int-or-string'] && node.type) out.push(`${path}: int-or-string must not set type`);
  if (node.type === 'array' && (typeof node.items !== 'object' || Array.isArray(node.items))) out.push(`${path}: items must be one schema`);
  for (const [name, sub] of Object.entries((node.properties ?? {}) as Record<string, Record<string, unknown>>)) {
    structuralViolations(sub, `${path}.properties.${name}`, out);
  }
  if (typeof node.items === 'object' && !Array.isArray(node.items)) structuralViolations(node.items as Record<string, unknown>, `${path}.items`, out);
  if (typeof node.additionalProperties === 'object') structuralViolations(node.additionalProperties as Record<string, unknown>, `${path}.additionalProperties`, out);
  return out;
}

const OS_IMAGE = 'quay.io/openshift-release-dev/ocp-v4.0-art-dev@sha256:8869972a7f3cf7be7c936ef5b3277f20da7f5b577d66e37a5b9db25889c2a515';
const MC = 'machineconfiguration.openshift.io/v1';

/** The seed's objects: the built-in pools, template/ssh/mtu fragments, a rendered config, the ControllerConfig. */
const seedObjects: Array<[string, object]> = [
  ['MachineConfigPool', {
    apiVersion: MC, kind: 'MachineConfigPool',
    metadata: { name: 'worker', labels: { 'machineconfiguration.openshift.io/mco-built-in': '', 'pools.operator.machineconfiguration.openshift.io/worker': '' } },
    spec: {
      machineConfigSelector: { matchLabels: { 'machineconfiguration.openshift.io/role': 'worker' } },
      nodeSelector: { matchLabels: { 'node-role.kubernetes.io/worker': '' } },
      paused: false,
      configuration: { name: 'rendered-worker-98a743e40098703869e9a8e0083f4f4a', source: [{ apiVersion: MC, kind: 'MachineConfig', name: '00-worker' }] },
    },
    status: {
      observedGeneration: 3,
      configuration: { name: 'rendered-worker-0820700c2d496a3cacc73c82b7cd5c5f', source: [{ apiVersion: MC, kind: 'MachineConfig', name: '00-worker' }] },
      machineCount: 2, readyMachineCount: 0, updatedMachineCount: 0, degradedMachineCount: 0, unavailableMachineCount: 1,
      conditions: [
        { type: 'Updated', status: 'False', lastTransitionTime: '2021-01-22T10:31:00Z', reason: '', message: '' },
        { type: 'Updating', status: 'True', lastTransitionTime: '2021-01-22T10:31:00Z', reason: '', message: 'All nodes are updating to rendered-worker-98a743e40098703869e9a8e0083f4f4a' },
        { type: 'Degraded', status: 'False', lastTransitionTime: null, reason: '', message: '' },
      ],
    },
  }],
  ['MachineConfigPool', {
    apiVersion: MC, kind: 'MachineConfigPool',
    metadata: { name: 'master' },
    spec: {
      machineConfigSelector: { matchExpressions: [{ key: 'machineconfiguration.openshift.io/role', operator: 'In', values: ['master'] }] },
      nodeSelector: { matchLabels: { 'node-role.kubernetes.io/master': '' } },
      maxUnavailable: '10%',
    },
  }],
  ['MachineConfig', {
    apiVersion: MC, kind: 'MachineConfig',
    metadata: { name: '00-worker', labels: { 'machineconfiguration.openshift.io/role': 'worker' }, annotations: { 'machineconfiguration.openshift.io/generated-by-controller-version': 'c470febe19e3b004fb99baa6679e7597f50554c5' } },
    spec: {
      osImageURL: '',
      config: {
        ignition: { version: '3.1.0' },
        storage: { files: [{ path: '/etc/kubernetes/kubelet.conf', mode: 420, overwrite: true, contents: { source: 'data:,x' }, user: { name: 'root' } }] },
        systemd: { units: [{ name: 'kubelet.service', enabled: true, contents: '[Unit]\n', dropins: [{ name: '10-mco.conf', contents: '' }] }] },
      },
      fips: false, kernelArguments: null, kernelType: '', extensions: null,
    },
  }],
  ['MachineConfig', {
    apiVersion: MC, kind: 'MachineConfig',
    metadata: { name: '99-worker-ssh', labels: { 'machineconfiguration.openshift.io/role': 'worker' } },
    spec: { config: { ignition: { version: '3.1.0' }, passwd: { users: [{ name: 'core', sshAuthorizedKeys: ['ssh-ed25519 AAAA core@example'] }] } } },
  }],
  ['MachineConfig', {
    apiVersion: MC, kind: 'MachineConfig',
    metadata: { name: '99-worker-mtu' },
    spec: { config: { ignition: { version: '2.2.0' }, storage: { files: [{ filesystem: 'root', path: '/etc/mtu', mode: 420, contents: { source: 'data:,9000' } }] } } },
  }],
  ['MachineConfig', {
    apiVersion: MC, kind: 'MachineConfig',
    metadata: { name: 'rendered-worker-98a743e40098703869e9a8e0083f4f4a' },
    spec: { osImageURL: OS_IMAGE, config: { ignition: { version: '3.1.0' } }, kernelArguments: ['nosmt'], extensions: [], fips: false, kernelType: 'default' },
  }],
  ['ControllerConfig', {
    apiVersion: MC, kind: 'ControllerConfig',
    metadata: { name: 'machine-config-controller' },
    spec: {
      additionalTrustBundle: null, cloudProviderConfig: '', clusterDNSIP: '172.30.0.10', images: { machineConfigOperator: 'quay.io/x/mco@sha256:00' },
      infra: { apiVersion: 'config.openshift.io/v1', kind: 'Infrastructure', spec: { platformSpec: { type: 'None' } }, status: { platform: 'None' } },
      kubeAPIServerServingCAData: 'LS0tLS1=', osImageURL: OS_IMAGE, proxy: null, releaseImage: 'quay.io/openshift-release-dev/ocp-release@sha256:11', rootCAData: 'LS0tLS1=',
      pullSecret: { namespace: 'openshift-config', name: 'pull-secret' },
    },
    status: { observedGeneration: 1, conditions: [{ type: 'TemplateControllerCompleted', status: 'True', lastTransitionTime: '2021-01-22T10:31:00Z' }] },
  }],
];

test('manifests: the three MCO CRDs, the ClusterOperator CRD and the operator namespace parse, in install order', () => {
  const kinds = loadManifests().map((m) => `${(m as { kind: string }).kind}/${(m as Crd).metadata.name}`);
  assert.deepEqual(kinds, [
    'CustomResourceDefinition/clusteroperators.config.openshift.io',
    'Namespace/openshift-machine-config-operator',
    'CustomResourceDefinition/controllerconfigs.machineconfiguration.openshift.io',
    'CustomResourceDefinition/machineconfigs.machineconfiguration.openshift.io',
    'CustomResourceDefinition/machineconfigpools.machineconfiguration.openshift.io',
  ]);
  assert.equal(crds.length, 4);
});

test('manifests: names, scope, short names and subresources are those of the real CRDs', () => {
  for (const c of crds) {
    assert.equal(c.metadata.name, `${c.spec.names.plural}.${c.spec.group}`);
    assert.equal(c.spec.group, c.spec.names.kind === 'ClusterOperator' ? 'config.openshift.io' : 'machineconfiguration.openshift.io');
    assert.equal(c.spec.scope, 'Cluster');
    assert.deepEqual(c.spec.versions.map((v) => [v.name, v.served, v.storage]), [['v1', true, true]]);
  }
  assert.deepEqual(crd('MachineConfig').spec.names.shortNames, ['mc']);
  assert.deepEqual(crd('MachineConfigPool').spec.names.shortNames, ['mcp']);
  assert.deepEqual(crd('ClusterOperator').spec.names.shortNames, ['co']);
  assert.equal(crd('ControllerConfig').spec.names.shortNames, undefined);
  assert.equal(crd('MachineConfig').spec.versions[0]!.subresources, undefined);
  assert.deepEqual(crd('MachineConfigPool').spec.versions[0]!.subresources, { status: {} });
  assert.deepEqual(crd('ControllerConfig').spec.versions[0]!.subresources, { status: {} });
});

test('manifests: printer columns are the ones `oc get mc` and `oc get mcp` print', () => {
  const columns = (kind: string) => crd(kind).spec.versions[0]!.additionalPrinterColumns!.map((c) => `${c.name} ${c.type} ${c.jsonPath}`);
  assert.deepEqual(columns('MachineConfig'), [
    'GeneratedByController string .metadata.annotations.machineconfiguration\\.openshift\\.io/generated-by-controller-version',
    'IgnitionVersion string .spec.config.ignition.version',
    'Age date .metadata.creationTimestamp',
  ]);
  assert.deepEqual(columns('MachineConfigPool'), [
    'Config string .status.configuration.name',
    'Updated string .status.conditions[?(@.type=="Updated")].status',
    'Updating string .status.conditions[?(@.type=="Updating")].status',
    'Degraded string .status.conditions[?(@.type=="Degraded")].status',
    'MachineCount number .status.machineCount',
    'ReadyMachineCount number .status.readyMachineCount',
    'UpdatedMachineCount number .status.updatedMachineCount',
    'DegradedMachineCount number .status.degradedMachineCount',
    'Age date .metadata.creationTimestamp',
  ]);
});

test('manifests: every schema is structural, as a real apiserver requires', () => {
  for (const c of crds) {
    const root = c.spec.versions[0]!.schema.openAPIV3Schema;
    assert.deepEqual(structuralViolations(root, c.spec.names.kind, []), [], c.spec.names.kind);
    assert.deepEqual((root.properties as Record<string, unknown>).metadata, { type: 'object' });
  }
});

test('seed objects validate against the shipped schemas and survive pruning unchanged', () => {
  for (const [kind, obj] of seedObjects) {
    const name = (obj as Crd).metadata.name;
    assert.deepEqual(validateObject(schemaOf(kind), obj), [], `${kind} ${name}`);
    assert.deepEqual(pruneUnknownFields(schemaOf(kind), obj), obj, `${kind} ${name} lost fields to pruning`);
    assert.deepEqual(applyDefaults(schemaOf(kind), obj), obj, `${kind} ${name} changed by defaulting`);
  }
});

test('ajv, as an independent validator, agrees with ours on the seed objects and on broken ones', () => {
  // ajv is CommonJS; its class is the module's default export.
  const Ajv = createRequire(import.meta.url)('ajv').default as new (opts: object) => { compile(s: object): ((d: unknown) => boolean) & { errors?: unknown } };
  const ajv = new Ajv({ strict: false, validateFormats: false, allErrors: true });
  const broken: Array<[string, object]> = [
    ['MachineConfigPool', { apiVersion: MC, kind: 'MachineConfigPool', metadata: { name: 'w' }, spec: { paused: 'yes' } }],
    ['MachineConfigPool', { apiVersion: MC, kind: 'MachineConfigPool', metadata: { name: 'w' }, spec: { maxUnavailable: true } }],
    ['MachineConfigPool', { apiVersion: MC, kind: 'MachineConfigPool', metadata: { name: 'w' } }],
    ['MachineConfig', { apiVersion: MC, kind: 'MachineConfig', metadata: { name: 'x' }, spec: { config: { passwd: {} } } }],
    ['MachineConfig', { apiVersion: MC, kind: 'MachineConfig', metadata: { name: 'x' }, spec: { config: { ignition: { version: 3 } } } }],
    ['MachineConfig', { apiVersion: MC, kind: 'MachineConfig', metadata: { name: 'x' }, spec: { kernelArguments: 'nosmt' } }],
    ['ControllerConfig', { apiVersion: MC, kind: 'ControllerConfig', metadata: { name: 'c' }, spec: { osImageURL: OS_IMAGE } }],
  ];
  for (const [kind, obj] of [...seedObjects, ...broken]) {
    const ours = validateObject(schemaOf(kind), obj).length === 0;
    const validate = ajv.compile(schemaOf(kind));
    assert.equal(ours, validate(obj), `${kind} ${JSON.stringify(obj)}: ours ${ours}, ajv ${JSON.stringify(validate.errors)}`);
  }
  assert.equal(broken.filter(([kind, obj]) => validateObject(schemaOf(kind), obj).length === 0).length, 0);
});

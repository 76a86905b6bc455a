import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadBuiltinCrds } from './crds.js';
import { applyDefaults, pruneUnknownFields, unknownFields, validateObject } from './schema.js';

type Crd = { spec: { names: { kind: string }; versions: Array<{ schema: { openAPIV3Schema: object } }> } };
const schemaOf = (kind: string): object =>
  (loadBuiltinCrds() as Crd[]).find((c) => c.spec.names.kind === kind)!.spec.versions[0]!.schema.openAPIV3Schema;
const pool = (spec: object) => ({ apiVersion: 'machineconfiguration.openshift.io/v1', kind: 'MachineConfigPool', metadata: { name: 'worker' }, spec });
const mc = (spec: object) => ({ apiVersion: 'machineconfiguration.openshift.io/v1', kind: 'MachineConfig', metadata: { name: '99-x' }, spec });

test('validateObject() words a wrong type as kube-apiserver does, with the field path', () => {
  assert.deepEqual(validateObject(schemaOf('MachineConfigPool'), pool({ paused: 'string' })), [
    { type: 'FieldValueTypeInvalid', field: 'spec.paused', message: 'Invalid value: "string": spec.paused in body must be of type boolean: "string"' },
  ]);
  assert.deepEqual(validateObject(schemaOf('MachineConfigPool'), pool({ maxUnavailable: true })), [
    { type: 'FieldValueTypeInvalid', field: 'spec.maxUnavailable', message: 'Invalid value: "boolean": spec.maxUnavailable in body must be of type integer,string: "boolean"' },
  ]);
  assert.deepEqual(validateObject(schemaOf('MachineConfig'), mc({ config: { ignition: { version: 3.1 } } })), [
    { type: 'FieldValueTypeInvalid', field: 'spec.config.ignition.version', message: 'Invalid value: "number": spec.config.ignition.version in body must be of type string: "number"' },
  ]);
});

test('validateObject() reports missing required fields, list items by index and map values by key', () => {
  const errors = validateObject(schemaOf('MachineConfigPool'), {
    apiVersion: 'machineconfiguration.openshift.io/v1', kind: 'MachineConfigPool', metadata: { name: 'w' },
    status: { conditions: [{ type: 'Updated', status: true }] },
  });
  assert.deepEqual(errors, [
    { type: 'FieldValueTypeInvalid', field: 'status.conditions[0].status', message: 'Invalid value: "boolean": status.conditions[0].status in body must be of type string: "boolean"' },
    { type: 'FieldValueRequired', field: 'spec', message: 'Required value' },
  ]);
  const selector = validateObject(schemaOf('MachineConfigPool'), pool({ nodeSelector: { matchLabels: { foo: 1 }, matchExpressions: [{ key: 'a' }] } }));
  assert.deepEqual(selector.map((e) => `${e.field}: ${e.message}`), [
    'spec.nodeSelector.matchExpressions[0].operator: Required value',
    'spec.nodeSelector.matchLabels.foo: Invalid value: "integer": spec.nodeSelector.matchLabels.foo in body must be of type string: "integer"',
  ]);
  assert.deepEqual(validateObject(schemaOf('MachineConfig'), mc({ config: {} })), [
    { type: 'FieldValueRequired', field: 'spec.config.ignition', message: 'Required value' },
  ]);
});

test('validateObject() accepts null only where the schema says nullable', () => {
  assert.deepEqual(validateObject(schemaOf('MachineConfig'), mc({ kernelArguments: null, extensions: null })), []);
  assert.deepEqual(validateObject(schemaOf('MachineConfig'), mc({ fips: null })).map((e) => e.message), [
    'Invalid value: "null": spec.fips in body must be of type boolean: "null"',
  ]);
});

test('validateObject() applies enum, pattern, bounds, lengths and item counts with kube wording', () => {
  const schema = {
    type: 'object',
    properties: {
      mode: { type: 'string', enum: ['Auto', 'Manual'] },
      name: { type: 'string', pattern: '^[a-z]+$', maxLength: 5, minLength: 2 },
      count: { type: 'integer', minimum: 1, maximum: 3 },
      ratio: { type: 'number', exclusiveMaximum: true, maximum: 1 },
      tags: { type: 'array', items: { type: 'string' }, maxItems: 2, uniqueItems: true },
      few: { type: 'array', items: { type: 'string' }, minItems: 2 },
    },
  };
  const errors = validateObject(schema, { mode: 'auto', name: 'Abcdef', count: 0, ratio: 1, tags: ['a', 'a', 'b'], few: ['x'] });
  assert.deepEqual(errors.map((e) => `${e.type} ${e.field}: ${e.message}`), [
    'FieldValueNotSupported mode: Unsupported value: "auto": supported values: "Auto", "Manual"',
    'FieldValueTooLong name: Too long: may not be more than 5 bytes',
    `FieldValueInvalid name: Invalid value: "Abcdef": name in body should match '^[a-z]+$'`,
    'FieldValueInvalid count: Invalid value: 0: count in body should be greater than or equal to 1',
    'FieldValueInvalid ratio: Invalid value: 1: ratio in body should be less than 1',
    'FieldValueTooMany tags: Too many: 3: must have at most 2 items',
    `FieldValueInvalid tags: Invalid value: "": tags in body shouldn't contain duplicates`,
    'FieldValueInvalid few: Invalid value: 1: few in body should have at least 2 items',
  ]);
  assert.deepEqual(validateObject(schema, { mode: 'Auto', name: 'ab', count: 3, ratio: 0.5, tags: ['a'], few: ['x', 'y'] }), []);
});

test('pruneUnknownFields() drops undeclared fields but keeps preserve-unknown subtrees and metadata', () => {
  const input = mc({
    osImageURL: 'quay.io/x@sha256:1',
    bogus: 1,
    config: {
      ignition: { version: '3.1.0', futureField: true, timeouts: { httpTotal: 5, stray: 1 } },
      passwd: { users: [{ name: 'core', passwordHash: 'x' }] },
      storage: { files: [{ path: '/a', extra: 'kept' }], luks: [{ name: 'kept too' }] },
      kernelArguments: 'unknown in config is kept: config preserves unknown fields',
    },
  });
  const withMeta = { ...input, metadata: { name: '99-x', labels: { a: 'b' }, whatever: 1 }, status: { x: 1 } };
  assert.deepEqual(pruneUnknownFields(schemaOf('MachineConfig'), withMeta), {
    apiVersion: 'machineconfiguration.openshift.io/v1', kind: 'MachineConfig', metadata: { name: '99-x', labels: { a: 'b' }, whatever: 1 },
    spec: {
      osImageURL: 'quay.io/x@sha256:1',
      config: {
        ignition: { version: '3.1.0', futureField: true, timeouts: { httpTotal: 5 } },
        passwd: { users: [{ name: 'core' }] },
        storage: { files: [{ path: '/a', extra: 'kept' }], luks: [{ name: 'kept too' }] },
        kernelArguments: 'unknown in config is kept: config preserves unknown fields',
      },
    },
  });
  assert.deepEqual(unknownFields(schemaOf('MachineConfig'), withMeta), [
    'spec.bogus',
    'spec.config.ignition.timeouts.stray',
    'spec.config.passwd.users[0].passwordHash',
    'status',
  ]);
  assert.equal((withMeta.spec as { bogus?: number }).bogus, 1, 'the input must not be modified');
});

test('applyDefaults() fills absent fields at every depth and drops stray nulls, without touching the input', () => {
  const schema = {
    type: 'object',
    properties: {
      spec: {
        type: 'object',
        default: {},
        properties: {
          maxUnavailable: { 'x-kubernetes-int-or-string': true, default: 1 },
          paused: { type: 'boolean', default: false },
          note: { type: 'string' },
          keep: { type: 'string', nullable: true, default: 'x' },
          rules: { type: 'array', items: { type: 'object', properties: { op: { type: 'string', default: 'In' } } } },
          byName: { type: 'object', additionalProperties: { type: 'object', properties: { on: { type: 'boolean', default: true } } } },
        },
      },
    },
  };
  assert.deepEqual(applyDefaults(schema, {}), { spec: { maxUnavailable: 1, paused: false, keep: 'x' } });
  const input = { spec: { paused: null, note: null, keep: null, rules: [{}, { op: 'NotIn' }], byName: { a: {} } } };
  assert.deepEqual(applyDefaults(schema, input), {
    spec: { paused: false, keep: null, maxUnavailable: 1, rules: [{ op: 'In' }, { op: 'NotIn' }], byName: { a: { on: true } } },
  });
  assert.equal(input.spec.paused, null, 'the input must not be modified');
});

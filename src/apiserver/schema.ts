/**
 * CRD `openAPIV3Schema` handling for custom resources, in the order the real apiserver runs
 * it on a create or update: defaulting (with non-nullable nulls dropped), pruning of fields
 * the schema does not know, then validation. Errors carry the field paths and wording of
 * kube-apiserver (kube-openapi's messages, `in body`), so `kubectl` prints what a real
 * cluster prints, e.g.
 * `spec.paused: Invalid value: "string": spec.paused in body must be of type boolean: "string"`.
 *
 * Only structural schemas are handled (the kind `apiextensions.k8s.io/v1` accepts): every
 * node has a `type`, or `x-kubernetes-int-or-string`, or `x-kubernetes-preserve-unknown-fields`.
 * Value validations supported: enum, pattern, min/maxLength, minimum/maximum (exclusive too),
 * min/maxItems, uniqueItems, required, nullable. Not supported: allOf/anyOf/oneOf/not beyond
 * the int-or-string pattern, CEL rules (`x-kubernetes-validations`), formats.
 */
import { deepEqual, isPlainObject } from './objects.js';

export interface FieldError {
  type:
    | 'FieldValueRequired'
    | 'FieldValueInvalid'
    | 'FieldValueNotSupported'
    | 'FieldValueTypeInvalid'
    | 'FieldValueForbidden'
    | 'FieldValueTooLong'
    | 'FieldValueTooMany';
  /** The path as kube prints it: `spec.config.ignition.version`, `spec.x[0].y`, map values `spec.m.key`. */
  field: string;
  /** The part after `<field>: `, e.g. `Required value`. */
  message: string;
}

/** The subset of JSONSchemaProps a structural schema uses. */
interface Schema {
  type?: 'object' | 'array' | 'string' | 'integer' | 'number' | 'boolean';
  properties?: Record<string, Schema>;
  additionalProperties?: Schema | boolean;
  items?: Schema;
  required?: string[];
  nullable?: boolean;
  default?: unknown;
  enum?: unknown[];
  pattern?: string;
  minLength?: number;
  maxLength?: number;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: boolean;
  exclusiveMaximum?: boolean;
  minItems?: number;
  maxItems?: number;
  uniqueItems?: boolean;
  'x-kubernetes-preserve-unknown-fields'?: boolean;
  'x-kubernetes-int-or-string'?: boolean;
  'x-kubernetes-embedded-resource'?: boolean;
}

type JsonObject = Record<string, unknown>;


/** The JSON type name of a value, as kube-openapi names it in type errors. */
function jsonType(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  return typeof v;
}

function child(path: string, name: string): string {
  return path ? `${path}.${name}` : name;
}

/** A value as k8s field errors print it: strings quoted, numbers and booleans bare. */
function formatValue(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (v === null || v === undefined) return 'null';
  return JSON.stringify(v);
}

function invalid(field: string, value: unknown, detail: string): FieldError {
  return { type: 'FieldValueInvalid', field, message: `Invalid value: ${formatValue(value)}: ${detail}` };
}

function typeAllowed(schema: Schema, actual: string): string | undefined {
  if (schema['x-kubernetes-int-or-string']) return actual === 'integer' || actual === 'string' ? undefined : 'integer,string';
  if (!schema.type) return undefined;
  if (schema.type === actual || (schema.type === 'number' && actual === 'integer')) return undefined;
  return schema.type;
}

function validateNode(schema: Schema, value: unknown, path: string, errors: FieldError[]): void {
  const actual = jsonType(value);
  if (value === null) {
    if (schema.nullable || (!schema.type && !schema['x-kubernetes-int-or-string'])) return;
  }
  const expected = typeAllowed(schema, actual);
  if (expected) {
    errors.push({
      type: 'FieldValueTypeInvalid',
      field: path,
      message: `Invalid value: "${actual}": ${path} in body must be of type ${expected}: "${actual}"`,
    });
    return;
  }
  if (value === null) return;
  if (schema.enum && !schema.enum.some((allowed) => deepEqual(allowed, value))) {
    const supported = schema.enum.map((e) => (typeof e === 'string' ? JSON.stringify(e) : JSON.stringify(JSON.stringify(e))));
    errors.push({ type: 'FieldValueNotSupported', field: path, message: `Unsupported value: ${formatValue(value)}: supported values: ${supported.join(', ')}` });
  }
  if (typeof value === 'string') validateString(schema, value, path, errors);
  else if (typeof value === 'number') validateNumber(schema, value, path, errors);
  else if (Array.isArray(value)) validateArray(schema, value, path, errors);
  else if (isPlainObject(value)) validateFields(schema, value, path, errors);
}

function validateString(schema: Schema, value: string, path: string, errors: FieldError[]): void {
  const length = Buffer.byteLength(value);
  if (schema.maxLength !== undefined && length > schema.maxLength) {
    errors.push({ type: 'FieldValueTooLong', field: path, message: `Too long: may not be more than ${schema.maxLength} bytes` });
  }
  if (schema.minLength !== undefined && [...value].length < schema.minLength) {
    errors.push(invalid(path, value, `${path} in body should be at least ${schema.minLength} chars long`));
  }
  if (schema.pattern !== undefined && !new RegExp(schema.pattern, 'u').test(value)) {
    errors.push(invalid(path, value, `${path} in body should match '${schema.pattern}'`));
  }
}

function validateNumber(schema: Schema, value: number, path: string, errors: FieldError[]): void {
  if (schema.maximum !== undefined && (schema.exclusiveMaximum ? value >= schema.maximum : value > schema.maximum)) {
    const bound = schema.exclusiveMaximum ? 'less than' : 'less than or equal to';
    errors.push(invalid(path, value, `${path} in body should be ${bound} ${schema.maximum}`));
  }
  if (schema.minimum !== undefined && (schema.exclusiveMinimum ? value <= schema.minimum : value < schema.minimum)) {
    const bound = schema.exclusiveMinimum ? 'greater than' : 'greater than or equal to';
    errors.push(invalid(path, value, `${path} in body should be ${bound} ${schema.minimum}`));
  }
}

function validateArray(schema: Schema, value: unknown[], path: string, errors: FieldError[]): void {
  if (schema.items) value.forEach((item, i) => validateNode(schema.items!, item, `${path}[${i}]`, errors));
  if (schema.minItems !== undefined && value.length < schema.minItems) {
    errors.push(invalid(path, value.length, `${path} in body should have at least ${schema.minItems} items`));
  }
  if (schema.maxItems !== undefined && value.length > schema.maxItems) {
    errors.push({ type: 'FieldValueTooMany', field: path, message: `Too many: ${value.length}: must have at most ${schema.maxItems} items` });
  }
  if (schema.uniqueItems && value.some((a, i) => value.slice(i + 1).some((b) => deepEqual(a, b)))) {
    errors.push(invalid(path, '', `${path} in body shouldn't contain duplicates`));
  }
}

function validateFields(schema: Schema, value: JsonObject, path: string, errors: FieldError[]): void {
  const properties = schema.properties ?? {};
  for (const [name, propSchema] of Object.entries(properties)) {
    if (name in value) validateNode(propSchema, value[name], child(path, name), errors);
  }
  if (isPlainObject(schema.additionalProperties)) {
    for (const [key, v] of Object.entries(value)) {
      if (!(key in properties)) validateNode(schema.additionalProperties, v, child(path, key), errors);
    }
  }
  for (const name of schema.required ?? []) {
    if (!(name in value)) errors.push({ type: 'FieldValueRequired', field: child(path, name), message: 'Required value' });
  }
}

/** Validates a (defaulted, pruned) object against a structural schema; `[]` when valid. */
export function validateObject(schema: object, obj: unknown): FieldError[] {
  const errors: FieldError[] = [];
  validateNode(schema as Schema, obj, '', errors);
  return errors;
}

const TYPE_META = ['apiVersion', 'kind', 'metadata'];

/** Walks a value, dropping what the schema does not declare; `onPruned` hears each path dropped. */
function pruneNode(schema: Schema, value: unknown, path: string, isRoot: boolean, onPruned: (path: string) => void): unknown {
  if (Array.isArray(value)) {
    return schema.items ? value.map((item, i) => pruneNode(schema.items!, item, `${path}[${i}]`, false, onPruned)) : value;
  }
  if (!isPlainObject(value)) return value;
  const properties = schema.properties ?? {};
  const keepsUnknown = schema['x-kubernetes-preserve-unknown-fields'] === true;
  // apiVersion, kind and metadata are the API machinery's at the root and in embedded objects.
  const keepsTypeMeta = isRoot || schema['x-kubernetes-embedded-resource'] === true;
  const out: JsonObject = {};
  for (const [key, v] of Object.entries(value)) {
    const known = properties[key];
    if (keepsTypeMeta && TYPE_META.includes(key)) out[key] = v;
    else if (known) out[key] = pruneNode(known, v, child(path, key), false, onPruned);
    else if (isPlainObject(schema.additionalProperties)) out[key] = pruneNode(schema.additionalProperties, v, child(path, key), false, onPruned);
    else if (keepsUnknown || schema.additionalProperties === true) out[key] = v;
    else onPruned(child(path, key));
  }
  return out;
}

/**
 * A copy of `obj` without the fields the schema does not declare, as the apiserver stores
 * custom resources. Honours `x-kubernetes-preserve-unknown-fields` (the subtree is kept as
 * given) and `x-kubernetes-embedded-resource`; never prunes apiVersion, kind or metadata.
 */
export function pruneUnknownFields(schema: object, obj: unknown): unknown {
  return pruneNode(schema as Schema, obj, '', true, () => {});
}

/**
 * The paths `pruneUnknownFields` would drop (`spec.foo`, `spec.list[0].bar`), in document
 * order: what `fieldValidation=Strict` rejects as `unknown field "spec.foo"`.
 */
export function unknownFields(schema: object, obj: unknown): string[] {
  const found: string[] = [];
  pruneNode(schema as Schema, obj, '', true, (path) => found.push(path));
  return found;
}

function defaultNode(schema: Schema, value: unknown): void {
  if (Array.isArray(value)) {
    if (schema.items) for (const item of value) defaultNode(schema.items, item);
    return;
  }
  if (!isPlainObject(value)) return;
  for (const [name, propSchema] of Object.entries(schema.properties ?? {})) {
    const missing = !(name in value);
    const strayNull = value[name] === null && !propSchema.nullable;
    if ((missing || strayNull) && propSchema.default !== undefined) value[name] = structuredClone(propSchema.default);
    else if (strayNull) delete value[name];
    if (name in value) defaultNode(propSchema, value[name]);
  }
  if (isPlainObject(schema.additionalProperties)) {
    const properties = schema.properties ?? {};
    for (const [key, v] of Object.entries(value)) if (!(key in properties)) defaultNode(schema.additionalProperties, v);
  }
}

/**
 * A copy of `obj` with the schema's `default:` values filled in where a field is absent (or
 * null without `nullable`), at every depth, defaults' own sub-fields included. A null without
 * a default on a non-nullable field is dropped, as the apiserver does before validating.
 */
export function applyDefaults(schema: object, obj: unknown): unknown {
  const copy = structuredClone(obj);
  defaultNode(schema as Schema, copy);
  return copy;
}

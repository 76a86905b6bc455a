/**
 * The three patch types `kubectl` and the client library send: JSON merge patch (RFC 7386),
 * JSON patch (RFC 6902) and strategic merge patch for the built-in kinds we serve. Pure
 * functions on parsed JSON; inputs are never modified. Failures are `PatchError`s carrying
 * the HTTP status and message the real apiserver answers with.
 */
import { deepEqual, isPlainObject } from './objects.js';

type Json = unknown;
type JsonObject = Record<string, unknown>;

/** What the real apiserver says when a JSON patch cannot be applied (it hides the detail). */
const REJECTED = 'the server rejected our request due to an error in our request';

/**
 * A patch the server refuses. `message` is what the client is told; `cause`, when given,
 * says precisely what was wrong (for the server's log: the real apiserver's 422 for a
 * failed JSON-patch operation does not tell the client).
 */
export class PatchError extends Error {
  constructor(message: string, readonly status: 400 | 409 | 422, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'PatchError';
  }
}


/** RFC 7386: objects merge recursively, `null` removes a key, anything else replaces. */
export function applyMergePatch(target: Json, patch: Json): Json {
  if (!isPlainObject(patch)) return structuredClone(patch);
  const out: JsonObject = isPlainObject(target) ? { ...target } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete out[key];
    else out[key] = applyMergePatch(out[key], value);
  }
  return out;
}

// ---------------------------------------------------------------------------------------
// JSON patch (RFC 6902)

interface Operation {
  op: 'add' | 'remove' | 'replace' | 'move' | 'copy' | 'test';
  path: string;
  from?: string;
  value?: Json;
}

/** Real servers refuse longer patches (apiserver's maxJSONPatchOperations). */
const MAX_OPERATIONS = 10000;

function decodeOperations(operations: Json): Operation[] {
  if (!Array.isArray(operations)) {
    throw new PatchError(`json: cannot unmarshal ${isPlainObject(operations) ? 'object' : typeof operations} into Go value of type jsonpatch.Patch`, 400);
  }
  if (operations.length > MAX_OPERATIONS) {
    throw new PatchError(`The allowed maximum operations in a JSON patch is ${MAX_OPERATIONS}, got ${operations.length}`, 422);
  }
  return operations.map((op, i) => {
    if (!isPlainObject(op) || typeof op.op !== 'string' || typeof op.path !== 'string') {
      throw new PatchError(REJECTED, 422, { cause: new Error(`operation ${i} needs string "op" and "path": ${JSON.stringify(op)}`) });
    }
    if (!['add', 'remove', 'replace', 'move', 'copy', 'test'].includes(op.op)) {
      throw new PatchError(REJECTED, 422, { cause: new Error(`Unexpected kind: ${op.op}`) });
    }
    if ((op.op === 'move' || op.op === 'copy') && typeof op.from !== 'string') {
      throw new PatchError(REJECTED, 422, { cause: new Error(`operation ${i} (${op.op}) needs a string "from"`) });
    }
    if (['add', 'replace', 'test'].includes(op.op) && !('value' in op)) {
      throw new PatchError(REJECTED, 422, { cause: new Error(`operation ${i} (${op.op}) needs a "value"`) });
    }
    return op as unknown as Operation;
  });
}

/** `/a/b~1c` → `['a', 'b/c']` (RFC 6901). */
function parsePointer(pointer: string): string[] {
  if (pointer === '') return [];
  if (!pointer.startsWith('/')) throw new Error(`JSON pointer must start with "/": ${JSON.stringify(pointer)}`);
  const tokens = pointer.slice(1).split('/').map((t) => t.replace(/~1/g, '/').replace(/~0/g, '~'));
  // Only an object's own members are addressable: never its prototype.
  if (tokens.includes('__proto__')) throw new Error(`path ${pointer} does not exist: no "__proto__"`);
  return tokens;
}

function arrayIndex(token: string, length: number, allowEnd: boolean): number {
  if (allowEnd && token === '-') return length;
  if (!/^(0|[1-9][0-9]*)$/.test(token)) throw new Error(`invalid array index ${JSON.stringify(token)}`);
  const index = Number(token);
  if (index > length || (!allowEnd && index === length)) throw new Error(`array index ${index} out of bounds (length ${length})`);
  return index;
}

/** The container holding the pointer's last token, and that token. */
function locate(doc: Json, tokens: string[], pointer: string): { parent: Json; key: string } {
  let node = doc;
  for (const token of tokens.slice(0, -1)) {
    if (Array.isArray(node)) node = node[arrayIndex(token, node.length, false)];
    else if (isPlainObject(node) && Object.hasOwn(node, token)) node = node[token];
    else throw new Error(`path ${pointer} does not exist: no ${JSON.stringify(token)}`);
  }
  return { parent: node, key: tokens.at(-1)! };
}

function getAt(doc: Json, pointer: string): Json {
  const tokens = parsePointer(pointer);
  if (tokens.length === 0) return doc;
  const { parent, key } = locate(doc, tokens, pointer);
  if (Array.isArray(parent)) return parent[arrayIndex(key, parent.length, false)];
  if (isPlainObject(parent) && Object.hasOwn(parent, key)) return parent[key];
  throw new Error(`path ${pointer} does not exist`);
}

function removeAt(doc: Json, pointer: string): Json {
  const tokens = parsePointer(pointer);
  if (tokens.length === 0) throw new Error('cannot remove the whole document');
  const { parent, key } = locate(doc, tokens, pointer);
  if (Array.isArray(parent)) return parent.splice(arrayIndex(key, parent.length, false), 1)[0];
  if (isPlainObject(parent) && Object.hasOwn(parent, key)) {
    const old = parent[key];
    delete parent[key];
    return old;
  }
  throw new Error(`path ${pointer} does not exist: nothing to remove`);
}

/** Adds (or, with `replace`, overwrites an existing member); returns the new document. */
function putAt(doc: Json, pointer: string, value: Json, replace: boolean): Json {
  const tokens = parsePointer(pointer);
  if (tokens.length === 0) return value;
  const { parent, key } = locate(doc, tokens, pointer);
  if (Array.isArray(parent)) {
    const index = arrayIndex(key, parent.length, !replace);
    parent.splice(index, replace ? 1 : 0, value);
  } else if (isPlainObject(parent)) {
    if (replace && !Object.hasOwn(parent, key)) throw new Error(`path ${pointer} does not exist: nothing to replace`);
    parent[key] = value;
  } else {
    throw new Error(`path ${pointer}: parent is not an object or array`);
  }
  return doc;
}

function applyOperation(doc: Json, op: Operation): Json {
  switch (op.op) {
    case 'add':
      return putAt(doc, op.path, structuredClone(op.value), false);
    case 'replace':
      return putAt(doc, op.path, structuredClone(op.value), true);
    case 'remove':
      removeAt(doc, op.path);
      return doc;
    case 'move': {
      if (op.path.startsWith(`${op.from}/`)) throw new Error(`cannot move ${op.from} into its own child ${op.path}`);
      const value = removeAt(doc, op.from!);
      return putAt(doc, op.path, value, false);
    }
    case 'copy':
      return putAt(doc, op.path, structuredClone(getAt(doc, op.from!)), false);
    case 'test':
      if (!deepEqual(getAt(doc, op.path), op.value)) throw new Error(`testing value ${op.path} failed`);
      return doc;
  }
}

/**
 * RFC 6902 operations applied in order, all or nothing. A body that is not an array of
 * operations is a 400; an operation that cannot apply (missing path, failed `test`) is the
 * real apiserver's 422 with its generic message, the precise reason in `cause`.
 */
export function applyJsonPatch(target: Json, operations: Json): Json {
  const ops = decodeOperations(operations);
  let doc = structuredClone(target);
  ops.forEach((op, i) => {
    try {
      doc = applyOperation(doc, op);
    } catch (err) {
      throw new PatchError(REJECTED, 422, { cause: new Error(`operation ${i} (${op.op} ${op.path}): ${(err as Error).message}`) });
    }
  });
  return doc;
}

// ---------------------------------------------------------------------------------------
// Strategic merge patch

/** How a list field merges under SMP: by a key field of its elements, or as a set of scalars. */
export type ListStrategy = { mergeKey: string } | 'set';

/** Keyed lists of a PodSpec (k8s.io/api core/v1 `patchMergeKey` tags), relative to the PodSpec. */
const POD_SPEC_LISTS: Record<string, ListStrategy> = {
  containers: { mergeKey: 'name' },
  initContainers: { mergeKey: 'name' },
  ephemeralContainers: { mergeKey: 'name' },
  'containers.env': { mergeKey: 'name' },
  'containers.ports': { mergeKey: 'containerPort' },
  'containers.volumeMounts': { mergeKey: 'mountPath' },
  'containers.volumeDevices': { mergeKey: 'devicePath' },
  'initContainers.env': { mergeKey: 'name' },
  'initContainers.ports': { mergeKey: 'containerPort' },
  'initContainers.volumeMounts': { mergeKey: 'mountPath' },
  volumes: { mergeKey: 'name' },
  imagePullSecrets: { mergeKey: 'name' },
  hostAliases: { mergeKey: 'ip' },
};

function prefixed(prefix: string, lists: Record<string, ListStrategy>): Record<string, ListStrategy> {
  return Object.fromEntries(Object.entries(lists).map(([path, s]) => [`${prefix}.${path}`, s]));
}

/** Lists every kind's metadata has. */
const METADATA_LISTS: Record<string, ListStrategy> = {
  'metadata.finalizers': 'set',
  'metadata.ownerReferences': { mergeKey: 'uid' },
};

/** Per built-in kind, the list fields that do not simply replace; every other list is atomic. */
const KIND_LISTS: Record<string, Record<string, ListStrategy>> = {
  Pod: { ...prefixed('spec', POD_SPEC_LISTS), 'status.conditions': { mergeKey: 'type' }, 'status.podIPs': { mergeKey: 'ip' } },
  Deployment: {
    ...prefixed('spec.template.spec', POD_SPEC_LISTS),
    ...prefixed('spec.template', METADATA_LISTS),
    'status.conditions': { mergeKey: 'type' },
  },
  Node: {
    'spec.podCIDRs': 'set',
    'status.conditions': { mergeKey: 'type' },
    'status.addresses': { mergeKey: 'type' },
  },
  Namespace: { 'status.conditions': { mergeKey: 'type' } },
  CustomResourceDefinition: { 'spec.versions': { mergeKey: 'name' }, 'status.conditions': { mergeKey: 'type' } },
};

/** How a built-in kind's list at `path` (field names joined by dots, no indices) merges; undefined: atomic. */
export function builtinListStrategy(kind: string, path: string): ListStrategy | undefined {
  return KIND_LISTS[kind]?.[path] ?? METADATA_LISTS[path];
}

const DIRECTIVE = '$patch';
const RETAIN_KEYS = '$retainKeys';
const SET_ORDER_PREFIX = '$setElementOrder/';
const DELETE_FROM_PRIMITIVE_PREFIX = '$deleteFromPrimitiveList/';

interface SmpContext {
  lists: Record<string, ListStrategy>;
}

function strategyAt(ctx: SmpContext, path: string): ListStrategy | undefined {
  return ctx.lists[path] ?? METADATA_LISTS[path];
}

function mergeMap(ctx: SmpContext, target: Json, patch: JsonObject, path: string): Json {
  const directive = patch[DIRECTIVE];
  if (directive === 'replace') return stripDirectives(patch);
  if (directive === 'delete') return undefined;
  if (directive !== undefined && directive !== 'merge') {
    throw new PatchError(`unknown patch type: ${String(directive)} in map: ${JSON.stringify(patch)}`, 400);
  }
  const out: JsonObject = isPlainObject(target) ? { ...target } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (key === DIRECTIVE || key === RETAIN_KEYS || key.startsWith(SET_ORDER_PREFIX)) continue;
    if (key.startsWith(DELETE_FROM_PRIMITIVE_PREFIX)) {
      const field = key.slice(DELETE_FROM_PRIMITIVE_PREFIX.length);
      if (!Array.isArray(value)) throw new PatchError('invalid patch format of primitive list', 400);
      const current = out[field];
      if (Array.isArray(current)) out[field] = current.filter((item) => !value.some((v) => deepEqual(v, item)));
      continue;
    }
    const fieldPath = path ? `${path}.${key}` : key;
    if (value === null) {
      delete out[key];
      continue;
    }
    const merged = mergeValue(ctx, out[key], value, fieldPath);
    if (merged === undefined) delete out[key];
    else out[key] = merged;
  }
  const retain = patch[RETAIN_KEYS];
  if (retain !== undefined) {
    if (!Array.isArray(retain) || !retain.every((k) => typeof k === 'string')) throw new PatchError('invalid patch format of retainKeys', 400);
    const patched = Object.keys(patch).filter((k) => !k.startsWith('$'));
    if (!patched.every((k) => retain.includes(k))) throw new PatchError("patch content doesn't match retainKeys list", 422);
    for (const key of Object.keys(out)) if (!retain.includes(key)) delete out[key];
  }
  return out;
}

function mergeValue(ctx: SmpContext, target: Json, patch: Json, path: string): Json {
  if (isPlainObject(patch)) return mergeMap(ctx, target, patch, path);
  if (!Array.isArray(patch)) return patch;
  const strategy = strategyAt(ctx, path);
  if (!strategy) return stripDirectives(patch);
  if (patch.some(Array.isArray)) throw new PatchError('lists of lists are not supported', 422);
  if (strategy === 'set') {
    const out = Array.isArray(target) ? [...target] : [];
    for (const item of patch) if (!out.some((x) => deepEqual(x, item))) out.push(item);
    return out;
  }
  return mergeKeyedList(ctx, Array.isArray(target) ? target : [], patch, path, strategy.mergeKey);
}

function mergeKeyedList(ctx: SmpContext, target: Json[], patch: Json[], path: string, mergeKey: string): Json[] {
  // `{"$patch": "replace"}` as an element: the list becomes the other elements.
  if (patch.some((el) => isPlainObject(el) && el[DIRECTIVE] === 'replace')) {
    return patch.filter((el) => !(isPlainObject(el) && el[DIRECTIVE] === 'replace')).map(stripDirectives);
  }
  let out = [...target];
  for (const element of patch) {
    if (!isPlainObject(element)) throw new PatchError(`invalid patch: element of ${path} is not an object: ${JSON.stringify(element)}`, 400);
    if (!(mergeKey in element)) {
      throw new PatchError(`map: ${JSON.stringify(element)} does not contain declared merge key: ${mergeKey}`, 400);
    }
    const key = element[mergeKey];
    const index = out.findIndex((el) => isPlainObject(el) && deepEqual(el[mergeKey], key));
    if (element[DIRECTIVE] === 'delete') {
      out = out.filter((el) => !(isPlainObject(el) && deepEqual(el[mergeKey], key)));
    } else if (index >= 0) {
      out[index] = mergeMap(ctx, out[index], element, path);
    } else {
      out.push(mergeMap(ctx, undefined, element, path));
    }
  }
  return out;
}

/** Directive keys never reach the stored object. */
function stripDirectives(value: Json): Json {
  if (Array.isArray(value)) return value.map(stripDirectives);
  if (!isPlainObject(value)) return value;
  return Object.fromEntries(Object.entries(value).filter(([k]) => !k.startsWith('$')).map(([k, v]) => [k, stripDirectives(v)]));
}

/**
 * Strategic merge patch for a built-in kind: merge-patch semantics, plus lists merged by
 * their key where the Kubernetes types declare one (containers and env by name, conditions
 * and addresses by type, ownerReferences by uid, finalizers as a set), `$patch:
 * replace|delete|merge` in maps and list elements, `$retainKeys`, `$deleteFromPrimitiveList/…`;
 * `$setElementOrder/…` is accepted and ignored. Custom resources never come here: the server
 * answers 415 for them.
 */
export function applyStrategicMergePatch(target: Json, patch: Json, kind: string): Json {
  if (!isPlainObject(patch)) throw new PatchError('invalid JSON document', 400);
  const result = mergeMap({ lists: KIND_LISTS[kind] ?? {} }, structuredClone(target), patch, '');
  return result === undefined ? {} : result;
}

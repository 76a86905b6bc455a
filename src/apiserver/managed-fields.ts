/**
 * Field ownership (`metadata.managedFields`) and server-side apply, as kube-apiserver's field
 * manager (structured-merge-diff) keeps them. A field is a path of `f:<name>` (a map key),
 * `k:{"name":"x"}` (an item of a list keyed by its fields), `v:"x"` (a member of a set);
 * `fieldsV1` is the tree of such paths, `.` marking a node that is itself owned.
 *
 * - Update (create, update, patch): the writer takes the fields it added or changed; others
 *   lose those; removed fields leave every manager; a write that changes nothing changes
 *   nothing here either.
 * - Apply: the applier's set is exactly what it applied; a field another manager owns with a
 *   different value is a conflict (409, worded as kube) unless forced, when it changes hands;
 *   fields the applier applied before and no longer does are removed from the object unless
 *   someone else owns them; lists merge by `x-kubernetes-list-type` (`map` by its keys, `set`)
 *   or, for built-ins, by their strategic merge keys; other lists are atomic.
 * Pure functions over plain objects; the object API calls them on every write.
 */
import { ApiError } from './errors.js';
import { deepEqual, isPlainObject } from './objects.js';
import { builtinListStrategy, type ListStrategy } from './patch.js';

export interface ManagedFieldsEntry {
  manager: string;
  operation: 'Apply' | 'Update';
  apiVersion: string;
  time: string;
  fieldsType: 'FieldsV1';
  fieldsV1: FieldsV1;
  subresource?: string;
}
export interface FieldsV1 {
  [key: string]: FieldsV1;
}

/** What the field walk needs to know of a kind's shape. */
export interface FieldShape {
  /** The list at `path` (names joined by dots, no indices): keyed, a set, or undefined (atomic). */
  list(path: string): ListStrategy | undefined;
  /** Whether the object at `path` is a map (its node owned as `.`) rather than a struct. */
  isMap(path: string): boolean;
}

/** Built-in kinds' maps (string→value), the rest of their objects being structs. */
const BUILTIN_MAPS = new Set([
  'metadata.labels', 'metadata.annotations', 'data', 'binaryData', 'stringData', 'spec.selector.matchLabels', 'spec.nodeSelector',
  'spec.template.metadata.labels', 'spec.template.metadata.annotations', 'spec.template.spec.nodeSelector',
  'spec.template.spec.containers.resources.limits', 'spec.template.spec.containers.resources.requests',
  'spec.containers.resources.limits', 'spec.containers.resources.requests', 'status.capacity', 'status.allocatable',
]);

export function builtinShape(kind: string): FieldShape {
  return { list: (path) => builtinListStrategy(kind, path), isMap: (path) => BUILTIN_MAPS.has(path) };
}

interface SchemaNode {
  type?: string;
  properties?: Record<string, SchemaNode>;
  additionalProperties?: SchemaNode | boolean;
  items?: SchemaNode;
  'x-kubernetes-list-type'?: string;
  'x-kubernetes-list-map-keys'?: string[];
  'x-kubernetes-preserve-unknown-fields'?: boolean;
}

/** A custom resource's shape from its CRD schema; metadata lists as every kind has them. */
export function schemaShape(schema: object): FieldShape {
  const at = (path: string): SchemaNode | undefined => {
    let node: SchemaNode | undefined = schema as SchemaNode;
    for (const name of path.split('.')) {
      while (node?.type === 'array') node = node.items;
      node = node?.properties?.[name] ?? (isPlainObject(node?.additionalProperties) ? (node!.additionalProperties as SchemaNode) : undefined);
    }
    return node;
  };
  return {
    list(path) {
      const meta = builtinListStrategy('', path);
      if (meta) return meta;
      const node = at(path);
      if (node?.['x-kubernetes-list-type'] === 'set') return 'set';
      const keys = node?.['x-kubernetes-list-map-keys'];
      if (node?.['x-kubernetes-list-type'] === 'map' && keys?.length) return { mergeKey: keys[0]! };
      return undefined;
    },
    isMap(path) {
      if (path === 'metadata' || path.startsWith('metadata.')) return BUILTIN_MAPS.has(path);
      const node = at(path);
      return !node?.properties || node['x-kubernetes-preserve-unknown-fields'] === true;
    },
  };
}

// ---------------------------------------------------------------------------------------
// Field paths

/** A path's elements joined by this (no element holds a newline: keys are JSON-escaped). */
const SEP = '\n';
/** Each owned path of an object, with its value's JSON for leaves (null for nodes and list items). */
type Fields = Map<string, string | null>;

const keyOf = (item: Record<string, unknown>, key: string): string => `k:${JSON.stringify({ [key]: item[key] })}`;

/** JSON with object keys sorted: values compare equal whatever order their keys came in. */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (isPlainObject(v)) return `{${Object.keys(v).filter((k) => v[k] !== undefined).sort().map((k) => `${JSON.stringify(k)}:${canonical(v[k])}`).join(',')}}`;
  return JSON.stringify(v);
}

/**
 * `nodes`: maps and lists count as fields themselves (what an Update adds), not only their
 * leaves and list items (what an applied configuration specifies).
 */
function walk(value: Record<string, unknown>, shape: FieldShape, prefix: string, dotted: string, out: Fields, nodes: boolean): void {
  for (const [name, v] of Object.entries(value)) {
    if (v === undefined) continue;
    const path = prefix + `f:${name}`;
    const field = dotted ? `${dotted}.${name}` : name;
    if (isPlainObject(v) && Object.keys(v).length > 0) {
      if (nodes && shape.isMap(field)) out.set(path, null);
      walk(v, shape, path + SEP, field, out, nodes);
    } else if (Array.isArray(v) && v.length > 0 && shape.list(field)) {
      const strategy = shape.list(field)!;
      if (nodes) out.set(path, null);
      for (const item of v) {
        if (strategy === 'set') out.set(path + SEP + `v:${JSON.stringify(item)}`, canonical(item));
        else if (isPlainObject(item)) {
          const itemPath = path + SEP + keyOf(item, strategy.mergeKey);
          out.set(itemPath, null);
          walk(item, shape, itemPath + SEP, field, out, nodes);
        }
      }
    } else out.set(path, canonical(v));
  }
}

/** Metadata fields a manager can own; the rest of metadata is the server's. */
const OWNED_METADATA = ['labels', 'annotations', 'finalizers', 'ownerReferences'];

/**
 * The owned fields of an object: everything but apiVersion, kind and server-owned metadata;
 * for the status subresource only status, for the main resource of a kind with one all but status.
 */
function fieldsOf(obj: Record<string, unknown> | undefined, shape: FieldShape, part: Part, nodes = true): Fields {
  const out: Fields = new Map();
  if (!obj) return out;
  const top: Record<string, unknown> = {};
  if (part === 'status') top['status'] = obj['status'];
  else {
    for (const [k, v] of Object.entries(obj)) if (k !== 'apiVersion' && k !== 'kind' && k !== 'metadata' && !(part === 'main' && k === 'status')) top[k] = v;
    const meta = isPlainObject(obj['metadata']) ? obj['metadata'] : {};
    const owned = Object.fromEntries(OWNED_METADATA.filter((k) => meta[k] !== undefined).map((k) => [k, meta[k]]));
    if (Object.keys(owned).length) top['metadata'] = owned;
  }
  walk(top, shape, '', '', out, nodes);
  return out;
}

/** `main` (a kind with a status subresource, written on its main endpoint), `status`, or `all`. */
export type Part = 'main' | 'status' | 'all';

function toTree(paths: Iterable<string>): FieldsV1 {
  const root: FieldsV1 = {};
  for (const path of paths) {
    let node = root;
    for (const p of path.split(SEP)) node = node[p] ??= {};
  }
  // A node with children that is owned itself says so with `.`.
  const mark = (node: FieldsV1, prefix: string, owned: Set<string>): void => {
    for (const [k, child] of Object.entries(node)) {
      if (k === '.') continue;
      const path = prefix + k;
      if (Object.keys(child).length > 0 && owned.has(path) && !child['.']) child['.'] = {};
      mark(child, path + SEP, owned);
    }
  };
  mark(root, '', new Set(paths));
  return root;
}

function fromTree(tree: FieldsV1, prefix = '', out: Set<string> = new Set()): Set<string> {
  for (const [k, child] of Object.entries(tree)) {
    if (k === '.') {
      out.add(prefix.slice(0, -SEP.length));
      continue;
    }
    const path = prefix + k;
    if (Object.keys(child).length === 0) out.add(path);
    else fromTree(child, path + SEP, out);
  }
  return out;
}

/** A path as kube prints it in conflicts: `.data.osImageURL`, `.spec.containers[name="web"].image`. */
export function printPath(path: string): string {
  return path
    .split(SEP)
    .map((p) => {
      if (p.startsWith('f:')) return `.${p.slice(2)}`;
      if (p.startsWith('v:')) return `[=${p.slice(2)}]`;
      const key = JSON.parse(p.slice(2)) as Record<string, unknown>;
      return `[${Object.entries(key).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(',')}]`;
    })
    .join('');
}

// ---------------------------------------------------------------------------------------
// Updates

export interface ManagerRef {
  manager: string;
  apiVersion: string;
  subresource?: string;
  /** RFC 3339, whole seconds. */
  time: string;
}

const sameEntry = (e: ManagedFieldsEntry, op: 'Apply' | 'Update', m: ManagerRef): boolean =>
  e.manager === m.manager && e.operation === op && (e.subresource ?? '') === (m.subresource ?? '') && (op === 'Apply' || e.apiVersion === m.apiVersion);

function entry(op: 'Apply' | 'Update', m: ManagerRef, paths: Set<string>): ManagedFieldsEntry {
  return {
    manager: m.manager,
    operation: op,
    apiVersion: m.apiVersion,
    time: m.time,
    fieldsType: 'FieldsV1',
    fieldsV1: toTree([...paths].sort()),
    ...(m.subresource ? { subresource: m.subresource } : {}),
  };
}

const partOf = (m: ManagerRef, hasStatus: boolean): Part => (m.subresource === 'status' ? 'status' : hasStatus ? 'main' : 'all');

/**
 * managedFields after an Update by `m` from `old` (absent on create) to `next`; the same
 * entries when nothing owned changed.
 */
export function managedFieldsAfterUpdate(
  entries: ManagedFieldsEntry[],
  old: Record<string, unknown> | undefined,
  next: Record<string, unknown>,
  m: ManagerRef,
  shape: FieldShape,
  hasStatus: boolean,
): ManagedFieldsEntry[] {
  const part = partOf(m, hasStatus);
  const before = fieldsOf(old, shape, part);
  const after = fieldsOf(next, shape, part);
  const changed = [...after].filter(([p, v]) => !before.has(p) || before.get(p) !== v).map(([p]) => p);
  const removed = [...before.keys()].filter((p) => !after.has(p));
  if (changed.length === 0 && removed.length === 0) return entries;
  const gone = new Set([...changed, ...removed]);
  const out: ManagedFieldsEntry[] = [];
  let mine = new Set<string>();
  for (const e of entries) {
    const paths = fromTree(e.fieldsV1);
    if (sameEntry(e, 'Update', m)) {
      mine = paths;
      continue;
    }
    const kept = [...paths].filter((p) => !gone.has(p));
    if (kept.length === paths.size) out.push(e);
    else if (kept.length) out.push({ ...e, fieldsV1: toTree(kept.sort()) });
  }
  for (const p of changed) mine.add(p);
  for (const p of removed) mine.delete(p);
  if (mine.size) out.push(entry('Update', m, mine));
  return out;
}

/** 409 Conflict as kube words an apply conflict (FieldManagerConflict causes). */
function conflictError(conflicts: { manager: ManagedFieldsEntry; path: string }[]): ApiError {
  const who = (e: ManagedFieldsEntry): string => {
    const name = JSON.stringify(e.manager) + (e.subresource ? ` with subresource ${JSON.stringify(e.subresource)}` : '');
    return e.operation === 'Update' ? `${name} using ${e.apiVersion}` : name;
  };
  let message: string;
  if (conflicts.length === 1) message = `Apply failed with 1 conflict: conflict with ${who(conflicts[0]!.manager)}: ${printPath(conflicts[0]!.path)}`;
  else {
    const byManager = new Map<string, string[]>();
    for (const c of conflicts) byManager.set(who(c.manager), [...(byManager.get(who(c.manager)) ?? []), printPath(c.path)]);
    const lines = [...byManager.keys()].sort().flatMap((m) => [`conflicts with ${m}:`, ...byManager.get(m)!.map((p) => `- ${p}`)]);
    message = `Apply failed with ${conflicts.length} conflicts: ${lines.join('\n')}`;
  }
  return new ApiError(409, 'Conflict', message, {
    causes: conflicts.map((c) => ({ reason: 'FieldManagerConflict', message: `conflict with ${who(c.manager)}`, field: printPath(c.path) })),
  });
}

/** Merges an applied configuration into the live object: maps recursively, lists by their shape. */
function merge(live: unknown, config: unknown, shape: FieldShape, dotted: string): unknown {
  if (isPlainObject(config)) {
    const out: Record<string, unknown> = isPlainObject(live) ? { ...live } : {};
    for (const [k, v] of Object.entries(config)) out[k] = merge(out[k], v, shape, dotted ? `${dotted}.${k}` : k);
    return out;
  }
  const strategy = Array.isArray(config) ? shape.list(dotted) : undefined;
  if (!strategy || !Array.isArray(live)) return config;
  const out = [...live];
  for (const item of config as unknown[]) {
    if (strategy === 'set') {
      if (!out.some((x) => deepEqual(x, item))) out.push(item);
      continue;
    }
    const key = isPlainObject(item) ? item[strategy.mergeKey] : undefined;
    const i = out.findIndex((x) => isPlainObject(x) && deepEqual(x[strategy.mergeKey], key));
    if (i >= 0) out[i] = merge(out[i], item, shape, dotted);
    else out.push(item);
  }
  return out;
}

/** Whether `path` is the key field of a keyed list item (`…k:{"name":"x"}\nf:name`): it goes only with its item. */
function isItemKey(path: string): boolean {
  const parts = path.split(SEP);
  const [item, field] = parts.slice(-2);
  return parts.length >= 2 && item!.startsWith('k:') && field!.startsWith('f:') && field!.slice(2) in (JSON.parse(item!.slice(2)) as object);
}

/** Removes the field at `path` from `obj` (in place); a keyed item or set member goes from its list. */
function removePath(obj: Record<string, unknown>, path: string): void {
  const parts = path.split(SEP);
  let node: unknown = obj;
  for (let i = 0; i < parts.length; i++) {
    const p = parts[i]!;
    const last = i === parts.length - 1;
    const next = parts[i + 1];
    if (p.startsWith('f:')) {
      if (!isPlainObject(node)) return;
      const name = p.slice(2);
      if (last) {
        delete node[name];
        return;
      }
      const child = node[name];
      if (Array.isArray(child) && next !== undefined && (next.startsWith('k:') || next.startsWith('v:')) && i + 1 === parts.length - 1) {
        const match = next.startsWith('v:')
          ? (x: unknown): boolean => deepEqual(x, JSON.parse(next.slice(2)))
          : (x: unknown): boolean => isPlainObject(x) && Object.entries(JSON.parse(next.slice(2)) as object).every(([k, v]) => deepEqual(x[k], v));
        const kept = child.filter((x) => !match(x));
        if (kept.length) node[name] = kept;
        else delete node[name];
        return;
      }
      node = child;
    } else if (p.startsWith('k:') && Array.isArray(node)) {
      const key = JSON.parse(p.slice(2)) as Record<string, unknown>;
      node = node.find((x) => isPlainObject(x) && Object.entries(key).every(([k, v]) => deepEqual(x[k], v)));
    } else return;
  }
}

export interface ApplyResult {
  object: Record<string, unknown>;
  managedFields: ManagedFieldsEntry[];
}

/**
 * Server-side apply of `config` by `m` onto `live` (absent: the apply creates). Throws the
 * 409 conflict unless `force`.
 */
export function serverSideApply(
  live: Record<string, unknown> | undefined,
  config: Record<string, unknown>,
  m: ManagerRef,
  opts: { force: boolean; shape: FieldShape; hasStatus: boolean },
): ApplyResult {
  const part = partOf(m, opts.hasStatus);
  const applied = fieldsOf(config, opts.shape, part, false);
  const current = fieldsOf(live, opts.shape, part);
  const entries = ((live?.['metadata'] as { managedFields?: ManagedFieldsEntry[] } | undefined)?.managedFields ?? []).map((e) => ({ e, paths: fromTree(e.fieldsV1) }));

  const conflicts: { manager: ManagedFieldsEntry; path: string }[] = [];
  for (const { e, paths } of entries) {
    if (sameEntry(e, 'Apply', m)) continue;
    for (const [p, v] of applied) {
      if (v !== null && paths.has(p) && current.has(p) && current.get(p) !== v) conflicts.push({ manager: e, path: p });
    }
  }
  if (conflicts.length && !opts.force) throw conflictError(conflicts);
  const taken = new Set(conflicts.map((c) => c.path));

  const mine = entries.find(({ e }) => sameEntry(e, 'Apply', m));
  const others = entries.filter(({ e }) => !sameEntry(e, 'Apply', m));
  const ownedByOthers = new Set(others.flatMap(({ paths }) => [...paths].filter((p) => !taken.has(p))));
  const object = merge(live ?? {}, config, opts.shape, '') as Record<string, unknown>;
  // What this manager applied before and no longer does, and nobody else holds, goes; shallowest
  // first, so a list item goes whole before its key field would be removed from it.
  const dropped = [...(mine?.paths ?? [])].filter((p) => !applied.has(p) && !ownedByOthers.has(p)).sort((a, b) => a.split(SEP).length - b.split(SEP).length);
  for (const p of dropped) if (!isItemKey(p)) removePath(object, p);

  const managedFields: ManagedFieldsEntry[] = [];
  for (const { e, paths } of others) {
    const kept = [...paths].filter((p) => !taken.has(p));
    if (kept.length === paths.size) managedFields.push(e);
    else if (kept.length) managedFields.push({ ...e, fieldsV1: toTree(kept.sort()) });
  }
  const appliedPaths = new Set(applied.keys());
  const samePaths = mine !== undefined && mine.paths.size === appliedPaths.size && [...appliedPaths].every((p) => mine.paths.has(p));
  const unchanged = samePaths && deepEqual(object, live);
  if (appliedPaths.size) managedFields.push(unchanged ? mine!.e : entry('Apply', m, appliedPaths));
  return { object, managedFields };
}

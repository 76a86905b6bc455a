/**
 * The Ignition side of rendering (reference mco.md §1.2, §3.3): parse a MachineConfig's
 * `spec.config` as spec 3.1 (3.0 and 2.x accepted and converted, as the 4.6-era
 * `IgnParseWrapper`), validate what the daemon relies on (absolute paths, named units), and
 * merge configs with Ignition's spec-3 rules: a later config overrides an earlier one field by
 * field, keyed lists (files/directories/links by path, units and dropins by name, users and
 * groups by name…) merge entry by entry, lists of plain values are a union in order, and
 * `append` lists are appended. Pure functions on plain JSON.
 */
import type { IgnitionConfig } from '../api/machineconfig.js';

export const RENDERED_IGNITION_VERSION = '3.1.0';

/** A config that cannot be parsed or merged; `field` is its JSON path under `spec.config`. */
export class IgnitionError extends Error {
  override name = 'IgnitionError';
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
  }
}

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type JsonObject = { [k: string]: Json };

const isObject = (v: unknown): v is JsonObject => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Keys of the keyed lists of Ignition 3 (by the list's path in the config). Entries with the
 * same key merge; storage files, directories and links share one key space (a path is one of
 * the three).
 */
const LIST_KEYS: Record<string, string> = {
  'storage.files': 'path',
  'storage.directories': 'path',
  'storage.links': 'path',
  'storage.disks': 'device',
  'storage.disks.partitions': 'number',
  'storage.filesystems': 'device',
  'storage.raid': 'name',
  'systemd.units': 'name',
  'systemd.units.dropins': 'name',
  'passwd.users': 'name',
  'passwd.groups': 'name',
};
const NODE_PATHS = ['storage.files', 'storage.directories', 'storage.links'];

const SUPPORTED = 'Supported spec versions: 2.2, 3.0, 3.1';

/**
 * `spec.config` of one MachineConfig as an Ignition 3.1 config (absent: an empty one).
 * Throws IgnitionError naming the field at fault.
 */
export function parseIgnition(config: IgnitionConfig | undefined): JsonObject {
  if (config === undefined || config === null) return { ignition: { version: RENDERED_IGNITION_VERSION } };
  if (!isObject(config)) throw new IgnitionError('spec.config', 'is not an object');
  const ignition = config['ignition'];
  const version = isObject(ignition) ? ignition['version'] : undefined;
  if (typeof version !== 'string') throw new IgnitionError('spec.config.ignition.version', `parsing Ignition config failed: no version. ${SUPPORTED}`);
  const copy = structuredClone(config) as JsonObject;
  let parsed: JsonObject;
  if (/^3\.[01]\.0$/.test(version)) parsed = copy;
  else if (/^2\.[0-2]\.0$/.test(version)) parsed = fromSpec2(copy);
  else throw new IgnitionError('spec.config.ignition.version', `parsing Ignition config failed: unknown version "${version}". ${SUPPORTED}`);
  (parsed['ignition'] as JsonObject)['version'] = RENDERED_IGNITION_VERSION;
  validate(parsed);
  return parsed;
}

/** What the daemon cannot apply: relative paths, unnamed units. */
function validate(config: JsonObject): void {
  const storage = isObject(config['storage']) ? config['storage'] : {};
  for (const list of ['files', 'directories', 'links']) {
    const entries = storage[list];
    if (entries === undefined) continue;
    if (!Array.isArray(entries)) throw new IgnitionError(`spec.config.storage.${list}`, 'is not a list');
    entries.forEach((e, i) => {
      const path = isObject(e) ? e['path'] : undefined;
      if (typeof path !== 'string' || !path.startsWith('/')) {
        throw new IgnitionError(`spec.config.storage.${list}[${i}].path`, `${JSON.stringify(path ?? null)} is not an absolute path`);
      }
    });
  }
  const systemd = isObject(config['systemd']) ? config['systemd'] : {};
  const units = systemd['units'];
  if (units !== undefined) {
    if (!Array.isArray(units)) throw new IgnitionError('spec.config.systemd.units', 'is not a list');
    units.forEach((u, i) => {
      const name = isObject(u) ? u['name'] : undefined;
      if (typeof name !== 'string' || name === '') throw new IgnitionError(`spec.config.systemd.units[${i}].name`, 'a unit needs a name');
    });
  }
}

/**
 * Ignition 2.x → 3.1, for what MachineConfigs carry: files lose `filesystem` (only `root`
 * exists on a node), `append: true` becomes an `append` resource list, units' `enable`
 * becomes `enabled`; duplicates (last one wins, unit dropins concatenated) are folded first,
 * as the 4.6-era converter does. networkd units have no 3.x form and are refused.
 */
function fromSpec2(config: JsonObject): JsonObject {
  const out: JsonObject = { ignition: { version: RENDERED_IGNITION_VERSION } };
  const networkd = config['networkd'];
  if (isObject(networkd) && Array.isArray(networkd['units']) && networkd['units'].length > 0) {
    throw new IgnitionError('spec.config.networkd.units', 'Ignition 2.x networkd units cannot be translated to spec 3.1; write them as files under /etc/systemd/network');
  }
  if (isObject(config['passwd'])) out['passwd'] = config['passwd'];
  const storage = isObject(config['storage']) ? config['storage'] : undefined;
  if (storage) {
    const files = Array.isArray(storage['files']) ? storage['files'] : [];
    const converted = files.map((f, i) => {
      if (!isObject(f)) throw new IgnitionError(`spec.config.storage.files[${i}]`, 'is not an object');
      const { filesystem, append, contents, ...rest } = f;
      if (filesystem !== undefined && filesystem !== 'root') {
        throw new IgnitionError(`spec.config.storage.files[${i}].filesystem`, `${JSON.stringify(filesystem)}: only the root filesystem can be translated to spec 3.1`);
      }
      return append === true ? { ...rest, append: contents === undefined ? [] : [contents] } : { ...rest, ...(contents !== undefined ? { contents } : {}) };
    });
    out['storage'] = { ...storage, files: lastWins(converted, 'path') };
    delete (out['storage'] as JsonObject)['filesystems'];
  }
  const systemd = isObject(config['systemd']) ? config['systemd'] : undefined;
  if (systemd && Array.isArray(systemd['units'])) {
    const units = systemd['units'].map((u) => {
      if (!isObject(u)) return u;
      const { enable, ...rest } = u;
      return enable === true && rest['enabled'] === undefined ? { ...rest, enabled: true } : rest;
    });
    out['systemd'] = { ...systemd, units: foldUnits(units) };
  }
  return out;
}

function lastWins(entries: Json[], key: string): Json[] {
  const byKey = new Map<unknown, Json>();
  for (const e of entries) byKey.set(isObject(e) ? e[key] : e, e);
  return [...byKey.values()];
}

function foldUnits(units: Json[]): Json[] {
  const byName = new Map<unknown, JsonObject>();
  for (const u of units) {
    if (!isObject(u)) continue;
    const prev = byName.get(u['name']);
    const dropins = [...(prev && Array.isArray(prev['dropins']) ? prev['dropins'] : []), ...(Array.isArray(u['dropins']) ? u['dropins'] : [])];
    byName.set(u['name'], dropins.length ? { ...u, dropins } : u);
  }
  return [...byName.values()];
}

/** `child` merged onto `parent` with Ignition 3's rules (neither is modified). */
export function mergeIgnition(parent: JsonObject, child: JsonObject): JsonObject {
  return mergeValue(withoutReplacedNodes(parent, child), child, '') as JsonObject;
}

function mergeValue(parent: Json | undefined, child: Json | undefined, path: string): Json | undefined {
  if (child === undefined) return parent === undefined ? undefined : structuredClone(parent);
  if (parent === undefined) return structuredClone(child);
  if (isObject(parent) && isObject(child)) {
    const out: JsonObject = {};
    for (const k of new Set([...Object.keys(parent), ...Object.keys(child)])) {
      const v = mergeValue(parent[k], child[k], path ? `${path}.${k}` : k);
      if (v !== undefined) out[k] = v;
    }
    return out;
  }
  if (Array.isArray(parent) && Array.isArray(child)) return mergeList(parent, child, path);
  return structuredClone(child);
}

function mergeList(parent: Json[], child: Json[], path: string): Json[] {
  const key = LIST_KEYS[path];
  if (path.endsWith('.append') || (!key && child.some(isObject))) return [...structuredClone(parent), ...structuredClone(child)];
  const keyOf = (e: Json): unknown => (key && isObject(e) ? e[key] : JSON.stringify(e));
  const out = structuredClone(parent);
  for (const c of child) {
    const i = out.findIndex((p) => keyOf(p) === keyOf(c));
    if (i < 0) out.push(structuredClone(c));
    else if (key) out[i] = mergeValue(out[i], c, path)!;
  }
  return out;
}

/**
 * `parent` without the files, directories and links whose path the child defines as another
 * kind: a path is one node, so the later config's kind replaces the earlier one.
 */
function withoutReplacedNodes(parent: JsonObject, child: JsonObject): JsonObject {
  const lists = NODE_PATHS.map((p) => p.split('.')[1]!);
  const storageOf = (c: JsonObject): JsonObject => (isObject(c['storage']) ? c['storage'] : {});
  const childKind = new Map<string, string>();
  for (const list of lists) {
    const entries = storageOf(child)[list];
    if (Array.isArray(entries)) for (const e of entries) if (isObject(e) && typeof e['path'] === 'string') childKind.set(e['path'], list);
  }
  if (childKind.size === 0 || !isObject(parent['storage'])) return parent;
  const storage: JsonObject = { ...parent['storage'] };
  for (const list of lists) {
    const entries = storage[list];
    if (Array.isArray(entries)) {
      storage[list] = entries.filter((e) => !isObject(e) || typeof e['path'] !== 'string' || (childKind.get(e['path']) ?? list) === list);
    }
  }
  return { ...parent, storage };
}

/**
 * The config as the rendered MachineConfig carries it: empty objects, empty lists and nulls
 * dropped (the MCO marshals with an omit-empty encoder), version first.
 */
export function compactIgnition(config: JsonObject): JsonObject {
  const compact = (v: Json): Json | undefined => {
    if (v === null) return undefined;
    if (Array.isArray(v)) {
      const items = v.map(compact).filter((x): x is Json => x !== undefined);
      return items.length ? items : undefined;
    }
    if (isObject(v)) {
      const out: JsonObject = {};
      for (const [k, x] of Object.entries(v)) {
        const c = compact(x);
        if (c !== undefined) out[k] = c;
      }
      return Object.keys(out).length ? out : undefined;
    }
    return v;
  };
  const out = (compact(config) ?? {}) as JsonObject;
  const { ignition, ...rest } = out;
  return { ignition: { ...(isObject(ignition) ? ignition : {}), version: RENDERED_IGNITION_VERSION }, ...rest };
}

/**
 * What a rendered MachineConfig asks of a host, read from its inline Ignition config (3.x, or
 * 2.2 whose files and units have the same shape) into node/host-config.ts's HostConfig, which
 * the host writers and the validator share. Everything a host write would trust is checked
 * here first — absolute paths without `..`, decodable data URLs, valid unit names — and a
 * refusal names the config and the field (`rendered-worker-1: spec.config.storage.files[2].path: …`).
 */
import type { MachineConfig } from '../api/machineconfig.js';
import { DEFAULT_FILE_MODE, type FileOwner, type HostConfig, type HostDropin, type HostFile, type HostUnit } from '../node/host-config.js';
import { ConfigError } from './errors.js';

const UNIT_NAME = /^[A-Za-z0-9:_.\\-]+(@[A-Za-z0-9:_.\\-]*)?\.(service|socket|device|mount|automount|swap|target|path|timer|slice|scope)$/;
const DROPIN_NAME = /^[A-Za-z0-9:_.\\@-]+\.conf$/;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Ignition's `path` rules: absolute, no `..` component; returned normalised. */
export function checkHostPath(path: unknown, where: string): string {
  if (typeof path !== 'string' || path === '') throw new ConfigError(`${where}: a path is required`);
  if (!path.startsWith('/')) throw new ConfigError(`${where}: "${path}" is not an absolute path`);
  const parts = path.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.includes('..')) throw new ConfigError(`${where}: "${path}" contains a ".." component`);
  if (parts.length === 0) throw new ConfigError(`${where}: "${path}" names the root directory, not a file`);
  if (path.includes('\0')) throw new ConfigError(`${where}: "${path}" contains a NUL byte`);
  return `/${parts.join('/')}`;
}

/** Decodes an RFC 2397 `data:` URL (`;base64` or percent-encoded), as Ignition's dataurl does. */
export function decodeDataUrl(url: string, where: string): Buffer {
  if (!url.startsWith('data:')) throw new ConfigError(`${where}: only data URLs are supported, not "${url.slice(0, 60)}"`);
  const comma = url.indexOf(',');
  if (comma < 0) throw new ConfigError(`${where}: the data URL has no "," before its data`);
  const params = url.slice(5, comma).split(';');
  const data = url.slice(comma + 1);
  if (params.includes('base64')) {
    const clean = data.replace(/%([0-9A-Fa-f]{2})/g, (_m, h: string) => String.fromCharCode(parseInt(h, 16)));
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(clean) || clean.length % 4 === 1) throw new ConfigError(`${where}: the data URL's base64 data does not decode`);
    return Buffer.from(clean, 'base64');
  }
  if (/%(?![0-9A-Fa-f]{2})/.test(data)) throw new ConfigError(`${where}: the data URL has a malformed %-escape`);
  return percentDecode(data);
}

/** `%XX` escapes to bytes; everything else as UTF-8. */
function percentDecode(text: string): Buffer {
  const parts: Buffer[] = [];
  let last = 0;
  for (const m of text.matchAll(/%([0-9A-Fa-f]{2})/g)) {
    parts.push(Buffer.from(text.slice(last, m.index)), Buffer.from([parseInt(m[1]!, 16)]));
    last = m.index + 3;
  }
  parts.push(Buffer.from(text.slice(last)));
  return Buffer.concat(parts);
}

function owner(v: unknown, where: string): FileOwner {
  if (v === undefined || v === null) return {};
  if (!isObject(v)) throw new ConfigError(`${where}: expected an object with id or name`);
  const out: FileOwner = {};
  if (v['id'] !== undefined && v['id'] !== null) {
    if (!Number.isInteger(v['id']) || (v['id'] as number) < 0) throw new ConfigError(`${where}.id: ${JSON.stringify(v['id'])} is not a numeric id`);
    out.id = v['id'] as number;
  }
  if (typeof v['name'] === 'string' && v['name'] !== '') out.name = v['name'];
  return out;
}

function parseFile(raw: unknown, where: string): HostFile {
  if (!isObject(raw)) throw new ConfigError(`${where}: expected an object`);
  const path = checkHostPath(raw['path'], `${where}.path`);
  if (Array.isArray(raw['append']) ? raw['append'].length > 0 : raw['append'] !== undefined && raw['append'] !== null) {
    throw new ConfigError(`${where}: found an append section when writing files. Append is not supported`);
  }
  const contents = isObject(raw['contents']) ? raw['contents'] : {};
  const source = contents['source'];
  let data: Buffer = Buffer.alloc(0);
  if (source !== undefined && source !== null) {
    if (typeof source !== 'string') throw new ConfigError(`${where}.contents.source: expected a string`);
    if (contents['compression']) throw new ConfigError(`${where}.contents.compression: compressed contents are not supported`);
    data = decodeDataUrl(source, `${where}.contents.source`);
  }
  let mode = DEFAULT_FILE_MODE;
  if (raw['mode'] !== undefined && raw['mode'] !== null) {
    if (!Number.isInteger(raw['mode']) || (raw['mode'] as number) < 0 || (raw['mode'] as number) > 0o7777) throw new ConfigError(`${where}.mode: ${JSON.stringify(raw['mode'])} is not a file mode`);
    mode = raw['mode'] as number;
  }
  return { path, contents: data, mode, user: owner(raw['user'], `${where}.user`), group: owner(raw['group'], `${where}.group`) };
}

function parseUnit(raw: unknown, where: string): HostUnit {
  if (!isObject(raw)) throw new ConfigError(`${where}: expected an object`);
  const name = raw['name'];
  if (typeof name !== 'string' || !UNIT_NAME.test(name)) throw new ConfigError(`${where}.name: ${JSON.stringify(name)} is not a valid systemd unit name`);
  const dropins = (Array.isArray(raw['dropins']) ? raw['dropins'] : []).map((d, i): HostDropin => {
    const w = `${where}.dropins[${i}]`;
    if (!isObject(d) || typeof d['name'] !== 'string' || !DROPIN_NAME.test(d['name'])) throw new ConfigError(`${w}.name: ${JSON.stringify(isObject(d) ? d['name'] : d)} is not a valid drop-in name (NAME.conf)`);
    return { name: d['name'], contents: typeof d['contents'] === 'string' ? d['contents'] : '' };
  });
  const unit: HostUnit = { name, mask: raw['mask'] === true, dropins };
  if (typeof raw['contents'] === 'string' && raw['contents'] !== '') unit.contents = raw['contents'];
  if (typeof raw['enabled'] === 'boolean') unit.enabled = raw['enabled'];
  else if (typeof raw['enable'] === 'boolean') unit.enabled = raw['enable']; // Ignition 2.x spelling
  return unit;
}

/** Reads and checks what a rendered config asks of a host. Throws a ConfigError naming the config and field. */
export function hostConfigOf(mc: MachineConfig): HostConfig {
  const name = mc.metadata.name ?? '(unnamed)';
  const at = (field: string): string => `${name}: ${field}`;
  const config = (mc.spec.config ?? { ignition: {} }) as Record<string, unknown>;
  const storage = isObject(config['storage']) ? config['storage'] : {};
  const systemd = isObject(config['systemd']) ? config['systemd'] : {};
  const passwd = isObject(config['passwd']) ? config['passwd'] : {};
  const files = (Array.isArray(storage['files']) ? storage['files'] : []).map((f, i) => parseFile(f, at(`spec.config.storage.files[${i}]`)));
  const units = (Array.isArray(systemd['units']) ? systemd['units'] : []).map((u, i) => parseUnit(u, at(`spec.config.systemd.units[${i}]`)));
  const seen = new Map<string, string>();
  for (const [i, f] of files.entries()) {
    const first = seen.get(f.path);
    if (first) throw new ConfigError(`${at(`spec.config.storage.files[${i}].path`)}: "${f.path}" is also written by ${first}`);
    seen.set(f.path, `spec.config.storage.files[${i}]`);
  }
  const users = Array.isArray(passwd['users']) ? passwd['users'] : [];
  const sshKeys = users.length === 0 ? null : users.flatMap((u) => (isObject(u) && Array.isArray(u['sshAuthorizedKeys']) ? u['sshAuthorizedKeys'].filter((k): k is string => typeof k === 'string') : []));
  const kargs = mc.spec.kernelArguments ?? [];
  for (const [i, k] of kargs.entries()) if (typeof k !== 'string') throw new ConfigError(`${at(`spec.kernelArguments[${i}]`)}: expected a string`);
  return { name, osImageURL: mc.spec.osImageURL ?? '', kernelArguments: splitKernelArguments(kargs), files, units, sshKeys };
}

/**
 * Each kernelArguments entry split on whitespace outside double quotes, as the kernel reads
 * its command line (an entry may hold several arguments: `"nosmt foo=\"a b\""`).
 */
export function splitKernelArguments(entries: readonly string[]): string[] {
  const out: string[] = [];
  for (const entry of entries) {
    let cur = '';
    let quoted = false;
    for (const ch of entry) {
      if (ch === '"') quoted = !quoted;
      if (/\s/.test(ch) && !quoted) {
        if (cur) out.push(cur);
        cur = '';
      } else cur += ch;
    }
    if (cur) out.push(cur);
  }
  return out;
}


/**
 * GKeyFile-style INI text, as libostree reads and writes it for the repo `config` and for
 * deployment `.origin` files. Groups and keys keep their order so a rewrite changes only what
 * was changed. Pure text in, text out.
 */

export class KeyFileError extends Error {
  override name = 'KeyFileError';
}

export class KeyFile {
  private readonly groups = new Map<string, Map<string, string>>();

  static parse(text: string, source = 'key file'): KeyFile {
    const kf = new KeyFile();
    let group: Map<string, string> | undefined;
    text.split('\n').forEach((raw, i) => {
      const line = raw.trim();
      if (line === '' || line.startsWith('#')) return;
      const header = /^\[([^\][]+)\]$/.exec(line);
      if (header) {
        group = kf.groups.get(header[1]!) ?? new Map();
        kf.groups.set(header[1]!, group);
        return;
      }
      const eq = line.indexOf('=');
      if (eq <= 0 || !group) throw new KeyFileError(`${source}: line ${i + 1} is not "key=value" inside a [group]: ${JSON.stringify(raw)}`);
      group.set(line.slice(0, eq).trim(), unescape(line.slice(eq + 1).trim()));
    });
    return kf;
  }

  get(group: string, key: string): string | undefined {
    return this.groups.get(group)?.get(key);
  }

  getBoolean(group: string, key: string): boolean | undefined {
    const v = this.get(group, key);
    return v === undefined ? undefined : v === 'true' || v === '1';
  }

  set(group: string, key: string, value: string): void {
    let g = this.groups.get(group);
    if (!g) this.groups.set(group, (g = new Map()));
    g.set(key, value);
  }

  delete(group: string, key?: string): void {
    if (key === undefined) this.groups.delete(group);
    else this.groups.get(group)?.delete(key);
  }

  hasGroup(group: string): boolean {
    return this.groups.has(group);
  }

  groupNames(): string[] {
    return [...this.groups.keys()];
  }

  keys(group: string): string[] {
    return [...(this.groups.get(group)?.keys() ?? [])];
  }

  /** Serializes as GKeyFile does: groups separated by one blank line. */
  toString(): string {
    return [...this.groups]
      .map(([name, kv]) => `[${name}]\n${[...kv].map(([k, v]) => `${k}=${escape(v)}\n`).join('')}`)
      .join('\n');
  }
}

function unescape(v: string): string {
  return v.replace(/\\([sntr\\])/g, (_, c: string) => ({ s: ' ', n: '\n', t: '\t', r: '\r', '\\': '\\' })[c]!);
}

function escape(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/\t/g, '\\t').replace(/\r/g, '\\r').replace(/^ /, '\\s');
}

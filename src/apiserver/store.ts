/**
 * The API server's storage: every object as JSON in SQLite (WAL), one global revision that
 * becomes each write's resourceVersion (like etcd's), and a bounded history of changes that
 * watches replay from a resourceVersion. Writes notify in-process subscribers synchronously
 * after commit, so a watch that reads history and subscribes in the same tick misses nothing.
 */
import Database from 'better-sqlite3';
import type { ObjectMeta as ApiObjectMeta } from '../api/meta.js';

/** Object metadata as stored: the API's, with a name always set, and whatever else a client sent. */
export interface ObjectMeta extends ApiObjectMeta {
  name: string;
  [key: string]: unknown;
}

export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: ObjectMeta;
  [key: string]: unknown;
}

export type ChangeType = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface Change {
  type: ChangeType;
  resource: string;
  rv: number;
  object: KubeObject;
  /** The state before this change (absent for ADDED): watches with selectors need it. */
  prev?: KubeObject;
}

export type ChangeListener = (change: Change) => void;

export interface StoreOptions {
  /** How many changes watches can replay; older resourceVersions get 410 Gone. */
  historyLimit: number;
}

export class Store {
  private readonly db: Database.Database;
  private readonly listeners = new Map<string, Set<ChangeListener>>();
  private rev: number;
  private compactedRev: number;
  private readonly stmts;

  constructor(file: string, private readonly options: StoreOptions) {
    this.db = new Database(file);
    this.db.pragma('journal_mode = WAL');
    // The history table is the durable log; a power cut may lose the last writes but never
    // corrupts (WAL + NORMAL), which is what an embedded lab server needs.
    this.db.pragma('synchronous = NORMAL');
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
      CREATE TABLE IF NOT EXISTS objects (resource TEXT NOT NULL, namespace TEXT NOT NULL, name TEXT NOT NULL,
        body TEXT NOT NULL, PRIMARY KEY (resource, namespace, name)) WITHOUT ROWID;
      CREATE TABLE IF NOT EXISTS changes (rv INTEGER PRIMARY KEY, resource TEXT NOT NULL, type TEXT NOT NULL,
        body TEXT NOT NULL, prev TEXT);
      CREATE INDEX IF NOT EXISTS changes_by_resource ON changes (resource, rv);
    `);
    const meta = this.db.prepare<[string], { value: number }>('SELECT value FROM meta WHERE key = ?');
    this.rev = meta.get('revision')?.value ?? 0;
    this.compactedRev = meta.get('compacted')?.value ?? 0;
    this.stmts = {
      get: this.db.prepare<[string, string, string], { body: string }>('SELECT body FROM objects WHERE resource = ? AND namespace = ? AND name = ?'),
      listAll: this.db.prepare<[string, string, string], { body: string }>(
        'SELECT body FROM objects WHERE resource = ? AND (namespace, name) > (?, ?) ORDER BY namespace, name',
      ),
      listNs: this.db.prepare<[string, string, string], { body: string }>(
        'SELECT body FROM objects WHERE resource = ? AND namespace = ? AND name > ? ORDER BY name',
      ),
      countAll: this.db.prepare<[string, string, string], { n: number }>('SELECT count(*) AS n FROM objects WHERE resource = ? AND (namespace, name) > (?, ?)'),
      countNs: this.db.prepare<[string, string, string], { n: number }>('SELECT count(*) AS n FROM objects WHERE resource = ? AND namespace = ? AND name > ?'),
      upsert: this.db.prepare('INSERT OR REPLACE INTO objects (resource, namespace, name, body) VALUES (?, ?, ?, ?)'),
      remove: this.db.prepare('DELETE FROM objects WHERE resource = ? AND namespace = ? AND name = ?'),
      log: this.db.prepare('INSERT INTO changes (rv, resource, type, body, prev) VALUES (?, ?, ?, ?, ?)'),
      setMeta: this.db.prepare('INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)'),
      since: this.db.prepare<[string, number], { rv: number; type: ChangeType; body: string; prev: string | null }>(
        'SELECT rv, type, body, prev FROM changes WHERE resource = ? AND rv > ? ORDER BY rv',
      ),
      prune: this.db.prepare('DELETE FROM changes WHERE rv <= ?'),
    };
  }

  /** The newest resourceVersion handed out. */
  get revision(): number {
    return this.rev;
  }

  /** Changes at or below this revision are no longer replayable. */
  get compacted(): number {
    return this.compactedRev;
  }

  get(resource: string, namespace: string, name: string): KubeObject | undefined {
    const row = this.stmts.get.get(resource, namespace, name);
    return row ? (JSON.parse(row.body) as KubeObject) : undefined;
  }

  /**
   * Objects of a resource ordered by namespace then name, starting after `after`
   * (a `[namespace, name]` position, for continue tokens). Lazily parsed: stop early for pages.
   */
  *list(resource: string, namespace: string | undefined, after: [string, string] = ['', '']): Generator<KubeObject> {
    const rows = namespace === undefined ? this.stmts.listAll.iterate(resource, after[0], after[1]) : this.stmts.listNs.iterate(resource, namespace, after[1]);
    for (const row of rows) yield JSON.parse(row.body) as KubeObject;
  }

  /**
   * The objects as they were at revision `rv` (a paginated list's snapshot), ordered and
   * positioned as list(): the current rows with the changes made after `rv` undone from the
   * history. Undefined when that history was compacted away.
   */
  listAt(resource: string, namespace: string | undefined, rv: number, after: [string, string] = ['', '']): KubeObject[] | undefined {
    if (rv < this.compactedRev) return undefined;
    const changes = this.changesSince(resource, rv);
    const keyOf = (o: KubeObject): string => `${o.metadata.namespace ?? ''}\0${o.metadata.name}`;
    /** Each object changed since `rv`: its state at `rv` (null: it did not exist yet). */
    const before = new Map<string, KubeObject | null>();
    for (const c of changes) {
      const key = keyOf(c.object);
      if (before.has(key)) continue;
      if (c.type === 'ADDED') before.set(key, null);
      else if (c.prev) before.set(key, c.prev);
      else return undefined;
    }
    const inScope = (o: KubeObject): boolean => namespace === undefined || (o.metadata.namespace ?? '') === namespace;
    const position = (o: KubeObject): [string, string] => [o.metadata.namespace ?? '', o.metadata.name];
    const isAfter = (o: KubeObject): boolean => {
      const [ns, name] = position(o);
      return namespace !== undefined ? name > after[1] : ns > after[0] || (ns === after[0] && name > after[1]);
    };
    const items = [...this.list(resource, namespace, after)].filter((o) => !before.has(keyOf(o)));
    for (const old of before.values()) if (old && inScope(old) && isAfter(old)) items.push(old);
    return items.sort((a, b) => {
      const [na, ma] = position(a);
      const [nb, mb] = position(b);
      return na < nb ? -1 : na > nb ? 1 : ma < mb ? -1 : ma > mb ? 1 : 0;
    });
  }

  /** How many objects follow position `after` (for remainingItemCount). */
  countAfter(resource: string, namespace: string | undefined, after: [string, string]): number {
    return (namespace === undefined ? this.stmts.countAll.get(resource, after[0], after[1]) : this.stmts.countNs.get(resource, namespace, after[1]))!.n;
  }

  /**
   * Stores `object` (or removes it, for DELETED) under the next revision, which becomes its
   * resourceVersion, logs the change and tells subscribers. Returns the stored object.
   */
  write(resource: string, type: ChangeType, object: KubeObject, prev?: KubeObject): KubeObject {
    const rv = this.rev + 1;
    const stored: KubeObject = { ...object, metadata: { ...object.metadata, resourceVersion: String(rv) } };
    const ns = stored.metadata.namespace ?? '';
    const body = JSON.stringify(stored);
    this.db.transaction(() => {
      if (type === 'DELETED') this.stmts.remove.run(resource, ns, stored.metadata.name);
      else this.stmts.upsert.run(resource, ns, stored.metadata.name, body);
      this.stmts.log.run(rv, resource, type, body, prev ? JSON.stringify(prev) : null);
      this.stmts.setMeta.run('revision', rv);
    })();
    this.rev = rv;
    // Compact in batches (a quarter of the limit) rather than on every write.
    if (rv - this.compactedRev > this.options.historyLimit + Math.max(1, this.options.historyLimit >> 2)) this.compact();
    const change: Change = { type, resource, rv, object: stored, ...(prev ? { prev } : {}) };
    for (const listener of this.listeners.get(resource) ?? []) listener(change);
    return stored;
  }

  /** Logged changes of `resource` after revision `rv`, oldest first. */
  changesSince(resource: string, rv: number): Change[] {
    return this.stmts.since.all(resource, rv).map((r) => ({
      type: r.type,
      resource,
      rv: r.rv,
      object: JSON.parse(r.body) as KubeObject,
      ...(r.prev ? { prev: JSON.parse(r.prev) as KubeObject } : {}),
    }));
  }

  subscribe(resource: string, listener: ChangeListener): () => void {
    let set = this.listeners.get(resource);
    if (!set) this.listeners.set(resource, (set = new Set()));
    set.add(listener);
    return () => set.delete(listener);
  }

  /** Drops history beyond the limit; watches from older resourceVersions then get 410. */
  compact(): void {
    const upTo = this.rev - this.options.historyLimit;
    if (upTo <= this.compactedRev) return;
    this.db.transaction(() => {
      this.stmts.prune.run(upTo);
      this.stmts.setMeta.run('compacted', upTo);
    })();
    this.compactedRev = upTo;
  }

  close(): void {
    this.db.close();
  }
}

/**
 * Watch streams: `?watch=true` answered with newline-delimited WatchEvents, from a
 * resourceVersion (replaying the store's history) or from "now" (synthetic ADDED for what
 * exists), then live. Headers are flushed at once (`kubectl wait` hangs otherwise); objects
 * that stop or start matching a selector are sent as DELETED or ADDED; BOOKMARKs go out when
 * asked for; a resourceVersion older than the history gets one 410 Expired ERROR event
 * (reference kube-api.md §10). Table watches (`kubectl get -w`) get one-row Tables.
 */
import type { ServerResponse } from 'node:http';
import { ApiError, expired } from './errors.js';
import { groupVersion, resourceKey, type ResourceDef } from './resources.js';
import type { Predicate } from './selectors.js';
import type { Change, ChangeType, KubeObject, Store } from './store.js';

export type WatchEventType = ChangeType | 'BOOKMARK' | 'ERROR';

export interface WatchRequest {
  def: ResourceDef;
  /** Undefined: all namespaces. */
  namespace?: string;
  predicate: Predicate;
  resourceVersion?: string;
  allowBookmarks: boolean;
  timeoutSeconds?: number;
  /** Renders an object as a one-row Table; `withHeader` for the stream's first row only. */
  table?: (obj: KubeObject, resourceVersion: string, withHeader: boolean) => object;
}

export interface WatchSettings {
  bookmarkIntervalMs: number;
  /** A watcher this far behind (bytes queued) is dropped, as the real apiserver drops slow ones. */
  maxBufferedBytes: number;
}

/** Serialised objects, shared by every watcher that receives the same change. */
const serialised = new WeakMap<KubeObject, string>();
function objectJson(obj: KubeObject): string {
  let s = serialised.get(obj);
  if (s === undefined) serialised.set(obj, (s = JSON.stringify(obj)));
  return s;
}

/** The change as this watcher sees it, given its selectors: possibly nothing, or a DELETED. */
function eventFor(change: Change, matches: (o: KubeObject) => boolean): ChangeType | undefined {
  const now = matches(change.object);
  // A watcher that saw the object must see it go, even if its last update took it out of the selection.
  if (change.type === 'DELETED') return now || (change.prev !== undefined && matches(change.prev)) ? 'DELETED' : undefined;
  if (change.type !== 'MODIFIED') return now ? change.type : undefined;
  const before = change.prev !== undefined && matches(change.prev);
  if (now) return before ? 'MODIFIED' : 'ADDED';
  return before ? 'DELETED' : undefined;
}

/**
 * Watch flushes share the event loop with every other request: a write fanned out to
 * thousands of watchers is sent FLUSH_BATCH watchers per loop turn, with I/O (a `get`, the
 * next write) served in between, instead of blocking the loop for the whole fan-out.
 */
const FLUSH_BATCH = 128;
const dirty = new Set<() => void>();
let draining = false;

function scheduleFlush(flush: () => void): void {
  dirty.add(flush);
  if (!draining) {
    draining = true;
    setImmediate(drainFlushes);
  }
}

function drainFlushes(): void {
  let sent = 0;
  for (const flush of dirty) {
    dirty.delete(flush);
    flush();
    if (++sent === FLUSH_BATCH) break;
  }
  // An immediate queued from an immediate runs on the next turn, after pending I/O.
  if (dirty.size > 0) setImmediate(drainFlushes);
  else draining = false;
}

export function serveWatch(res: ServerResponse, store: Store, req: WatchRequest, settings: WatchSettings): void {
  const { def } = req;
  const matches = (o: KubeObject): boolean => (req.namespace === undefined || o.metadata.namespace === req.namespace) && req.predicate(o);
  let from: number | undefined;
  if (req.resourceVersion !== undefined && req.resourceVersion !== '' && req.resourceVersion !== '0') {
    from = Number(req.resourceVersion);
    if (!Number.isSafeInteger(from) || from < 0) throw new ApiError(400, 'BadRequest', `invalid resource version: ${req.resourceVersion}`);
  }

  res.writeHead(200, {
    'Content-Type': req.table ? 'application/json;as=Table;v=v1;g=meta.k8s.io' : 'application/json',
    'Cache-Control': 'no-cache, private',
  });
  res.flushHeaders();

  let headerSent = false;
  const send = (type: WatchEventType, obj: KubeObject): void => {
    let body: string;
    if (req.table && type !== 'BOOKMARK' && type !== 'ERROR') {
      body = JSON.stringify(req.table(obj, obj.metadata.resourceVersion ?? String(store.revision), !headerSent));
      headerSent = true;
    } else {
      body = objectJson(obj);
    }
    queue(`{"type":"${type}","object":${body}}\n`);
  };
  // Events of one tick go out in one write: with thousands of watchers, one TLS record per
  // event per watcher would cost more than everything else.
  let pending = '';
  const flush = (): void => {
    const chunk = pending;
    pending = '';
    if (res.destroyed || res.writableEnded) return;
    res.write(chunk);
    if (res.writableLength > settings.maxBufferedBytes) res.destroy();
  };
  const queue = (line: string): void => {
    if (pending === '') scheduleFlush(flush);
    pending += line;
  };

  if (from !== undefined && from < store.compacted) {
    const e = expired(`too old resource version: ${from} (${store.compacted + 1})`);
    res.end(`{"type":"ERROR","object":${JSON.stringify(e.toStatus())}}\n`);
    return;
  }
  if (from === undefined) {
    for (const obj of store.list(resourceKey(def), req.namespace)) if (req.predicate(obj)) send('ADDED', obj);
  } else {
    for (const change of store.changesSince(resourceKey(def), from)) {
      const type = eventFor(change, matches);
      if (type) send(type, change.object);
    }
  }
  // Same tick as the reads above: no change can fall between history and live events.
  const unsubscribe = store.subscribe(resourceKey(def), (change) => {
    // A failure to render one watcher's event ends that watch, never the write that caused it.
    try {
      const type = eventFor(change, matches);
      if (type) send(type, change.object);
    } catch (e) {
      process.stderr.write(`apiserver: ending a watch on ${def.plural}: ${(e as Error).message}\n`);
      res.destroy(e as Error);
    }
  });

  const timers: NodeJS.Timeout[] = [];
  if (req.allowBookmarks) {
    const bookmark = { kind: def.kind, apiVersion: groupVersion(def), metadata: { resourceVersion: '' } };
    timers.push(
      setInterval(() => {
        bookmark.metadata.resourceVersion = String(store.revision);
        queue(`{"type":"BOOKMARK","object":${JSON.stringify(bookmark)}}\n`);
      }, settings.bookmarkIntervalMs),
    );
  }
  // With no timeoutSeconds, 30–60 min as kube-apiserver's --min-request-timeout does: a clean
  // end makes clients re-watch, which bounds the life of a half-dead connection.
  const timeoutMs = req.timeoutSeconds !== undefined ? req.timeoutSeconds * 1000 : (1800 + Math.random() * 1800) * 1000;
  timers.push(
    setTimeout(() => {
      flush();
      res.end();
    }, timeoutMs),
  );
  // In Node 20 the request's 'close' fires once its body is read; the response's marks the client leaving.
  res.on('close', () => {
    unsubscribe();
    for (const t of timers) clearTimeout(t);
  });
}

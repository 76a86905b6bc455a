/**
 * HTTP front of the API server: authentication, routing of Kubernetes API paths (discovery,
 * OpenAPI, `/api/v1/…` and `/apis/G/V/…` with namespaces and subresources), authorization,
 * body decoding (JSON or YAML; 400 with the parse error, nothing stored), content negotiation
 * (server-side Tables for `kubectl get`) and `Status` error bodies.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { parse as parseYaml } from 'yaml';
import { authenticate } from './auth.js';
import { authorize, type Verb } from './authz.js';
import {
  AGGREGATED_CONTENT_TYPE,
  OPENAPI_V2_PROTOBUF,
  VERSION_INFO,
  aggregatedDiscovery,
  apiGroup,
  apiGroupList,
  apiResourceList,
  apiVersions,
  openApiV2Document,
  openApiV3Document,
  openApiV3Index,
} from './discovery.js';
import { ApiError, badRequest, forbidden, methodNotAllowed, pathNotFound, unauthorized, unsupportedMediaType } from './errors.js';
import { PATCH_TYPES, type FieldValidation, type ObjectsApi, type WriteOptions } from './objects-api.js';
import { isPlainObject } from './objects.js';
import type { ResourceRegistry } from './registry.js';
import { PODS, SELF_SUBJECT_ACCESS_REVIEWS, SELF_SUBJECT_RULES_REVIEWS, groupVersion, resourceKey, type ResourceDef } from './resources.js';
import { selfSubjectAccessReview, selfSubjectRulesReview } from './access-review.js';
import { PROTOBUF_CONTENT_TYPE, decodeProtobufObject } from './protobuf.js';
import { parsePodLogOptions, podLogFile, servePodLog } from './pod-log.js';
import { selectorPredicate } from './selectors.js';
import { buildTable, printerColumnsFor, type PrinterColumn } from './table.js';
import type { KubeObject, Store } from './store.js';
import { serveWatch, type WatchSettings } from './watch.js';

export interface HandlerDeps {
  store: Store;
  registry: ResourceRegistry;
  objects: ObjectsApi;
  tokenSecret: Buffer;
  now: () => Date;
  watch: WatchSettings;
  /** Where pod logs are read from (`DIR/NS/NAME.log`); undefined: pods/log is not served. */
  podLogDir?: string;
}

/** Largest request body accepted, as kube-apiserver's 3 MiB limit. */
const MAX_BODY = 3 * 1024 * 1024;
const TABLE_CONTENT_TYPE = 'application/json;as=Table;v=v1;g=meta.k8s.io';

interface ResourceRequest {
  def: ResourceDef;
  namespace?: string;
  name?: string;
  subresource?: string;
}

export function createHandler(deps: HandlerDeps): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    handle(deps, req, res).catch((e: unknown) => fail(res, e));
  };
}

function fail(res: ServerResponse, e: unknown): void {
  let error: ApiError;
  if (e instanceof ApiError) error = e;
  else {
    process.stderr.write(`apiserver: internal error: ${(e as Error).stack ?? String(e)}\n`);
    error = new ApiError(500, 'InternalError', `Internal error occurred: ${(e as Error).message}`);
  }
  if (res.headersSent) {
    res.destroy();
    return;
  }
  sendJson(res, error.code, error.toStatus());
}

function sendJson(res: ServerResponse, code: number, body: unknown, contentType = 'application/json', warnings: string[] = []): void {
  const text = JSON.stringify(body);
  const headers: Record<string, string | string[]> = { 'Content-Type': contentType, 'Content-Length': String(Buffer.byteLength(text)), 'Cache-Control': 'no-cache, private' };
  if (warnings.length) headers['Warning'] = warnings.map((w) => `299 - ${JSON.stringify(w)}`);
  res.writeHead(code, headers);
  res.end(text);
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY) throw new ApiError(413, 'RequestEntityTooLarge', `the request body is larger than ${MAX_BODY} bytes`);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

const mediaType = (header: string | undefined): string => (header ?? '').split(';')[0]!.trim().toLowerCase();

/** Decodes a JSON (or, for create/update, YAML) body; a parse error is a 400 naming it. */
function decodeBody(raw: Buffer, contentType: string, what: string): unknown {
  if (contentType === PROTOBUF_CONTENT_TYPE) return decodeProtobufObject(raw);
  if (contentType.includes('protobuf') || contentType.includes('cbor')) throw unsupportedMediaType(['application/json', 'application/yaml', PROTOBUF_CONTENT_TYPE]);
  const text = raw.toString('utf8');
  if (text.trim() === '') throw badRequest(`the request body is empty: a ${what} was expected`);
  if (contentType === 'application/yaml' || contentType === 'application/x-yaml' || contentType === 'text/yaml') {
    let body: unknown;
    try {
      body = parseYaml(text);
    } catch (e) {
      throw badRequest(`the body of the request could not be decoded as YAML: ${(e as Error).message.split('\n')[0]}`);
    }
    refuseProtoKeys(body);
    return body;
  }
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (e) {
    throw badRequest(`the body of the request could not be decoded as JSON: ${(e as Error).message}`);
  }
  refuseProtoKeys(body);
  return body;
}

/**
 * A `__proto__` member would reach an object's prototype when a patch is merged in: no
 * Kubernetes object has one, so a body holding one is refused whole.
 */
function refuseProtoKeys(value: unknown): void {
  if (Array.isArray(value)) for (const v of value) refuseProtoKeys(v);
  else if (value !== null && typeof value === 'object') {
    for (const [key, v] of Object.entries(value)) {
      if (key === '__proto__') throw badRequest('the body of the request holds a "__proto__" member, which no object may have');
      refuseProtoKeys(v);
    }
  }
}

async function handle(deps: HandlerDeps, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', 'https://apiserver');
  const user = authenticate(deps.tokenSecret, req.headers.authorization);
  if (!user) throw unauthorized();
  let segments: string[];
  try {
    segments = url.pathname.split('/').filter((s) => s !== '').map(decodeURIComponent);
  } catch {
    throw badRequest(`malformed percent-encoding in the path ${url.pathname}`);
  }
  const method = req.method ?? 'GET';
  const accept = req.headers.accept ?? '';

  if (method === 'GET' && serveNonResource(deps, req, res, segments, accept)) return;

  let rest: string[];
  let def: ResourceDef | undefined;
  const find = (plural: string | undefined): ResourceDef | undefined =>
    plural === undefined ? undefined : segments[0] === 'api' ? deps.registry.find('', segments[1]!, plural) : deps.registry.find(segments[1]!, segments[2]!, plural);
  if (segments[0] === 'api' && segments.length >= 3) rest = segments.slice(2);
  else if (segments[0] === 'apis' && segments.length >= 4) rest = segments.slice(3);
  else throw pathNotFound();

  const r: ResourceRequest = { def: undefined as unknown as ResourceDef };
  const nsDef = rest[0] === 'namespaces' && rest.length >= 3 ? find(rest[2]) : undefined;
  if (nsDef?.namespaced) {
    def = nsDef;
    r.namespace = rest[1]!;
    rest = rest.slice(2);
  } else {
    def = find(rest[0]);
  }
  if (!def || rest.length > 3) throw pathNotFound();
  r.def = def;
  if (rest[1] !== undefined) r.name = rest[1];
  if (rest[2] !== undefined) r.subresource = rest[2];
  if (r.name !== undefined && def.namespaced && r.namespace === undefined) throw pathNotFound();
  if (r.subresource !== undefined && !(def.subresources as Record<string, boolean>)[r.subresource]) throw pathNotFound();

  const q = url.searchParams;
  const verb = verbOf(method, r, q);
  if (def.verbs && !def.verbs.includes(verb)) throw methodNotAllowed();
  const why = authorize(user, { verb, def, ...(r.namespace ? { namespace: r.namespace } : {}), ...(r.name ? { name: r.name } : {}), ...(r.subresource ? { subresource: r.subresource } : {}) });
  if (why) throw forbidden(def, r.name ?? '', why);

  const wantsTable = /as=Table/.test(accept);
  const warnings: string[] = [];
  const writeOpts = (): WriteOptions => ({
    user,
    dryRun: q.get('dryRun') === 'All',
    fieldValidation: fieldValidation(q.get('fieldValidation')),
    warnings,
    fieldManager: fieldManagerOf(q, req.headers['user-agent'], verb, mediaType(req.headers['content-type'])),
  });
  const respond = (code: number, obj: KubeObject | object): void => {
    if (wantsTable && 'metadata' in obj && (obj as KubeObject).kind === def.kind && method === 'GET') {
      sendJson(res, code, table(deps, def, [obj as KubeObject], q, (obj as KubeObject).metadata.resourceVersion ?? ''), TABLE_CONTENT_TYPE);
    } else sendJson(res, code, obj, 'application/json', warnings);
  };
  const ns = r.namespace ?? '';

  switch (verb) {
    case 'get':
      if (r.subresource === 'scale') return respond(200, deps.objects.getScale(ns, r.name!));
      if (r.subresource === 'log') return podLog(deps, res, ns, r.name!, q);
      return respond(200, deps.objects.get(def, ns, r.name!));
    case 'list': {
      const predicate = selectorPredicate(def, q.get('labelSelector'), q.get('fieldSelector'));
      const limit = q.get('limit') ? Number(q.get('limit')) : undefined;
      if (limit !== undefined && !(Number.isInteger(limit) && limit >= 0)) throw badRequest(`limit must be a non-negative integer, not "${q.get('limit')}"`);
      const selective = Boolean(q.get('labelSelector') || q.get('fieldSelector'));
      const list = deps.objects.list(def, r.namespace, { predicate, selective, ...(limit ? { limit } : {}), ...(q.get('continue') ? { continueToken: q.get('continue')! } : {}) });
      if (wantsTable) return sendJson(res, 200, table(deps, def, list.items, q, list.resourceVersion, list.continueToken), TABLE_CONTENT_TYPE);
      return sendJson(res, 200, {
        kind: `${def.kind}List`,
        apiVersion: groupVersion(def),
        metadata: {
          resourceVersion: list.resourceVersion,
          ...(list.continueToken ? { continue: list.continueToken } : {}),
          ...(list.remainingItemCount !== undefined ? { remainingItemCount: list.remainingItemCount } : {}),
        },
        items: list.items,
      });
    }
    case 'watch': {
      const fieldSelector = r.name ? [`metadata.name=${r.name}`, q.get('fieldSelector')].filter(Boolean).join(',') : q.get('fieldSelector');
      const timeout = q.get('timeoutSeconds');
      return serveWatch(
        res,
        deps.store,
        {
          def,
          ...(r.namespace !== undefined ? { namespace: r.namespace } : {}),
          predicate: selectorPredicate(def, q.get('labelSelector'), fieldSelector),
          ...(q.get('resourceVersion') !== null ? { resourceVersion: q.get('resourceVersion')! } : {}),
          allowBookmarks: q.get('allowWatchBookmarks') === 'true',
          ...(timeout !== null && Number(timeout) > 0 ? { timeoutSeconds: Number(timeout) } : {}),
          ...(wantsTable ? { table: (obj: KubeObject, rv: string, withHeader: boolean) => watchRow(deps, def, obj, q, rv, withHeader) } : {}),
        },
        deps.watch,
      );
    }
    case 'create': {
      const body = decodeBody(await readBody(req), mediaType(req.headers['content-type']), def.kind);
      if (r.subresource === 'eviction') {
        deps.objects.evict(ns, r.name!, writeOpts());
        return sendJson(res, 201, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', code: 201 });
      }
      if (def === SELF_SUBJECT_ACCESS_REVIEWS) return respond(201, selfSubjectAccessReview(user, body));
      if (def === SELF_SUBJECT_RULES_REVIEWS) return respond(201, selfSubjectRulesReview(user, body, deps.registry.all()));
      return respond(201, deps.objects.create(def, r.namespace, body, writeOpts()));
    }
    case 'update': {
      const body = decodeBody(await readBody(req), mediaType(req.headers['content-type']), def.kind);
      if (r.subresource === 'scale') return respond(200, deps.objects.updateScale(ns, r.name!, { body }, writeOpts()));
      return respond(200, deps.objects.update(def, ns, r.name!, body, { ...writeOpts(), ...(r.subresource === 'status' ? { subresource: 'status' as const } : {}) }));
    }
    case 'patch': {
      const contentType = mediaType(req.headers['content-type']);
      const force = q.get('force');
      if (force !== null && contentType !== APPLY_PATCH) throw invalidOptions(verb, 'force', 'Forbidden: may not be specified for non-apply patch');
      if (contentType === APPLY_PATCH && r.subresource !== 'scale') {
        const opts = writeOpts();
        const body = decodeBody(await readBody(req), 'application/yaml', 'apply patch');
        return respond(200, deps.objects.apply(def, ns, r.name!, body, { ...opts, force: force === 'true', ...(r.subresource === 'status' ? { subresource: 'status' as const } : {}) }));
      }
      if (!(Object.values(PATCH_TYPES) as string[]).includes(contentType)) {
        throw unsupportedMediaType(def.custom ? [PATCH_TYPES.json, PATCH_TYPES.merge, 'application/apply-patch+yaml'] : [...Object.values(PATCH_TYPES), 'application/apply-patch+yaml']);
      }
      const patch = decodeBody(await readBody(req), 'application/json', 'patch');
      if (r.subresource === 'scale') return respond(200, deps.objects.updateScale(ns, r.name!, { contentType, patch }, writeOpts()));
      return respond(200, deps.objects.patch(def, ns, r.name!, contentType, patch, { ...writeOpts(), ...(r.subresource === 'status' ? { subresource: 'status' as const } : {}) }));
    }
    case 'delete': {
      const raw = await readBody(req);
      const options = raw.length ? decodeBody(raw, 'application/json', 'DeleteOptions') : {};
      if (!isPlainObject(options)) throw badRequest('DeleteOptions must be a JSON object');
      const opts = writeOpts();
      if (Array.isArray(options['dryRun']) && options['dryRun'].includes('All')) opts.dryRun = true;
      const { object, gone } = deps.objects.delete(def, ns, r.name!, { ...(isPlainObject(options['preconditions']) ? { preconditions: options['preconditions'] } : {}) }, opts);
      if (gone && !def.custom) {
        return sendJson(res, 200, {
          kind: 'Status',
          apiVersion: 'v1',
          metadata: {},
          status: 'Success',
          details: { name: object.metadata.name, ...(def.group ? { group: def.group } : {}), kind: def.plural, uid: object.metadata.uid },
        });
      }
      return sendJson(res, 200, object);
    }
    case 'deletecollection': {
      const predicate = selectorPredicate(def, q.get('labelSelector'), q.get('fieldSelector'));
      const opts = writeOpts();
      for (const obj of deps.objects.list(def, r.namespace, { predicate }).items) {
        deps.objects.delete(def, obj.metadata.namespace ?? '', obj.metadata.name, {}, opts);
      }
      return sendJson(res, 200, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success' });
    }
  }
}

function podLog(deps: HandlerDeps, res: ServerResponse, namespace: string, name: string, q: URLSearchParams): Promise<void> {
  const pod = deps.objects.get(PODS, namespace, name);
  if (deps.podLogDir === undefined) throw new ApiError(404, 'NotFound', 'pod logs are not served: the API server was started without --pod-log-dir');
  const options = parsePodLogOptions(q);
  const file = podLogFile(deps.podLogDir, pod, options);
  let unsubscribe = (): void => {};
  const podGone = new Promise<void>((resolve) => {
    unsubscribe = deps.store.subscribe(resourceKey(PODS), (change) => {
      const m = change.object.metadata;
      if (change.type === 'DELETED' && m.namespace === namespace && m.name === name) resolve();
    });
  });
  res.on('close', unsubscribe);
  return servePodLog(res, { file, pod, options, podGone }).finally(() => {
    if (!options.follow) unsubscribe();
  });
}

const APPLY_PATCH = 'application/apply-patch+yaml';
/** kube's limit on fieldManager (FieldManagerMaxLength). */
const FIELD_MANAGER_MAX = 128;

/** 422 on the request's options object, as kube words it: `PatchOptions.meta.k8s.io "" is invalid: …`. */
function invalidOptions(verb: Verb, field: string, detail: string): ApiError {
  const kind = verb === 'create' ? 'CreateOptions' : verb === 'update' ? 'UpdateOptions' : 'PatchOptions';
  return new ApiError(422, 'Invalid', `${kind}.meta.k8s.io "" is invalid: ${field}: ${detail}`, {
    group: 'meta.k8s.io',
    kind,
    causes: [{ reason: detail.startsWith('Required') ? 'FieldValueRequired' : 'FieldValueInvalid', message: detail, field }],
  });
}

/**
 * The manager a write is recorded under: `fieldManager`, or the User-Agent's program name
 * (`kubectl/v1.32.4 (…)` → `kubectl`), as kube does; apply needs an explicit one.
 */
function fieldManagerOf(q: URLSearchParams, userAgent: string | undefined, verb: Verb, contentType: string): string {
  const given = q.get('fieldManager');
  if (given !== null && given !== '') {
    if (Buffer.byteLength(given) > FIELD_MANAGER_MAX) throw invalidOptions(verb, 'fieldManager', `Too long: may not be more than ${FIELD_MANAGER_MAX} bytes`);
    const bad = [...given].findIndex((c) => /[\p{C}]/u.test(c));
    if (bad >= 0) throw invalidOptions(verb, 'fieldManager', `Invalid value: ${JSON.stringify(given)}: invalid characters at index ${bad}`);
    return given;
  }
  if (verb === 'patch' && contentType === APPLY_PATCH) throw invalidOptions(verb, 'fieldManager', 'Required value: is required for apply patch');
  return (userAgent ?? '').split('/')[0]!.slice(0, FIELD_MANAGER_MAX) || 'unknown';
}

function verbOf(method: string, r: ResourceRequest, q: URLSearchParams): Verb {
  const named = r.name !== undefined;
  switch (method) {
    case 'GET':
      if (q.get('watch') === 'true' || q.get('watch') === '1') return 'watch';
      return named ? 'get' : 'list';
    case 'POST':
      if (!named && r.subresource === undefined) return 'create';
      if (named && r.subresource === 'eviction') return 'create';
      break;
    case 'PUT':
      if (named && r.subresource !== 'eviction') return 'update';
      break;
    case 'PATCH':
      if (named && r.subresource !== 'eviction') return 'patch';
      break;
    case 'DELETE':
      if (r.subresource === undefined) return named ? 'delete' : 'deletecollection';
  }
  throw methodNotAllowed();
}

function fieldValidation(v: string | null): FieldValidation {
  if (v === null || v === '') return 'Warn';
  if (v === 'Strict' || v === 'Warn' || v === 'Ignore') return v;
  throw badRequest(`fieldValidation must be one of Ignore, Warn, Strict; got "${v}"`);
}

function columnsOf(def: ResourceDef): PrinterColumn[] {
  return def.columns ?? printerColumnsFor(def.kind) ?? [];
}

function includeObjectOf(q: URLSearchParams): 'None' | 'Metadata' | 'Object' {
  const v = q.get('includeObject');
  if (v === null || v === '') return 'Metadata';
  if (v === 'None' || v === 'Metadata' || v === 'Object') return v;
  throw badRequest(`includeObject must be one of None, Metadata, Object; got "${v}"`);
}

function table(deps: HandlerDeps, def: ResourceDef, objects: KubeObject[], q: URLSearchParams, resourceVersion: string, continueToken?: string): object {
  return buildTable({
    columns: columnsOf(def),
    objects,
    includeObject: includeObjectOf(q),
    now: deps.now(),
    resourceVersion,
    ...(continueToken ? { continueToken } : {}),
  });
}

/** A one-row Table for a watch event; only the stream's first carries the column definitions. */
function watchRow(deps: HandlerDeps, def: ResourceDef, obj: KubeObject, q: URLSearchParams, rv: string, withHeader: boolean): object {
  const t = table(deps, def, [obj], q, rv) as Record<string, unknown>;
  return withHeader ? t : { ...t, columnDefinitions: null };
}

/** Discovery, OpenAPI, version and health: true when the path was one of them. */
function serveNonResource(deps: HandlerDeps, req: IncomingMessage, res: ServerResponse, s: string[], accept: string): boolean {
  const path = s.join('/');
  const aggregated = accept.includes('as=APIGroupDiscoveryList');
  const reg = deps.registry;
  if (path === 'version') sendJson(res, 200, VERSION_INFO);
  else if (path === 'healthz' || path === 'livez' || path === 'readyz') {
    res.writeHead(200, { 'Content-Type': 'text/plain' });
    res.end('ok');
  } else if (path === 'api') {
    if (aggregated) sendJson(res, 200, aggregatedDiscovery(reg, true), AGGREGATED_CONTENT_TYPE);
    else sendJson(res, 200, apiVersions(req.socket.localAddress + ':' + req.socket.localPort));
  } else if (path === 'apis') {
    if (aggregated) sendJson(res, 200, aggregatedDiscovery(reg, false), AGGREGATED_CONTENT_TYPE);
    else sendJson(res, 200, apiGroupList(reg));
  } else if (s[0] === 'apis' && s.length === 2) {
    const g = apiGroup(reg, s[1]!);
    if (!g) throw pathNotFound();
    sendJson(res, 200, g);
  } else if ((s[0] === 'api' && s.length === 2) || (s[0] === 'apis' && s.length === 3)) {
    const list = s[0] === 'api' ? apiResourceList(reg, '', s[1]!) : apiResourceList(reg, s[1]!, s[2]!);
    if (!list) throw pathNotFound();
    sendJson(res, 200, list);
  } else if (path === 'openapi/v2') {
    // kubectl asks the protobuf form only for client-side validation: a stub, see discovery.ts.
    if (!accept.includes('protobuf')) {
      sendJson(res, 200, openApiV2Document(reg));
      return true;
    }
    res.writeHead(200, { 'Content-Type': 'application/com.github.proto-openapi.spec.v2.v1.0+protobuf', 'Content-Length': OPENAPI_V2_PROTOBUF.length });
    res.end(OPENAPI_V2_PROTOBUF);
  } else if (path === 'openapi/v3') sendJson(res, 200, openApiV3Index(reg));
  else if (s[0] === 'openapi' && s[1] === 'v3' && ((s[2] === 'api' && s.length === 4) || (s[2] === 'apis' && s.length === 5))) {
    const doc = s[2] === 'api' ? openApiV3Document(reg, '', s[3]!) : openApiV3Document(reg, s[3]!, s[4]!);
    if (!doc) throw pathNotFound();
    sendJson(res, 200, doc);
  } else return false;
  return true;
}


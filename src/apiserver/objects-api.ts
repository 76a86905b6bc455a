/**
 * The semantics of the Kubernetes object API over the store, free of HTTP: create, get,
 * list (selectors, limit/continue), update (optimistic concurrency, generation, status
 * subresource, no-op writes), patch, delete (finalizers, deletionTimestamp, cascades), the
 * Deployment `scale` subresource and Pod eviction. Every write of a custom resource goes
 * through its CRD schema (defaults, pruning or strict unknown-field errors, validation), and
 * every write by a node user through node admission (reference kube-api.md §6–§9).
 */
import { randomUUID } from 'node:crypto';
import type { User } from './auth.js';
import { admitNodeWrite, type RequestAttributes } from './authz.js';
import { ApiError, alreadyExists, badRequest, conflict, expired, forbidden, invalid, notFound, unsupportedMediaType, type FieldCause } from './errors.js';
import { deepEqual, isPlainObject, without } from './objects.js';
import type { ResourceRegistry } from './registry.js';
import { CRDS, DEPLOYMENTS, NAMESPACES, PODS, groupVersion, resourceKey, type CrdObject, type ResourceDef } from './resources.js';
import type { Predicate } from './selectors.js';
import { PatchError, applyJsonPatch, applyMergePatch, applyStrategicMergePatch } from './patch.js';
import { applyDefaults, pruneUnknownFields, unknownFields, validateObject } from './schema.js';
import { jsonPathProblem } from './table.js';
import { builtinShape, managedFieldsAfterUpdate, schemaShape, serverSideApply, type FieldShape, type ManagedFieldsEntry, type ManagerRef } from './managed-fields.js';

/** How a kind's fields are shaped, for field ownership: its CRD schema, or the built-in tables. */
const shapeOf = (def: ResourceDef): FieldShape => (def.custom && def.schema ? schemaShape(def.schema) : builtinShape(def.kind));
import type { KubeObject, Store } from './store.js';

export type FieldValidation = 'Strict' | 'Warn' | 'Ignore';

/** Per-request options of a write. */
export interface WriteOptions {
  user: User;
  dryRun: boolean;
  fieldValidation: FieldValidation;
  /** Collects `Warning:` header texts (unknown fields under fieldValidation=Warn). */
  warnings: string[];
  /** Who writes, for managedFields: the fieldManager parameter or the User-Agent's program name. */
  fieldManager: string;
}

/** The object's managedFields when set by server-side apply rather than computed as an Update. */
interface Preset {
  managedFields?: ManagedFieldsEntry[];
  /** The subresource a main-object write came through (`scale`), as its managedFields entry names it. */
  writtenThrough?: string;
}

export interface ListOptions {
  predicate: Predicate;
  /** A label or field selector was given: remainingItemCount is then left out, as kube does. */
  selective?: boolean;
  limit?: number;
  continueToken?: string;
}

export interface ListResult {
  items: KubeObject[];
  resourceVersion: string;
  continueToken?: string;
  remainingItemCount?: number;
}

export interface DeleteOptions {
  preconditions?: { uid?: string; resourceVersion?: string };
}

export const PATCH_TYPES = {
  merge: 'application/merge-patch+json',
  json: 'application/json-patch+json',
  strategic: 'application/strategic-merge-patch+json',
} as const;

const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const GENERATE_SUFFIX = 'bcdfghjklmnpqrstvwxz2456789';

/** RFC 3339 in whole seconds, as Kubernetes stamps metadata. */
const timestamp = (d: Date): string => d.toISOString().replace(/\.\d{3}Z$/, 'Z');

export class ObjectsApi {
  constructor(
    private readonly store: Store,
    private readonly registry: ResourceRegistry,
    private readonly now: () => Date,
  ) {}

  /** Re-derives the served custom resources from the stored CRDs. */
  refreshCrds(): void {
    this.registry.setCrds([...this.store.list(resourceKey(CRDS), undefined)] as unknown as CrdObject[]);
  }

  get(def: ResourceDef, namespace: string, name: string): KubeObject {
    const obj = this.store.get(resourceKey(def), def.namespaced ? namespace : '', name);
    if (!obj) throw notFound(def, name);
    return obj;
  }

  /**
   * A list, or one page of it. Later pages are read from the snapshot of the first (the
   * continue token's revision), as etcd serves them, so a paginated list is one consistent
   * state at one resourceVersion; a snapshot no longer in the history is 410 Expired.
   */
  list(def: ResourceDef, namespace: string | undefined, options: ListOptions): ListResult {
    const key = resourceKey(def);
    const ns = def.namespaced ? namespace : undefined;
    let listRv = this.store.revision;
    let source: Iterable<KubeObject>;
    let snapshot: KubeObject[] | undefined;
    if (options.continueToken) {
      const token = decodeContinue(options.continueToken);
      snapshot = token.rv > this.store.compacted && token.rv <= this.store.revision ? this.store.listAt(key, ns, token.rv, token.after) : undefined;
      if (!snapshot) {
        throw expired(
          'The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.',
        );
      }
      listRv = token.rv;
      source = snapshot;
    } else {
      source = this.store.list(key, ns);
    }
    const items: KubeObject[] = [];
    let more = false;
    for (const obj of source) {
      if (!options.predicate(obj)) continue;
      if (options.limit !== undefined && items.length === options.limit) {
        more = true;
        break;
      }
      items.push(obj);
    }
    const result: ListResult = { items, resourceVersion: String(listRv) };
    if (more) {
      const last = items[items.length - 1]!.metadata;
      const pos: [string, string] = [last.namespace ?? '', last.name];
      result.continueToken = encodeContinue(listRv, pos);
      // With a selector the real server leaves the count out: it would have to read the rest.
      if (!options.selective) result.remainingItemCount = snapshot ? snapshot.length - items.length : this.store.countAfter(key, ns, pos);
    }
    return result;
  }

  create(def: ResourceDef, namespace: string | undefined, body: unknown, opts: WriteOptions & Preset): KubeObject {
    const obj = this.checkBody(def, body);
    const meta = obj.metadata;
    if (def.namespaced) {
      if (meta.namespace && namespace && meta.namespace !== namespace) {
        throw badRequest('the namespace of the provided object does not match the namespace sent on the request');
      }
      meta.namespace = namespace || meta.namespace || 'default';
    } else {
      delete meta.namespace;
    }
    if (!meta.name && meta.generateName) meta.name = this.generateName(def, meta.namespace ?? '', meta.generateName);
    this.validateName(def, meta.name);
    if (def.namespaced) {
      const ns = this.store.get(resourceKey(NAMESPACES), '', meta.namespace!);
      if (!ns) throw notFound(NAMESPACES, meta.namespace!);
      if (ns.metadata.deletionTimestamp) throw forbidden(def, meta.name, `unable to create new content in namespace ${meta.namespace!} because it is being terminated`);
    }
    if (this.store.get(resourceKey(def), meta.namespace ?? '', meta.name)) throw alreadyExists(def, meta.name);

    for (const k of ['uid', 'resourceVersion', 'generation', 'creationTimestamp', 'deletionTimestamp', 'deletionGracePeriodSeconds', 'managedFields']) delete meta[k];
    meta.uid = randomUUID();
    meta.creationTimestamp = timestamp(this.now());
    if (def.hasGeneration) meta.generation = 1;
    // Custom resources with a status subresource start with no status: it is the controller's.
    if (def.custom && def.subresources.status) delete obj['status'];
    let next = withKindDefaults(def, obj);
    next = this.admitSchema(def, next, opts);
    const managedFields = opts.managedFields ?? managedFieldsAfterUpdate([], undefined, next, this.managerRef(def, opts), shapeOf(def), def.subresources.status);
    if (managedFields.length) next.metadata.managedFields = managedFields;
    this.admitNode(opts.user, { verb: 'create', def, ...(meta.namespace ? { namespace: meta.namespace } : {}), name: meta.name }, undefined, next);
    if (opts.dryRun) return next;
    const stored = this.store.write(resourceKey(def), 'ADDED', next);
    if (def === CRDS) this.refreshCrds();
    return stored;
  }

  /**
   * Replaces an object (PUT, or the result of a patch). `isPatch`: the body came from
   * applying a patch to the stored object, so a missing resourceVersion is no error.
   */
  update(def: ResourceDef, namespace: string, name: string, body: unknown, opts: WriteOptions & Preset & { subresource?: 'status'; isPatch?: boolean }): KubeObject {
    const stored = this.get(def, namespace, name);
    const obj = this.checkBody(def, body);
    if (obj.metadata.name && obj.metadata.name !== name) {
      throw badRequest(`the name of the object (${obj.metadata.name}) does not match the name on the URL (${name})`);
    }
    const rv = obj.metadata.resourceVersion;
    if (rv !== undefined && rv !== '' && rv !== stored.metadata.resourceVersion) throw conflict(def, name);
    if ((rv === undefined || rv === '') && def.custom && !opts.isPatch) {
      throw invalid(def, name, [{ type: 'FieldValueInvalid', field: 'metadata.resourceVersion', message: 'Invalid value: 0x0: must be specified for an update' }]);
    }

    let next: KubeObject;
    if (opts.subresource === 'status') {
      next = { ...stored };
      if (obj['status'] === undefined) delete next['status'];
      else next['status'] = obj['status'];
    } else {
      const m = stored.metadata;
      next = { ...obj, apiVersion: stored.apiVersion, kind: stored.kind };
      next.metadata = { ...obj.metadata, name: m.name, uid: m.uid, creationTimestamp: m.creationTimestamp };
      for (const k of ['namespace', 'generation', 'deletionTimestamp', 'deletionGracePeriodSeconds'] as const) {
        if (m[k] === undefined) delete next.metadata[k];
        else (next.metadata as Record<string, unknown>)[k] = m[k];
      }
      if (def.subresources.status) {
        if (stored['status'] === undefined) delete next['status'];
        else next['status'] = stored['status'];
      }
    }
    next.metadata = { ...next.metadata, resourceVersion: stored.metadata.resourceVersion! };
    delete next.metadata['managedFields'];

    if (stored.metadata.deletionTimestamp) {
      const added = (next.metadata.finalizers ?? []).filter((f) => !(stored.metadata.finalizers ?? []).includes(f));
      if (added.length) {
        throw invalid(def, name, [
          { type: 'FieldValueForbidden', field: 'metadata.finalizers', message: `Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers ${JSON.stringify(added)}` },
        ]);
      }
    }
    if (def === CRDS) next = withCrdStatus(next);
    next = this.admitSchema(def, next, opts);
    if (def.hasGeneration && specChanged(def, stored, next)) next.metadata.generation = (stored.metadata.generation ?? 0) + 1;
    const managedFields =
      opts.managedFields ??
      managedFieldsAfterUpdate((stored.metadata.managedFields as ManagedFieldsEntry[] | undefined) ?? [], stored, next, this.managerRef(def, opts, opts.subresource ?? opts.writtenThrough), shapeOf(def), def.subresources.status);
    if (managedFields.length) next.metadata.managedFields = managedFields;
    if (deepEqual(next, stored)) return stored;

    this.admitNode(opts.user, { verb: 'update', def, ...(namespace && def.namespaced ? { namespace } : {}), name, ...(opts.subresource ? { subresource: opts.subresource } : {}) }, stored, next);
    if (opts.dryRun) return next;
    if (stored.metadata.deletionTimestamp && (next.metadata.finalizers ?? []).length === 0 && (def !== NAMESPACES || this.namespaceIsEmpty(name))) {
      const gone = this.remove(def, next, stored);
      if (def.namespaced) this.finishNamespace(gone.metadata.namespace ?? '');
      return gone;
    }
    const result = this.store.write(resourceKey(def), 'MODIFIED', next, stored);
    if (def === CRDS) this.refreshCrds();
    return result;
  }

  /**
   * Server-side apply (`application/apply-patch+yaml`): creates the object when absent, else
   * merges the applied configuration with field ownership (see managed-fields.ts).
   */
  apply(def: ResourceDef, namespace: string, name: string, body: unknown, opts: WriteOptions & { subresource?: 'status'; force: boolean }): KubeObject {
    if (!isPlainObject(body)) throw badRequest('the body of an apply patch must be an object');
    if (body['apiVersion'] === undefined || body['kind'] === undefined) {
      throw badRequest(`invalid object type: ${String(body['apiVersion'] ?? '')}, Kind=${String(body['kind'] ?? '')}: an apply patch must give apiVersion and kind`);
    }
    const config = this.checkBody(def, body);
    if (config.metadata.name !== undefined && config.metadata.name !== name) {
      throw badRequest(`the name of the object (${config.metadata.name}) does not match the name on the URL (${name})`);
    }
    for (const k of ['managedFields', 'resourceVersion', 'uid', 'creationTimestamp', 'generation']) delete config.metadata[k];
    config.metadata.name = name;
    const stored = this.store.get(resourceKey(def), def.namespaced ? namespace : '', name);
    const ref = this.managerRef(def, opts, opts.subresource);
    const shapeOpts = { force: opts.force, shape: shapeOf(def), hasStatus: def.subresources.status };
    if (!stored) {
      if (opts.subresource) throw notFound(def, name);
      const { object, managedFields } = serverSideApply(undefined, config, ref, shapeOpts);
      return this.create(def, namespace, object, { ...opts, managedFields });
    }
    const { object, managedFields } = serverSideApply(stored, config, ref, shapeOpts);
    return this.update(def, namespace, name, object, { ...opts, isPatch: true, managedFields });
  }

  private managerRef(def: ResourceDef, opts: WriteOptions, subresource?: string): ManagerRef {
    return { manager: opts.fieldManager, apiVersion: groupVersion(def), time: timestamp(this.now()), ...(subresource ? { subresource } : {}) };
  }

  patch(def: ResourceDef, namespace: string, name: string, contentType: string, patch: unknown, opts: WriteOptions & { subresource?: 'status' }): KubeObject {
    const stored = this.get(def, namespace, name);
    const patched = applyPatch(def, stored, contentType, patch);
    return this.update(def, namespace, name, patched, { ...opts, isPatch: true });
  }

  /** Returns the object (still there, terminating, when finalizers remain) and whether it is gone. */
  delete(def: ResourceDef, namespace: string, name: string, options: DeleteOptions, opts: WriteOptions): { object: KubeObject; gone: boolean } {
    const stored = this.get(def, namespace, name);
    const pre = options.preconditions;
    if (pre?.uid && pre.uid !== stored.metadata.uid) {
      throw conflict(def, name, `Precondition failed: UID in precondition: ${pre.uid}, UID in object meta: ${stored.metadata.uid}`);
    }
    if (pre?.resourceVersion && pre.resourceVersion !== stored.metadata.resourceVersion) {
      throw conflict(def, name, `Precondition failed: ResourceVersion in precondition: ${pre.resourceVersion}, ResourceVersion in object meta: ${stored.metadata.resourceVersion}`);
    }
    this.admitNode(opts.user, { verb: 'delete', def, ...(namespace && def.namespaced ? { namespace } : {}), name }, stored, stored);
    if (def === NAMESPACES) return this.terminateNamespace(stored, opts);
    if ((stored.metadata.finalizers ?? []).length > 0) {
      if (stored.metadata.deletionTimestamp || opts.dryRun) return { object: stored, gone: false };
      // Marking for deletion is a change controllers must observe: generation moves, as in kube.
      const generation = def.hasGeneration && stored.metadata.generation ? { generation: stored.metadata.generation + 1 } : {};
      const next = { ...stored, metadata: { ...stored.metadata, ...generation, deletionTimestamp: timestamp(this.now()), deletionGracePeriodSeconds: 0 } };
      return { object: this.store.write(resourceKey(def), 'MODIFIED', next, stored), gone: false };
    }
    if (opts.dryRun) return { object: stored, gone: true };
    return { object: this.remove(def, stored, stored), gone: true };
  }

  /** Deletes for real, with what depends on the object: a CRD's objects. */
  private remove(def: ResourceDef, last: KubeObject, prev: KubeObject): KubeObject {
    const gone = this.store.write(resourceKey(def), 'DELETED', last, prev);
    if (def === CRDS) {
      const crd = last as unknown as CrdObject;
      const served = this.registry.all().find((d) => d.custom && d.group === crd.spec.group && d.plural === crd.spec.names.plural);
      if (served) for (const obj of [...this.store.list(resourceKey(served), undefined)]) this.store.write(resourceKey(served), 'DELETED', obj, obj);
      this.refreshCrds();
    }
    return gone;
  }

  /** Every namespaced resource once (a CRD serving several versions is one resource in the store). */
  private namespacedResources(): ResourceDef[] {
    const seen = new Map<string, ResourceDef>();
    for (const d of this.registry.all()) if (d.namespaced && !seen.has(resourceKey(d))) seen.set(resourceKey(d), d);
    return [...seen.values()];
  }

  private namespaceIsEmpty(namespace: string): boolean {
    return this.namespacedResources().every((d) => this.store.countAfter(resourceKey(d), namespace, ['', '']) === 0);
  }

  /**
   * Namespace deletion as kube's namespace controller does it: the namespace turns
   * Terminating (deletionTimestamp, status.phase), new content is refused, its content is
   * deleted (objects with finalizers are marked and wait for them), and the namespace goes
   * once nothing is left in it and its own finalizers are gone.
   */
  private terminateNamespace(stored: KubeObject, opts: WriteOptions): { object: KubeObject; gone: boolean } {
    if (opts.dryRun) return { object: stored, gone: false };
    let ns = stored;
    if (!stored.metadata.deletionTimestamp) {
      const status = isPlainObject(stored['status']) ? stored['status'] : {};
      const next = { ...stored, metadata: { ...stored.metadata, deletionTimestamp: timestamp(this.now()), deletionGracePeriodSeconds: 0 }, status: { ...status, phase: 'Terminating' } };
      ns = this.store.write(resourceKey(NAMESPACES), 'MODIFIED', next, stored);
      for (const def of this.namespacedResources()) {
        for (const obj of [...this.store.list(resourceKey(def), ns.metadata.name)]) {
          if ((obj.metadata.finalizers ?? []).length === 0) this.store.write(resourceKey(def), 'DELETED', obj, obj);
          else if (!obj.metadata.deletionTimestamp) {
            const marked = { ...obj, metadata: { ...obj.metadata, deletionTimestamp: timestamp(this.now()), deletionGracePeriodSeconds: 0 } };
            this.store.write(resourceKey(def), 'MODIFIED', marked, obj);
          }
        }
      }
    }
    const gone = this.finishNamespace(ns.metadata.name);
    return gone ? { object: gone, gone: true } : { object: ns, gone: false };
  }

  /** Removes a terminating namespace once it is empty and has no finalizers; returns it if removed. */
  private finishNamespace(name: string): KubeObject | undefined {
    const ns = this.store.get(resourceKey(NAMESPACES), '', name);
    if (!ns?.metadata.deletionTimestamp || (ns.metadata.finalizers ?? []).length > 0 || !this.namespaceIsEmpty(name)) return undefined;
    return this.store.write(resourceKey(NAMESPACES), 'DELETED', ns, ns);
  }

  /** The autoscaling/v1 Scale view of a Deployment. */
  getScale(namespace: string, name: string): object {
    return toScale(this.get(DEPLOYMENTS, namespace, name));
  }

  /** PUT or PATCH of `deployments/NAME/scale`: sets spec.replicas and answers a Scale. */
  updateScale(namespace: string, name: string, change: { body: unknown } | { contentType: string; patch: unknown }, opts: WriteOptions): object {
    const deployment = this.get(DEPLOYMENTS, namespace, name);
    const current = toScale(deployment);
    const scale =
      'body' in change
        ? change.body
        : applyPatch(DEPLOYMENTS, current, change.contentType === PATCH_TYPES.strategic ? PATCH_TYPES.merge : change.contentType, change.patch);
    if (!isPlainObject(scale)) throw badRequest('the body of a Scale must be a JSON object');
    const replicas = isPlainObject(scale['spec']) ? scale['spec']['replicas'] : undefined;
    if (!Number.isInteger(replicas) || (replicas as number) < 0) {
      throw new ApiError(422, 'Invalid', `Scale.autoscaling "${name}" is invalid: spec.replicas: Invalid value: ${JSON.stringify(replicas ?? null)}: must be a non-negative integer`, {
        name,
        group: 'autoscaling',
        kind: 'Scale',
        causes: [{ reason: 'FieldValueInvalid', message: 'must be a non-negative integer', field: 'spec.replicas' }],
      });
    }
    const rv = isPlainObject(scale['metadata']) ? scale['metadata']['resourceVersion'] : undefined;
    if (typeof rv === 'string' && rv !== '' && rv !== deployment.metadata.resourceVersion) throw conflict(DEPLOYMENTS, name);
    const spec = isPlainObject(deployment['spec']) ? deployment['spec'] : {};
    const next = { ...deployment, spec: { ...spec, replicas } };
    return toScale(this.update(DEPLOYMENTS, namespace, name, next, { ...opts, isPatch: true, writtenThrough: 'scale' }));
  }

  /** policy/v1 Eviction: the pod is deleted (no disruption budgets here). */
  evict(namespace: string, name: string, opts: WriteOptions): void {
    const pod = this.get(PODS, namespace, name);
    this.admitNode(opts.user, { verb: 'create', def: PODS, namespace, name, subresource: 'eviction' }, pod, pod);
    this.delete(PODS, namespace, name, {}, opts);
  }

  private checkBody(def: ResourceDef, body: unknown): KubeObject {
    if (!isPlainObject(body)) throw badRequest(`the body of a ${def.kind} must be a JSON object`);
    const gv = groupVersion(def);
    if (body['apiVersion'] !== undefined && body['apiVersion'] !== gv) {
      throw badRequest(`the API version in the data (${String(body['apiVersion'])}) does not match the expected API version (${gv})`);
    }
    if (body['kind'] !== undefined && body['kind'] !== def.kind) {
      throw badRequest(`the kind in the data (${String(body['kind'])}) does not match the expected kind (${def.kind})`);
    }
    if (body['metadata'] !== undefined && !isPlainObject(body['metadata'])) throw badRequest('metadata must be a JSON object');
    const metadata = { ...((body['metadata'] as object | undefined) ?? {}) } as KubeObject['metadata'];
    return { ...body, apiVersion: gv, kind: def.kind, metadata };
  }

  private validateName(def: ResourceDef, name: string | undefined): asserts name is string {
    if (!name) throw invalid(def, '', [{ type: 'FieldValueRequired', field: 'metadata.name', message: 'Required value: name or generateName is required' }]);
    const [re, what] = def === NAMESPACES ? [DNS_LABEL, 'RFC 1123 label'] : [DNS_SUBDOMAIN, 'RFC 1123 subdomain'];
    if (name.length > (def === NAMESPACES ? 63 : 253) || !re.test(name)) {
      throw invalid(def, name, [
        {
          type: 'FieldValueInvalid',
          field: 'metadata.name',
          message: `Invalid value: "${name}": a lowercase ${what} must consist of lower case alphanumeric characters${def === NAMESPACES ? " or '-'" : ", '-' or '.'"}, and must start and end with an alphanumeric character`,
        },
      ]);
    }
  }

  private generateName(def: ResourceDef, namespace: string, prefix: string): string {
    for (;;) {
      const suffix = Array.from({ length: 5 }, () => GENERATE_SUFFIX[Math.floor(Math.random() * GENERATE_SUFFIX.length)]).join('');
      const name = prefix + suffix;
      if (!this.store.get(resourceKey(def), namespace, name)) return name;
    }
  }

  /** CRD schema admission of a custom resource: defaults, unknown fields, validation. */
  private admitSchema(def: ResourceDef, obj: KubeObject, opts: WriteOptions): KubeObject {
    if (def === CRDS) return validateCrd(obj);
    if (!def.custom || !def.schema) return obj;
    const defaulted = applyDefaults(def.schema, obj) as KubeObject;
    const unknown = unknownFields(def.schema, defaulted);
    const pruned = unknown.length ? (pruneUnknownFields(def.schema, defaulted) as KubeObject) : defaulted;
    if (unknown.length && opts.fieldValidation !== 'Ignore') {
      const texts = unknown.map((f) => `unknown field "${f}"`);
      if (opts.fieldValidation === 'Strict') throw badRequest(`strict decoding error: ${texts.join(', ')}`);
      opts.warnings.push(...texts);
    }
    const errors = validateObject(def.schema, pruned);
    if (errors.length) throw invalid(def, obj.metadata.name, errors as FieldCause[]);
    return pruned;
  }

  private admitNode(user: User, attrs: RequestAttributes, old: KubeObject | undefined, next: KubeObject): void {
    if (user.kind !== 'node') return;
    const why = admitNodeWrite(user.nodeName, attrs, old, next);
    if (why) throw new ApiError(403, 'Forbidden', `${attrs.def.group ? `${attrs.def.plural}.${attrs.def.group}` : attrs.def.plural} "${next.metadata.name}" is forbidden: ${why}`, {
      name: next.metadata.name,
      ...(attrs.def.group ? { group: attrs.def.group } : {}),
      kind: attrs.def.plural,
    });
  }
}

function applyPatch(def: ResourceDef, target: object, contentType: string, patch: unknown): unknown {
  try {
    switch (contentType) {
      case PATCH_TYPES.merge:
        return applyMergePatch(target, patch);
      case PATCH_TYPES.json:
        return applyJsonPatch(target, patch);
      case PATCH_TYPES.strategic:
        if (!def.custom) return applyStrategicMergePatch(target, patch, def.kind);
    }
  } catch (e) {
    if (e instanceof PatchError) {
      // The client gets the apiserver's generic words; the operator's log gets the reason.
      if (e.cause) process.stderr.write(`apiserver: patch of ${def.plural} refused: ${(e.cause as Error).message ?? String(e.cause)}\n`);
      throw e.status === 422 ? new ApiError(422, 'Invalid', e.message) : e.status === 409 ? new ApiError(409, 'Conflict', e.message) : badRequest(e.message);
    }
    throw e;
  }
  const accepted = def.custom ? [PATCH_TYPES.json, PATCH_TYPES.merge, 'application/apply-patch+yaml'] : [PATCH_TYPES.json, PATCH_TYPES.merge, 'application/apply-patch+yaml', PATCH_TYPES.strategic];
  throw unsupportedMediaType(accepted);
}

/** Whether a write changes what metadata.generation counts: everything but metadata (and status, when it is a subresource). */
function specChanged(def: ResourceDef, a: KubeObject, b: KubeObject): boolean {
  const ignored = def.subresources.status ? ['metadata', 'status'] : ['metadata'];
  return !deepEqual(without(a, ...ignored), without(b, ...ignored));
}

/** Defaults the real apiserver applies to the built-in kinds we serve. */
function withKindDefaults(def: ResourceDef, obj: KubeObject): KubeObject {
  const spec = isPlainObject(obj['spec']) ? obj['spec'] : {};
  const status = isPlainObject(obj['status']) ? obj['status'] : {};
  switch (def.kind) {
    case 'Namespace':
      return def.group === '' ? { ...obj, status: { phase: 'Active', ...status } } : obj;
    case 'Pod':
      return def.group === '' ? { ...obj, status: { phase: 'Pending', ...status } } : obj;
    case 'Deployment':
      return def.group === 'apps' ? { ...obj, spec: { replicas: 1, ...spec } } : obj;
    case 'Secret': {
      if (def.group !== '' || !isPlainObject(obj['stringData'])) return obj;
      const data: Record<string, string> = { ...(obj['data'] as Record<string, string> | undefined) };
      for (const [k, v] of Object.entries(obj['stringData'])) data[k] = Buffer.from(String(v)).toString('base64');
      return { ...without(obj, 'stringData'), data } as unknown as KubeObject;
    }
    case 'CustomResourceDefinition':
      return def === CRDS ? withCrdStatus(obj) : obj;
  }
  return obj;
}

/** A CRD is accepted and established as soon as it is stored: there is no name conflict check across CRDs. */
function withCrdStatus(obj: KubeObject): KubeObject {
  const crd = obj as unknown as CrdObject;
  const storage = crd.spec?.versions?.find((v) => v.storage)?.name ?? crd.spec?.versions?.[0]?.name;
  const condition = (type: string, reason: string, message: string): object => ({ type, status: 'True', lastTransitionTime: obj.metadata.creationTimestamp, reason, message });
  return {
    ...obj,
    status: {
      acceptedNames: crd.spec?.names ?? {},
      conditions: [condition('NamesAccepted', 'NoConflicts', 'no conflicts found'), condition('Established', 'InitialNamesAccepted', 'the initial names have been accepted')],
      storedVersions: storage ? [storage] : [],
    },
  };
}

function validateCrd(obj: KubeObject): KubeObject {
  const def = CRDS;
  const crd = obj as unknown as Partial<CrdObject>;
  const causes: FieldCause[] = [];
  const spec = crd.spec;
  if (!spec?.group) causes.push({ type: 'FieldValueRequired', field: 'spec.group', message: 'Required value' });
  if (!spec?.names?.plural) causes.push({ type: 'FieldValueRequired', field: 'spec.names.plural', message: 'Required value' });
  if (!spec?.names?.kind) causes.push({ type: 'FieldValueRequired', field: 'spec.names.kind', message: 'Required value' });
  if (spec?.scope !== 'Cluster' && spec?.scope !== 'Namespaced') {
    causes.push({ type: 'FieldValueNotSupported', field: 'spec.scope', message: `Unsupported value: ${JSON.stringify(spec?.scope ?? '')}: supported values: "Cluster", "Namespaced"` });
  }
  if (!Array.isArray(spec?.versions) || spec.versions.length === 0) causes.push({ type: 'FieldValueRequired', field: 'spec.versions', message: 'Required value: must have exactly one version marked as storage version' });
  if (spec?.group && spec.names?.plural && obj.metadata.name !== `${spec.names.plural}.${spec.group}`) {
    causes.push({ type: 'FieldValueInvalid', field: 'metadata.name', message: `Invalid value: "${obj.metadata.name}": must be spec.names.plural+"."+spec.group` });
  }
  (Array.isArray(spec?.versions) ? spec.versions : []).forEach((v, i) => {
    (Array.isArray(v.additionalPrinterColumns) ? v.additionalPrinterColumns : []).forEach((c, j) => {
      const field = `spec.versions[${i}].additionalPrinterColumns[${j}]`;
      if (!c.name) causes.push({ type: 'FieldValueRequired', field: `${field}.name`, message: 'Required value' });
      if (!PRINTER_COLUMN_TYPES.includes(c.type)) {
        causes.push({ type: 'FieldValueNotSupported', field: `${field}.type`, message: `Unsupported value: ${JSON.stringify(c.type ?? '')}: supported values: ${PRINTER_COLUMN_TYPES.map((t) => `"${t}"`).join(', ')}` });
      }
      const problem = typeof c.jsonPath === 'string' ? jsonPathProblem(c.jsonPath) : 'Required value';
      if (problem) causes.push({ type: 'FieldValueInvalid', field: `${field}.jsonPath`, message: `Invalid value: ${JSON.stringify(c.jsonPath ?? '')}: ${problem}` });
    });
  });
  if (causes.length) throw invalid(def, obj.metadata.name, causes);
  return obj;
}

const PRINTER_COLUMN_TYPES = ['boolean', 'date', 'integer', 'number', 'string'];

function toScale(deployment: KubeObject): object {
  const spec = isPlainObject(deployment['spec']) ? deployment['spec'] : {};
  const status = isPlainObject(deployment['status']) ? deployment['status'] : {};
  const selector = isPlainObject(spec['selector']) && isPlainObject(spec['selector']['matchLabels']) ? spec['selector']['matchLabels'] : {};
  const m = deployment.metadata;
  return {
    kind: 'Scale',
    apiVersion: 'autoscaling/v1',
    metadata: { name: m.name, namespace: m.namespace, uid: m.uid, resourceVersion: m.resourceVersion, creationTimestamp: m.creationTimestamp },
    spec: { replicas: spec['replicas'] ?? 1 },
    status: {
      replicas: status['replicas'] ?? 0,
      selector: Object.entries(selector)
        .map(([k, v]) => `${k}=${String(v)}`)
        .join(','),
    },
  };
}

function encodeContinue(rv: number, after: [string, string]): string {
  return Buffer.from(JSON.stringify({ rv, after })).toString('base64url');
}

function decodeContinue(token: string): { rv: number; after: [string, string] } {
  try {
    const v = JSON.parse(Buffer.from(token, 'base64url').toString()) as { rv: number; after: [string, string] };
    if (Number.isInteger(v.rv) && Array.isArray(v.after) && v.after.length === 2) return v;
  } catch (e) {
    if (!(e instanceof SyntaxError)) throw e;
  }
  throw badRequest(`continue key is not valid: ${token}`);
}

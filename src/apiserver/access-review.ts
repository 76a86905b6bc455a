/**
 * SelfSubjectAccessReview and SelfSubjectRulesReview (authorization.k8s.io/v1), what
 * `kubectl auth can-i VERB RESOURCE` and `kubectl auth can-i --list` post: answered from the
 * same rules that authorize requests (authz.ts), so a node's token is told exactly what its
 * requests would be allowed. Pure functions; nothing is stored.
 */
import type { User } from './auth.js';
import { authorize, type Verb } from './authz.js';
import { badRequest, invalid } from './errors.js';
import { isPlainObject } from './objects.js';
import { SELF_SUBJECT_ACCESS_REVIEWS, SELF_SUBJECT_RULES_REVIEWS, type ResourceDef } from './resources.js';

const VERBS: readonly Verb[] = ['get', 'list', 'watch', 'create', 'update', 'patch', 'delete', 'deletecollection'];
const READ: Verb[] = ['get', 'list', 'watch'];
const API = 'authorization.k8s.io/v1';
/** What every user may read without a resource: discovery, OpenAPI, health, version. */
const NON_RESOURCE_URLS = ['/api', '/api/*', '/apis', '/apis/*', '/healthz', '/livez', '/openapi', '/openapi/*', '/readyz', '/version', '/version/'];

type Attributes = { namespace?: string; verb?: string; group?: string; resource?: string; subresource?: string; name?: string };

const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);

function specOf(body: unknown, kind: string): Record<string, unknown> {
  if (!isPlainObject(body)) throw badRequest(`the body of a ${kind} must be a JSON object`);
  return isPlainObject(body['spec']) ? body['spec'] : {};
}

/** Whether `user` may do what `a` names, with the reason in kube's words when not. */
function decide(user: User, a: Attributes): { allowed: boolean; reason?: string } {
  const verb = a.verb ?? '';
  if (user.kind === 'admin') return { allowed: true, reason: 'the admin user may do everything' };
  if (!(VERBS as string[]).includes(verb)) return { allowed: false };
  const def = { group: a.group ?? '', plural: a.resource ?? '' };
  const why = authorize(user, { verb: verb as Verb, def, ...(a.namespace ? { namespace: a.namespace } : {}), ...(a.name ? { name: a.name } : {}), ...(a.subresource ? { subresource: a.subresource } : {}) });
  if (why) return { allowed: false, reason: why };
  // Node admission narrows a node's writes to its own Node and its own lease.
  const own = (def.group === '' && def.plural === 'nodes') || (def.group === 'coordination.k8s.io' && def.plural === 'leases');
  if (user.kind === 'node' && own && a.name && a.name !== user.nodeName && !READ.includes(verb as Verb)) {
    return { allowed: false, reason: `node "${user.nodeName}" may only modify its own ${def.plural === 'nodes' ? 'Node' : 'lease'}` };
  }
  return { allowed: true };
}

/** The answer to a SelfSubjectAccessReview; 422 when it names neither or both kinds of attributes. */
export function selfSubjectAccessReview(user: User, body: unknown): object {
  const spec = specOf(body, 'SelfSubjectAccessReview');
  const resource = isPlainObject(spec['resourceAttributes']) ? spec['resourceAttributes'] : undefined;
  const nonResource = isPlainObject(spec['nonResourceAttributes']) ? spec['nonResourceAttributes'] : undefined;
  if ((resource === undefined) === (nonResource === undefined)) {
    throw invalid(SELF_SUBJECT_ACCESS_REVIEWS, '', [
      { type: 'FieldValueInvalid', field: 'spec.resourceAttributes', message: 'Invalid value: "null": exactly one of nonResourceAttributes or resourceAttributes must be specified' },
    ]);
  }
  let status: { allowed: boolean; reason?: string };
  if (resource) {
    status = decide(user, {
      ...(str(resource['namespace']) ? { namespace: str(resource['namespace'])! } : {}),
      ...(str(resource['verb']) ? { verb: str(resource['verb'])! } : {}),
      group: str(resource['group']) ?? '',
      ...(str(resource['resource']) ? { resource: str(resource['resource'])! } : {}),
      ...(str(resource['subresource']) ? { subresource: str(resource['subresource'])! } : {}),
      ...(str(resource['name']) ? { name: str(resource['name'])! } : {}),
    });
  } else {
    status = { allowed: user.kind === 'admin' || str(nonResource!['verb']) === 'get' };
  }
  return { kind: 'SelfSubjectAccessReview', apiVersion: API, metadata: { creationTimestamp: null }, spec, status };
}

interface ResourceRule {
  verbs: string[];
  apiGroups: string[];
  resources: string[];
  resourceNames?: string[];
}

/** The rules of `user` in `namespace`, as RBAC would list them, from the served resources. */
function rulesOf(user: User, namespace: string, defs: readonly ResourceDef[]): ResourceRule[] {
  const reviews: ResourceRule = { verbs: ['create'], apiGroups: ['authorization.k8s.io'], resources: ['selfsubjectaccessreviews', 'selfsubjectrulesreviews'] };
  const groups = [...new Set(defs.map((d) => d.group))];
  switch (user.kind) {
    case 'admin':
      return [{ verbs: ['*'], apiGroups: ['*'], resources: ['*'] }];
    case 'controller':
      return [
        ...groups.filter((g) => g !== 'apiextensions.k8s.io').map((g) => ({ verbs: ['*'], apiGroups: [g], resources: ['*'] })),
        { verbs: READ, apiGroups: ['apiextensions.k8s.io'], resources: ['customresourcedefinitions'] },
        reviews,
      ];
    case 'node': {
      const readable = groups.map((g) => ({
        verbs: READ,
        apiGroups: [g],
        resources: [...new Set(defs.filter((d) => d.group === g && !d.verbs && !(g === '' && d.plural === 'secrets')).map((d) => d.plural))],
      }));
      return [
        ...readable.filter((r) => r.resources.length > 0),
        { verbs: ['create'], apiGroups: [''], resources: ['nodes'] },
        { verbs: ['patch', 'update'], apiGroups: [''], resources: ['nodes', 'nodes/status'], resourceNames: [user.nodeName] },
        { verbs: ['create', 'patch', 'update'], apiGroups: [''], resources: ['events'] },
        { verbs: ['create'], apiGroups: [''], resources: ['pods/eviction'] },
        ...(namespace === 'kube-node-lease' ? [{ verbs: ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'], apiGroups: ['coordination.k8s.io'], resources: ['leases'] }] : []),
        reviews,
      ];
    }
  }
}

/** The answer to a SelfSubjectRulesReview for `spec.namespace`. */
export function selfSubjectRulesReview(user: User, body: unknown, defs: readonly ResourceDef[]): object {
  const spec = specOf(body, 'SelfSubjectRulesReview');
  const namespace = str(spec['namespace']);
  if (!namespace) {
    throw invalid(SELF_SUBJECT_RULES_REVIEWS, '', [{ type: 'FieldValueRequired', field: 'spec.namespace', message: 'Required value' }]);
  }
  return {
    kind: 'SelfSubjectRulesReview',
    apiVersion: API,
    metadata: { creationTimestamp: null },
    spec,
    status: {
      resourceRules: rulesOf(user, namespace, defs),
      nonResourceRules: user.kind === 'admin' ? [{ verbs: ['*'], nonResourceURLs: ['*'] }] : [{ verbs: ['get'], nonResourceURLs: NON_RESOURCE_URLS }],
      incomplete: false,
      evaluationError: '',
    },
  };
}

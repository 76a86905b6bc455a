/**
 * Discovery documents, generated from the served resources: `/version`, legacy
 * `/api`, `/apis`, `/apis/G`, `/api/v1` and `/apis/G/V` (kubectl 1.20, client-node's generic
 * client), aggregated discovery (kubectl ≥ 1.30: two requests instead of one per group
 * version) and the minimal OpenAPI documents that let `kubectl apply/create/edit` trust the
 * server to validate (reference kube-api.md §4, §5).
 */
import { createHash } from 'node:crypto';
import type { ApiGroup, ResourceRegistry } from './registry.js';
import { groupVersion, type ResourceDef } from './resources.js';

/** `minor: 32` makes the gcloud kubectl dispatcher run its best-tested kubectl (1.32). */
export const VERSION_INFO = {
  major: '1',
  minor: '32',
  gitVersion: 'v1.32.0-mco',
  gitCommit: '0000000000000000000000000000000000000000',
  gitTreeState: 'clean',
  buildDate: '2024-01-01T00:00:00Z',
  goVersion: 'go1.23',
  compiler: 'gc',
  platform: 'linux/amd64',
};

export const AGGREGATED_CONTENT_TYPE = 'application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList';
const VERBS = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'];
const SUB_VERBS = ['get', 'patch', 'update'];

export function apiVersions(serverAddress: string): object {
  return { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress }] };
}

function groupEntry(g: ApiGroup): object {
  const versions = g.versions.map((version) => ({ groupVersion: `${g.name}/${version}`, version }));
  return { name: g.name, versions, preferredVersion: versions[0] };
}

export function apiGroupList(registry: ResourceRegistry): object {
  return { kind: 'APIGroupList', apiVersion: 'v1', groups: registry.groups().filter((g) => g.name !== '').map(groupEntry) };
}

export function apiGroup(registry: ResourceRegistry, name: string): object | undefined {
  const g = registry.groups().find((x) => x.name === name && name !== '');
  return g && { kind: 'APIGroup', apiVersion: 'v1', ...groupEntry(g) };
}

export function apiResourceList(registry: ResourceRegistry, group: string, version: string): object | undefined {
  const defs = registry.inGroupVersion(group, version);
  if (defs.length === 0) return undefined;
  const resources = defs.flatMap((d) => {
    const main = {
      name: d.plural,
      singularName: d.singular,
      namespaced: d.namespaced,
      kind: d.kind,
      verbs: d.verbs ?? VERBS,
      ...(d.shortNames.length ? { shortNames: d.shortNames } : {}),
      ...(d.categories.length ? { categories: d.categories } : {}),
      storageVersionHash: createHash('sha256').update(`${groupVersion(d)}/${d.kind}`).digest('base64').slice(0, 11),
    };
    const subs = [];
    if (d.subresources.status) subs.push({ name: `${d.plural}/status`, singularName: '', namespaced: d.namespaced, kind: d.kind, verbs: SUB_VERBS });
    if (d.subresources.scale)
      subs.push({ name: `${d.plural}/scale`, singularName: '', namespaced: d.namespaced, group: 'autoscaling', version: 'v1', kind: 'Scale', verbs: SUB_VERBS });
    if (d.subresources.eviction)
      subs.push({ name: `${d.plural}/eviction`, singularName: '', namespaced: d.namespaced, group: 'policy', version: 'v1', kind: 'Eviction', verbs: ['create'] });
    if (d.subresources.log) subs.push({ name: `${d.plural}/log`, singularName: '', namespaced: d.namespaced, kind: d.kind, verbs: ['get'] });
    return [main, ...subs];
  });
  return { kind: 'APIResourceList', apiVersion: 'v1', groupVersion: group ? `${group}/${version}` : version, resources };
}

function aggregatedResource(d: ResourceDef): object {
  const kind = { group: d.group, version: d.version, kind: d.kind };
  const subresources = [];
  if (d.subresources.status) subresources.push({ subresource: 'status', responseKind: kind, verbs: SUB_VERBS });
  if (d.subresources.scale) subresources.push({ subresource: 'scale', responseKind: { group: 'autoscaling', version: 'v1', kind: 'Scale' }, verbs: SUB_VERBS });
  if (d.subresources.eviction) subresources.push({ subresource: 'eviction', responseKind: { group: 'policy', version: 'v1', kind: 'Eviction' }, verbs: ['create'] });
  if (d.subresources.log) subresources.push({ subresource: 'log', responseKind: kind, verbs: ['get'] });
  return {
    resource: d.plural,
    singularResource: d.singular,
    responseKind: kind,
    scope: d.namespaced ? 'Namespaced' : 'Cluster',
    verbs: d.verbs ?? VERBS,
    ...(d.shortNames.length ? { shortNames: d.shortNames } : {}),
    ...(d.categories.length ? { categories: d.categories } : {}),
    ...(subresources.length ? { subresources } : {}),
  };
}

/** The aggregated document of `/api` (core only) or `/apis` (every other group). */
export function aggregatedDiscovery(registry: ResourceRegistry, core: boolean): object {
  const items = registry
    .groups()
    .filter((g) => (g.name === '') === core)
    .map((g) => ({
      metadata: { name: g.name },
      versions: g.versions.map((version) => ({
        version,
        freshness: 'Current',
        resources: registry.inGroupVersion(g.name, version).map(aggregatedResource),
      })),
    }));
  return { kind: 'APIGroupDiscoveryList', apiVersion: 'apidiscovery.k8s.io/v2', metadata: {}, items };
}

/** `api/v1` or `apis/G/V`: the keys of the OpenAPI v3 index. */
const openApiPath = (group: string, version: string): string => (group ? `apis/${group}/${version}` : `api/${version}`);

/**
 * Per group-version OpenAPI v3 document: one PATCH operation per resource carrying its GVK
 * and the `fieldValidation` parameter, which is what tells kubectl the server validates.
 */
export function openApiV3Document(registry: ResourceRegistry, group: string, version: string): object | undefined {
  const defs = registry.inGroupVersion(group, version);
  if (defs.length === 0) return undefined;
  const paths: Record<string, object> = {};
  for (const d of defs) {
    const base = d.namespaced ? `/${openApiPath(group, version)}/namespaces/{namespace}/${d.plural}/{name}` : `/${openApiPath(group, version)}/${d.plural}/{name}`;
    paths[base] = {
      patch: {
        'x-kubernetes-group-version-kind': { group, version, kind: d.kind },
        parameters: [{ name: 'fieldValidation', in: 'query', schema: { type: 'string', uniqueItems: true } }],
        responses: {},
      },
    };
  }
  return { openapi: '3.0.0', info: { title: 'mco-apiserver', version: 'v1' }, paths, components: { schemas: crdSchemas(defs) } };
}

/** `io.openshift.machineconfiguration.v1.MachineConfigPool`: the definition name kube gives a CRD's schema. */
const definitionName = (d: ResourceDef): string => `${d.group.split('.').reverse().join('.')}.${d.version}.${d.kind}`;

/**
 * The CRD schemas of `defs`, each tagged with its group-version-kind: what `kubectl explain`
 * looks for (`x-kubernetes-group-version-kind`), and walks for `mcp.spec.maxUnavailable`.
 */
function crdSchemas(defs: ResourceDef[]): Record<string, object> {
  const out: Record<string, object> = {};
  for (const d of defs) {
    if (!d.schema) continue;
    out[definitionName(d)] = { ...d.schema, 'x-kubernetes-group-version-kind': [{ group: d.group, version: d.version, kind: d.kind }] };
  }
  return out;
}

/**
 * The OpenAPI v2 (Swagger) document in JSON, for clients that read v2: every CRD schema as a
 * definition with its group-version-kind. (kubectl asks v2 only in protobuf, answered by the stub below.)
 */
export function openApiV2Document(registry: ResourceRegistry): object {
  return { swagger: '2.0', info: { title: 'mco-apiserver', version: 'v1' }, paths: {}, definitions: crdSchemas([...registry.all()]) };
}

export function openApiV3Index(registry: ResourceRegistry): object {
  const paths: Record<string, object> = {};
  for (const g of registry.groups()) {
    for (const v of g.versions) {
      const hash = createHash('sha256').update(JSON.stringify(openApiV3Document(registry, g.name, v))).digest('hex').slice(0, 32).toUpperCase();
      paths[openApiPath(g.name, v)] = { serverRelativeURL: `/openapi/v3/${openApiPath(g.name, v)}?hash=${hash}` };
    }
  }
  return { paths };
}

/**
 * A minimal OpenAPI v2 document in protobuf (gnostic `Document{swagger:"2.0", info{title,
 * version}, paths{}}`): kubectl's client-side validation fallback accepts it and then skips
 * kinds it does not describe.
 */
export const OPENAPI_V2_PROTOBUF = Buffer.from('0a03322e30120a0a0466616b651202763142 00'.replace(/\s/g, ''), 'hex');

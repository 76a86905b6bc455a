/**
 * One description per resource the server serves (group, version, plural, kind, scope,
 * short names, subresources, printer columns, schema). Discovery, OpenAPI, routing, Table
 * printing and validation are all derived from it. Built-in kinds are listed here; custom
 * resources come from stored CustomResourceDefinition objects (reference kube-api.md §2).
 */
import type { PrinterColumn } from './table.js';

export interface ResourceDef {
  /** '' for the core group. */
  group: string;
  version: string;
  plural: string;
  singular: string;
  kind: string;
  namespaced: boolean;
  shortNames: string[];
  categories: string[];
  subresources: { status: boolean; scale: boolean; eviction: boolean; log: boolean };
  /** Kinds whose metadata.generation counts spec changes (CRs, Deployments). */
  hasGeneration: boolean;
  /** Served by a CRD: strategic-merge patch is refused, schema validation applies. */
  custom: boolean;
  /** CRD additionalPrinterColumns; built-ins take theirs from the table module. */
  columns?: PrinterColumn[];
  /** CRD openAPIV3Schema of the served version. */
  schema?: object;
  /** Field-selector labels beyond metadata.name and metadata.namespace. */
  fields: string[];
  /** Verbs served when not the usual eight (the access reviews: create only; nothing is stored). */
  verbs?: string[];
}

export const groupVersion = (def: Pick<ResourceDef, 'group' | 'version'>): string => (def.group ? `${def.group}/${def.version}` : def.version);
/** The key of a resource in the store and in watch fan-out. */
export const resourceKey = (def: Pick<ResourceDef, 'group' | 'plural'>): string => `${def.group}/${def.plural}`;

function builtin(d: Partial<ResourceDef> & Pick<ResourceDef, 'plural' | 'kind' | 'namespaced'>): ResourceDef {
  return {
    group: '',
    version: 'v1',
    singular: d.kind.toLowerCase(),
    shortNames: [],
    categories: [],
    hasGeneration: false,
    custom: false,
    fields: [],
    ...d,
    subresources: { status: false, scale: false, eviction: false, log: false, ...d.subresources },
  };
}

export const NAMESPACES = builtin({ plural: 'namespaces', kind: 'Namespace', namespaced: false, shortNames: ['ns'], subresources: { status: true, scale: false, eviction: false, log: false }, fields: ['status.phase'] });
export const CRDS = builtin({
  group: 'apiextensions.k8s.io',
  plural: 'customresourcedefinitions',
  kind: 'CustomResourceDefinition',
  namespaced: false,
  shortNames: ['crd', 'crds'],
  hasGeneration: true,
  subresources: { status: true, scale: false, eviction: false, log: false },
});
export const DEPLOYMENTS = builtin({
  group: 'apps',
  plural: 'deployments',
  kind: 'Deployment',
  namespaced: true,
  shortNames: ['deploy'],
  categories: ['all'],
  hasGeneration: true,
  subresources: { status: true, scale: true, eviction: false, log: false },
});
export const PODS = builtin({
  plural: 'pods',
  kind: 'Pod',
  namespaced: true,
  shortNames: ['po'],
  categories: ['all'],
  subresources: { status: true, scale: false, eviction: true, log: true },
  fields: ['spec.nodeName', 'spec.restartPolicy', 'spec.schedulerName', 'spec.serviceAccountName', 'status.phase', 'status.podIP', 'status.nominatedNodeName'],
});
export const NODES = builtin({ plural: 'nodes', kind: 'Node', namespaced: false, shortNames: ['no'], subresources: { status: true, scale: false, eviction: false, log: false }, fields: ['spec.unschedulable'] });
export const EVENTS = builtin({
  plural: 'events',
  kind: 'Event',
  namespaced: true,
  shortNames: ['ev'],
  fields: [
    'involvedObject.kind',
    'involvedObject.namespace',
    'involvedObject.name',
    'involvedObject.uid',
    'involvedObject.apiVersion',
    'involvedObject.resourceVersion',
    'involvedObject.fieldPath',
    'reason',
    'reportingComponent',
    'source',
    'type',
  ],
});

/** `kubectl auth can-i`: reviews answered from authz.ts, never stored. */
export const SELF_SUBJECT_ACCESS_REVIEWS = builtin({ group: 'authorization.k8s.io', plural: 'selfsubjectaccessreviews', kind: 'SelfSubjectAccessReview', namespaced: false, verbs: ['create'] });
export const SELF_SUBJECT_RULES_REVIEWS = builtin({ group: 'authorization.k8s.io', plural: 'selfsubjectrulesreviews', kind: 'SelfSubjectRulesReview', namespaced: false, verbs: ['create'] });

export const BUILTIN_RESOURCES: readonly ResourceDef[] = [
  NAMESPACES,
  NODES,
  builtin({ plural: 'configmaps', kind: 'ConfigMap', namespaced: true, shortNames: ['cm'] }),
  builtin({ plural: 'secrets', kind: 'Secret', namespaced: true, fields: ['type'] }),
  EVENTS,
  PODS,
  DEPLOYMENTS,
  builtin({ group: 'coordination.k8s.io', plural: 'leases', kind: 'Lease', namespaced: true }),
  CRDS,
  SELF_SUBJECT_ACCESS_REVIEWS,
  SELF_SUBJECT_RULES_REVIEWS,
];

/** Namespaces a fresh cluster has, as kube-apiserver creates them. */
export const SYSTEM_NAMESPACES = ['default', 'kube-system', 'kube-public', 'kube-node-lease'];

/** What a CRD object contributes: one ResourceDef per served version (first = preferred). */
export function resourcesOfCrd(crd: CrdObject): ResourceDef[] {
  const { group, names, scope, versions } = crd.spec;
  return versions
    .filter((v) => v.served !== false)
    .map((v) => ({
      group,
      version: v.name,
      plural: names.plural,
      singular: names.singular ?? names.kind.toLowerCase(),
      kind: names.kind,
      namespaced: scope === 'Namespaced',
      shortNames: names.shortNames ?? [],
      categories: names.categories ?? [],
      subresources: { status: v.subresources?.status !== undefined, scale: false, eviction: false, log: false },
      hasGeneration: true,
      custom: true,
      ...(v.additionalPrinterColumns ? { columns: v.additionalPrinterColumns } : {}),
      ...(v.schema?.openAPIV3Schema ? { schema: v.schema.openAPIV3Schema } : {}),
      fields: [],
    }));
}

/** The parts of apiextensions.k8s.io/v1 CustomResourceDefinition the server reads. */
export interface CrdObject {
  metadata: { name: string };
  spec: {
    group: string;
    scope: 'Namespaced' | 'Cluster';
    names: { plural: string; singular?: string; kind: string; listKind?: string; shortNames?: string[]; categories?: string[] };
    versions: {
      name: string;
      served?: boolean;
      storage?: boolean;
      schema?: { openAPIV3Schema?: object };
      subresources?: { status?: object };
      additionalPrinterColumns?: PrinterColumn[];
    }[];
  };
}

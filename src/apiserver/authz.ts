/**
 * What each user may do. `admin` may do everything; `controller` everything except
 * redefining the API (CustomResourceDefinitions); `node:<name>` (a node's daemon) may read
 * what a daemon needs and write only its own Node, its own lease, events about itself and
 * evictions of pods bound to it. Writes by a node are also checked on the merged result
 * (old vs new object, as NodeRestriction does), so every patch type is covered: on its Node
 * it may change only the annotations the daemon owns and `spec.unschedulable` (the 4.6-era
 * daemon cordons and drains itself). Pure functions: the server asks, they answer.
 */
import type { User } from './auth.js';
import { deepEqual, isPlainObject, without } from './objects.js';
import type { ResourceDef } from './resources.js';
import type { KubeObject } from './store.js';

export type Verb = 'get' | 'list' | 'watch' | 'create' | 'update' | 'patch' | 'delete' | 'deletecollection';

export interface RequestAttributes {
  verb: Verb;
  def: Pick<ResourceDef, 'group' | 'plural'>;
  namespace?: string;
  name?: string;
  subresource?: string;
}

/** The user as real RBAC messages name it. */
export const subjectName = (u: User): string => (u.kind === 'node' ? `system:node:${u.nodeName}` : u.kind);

const READ: readonly Verb[] = ['get', 'list', 'watch'];
const MCO_ANNOTATION = 'machineconfiguration.openshift.io/';
/** Node annotations the daemon writes (reference mco.md §2); desiredConfig is the controller's. */
const DAEMON_ANNOTATIONS = ['currentConfig', 'state', 'reason', 'ssh'].map((k) => MCO_ANNOTATION + k);
const DESIRED_CONFIG = `${MCO_ANNOTATION}desiredConfig`;
const CURRENT_CONFIG = `${MCO_ANNOTATION}currentConfig`;

function rbacMessage(user: User, a: RequestAttributes): string {
  const resource = a.subresource ? `${a.def.plural}/${a.subresource}` : a.def.plural;
  const scope = a.namespace ? `in the namespace "${a.namespace}"` : 'at the cluster scope';
  return `User "${subjectName(user)}" cannot ${a.verb} resource "${resource}" in API group "${a.def.group}" ${scope}`;
}

/** Undefined when allowed; otherwise why not (the part after `is forbidden: `). */
export function authorize(user: User, a: RequestAttributes): string | undefined {
  // Everyone may ask what they may do (kube's system:basic-user).
  if (a.def.group === 'authorization.k8s.io' && a.def.plural.startsWith('selfsubject') && a.verb === 'create') return undefined;
  switch (user.kind) {
    case 'admin':
      return undefined;
    case 'controller':
      return a.def.plural === 'customresourcedefinitions' && !READ.includes(a.verb) ? rbacMessage(user, a) : undefined;
    case 'node':
      return authorizeNode(a) ? undefined : rbacMessage(user, a);
  }
}

function authorizeNode(a: RequestAttributes): boolean {
  const { plural, group } = a.def;
  if (READ.includes(a.verb)) return !(group === '' && plural === 'secrets');
  if (group === '' && plural === 'nodes') return ['create', 'update', 'patch'].includes(a.verb);
  if (group === '' && plural === 'events') return a.verb === 'create' || a.verb === 'patch' || a.verb === 'update';
  if (group === '' && plural === 'pods') return a.verb === 'create' && a.subresource === 'eviction';
  if (group === 'coordination.k8s.io' && plural === 'leases') return a.namespace === 'kube-node-lease' && a.verb !== 'deletecollection';
  return false;
}

/**
 * Admission of a write by a node user, on the stored object (`old`, absent on create) and the
 * result (`next`). Undefined when allowed; otherwise why not.
 */
export function admitNodeWrite(node: string, a: RequestAttributes, old: KubeObject | undefined, next: KubeObject): string | undefined {
  const { plural, group } = a.def;
  if (group === '' && plural === 'nodes') {
    if (next.metadata.name !== node) return `node "${node}" is not allowed to modify node "${next.metadata.name}"`;
    if (!old || a.subresource === 'status') return undefined;
    return nodeSelfChange(old, next);
  }
  if (group === '' && plural === 'events') {
    // Both the event as stored and as written: a node may not take over another's event.
    for (const event of old ? [old, next] : [next]) {
      const involved = isPlainObject(event['involvedObject']) ? event['involvedObject'] : {};
      if (involved['kind'] !== 'Node' || involved['name'] !== node) {
        return `node "${node}" may only record events about node "${node}"`;
      }
    }
    return undefined;
  }
  if (group === '' && plural === 'pods') {
    const spec = isPlainObject(next['spec']) ? next['spec'] : {};
    if (spec['nodeName'] !== node) return `node "${node}" may only evict pods bound to it, not pod "${next.metadata.name}" on node "${String(spec['nodeName'] ?? '')}"`;
    return undefined;
  }
  if (group === 'coordination.k8s.io' && plural === 'leases' && next.metadata.name !== node) {
    return `node "${node}" may only hold the lease named "${node}"`;
  }
  return undefined;
}

/** What a daemon changed on its own Node beyond its annotations and cordon flag. */
function nodeSelfChange(old: KubeObject, next: KubeObject): string | undefined {
  const oldAnn = old.metadata.annotations ?? {};
  const newAnn = next.metadata.annotations ?? {};
  // On first start the daemon copies desiredConfig from the bootstrap file with currentConfig.
  const bootstrapping = !oldAnn[CURRENT_CONFIG];
  for (const key of new Set([...Object.keys(oldAnn), ...Object.keys(newAnn)])) {
    if (oldAnn[key] === newAnn[key]) continue;
    if (DAEMON_ANNOTATIONS.includes(key) || (bootstrapping && key === DESIRED_CONFIG)) continue;
    return `node "${next.metadata.name}" is not allowed to modify annotation "${key}"`;
  }
  if (!deepEqual(old.metadata.labels ?? {}, next.metadata.labels ?? {})) return `node "${next.metadata.name}" is not allowed to modify labels`;
  const oldSpec = isPlainObject(old['spec']) ? old['spec'] : {};
  const newSpec = isPlainObject(next['spec']) ? next['spec'] : {};
  if (!deepEqual(oldSpec['taints'], newSpec['taints'])) return `node "${next.metadata.name}" is not allowed to modify taints`;
  if (!deepEqual(without(oldSpec, 'unschedulable'), without(newSpec, 'unschedulable'))) return `node "${next.metadata.name}" is not allowed to modify spec`;
  // managedFields are the server's record of who wrote what, not the node's change.
  const meta = (o: KubeObject): Record<string, unknown> => without(o.metadata, 'annotations', 'labels', 'resourceVersion', 'generation', 'managedFields');
  if (!deepEqual(meta(old), meta(next))) return `node "${next.metadata.name}" is not allowed to modify metadata other than its annotations`;
  return undefined;
}

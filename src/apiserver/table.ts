/**
 * Server-side printing: the `meta.k8s.io/v1` Table that `kubectl get` asks for and prints
 * as its columns. Custom resources get their CRD's additionalPrinterColumns (JSONPath
 * columns, as apiextensions-apiserver evaluates them); the built-in kinds get the columns
 * kube-apiserver's printers compute (Node STATUS and ROLES, Deployment READY, …). Durations
 * are rendered on the server, as `5m12s`, `3d4h`, `<invalid>`, `<unknown>`.
 */
import { isPlainObject } from './objects.js';

export interface PrinterColumn {
  name: string;
  type: string;
  jsonPath: string;
  description?: string;
  priority?: number;
  format?: string;
}

type Obj = Record<string, unknown>;
type Cell = string | number | boolean | null;

/** A built-in column whose cell is computed from the object (not a plain JSONPath lookup). */
interface ComputedColumn extends PrinterColumn {
  cell(obj: Obj, now: Date): Cell;
}

// ---------------------------------------------------------------------------------------
// Durations, as k8s.io/apimachinery's HumanDuration prints them.

/** `45s`, `5m12s`, `95m`, `3h5m`, `20h`, `3d4h`, `300d`, `2y10d`, `9y`; `<invalid>` well in the future. */
export function humanDuration(ms: number): string {
  const seconds = Math.trunc(ms / 1000);
  if (seconds < -1) return '<invalid>';
  if (seconds < 0) return '0s';
  if (seconds < 120) return `${seconds}s`;
  const minutes = Math.trunc(seconds / 60);
  if (minutes < 10) return seconds % 60 === 0 ? `${minutes}m` : `${minutes}m${seconds % 60}s`;
  if (minutes < 180) return `${minutes}m`;
  const hours = Math.trunc(minutes / 60);
  if (hours < 8) return minutes % 60 === 0 ? `${hours}h` : `${hours}h${minutes % 60}m`;
  if (hours < 48) return `${hours}h`;
  const days = Math.trunc(hours / 24);
  if (hours < 24 * 8) return hours % 24 === 0 ? `${days}d` : `${days}d${hours % 24}h`;
  if (hours < 24 * 365 * 2) return `${days}d`;
  const years = Math.trunc(days / 365);
  if (hours < 24 * 365 * 8) return days % 365 === 0 ? `${years}y` : `${years}y${days % 365}d`;
  return `${years}y`;
}

/** Age of an RFC 3339 timestamp: `<unknown>` when there is none, `<invalid>` when it does not parse. */
function since(timestamp: unknown, now: Date): string {
  if (typeof timestamp !== 'string' || timestamp === '') return '<unknown>';
  const t = Date.parse(timestamp);
  return Number.isNaN(t) ? '<invalid>' : humanDuration(now.getTime() - t);
}

// ---------------------------------------------------------------------------------------
// JSONPath, the subset printer columns use: `.a.b`, `\.` inside keys, `[N]`, `[*]`,
// `[?(@.field=="value")]` (also `!=`, single quotes, numbers).

type Step = { field: string } | { index: number } | { all: true } | { filter: { path: string[]; op: '==' | '!='; value: unknown } };

function parseJsonPath(expr: string): Step[] {
  const steps: Step[] = [];
  let i = expr.startsWith('{') && expr.endsWith('}') ? 1 : 0;
  const end = i === 1 ? expr.length - 1 : expr.length;
  while (i < end) {
    const c = expr[i]!;
    if (c === '.') {
      let name = '';
      i++;
      while (i < end && expr[i] !== '.' && expr[i] !== '[') {
        if (expr[i] === '\\' && i + 1 < end) i++;
        name += expr[i++];
      }
      if (name) steps.push({ field: name });
    } else if (c === '[') {
      const close = expr.indexOf(']', i);
      if (close < 0) throw new Error(`unclosed [ in JSONPath ${expr}`);
      const inner = expr.slice(i + 1, close);
      i = close + 1;
      if (inner === '*') steps.push({ all: true });
      else if (/^-?\d+$/.test(inner)) steps.push({ index: Number(inner) });
      else {
        const m = /^\?\(@((?:\.[\w-]+)+)\s*(==|!=)\s*(.+)\)$/.exec(inner);
        if (!m) throw new Error(`unsupported JSONPath filter [${inner}] in ${expr}`);
        const literal = m[3]!.trim();
        const value = /^'.*'$/.test(literal) ? literal.slice(1, -1) : JSON.parse(literal);
        steps.push({ filter: { path: m[1]!.slice(1).split('.'), op: m[2] as '==' | '!=', value } });
      }
    } else {
      throw new Error(`unexpected ${JSON.stringify(c)} at ${i} in JSONPath ${expr}`);
    }
  }
  return steps;
}

function evaluate(steps: Step[], root: unknown): unknown[] {
  let nodes: unknown[] = [root];
  for (const step of steps) {
    const next: unknown[] = [];
    for (const node of nodes) {
      if ('field' in step) {
        if (isPlainObject(node) && step.field in node) next.push(node[step.field]);
      } else if ('index' in step) {
        if (Array.isArray(node)) {
          const v = node.at(step.index);
          if (v !== undefined) next.push(v);
        }
      } else if ('all' in step) {
        if (Array.isArray(node)) next.push(...node);
        else if (isPlainObject(node)) next.push(...Object.values(node));
      } else if (Array.isArray(node)) {
        const { path, op, value } = step.filter;
        for (const el of node) {
          const got = path.reduce<unknown>((v, k) => (isPlainObject(v) ? v[k] : undefined), el);
          if (got !== undefined && (got === value) === (op === '==')) next.push(el);
        }
      }
    }
    nodes = next;
  }
  return nodes;
}

/**
 * Why a printer column's JSONPath cannot be used (undefined when it can): CRD validation
 * refuses such a column, as apiextensions-apiserver does.
 */
export function jsonPathProblem(expr: string): string | undefined {
  if (expr === '') return 'must not be empty';
  if (!expr.startsWith('.')) return 'must be a simple json path starting with .';
  try {
    parseJsonPath(expr);
    return undefined;
  } catch (e) {
    return `must be a valid JSONPath: ${(e as Error).message}`;
  }
}

const parsedPaths = new Map<string, Step[] | Error>();
/** The first JSONPath result, as apiextensions' table convertor uses; undefined when none. */
function lookup(obj: Obj, jsonPath: string): unknown {
  let steps = parsedPaths.get(jsonPath);
  if (!steps) {
    try {
      steps = parseJsonPath(jsonPath);
    } catch (e) {
      steps = e as Error;
    }
    parsedPaths.set(jsonPath, steps);
  }
  if (steps instanceof Error) throw steps;
  return evaluate(steps, obj)[0];
}

/**
 * A CRD column's cell: typed as the column says, `null` (printed `<none>`) when absent or
 * mistyped, `<error>` when the path cannot be evaluated (a CRD stored before validation
 * refused such paths): one bad column never fails the whole table.
 */
function jsonPathCell(column: PrinterColumn, obj: Obj, now: Date): Cell {
  let value: unknown;
  try {
    value = lookup(obj, column.jsonPath);
  } catch {
    return '<error>';
  }
  if (value === undefined || value === null) return null;
  switch (column.type) {
    case 'string':
      return typeof value === 'string' ? value : typeof value === 'object' ? JSON.stringify(value) : String(value);
    case 'integer':
      return typeof value === 'number' ? Math.trunc(value) : null;
    case 'number':
      return typeof value === 'number' ? value : null;
    case 'boolean':
      return typeof value === 'boolean' ? value : null;
    case 'date':
      return typeof value === 'string' ? since(value, now) : null;
    default:
      return null;
  }
}

// ---------------------------------------------------------------------------------------
// Built-in kinds: the columns kube-apiserver's printers produce (wide ones at priority 1).

const get = (obj: unknown, ...path: string[]): unknown => path.reduce<unknown>((v, k) => (isPlainObject(v) ? v[k] : undefined), obj);
const str = (v: unknown): string => (typeof v === 'string' ? v : '');
const list = (v: unknown): Obj[] => (Array.isArray(v) ? v.filter(isPlainObject) : []);
const orNone = (s: string): string => s || '<none>';

const age: ComputedColumn = {
  name: 'Age', type: 'string', jsonPath: '.metadata.creationTimestamp',
  description: 'Time since the object was created.',
  cell: (o, now) => since(get(o, 'metadata', 'creationTimestamp'), now),
};

function nodeStatus(node: Obj): string {
  const ready = list(get(node, 'status', 'conditions')).find((c) => c.type === 'Ready');
  const status = ready ? [ready.status === 'True' ? 'Ready' : 'NotReady'] : ['Unknown'];
  if (get(node, 'spec', 'unschedulable') === true) status.push('SchedulingDisabled');
  return status.join(',');
}

function nodeRoles(node: Obj): string {
  const roles = new Set<string>();
  for (const [key, value] of Object.entries((get(node, 'metadata', 'labels') ?? {}) as Record<string, string>)) {
    if (key.startsWith('node-role.kubernetes.io/') && key.length > 'node-role.kubernetes.io/'.length) roles.add(key.slice('node-role.kubernetes.io/'.length));
    else if (key === 'kubernetes.io/role' && value) roles.add(value);
  }
  return roles.size ? [...roles].sort().join(',') : '<none>';
}

const nodeAddress = (node: Obj, type: string): string =>
  orNone(str(list(get(node, 'status', 'addresses')).find((a) => a.type === type)?.address));

function podCounts(pod: Obj): { ready: number; total: number; restarts: number } {
  const statuses = list(get(pod, 'status', 'containerStatuses'));
  return {
    ready: statuses.filter((s) => s.ready === true).length,
    total: list(get(pod, 'spec', 'containers')).length,
    restarts: statuses.reduce((n, s) => n + (typeof s.restartCount === 'number' ? s.restartCount : 0), 0),
  };
}

function podStatus(pod: Obj): string {
  if (get(pod, 'metadata', 'deletionTimestamp')) return 'Terminating';
  for (const s of list(get(pod, 'status', 'containerStatuses'))) {
    const reason = str(get(s, 'state', 'waiting', 'reason')) || str(get(s, 'state', 'terminated', 'reason'));
    if (reason) return reason;
  }
  return str(get(pod, 'status', 'reason')) || str(get(pod, 'status', 'phase')) || 'Pending';
}

function containersOf(o: Obj, field: 'name' | 'image'): string {
  return list(get(o, 'spec', 'template', 'spec', 'containers')).map((c) => str(c[field])).join(',');
}

function selectorText(o: Obj): string {
  const labels = Object.entries((get(o, 'spec', 'selector', 'matchLabels') ?? {}) as Record<string, string>).map(([k, v]) => `${k}=${v}`);
  return orNone(labels.join(','));
}

function eventSource(e: Obj): string {
  const component = str(get(e, 'source', 'component')) || str(e.reportingComponent);
  const host = str(get(e, 'source', 'host')) || str(e.reportingInstance);
  return component && host ? `${component}, ${host}` : component || host;
}

function eventTimes(e: Obj, now: Date): { first: string; last: string } {
  const first = since(str(e.firstTimestamp) || str(e.eventTime), now);
  const last = str(get(e, 'series', 'lastObservedTime')) || str(e.lastTimestamp);
  return { first, last: last ? since(last, now) : first };
}

function column(name: string, type: string, description: string, cell: ComputedColumn['cell'], extra: Partial<PrinterColumn> = {}): ComputedColumn {
  return { name, type, jsonPath: '', description, cell, ...extra };
}
const wide = { priority: 1 };

const BUILTIN_COLUMNS: Record<string, ComputedColumn[]> = {
  Node: [
    column('Status', 'string', 'The Ready condition, and SchedulingDisabled when cordoned.', nodeStatus),
    column('Roles', 'string', 'Roles from the node-role.kubernetes.io/<role> labels.', nodeRoles),
    age,
    column('Version', 'string', 'Kubelet version the node reports.', (o) => str(get(o, 'status', 'nodeInfo', 'kubeletVersion'))),
    column('Internal-IP', 'string', 'First internal address.', (o) => nodeAddress(o, 'InternalIP'), wide),
    column('External-IP', 'string', 'First external address.', (o) => nodeAddress(o, 'ExternalIP'), wide),
    column('OS-Image', 'string', 'Operating system the node reports.', (o) => str(get(o, 'status', 'nodeInfo', 'osImage')) || '<unknown>', wide),
    column('Kernel-Version', 'string', 'Kernel the node reports.', (o) => str(get(o, 'status', 'nodeInfo', 'kernelVersion')) || '<unknown>', wide),
    column('Container-Runtime', 'string', 'Container runtime the node reports.', (o) => str(get(o, 'status', 'nodeInfo', 'containerRuntimeVersion')) || '<unknown>', wide),
  ],
  Pod: [
    column('Ready', 'string', 'Ready containers out of all containers.', (o) => `${podCounts(o).ready}/${podCounts(o).total}`),
    column('Status', 'string', 'Phase, or the reason a container is not running.', podStatus),
    column('Restarts', 'string', 'Container restarts in total.', (o) => String(podCounts(o).restarts)),
    age,
    column('IP', 'string', 'Pod IP.', (o) => orNone(str(get(o, 'status', 'podIP'))), wide),
    column('Node', 'string', 'Node the pod is bound to.', (o) => orNone(str(get(o, 'spec', 'nodeName'))), wide),
    column('Nominated Node', 'string', 'Node nominated by preemption.', (o) => orNone(str(get(o, 'status', 'nominatedNodeName'))), wide),
    column('Readiness Gates', 'string', 'Pod readiness gates.', () => '<none>', wide),
  ],
  ConfigMap: [
    column('Data', 'integer', 'Number of keys in data and binaryData.', (o) => Object.keys(get(o, 'data') ?? {}).length + Object.keys(get(o, 'binaryData') ?? {}).length),
    age,
  ],
  Secret: [
    column('Type', 'string', 'Secret type.', (o) => str(o.type)),
    column('Data', 'integer', 'Number of keys in data.', (o) => Object.keys(get(o, 'data') ?? {}).length),
    age,
  ],
  Namespace: [column('Status', 'string', 'Namespace phase.', (o) => str(get(o, 'status', 'phase'))), age],
  Deployment: [
    column('Ready', 'string', 'Ready replicas out of desired replicas.', (o) => `${Number(get(o, 'status', 'readyReplicas') ?? 0)}/${Number(get(o, 'spec', 'replicas') ?? 1)}`),
    column('Up-to-date', 'integer', 'Replicas of the latest template.', (o) => Number(get(o, 'status', 'updatedReplicas') ?? 0)),
    column('Available', 'integer', 'Replicas available to serve.', (o) => Number(get(o, 'status', 'availableReplicas') ?? 0)),
    age,
    column('Containers', 'string', 'Container names of the template.', (o) => containersOf(o, 'name'), wide),
    column('Images', 'string', 'Container images of the template.', (o) => containersOf(o, 'image'), wide),
    column('Selector', 'string', 'Label selector of the pods.', selectorText, wide),
  ],
  Lease: [column('Holder', 'string', 'Identity holding the lease.', (o) => str(get(o, 'spec', 'holderIdentity'))), age],
  Event: [
    column('Last Seen', 'string', 'Time since the event last occurred.', (o, now) => eventTimes(o, now).last),
    column('Type', 'string', 'Normal or Warning.', (o) => str(o.type)),
    column('Reason', 'string', 'Why the event happened.', (o) => str(o.reason)),
    column('Object', 'string', 'The object the event is about, kind/name.', (o) => {
      const kind = str(get(o, 'involvedObject', 'kind')).toLowerCase();
      const name = str(get(o, 'involvedObject', 'name'));
      return name ? `${kind}/${name}` : kind;
    }),
    column('Subobject', 'string', 'Field path within the object.', (o) => str(get(o, 'involvedObject', 'fieldPath')), wide),
    column('Source', 'string', 'Component that reported the event.', eventSource, wide),
    column('Message', 'string', 'What happened.', (o) => str(o.message).trim()),
    column('First Seen', 'string', 'Time since the event first occurred.', (o, now) => eventTimes(o, now).first, wide),
    column('Count', 'integer', 'How often it occurred.', (o) => Number(get(o, 'series', 'count') ?? o.count ?? 1) || 1, wide),
    column('Name', 'string', 'Event name.', (o) => str(get(o, 'metadata', 'name')), { priority: 1, format: 'name' }),
  ],
  CustomResourceDefinition: [
    column('Created At', 'date', 'When the definition was created.', (o) => str(get(o, 'metadata', 'creationTimestamp')) || null),
  ],
};

/**
 * The columns `kubectl get` shows for a built-in kind, after NAME (Node: STATUS ROLES AGE
 * VERSION, ConfigMap: DATA AGE, …), wide ones with priority 1; undefined for other kinds.
 */
export function printerColumnsFor(kind: string): PrinterColumn[] | undefined {
  return BUILTIN_COLUMNS[kind];
}

function isComputed(c: PrinterColumn): c is ComputedColumn {
  return typeof (c as Partial<ComputedColumn>).cell === 'function';
}

const NAME_COLUMN = { name: 'Name', type: 'string', format: 'name', description: 'Name of the object, unique in its namespace.', priority: 0 };
const AGE_COLUMN: PrinterColumn = { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' };

/**
 * A meta.k8s.io/v1 Table of `objects`: a leading Name column (unless the kind's own columns
 * carry the name, as Event's do), then `columns` — for a CRD its additionalPrinterColumns,
 * or Age when it declares none, as apiextensions-apiserver does. Each row carries the
 * object's metadata (`includeObject: Metadata`, the default), the whole object, or nothing.
 */
export function buildTable(args: {
  columns: PrinterColumn[];
  objects: object[];
  includeObject: 'None' | 'Metadata' | 'Object';
  now: Date;
  resourceVersion: string;
  continueToken?: string;
}): object {
  const columns = args.columns.length > 0 ? args.columns : [AGE_COLUMN];
  const hasName = columns.some((c) => c.format === 'name');
  const definitions = [
    ...(hasName ? [] : [NAME_COLUMN]),
    ...columns.map((c) => ({
      name: c.name,
      type: c.type,
      format: c.format ?? '',
      description: c.description ?? `Custom resource definition column (in JSONPath format): ${c.jsonPath}`,
      priority: c.priority ?? 0,
    })),
  ];
  const rows = (args.objects as Obj[]).map((obj) => {
    const cells: Cell[] = hasName ? [] : [str(get(obj, 'metadata', 'name'))];
    for (const c of columns) cells.push(isComputed(c) ? c.cell(obj, args.now) : jsonPathCell(c, obj, args.now));
    if (args.includeObject === 'None') return { cells };
    const object = args.includeObject === 'Object' ? obj : { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: obj.metadata ?? {} };
    return { cells, object };
  });
  return {
    kind: 'Table',
    apiVersion: 'meta.k8s.io/v1',
    metadata: { resourceVersion: args.resourceVersion, ...(args.continueToken ? { continue: args.continueToken } : {}) },
    columnDefinitions: definitions,
    rows,
  };
}

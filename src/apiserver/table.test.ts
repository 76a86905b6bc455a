import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadBuiltinCrds } from './crds.js';
import { buildTable, humanDuration, jsonPathProblem, printerColumnsFor, type PrinterColumn } from './table.js';

type Crd = { spec: { names: { kind: string }; versions: Array<{ additionalPrinterColumns?: PrinterColumn[] }> } };
const crdColumns = (kind: string): PrinterColumn[] =>
  (loadBuiltinCrds() as Crd[]).find((c) => c.spec.names.kind === kind)!.spec.versions[0]!.additionalPrinterColumns!;

interface Table {
  metadata: { resourceVersion: string; continue?: string };
  columnDefinitions: Array<{ name: string; type: string; format: string; priority: number; description: string }>;
  rows: Array<{ cells: unknown[]; object?: { kind: string; metadata?: unknown } }>;
}
const now = new Date('2021-01-22T10:35:00Z');
const S = 1000;
const M = 60 * S;
const H = 60 * M;
const D = 24 * H;

test('humanDuration() prints ages as kubectl does', () => {
  const cases: Array<[number, string]> = [
    [-5 * S, '<invalid>'], [-1500, '0s'], [0, '0s'], [45 * S, '45s'], [119 * S, '119s'], [2 * M, '2m'], [5 * M + 12 * S, '5m12s'],
    [10 * M + 30 * S, '10m'], [95 * M, '95m'], [3 * H, '3h'], [3 * H + 5 * M, '3h5m'], [8 * H + 59 * M, '8h'], [47 * H, '47h'],
    [2 * D, '2d'], [3 * D + 4 * H, '3d4h'], [8 * D + 5 * H, '8d'], [30 * D, '30d'], [729 * D, '729d'], [2 * 365 * D + 10 * D, '2y10d'],
    [3 * 365 * D, '3y'], [9 * 365 * D + 100 * D, '9y'],
  ];
  for (const [ms, text] of cases) assert.equal(humanDuration(ms), text, `${ms} ms`);
});

test('buildTable() prints `kubectl get mcp` with the real columns and condition lookups', () => {
  const worker = {
    apiVersion: 'machineconfiguration.openshift.io/v1', kind: 'MachineConfigPool',
    metadata: { name: 'worker', uid: 'u-1', resourceVersion: '7', creationTimestamp: '2020-12-23T10:00:00Z', labels: { a: 'b' } },
    spec: {},
    status: {
      configuration: { name: 'rendered-worker-0820700c2d496a3cacc73c82b7cd5c5f' },
      machineCount: 2, readyMachineCount: 0, updatedMachineCount: 0, degradedMachineCount: 0,
      conditions: [
        { type: 'Updating', status: 'True' }, { type: 'Updated', status: 'False' }, { type: 'RenderDegraded', status: 'True' }, { type: 'Degraded', status: 'False' },
      ],
    },
  };
  const fresh = { ...worker, metadata: { name: 'infra', creationTimestamp: '2021-01-22T10:31:16Z' }, status: undefined };
  const table = buildTable({ columns: crdColumns('MachineConfigPool'), objects: [worker, fresh], includeObject: 'Metadata', now, resourceVersion: '115', continueToken: 'c1' }) as Table;
  assert.deepEqual(table.columnDefinitions.map((c) => [c.name, c.type, c.format]), [
    ['Name', 'string', 'name'], ['Config', 'string', ''], ['Updated', 'string', ''], ['Updating', 'string', ''], ['Degraded', 'string', ''],
    ['MachineCount', 'number', ''], ['ReadyMachineCount', 'number', ''], ['UpdatedMachineCount', 'number', ''], ['DegradedMachineCount', 'number', ''], ['Age', 'date', ''],
  ]);
  assert.equal(table.columnDefinitions[1]!.description, 'Custom resource definition column (in JSONPath format): .status.configuration.name');
  assert.deepEqual(table.rows[0]!.cells, ['worker', 'rendered-worker-0820700c2d496a3cacc73c82b7cd5c5f', 'False', 'True', 'False', 2, 0, 0, 0, '30d']);
  assert.deepEqual(table.rows[1]!.cells, ['infra', null, null, null, null, null, null, null, null, '3m44s']);
  assert.deepEqual(table.rows[0]!.object, { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: worker.metadata });
  assert.deepEqual(table.metadata, { resourceVersion: '115', continue: 'c1' });
});

test('buildTable() prints `kubectl get mc`: the escaped-dot annotation column and the Ignition version', () => {
  const mc = (name: string, annotations: Record<string, string>, version: string) => ({
    metadata: { name, annotations, creationTimestamp: '2020-12-23T10:00:00Z' }, spec: { config: { ignition: { version } } },
  });
  const table = buildTable({
    columns: crdColumns('MachineConfig'),
    objects: [mc('00-worker', { 'machineconfiguration.openshift.io/generated-by-controller-version': 'c470febe19e3b004fb99baa6679e7597f50554c5' }, '3.1.0'), mc('99-worker-mtu', {}, '2.2.0')],
    includeObject: 'None', now, resourceVersion: '9',
  }) as Table;
  assert.deepEqual(table.rows.map((r) => r.cells), [
    ['00-worker', 'c470febe19e3b004fb99baa6679e7597f50554c5', '3.1.0', '30d'],
    ['99-worker-mtu', null, '2.2.0', '30d'],
  ]);
  assert.equal(table.rows[0]!.object, undefined);
  assert.equal('continue' in table.metadata, false);
});

test('buildTable() dates: <invalid> for an unparsable timestamp, Age alone for a CRD without columns, whole objects on request', () => {
  const odd = { metadata: { name: 'x', creationTimestamp: 'yesterday' } };
  const table = buildTable({ columns: [], objects: [odd], includeObject: 'Object', now, resourceVersion: '1' }) as Table;
  assert.deepEqual(table.columnDefinitions.map((c) => c.name), ['Name', 'Age']);
  assert.deepEqual(table.rows[0]!.cells, ['x', '<invalid>']);
  assert.deepEqual(table.rows[0]!.object, odd);
});

test('printerColumnsFor() Node: STATUS from Ready and cordoning, ROLES from labels, VERSION, wide addresses', () => {
  const columns = printerColumnsFor('Node')!;
  const node = (name: string, ready: string | undefined, labels: Record<string, string>, unschedulable = false) => ({
    metadata: { name, labels, creationTimestamp: '2021-01-22T07:30:00Z' },
    spec: { unschedulable },
    status: {
      conditions: ready ? [{ type: 'MemoryPressure', status: 'False' }, { type: 'Ready', status: ready }] : [],
      addresses: [{ type: 'InternalIP', address: '10.0.0.5' }],
      nodeInfo: { kubeletVersion: 'v1.19.0+7070803', osImage: 'Red Hat Enterprise Linux CoreOS 46.82', kernelVersion: '4.18.0', containerRuntimeVersion: 'cri-o://1.19.1' },
    },
  });
  const table = buildTable({
    columns,
    objects: [
      node('master-0', 'True', { 'node-role.kubernetes.io/master': '', 'node-role.kubernetes.io/worker': '' }),
      node('worker-0', 'Unknown', { 'node-role.kubernetes.io/worker': '' }, true),
      node('worker-1', undefined, {}),
    ],
    includeObject: 'Metadata', now, resourceVersion: '3',
  }) as Table;
  assert.deepEqual(table.columnDefinitions.map((c) => `${c.name}:${c.priority}`), [
    'Name:0', 'Status:0', 'Roles:0', 'Age:0', 'Version:0', 'Internal-IP:1', 'External-IP:1', 'OS-Image:1', 'Kernel-Version:1', 'Container-Runtime:1',
  ]);
  assert.deepEqual(table.rows.map((r) => r.cells.slice(0, 6)), [
    ['master-0', 'Ready', 'master,worker', '3h5m', 'v1.19.0+7070803', '10.0.0.5'],
    ['worker-0', 'NotReady,SchedulingDisabled', 'worker', '3h5m', 'v1.19.0+7070803', '10.0.0.5'],
    ['worker-1', 'Unknown', '<none>', '3h5m', 'v1.19.0+7070803', '10.0.0.5'],
  ]);
  assert.deepEqual(table.rows[0]!.cells.slice(6), ['<none>', 'Red Hat Enterprise Linux CoreOS 46.82', '4.18.0', 'cri-o://1.19.1']);
});

test('printerColumnsFor() ConfigMap, Deployment, Event and unknown kinds', () => {
  const cm = { metadata: { name: 'machine-config-osimageurl', creationTimestamp: '2020-12-22T16:48:36Z' }, data: { osImageURL: 'x', releaseVersion: '4.6.8' } };
  assert.deepEqual((buildTable({ columns: printerColumnsFor('ConfigMap')!, objects: [cm], includeObject: 'None', now, resourceVersion: '1' }) as Table).rows[0]!.cells,
    ['machine-config-osimageurl', 2, '30d']);

  const deploy = {
    metadata: { name: 'cluster-version-operator', creationTimestamp: '2021-01-22T10:34:00Z' },
    spec: { replicas: 0, selector: { matchLabels: { k8s: 'cvo' } }, template: { spec: { containers: [{ name: 'cvo', image: 'quay.io/cvo' }] } } },
    status: { readyReplicas: 1, updatedReplicas: 1, availableReplicas: 1 },
  };
  assert.deepEqual((buildTable({ columns: printerColumnsFor('Deployment')!, objects: [deploy], includeObject: 'None', now, resourceVersion: '1' }) as Table).rows[0]!.cells,
    ['cluster-version-operator', '1/0', 1, 1, '60s', 'cvo', 'quay.io/cvo', 'k8s=cvo']);

  const event = {
    metadata: { name: 'worker.1664', creationTimestamp: '2021-01-22T10:30:00Z' },
    involvedObject: { kind: 'MachineConfigPool', name: 'worker' }, reason: 'SetDesiredConfig', type: 'Normal',
    message: 'Targeted node worker-0 to config rendered-worker-98a7\n', source: { component: 'machineconfigcontroller-nodecontroller' },
    firstTimestamp: '2021-01-22T10:30:00Z', lastTimestamp: '2021-01-22T10:34:30Z', count: 3,
  };
  const events = buildTable({ columns: printerColumnsFor('Event')!, objects: [event], includeObject: 'Metadata', now, resourceVersion: '1' }) as Table;
  assert.deepEqual(events.columnDefinitions.map((c) => c.name), ['Last Seen', 'Type', 'Reason', 'Object', 'Subobject', 'Source', 'Message', 'First Seen', 'Count', 'Name']);
  assert.deepEqual(events.rows[0]!.cells, [
    '30s', 'Normal', 'SetDesiredConfig', 'machineconfigpool/worker', '', 'machineconfigcontroller-nodecontroller',
    'Targeted node worker-0 to config rendered-worker-98a7', '5m', 3, 'worker.1664',
  ]);

  assert.equal(printerColumnsFor('MachineConfigPool'), undefined);
  assert.equal(printerColumnsFor('Widget'), undefined);
});

test('buildTable() prints <error> in the cells of a column whose JSONPath cannot be evaluated, and the other columns as usual', () => {
  const columns: PrinterColumn[] = [
    { name: 'Broken', type: 'string', jsonPath: '.spec.size[?(@.x' },
    { name: 'Size', type: 'string', jsonPath: '.spec.size' },
  ];
  const table = buildTable({ columns, objects: [{ metadata: { name: 'w' }, spec: { size: 'L' } }], includeObject: 'None', now, resourceVersion: '1' }) as Table;
  assert.deepEqual(table.rows[0]!.cells, ['w', '<error>', 'L']);
});

test('jsonPathProblem() accepts the MCO columns and names what is wrong with a bad path', () => {
  for (const kind of ['MachineConfigPool', 'MachineConfig']) for (const c of crdColumns(kind)) assert.equal(jsonPathProblem(c.jsonPath), undefined, c.jsonPath);
  assert.equal(jsonPathProblem('spec.size'), 'must be a simple json path starting with .');
  assert.match(jsonPathProblem('.a[?(@.b') ?? '', /^must be a valid JSONPath: /);
});

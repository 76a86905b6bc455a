/**
 * The seed's cluster story end to end, as a user runs it: `mco lab up` (3 masters, 2 workers),
 * `mco lab demo`, real kubectl and the real `ostree admin status` as the judges; then a second
 * rollout with the operator, the controller, a daemon and the API server each killed with
 * SIGKILL in the middle of it.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { hasKubectl, KUBECTL_BIN } from '../apiserver/testing.js';
import { hasOstree } from '../ostree/testing.js';
import { bootedFromCmdlineFile } from '../sysroot/boot.js';
import { makeMutable } from '../sysroot/cleanup.js';
import { labProcesses } from './lab.js';
import { labPaths, nodePaths, osContentURL, readLabState, type LabState } from './layout.js';

const MCO_JS = fileURLToPath(new URL('../cli/mco.js', import.meta.url));
const skip = !hasKubectl ? 'kubectl not installed' : !hasOstree ? 'ostree not installed' : false;

type PoolRow = Record<'NAME' | 'CONFIG' | 'UPDATED' | 'UPDATING' | 'DEGRADED' | 'MACHINECOUNT' | 'READYMACHINECOUNT' | 'UPDATEDMACHINECOUNT' | 'DEGRADEDMACHINECOUNT', string>;

/** Every `kubectl get mcp` table in a transcript, each as pool name → its columns. */
function mcpTables(transcript: string): Map<string, PoolRow>[] {
  const tables: Map<string, PoolRow>[] = [];
  const lines = transcript.split('\n');
  for (let i = 0; i < lines.length; i++) {
    if (lines[i] !== '$ kubectl get mcp') continue;
    const header = lines[i + 1]!.split(/\s+/);
    const table = new Map<string, PoolRow>();
    for (let j = i + 2; j < lines.length && /^(master|worker)\s/.test(lines[j]!); j++) {
      const cells = lines[j]!.split(/\s+/);
      const row = Object.fromEntries(header.map((h, k) => [h, cells[k]!])) as PoolRow;
      table.set(row.NAME, row);
    }
    tables.push(table);
  }
  return tables;
}

const columns = (r: PoolRow | undefined): string => (r ? [r.UPDATED, r.UPDATING, r.DEGRADED, r.MACHINECOUNT, r.READYMACHINECOUNT, r.UPDATEDMACHINECOUNT, r.DEGRADEDMACHINECOUNT].join(' ') : 'missing');

describe('the cluster lab, end to end', { skip, timeout: 2_400_000 }, () => {
  const root = fs.mkdtempSync(join(tmpdir(), 'mco-lab-e2e-'));
  const dir = join(root, 'lab');
  const paths = labPaths(dir);
  let state: LabState;
  let demo = '';
  const mco = (...args: string[]) => spawnSync(process.execPath, [MCO_JS, ...args], { encoding: 'utf8', maxBuffer: 64 << 20 });
  const kubectl = (...args: string[]): string => {
    const r = spawnSync(KUBECTL_BIN, ['--kubeconfig', paths.kubeconfig, '--cache-dir', join(root, 'kcache'), ...args], { encoding: 'utf8' });
    assert.equal(r.status, 0, `kubectl ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
  /** The commit each node booted (its command line's deployment) and the real tool's default deployment line. */
  const nodeOs = (node: string): { booted: string; realDefault: string } => {
    const np = nodePaths(paths, node);
    const real = spawnSync('ostree', ['admin', 'status', `--sysroot=${np.sysroot}`], { encoding: 'utf8' });
    assert.equal(real.status, 0, real.stderr);
    return { booted: bootedFromCmdlineFile(np.sysroot, np.cmdline).booted!.checksum, realDefault: real.stdout.split('\n')[0]! };
  };

  before(async () => {
    const up = mco('lab', 'up', '--dir', dir, '--masters', '3', '--workers', '2');
    assert.equal(up.status, 0, `${up.stdout}${up.stderr}`);
    assert.match(up.stdout, /The lab is up: 3 masters, 2 workers\./);
    state = readLabState(paths)!;
    // The image the nodes run, in the OS content cache as after an earlier update through it.
    const warmed = await fetch(`${osContentURL(state)}/images?ref=${encodeURIComponent(state.images![0]!.image)}`, { method: 'POST' });
    assert.equal(warmed.status, 200, await warmed.text());
  });
  after(() => {
    mco('lab', 'down', '--dir', dir);
    for (const node of state?.nodes ?? []) {
      const deploy = join(nodePaths(paths, node.name).sysroot, 'ostree', 'deploy', 'rhcos', 'deploy');
      for (const d of fs.existsSync(deploy) ? fs.readdirSync(deploy) : []) makeMutable(join(deploy, d));
    }
    fs.rmSync(root, { recursive: true, force: true });
  });

  it('plays the seed\'s story: drift turns the pool Degraded with the seed\'s message, a wrong releaseVersion is refused, the right patch rolls every pool', () => {
    const r = mco('lab', 'demo', '--dir', dir);
    demo = r.stdout;
    assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
    const [oldImage, newImage] = state.images!.map((i) => i.image);
    // release info → the images.
    assert.ok(demo.includes(`$ mco release info --insecure --image-for machine-os-content 127.0.0.1:${state.registryPort}/openshift-release-dev/ocp-release:4.6.13-x86_64\n${newImage}\n`), demo);
    // The force-pivot shows the upgrade.
    assert.match(demo, /\[root@worker-0 ~\]# rpm-ostree status\n[\s\S]*Diff: 19 upgraded/);
    // Degraded, with the exact message.
    const tables = mcpTables(demo);
    const workerConfig = tables[0]!.get('worker')!.CONFIG;
    const message = `    Message:               Node worker-0 is reporting: "unexpected on-disk state validating against ${workerConfig}: expected target osImageURL \\"${oldImage}\\", have \\"${newImage}\\""`;
    assert.ok(demo.split('\n').includes(message), `no line\n${message}\nin\n${demo}`);
    // After the pivot back, nothing is degraded.
    assert.equal(columns(tables[0]!.get('worker')), 'True False False 2 2 2 0');
    assert.equal(columns(tables[0]!.get('master')), 'True False False 3 3 3 0');
    // The refusal, in the operator pod's log.
    assert.match(demo, /^E\d{4} [\d:.]+\s+\d+ \S+\] refusing to read osImageURL version "4\.6\.13", operator version "4\.6\.8"$/m);
    // The rollout: sampled while updating, then done everywhere on new configs.
    const rolling = tables.slice(1);
    assert.ok(rolling.some((t) => [...t.values()].some((p) => p.UPDATED === 'False' && p.UPDATING === 'True' && p.DEGRADED === 'False')), demo);
    const last = rolling.at(-1)!;
    assert.equal(columns(last.get('master')), 'True False False 3 3 3 0');
    assert.equal(columns(last.get('worker')), 'True False False 2 2 2 0');
    assert.notEqual(last.get('worker')!.CONFIG, workerConfig);
    assert.equal(JSON.parse(kubectl('get', 'mc', last.get('worker')!.CONFIG, '-o', 'json')).spec.osImageURL, newImage);
  });

  it('leaves every node booted on the new deployment, the real ostree admin status agreeing', () => {
    const newCommit = state.images![1]!.commit;
    for (const node of state.nodes) {
      const os = nodeOs(node.name);
      assert.equal(os.booted, newCommit, `${node.name} booted ${os.booted}`);
      assert.ok(os.realDefault.includes(newCommit), `${node.name}: ${os.realDefault}`);
    }
    assert.match(demo, /\[root@master-0 ~\]# rpm-ostree status\nState: idle\nDeployments:\n● pivot:\/\/\S+\n\s+CustomOrigin: Managed by machine-config-operator\n\s+Version: 46\.82\.202101191342-0/);
  });

  it('once every pool is on the new image, the controller has the OS content cache let go of the others', async () => {
    const digestOf = (image: string): string => image.slice(image.indexOf('@') + 1);
    const held = async (): Promise<string[]> => ((await (await fetch(`${osContentURL(state)}/images`)).json()) as { images: { digest: string }[] }).images.map((i) => i.digest);
    const deadline = Date.now() + 60_000;
    let digests = await held();
    while (digests.length !== 1 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 500));
      digests = await held();
    }
    assert.deepEqual(digests, [digestOf(state.images![1]!.image)]);
    assert.match(mco('lab', 'status', '--dir', dir).stdout, /held now: 1\)/);
  });

  it('finishes a rollout whose operator, controller, a daemon and API server are each killed with SIGKILL in the middle of it', async () => {
    const [oldImage] = state.images!.map((i) => i.image);
    kubectl('patch', 'cm', '-n', 'openshift-machine-config-operator', 'machine-config-osimageurl', '--type=merge', '-p', JSON.stringify({ data: { osImageURL: oldImage } }));
    const killed: string[] = [];
    for (const name of ['operator', 'controller', 'daemon worker-1', 'apiserver']) {
      await new Promise((r) => setTimeout(r, 4000));
      const p = (await labProcesses(dir)).find((x) => x.name === name);
      assert.ok(p?.pid, `${name} is not running`);
      process.kill(p.pid, 'SIGKILL');
      killed.push(name);
    }
    const deadline = Date.now() + 1_200_000;
    const oldCommit = state.images![0]!.commit;
    for (;;) {
      // The API server may be down (just killed, not yet restarted): ask again later.
      const got = spawnSync(KUBECTL_BIN, ['--kubeconfig', paths.kubeconfig, '--cache-dir', join(root, 'kcache'), 'get', 'mcp', '-o', 'json'], { encoding: 'utf8' });
      if (got.status !== 0) {
        assert.ok(Date.now() < deadline, `the API server did not come back: ${got.stderr}`);
        await new Promise((r) => setTimeout(r, 3000));
        continue;
      }
      const pools = JSON.parse(got.stdout) as { items: { status?: { conditions?: { type: string; status: string }[]; updatedMachineCount?: number; machineCount?: number; configuration?: { name?: string } } }[] };
      const done = pools.items.every((p) => p.status?.conditions?.some((c) => c.type === 'Updated' && c.status === 'True') && p.status.updatedMachineCount === p.status.machineCount);
      if (done && state.nodes.every((n) => nodeOs(n.name).booted === oldCommit)) break;
      assert.ok(Date.now() < deadline, `rollout did not finish: ${kubectl('get', 'mcp')}`);
      await new Promise((r) => setTimeout(r, 3000));
    }
    const processes = await labProcesses(dir);
    for (const name of killed) assert.ok(processes.find((p) => p.name === name)!.restarts >= 1, `${name} was not restarted`);
    for (const node of state.nodes) assert.ok(nodeOs(node.name).realDefault.includes(oldCommit), node.name);
    assert.match(kubectl('get', 'nodes'), /^(?![\s\S]*NotReady)/);
  });
});

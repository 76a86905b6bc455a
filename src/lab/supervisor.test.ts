/**
 * The lab's skeleton with stand-ins for the operator, the controller and the daemons (scripts
 * that only do what the lab's contract with them needs: the controller names a rendered config
 * per pool, a daemon annotates its node and "reboots" by rewriting its command-line file and
 * exiting 0). Everything else is real: the API server, the registry, the images, the node
 * sysroots, kubectl and ostree.
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
import { removeSysroots } from '../sysroot/crash-harness.js';
import { bootIdentity } from './firmware.js';
import { createLabState } from './lab.js';
import { labPaths, nodePaths, osContentURL, podLogPath } from './layout.js';
import { startLab, type LabCommands, type RunningLab } from './supervisor.js';

const MCO_JS = fileURLToPath(new URL('../cli/mco.js', import.meta.url));
const BOOT_JS = fileURLToPath(new URL('../sysroot/boot.js', import.meta.url));

const STUB_OPERATOR = `console.log('I1204 operator stub started'); setInterval(() => {}, 1 << 30);`;
const STUB_CONTROLLER = `
const { execFileSync } = require('node:child_process');
const kubeconfig = process.argv[2];
for (const role of ['master', 'worker']) {
  const pool = { apiVersion: 'machineconfiguration.openshift.io/v1', kind: 'MachineConfigPool', metadata: { name: role },
    spec: { configuration: { name: 'rendered-' + role + '-stub' }, machineConfigSelector: { matchLabels: {} }, nodeSelector: { matchLabels: {} } } };
  const mc = { apiVersion: 'machineconfiguration.openshift.io/v1', kind: 'MachineConfig', metadata: { name: 'rendered-' + role + '-stub' },
    spec: { osImageURL: '', config: { ignition: { version: '3.1.0' }, storage: { files: [{ path: '/etc/stub-' + role, contents: { source: 'data:,' + role }, mode: 420 }] } } } };
  for (const obj of [mc, pool]) execFileSync('${KUBECTL_BIN}', ['--kubeconfig', kubeconfig, 'apply', '-f', '-'], { input: JSON.stringify(obj) });
}
console.log('I1204 controller stub rendered the pools');
setInterval(() => {}, 1 << 30);`;
const STUB_DAEMON = `
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const [node, kubeconfig, sysroot] = process.argv.slice(2);
const cmdline = process.env.MCO_KERNEL_CMDLINE_FILE;
console.log('I1204 daemon stub on ' + node + ' booted: ' + fs.readFileSync(cmdline, 'utf8').trim());
execFileSync('${KUBECTL_BIN}', ['--kubeconfig', kubeconfig, 'annotate', '--overwrite', 'node', node, 'machineconfiguration.openshift.io/currentConfig=rendered-stub']);
process.on('SIGTERM', () => process.exit(0));
const trigger = path.join(sysroot, '..', 'reboot-me');
setInterval(async () => {
  if (!fs.existsSync(trigger)) return;
  fs.rmSync(trigger);
  const { bootSimulatedNode } = await import(${JSON.stringify(BOOT_JS)});
  await bootSimulatedNode(sysroot, cmdline);
  console.log('I1204 daemon stub: rebooting');
  process.exit(0);
}, 100);`;

const skip = !hasKubectl ? 'kubectl not installed' : !hasOstree ? 'ostree not installed' : false;

describe('the lab supervisor', { skip, timeout: 600_000 }, () => {
  const root = fs.mkdtempSync(join(tmpdir(), 'mco-lab-'));
  const dir = join(root, 'lab');
  const paths = labPaths(dir);
  const logs: string[] = [];
  let lab: RunningLab;
  const script = (name: string, text: string): string => {
    const file = join(root, `${name}.cjs`);
    fs.writeFileSync(file, text);
    return file;
  };
  const commands: LabCommands = {
    operator: () => [process.execPath, script('operator', STUB_OPERATOR)],
    controller: (kubeconfig) => [process.execPath, script('controller', STUB_CONTROLLER), kubeconfig],
    daemon: (node, kubeconfig, sysroot) => [process.execPath, script('daemon', STUB_DAEMON), node.name, kubeconfig, sysroot],
  };
  const kubectl = (...args: string[]): string => {
    const r = spawnSync(KUBECTL_BIN, ['--kubeconfig', paths.kubeconfig, '--cache-dir', join(root, 'kcache'), ...args], { encoding: 'utf8' });
    assert.equal(r.status, 0, `kubectl ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
  const waitFor = async (what: string, probe: () => boolean, ms = 60_000): Promise<void> => {
    const deadline = Date.now() + ms;
    while (!probe()) {
      if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}\n${logs.slice(-20).join('\n')}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  };

  before(async () => {
    await createLabState(paths, { masters: 1, workers: 1 });
    lab = await startLab({ dir, log: (l) => logs.push(l), commands, timeoutMs: 240_000 });
  });
  after(async () => {
    await lab?.stop();
    removeSysroots(paths.nodes);
    fs.rmSync(root, { recursive: true, force: true });
  });

  it('seeds the cluster as the seed\'s looks: namespaces, the CVO, the osImageURL ConfigMap, the installer\'s MachineConfigs, role-labelled Nodes and a Pod per process', () => {
    const images = lab.state.images!;
    assert.match(kubectl('get', 'ns'), /openshift-machine-config-operator[\s\S]*|openshift-cluster-version/);
    assert.match(kubectl('-n', 'openshift-cluster-version', 'get', 'deploy'), /cluster-version-operator\s+/);
    const cm = JSON.parse(kubectl('-n', 'openshift-machine-config-operator', 'get', 'cm', 'machine-config-osimageurl', '-o', 'json')) as { data: Record<string, string> };
    assert.deepEqual(cm.data, { osImageURL: images[0]!.image, releaseVersion: '4.6.8', osContentURL: osContentURL(lab.state) });
    assert.match(osContentURL(lab.state), /^http:\/\/127\.0\.0\.1:\d+$/, 'the lab runs an OS content cache and publishes it');
    assert.match(images[0]!.image, /^127\.0\.0\.1:\d+\/openshift-release-dev\/ocp-v4\.0-art-dev@sha256:[0-9a-f]{64}$/);
    const mcs = kubectl('get', 'mc');
    for (const name of ['99-master-generated-registries', '99-master-ssh', '99-worker-generated-registries', '99-worker-ssh']) assert.match(mcs, new RegExp(`^${name}\\s.*3\\.1\\.0`, 'm'));
    assert.match(kubectl('get', 'nodes', '-l', 'node-role.kubernetes.io/worker'), /^worker-0\s+Ready/m);
    assert.match(kubectl('get', 'nodes', '-l', 'node-role.kubernetes.io/master'), /^master-0\s+Ready/m);
    const pods = kubectl('-n', 'openshift-machine-config-operator', 'get', 'pods', '-o', 'custom-columns=NAME:.metadata.name,NODE:.spec.nodeName');
    assert.match(pods, /^machine-config-operator-[0-9a-f]{9}-[a-z0-9]{5}\s/m);
    assert.match(pods, /^machine-config-controller-[0-9a-f]{9}-[a-z0-9]{5}\s/m);
    assert.match(pods, /^machine-config-daemon-[a-z0-9]{5}\s+worker-0$/m);
  });

  it('serves each process\'s log as its Pod\'s log', () => {
    assert.match(kubectl('-n', 'openshift-machine-config-operator', 'logs', lab.state.pods.operator), /operator stub started/);
    const daemonPod = lab.state.nodes.find((n) => n.name === 'worker-0')!.pod;
    assert.match(kubectl('-n', 'openshift-machine-config-operator', 'logs', daemonPod), /daemon stub on worker-0 booted: .*ostree=\/ostree\/boot\./);
  });

  it('holds both releases, whose machine-os-content mco release info finds', () => {
    for (const [i, release] of ['4.6.8', '4.6.13'].entries()) {
      const r = spawnSync(process.execPath, [MCO_JS, 'release', 'info', '--insecure', '--image-for', 'machine-os-content', `127.0.0.1:${lab.state.registryPort}/openshift-release-dev/ocp-release:${release}-x86_64`], { encoding: 'utf8' });
      assert.equal(r.stderr, '');
      assert.equal(r.stdout.trim(), lab.state.images![i]!.image);
    }
  });

  it('installs each node on the first OS version, booted from its default entry, provisioned with its pool\'s rendered config and bootstrap annotations naming it', () => {
    const np = nodePaths(paths, 'worker-0');
    const real = spawnSync('ostree', ['admin', 'status', `--sysroot=${np.sysroot}`], { encoding: 'utf8' });
    assert.match(real.stdout, /Version: 46\.82\.202012051820-0/);
    assert.match(fs.readFileSync(np.cmdline, 'utf8'), /^.*ostree=\/ostree\/boot\.[01]\/rhcos\/[0-9a-f]{64}\/0\n$/);
    const { booted } = bootedFromCmdlineFile(np.sysroot, np.cmdline);
    const etc = join(np.sysroot, 'ostree', 'deploy', 'rhcos', 'deploy', `${booted!.checksum}.${booted!.serial}`, 'etc');
    assert.equal(fs.readFileSync(join(etc, 'stub-worker'), 'utf8'), 'worker');
    const file = join(etc, 'machine-config-daemon', 'node-annotations.json');
    assert.deepEqual(JSON.parse(fs.readFileSync(file, 'utf8')), {
      'machineconfiguration.openshift.io/currentConfig': 'rendered-worker-stub',
      'machineconfiguration.openshift.io/desiredConfig': 'rendered-worker-stub',
      'machineconfiguration.openshift.io/state': 'Done',
    });
  });

  it('restarts a process killed with SIGKILL, appending to its log', async () => {
    const operator = lab.processes.get('operator')!;
    const pid = operator.pid!;
    process.kill(pid, 'SIGKILL');
    await waitFor('the operator to be restarted', () => operator.pid !== undefined && operator.pid !== pid);
    await waitFor('its second start in its log', () => fs.readFileSync(podLogPath(paths, lab.state.pods.operator), 'utf8').split('operator stub started').length === 3);
    assert.ok(logs.some((l) => l.includes('operator killed by SIGKILL; restarting in')), logs.join('\n'));
  });

  it('boots a node whose daemon exits after writing its command line, and starts its daemon again', async () => {
    const np = nodePaths(paths, 'worker-0');
    const daemon = lab.processes.get('daemon worker-0')!;
    const pid = daemon.pid!;
    const boot = bootIdentity(np.cmdline);
    fs.writeFileSync(join(np.dir, 'reboot-me'), '');
    await waitFor('the daemon to come back', () => daemon.pid !== undefined && daemon.pid !== pid);
    assert.notEqual(bootIdentity(np.cmdline), boot);
    assert.ok(logs.some((l) => l === 'worker-0: rebooting'), logs.join('\n'));
    assert.ok(logs.some((l) => l.startsWith('worker-0: booted ')), logs.join('\n'));
    assert.equal(daemon.restarts, 1);
  });

  it('reboots a node on request: the daemon stops, the firmware boots, the daemon starts', async () => {
    const np = nodePaths(paths, 'master-0');
    const daemon = lab.processes.get('daemon master-0')!;
    const pid = daemon.pid!;
    const boot = bootIdentity(np.cmdline);
    await lab.reboot('master-0');
    await waitFor('the daemon to come back', () => daemon.pid !== undefined && daemon.pid !== pid);
    assert.notEqual(bootIdentity(np.cmdline), boot);
    assert.ok(logs.some((l) => l === 'master-0: rebooting (reboot requested)'), logs.join('\n'));
    await assert.rejects(lab.reboot('worker-9'), /No node worker-9 in this lab \(nodes: master-0, worker-0\)/);
  });

  it('stops everything, and a later start resumes the same cluster without rebuilding', async () => {
    const uid = JSON.parse(kubectl('-n', 'openshift-machine-config-operator', 'get', 'cm', 'machine-config-osimageurl', '-o', 'json')).metadata.uid as string;
    const pids = [...lab.processes.values()].map((p) => p.pid!);
    await lab.stop();
    for (const pid of pids) assert.throws(() => process.kill(pid, 0), /ESRCH/);
    assert.equal(fs.existsSync(paths.supervisor), false);
    logs.length = 0;
    lab = await startLab({ dir, log: (l) => logs.push(l), commands, timeoutMs: 240_000 });
    assert.ok(!logs.some((l) => l.startsWith('Building') || l.startsWith('Installing')), logs.join('\n'));
    assert.equal(JSON.parse(kubectl('-n', 'openshift-machine-config-operator', 'get', 'cm', 'machine-config-osimageurl', '-o', 'json')).metadata.uid, uid);
  });
});

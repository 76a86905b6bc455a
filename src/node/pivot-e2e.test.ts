/**
 * The seed's single-node story, end to end, as an administrator runs it: two OS versions
 * committed by the real ostree, built into machine-os-content images (`mco image build`) and
 * pushed to a registry — our embedded one and Debian's docker-registry — then
 * `machine-config-daemon pivot IMAGE` on a node, a "reboot", and a pivot back; the real
 * `ostree admin status` agrees at each step. And the failures: a registry that is down, a
 * corrupted blob, a kill -9 in the middle of the deploy — after each the node boots exactly
 * what it booted.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, test, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { addLayerBlob, pythonLayer, writeOciLayout } from '../image/extract-testing.js';
import { needsRegistryAndSkopeo, skopeo, startDockerRegistry, startEmbeddedRegistry } from '../image/testing.js';
import { ok, ostree, runMco, type RunResult } from '../ostree/testing.js';
import { parseBlsEntry } from '../sysroot/bls.js';
import { bootSimulatedNode, writeCmdlineFile } from '../sysroot/boot.js';
import { needsOstree, removeWithSysroot, writeOsTree } from '../sysroot/sysroot-fixtures.js';

const DAEMON_JS = fileURLToPath(new URL('../cli/machine-config-daemon.js', import.meta.url));
const skip = needsOstree.skip || needsRegistryAndSkopeo.skip;

interface World {
  dir: string;
  sysroot: string;
  cmdline: string;
  /** `HOST/ocp/machine-os-content@sha256:…` of each version. */
  images: { v1: string; v2: string };
  commits: { v1: string; v2: string };
}

/** `machine-config-daemon ARGS…` on the node: its kernel command line in the world's file. */
function daemon(w: World, args: string[], env: Record<string, string> = {}): RunResult {
  const r = spawnSync(process.execPath, [DAEMON_JS, ...args], {
    env: { ...process.env, LC_ALL: 'C.UTF-8', MCO_KERNEL_CMDLINE_FILE: w.cmdline, ...env },
    encoding: 'utf8',
  });
  if (r.error) throw r.error;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, stdoutBytes: Buffer.from(r.stdout) };
}

/**
 * A failed pivot: exit status 1, its log lines, then one `error: …` line naming what failed
 * (and no stack trace).
 */
function assertPivotFailed(r: RunResult, what: string, mentions: string[]): void {
  assert.equal(r.status, 1, `${what}: expected exit status 1, got ${r.status}\n${r.stderr}`);
  const lines = r.stderr.trimEnd().split('\n');
  assert.match(lines.at(-1)!, /^error: /, `${what}: the last line should be the error:\n${r.stderr}`);
  assert.equal(lines.filter((l) => l.startsWith('error: ')).length, 1, `${what}: one error line`);
  assert.doesNotMatch(r.stderr, /\n\s+at /, `${what}: stack trace on stderr`);
  for (const m of mentions) assert.ok(lines.at(-1)!.includes(m), `${what}: the error should mention ${m}: ${lines.at(-1)}`);
}

const hostStatus = (w: World): string => ok(runMco(['host', 'status', `--sysroot=${w.sysroot}`], { env: { ...process.env, MCO_KERNEL_CMDLINE_FILE: w.cmdline } }), 'mco host status').stdout;
const realStatus = (w: World): string => ok(ostree(['admin', 'status', `--sysroot=${w.sysroot}`]), 'ostree admin status').stdout;
/** `CSUM.SERIAL` of the deployments, in the order the real tool lists them. */
const realList = (w: World): string[] => [...realStatus(w).matchAll(/^[ *] rhcos ([0-9a-f]{64}\.\d+)/gm)].map((m) => m[1]!);

/**
 * Two versions built into images on `host`, and a node installed on v1 (as a pivot to v1 would
 * leave it), by `mco host rebase` or, with `installer: 'ostree'`, by the real `ostree admin deploy`.
 */
async function world(t: TestContext, host: string, options: { installer?: 'mco' | 'ostree' } = {}): Promise<World> {
  const dir = fs.mkdtempSync(join(tmpdir(), 'mco-pivot-e2e-'));
  t.after(() => removeWithSysroot(dir, join(dir, 'sysroot')));
  const repo = join(dir, 'build-repo');
  ok(ostree(['init', '--mode=archive', `--repo=${repo}`]), 'ostree init');
  const commits = {} as World['commits'];
  const images = {} as World['images'];
  for (const [v, version] of [['v1', '46.82.202012051820-0'], ['v2', '46.82.202101191342-0']] as const) {
    const tree = join(dir, `tree-${v}`);
    writeOsTree(tree, { version, kernel: `KERNEL ${v}\n`, etc: { 'app.conf': `a=${v}\n` } });
    for (let i = 0; i < 50; i++) fs.writeFileSync(join(tree, 'usr', `pkg-${i}`), `${i < 5 ? v : 'same'} ${i}\n`);
    commits[v] = ok(ostree(['commit', `--repo=${repo}`, '-b', 'rhcos', '--timestamp=@1606372800', `--add-metadata-string=version=${version}`, tree]), 'commit').stdout.trim();
    const digest = ok(runMco(['image', 'build', '--from-commit', `${repo}:${commits[v]}`, '--to', `${host}/ocp/machine-os-content:${v}`, '--insecure', '-q']), `mco image build ${v}`).stdout.trim();
    assert.match(digest, /^sha256:[0-9a-f]{64}$/);
    images[v] = `${host}/ocp/machine-os-content@${digest}`;
  }
  const sysroot = join(dir, 'sysroot');
  fs.mkdirSync(sysroot);
  ok(ostree(['admin', 'init-fs', sysroot]), 'init-fs');
  ok(ostree(['admin', 'os-init', `--sysroot=${sysroot}`, 'rhcos']), 'os-init');
  // The installer's work: v1 deployed with the pivot origin of its image.
  if (options.installer === 'ostree') {
    ok(ostree(['pull-local', `--repo=${join(sysroot, 'ostree', 'repo')}`, repo, commits.v1]), 'pull-local v1');
    const origin = join(dir, 'v1.origin');
    fs.writeFileSync(origin, `[origin]\nrefspec=${commits.v1}\ncustom-url=pivot://${images.v1}\ncustom-description=Managed by machine-config-operator\n`);
    ok(ostree(['admin', 'deploy', `--sysroot=${sysroot}`, '--os=rhcos', '--karg=root=LABEL=root', `--origin-file=${origin}`, commits.v1]), 'ostree admin deploy v1');
  } else {
    ok(runMco(['host', 'rebase', `--sysroot=${sysroot}`, `${repo}:${commits.v1}`, '--os=rhcos', `--custom-origin-url=pivot://${images.v1}`, '--custom-origin-description=Managed by machine-config-operator']), 'install v1');
  }
  const cmdline = join(dir, 'cmdline');
  await bootSimulatedNode(sysroot, cmdline);
  return { dir, sysroot, cmdline, images, commits };
}

/** The whole story on one registry. */
async function story(t: TestContext, host: string): Promise<void> {
  const w = await world(t, host);
  const booted = realList(w);
  assert.equal(booted.length, 1);

  // 1. Pivot to v2: a new default, pending until the reboot.
  const pivot = ok(daemon(w, ['pivot', `--sysroot=${w.sysroot}`, '--insecure', '-q', w.images.v2]), 'pivot to v2');
  assert.match(pivot.stderr, new RegExp(`^Previous pivot: ${w.images.v1.replace(/[.]/g, '\\.')}$`, 'm'));
  assert.match(pivot.stderr, new RegExp(`^Pivoting to: 46\\.82\\.202101191342-0 \\(${w.commits.v2}\\)$`, 'm'));
  assert.match(pivot.stderr, /^Imported \d+ metadata and [1-9] content objects \(\d+ bytes\) new to the node's repository$/m, 'only the files v2 changed');
  assert.match(pivot.stderr, /^Executing rebase from repo path .*\/run\/mco-machine-os-content\/os-content-\d+\/srv\/repo with customImageURL pivot:\/\//m);
  assert.deepEqual(realList(w).map((n) => n.slice(0, 64)), [w.commits.v2, w.commits.v1]);
  const pending = hostStatus(w);
  assert.match(pending, new RegExp(`^Deployments:\\n  pivot://${w.images.v2.replace(/[.]/g, '\\.')}\\n +CustomOrigin: Managed by machine-config-operator\\n +Version: 46\\.82\\.202101191342-0 `, 'm'));
  assert.match(pending, new RegExp(`^● pivot://${w.images.v1.replace(/[.]/g, '\\.')}$`, 'm'), 'still booted on v1');
  assert.deepEqual(fs.readdirSync(join(w.sysroot, 'run', 'mco-machine-os-content')), [], 'the extracted image is gone');

  // Again: already pending, nothing to do.
  assert.match(ok(daemon(w, ['pivot', `--sysroot=${w.sysroot}`, '--insecure', '-q', w.images.v2]), 'pivot again').stderr, /^No changes; already at target oscontainer$/m);

  // 2. "Reboot": the node boots the default entry.
  await bootSimulatedNode(w.sysroot, w.cmdline);
  assert.match(hostStatus(w), new RegExp(`^● pivot://${w.images.v2.replace(/[.]/g, '\\.')}$`, 'm'));

  // 3. Pivot back to v1, rebooting at once (--reboot rewrites the simulated command line).
  const back1 = ok(daemon(w, ['pivot', `--sysroot=${w.sysroot}`, '--insecure', '-q', '--reboot', w.images.v1]), 'pivot back with --reboot');
  // v1's objects are all on the node: nothing new is written.
  assert.match(back1.stderr, /^Imported 0 metadata and 0 content objects \(0 bytes\) new to the node's repository$/m);
  // As rpm-ostree: the new default, the booted v2, and v2's rollback (the first v1).
  assert.deepEqual(realList(w), [`${w.commits.v1}.1`, `${w.commits.v2}.0`, `${w.commits.v1}.0`]);
  const back = hostStatus(w);
  assert.match(back, new RegExp(`^● pivot://${w.images.v1.replace(/[.]/g, '\\.')}$`, 'm'), 'booted on v1 again');
  assert.match(ok(ostree(['fsck', `--repo=${join(w.sysroot, 'ostree', 'repo')}`]), 'fsck').stdout, /no errors found/);
}

describe('machine-config-daemon pivot, end to end', { skip }, () => {
  test('pivot, reboot, pivot back — images in our embedded registry', async (t) => {
    const registry = await startEmbeddedRegistry(t);
    await story(t, registry.host);
  });

  test('pivot, reboot, pivot back — images in Debian\'s docker-registry', async (t) => {
    const registry = await startDockerRegistry(t);
    await story(t, registry.host);
  });

  test('a node installed by the real ostree admin deploy, booted with its entry\'s options line: after a pivot, status, a second pivot and a failed one all work', async (t) => {
    const registry = await startEmbeddedRegistry(t);
    const w = await world(t, registry.host, { installer: 'ostree' });
    // Exactly what a boot loader passes: the default entry's options line, bootlink and all.
    const entries = join(w.sysroot, 'boot', 'loader', 'entries');
    const options = parseBlsEntry(fs.readFileSync(join(entries, fs.readdirSync(entries)[0]!), 'utf8')).fields.get('options')!;
    assert.match(options, /^root=LABEL=root ostree=\/ostree\/boot\.1\/rhcos\/[0-9a-f]{64}\/0$/);
    writeCmdlineFile(w.cmdline, options);

    ok(daemon(w, ['pivot', `--sysroot=${w.sysroot}`, '--insecure', '-q', w.images.v2]), 'pivot to v2');
    // The deploy flipped the bootversion: the command line's bootlink is gone, as on a real host.
    assert.equal(fs.existsSync(join(w.sysroot, 'ostree', 'boot.1')), false);
    const status = hostStatus(w);
    assert.match(status, new RegExp(`^● pivot://${w.images.v1.replace(/[.]/g, '\\.')}$`, 'm'), 'still booted on v1');
    assert.match(status, new RegExp(`^  pivot://${w.images.v2.replace(/[.]/g, '\\.')}$`, 'm'), 'v2 pending');
    assert.match(ok(daemon(w, ['pivot', `--sysroot=${w.sysroot}`, '--insecure', '-q', w.images.v2]), 'pivot again').stderr, /^No changes; already at target oscontainer$/m);
    const missing = `${registry.host}/ocp/machine-os-content@sha256:${'0'.repeat(64)}`;
    const r = daemon(w, ['pivot', `--sysroot=${w.sysroot}`, '--insecure', '-q', missing], { MCO_PIVOT_RETRY_DELAYS_MS: '0,0' });
    assertPivotFailed(r, 'pivot to a missing image', [missing, 'manifest']);
    assert.deepEqual(realList(w).map((n) => n.slice(0, 64)), [w.commits.v2, w.commits.v1], 'the failed pivot changed nothing');

    // The next boot reads the new default entry's line, bootlink form, and boots v2.
    await bootSimulatedNode(w.sysroot, w.cmdline);
    assert.match(fs.readFileSync(w.cmdline, 'utf8'), /^root=LABEL=root ostree=\/ostree\/boot\.0\/rhcos\/[0-9a-f]{64}\/0\n$/);
    assert.match(hostStatus(w), new RegExp(`^● pivot://${w.images.v2.replace(/[.]/g, '\\.')}$`, 'm'));
  });

  test('a registry that is down: the error names the image, the node is untouched', async (t) => {
    const registry = await startEmbeddedRegistry(t);
    const w = await world(t, registry.host);
    const before = realStatus(w);
    await registry.stop();
    const r = daemon(w, ['pivot', `--sysroot=${w.sysroot}`, '--insecure', '-q', w.images.v2]);
    assertPivotFailed(r, 'pivot with the registry down', [`Reading the labels of ${w.images.v2}`, 'cannot reach registry']);
    assert.equal(realStatus(w), before);
    assert.deepEqual(fs.readdirSync(join(w.sysroot, 'run', 'mco-machine-os-content')), []);
  });

  test('a corrupted blob in the registry: refused as a digest mismatch, after retries; the node is untouched', async (t) => {
    const registry = await startDockerRegistry(t);
    const w = await world(t, registry.host);
    const manifest = JSON.parse(ok(runMco(['image', 'inspect', '--raw', '--insecure', w.images.v2]), 'inspect').stdout) as { layers: { digest: string }[] };
    const blob = registry.blobPath(manifest.layers[0]!.digest);
    const bytes = fs.readFileSync(blob);
    bytes[Math.floor(bytes.length / 2)]! ^= 0xff;
    fs.writeFileSync(blob, bytes);
    const before = realStatus(w);
    const r = daemon(w, ['pivot', `--sysroot=${w.sysroot}`, '--insecure', '-q', w.images.v2], { MCO_PIVOT_RETRY_DELAYS_MS: '0,0' });
    assertPivotFailed(r, 'pivot to a corrupted image', [`Extracting ${w.images.v2} failed after 3 attempts`, 'digest mismatch']);
    assert.equal(realStatus(w), before);
    assert.deepEqual(fs.readdirSync(join(w.sysroot, 'run', 'mco-machine-os-content')), []);
  });

  test('a hostile image (a layer entry escaping with ..): refused naming the entry, nothing written outside, the node untouched', async (t) => {
    const registry = await startEmbeddedRegistry(t);
    const w = await world(t, registry.host);
    const layout = join(w.dir, 'hostile-oci');
    const layer = addLayerBlob(layout, pythonLayer(join(w.dir, 'hostile.tar.gz'), [
      { name: 'srv/repo/config', data: '[core]\nrepo_version=1\nmode=archive-z2\n' },
      { name: 'srv/repo/../../../../escaped', data: 'pwned\n' },
    ]));
    writeOciLayout(layout, [layer], 'hostile');
    const pushed = skopeo(['copy', '-q', '--dest-tls-verify=false', `--digestfile=${join(w.dir, 'digest')}`, `oci:${layout}:hostile`, `docker://${registry.host}/ocp/hostile:1`]);
    assert.equal(pushed.status, 0, pushed.stderr);
    const image = `${registry.host}/ocp/hostile@${fs.readFileSync(join(w.dir, 'digest'), 'utf8').trim()}`;
    const before = realStatus(w);
    const r = daemon(w, ['pivot', `--sysroot=${w.sysroot}`, '--insecure', '-q', image], { MCO_PIVOT_RETRY_DELAYS_MS: '0,0' });
    assertPivotFailed(r, 'pivot to a hostile image', [`Extracting ${image} failed`, 'srv/repo/../../../../escaped', '".." component']);
    assert.equal(realStatus(w), before);
    for (const dir of [w.dir, w.sysroot, join(w.sysroot, 'run'), dirname(w.dir)]) assert.equal(fs.existsSync(join(dir, 'escaped')), false, `nothing written to ${dir}`);
    assert.deepEqual(fs.readdirSync(join(w.sysroot, 'run', 'mco-machine-os-content')), []);
  });

  test('a full disk while extracting (a tmpfs filled up): the error names the image, the node is untouched', { skip: process.getuid?.() !== 0 && 'mounting a tmpfs needs root' }, async (t) => {
    const registry = await startEmbeddedRegistry(t);
    const w = await world(t, registry.host);
    const extractDir = join(w.sysroot, 'run', 'mco-machine-os-content');
    fs.mkdirSync(extractDir, { recursive: true });
    assert.equal(spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', extractDir]).status, 0, 'mount tmpfs');
    // Unmounted before the test's own clean-up removes the directories.
    try {
      // Whatever the image's size, nothing fits: the disk is full before the pivot starts.
      const filler = join(extractDir, 'filler');
      assert.throws(() => fs.writeFileSync(filler, Buffer.alloc(2 << 20)), /ENOSPC/);
      const before = realStatus(w);
      const r = daemon(w, ['pivot', `--sysroot=${w.sysroot}`, '--insecure', '-q', w.images.v2], { MCO_PIVOT_RETRY_DELAYS_MS: '0,0' });
      assertPivotFailed(r, 'pivot onto a full disk', [`Extracting ${w.images.v2} failed after 3 attempts`, 'ENOSPC']);
      assert.equal(realStatus(w), before);
      assert.deepEqual(fs.readdirSync(extractDir), ['filler'], 'nothing half-extracted left');
    } finally {
      spawnSync('umount', [extractDir]);
    }
  });

  test('killed with SIGKILL in the middle of the deploy: the node boots v1, and the next pivot succeeds', async (t) => {
    const registry = await startEmbeddedRegistry(t);
    const w = await world(t, registry.host);
    const before = realStatus(w);
    for (const step of ['deploy-checked-out', 'deploy-origin-written', 'before-loader-rename']) {
      const killed = daemon(w, ['pivot', `--sysroot=${w.sysroot}`, '--insecure', '-q', w.images.v2], { MCO_CRASH_AT: step });
      assert.equal(killed.status, null, `killed at ${step}`);
      assert.equal(realStatus(w), before, `after the kill at ${step}, the boot entries are v1's alone`);
      assert.match(hostStatus(w), new RegExp(`^● pivot://${w.images.v1.replace(/[.]/g, '\\.')}$`, 'm'));
    }
    ok(daemon(w, ['pivot', `--sysroot=${w.sysroot}`, '--insecure', '-q', w.images.v2]), 'pivot after the kills');
    assert.deepEqual(realList(w).map((n) => n.slice(0, 64)), [w.commits.v2, w.commits.v1]);
    assert.match(ok(ostree(['fsck', `--repo=${join(w.sysroot, 'ostree', 'repo')}`]), 'fsck').stdout, /no errors found/);
  });
});

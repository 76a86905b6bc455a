/**
 * The pivot's own logic, with the image side given as a directory that "extracts" by copy:
 * the flow, its log lines, the no-op, retries, and that every failure leaves the node booting
 * what it booted with nothing left under run/mco-machine-os-content. Sysroots and image
 * repositories are made by the real ostree, which also checks the result. (Pulling from real
 * registries is tested end to end with the image layer.)
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { describe, test, type TestContext } from 'node:test';
import { ok, ostree } from '../ostree/testing.js';
import { bootSimulatedNode, simulatedBoot } from '../sysroot/boot.js';
import { needsOstree, RealSysroot, writeOsTree } from '../sysroot/sysroot-fixtures.js';
import { EXTRACT_PARENT, pivot, PivotError, type OsContentSource, type OsImageSource, type PivotEffects } from './pivot.js';

const IMAGE_A = 'quay.io/openshift-release-dev/ocp-v4.0-art-dev@sha256:4c5b83a192734ad6aa33da798f51b4b7ebe0f633ed63d53867a0c3fb73993024';
const IMAGE_B = 'quay.io/openshift-release-dev/ocp-v4.0-art-dev@sha256:8869972a7f3cf7be7c936ef5b3277f20da7f5b577d66e37a5b9db25889c2a515';

interface FakeImage {
  /** The image's root: srv/repo holds the archive repo. */
  root: string;
  labels: Record<string, string>;
  checksum: string;
}

/** A machine-os-content-shaped directory: an archive repo with one commit on `ref`, made by the real ostree. */
function osContent(t: TestContext, base: string, version: string, options: { refs?: string[]; label?: boolean } = {}): FakeImage {
  const root = join(base, `image-${version}`);
  const repo = join(root, 'srv', 'repo');
  fs.mkdirSync(repo, { recursive: true });
  ok(ostree(['init', '--mode=archive', `--repo=${repo}`]), 'ostree init');
  const tree = join(base, `tree-${version}`);
  writeOsTree(tree, { version, etc: { 'app.conf': `a=${version}\n` }, kernel: `KERNEL ${version}\n` });
  let checksum = '';
  for (const ref of options.refs ?? ['rhcos']) {
    checksum = ok(ostree(['commit', `--repo=${repo}`, '-b', ref, '--timestamp=@1606372800', `--add-metadata-string=version=${version}`, tree]), 'ostree commit').stdout.trim();
  }
  t.after(() => fs.rmSync(tree, { recursive: true, force: true }));
  const labels: Record<string, string> = { version };
  if (options.label !== false) labels['com.coreos.ostree-commit'] = checksum;
  return { root, labels, checksum };
}

/** The image side: each image a directory, copied into place; `failures` makes the first N extractions fail. */
function source(images: Record<string, FakeImage>, failures = 0): OsImageSource & { extractions: number } {
  return {
    extractions: 0,
    async labels(image) {
      const found = images[image];
      if (!found) throw new Error(`manifest unknown: ${image}`);
      return found.labels;
    },
    async extract(image, dest) {
      this.extractions++;
      if (this.extractions <= failures) throw new Error('connection reset by peer');
      const r = spawnSync('cp', ['-a', images[image]!.root, dest]);
      assert.equal(r.status, 0, String(r.stderr));
    },
  };
}

function effects(src: OsImageSource, node?: { s: RealSysroot; cmdline: string }): PivotEffects & { lines: string[] } {
  const lines: string[] = [];
  return {
    lines,
    source: src,
    log: (line) => lines.push(line),
    sleep: async () => undefined,
    ...(node ? { readCmdline: simulatedBoot(node.s.path, node.cmdline) } : {}),
  };
}

/** A node on image A: v1 deployed by the real tool with the pivot origin, booted. */
async function nodeOnA(t: TestContext): Promise<{ s: RealSysroot; a: FakeImage; cmdline: string; base: string }> {
  const s = RealSysroot.forTest(t);
  const base = join(s.path, '..');
  const a = osContent(t, base, '46.82.202012051820-0');
  ok(ostree(['pull-local', `--repo=${s.repo}`, join(a.root, 'srv/repo'), a.checksum]), 'pull-local');
  const origin = join(base, 'a.origin');
  fs.writeFileSync(origin, `[origin]\nrefspec=${a.checksum}\ncustom-url=pivot://${IMAGE_A}\ncustom-description=Managed by machine-config-operator\n`);
  s.deploy('--os=rhcos', '--karg=root=LABEL=root', `--origin-file=${origin}`, a.checksum);
  const cmdline = join(base, 'cmdline');
  // Booted as a boot loader would: the default entry's options line, resolved once for this boot.
  await bootSimulatedNode(s.path, cmdline);
  return { s, a, cmdline, base };
}

const leftovers = (s: RealSysroot): string[] => {
  const dir = join(s.path, EXTRACT_PARENT);
  return fs.existsSync(dir) ? fs.readdirSync(dir) : [];
};

describe('pivot()', needsOstree, () => {
  test('rebases the node onto the image\'s commit with a pivot:// origin, logging the daemon\'s lines', async (t) => {
    const { s, a, cmdline, base } = await nodeOnA(t);
    const b = osContent(t, base, '46.82.202101191342-0');
    const fx = effects(source({ [IMAGE_A]: a, [IMAGE_B]: b }), { s, cmdline });
    const result = await pivot(s.path, IMAGE_B, fx);
    assert.equal(result.changed, true);
    assert.deepEqual(fx.lines.slice(0, 2), [`Previous pivot: ${IMAGE_A}`, `Pivoting to: 46.82.202101191342-0 (${b.checksum})`]);
    assert.equal(fx.lines[2]!.replace(/os-content-\d+/, 'os-content-N'),
      `Executing rebase from repo path ${join(s.path, EXTRACT_PARENT)}/os-content-N/srv/repo with customImageURL pivot://${IMAGE_B} and checksum ${b.checksum}`);
    assert.match(fx.lines.join('\n'), /^Imported \d+ metadata and \d+ content objects \(\d+ bytes\) new to the node's repository$/m);
    // The real tool sees the new default, with rpm-ostree's custom origin, and the old one after it.
    const status = s.status();
    assert.match(status, new RegExp(`^  rhcos ${b.checksum}\\.0\\n    Version: 46\\.82\\.202101191342-0\\n    origin refspec: ${b.checksum}\\n  rhcos ${a.checksum}\\.0\\n`));
    const origin = fs.readFileSync(join(s.deployDir('rhcos', `${b.checksum}.0`) + '.origin'), 'utf8');
    assert.equal(origin, `[origin]\nrefspec=${b.checksum}\ncustom-url=pivot://${IMAGE_B}\ncustom-description=Managed by machine-config-operator\n`);
    assert.deepEqual(leftovers(s), [], 'the extracted content is removed');
    assert.match(ok(ostree(['fsck', `--repo=${s.repo}`]), 'fsck').stdout, /no errors found/);
  });

  test('already at the image (booted or pending): "No changes", nothing extracted', async (t) => {
    const { s, a, cmdline, base } = await nodeOnA(t);
    const b = osContent(t, base, '2');
    const src = source({ [IMAGE_A]: a, [IMAGE_B]: b });
    const fx = effects(src, { s, cmdline });
    assert.deepEqual(await pivot(s.path, IMAGE_A, fx), { changed: false });
    assert.deepEqual(fx.lines, [`Previous pivot: ${IMAGE_A}`, 'No changes; already at target oscontainer']);
    await pivot(s.path, IMAGE_B, fx);
    const before = s.status();
    const again = effects(src, { s, cmdline });
    assert.deepEqual(await pivot(s.path, IMAGE_B, again), { changed: false }, 'B is pending: nothing to do');
    assert.equal(src.extractions, 1);
    assert.equal(s.status(), before);
  });

  test('without the commit label, the single ref of /srv/repo; several refs: a clear error', async (t) => {
    const { s, a, cmdline, base } = await nodeOnA(t);
    const unlabelled = osContent(t, base, 'u', { label: false });
    const fx = effects(source({ [IMAGE_A]: a, [IMAGE_B]: unlabelled }), { s, cmdline });
    await pivot(s.path, IMAGE_B, fx);
    assert.equal(fx.lines[1], 'No com.coreos.ostree-commit label found in metadata! Inspecting...');
    assert.match(s.status(), new RegExp(`^  rhcos ${unlabelled.checksum}\\.0\\n`));

    const several = osContent(t, base, 'm', { label: false, refs: ['one', 'two'] });
    const before = s.status();
    await assert.rejects(pivot(s.path, 'registry.example/os@sha256:' + 'c'.repeat(64), effects(source({ ['registry.example/os@sha256:' + 'c'.repeat(64)]: several }), { s, cmdline })),
      (e: Error) => e instanceof PivotError && /multiple refs found in repo .*one, two/.test(e.message));
    assert.equal(s.status(), before);
    assert.deepEqual(leftovers(s), []);
  });

  test('a failing extraction is retried with backoff, then gives up naming the image; the node is untouched', async (t) => {
    const { s, a, cmdline, base } = await nodeOnA(t);
    const b = osContent(t, base, '2');
    const flaky = source({ [IMAGE_A]: a, [IMAGE_B]: b }, 2);
    const fx = effects(flaky, { s, cmdline });
    const slept: number[] = [];
    fx.sleep = async (ms) => void slept.push(ms);
    await pivot(s.path, IMAGE_B, fx);
    assert.deepEqual(slept, [5000, 10000], 'the original\'s backoff: 5 s, then 10 s');
    assert.equal(fx.lines.filter((l) => l.includes('retrying')).length, 2);

    const { s: s2, a: a2, cmdline: c2 } = await nodeOnA(t);
    const before = s2.status();
    const broken = source({ [IMAGE_A]: a2, [IMAGE_B]: b }, 99);
    await assert.rejects(pivot(s2.path, IMAGE_B, effects(broken, { s: s2, cmdline: c2 })), (e: Error) => e instanceof PivotError && e.message.includes(`Extracting ${IMAGE_B} failed after 3 attempts: connection reset by peer`));
    assert.equal(s2.status(), before);
    assert.deepEqual(leftovers(s2), []);
  });

  test('one pivot at a time: a second is refused while the first runs; a killed one\'s extraction is removed by the next', async (t) => {
    const { s, a, cmdline, base } = await nodeOnA(t);
    const b = osContent(t, base, '2');
    const parent = join(s.path, EXTRACT_PARENT);
    fs.mkdirSync(join(parent, 'os-content-123456789', 'srv'), { recursive: true });
    fs.mkdirSync(join(parent, '.os-content-987654321.partial-AbC123'), { recursive: true });
    // A live process holds the pivot lock: our parent, the test runner.
    fs.writeFileSync(join(s.path, 'run', 'mco-pivot.lock'), `${process.ppid} pivot other-image\n`);
    const before = s.status();
    await assert.rejects(pivot(s.path, IMAGE_B, effects(source({ [IMAGE_A]: a, [IMAGE_B]: b }), { s, cmdline })),
      /Another operation is running on .*: pivot other-image \(pid \d+\)/);
    assert.equal(s.status(), before);
    assert.deepEqual(leftovers(s).sort(), ['.os-content-987654321.partial-AbC123', 'os-content-123456789'], 'nothing removed while another pivot may use it');

    fs.rmSync(join(s.path, 'run', 'mco-pivot.lock'));
    const fx = effects(source({ [IMAGE_A]: a, [IMAGE_B]: b }), { s, cmdline });
    await pivot(s.path, IMAGE_B, fx);
    assert.deepEqual(leftovers(s), []);
    assert.equal(fx.lines.filter((l) => / left by an interrupted pivot$/.test(l)).length, 2);
  });

  test('an image whose label names a commit it does not hold fails at the rebase, naming the commit and the image', async (t) => {
    const { s, a, cmdline, base } = await nodeOnA(t);
    const b = osContent(t, base, '2');
    const lying = { ...b, labels: { ...b.labels, 'com.coreos.ostree-commit': 'd'.repeat(64) } };
    const before = s.status();
    await assert.rejects(pivot(s.path, IMAGE_B, effects(source({ [IMAGE_A]: a, [IMAGE_B]: lying }), { s, cmdline })),
      (e: Error) => e instanceof PivotError && e.message.includes(`Rebasing to ${'d'.repeat(64)} from ${IMAGE_B}`));
    assert.equal(s.status(), before);
    assert.deepEqual(leftovers(s), []);
    assert.equal(fs.readdirSync(join(s.path, 'ostree/deploy/rhcos/deploy')).length, 2, 'no half-made deployment');
  });

  test('with an OS content cache: the labelled commit is pulled into the node\'s repo and deployed as from the image, nothing extracted', async (t) => {
    const { s, a, cmdline, base } = await nodeOnA(t);
    const b = osContent(t, base, '46.82.202101191342-0');
    const src = source({ [IMAGE_A]: a, [IMAGE_B]: b });
    const fx = { ...effects(src, { s, cmdline }), osContent: fakeCache({ [IMAGE_B]: b }) };
    const result = await pivot(s.path, IMAGE_B, fx);
    assert.equal(result.changed, true);
    assert.equal(src.extractions, 0, 'the image was not extracted');
    assert.deepEqual(fx.osContent.pulled, [[IMAGE_B, b.checksum, s.repo]]);
    assert.deepEqual(fx.lines.slice(0, 3), [
      `Previous pivot: ${IMAGE_A}`,
      `Pivoting to: 46.82.202101191342-0 (${b.checksum})`,
      `Executing rebase from repo path ${s.repo} with customImageURL pivot://${IMAGE_B} and checksum ${b.checksum}`,
    ]);
    assert.match(fx.lines.join('\n'), /^Fetched 7 objects \(123 bytes\) new to the node's repository from the OS content cache http:\/\/cache\.test:8090$/m);
    const origin = fs.readFileSync(join(s.deployDir('rhcos', `${b.checksum}.0`) + '.origin'), 'utf8');
    assert.equal(origin, `[origin]\nrefspec=${b.checksum}\ncustom-url=pivot://${IMAGE_B}\ncustom-description=Managed by machine-config-operator\n`);
    assert.match(s.status(), new RegExp(`^  rhcos ${b.checksum}\\.0\\n`));
    assert.match(ok(ostree(['fsck', `--repo=${s.repo}`]), 'fsck').stdout, /no errors found/);
  });

  test('a cache that fails costs one warning naming the cache, the image and why, then the whole image is pulled', async (t) => {
    const cases: { name: string; cache: (b: FakeImage) => OsContentSource; labelled?: boolean; reason: RegExp }[] = [
      { name: 'cache down', cache: () => failingCache(new Error('The OS content cache http://cache.test:8090 cannot be reached: connect ECONNREFUSED')), reason: /failed; pulling the whole image instead: The OS content cache .* cannot be reached: connect ECONNREFUSED$/ },
      { name: 'a wrong object', cache: () => failingCache(new Error('Object 12ab….filez from os-content does not match its checksum')), reason: /failed; pulling the whole image instead: Object .* does not match its checksum$/ },
      { name: 'an image without the commit label', cache: (b) => fakeCache({ [IMAGE_B]: b }), labelled: false, reason: /^Not using the OS content cache http:\/\/cache\.test:8090 for .*: its config has no com\.coreos\.ostree-commit label/ },
    ];
    for (const c of cases) {
      const { s, a, cmdline, base } = await nodeOnA(t);
      const b = osContent(t, base, '46.82.202101191342-0', c.labelled === false ? { label: false } : {});
      const src = source({ [IMAGE_A]: a, [IMAGE_B]: b });
      const warnings: string[] = [];
      const fx = { ...effects(src, { s, cmdline }), osContent: c.cache(b), warn: (line: string) => void warnings.push(line) };
      await pivot(s.path, IMAGE_B, fx);
      assert.equal(warnings.length, 1, c.name);
      assert.match(warnings[0]!, c.reason, c.name);
      if (c.labelled !== false) assert.ok(warnings[0]!.includes(`Pulling ${IMAGE_B} (commit ${b.checksum}) from the OS content cache http://cache.test:8090 failed`), c.name);
      assert.equal(src.extractions, 1, `${c.name}: the whole image instead`);
      assert.match(s.status(), new RegExp(`^  rhcos ${b.checksum}\\.0\\n`), c.name);
    }
  });
});

/** A cache that holds the given images: "pulls" a commit into the node's repo with the real ostree pull-local. */
function fakeCache(images: Record<string, FakeImage>): OsContentSource & { pulled: string[][] } {
  const pulled: string[][] = [];
  return {
    url: 'http://cache.test:8090',
    pulled,
    async pullCommit(image, commit, repoPath) {
      pulled.push([image, commit, repoPath]);
      ok(ostree(['pull-local', `--repo=${repoPath}`, join(images[image]!.root, 'srv', 'repo'), commit]), 'pull-local from the fake cache');
      return { fetchedObjects: 7, fetchedBytes: 123 };
    },
  };
}

function failingCache(error: Error): OsContentSource {
  return { url: 'http://cache.test:8090', pullCommit: async () => Promise.reject(error) };
}

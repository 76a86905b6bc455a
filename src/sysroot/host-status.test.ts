/**
 * formatHostStatus() and hostStatusJson() against the real `rpm-ostree status` transcripts of
 * an RHCOS 4.6 pivot (seed-rhcos-updates.md), and the other shapes rpm-ostree prints
 * (ostree-ref origins, no origin, verbose, pinned, several stateroots); hostStatusModel()
 * over a real repo.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Variant } from '../ostree/gvariant.js';
import { KeyFile } from '../ostree/keyfile.js';
import { encodeCommit } from '../ostree/objects.js';
import { Repo } from '../ostree/repo.js';
import { scratch } from '../ostree/testing.js';
import {
  formatHostStatus,
  formatTimestamp,
  hostStatusJson,
  hostStatusModel,
  printJson,
  variantToJson,
  type HostDeployment,
  type HostStatusModel,
} from './host-status.js';
import type { PkgTuple } from './pkg-diff.js';
import type { Deployment, SysrootState } from './types.js';

// ---- the RHCOS 4.6 pivot of the seed transcripts

const IMAGE_OLD = 'quay.io/openshift-release-dev/ocp-v4.0-art-dev@sha256:4c5b83a192734ad6aa33da798f51b4b7ebe0f633ed63d53867a0c3fb73993024';
const IMAGE_NEW = 'quay.io/openshift-release-dev/ocp-v4.0-art-dev@sha256:8869972a7f3cf7be7c936ef5b3277f20da7f5b577d66e37a5b9db25889c2a515';
const CSUM_OLD = '7e014b64b96536487eb3701fa4f0e604697730bde2f2f9034c4f56c024c67119';
const CSUM_NEW = '478636b3f9d960112359f202481507e4c5467dcccdc4e8faba291de4abb3b8bc';
const MCO = 'Managed by machine-config-operator';

/** A package set of 30 where the newer build bumps the release of 19. */
const PKGS_OLD: PkgTuple[] = Array.from({ length: 30 }, (_, i) => [`pkg-${String(i).padStart(2, '0')}`, '0', '1.0', '1.el8', 'x86_64']);
const PKGS_NEW: PkgTuple[] = PKGS_OLD.map((p, i) => (i < 19 ? [p[0], p[1], p[2], '2.el8_3', p[4]] : p));

const meta = (version: string | undefined, pkglist?: PkgTuple[], extra: [string, Variant][] = []): [string, Variant][] => [
  ...(version === undefined ? [] : [['version', { type: 's', value: version }] as [string, Variant]]),
  ...extra,
  ...(pkglist ? [['rpmostree.rpmdb.pkglist', { type: 'a(sssss)', value: pkglist.map((p) => [...p]) }] as [string, Variant]] : []),
];

const RHCOS_OLD = { checksum: CSUM_OLD, timestamp: Date.UTC(2020, 11, 5, 18, 24, 10) / 1000, commitMetadata: meta('46.82.202012051820-0', PKGS_OLD) };
const RHCOS_NEW = { checksum: CSUM_NEW, timestamp: Date.UTC(2021, 0, 19, 13, 45, 40) / 1000, commitMetadata: meta('46.82.202101191342-0', PKGS_NEW) };

function deployment(d: Partial<HostDeployment> & Pick<HostDeployment, 'checksum'>): HostDeployment {
  return { osname: 'rhcos', serial: 0, timestamp: 0, commitMetadata: [], origin: null, booted: false, staged: false, pinned: false, unlocked: 'none', ...d };
}
const pivot = (image: string) => ({ refspec: image === IMAGE_OLD ? CSUM_OLD : CSUM_NEW, customUrl: `pivot://${image}`, customDescription: MCO });
const model = (...deployments: HostDeployment[]): HostStatusModel => ({ state: 'idle', deployments });

test('formatHostStatus() prints a pivoted RHCOS host before the pivot exactly as rpm-ostree did', () => {
  const m = model(
    deployment({ ...RHCOS_OLD, serial: 1, origin: pivot(IMAGE_OLD), booted: true }),
    deployment({ ...RHCOS_OLD, serial: 0, origin: pivot(IMAGE_OLD) }),
  );
  assert.equal(
    formatHostStatus(m),
    `State: idle
Deployments:
● pivot://quay.io/openshift-release-dev/ocp-v4.0-art-dev@sha256:4c5b83a192734ad6aa33da798f51b4b7ebe0f633ed63d53867a0c3fb73993024
              CustomOrigin: Managed by machine-config-operator
                   Version: 46.82.202012051820-0 (2020-12-05T18:24:10Z)

  pivot://quay.io/openshift-release-dev/ocp-v4.0-art-dev@sha256:4c5b83a192734ad6aa33da798f51b4b7ebe0f633ed63d53867a0c3fb73993024
              CustomOrigin: Managed by machine-config-operator
                   Version: 46.82.202012051820-0 (2020-12-05T18:24:10Z)
`,
  );
});

test('formatHostStatus() shows the staged pivot first with "Diff: 19 upgraded", exactly as rpm-ostree did', () => {
  const m = model(
    deployment({ ...RHCOS_NEW, origin: pivot(IMAGE_NEW), staged: true }),
    deployment({ ...RHCOS_OLD, serial: 1, origin: pivot(IMAGE_OLD), booted: true }),
    deployment({ ...RHCOS_OLD, serial: 0, origin: pivot(IMAGE_OLD) }),
  );
  assert.equal(
    formatHostStatus(m),
    `State: idle
Deployments:
  pivot://quay.io/openshift-release-dev/ocp-v4.0-art-dev@sha256:8869972a7f3cf7be7c936ef5b3277f20da7f5b577d66e37a5b9db25889c2a515
              CustomOrigin: Managed by machine-config-operator
                   Version: 46.82.202101191342-0 (2021-01-19T13:45:40Z)
                      Diff: 19 upgraded

● pivot://quay.io/openshift-release-dev/ocp-v4.0-art-dev@sha256:4c5b83a192734ad6aa33da798f51b4b7ebe0f633ed63d53867a0c3fb73993024
              CustomOrigin: Managed by machine-config-operator
                   Version: 46.82.202012051820-0 (2020-12-05T18:24:10Z)

  pivot://quay.io/openshift-release-dev/ocp-v4.0-art-dev@sha256:4c5b83a192734ad6aa33da798f51b4b7ebe0f633ed63d53867a0c3fb73993024
              CustomOrigin: Managed by machine-config-operator
                   Version: 46.82.202012051820-0 (2020-12-05T18:24:10Z)
`,
  );
});

test('formatHostStatus() shows the pivot back as "Diff: 19 downgraded", exactly as rpm-ostree did', () => {
  const m = model(
    deployment({ ...RHCOS_OLD, serial: 2, origin: pivot(IMAGE_OLD) }),
    deployment({ ...RHCOS_NEW, origin: pivot(IMAGE_NEW), booted: true }),
    deployment({ ...RHCOS_OLD, serial: 1, origin: pivot(IMAGE_OLD) }),
  );
  assert.equal(
    formatHostStatus(m),
    `State: idle
Deployments:
  pivot://quay.io/openshift-release-dev/ocp-v4.0-art-dev@sha256:4c5b83a192734ad6aa33da798f51b4b7ebe0f633ed63d53867a0c3fb73993024
              CustomOrigin: Managed by machine-config-operator
                   Version: 46.82.202012051820-0 (2020-12-05T18:24:10Z)
                      Diff: 19 downgraded

● pivot://quay.io/openshift-release-dev/ocp-v4.0-art-dev@sha256:8869972a7f3cf7be7c936ef5b3277f20da7f5b577d66e37a5b9db25889c2a515
              CustomOrigin: Managed by machine-config-operator
                   Version: 46.82.202101191342-0 (2021-01-19T13:45:40Z)

  pivot://quay.io/openshift-release-dev/ocp-v4.0-art-dev@sha256:4c5b83a192734ad6aa33da798f51b4b7ebe0f633ed63d53867a0c3fb73993024
              CustomOrigin: Managed by machine-config-operator
                   Version: 46.82.202012051820-0 (2020-12-05T18:24:10Z)
`,
  );
});

test('formatHostStatus() prints no Diff after the reboot, when the new deployment is the booted one', () => {
  const text = formatHostStatus(
    model(deployment({ ...RHCOS_NEW, origin: pivot(IMAGE_NEW), booted: true }), deployment({ ...RHCOS_OLD, serial: 1, origin: pivot(IMAGE_OLD) })),
  );
  assert.equal(
    text,
    `State: idle
Deployments:
● pivot://quay.io/openshift-release-dev/ocp-v4.0-art-dev@sha256:8869972a7f3cf7be7c936ef5b3277f20da7f5b577d66e37a5b9db25889c2a515
              CustomOrigin: Managed by machine-config-operator
                   Version: 46.82.202101191342-0 (2021-01-19T13:45:40Z)

  pivot://quay.io/openshift-release-dev/ocp-v4.0-art-dev@sha256:4c5b83a192734ad6aa33da798f51b4b7ebe0f633ed63d53867a0c3fb73993024
              CustomOrigin: Managed by machine-config-operator
                   Version: 46.82.202012051820-0 (2020-12-05T18:24:10Z)
`,
  );
});

// ---- other origins and lines

const CSUM_A = 'a'.repeat(64);
const CSUM_B = 'b'.repeat(64);
const TS = Date.UTC(2021, 5, 1, 12, 0, 0) / 1000;

test('formatHostStatus() names ref origins ostree://REMOTE:REF and adds the Commit line that pivots omit', () => {
  const text = formatHostStatus(
    model(
      deployment({ checksum: CSUM_A, timestamp: TS, commitMetadata: meta('34.1'), origin: { refspec: 'fedora:fedora/x86_64/coreos/stable' }, booted: true }),
      deployment({ checksum: CSUM_B, timestamp: TS, commitMetadata: meta('33.9'), origin: { refspec: 'rhcos/4.6' } }),
    ),
  );
  assert.equal(
    text,
    `State: idle
Deployments:
● ostree://fedora:fedora/x86_64/coreos/stable
                   Version: 34.1 (2021-06-01T12:00:00Z)
                    Commit: ${CSUM_A}

  ostree://rhcos/4.6
                   Version: 33.9 (2021-06-01T12:00:00Z)
                    Commit: ${CSUM_B}
`,
  );
});

test('formatHostStatus() names a checksum origin without a custom URL ostree://CSUM, and one with no origin by its bare checksum', () => {
  const text = formatHostStatus(
    model(
      deployment({ checksum: CSUM_A, timestamp: TS, origin: { refspec: `ostree://${CSUM_A}` }, booted: true }),
      deployment({ checksum: CSUM_B, timestamp: TS, origin: null }),
    ),
  );
  assert.equal(
    text,
    `State: idle
Deployments:
● ostree://${CSUM_A}
                 Timestamp: 2021-06-01T12:00:00Z

  ${CSUM_B}
                 Timestamp: 2021-06-01T12:00:00Z
                    Commit: ${CSUM_B}
`,
  );
});

test('formatHostStatus() prints StateRoot when stateroots differ, and Pinned, Unlocked and EndOfLife last', () => {
  const eol: [string, Variant][] = [['ostree.endoflife', { type: 's', value: 'Rebase to rhcos/4.7' }]];
  const text = formatHostStatus(
    model(
      deployment({ checksum: CSUM_A, timestamp: TS, commitMetadata: meta('1', undefined, eol), origin: pivot(IMAGE_NEW), booted: true, unlocked: 'hotfix' }),
      deployment({ osname: 'fcos', checksum: CSUM_B, timestamp: TS, commitMetadata: meta('2'), origin: pivot(IMAGE_OLD), pinned: true }),
    ),
  );
  assert.equal(
    text,
    `State: idle
Deployments:
● pivot://${IMAGE_NEW}
              CustomOrigin: Managed by machine-config-operator
                   Version: 1 (2021-06-01T12:00:00Z)
                 StateRoot: rhcos
                  Unlocked: hotfix
                 EndOfLife: Rebase to rhcos/4.7

  pivot://${IMAGE_OLD}
              CustomOrigin: Managed by machine-config-operator
                   Version: 2 (2021-06-01T12:00:00Z)
                 StateRoot: fcos
                    Pinned: yes
`,
  );
});

test('formatHostStatus() prints the source title under the origin line', () => {
  const title: [string, Variant][] = [['ostree.source-title', { type: 's', value: 'oscontainer quay.io/x@sha256:1' }]];
  const text = formatHostStatus(model(deployment({ checksum: CSUM_A, timestamp: TS, commitMetadata: meta('1', undefined, title), origin: pivot(IMAGE_NEW), booted: true })));
  assert.match(text, /\n● pivot:\/\/\S+\n {14}CustomOrigin: Managed by machine-config-operator\n  └─ oscontainer quay\.io\/x@sha256:1\n {19}Version: 1 /);
});

test('formatHostStatus() shows no booted marker and no Diff when nothing is booted (an offline sysroot)', () => {
  const text = formatHostStatus(
    model(deployment({ ...RHCOS_NEW, origin: pivot(IMAGE_NEW) }), deployment({ ...RHCOS_OLD, serial: 1, origin: pivot(IMAGE_OLD) })),
  );
  assert.doesNotMatch(text, /●|Diff/);
  assert.match(text, /^Deployments:\n  pivot:\/\//m);
});

test('formatHostStatus() leaves out Diff when either commit has no pkglist, as "no diff"', () => {
  const text = formatHostStatus(
    model(
      deployment({ ...RHCOS_NEW, commitMetadata: meta('46.82.202101191342-0'), origin: pivot(IMAGE_NEW) }),
      deployment({ ...RHCOS_OLD, origin: pivot(IMAGE_OLD), booted: true }),
    ),
  );
  assert.doesNotMatch(text, /Diff/);
});

test('formatHostStatus() leaves out Diff for a pending deployment of another stateroot', () => {
  const text = formatHostStatus(
    model(deployment({ ...RHCOS_NEW, osname: 'fcos', origin: pivot(IMAGE_NEW) }), deployment({ ...RHCOS_OLD, origin: pivot(IMAGE_OLD), booted: true })),
  );
  assert.doesNotMatch(text, /Diff/);
  assert.match(text, /StateRoot: fcos/);
});

test('formatHostStatus({ verbose }) adds AutomaticUpdates, Commit, Staged, StateRoot and lists each changed package', () => {
  // zlib, the second changed pair, gets no "Downgraded:" label: see the next test.
  const oldPkgs: PkgTuple[] = [['bash', '0', '4.4.19', '12.el8', 'x86_64'], ['kernel', '0', '4.18.0', '193.el8', 'x86_64'], ['zlib', '0', '1.2.11', '16.el8_2', 'x86_64']];
  const newPkgs: PkgTuple[] = [['bash', '0', '4.4.19', '14.el8', 'x86_64'], ['ignition', '0', '2.6.0', '5.el8', 'x86_64'], ['zlib', '0', '1.2.11', '10.el8', 'x86_64']];
  const text = formatHostStatus(
    model(
      deployment({ checksum: CSUM_B, timestamp: TS, commitMetadata: meta('2', newPkgs), origin: pivot(IMAGE_NEW), staged: true }),
      deployment({ checksum: CSUM_A, timestamp: TS, commitMetadata: meta('1', oldPkgs), origin: pivot(IMAGE_OLD), booted: true }),
    ),
    { verbose: true },
  );
  assert.equal(
    text,
    `State: idle
AutomaticUpdates: disabled
Deployments:
  pivot://${IMAGE_NEW}
              CustomOrigin: Managed by machine-config-operator
                   Version: 2 (2021-06-01T12:00:00Z)
                    Commit: ${CSUM_B}
                    Staged: yes
                 StateRoot: rhcos
                  Upgraded: bash 4.4.19-12.el8 -> 4.4.19-14.el8
                            zlib 1.2.11-16.el8_2 -> 1.2.11-10.el8
                   Removed: kernel-4.18.0-193.el8.x86_64
                     Added: ignition-2.6.0-5.el8.x86_64

● pivot://${IMAGE_OLD}
              CustomOrigin: Managed by machine-config-operator
                   Version: 1 (2021-06-01T12:00:00Z)
                    Commit: ${CSUM_A}
                 StateRoot: rhcos
`,
  );
});

test('formatHostStatus({ verbose }) labels Upgraded/Downgraded only on the first changed pair, as rpm-ostree does', () => {
  // rpm-ostree tests the pair's index among all changed pairs, not among the upgrades, so
  // when the first pair is a downgrade the upgrades that follow get no "Upgraded:" label.
  const oldPkgs: PkgTuple[] = [['a', '0', '2', '1', 'x86_64'], ['b', '0', '1', '1', 'x86_64'], ['c', '0', '1', '1', 'x86_64']];
  const newPkgs: PkgTuple[] = [['a', '0', '1', '1', 'x86_64'], ['b', '0', '2', '1', 'x86_64'], ['c', '0', '2', '1', 'x86_64']];
  const text = formatHostStatus(
    model(
      deployment({ checksum: CSUM_B, timestamp: TS, commitMetadata: meta('2', newPkgs), origin: pivot(IMAGE_NEW) }),
      deployment({ checksum: CSUM_A, timestamp: TS, commitMetadata: meta('1', oldPkgs), origin: pivot(IMAGE_OLD), booted: true }),
    ),
    { verbose: true },
  );
  assert.ok(
    text.includes(
      `                    Staged: no
                 StateRoot: rhcos
                            b 1-1 -> 2-1
                            c 1-1 -> 2-1
                Downgraded: a 2-1 -> 1-1
`,
    ),
    text,
  );
});

test('formatHostStatus({ verbose }) lists the rpm-md repos of a compose, byte-swapping their big-endian timestamps', () => {
  // 1607192650 (2020-12-05T18:24:10Z) as rpm-ostree compose stores it: byte-swapped.
  const be = (n: number) => {
    const b = Buffer.alloc(8);
    b.writeBigUInt64BE(BigInt(n));
    return b.readBigUInt64LE();
  };
  const repo = (id: string, ts: number) => [['id', { type: 's', value: id }], ['timestamp', { type: 't', value: be(ts) }]];
  const repos: [string, Variant][] = [['rpmostree.rpmmd-repos', { type: 'aa{sv}', value: [repo('rhel-8-baseos', 1607192650), repo('rhel-8-appstream', 1607192651)] }]];
  const text = formatHostStatus(model(deployment({ checksum: CSUM_A, timestamp: TS, commitMetadata: meta('1', undefined, repos), origin: pivot(IMAGE_NEW), booted: true })), { verbose: true, glyphs: 'ascii' });
  assert.ok(
    text.includes(
      `* pivot://${IMAGE_NEW}
              CustomOrigin: Managed by machine-config-operator
                   Version: 1 (2021-06-01T12:00:00Z)
                    Commit: ${CSUM_A}
                            |- rhel-8-baseos (2020-12-05T18:24:10Z)
                            \`- rhel-8-appstream (2020-12-05T18:24:11Z)
                    Staged: no
`,
    ),
    text,
  );
});

test('formatTimestamp() prints UTC ISO 8601 and GLib\'s "(invalid timestamp)" beyond year 9999', () => {
  assert.equal(formatTimestamp(0), '1970-01-01T00:00:00Z');
  assert.equal(formatTimestamp(253402300799), '9999-12-31T23:59:59Z');
  assert.equal(formatTimestamp(253402300800), '(invalid timestamp)');
  assert.equal(formatTimestamp(2n ** 64n - 1n), '1969-12-31T23:59:59Z', 'a uint64 reaches GLib as gint64');
});

// ---- JSON

test("hostStatusJson() gives MCO the booted deployment's custom-origin[0], the pivot:// image URL", () => {
  const doc = JSON.parse(
    hostStatusJson(
      model(
        deployment({ ...RHCOS_NEW, origin: pivot(IMAGE_NEW), staged: true, finalizationLocked: false }),
        deployment({ ...RHCOS_OLD, serial: 1, origin: pivot(IMAGE_OLD), booted: true }),
      ),
    ),
  ) as { deployments: Record<string, unknown>[]; transaction: unknown; 'cached-update': unknown };
  // What MCO 4.6 does in getBootedOSImageURL(): find "booted", take custom-origin[0], drop "pivot://".
  const booted = doc.deployments.find((d) => d.booted === true)!;
  assert.equal((booted['custom-origin'] as string[])[0]!.replace(/^pivot:\/\//, ''), IMAGE_OLD);
  assert.deepEqual(booted['custom-origin'], [`pivot://${IMAGE_OLD}`, MCO]);
  assert.equal(booted.id, `rhcos-${CSUM_OLD}.1`);
  assert.equal(booted.osname, 'rhcos');
  assert.equal(booted.serial, 1);
  assert.equal(booted.checksum, CSUM_OLD);
  assert.equal(booted.version, '46.82.202012051820-0');
  assert.equal(booted.timestamp, 1607192650);
  assert.equal(booted.origin, CSUM_OLD);
  assert.equal(booted.staged, undefined);
  assert.deepEqual(booted['base-commit-meta'], { version: '46.82.202012051820-0' }, 'the pkglist is filtered out');
  assert.equal(doc.deployments[0]!.staged, true);
  assert.equal(doc.deployments[0]!['finalization-locked'], false);
  assert.equal(doc.deployments[0]!.booted, false);
  assert.equal(doc.transaction, null);
  assert.equal(doc['cached-update'], null);
});

test('hostStatusJson() lays the document out as json-glib 1.4 does: "key" : value, and empty lists over two lines', () => {
  const text = hostStatusJson(model(deployment({ checksum: CSUM_A, serial: 0, timestamp: TS, commitMetadata: meta('1'), origin: pivot(IMAGE_NEW), booted: true })));
  assert.equal(
    text,
    `{
  "deployments" : [
    {
      "id" : "rhcos-${CSUM_A}.0",
      "osname" : "rhcos",
      "serial" : 0,
      "checksum" : "${CSUM_A}",
      "base-commit-meta" : {
        "version" : "1"
      },
      "version" : "1",
      "timestamp" : ${TS},
      "custom-origin" : [
        "pivot://${IMAGE_NEW}",
        "Managed by machine-config-operator"
      ],
      "origin" : "${CSUM_NEW}",
      "requested-packages" : [
      ],
      "requested-local-packages" : [
      ],
      "requested-base-removals" : [
      ],
      "requested-base-local-replacements" : [
      ],
      "packages" : [
      ],
      "base-removals" : [
      ],
      "base-local-replacements" : [
      ],
      "pinned" : false,
      "unlocked" : "none",
      "regenerate-initramfs" : false,
      "initramfs-etc" : [
      ],
      "booted" : true
    }
  ],
  "transaction" : null,
  "cached-update" : null
}`,
  );
});

test('hostStatusJson() reports ref origins with gpg-enabled and the commit their ref moved on to', () => {
  const doc = JSON.parse(
    hostStatusJson(
      model(
        deployment({
          checksum: CSUM_A,
          timestamp: TS,
          origin: { refspec: 'rhcos/4.6' },
          pendingBase: { checksum: CSUM_B, version: '46.2', timestamp: TS + 60 },
        }),
      ),
    ),
  ) as { deployments: Record<string, unknown>[] };
  const d = doc.deployments[0]!;
  assert.equal(d['gpg-enabled'], false);
  assert.equal(d['pending-base-checksum'], CSUM_B);
  assert.equal(d['pending-base-version'], '46.2');
  assert.equal(d['pending-base-timestamp'], TS + 60);
  assert.equal(d['custom-origin'], undefined);
  assert.equal(d.version, undefined, 'a commit without a version has no version key');
  assert.equal('booted' in d, false, 'nothing booted: no booted key at all');
});

test('variantToJson() converts GVariant values as json-glib does', () => {
  const json = (type: string, value: Parameters<typeof variantToJson>[1]) => printJson(variantToJson(type, value));
  assert.equal(json('t', 2n ** 64n - 1n), '-1', 'uint64 wraps to int64');
  assert.equal(json('x', -5n), '-5');
  assert.equal(json('d', 1), '1.0');
  assert.equal(json('d', 0.5), '0.5');
  assert.equal(json('ay', new Uint8Array([1, 2])), '[\n  1,\n  2\n]');
  assert.equal(json('ms', null), 'null');
  assert.equal(json('v', { type: 'as', value: ['x'] }), '[\n  "x"\n]');
  assert.equal(json('(sb)', ['a', true]), '[\n  "a",\n  true\n]');
  assert.equal(json('a{sv}', [['2', { type: 'u', value: 7 }], ['1', { type: 's', value: 'q"\n\\' }]]), '{\n  "2" : 7,\n  "1" : "q\\"\\n\\\\"\n}', 'member order kept, strings escaped');
  assert.equal(json('a{ys}', [[3, 'x']]), '{\n  "3" : "x"\n}');
  assert.equal(json('a{sv}', []), '{\n}');
});

// ---- adapter

test('hostStatusModel() reads commits, origins, pins and the staged deployment of a sysroot state', async (t) => {
  const dir = scratch(t);
  const repo = await Repo.init(dir, { mode: 'archive' });
  const commit = (version: string, timestamp: number, pkgs: PkgTuple[]) =>
    repo.writeMetadata(
      'commit',
      encodeCommit({ metadata: meta(version, pkgs), parent: null, subject: '', body: '', timestamp, rootTree: CSUM_A, rootMeta: CSUM_B }),
    );
  const oldCsum = await commit('46.82.202012051820-0', RHCOS_OLD.timestamp, PKGS_OLD);
  const newCsum = await commit('46.82.202101191342-0', RHCOS_NEW.timestamp, PKGS_NEW);
  const refCsum = await commit('46.82.202102010000-0', RHCOS_NEW.timestamp + 86400, PKGS_NEW);
  await repo.setRef('rhcos/4.6', refCsum);

  const origin = (text: string) => KeyFile.parse(text);
  const dep = (checksum: string, serial: number, originFile: KeyFile | null): Deployment => ({ osname: 'rhcos', checksum, serial, bootcsum: 'c'.repeat(64), bootserial: 0, kargs: [], origin: originFile });
  const staged = dep(newCsum, 0, origin(`[origin]\nrefspec=${newCsum}\ncustom-url=pivot://${IMAGE_NEW}\ncustom-description=${MCO}\n`));
  const booted = dep(oldCsum, 1, origin(`[origin]\nrefspec=${oldCsum}\ncustom-url=pivot://${IMAGE_OLD}\ncustom-description=${MCO}\n`));
  const rollback = dep(oldCsum, 0, origin(`[origin]\nrefspec=rhcos/4.6\nunlocked=hotfix\n\n[libostree-transient]\npinned=true\n`));
  const state: SysrootState = { path: dir, bootversion: 0, subbootversion: 0, deployments: [booted, rollback], booted, staged };

  const m = await hostStatusModel(state, repo, { finalizationLocked: true });
  assert.deepEqual(
    m.deployments.map((d) => [d.checksum, d.serial, d.booted, d.staged, d.pinned, d.unlocked]),
    [
      [newCsum, 0, false, true, false, 'none'],
      [oldCsum, 1, true, false, false, 'none'],
      [oldCsum, 0, false, false, true, 'hotfix'],
    ],
  );
  assert.equal(m.deployments[0]!.finalizationLocked, true);
  assert.equal(m.deployments[1]!.finalizationLocked, undefined);
  assert.deepEqual(m.deployments[1]!.origin, { refspec: oldCsum, customUrl: `pivot://${IMAGE_OLD}`, customDescription: MCO });
  assert.deepEqual(m.deployments[2]!.pendingBase, { checksum: refCsum, version: '46.82.202102010000-0', timestamp: RHCOS_NEW.timestamp + 86400 });
  assert.equal(m.deployments[1]!.timestamp, RHCOS_OLD.timestamp);

  const text = formatHostStatus(m);
  assert.match(text, /^  pivot:\/\/\S+8869972a\S*\n {14}CustomOrigin: Managed by machine-config-operator\n {19}Version: 46\.82\.202101191342-0 \(2021-01-19T13:45:40Z\)\n {22}Diff: 19 upgraded\n/m);
  assert.match(text, /\n  ostree:\/\/rhcos\/4\.6\n[^]*Commit: [0-9a-f]{64}\n {20}Pinned: yes\n {18}Unlocked: hotfix\n$/);
});

test('hostStatusModel() gives a deployment without an origin file a null origin', async (t) => {
  const dir = scratch(t);
  const repo = await Repo.init(dir, { mode: 'archive' });
  const csum = await repo.writeMetadata('commit', encodeCommit({ metadata: [], parent: null, subject: '', body: '', timestamp: TS, rootTree: CSUM_A, rootMeta: CSUM_B }));
  const d: Deployment = { osname: 'rhcos', checksum: csum, serial: 0, bootcsum: 'c'.repeat(64), bootserial: 0, kargs: [], origin: null };
  const m = await hostStatusModel({ path: dir, bootversion: 0, subbootversion: 0, deployments: [d], booted: null, staged: null }, repo);
  assert.equal(m.deployments[0]!.origin, null);
  assert.equal(m.deployments[0]!.pinned, false);
  assert.equal(formatHostStatus(m), `State: idle\nDeployments:\n  ${csum}\n                 Timestamp: 2021-06-01T12:00:00Z\n                    Commit: ${csum}\n`);
});

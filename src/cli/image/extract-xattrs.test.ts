/**
 * File capabilities and other binary xattrs, end to end, with an image built by the real
 * tools: `setcap cap_setuid+ep` (a security.capability value with bytes ≥ 0x80), GNU
 * `tar --xattrs`, skopeo into Debian's docker-registry; then `mco image extract`,
 * `mco ostree commit`, checkout (ours and the real ostree's) and `mco ostree admin deploy` —
 * `getcap` and `getfattr` give what they gave on the original at every step.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { addLayerBlob, gnuTarLayer, writeOciLayout } from '../../image/extract-testing.js';
import { needsRegistryAndSkopeo, skopeo, startDockerRegistry } from '../../image/testing.js';
import { hasOstree, isRoot, ok, ostree, runMco, setXattr } from '../../ostree/testing.js';
import { removeWithSysroot, writeOsTree } from '../../sysroot/sysroot-fixtures.js';

const hasSetcap = spawnSync('setcap', ['-h']).error === undefined;
const skip = needsRegistryAndSkopeo.skip
  || (!hasOstree && 'ostree CLI not installed (scripts/setup.sh installs it)')
  || (!hasSetcap && 'setcap not installed (libcap2-bin; scripts/setup.sh installs it)')
  || (!isRoot && 'setting security.capability needs root');

const tool = (cmd: string, args: string[]): string => {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.error || r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.error?.message ?? r.stderr}`);
  return r.stdout;
};
/** What `getcap` prints for the file, without its path. */
const getcap = (file: string): string => tool('getcap', [file]).replace(file, 'FILE').trim();
/** The file's xattrs as `getfattr` dumps them (hex values), without the path line. */
const getfattr = (file: string): string => tool('getfattr', ['-d', '-m', '-', '-e', 'hex', '--absolute-names', file]).split('\n').slice(1).join('\n').trim();

test('a file capability and a binary user xattr survive mco image extract, ostree commit, checkout and deploy', { skip }, async (t) => {
  const dir = fs.mkdtempSync(join(tmpdir(), 'mco-xattrs-'));
  t.after(() => removeWithSysroot(dir, join(dir, 'sysroot')));
  // The original: an OS tree whose newuidmap carries cap_setuid, as Fedora's does.
  const tree = join(dir, 'tree');
  writeOsTree(tree, { version: '1' });
  const file = 'usr/bin/newuidmap';
  fs.writeFileSync(join(tree, file), '#!/bin/sh\n', { mode: 0o755 });
  tool('setcap', ['cap_setuid+ep', join(tree, file)]);
  setXattr(join(tree, file), 'user.blob', Buffer.from([0x00, 0xff, 0x80, 0x0a, 0x3d]));
  const capability = getcap(join(tree, file));
  assert.equal(capability, 'FILE cap_setuid=ep');
  const xattrs = getfattr(join(tree, file));
  assert.match(xattrs, /^security\.capability=0x[0-9a-f]*[89a-f][0-9a-f]/m, 'a byte ≥ 0x80 in the capability');

  // Built and pushed by the real tools only.
  const layout = join(dir, 'oci');
  writeOciLayout(layout, [addLayerBlob(layout, gnuTarLayer(join(dir, 'layer.tar.gz'), tree))], 'caps');
  const registry = await startDockerRegistry(t);
  const image = `${registry.host}/test/caps:1`;
  const pushed = skopeo(['copy', '-q', '--dest-tls-verify=false', `oci:${layout}:caps`, `docker://${image}`]);
  assert.equal(pushed.status, 0, pushed.stderr);

  const extracted = join(dir, 'extracted');
  ok(runMco(['image', 'extract', '--insecure', '-q', image, '--path', `/:${extracted}`]), 'mco image extract');
  assert.equal(getcap(join(extracted, file)), capability, 'extracted');
  assert.equal(getfattr(join(extracted, file)), xattrs, 'extracted');

  const sysroot = join(dir, 'sysroot');
  fs.mkdirSync(sysroot);
  ok(runMco(['ostree', 'admin', 'init-fs', sysroot]), 'init-fs');
  ok(runMco(['ostree', 'admin', 'os-init', `--sysroot=${sysroot}`, 'rhcos']), 'os-init');
  const repo = join(sysroot, 'ostree', 'repo');
  ok(runMco(['ostree', 'commit', `--repo=${repo}`, '-b', 'rhcos', extracted]), 'mco ostree commit');
  const checkouts = [['mco ostree checkout', (args: string[]) => runMco(['ostree', ...args])], ['ostree checkout (the real tool reads our commit)', ostree]] as const;
  for (const [what, run] of checkouts) {
    const out = join(dir, what.split(' ')[0]!);
    ok(run(['checkout', `--repo=${repo}`, 'rhcos', out]), what);
    assert.equal(getcap(join(out, file)), capability, what);
    assert.equal(getfattr(join(out, file)), xattrs, what);
  }
  ok(runMco(['ostree', 'admin', 'deploy', `--sysroot=${sysroot}`, '--os=rhcos', 'rhcos']), 'mco ostree admin deploy');
  const deployDir = join(sysroot, 'ostree', 'deploy', 'rhcos', 'deploy');
  const deployed = join(deployDir, fs.readdirSync(deployDir).find((n) => !n.endsWith('.origin'))!, file);
  assert.equal(getcap(deployed), capability, 'deployed');
  assert.equal(getfattr(deployed), xattrs, 'deployed');
  assert.match(ok(ostree(['fsck', `--repo=${repo}`]), 'ostree fsck').stdout, /no errors found/);
});

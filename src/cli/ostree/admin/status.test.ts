import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { scratch } from '../../../ostree/testing.js';
import { needsOstree, RealSysroot } from '../../../sysroot/sysroot-fixtures.js';
import { SysrootError } from '../../../sysroot/sysroot.js';
import { parse, type Options } from '../../args.js';
import { SYSROOT_OPTION } from '../../sysroot-args.js';
import { command } from './status.js';

/** Runs the command in process, as `mco ostree admin status ARGS…` would, and returns its stdout. */
async function run(args: string[], env: NodeJS.ProcessEnv = {}): Promise<string> {
  let out = '';
  const output = { out: (d: string | Uint8Array) => void (out += String(d)), err: () => {} };
  await command.run(parse(args, { ...SYSROOT_OPTION, ...command.options } as Options), { output, env });
  return out;
}

test('mco ostree admin status --sysroot=DIR prints what ostree admin status --sysroot=DIR prints', needsOstree, async (t) => {
  const s = RealSysroot.forTest(t);
  s.commit('rhcos', { version: '1' });
  s.deploy('--os=rhcos', '--karg=root=LABEL=root', 'rhcos');
  s.commit('rhcos', { version: '2' });
  s.deploy('--os=rhcos', 'rhcos');
  assert.equal(await run([`--sysroot=${s.path}`]), s.status());
});

test('mco ostree admin status marks booted the deployment named by MCO_KERNEL_CMDLINE_FILE', needsOstree, async (t) => {
  const s = RealSysroot.forTest(t);
  const a = s.commit('rhcos', { version: '1' });
  s.deploy('--os=rhcos', '--karg=root=LABEL=root', 'rhcos');
  const b = s.commit('rhcos', { version: '2' });
  s.deploy('--os=rhcos', 'rhcos');
  const file = join(scratch(t), 'cmdline');
  fs.writeFileSync(file, `root=LABEL=root ostree=/ostree/deploy/rhcos/deploy/${a}.0\n`);
  const out = await run([`--sysroot=${s.path}`], { MCO_KERNEL_CMDLINE_FILE: file });
  assert.match(out, new RegExp(`^  rhcos ${b}\\.0 \\(pending\\)$`, 'm'));
  assert.match(out, new RegExp(`^\\* rhcos ${a}\\.0$`, 'm'));
});

test('mco ostree admin status names the command line file when it cannot be read', needsOstree, async (t) => {
  const s = RealSysroot.forTest(t);
  const missing = join(scratch(t), 'no-such-cmdline');
  await assert.rejects(run([`--sysroot=${s.path}`], { MCO_KERNEL_CMDLINE_FILE: missing }), (e: Error) =>
    e instanceof SysrootError && e.message.includes(missing) && e.message.includes('MCO_KERNEL_CMDLINE_FILE'));
});

test('mco ostree admin status refuses a directory that is not a sysroot, naming it', async (t) => {
  const dir = scratch(t);
  await assert.rejects(run([`--sysroot=${dir}`]), (e: Error) => e instanceof SysrootError && e.message.includes(dir));
});

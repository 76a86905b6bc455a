/**
 * `validateOnDiskState` (mco.md §5.5): does the host hold what a rendered config says — the
 * booted deployment's osImageURL, its kernel arguments, every file's contents and mode, every
 * unit and drop-in, masks? Unlike the original, which stops at the first difference, this
 * lists every one, so a drifted node's reason names each path. Pure: the host is read
 * through the `OnDiskState` passed in.
 */
import { authorizedKeys, CORE_AUTHORIZED_KEYS, dropinPath, unitPath, type HostConfig } from '../node/host-config.js';
import type { ObservedPath, OnDiskState } from '../node/host-root.js';

/** Go's `%q` of a string: double-quoted, with Go's escapes for quotes, backslashes and control bytes. */
export function goQuote(s: string): string {
  return JSON.stringify(s).replace(/\\u00([0-9a-f]{2})/g, (_m, h: string) => `\\x${h}`).replace(/\\u007f/g, '\\x7f');
}

/** Go's `%v` of an os.FileMode for a regular file: `-rw-r--r--`. */
export function formatMode(mode: number): string {
  const bits = 'rwxrwxrwx';
  let out = '-';
  for (let i = 0; i < 9; i++) out += mode & (1 << (8 - i)) ? bits[i] : '-';
  return out;
}

function checkFile(path: string, contents: Buffer, mode: number | undefined, seen: ObservedPath, out: string[]): void {
  if (seen.kind === 'missing') {
    out.push(`could not read file ${goQuote(path)}: no such file or directory`);
    return;
  }
  if (seen.kind !== 'file') {
    out.push(`could not read file ${goQuote(path)}: it is a ${seen.kind === 'symlink' ? `symlink to ${seen.target}` : seen.what}, not a regular file`);
    return;
  }
  if (!seen.contents.equals(contents)) out.push(`content mismatch for file ${goQuote(path)}`);
  if (mode !== undefined && (seen.mode & 0o7777) !== mode) {
    out.push(`mode mismatch for file: ${goQuote(path)}; expected: ${formatMode(mode)}; received: ${formatMode(seen.mode & 0o777)}`);
  }
}

/** Every way the host differs from `expected`, in the config's order; empty when it matches. */
export function onDiskDifferences(expected: HostConfig, host: OnDiskState): string[] {
  const out: string[] = [];
  if (expected.osImageURL !== '' && host.osImageURL !== expected.osImageURL) {
    out.push(`expected target osImageURL ${goQuote(expected.osImageURL)}, have ${goQuote(host.osImageURL)}`);
  }
  const missingKargs = expected.kernelArguments.filter((k) => !host.kargs.includes(k));
  if (missingKargs.length > 0) out.push(`missing expected kernel arguments: [${missingKargs.join(' ')}]`);
  for (const f of expected.files) checkFile(f.path, f.contents, f.mode, host.read(f.path), out);
  for (const u of expected.units) {
    const path = unitPath(u.name);
    const seen = host.read(path);
    const masked = seen.kind === 'symlink' && seen.target === '/dev/null';
    if (u.mask !== masked) {
      out.push(`state validation: invalid unit masked setting. path: ${goQuote(path)}; expected: ${u.mask}; received: ${masked}`);
    } else if (!u.mask && u.contents !== undefined) {
      checkFile(path, Buffer.from(u.contents), undefined, seen, out);
    }
    for (const d of u.dropins) checkFile(dropinPath(u.name, d.name), Buffer.from(d.contents), undefined, host.read(dropinPath(u.name, d.name)), out);
  }
  if (expected.sshKeys !== null) checkFile(CORE_AUTHORIZED_KEYS, Buffer.from(authorizedKeys(expected.sshKeys)), undefined, host.read(CORE_AUTHORIZED_KEYS), out);
  return out;
}

/** The reason a failed validation puts on the Node: the original's text, every difference joined by `; `. */
export const validationMessage = (configName: string, differences: readonly string[]): string =>
  `unexpected on-disk state validating against ${configName}: ${differences.join('; ')}`;


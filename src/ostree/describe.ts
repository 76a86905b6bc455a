/**
 * Text renderings of commits and tree entries exactly as the ostree CLI prints them
 * (`ostree log`, `ostree show`, `ostree ls`). Pure functions returning strings.
 */
import { commitMetadataValue, contentChecksum, isSymlinkMode, type Commit, type FileHeader } from './objects.js';

/** `YYYY-MM-DD HH:MM:SS +0000`, UTC, as `ostree log` prints commit dates. */
export function formatCommitDate(seconds: number): string {
  return `${new Date(seconds * 1000).toISOString().replace('T', ' ').slice(0, 19)} +0000`;
}

/** Each line indented by four spaces; a trailing newline adds no empty line, as in ostree. */
function indent(text: string): string {
  const lines = text.split('\n');
  if (lines.length > 1 && lines.at(-1) === '') lines.pop();
  return lines.map((l) => `    ${l}\n`).join('');
}

/** One commit as `ostree log` and `ostree show` print it. */
export function formatCommit(checksum: string, commit: Commit): string {
  let out = `commit ${checksum}\n`;
  if (commit.parent) out += `Parent:  ${commit.parent}\n`;
  out += `ContentChecksum:  ${contentChecksum(commit)}\n`;
  out += `Date:  ${formatCommitDate(commit.timestamp)}\n`;
  const version = commitMetadataValue(commit, 'version');
  if (typeof version === 'string') out += `Version: ${version}\n`;
  out += commit.subject ? `\n${indent(commit.subject)}` : '(no subject)\n';
  if (commit.body) out += `\n${indent(commit.body)}`;
  return `${out}\n`;
}

function modeColumns(type: 'd' | '-' | 'l', mode: number, uid: number, gid: number, size: number): string {
  return `${type}0${(mode & 0o7777).toString(8).padStart(4, '0')} ${uid} ${gid} ${String(size).padStart(6)}`;
}

/** An `ostree ls` line for a directory. */
export function formatDirLine(path: string, meta: { uid: number; gid: number; mode: number }, checksums?: [string, string]): string {
  return `${modeColumns('d', meta.mode, meta.uid, meta.gid, 0)} ${checksums ? `${checksums[0]} ${checksums[1]} ` : ''}${path}\n`;
}

/** An `ostree ls` line for a file or symlink. */
export function formatFileLine(path: string, header: FileHeader, size: number, checksum?: string): string {
  const link = isSymlinkMode(header.mode);
  const cols = modeColumns(link ? 'l' : '-', header.mode, header.uid, header.gid, link ? 0 : size);
  return `${cols} ${checksum ? `${checksum} ` : ''}${path}${link ? ` -> ${header.symlinkTarget}` : ''}\n`;
}

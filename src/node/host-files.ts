/**
 * Writes a rendered config's files, systemd units and drop-ins and the `core` user's SSH keys
 * to a host (mco.md §5.4 steps 7–8, §5.4.1), then deletes what the old config had and the new
 * one does not. Every write is atomic (a temporary file in the same directory, renamed over
 * the path). Before a path is first changed, what it held is kept twice: the original's
 * backup on disk (`/etc/machine-config-daemon/orig/PATH.mcdorig`, or a `noorig/PATH.mcdnoorig`
 * stamp when there was nothing), which a later removal of the file from the config restores;
 * and in the update's undo log, so `rollback()` puts every path back as it was when a later
 * step of the update fails.
 */
import { chmodSync, chownSync, closeSync, fsyncSync, lstatSync, mkdirSync, openSync, renameSync, rmSync, symlinkSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { authorizedKeys, CORE_AUTHORIZED_KEYS, dropinPath, ownedPaths, unitPath, wantsLink, type FileOwner, type HostConfig } from './host-config.js';
import { checkNoSymlinkedParents, HostPathError, observe, type HostRoot, type ObservedPath } from './host-root.js';

export const MCD_STATE_DIR = '/etc/machine-config-daemon';
const origPath = (p: string): string => `${MCD_STATE_DIR}/orig${p}.mcdorig`;
const noorigPath = (p: string): string => `${MCD_STATE_DIR}/noorig${p}.mcdnoorig`;

interface Saved {
  before: ObservedPath;
  uid: number;
  gid: number;
}

function parentsMade(root: HostRoot, hostPath: string): string {
  checkNoSymlinkedParents(root, hostPath);
  const path = root.resolve(hostPath);
  mkdirSync(dirname(path), { recursive: true, mode: 0o755 });
  return path;
}

/** Writes a regular file at a host path atomically: a synced temporary file renamed over it. */
export function writeAtomic(root: HostRoot, hostPath: string, contents: Buffer | string, mode = 0o644, owner: { uid: number; gid: number } = { uid: 0, gid: 0 }): void {
  const path = parentsMade(root, hostPath);
  const tmp = `${path}.mcdtmp-${process.pid}`;
  const fd = openSync(tmp, 'w', mode);
  try {
    writeSync(fd, typeof contents === 'string' ? Buffer.from(contents) : contents);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  // The umask may have narrowed the mode the file was created with.
  chmodSync(tmp, mode);
  if (process.getuid?.() === 0) chownSync(tmp, owner.uid, owner.gid);
  renameSync(tmp, path);
}

/** One update's writes to a host, undoable until committed. */
export class HostWrites {
  private readonly undo = new Map<string, Saved>();
  private readonly order: string[] = [];

  constructor(private readonly root: HostRoot, private readonly log: (line: string) => void = () => {}) {}

  /** Remembers what `hostPath` held before this update first touched it. */
  private remember(hostPath: string): void {
    if (this.undo.has(hostPath)) return;
    const before = observe(this.root, hostPath);
    let uid = 0;
    let gid = 0;
    if (before.kind !== 'missing') {
      const st = lstatSync(this.root.resolve(hostPath));
      uid = st.uid;
      gid = st.gid;
    }
    this.undo.set(hostPath, { before, uid, gid });
    this.order.push(hostPath);
  }

  /** The original's backup, once per path: a copy of what was there, or a stamp saying nothing was. */
  private backUp(hostPath: string): void {
    const orig = observe(this.root, origPath(hostPath));
    const noorig = observe(this.root, noorigPath(hostPath));
    if (orig.kind !== 'missing' || noorig.kind !== 'missing') return;
    const now = observe(this.root, hostPath);
    if (now.kind === 'file') this.place(origPath(hostPath), now.contents, now.mode, 0, 0);
    else if (now.kind === 'missing') this.place(noorigPath(hostPath), Buffer.alloc(0), 0o644, 0, 0);
    else if (now.kind === 'symlink') this.placeLink(origPath(hostPath), now.target);
  }

  private place(hostPath: string, contents: Buffer, mode: number, uid: number, gid: number): void {
    writeAtomic(this.root, hostPath, contents, mode, { uid, gid });
  }

  private placeLink(hostPath: string, target: string): void {
    const path = parentsMade(this.root, hostPath);
    const tmp = `${path}.mcdtmp-${process.pid}`;
    rmSync(tmp, { force: true });
    symlinkSync(target, tmp);
    renameSync(tmp, path);
  }

  writeFile(hostPath: string, contents: Buffer, mode: number, owner: { uid: number; gid: number } = { uid: 0, gid: 0 }): void {
    this.remember(hostPath);
    this.backUp(hostPath);
    this.place(hostPath, contents, mode, owner.uid, owner.gid);
  }

  symlink(hostPath: string, target: string): void {
    const now = observe(this.root, hostPath);
    if (now.kind === 'symlink' && now.target === target) return;
    this.remember(hostPath);
    this.backUp(hostPath);
    this.placeLink(hostPath, target);
  }

  remove(hostPath: string): void {
    if (observe(this.root, hostPath).kind === 'missing') return;
    this.remember(hostPath);
    checkNoSymlinkedParents(this.root, hostPath);
    rmSync(this.root.resolve(hostPath), { force: true });
  }

  /**
   * Removes a path the new config no longer has: the original comes back if it was backed up,
   * nothing is left if there was nothing before the daemon wrote it.
   */
  removeStale(hostPath: string): void {
    const orig = observe(this.root, origPath(hostPath));
    if (orig.kind === 'file') {
      this.remember(hostPath);
      this.place(hostPath, orig.contents, orig.mode, 0, 0);
      this.log(`Restored ${hostPath} from ${origPath(hostPath)}`);
    } else if (orig.kind === 'symlink') {
      this.remember(hostPath);
      this.placeLink(hostPath, orig.target);
    } else {
      this.remove(hostPath);
    }
  }

  /** Puts every path back as it was before this update, newest change first. */
  rollback(): void {
    for (const hostPath of [...this.order].reverse()) {
      const { before, uid, gid } = this.undo.get(hostPath)!;
      if (before.kind === 'missing') rmSync(this.root.resolve(hostPath), { force: true });
      else if (before.kind === 'file') this.place(hostPath, before.contents, before.mode, uid, gid);
      else if (before.kind === 'symlink') this.placeLink(hostPath, before.target);
    }
    this.log(`Rolled back ${this.order.length} changed paths`);
    this.undo.clear();
    this.order.length = 0;
  }

  /** How many paths this update changed. */
  get changed(): number {
    return this.order.length;
  }
}

/** Numeric ids for an Ignition owner: the id, else the name looked up in the host's /etc/passwd or /etc/group, else root. */
export function ownerId(root: HostRoot, owner: FileOwner, database: 'passwd' | 'group', where: string): number {
  if (owner.id !== undefined) return owner.id;
  if (owner.name === undefined) return 0;
  const db = observe(root, `/etc/${database}`);
  const text = db.kind === 'file' ? db.contents.toString('utf8') : '';
  for (const line of text.split('\n')) {
    const fields = line.split(':');
    if (fields[0] === owner.name && fields[2] !== undefined && /^\d+$/.test(fields[2])) return Number(fields[2]);
  }
  throw new HostPathError(`${where}: no ${database === 'passwd' ? 'user' : 'group'} named "${owner.name}" in the host's /etc/${database}`);
}

/**
 * Writes `next`'s files, units and SSH keys, then removes what `previous` configs owned and
 * `next` does not (several when an interrupted update's target must be cleaned up too).
 * Returns the writes, for `rollback()` if a later step fails.
 */
export function writeHostConfig(root: HostRoot, previous: readonly HostConfig[], next: HostConfig, log: (line: string) => void = () => {}): HostWrites {
  const w = new HostWrites(root, log);
  try {
    for (const f of next.files) {
      const where = `${next.name}: file ${f.path}`;
      w.writeFile(f.path, f.contents, f.mode, { uid: ownerId(root, f.user, 'passwd', where), gid: ownerId(root, f.group, 'group', where) });
    }
    for (const u of next.units) {
      for (const d of u.dropins) w.writeFile(dropinPath(u.name, d.name), Buffer.from(d.contents), 0o644);
      if (u.mask) {
        w.symlink(unitPath(u.name), '/dev/null');
        continue;
      }
      if (u.contents !== undefined) w.writeFile(unitPath(u.name), Buffer.from(u.contents), 0o644);
      else if (observe(root, unitPath(u.name)).kind === 'symlink') w.remove(unitPath(u.name)); // an old mask
      if (u.enabled === true) w.symlink(wantsLink(u.name), u.contents !== undefined ? unitPath(u.name) : `/usr/lib/systemd/system/${u.name}`);
      else if (u.enabled === false) w.remove(wantsLink(u.name));
    }
    if (next.sshKeys !== null) {
      w.writeFile(CORE_AUTHORIZED_KEYS, Buffer.from(authorizedKeys(next.sshKeys)), 0o644);
    }
    const keep = new Set(ownedPaths(next));
    const staleUnits = new Set(previous.flatMap((p) => p.units.map((u) => u.name)).filter((n) => !next.units.some((u) => u.name === n)));
    for (const name of staleUnits) w.remove(wantsLink(name));
    for (const path of new Set(previous.flatMap(ownedPaths))) {
      // SSH keys of a config without users are left alone, as the original does.
      if (!keep.has(path) && path !== CORE_AUTHORIZED_KEYS) w.removeStale(path);
    }
    log(`Wrote ${next.files.length} files and ${next.units.length} units of ${next.name} (${w.changed} paths changed)`);
    return w;
  } catch (e) {
    w.rollback();
    throw e;
  }
}

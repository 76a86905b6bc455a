/**
 * What a rendered config asks of a host, as plain data (read from the MachineConfig by the
 * daemon's daemon/ignition.ts, checked there): files with decoded contents, systemd units and
 * drop-ins, the `core` user's SSH keys, kernel arguments and the OS image. The host writers
 * and readers of this folder take it; where each thing lives on the host is said once here.
 */

export interface FileOwner {
  id?: number;
  name?: string;
}

export interface HostFile {
  /** Absolute host path, normalised (no `.`/`..`, no doubled or trailing slash). */
  path: string;
  contents: Buffer;
  /** Permission bits; Ignition's default 0644. */
  mode: number;
  user: FileOwner;
  group: FileOwner;
}

export interface HostDropin {
  name: string;
  contents: string;
}

export interface HostUnit {
  name: string;
  /** Undefined: the unit body is not written (Ignition allows drop-ins or enablement only). */
  contents?: string;
  /** true/false: enable/disable; undefined: leave as is. */
  enabled?: boolean;
  mask: boolean;
  dropins: HostDropin[];
}

/** Everything of a rendered config the daemon writes to or checks on a host. */
export interface HostConfig {
  /** The MachineConfig's name (`rendered-worker-…`). */
  name: string;
  osImageURL: string;
  kernelArguments: string[];
  files: HostFile[];
  units: HostUnit[];
  /** Keys for `core`, one per line in authorized_keys; null when the config has no users. */
  sshKeys: string[] | null;
}

export const DEFAULT_FILE_MODE = 0o644;
/** Where units and their drop-ins go (mco.md §5.4.1). */
export const SYSTEMD_DIR = '/etc/systemd/system';
export const WANTS_DIR = `${SYSTEMD_DIR}/multi-user.target.wants`;
export const CORE_AUTHORIZED_KEYS = '/home/core/.ssh/authorized_keys';

export const unitPath = (name: string): string => `${SYSTEMD_DIR}/${name}`;
export const dropinPath = (unit: string, dropin: string): string => `${SYSTEMD_DIR}/${unit}.d/${dropin}`;
export const wantsLink = (unit: string): string => `${WANTS_DIR}/${unit}`;

/** The `core` user's authorized_keys as the daemon writes it: one key per line. */
export const authorizedKeys = (keys: readonly string[]): string => keys.map((k) => `${k}\n`).join('');

/** Host paths a config owns: what a drift monitor watches. */
export function ownedPaths(config: HostConfig): string[] {
  return [
    ...config.files.map((f) => f.path),
    ...config.units.flatMap((u) => [unitPath(u.name), ...u.dropins.map((d) => dropinPath(u.name, d.name))]),
    ...(config.sshKeys !== null ? [CORE_AUTHORIZED_KEYS] : []),
  ];
}

/**
 * Remotes as libostree keeps them: `[remote "NAME"]` groups of the repo's `config`, with
 * `url=`, optional `branches=a;b;` and any other option (`gpg-verify=false`…), written in the
 * order `ostree remote add` writes them.
 */
import { join } from 'node:path';
import { atomicWrite, RepoError, type Repo } from './repo.js';

export interface Remote {
  name: string;
  url: string;
  /** Branches to pull when none is named (`remote add NAME URL BRANCH…`). */
  branches: string[];
  /** Whether signatures would be required (ostree's default: true). */
  gpgVerify: boolean;
  /** Every key of the group, as written. */
  options: Record<string, string>;
}

const groupName = (name: string): string => `remote "${name}"`;

export function validateRemoteName(name: string): void {
  if (!/^[\w\d][-._\w\d]*$/.test(name)) throw new RepoError(`Invalid remote name ${name}`);
}

export function listRemotes(repo: Repo): string[] {
  return repo.config.groupNames()
    .map((g) => /^remote "(.*)"$/.exec(g)?.[1])
    .filter((n): n is string => n !== undefined)
    .sort();
}

export function getRemote(repo: Repo, name: string): Remote {
  const group = groupName(name);
  if (!repo.config.hasGroup(group)) throw new RepoError(`Remote "${name}" not found`);
  const options: Record<string, string> = {};
  for (const key of repo.config.keys(group)) options[key] = repo.config.get(group, key)!;
  const url = options['url'];
  if (url === undefined) throw new RepoError(`No "url" option in remote "${name}"`);
  return {
    name, url, options,
    branches: (options['branches'] ?? '').split(';').filter((b) => b !== ''),
    gpgVerify: repo.config.getBoolean(group, 'gpg-verify') ?? true,
  };
}

/** How a remote's server is reached over https: the `tls-*` keys of its group, as libostree reads them. */
export interface RemoteTls {
  /** `tls-permissive=true`: the server's certificate is not verified. */
  permissive?: boolean;
  /**
   * `tls-ca-path`: a PEM bundle of the CAs trusted to have issued the server's certificate. Without
   * it, Node's own CA list (and NODE_EXTRA_CA_CERTS) is trusted, where libostree trusts the system's store.
   */
  caPath?: string;
  /** `tls-client-cert-path`: a PEM client certificate presented to the server (with its key). */
  clientCertPath?: string;
  /** `tls-client-key-path`: the PEM private key of the client certificate. */
  clientKeyPath?: string;
}

/** The TLS settings of remote `name`; undefined when no such remote is configured. */
export function remoteTls(repo: Repo, name: string): RemoteTls | undefined {
  const group = groupName(name);
  if (!repo.config.hasGroup(group)) return undefined;
  const get = (key: string): string | undefined => repo.config.get(group, key);
  const tls: RemoteTls = {};
  if (repo.config.getBoolean(group, 'tls-permissive')) tls.permissive = true;
  const ca = get('tls-ca-path');
  if (ca !== undefined) tls.caPath = ca;
  const cert = get('tls-client-cert-path');
  const key = get('tls-client-key-path');
  if ((cert === undefined) !== (key === undefined)) throw new RepoError(`Remote "${name}" must specify both "tls-client-cert-path" and "tls-client-key-path"`);
  if (cert !== undefined && key !== undefined) Object.assign(tls, { clientCertPath: cert, clientKeyPath: key });
  return tls;
}

export interface AddRemoteOptions {
  branches?: string[];
  /** Extra keys (`--set=KEY=VALUE`), in order. */
  set?: [string, string][];
  noGpgVerify?: boolean;
  /** `gpg-verify=false` and `sign-verify=false` (`--no-sign-verify`: every kind of signature, as ostree does). */
  noSignVerify?: boolean;
  /** Succeed quietly when the remote exists (`--if-not-exists`). */
  ifNotExists?: boolean;
  /** Replace the remote when it exists (`--force`). */
  force?: boolean;
}

export async function addRemote(repo: Repo, name: string, url: string, options: AddRemoteOptions = {}): Promise<void> {
  validateRemoteName(name);
  const group = groupName(name);
  if (repo.config.hasGroup(group)) {
    if (options.ifNotExists) return;
    if (options.force) repo.config.delete(group);
    else throw new RepoError(`Remote configuration for "${name}" already exists: (in config)`);
  }
  repo.config.set(group, 'url', url);
  if (options.branches?.length) repo.config.set(group, 'branches', options.branches.map((b) => `${b};`).join(''));
  for (const [k, v] of options.set ?? []) repo.config.set(group, k, v);
  if (options.noGpgVerify || options.noSignVerify) repo.config.set(group, 'gpg-verify', 'false');
  if (options.noSignVerify) repo.config.set(group, 'sign-verify', 'false');
  await writeConfig(repo);
}

export async function deleteRemote(repo: Repo, name: string, options: { ifExists?: boolean } = {}): Promise<void> {
  const group = groupName(name);
  if (!repo.config.hasGroup(group)) {
    if (options.ifExists) return;
    throw new RepoError(`Remote "${name}" not found`);
  }
  repo.config.delete(group);
  await writeConfig(repo);
}

async function writeConfig(repo: Repo): Promise<void> {
  await atomicWrite(join(repo.path, 'config'), repo.tmpDir, repo.config.toString(), 0o644);
}

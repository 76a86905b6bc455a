/**
 * Flags every `mco image` verb shares, with the real tools' names: `--registry-config` (oc,
 * short `-a`) and `--authfile` (skopeo/podman) for credentials, `--insecure` and
 * `--tls-verify=false` for registries without trusted TLS, `--filter-by-os` (oc) for lists.
 */
import { defaultAuthFile } from '../../image/auth.js';
import { parsePlatform } from '../../image/media-types.js';
import { createProgress } from '../../image/progress.js';
import { RegistryClient } from '../../image/registry-client.js';
import { flag, str, UsageError, type Parsed } from '../args.js';
import type { Command, Context } from '../command.js';

export const registryOptions: Command['options'] = {
  'registry-config': { type: 'string', short: 'a', description: 'Registry credentials: a docker config.json (as oc image extract)', argument: 'FILE' },
  authfile: { type: 'string', description: 'Registry credentials: a containers auth.json (as skopeo)', argument: 'FILE' },
  insecure: { type: 'boolean', description: 'Allow plain http and unverified TLS to the registry' },
  'tls-verify': { type: 'string', description: 'false: the same as --insecure (as skopeo)', argument: 'BOOL' },
  'filter-by-os': { type: 'string', description: 'Image of a manifest list to use (default: this machine, linux)', argument: 'OS/ARCH[/VARIANT]' },
  verbose: { type: 'boolean', short: 'v', description: 'Log credentials used, retries and redirects on stderr' },
};

export const quietOption: Command['options'] = {
  quiet: { type: 'boolean', short: 'q', description: 'No progress output' },
};

/** The client the flags describe. Credentials default to $REGISTRY_AUTH_FILE, then the usual files. */
export function clientFromFlags(args: Parsed, ctx: Context, options: { progress?: boolean } = {}): RegistryClient {
  const registryConfig = str(args, 'registry-config');
  const authfile = str(args, 'authfile');
  if (registryConfig && authfile && registryConfig !== authfile) throw new UsageError('--registry-config and --authfile name two different files; give one');
  const tlsVerify = str(args, 'tls-verify');
  if (tlsVerify !== undefined && tlsVerify !== 'true' && tlsVerify !== 'false') throw new UsageError(`--tls-verify takes true or false, not "${tlsVerify}"`);
  const filter = str(args, 'filter-by-os');
  const authFile = registryConfig ?? authfile ?? defaultAuthFile(ctx.env);
  const stderr = process.stderr;
  return new RegistryClient({
    ...(authFile ? { authFile } : {}),
    insecure: flag(args, 'insecure') || tlsVerify === 'false',
    ...(filter ? { platform: parsePlatform(filter) } : {}),
    ...(flag(args, 'verbose') ? { log: (line: string) => ctx.output.err(`${line}\n`) } : {}),
    ...(options.progress && !flag(args, 'quiet')
      ? { progress: createProgress({ write: (s) => ctx.output.err(s), isTTY: stderr.isTTY, columns: stderr.columns }) }
      : {}),
  });
}

/** Runs FN with a client, closing its connections afterwards so the command exits promptly. */
export async function withClient<T>(client: RegistryClient, fn: (client: RegistryClient) => Promise<T>): Promise<T> {
  try {
    return await fn(client);
  } finally {
    await client.close();
  }
}

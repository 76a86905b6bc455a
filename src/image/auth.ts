/**
 * Registry credentials and the two auth schemes registries use: Basic (htpasswd) and the
 * Bearer token flow (`WWW-Authenticate: Bearer realm=…,service=…,scope=…`).
 *
 * Credentials come from a docker `config.json` / containers `auth.json`, looked up the way
 * `oc` and containers/image do (most specific `host/ns/repo` key first, then keys normalized
 * to a host, Docker Hub under `https://index.docker.io/v1/`). Secrets never leave this module
 * except inside an Authorization header: logs and errors name the auth-file key and path only.
 */
import * as fs from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { RegistryError } from './registry-client-errors.js';

export interface Credentials {
  username: string;
  password: string;
  /** Where they came from, for logs: `"quay.io" in /var/lib/kubelet/config.json`. */
  source: string;
}

interface AuthEntry {
  auth?: string;
  username?: string;
  password?: string;
}

export class AuthFileError extends Error {
  override name = 'AuthFileError';
}

/** A parsed config.json / auth.json. */
export class AuthFile {
  private constructor(
    readonly path: string,
    private readonly auths: Record<string, AuthEntry>,
  ) {}

  static read(path: string): AuthFile {
    let text: string;
    try {
      text = fs.readFileSync(path, 'utf8');
    } catch (e) {
      throw new AuthFileError(`cannot read registry auth file ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    // credHelpers/credsStore (docker-credential-* programs) are not run: only inline credentials count.
    let doc: { auths?: unknown };
    try {
      doc = JSON.parse(text) as typeof doc;
    } catch {
      // The parser's message quotes the text near the fault, which may be a secret.
      throw new AuthFileError(`registry auth file ${path} is not valid JSON`);
    }
    if (typeof doc !== 'object' || doc === null) throw new AuthFileError(`registry auth file ${path} is not a JSON object`);
    const auths = doc.auths ?? {};
    if (typeof auths !== 'object' || auths === null || Array.isArray(auths)) throw new AuthFileError(`registry auth file ${path}: "auths" is not an object`);
    return new AuthFile(path, auths as Record<string, AuthEntry>);
  }

  /** Credentials for REGISTRY/REPOSITORY, or undefined for anonymous access. */
  find(registry: string, repository: string): Credentials | undefined {
    const parts = repository.split('/');
    // 1. Exact keys, most specific first: host/ns/repo, host/ns, host.
    for (let n = parts.length; n >= 0; n--) {
      const key = [registry, ...parts.slice(0, n)].join('/');
      const entry = this.auths[key];
      if (entry) return this.decode(key, entry);
    }
    // 2. Keys normalized to a bare host (scheme, path and Docker Hub aliases dropped).
    const want = normalizeHost(registry);
    for (const [key, entry] of Object.entries(this.auths)) {
      if (normalizeHost(key) === want) return this.decode(key, entry);
    }
    return undefined;
  }

  private decode(key: string, entry: AuthEntry): Credentials {
    const source = `"${key}" in ${this.path}`;
    if (typeof entry.auth === 'string' && entry.auth !== '') {
      const plain = Buffer.from(entry.auth, 'base64').toString('utf8');
      const colon = plain.indexOf(':');
      if (colon < 0) throw new AuthFileError(`registry auth file ${this.path}: the "auth" of ${JSON.stringify(key)} is not base64 of USER:PASSWORD`);
      return { username: plain.slice(0, colon), password: plain.slice(colon + 1), source };
    }
    if (typeof entry.username === 'string' && typeof entry.password === 'string') return { username: entry.username, password: entry.password, source };
    throw new AuthFileError(`registry auth file ${this.path}: the entry ${JSON.stringify(key)} has neither "auth" nor "username" and "password"`);
  }
}

/** `https://index.docker.io/v1/` → `index.docker.io`; `quay.io/ns` → `quay.io`. */
function normalizeHost(key: string): string {
  const host = key.replace(/^[a-z]+:\/\//, '').split('/')[0]!;
  return host === 'docker.io' || host === 'registry-1.docker.io' ? 'index.docker.io' : host;
}

/**
 * The auth file to use when none is given, in the order skopeo/podman and then docker look:
 * `$REGISTRY_AUTH_FILE`, `$XDG_RUNTIME_DIR/containers/auth.json`, `~/.docker/config.json`.
 */
export function defaultAuthFile(env: NodeJS.ProcessEnv): string | undefined {
  const candidates = [
    env['REGISTRY_AUTH_FILE'],
    env['XDG_RUNTIME_DIR'] && join(env['XDG_RUNTIME_DIR'], 'containers/auth.json'),
    join(env['HOME'] ?? homedir(), '.docker/config.json'),
  ];
  return candidates.find((p): p is string => !!p && fs.existsSync(p));
}

export interface Challenge {
  scheme: string;
  params: Record<string, string>;
}

/**
 * Parses a `WWW-Authenticate` value as an RFC 7235 list: `Bearer realm="…",scope="a:b:pull,push"`.
 * A comma inside quotes does not split; several challenges may follow each other.
 */
export function parseChallenges(header: string): Challenge[] {
  const out: Challenge[] = [];
  const token = /[A-Za-z0-9!#$%&'*+.^_`|~-]+/y;
  let i = 0;
  const skip = (chars: RegExp): void => {
    while (i < header.length && chars.test(header[i]!)) i++;
  };
  while (i < header.length) {
    skip(/[\s,]/);
    token.lastIndex = i;
    const name = token.exec(header)?.[0];
    if (!name) break;
    i += name.length;
    skip(/\s/);
    if (header[i] !== '=') {
      out.push({ scheme: name.toLowerCase(), params: {} });
      continue;
    }
    i++;
    skip(/\s/);
    let value = '';
    if (header[i] === '"') {
      for (i++; i < header.length && header[i] !== '"'; i++) value += header[i] === '\\' ? header[++i] ?? '' : header[i];
      i++;
    } else {
      token.lastIndex = i;
      value = token.exec(header)?.[0] ?? '';
      i += value.length;
    }
    const current = out.at(-1);
    if (current) current.params[name.toLowerCase()] = value;
  }
  return out;
}

/** `repository:NAME:ACTIONS`, the scope a token must grant. */
export const repositoryScope = (repository: string, actions: 'pull' | 'pull,push'): string => `repository:${repository}:${actions}`;

/** One GET of the token endpoint; passed in so the registry client's TLS settings apply. */
export type TokenFetch = (url: URL, headers: Record<string, string>) => Promise<{ status: number; body: Buffer }>;

interface CachedToken {
  header: string;
  expires: number;
}

/**
 * Authorization for one client: remembers which scheme each registry asked for and caches
 * Bearer tokens per (registry, scope set) until shortly before they expire.
 */
export class Authenticator {
  private readonly schemes = new Map<string, Challenge>();
  private readonly tokens = new Map<string, CachedToken>();
  private readonly announced = new Set<string>();

  constructor(
    private readonly options: {
      authFile?: AuthFile;
      fetchToken: TokenFetch;
      log?: (line: string) => void;
      now?: () => number;
    },
  ) {}

  private now(): number {
    return (this.options.now ?? Date.now)();
  }

  private credentials(registry: string, repository: string): Credentials | undefined {
    const creds = this.options.authFile?.find(registry, repository);
    const note = creds ? `using credentials ${creds.source} for ${registry}` : undefined;
    if (note && !this.announced.has(note)) {
      this.announced.add(note);
      this.options.log?.(note);
    }
    return creds;
  }

  /** Remembers a registry's challenge (from `GET /v2/` or any 401). */
  learn(registry: string, header: string | undefined): void {
    const challenges = header ? parseChallenges(header) : [];
    const chosen = challenges.find((c) => c.scheme === 'bearer') ?? challenges.find((c) => c.scheme === 'basic');
    if (chosen) this.schemes.set(registry, chosen);
  }

  /** Forgets the cached token for SCOPES, so the next `authorization()` asks for a new one. */
  invalidate(registry: string, scopes: string[]): void {
    this.tokens.delete(tokenKey(registry, scopes));
  }

  /** True once REGISTRY has told us how to authenticate. */
  knows(registry: string): boolean {
    return this.schemes.has(registry);
  }

  /**
   * The Authorization header for a request to REPOSITORY needing SCOPES, fetching a token when
   * the registry uses Bearer auth; undefined when the registry asked for nothing (yet).
   */
  async authorization(registry: string, repository: string, scopes: string[]): Promise<string | undefined> {
    const challenge = this.schemes.get(registry);
    if (!challenge) return undefined;
    const creds = this.credentials(registry, repository);
    if (challenge.scheme === 'basic') return creds ? basicHeader(creds) : undefined;
    const key = tokenKey(registry, scopes);
    const cached = this.tokens.get(key);
    if (cached && cached.expires > this.now()) return cached.header;
    const token = await this.requestToken(registry, challenge, scopes, creds);
    this.tokens.set(key, token);
    return token.header;
  }

  private async requestToken(registry: string, challenge: Challenge, scopes: string[], creds: Credentials | undefined): Promise<CachedToken> {
    const realm = challenge.params['realm'];
    if (!realm) throw new RegistryError(`${registry} asked for Bearer auth without a realm to get a token from`, registry);
    let url: URL;
    try {
      url = new URL(realm);
    } catch {
      throw new RegistryError(`${registry} named an invalid token realm "${realm}"`, registry);
    }
    if (challenge.params['service']) url.searchParams.set('service', challenge.params['service']);
    for (const scope of scopes) url.searchParams.append('scope', scope);
    const realmName = `${url.origin}${url.pathname}`;
    // A password goes in clear over http: only to this machine's own token servers.
    if (creds && url.protocol !== 'https:' && !/^(127\.\d+\.\d+\.\d+|localhost|\[::1\])$/.test(url.hostname)) {
      throw new RegistryError(`${registry}: refusing to send the credentials ${creds.source} to the token server ${realmName} over ${url.protocol.replace(':', '')}: it must be https`, registry, { code: 'UNAUTHORIZED' });
    }
    const headers: Record<string, string> = creds ? { authorization: basicHeader(creds) } : {};
    const { status, body } = await this.options.fetchToken(url, headers);
    if (status === 401 || status === 403) {
      const who = creds ? `the credentials ${creds.source} were refused` : 'no credentials were found for it (pass --registry-config or --authfile)';
      throw new RegistryError(`${registry}: unauthorized: token server ${realmName} answered ${status}: ${who}`, registry, { status, code: 'UNAUTHORIZED' });
    }
    if (status !== 200) throw new RegistryError(`${registry}: token server ${realmName} answered HTTP ${status}`, registry, { status });
    let doc: { token?: string; access_token?: string; expires_in?: number };
    try {
      doc = JSON.parse(body.toString('utf8')) as typeof doc;
    } catch {
      throw new RegistryError(`${registry}: token server ${realmName} sent a response that is not JSON`, registry);
    }
    const token = doc.token || doc.access_token;
    if (!token) throw new RegistryError(`${registry}: token server ${realmName} sent no token`, registry);
    // Tokens without expires_in last 60 s (distribution's token spec); renew 10 s early.
    const lifetime = typeof doc.expires_in === 'number' && doc.expires_in > 0 ? doc.expires_in : 60;
    return { header: `Bearer ${token}`, expires: this.now() + Math.max(lifetime - 10, 1) * 1000 };
  }

  /** A message for a 401 naming where credentials came from, never what they are. */
  describeRefusal(registry: string, repository: string): string {
    const creds = this.options.authFile?.find(registry, repository);
    if (creds) return `the credentials ${creds.source} were refused`;
    return this.options.authFile
      ? `${this.options.authFile.path} has no credentials for ${registry}`
      : 'no credentials given (pass --registry-config or --authfile)';
  }
}

const tokenKey = (registry: string, scopes: string[]): string => `${registry} ${[...scopes].sort().join(' ')}`;
const basicHeader = (c: Credentials): string => `Basic ${Buffer.from(`${c.username}:${c.password}`).toString('base64')}`;

/**
 * Who is calling: bearer tokens, each naming one of the server's users (`admin`,
 * `controller`, `node:<name>`). A token is `<user, base64url>.<HMAC-SHA256 of the user under
 * the data directory's secret>`, so any user's token can be minted from the secret alone
 * (`mco apiserver token`) and checked without a token table; rotating the secret file
 * revokes them all.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import * as fs from 'node:fs';
import { join } from 'node:path';

export type User = { kind: 'admin' } | { kind: 'controller' } | { kind: 'node'; nodeName: string };

const NODE_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

export class UnknownUserError extends Error {
  override name = 'UnknownUserError';
}

/** Parses `admin`, `controller` or `node:<node name>`. */
export function parseUser(text: string): User {
  if (text === 'admin' || text === 'controller') return { kind: text };
  const m = /^node:(.+)$/.exec(text);
  if (m && NODE_NAME.test(m[1]!) && m[1]!.length <= 253) return { kind: 'node', nodeName: m[1]! };
  throw new UnknownUserError(`Unknown user "${text}": expected admin, controller or node:<node name> (a lowercase DNS name)`);
}

export const userName = (u: User): string => (u.kind === 'node' ? `node:${u.nodeName}` : u.kind);

const SECRET_FILE = 'token-secret';

/** The data directory's token secret, created (0600) on first use. */
export function tokenSecret(dataDir: string): Buffer {
  const path = join(dataDir, SECRET_FILE);
  let secret: Buffer;
  try {
    secret = fs.readFileSync(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    fs.writeFileSync(path, randomBytes(32), { mode: 0o600, flag: 'wx' });
    secret = fs.readFileSync(path);
  }
  // A short (say, empty after a crash) secret would make every token guessable.
  if (secret.length < 32) throw new Error(`${path} holds ${secret.length} bytes, fewer than 32: remove it to make a new secret (every token changes)`);
  return secret;
}

const mac = (secret: Buffer, user: string): Buffer => createHmac('sha256', secret).update(`mco-apiserver-token:${user}`).digest();

export function mintToken(secret: Buffer, user: User): string {
  const name = userName(user);
  return `${Buffer.from(name).toString('base64url')}.${mac(secret, name).toString('base64url')}`;
}

/** The user a bearer token stands for, or undefined for a missing, malformed or forged one. */
export function authenticate(secret: Buffer, authorization: string | undefined): User | undefined {
  const m = /^Bearer\s+([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)$/.exec(authorization ?? '');
  if (!m) return undefined;
  const name = Buffer.from(m[1]!, 'base64url').toString();
  const given = Buffer.from(m[2]!, 'base64url');
  const expected = mac(secret, name);
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return undefined;
  try {
    return parseUser(name);
  } catch (e) {
    if (e instanceof UnknownUserError) return undefined;
    throw e;
  }
}

/**
 * The daemon's error kinds, mapped to the Node's state only at the edge (mco.md §5.2): an
 * UnreconcilableError becomes `Unreconcilable`, any other error `Degraded`; a transient
 * fault (API or registry unreachable, a 5xx, a timeout) is retried and becomes `Degraded`
 * only when it outlasts the daemon's bound.
 */

/** A rendered config the daemon cannot apply as written: names the config and the field. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** A change the daemon refuses to make on a running node (mco.md §5.4 step 4). */
export class UnreconcilableError extends Error {
  override name = 'UnreconcilableError';
}

/** The drain did not finish: names the pod that blocked it. */
export class DrainError extends Error {
  override name = 'DrainError';
}

const TRANSIENT_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'UND_ERR_SOCKET', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT']);

/**
 * Whether `e` (or an error in its cause chain) is a fault that may go away by itself: a
 * connection refused or reset, a timeout, an HTTP 5xx or 429 from the API server or a
 * registry. A 4xx, a digest mismatch or a bad config is not.
 */
export function isTransient(e: unknown): boolean {
  for (let cur: unknown = e, depth = 0; cur instanceof Error && depth < 10; cur = cur.cause, depth++) {
    if (cur instanceof ConfigError || cur instanceof UnreconcilableError) return false;
    const fields = cur as Error & { code?: unknown; status?: unknown; errno?: unknown };
    const status = typeof fields.status === 'number' ? fields.status : typeof fields.code === 'number' ? fields.code : undefined;
    if (status !== undefined) return status >= 500 || status === 429;
    if (typeof fields.code === 'string' && TRANSIENT_CODES.has(fields.code)) return true;
    if (/^cannot reach registry |fetch failed|socket hang up|ECONNREFUSED|ECONNRESET/.test(cur.message)) return true;
  }
  return false;
}

/** The message of `e`, as Go's `%v` of a wrapped error prints it: causes already in the text. */
export const messageOf = (e: unknown): string => (e instanceof Error ? e.message : String(e));

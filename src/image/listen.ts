/** Listen addresses of the servers (`--listen` of the registry and the API server). */

/** `HOST:PORT` or `[V6]:PORT` (port 0: the kernel picks one); null when TEXT is neither. */
export function parseListenAddress(text: string): { host: string; port: number } | null {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(text);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) return null;
  return { host: (m[1] ?? m[2])!, port };
}

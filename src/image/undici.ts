/**
 * The two pieces of undici that registry calls and the OS content cache's clients use, loaded
 * on their own. `import 'undici'` evaluates the whole package (fetch, WebSocket, mock agents,
 * caches: 110 modules), which cost ~70 ms at every start of a pivot or a registry command; the
 * keep-alive Agent and `request` need a fifth of that. undici declares no "exports" map, so its files may
 * be required by path; package-lock pins the version these paths belong to, and every pull
 * and registry test goes through them.
 */
import { createRequire } from 'node:module';
import type { Agent as UndiciAgent, Dispatcher } from 'undici';

const require = createRequire(import.meta.url);

export const Agent = require('undici/lib/dispatcher/agent.js') as typeof UndiciAgent;
export type Agent = UndiciAgent;
export type { Dispatcher };

const dispatcherRequest = require('undici/lib/api/api-request.js') as (this: Dispatcher, options: Dispatcher.RequestOptions) => Promise<Dispatcher.ResponseData>;

/** undici's `request(url, { dispatcher, … })`: one request through `dispatcher`. */
export function request(url: URL, options: Omit<Dispatcher.RequestOptions, 'origin' | 'path'> & { dispatcher: Dispatcher }): Promise<Dispatcher.ResponseData> {
  const { dispatcher, ...rest } = options;
  return dispatcherRequest.call(dispatcher, { ...rest, origin: url.origin, path: `${url.pathname}${url.search}` });
}

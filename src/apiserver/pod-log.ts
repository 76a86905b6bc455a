/**
 * `GET /api/v1/namespaces/NS/pods/NAME/log` (what `kubectl logs [-f]` reads), served from a
 * file per pod, `DIR/NS/NAME.log`, which whoever runs the pod's process appends to (the lab's
 * node supervisor). The pod must exist in the store, as the kubelet only serves pods it runs.
 * Options as kubelet honours them: `container` (must name one of the pod's containers),
 * `tailLines`, `limitBytes`, `follow` (appended lines are streamed until the client leaves or
 * the pod is deleted); `timestamps`, `sinceSeconds` and `sinceTime` are accepted and ignored
 * (the file keeps no per-line times).
 */
import * as fs from 'node:fs';
import type { ServerResponse } from 'node:http';
import { join } from 'node:path';
import { ApiError, badRequest } from './errors.js';
import { isPlainObject } from './objects.js';
import type { KubeObject } from './store.js';

export interface PodLogOptions {
  container?: string;
  follow: boolean;
  tailLines?: number;
  limitBytes?: number;
}

/** How often a followed log file is checked for appended bytes. */
const FOLLOW_POLL_MS = 200;

function nonNegative(q: URLSearchParams, name: string, min: number): number | undefined {
  const text = q.get(name);
  if (text === null || text === '') return undefined;
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n < min) throw badRequest(`${name} must be an integer of at least ${min}, not "${text}"`);
  return n;
}

/** The PodLogOptions of a query string; a malformed number is a 400 naming the parameter. */
export function parsePodLogOptions(q: URLSearchParams): PodLogOptions {
  const follow = q.get('follow');
  const tailLines = nonNegative(q, 'tailLines', 0);
  const limitBytes = nonNegative(q, 'limitBytes', 1);
  return {
    ...(q.get('container') ? { container: q.get('container')! } : {}),
    follow: follow === 'true' || follow === '1',
    ...(tailLines !== undefined ? { tailLines } : {}),
    ...(limitBytes !== undefined ? { limitBytes } : {}),
  };
}

/** The last `n` lines of `text` (a trailing newline ends the last line, it does not start one). */
export function tailLines(text: Buffer, n: number): Buffer {
  if (n === 0) return Buffer.alloc(0);
  let end = text.length;
  if (end > 0 && text[end - 1] === 0x0a) end--;
  let start = end;
  for (let seen = 0; start > 0; start--) {
    if (text[start - 1] === 0x0a && ++seen === n) break;
  }
  return text.subarray(start);
}

function containerNames(pod: KubeObject): string[] {
  const spec = isPlainObject(pod['spec']) ? pod['spec'] : {};
  const names = (list: unknown): string[] => (Array.isArray(list) ? list.filter(isPlainObject).map((c) => String(c['name'])) : []);
  return [...names(spec['initContainers']), ...names(spec['containers'])];
}

/** The file of a pod's log, after checking the container asked for is one of the pod's. */
export function podLogFile(dir: string, pod: KubeObject, options: PodLogOptions): string {
  const names = containerNames(pod);
  const { name, namespace } = pod.metadata;
  if (options.container !== undefined && !names.includes(options.container)) {
    throw badRequest(`container ${options.container} is not valid for pod ${name}`);
  }
  if (options.container === undefined && names.length > 1) {
    throw badRequest(`a container name must be specified for pod ${name}, choose one of: [${names.join(' ')}]`);
  }
  return join(dir, namespace ?? 'default', `${name}.log`);
}

export interface PodLogStream {
  file: string;
  pod: KubeObject;
  options: PodLogOptions;
  /** Resolves when the pod is deleted: a followed log then ends, as when its container exits. */
  podGone: Promise<void>;
}

/**
 * Answers the log request: the file's content (its tail, limited), then, when following,
 * every byte appended until the client disconnects, the limit is reached or the pod goes. A
 * file that does not exist yet is a container that has not started, worded as kubelet does.
 */
export async function servePodLog(res: ServerResponse, s: PodLogStream): Promise<void> {
  let content: Buffer;
  try {
    content = await fs.promises.readFile(s.file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    const container = s.options.container ?? containerNames(s.pod)[0] ?? s.pod.metadata.name;
    throw new ApiError(400, 'BadRequest', `container "${container}" in pod "${s.pod.metadata.name}" is waiting to start: ContainerCreating`);
  }
  let offset = content.length;
  let first = s.options.tailLines !== undefined ? tailLines(content, s.options.tailLines) : content;
  let budget = s.options.limitBytes ?? Infinity;
  if (first.length > budget) first = first.subarray(0, budget);
  budget -= first.length;

  res.writeHead(200, { 'Content-Type': 'text/plain', 'Cache-Control': 'no-cache, private', ...(s.options.follow ? {} : { 'Content-Length': String(first.length) }) });
  if (!s.options.follow || budget === 0) {
    res.end(first);
    return;
  }
  res.flushHeaders();
  if (first.length) res.write(first);

  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const stop = (): void => {
    if (stopped) return;
    stopped = true;
    clearTimeout(timer);
    if (!res.writableEnded) res.end();
  };
  res.on('close', stop);
  void s.podGone.then(stop);
  const poll = async (): Promise<void> => {
    if (stopped) return;
    try {
      const { size } = await fs.promises.stat(s.file);
      // A log rotated or truncated under us starts over from its beginning.
      if (size < offset) offset = 0;
      if (size > offset) {
        const handle = await fs.promises.open(s.file, 'r');
        try {
          const want = Math.min(size - offset, budget);
          const chunk = Buffer.alloc(want);
          const { bytesRead } = await handle.read(chunk, 0, want, offset);
          offset += bytesRead;
          budget -= bytesRead;
          if (!stopped && bytesRead) res.write(chunk.subarray(0, bytesRead));
        } finally {
          await handle.close();
        }
        if (budget === 0) return stop();
      }
    } catch (e) {
      // A log file removed while followed is waited for: its writer may be re-creating it.
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') {
        process.stderr.write(`apiserver: following ${s.file}: ${(e as Error).message}\n`);
        return stop();
      }
    }
    if (!stopped) timer = setTimeout(() => void poll(), FOLLOW_POLL_MS);
  };
  timer = setTimeout(() => void poll(), FOLLOW_POLL_MS);
}

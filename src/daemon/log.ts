/**
 * The daemon's log: klog lines (api/klog.ts) whose source is the calling module and line, as
 * klog prints `update.go:123` — here the compiled module, e.g. `update.js:88`.
 */
import { basename } from 'node:path';
import { createKlog, type Klog } from '../api/klog.js';

export interface Logger {
  info(message: string): void;
  warning(message: string): void;
  error(message: string): void;
}

/** `file.js:LINE` of the frame `depth` above this function's caller. */
function callerSource(depth: number): string {
  const frames = (new Error().stack ?? '').split('\n').slice(2 + depth);
  const m = /\(?([^\s()]+):(\d+):\d+\)?$/.exec(frames[0] ?? '');
  return m ? `${basename(m[1]!)}:${m[2]}` : 'daemon.js:0';
}

/** A Logger over a Klog; each line names the module and line that logged it. */
export function sourceLogger(klog: Klog): Logger {
  return {
    info: (message) => klog.info(callerSource(1), message),
    warning: (message) => klog.warning(callerSource(1), message),
    error: (message) => klog.error(callerSource(1), message),
  };
}

/** klog lines to stderr with the real time and pid. */
export function stderrLogger(): Logger {
  return sourceLogger(createKlog({ now: () => new Date(), pid: process.pid, write: (line) => process.stderr.write(`${line}\n`) }));
}

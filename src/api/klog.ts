/**
 * Log lines in klog's header format, as every MCO component prints them and as the seed's
 * transcripts show them: `E0122 10:30:34.398824       1 operator.go:314] message` —
 * severity letter, month and day, wall time to the microsecond (UTC here), the pid right-aligned
 * in 7 columns, the source file and line, then the message. The clock and pid are passed in.
 */

export type KlogSeverity = 'I' | 'W' | 'E' | 'F';

export interface KlogHeader {
  severity: KlogSeverity;
  /** Wall time of the line; microseconds come from `micros` when the clock has them. */
  time: Date;
  /** Microseconds within the second (0–999999); defaults to the Date's milliseconds × 1000. */
  micros?: number;
  pid: number;
  /** `file.go:123` as klog prints it; ours name the TypeScript module (`update.ts:1`). */
  source: string;
}

const two = (n: number): string => String(n).padStart(2, '0');

/** One klog line (no trailing newline). */
export function klogLine(header: KlogHeader, message: string): string {
  const t = header.time;
  const micros = header.micros ?? t.getUTCMilliseconds() * 1000;
  const stamp = `${two(t.getUTCMonth() + 1)}${two(t.getUTCDate())} ${two(t.getUTCHours())}:${two(t.getUTCMinutes())}:${two(t.getUTCSeconds())}.${String(micros).padStart(6, '0')}`;
  return `${header.severity}${stamp} ${String(header.pid).padStart(7, ' ')} ${header.source}] ${message}`;
}

/** A logger that writes klog lines for one component; effects (clock, pid, sink) passed in. */
export interface Klog {
  info(source: string, message: string): void;
  warning(source: string, message: string): void;
  error(source: string, message: string): void;
}

export function createKlog(opts: { now: () => Date; pid: number; write: (line: string) => void }): Klog {
  const emit = (severity: KlogSeverity, source: string, message: string): void =>
    opts.write(klogLine({ severity, time: opts.now(), pid: opts.pid, source }, message));
  return {
    info: (source, message) => emit('I', source, message),
    warning: (source, message) => emit('W', source, message),
    error: (source, message) => emit('E', source, message),
  };
}

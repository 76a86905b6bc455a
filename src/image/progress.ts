/**
 * Progress of blob transfers: on a terminal, one live bar per transfer with bytes, rate and ETA
 * (redrawn at most 10 times a second); elsewhere (logs, CI, the daemon's journal), one plain
 * line per blob when it completes. The clock is passed in so tests drive time.
 */

export interface ProgressTask {
  /** BYTES more have been transferred. */
  advance(bytes: number): void;
  /** The transfer finished (or was skipped: OUTCOME says why, e.g. "already exists"). */
  end(outcome?: string): void;
}

export interface ProgressReporter {
  /** Starts a transfer of TOTAL bytes, shown as LABEL (e.g. `Copying blob sha256:0576762c20fd`). */
  begin(label: string, total: number): ProgressTask;
}

/** Where progress goes: a `process.stderr`-like stream. */
export interface ProgressStream {
  write(text: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];

export function formatBytes(n: number): string {
  let value = n;
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${n} B` : `${value.toFixed(1)} ${UNITS[unit]}`;
}

export function formatDuration(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 60) return `${ms < 10_000 ? (ms / 1000).toFixed(1) : s}s`;
  const m = Math.floor(s / 60);
  return m < 60 ? `${m}m${String(s % 60).padStart(2, '0')}s` : `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}

interface TaskState {
  label: string;
  total: number;
  done: number;
  started: number;
}

/** Bytes per second so far (0 until some time has passed). */
const rateOf = (t: TaskState, now: number): number => (now > t.started ? (t.done * 1000) / (now - t.started) : 0);

/** One bar line: `LABEL [=====>    ]  12.0 MiB / 40.0 MiB  4.0 MiB/s  ETA 7.0s`, fitted to WIDTH. */
export function renderBar(t: TaskState, now: number, width: number): string {
  const rate = rateOf(t, now);
  const eta = rate > 0 && t.total > t.done ? `ETA ${formatDuration(((t.total - t.done) / rate) * 1000)}` : 'ETA --';
  const figures = `${formatBytes(t.done)} / ${formatBytes(t.total)}  ${formatBytes(Math.round(rate))}/s  ${eta}`;
  const barWidth = Math.max(10, Math.min(40, width - t.label.length - figures.length - 6));
  const fraction = t.total > 0 ? Math.min(1, t.done / t.total) : 1;
  const filled = Math.floor(fraction * barWidth);
  const bar = '='.repeat(Math.max(0, filled - 1)) + (filled > 0 ? (fraction >= 1 ? '=' : '>') : '') + ' '.repeat(barWidth - filled);
  return `${t.label} [${bar}] ${figures}`.slice(0, Math.max(width - 1, 20));
}

/** The line written for a finished transfer. */
export function renderDone(t: TaskState, now: number, outcome: string | undefined): string {
  if (outcome) return `${t.label} ${outcome}`;
  return `${t.label} ${formatBytes(t.done)} in ${formatDuration(now - t.started)} (${formatBytes(Math.round(rateOf(t, now)))}/s)`;
}

export function createProgress(stream: ProgressStream, options: { now?: () => number } = {}): ProgressReporter {
  const now = options.now ?? Date.now;
  if (!stream.isTTY) {
    return {
      begin(label, total) {
        const t: TaskState = { label, total, done: 0, started: now() };
        return {
          advance: (bytes) => void (t.done += bytes),
          end: (outcome) => void stream.write(`${renderDone(t, now(), outcome)}\n`),
        };
      },
    };
  }

  const active: TaskState[] = [];
  const finished: string[] = [];
  let drawn = 0;
  let lastDraw = -Infinity;
  const draw = (): void => {
    const width = stream.columns ?? 80;
    let text = drawn > 0 ? `\x1b[${drawn}A` : '';
    for (const line of finished.splice(0)) text += `\r\x1b[2K${line}\n`;
    for (const t of active) text += `\r\x1b[2K${renderBar(t, now(), width)}\n`;
    stream.write(`${text}\x1b[J`);
    drawn = active.length;
    lastDraw = now();
  };
  return {
    begin(label, total) {
      const t: TaskState = { label, total, done: 0, started: now() };
      active.push(t);
      draw();
      return {
        advance(bytes) {
          t.done += bytes;
          if (now() - lastDraw >= 100) draw();
        },
        end(outcome) {
          const i = active.indexOf(t);
          if (i < 0) return;
          active.splice(i, 1);
          finished.push(renderDone(t, now(), outcome));
          draw();
        },
      };
    },
  };
}

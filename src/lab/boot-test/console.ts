/**
 * Reading a boot's serial console: the `MCO-BOOT-TEST KEY=VALUE` lines the test OS's init
 * prints (os-tree.ts), and the signs that a boot went wrong — a kernel panic, the systemd or
 * dracut emergency shell of the initramfs — as soon as they appear, so a failed boot is
 * reported at once rather than at the timeout. Pure functions of the text.
 */

export interface ConsoleReport {
  /** The deployment's os-release VERSION, as the booted system printed it. */
  version?: string;
  /** The kernel command line the booted system ran with. */
  cmdline?: string;
  /** ostree-prepare-root left /run/ostree-booted. */
  ostreeBooted: boolean;
  /** `NAME: LINE` for each line of the files in the deployment's /etc/mco-boot-test/. */
  etc: string[];
  /** The init printed everything (its last line before powering off). */
  done: boolean;
}

/** Text that means the boot failed, with what to call it. First match wins. */
const FAILURES: readonly (readonly [RegExp, string])[] = [
  [/Kernel panic - not syncing[^\r\n]*/, 'kernel panic'],
  [/You are in emergency mode|Entering emergency mode|Cannot open access to console, the root account is locked/, 'emergency shell'],
  [/dracut-emergency|Generating "\/run\/initramfs\/rdsosreport\.txt"/, 'dracut emergency shell'],
];

/** The failure the console shows so far, as `what: the matching text`, or null. */
export function consoleFailure(text: string): string | null {
  for (const [re, what] of FAILURES) {
    const m = re.exec(text);
    if (m) return `${what}: ${m[0].trim()}`;
  }
  return null;
}

// The line may follow escape sequences on the same line (the firmware clears the screen).
const REPORT_LINE = /MCO-BOOT-TEST ([A-Z-]+)=([^\r\n]*)/g;

/** The report lines of the console text. */
export function parseConsole(text: string): ConsoleReport {
  const report: ConsoleReport = { ostreeBooted: false, etc: [], done: false };
  for (const [, key, value] of text.matchAll(REPORT_LINE)) {
    switch (key) {
      case 'VERSION': report.version = value!; break;
      case 'CMDLINE': report.cmdline = value!; break;
      case 'OSTREE-BOOTED': report.ostreeBooted = value === 'yes'; break;
      case 'ETC': report.etc.push(value!); break;
      case 'DONE': report.done = value === 'yes'; break;
      default: break; // a key of a newer init: ignored
    }
  }
  return report;
}

/** The last `n` lines of the console, control sequences removed, for an error message. */
export function lastLines(text: string, n = 25): string {
  // eslint-disable-next-line no-control-regex -- the console's escape sequences are the point
  const clean = text.replace(/\x1b\[[0-9;?]*[A-Za-z]|\x1bc/g, '').replace(/\r/g, '');
  return clean.trimEnd().split('\n').slice(-n).join('\n');
}

/** Where commands print. Passed in, so tests can capture it. */
export interface Output {
  out(data: string | Uint8Array): void;
  err(text: string): void;
}

export const processOutput: Output = {
  out: (data) => process.stdout.write(data),
  err: (text) => process.stderr.write(text),
};

/**
 * A reader that goes away (`mco ostree log | head`) ends the command as SIGPIPE ends the C
 * tools: quietly, with status 141, not with an EPIPE stack trace. Called by the executables.
 */
export function endQuietlyWhenStdoutCloses(): void {
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code !== 'EPIPE') throw e;
    process.exit(128 + 13);
  });
}

/** Where commands print. Passed in, so tests can capture it. */
export interface Output {
  out(data: string | Uint8Array): void;
  err(text: string): void;
}

export const processOutput: Output = {
  out: (data) => process.stdout.write(data),
  err: (text) => process.stderr.write(text),
};

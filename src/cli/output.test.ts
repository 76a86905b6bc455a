import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';

const MCO = fileURLToPath(new URL('./mco.js', import.meta.url));

test('a reader that closes the pipe early (mco … | head) ends mco quietly with status 141, as SIGPIPE ends ostree', async () => {
  const child = spawn(process.execPath, [MCO, 'ostree', '--help'], { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout.destroy(); // closed before mco writes its first byte
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const status = await new Promise<number | null>((resolve) => child.on('close', resolve));
  assert.equal(status, 141, stderr);
  assert.equal(stderr, '');
});

import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

/** src/controller/ of the checkout: this test runs as dist/src/controller/klog-sources.test.js. */
const DIR = fileURLToPath(new URL('../../../src/controller/', import.meta.url));

test("the controllers' klog lines name the file and line they are logged from, as klog's header does", () => {
  const wrong: string[] = [];
  for (const file of readdirSync(DIR).filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts'))) {
    readFileSync(DIR + file, 'utf8')
      .split('\n')
      .forEach((line, i) => {
        for (const m of line.matchAll(/'([\w-]+\.ts):(\d+)'/g)) if (m[1] !== file || Number(m[2]) !== i + 1) wrong.push(`${file}:${i + 1} says ${m[0]}`);
      });
  }
  assert.deepEqual(wrong, []);
});

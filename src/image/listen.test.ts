import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseListenAddress } from './listen.js';

const cases: { text: string; expected: { host: string; port: number } | null }[] = [
  { text: '127.0.0.1:5000', expected: { host: '127.0.0.1', port: 5000 } },
  { text: 'localhost:0', expected: { host: 'localhost', port: 0 } },
  { text: '[::1]:6443', expected: { host: '::1', port: 6443 } },
  { text: '0.0.0.0:65535', expected: { host: '0.0.0.0', port: 65535 } },
  { text: '127.0.0.1:65536', expected: null },
  { text: '127.0.0.1', expected: null },
  { text: ':5000', expected: null },
  { text: '::1:5000', expected: null },
  { text: '[::1]', expected: null },
  { text: '127.0.0.1:http', expected: null },
];
for (const c of cases) {
  test(`parseListenAddress(${JSON.stringify(c.text)})`, () => assert.deepEqual(parseListenAddress(c.text), c.expected));
}

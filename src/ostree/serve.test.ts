/**
 * serveRepo as an HTTP client sees it: whole files, byte ranges (206, 416), ETags (304),
 * HEAD, keep-alive, counted requests and bytes; and nothing outside the repository, whether
 * asked for with `..` or reached through a symlink.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { request as httpRequest, Agent } from 'node:http';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseListen, parseRange, serveRepo, ServeError } from './serve.js';
import { scratch } from './testing.js';

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
  /** Whether the client's socket was reused from an earlier request. */
  reused: boolean;
}

/** A raw request, so paths with `..` reach the server as written. */
function get(url: string, path: string, headers: Record<string, string> = {}, method = 'GET', agent?: Agent): Promise<Reply> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const req = httpRequest({ hostname, port, path, method, headers, ...(agent ? { agent } : {}) }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks), reused: req.reusedSocket }));
    });
    req.on('error', reject);
    req.end();
  });
}

function repoDir(t: Parameters<typeof scratch>[0]): { root: string; outside: string } {
  const dir = scratch(t, 'mco-serve-');
  const root = join(dir, 'repo');
  fs.mkdirSync(join(root, 'objects', 'ab'), { recursive: true });
  fs.writeFileSync(join(root, 'config'), '[core]\nrepo_version=1\nmode=archive-z2\n');
  fs.writeFileSync(join(root, 'objects', 'ab', 'data'), Buffer.from('0123456789'));
  const outside = join(dir, 'secret');
  fs.writeFileSync(outside, 'secret\n');
  fs.symlinkSync(outside, join(root, 'escape'));
  fs.symlinkSync('objects/ab/data', join(root, 'inside-link'));
  return { root, outside };
}

test('files are served whole, by range, and with ETags; HEAD sends no body; stats count it all', async (t) => {
  const { root } = repoDir(t);
  const server = await serveRepo(root, { listen: '127.0.0.1:0' });
  t.after(() => server.close());
  const whole = await get(server.url, '/objects/ab/data');
  assert.equal(whole.status, 200);
  assert.equal(whole.body.toString(), '0123456789');
  assert.equal(whole.headers['accept-ranges'], 'bytes');
  const etag = whole.headers['etag'] as string;
  assert.match(etag, /^"[^"]+"$/);

  const cases: [range: string, status: number, body: string, contentRange: string][] = [
    ['bytes=2-4', 206, '234', 'bytes 2-4/10'],
    ['bytes=7-', 206, '789', 'bytes 7-9/10'],
    ['bytes=-2', 206, '89', 'bytes 8-9/10'],
    ['bytes=5-100', 206, '56789', 'bytes 5-9/10'],
    ['bytes=10-', 416, '', 'bytes */10'],
    ['bytes=4-2', 416, '', 'bytes */10'],
  ];
  for (const [range, status, body, contentRange] of cases) {
    const r = await get(server.url, '/objects/ab/data', { Range: range });
    assert.equal(r.status, status, range);
    if (status === 206) assert.equal(r.body.toString(), body, range);
    assert.equal(r.headers['content-range'], contentRange, range);
  }
  // A range with an If-Range that no longer matches gets the whole file.
  assert.equal((await get(server.url, '/objects/ab/data', { Range: 'bytes=0-1', 'If-Range': '"stale"' })).status, 200);

  assert.equal((await get(server.url, '/objects/ab/data', { 'If-None-Match': etag })).status, 304);
  assert.equal((await get(server.url, '/objects/ab/data', { 'If-None-Match': '"other"' })).status, 200);

  const head = await get(server.url, '/objects/ab/data', {}, 'HEAD');
  assert.equal(head.status, 200);
  assert.equal(head.headers['content-length'], '10');
  assert.equal(head.body.length, 0);
  assert.equal((await get(server.url, '/objects/ab/data', {}, 'POST')).status, 405);

  const stats = server.stats();
  assert.equal(stats.requests, 1 + cases.length + 1 + 2 + 1 + 1);
  // 10 (whole) + 3+3+2+5 (ranges) + 10 (If-Range) + 10 (ETag mismatch).
  assert.equal(stats.bytesServed, 10 + 13 + 10 + 10);
});

test('nothing outside the repository is served: no "..", no symlink out; a symlink inside is followed', async (t) => {
  const { root } = repoDir(t);
  const server = await serveRepo(root, { listen: '127.0.0.1:0' });
  t.after(() => server.close());
  for (const path of ['/../secret', '/objects/../../secret', '/%2e%2e/secret', '/objects/%2E%2E/%2E%2E/secret', '/escape', '/objects', '/nope']) {
    const r = await get(server.url, path);
    assert.equal(r.status, 404, path);
    assert.ok(!r.body.toString().includes('secret'), path);
  }
  assert.equal((await get(server.url, '/inside-link')).body.toString(), '0123456789');
});

test('connections are kept alive between requests', async (t) => {
  const { root } = repoDir(t);
  const server = await serveRepo(root, { listen: '127.0.0.1:0' });
  t.after(() => server.close());
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  t.after(() => agent.destroy());
  assert.equal((await get(server.url, '/config', {}, 'GET', agent)).reused, false);
  assert.equal((await get(server.url, '/config', {}, 'GET', agent)).reused, true);
});

test('listen addresses and ranges parse as documented', () => {
  assert.deepEqual(parseListen('127.0.0.1:8080'), { host: '127.0.0.1', port: 8080 });
  assert.deepEqual(parseListen('[::1]:0'), { host: '::1', port: 0 });
  assert.deepEqual(parseListen(':9000'), { host: '0.0.0.0', port: 9000 });
  for (const bad of ['8080', 'host', 'h:99999', 'h:-1']) assert.throws(() => parseListen(bad), ServeError, bad);
  assert.equal(parseRange('bytes=0-1,3-4', 10), undefined, 'several ranges: the whole file');
  assert.equal(parseRange('items=0-1', 10), undefined);
  assert.equal(parseRange('bytes=-0', 10), 'unsatisfiable');
});

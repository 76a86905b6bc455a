/**
 * The pull's HTTP/1.1 client against raw TCP servers that answer byte by byte what the test
 * scripts: the framings (Content-Length, chunked, until close), interim responses, keep-alive
 * reuse, an idle connection the server dropped, and responses cut short or never sent; and
 * https with the trust it is given.
 */
import assert from 'node:assert/strict';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { test } from 'node:test';
import * as fs from 'node:fs';
import { createSecureContext } from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, HttpError } from './http1.js';
import { makeTestPki, startHttpsServer } from './serve-testing.js';

const OPTIONS = { connections: 2, connectTimeoutMs: 5000, headersTimeoutMs: 5000, bodyTimeoutMs: 5000, keepAliveMs: 5000 };

/**
 * A server whose `answer` gets each request's path and the socket: it writes what it likes.
 * `writeSlowly` sends a response one byte per write, so every parse state is split.
 */
async function rawServer(answer: (path: string, socket: Socket, index: number) => void): Promise<{ url: URL; connections: () => number; requests: () => number; close: () => Promise<void> }> {
  let connections = 0;
  let index = 0;
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    connections++;
    sockets.add(socket);
    let head = '';
    socket.on('data', (d) => {
      head += d.toString('latin1');
      for (let end = head.indexOf('\r\n\r\n'); end >= 0; end = head.indexOf('\r\n\r\n')) {
        const path = head.slice(0, end).split(' ')[1]!;
        head = head.slice(end + 4);
        answer(path, socket, index++);
      }
    });
    socket.on('error', () => {});
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: new URL(`http://127.0.0.1:${port}/`),
    connections: () => connections,
    requests: () => index,
    close: () => new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    }),
  };
}

async function writeSlowly(socket: Socket, text: string): Promise<void> {
  for (const byte of Buffer.from(text, 'latin1')) {
    socket.write(Buffer.of(byte));
    await new Promise((resolve) => setImmediate(resolve));
  }
}

interface Got {
  status: number;
  headers: Record<string, string>;
  body: string;
}

function get(agent: Agent, url: URL, headers: Record<string, string> = {}): Promise<Got> {
  return new Promise((resolve, reject) => {
    let status = 0;
    let got: Record<string, string> = {};
    const chunks: Buffer[] = [];
    agent.get(url, headers, {
      onHeaders: (s, h) => {
        status = s;
        got = h;
      },
      onData: (c) => void chunks.push(Buffer.from(c)),
      onEnd: () => resolve({ status, headers: got, body: Buffer.concat(chunks).toString('latin1') }),
      onError: reject,
    });
  });
}

test('bodies framed by Content-Length, chunked (extensions, trailers) and by the end of the connection, each parsed byte by byte', async () => {
  const server = await rawServer((path, socket) => {
    const responses: Record<string, string> = {
      '/length': 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello',
      '/chunked': 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=1\r\nabc\r\nA\r\n0123456789\r\n0\r\nX-Trailer: t\r\n\r\n',
      '/interim': 'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\nX-A: 1\r\nX-A: 2\r\n\r\n',
      '/close': 'HTTP/1.0 200 OK\r\n\r\nuntil the end',
    };
    void writeSlowly(socket, responses[path]!).then(() => {
      if (path === '/close') socket.end();
    });
  });
  const agent = new Agent({ ...OPTIONS, connections: 1 });
  try {
    assert.deepEqual(await get(agent, new URL('length', server.url)), { status: 200, headers: { 'content-length': '5' }, body: 'hello' });
    assert.equal((await get(agent, new URL('chunked', server.url))).body, 'abc0123456789');
    assert.deepEqual(await get(agent, new URL('interim', server.url)), { status: 204, headers: { 'x-a': '1, 2' }, body: '' });
    assert.equal(server.connections(), 1, 'the connection was kept for the next request');
    assert.equal((await get(agent, new URL('close', server.url))).body, 'until the end');
    assert.equal((await get(agent, new URL('length', server.url))).body, 'hello');
    assert.equal(server.connections(), 2, 'a response ended by closing its connection needs a new one');
  } finally {
    agent.close();
    await server.close();
  }
});

test('a request on a kept connection that the server has since closed goes out again on a new one', async () => {
  const server = await rawServer((_path, socket, index) => {
    // The second request meets a connection closed without an answer, as an idle timeout does.
    if (index === 1) socket.destroy();
    else socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
  });
  const agent = new Agent({ ...OPTIONS, connections: 1 });
  try {
    assert.equal((await get(agent, server.url)).body, 'ok');
    assert.equal((await get(agent, server.url)).body, 'ok');
    assert.equal(server.connections(), 2);
  } finally {
    agent.close();
    await server.close();
  }
});

test('a body cut short, headers that never come, a body that stalls and a malformed response are errors with their codes', async () => {
  const server = await rawServer((path, socket) => {
    if (path === '/cut') socket.end('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhalf');
    if (path === '/stall') socket.write('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhalf');
    if (path === '/garbage') socket.write('SSH-2.0-OpenSSH\r\n\r\n');
    // '/silent' gets nothing
  });
  const agent = new Agent({ ...OPTIONS, headersTimeoutMs: 200, bodyTimeoutMs: 200 });
  try {
    const fails = async (path: string, code: string, message: RegExp): Promise<void> => {
      await assert.rejects(get(agent, new URL(path, server.url)), (e: unknown) => e instanceof HttpError && e.code === code && message.test(e.message));
    };
    await fails('cut', 'closed-early', /before the end of the response body/);
    await fails('silent', 'headers-timeout', /timed out waiting for the response headers/);
    await fails('stall', 'body-timeout', /timed out waiting for the response body/);
    await fails('garbage', 'protocol', /not an HTTP\/1.x response/);
  } finally {
    agent.close();
    await server.close();
  }
});

test('an aborted request fails with the reason given and is not sent again', async () => {
  const reason = new Error('stop');
  let abort: (reason: Error) => void = () => {};
  const server = await rawServer((_path, socket, index) => {
    if (index === 0) abort(reason); // aborted once the server has it
    else socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
  });
  const agent = new Agent({ ...OPTIONS, connections: 1 });
  try {
    const failed = new Promise<unknown>((resolve) => {
      abort = agent.get(server.url, {}, { onHeaders: () => {}, onData: () => {}, onEnd: () => resolve('ended'), onError: resolve });
    });
    assert.equal(await failed, reason);
    const next = await get(agent, new URL('next', server.url));
    assert.equal(next.body, 'ok');
    assert.equal(server.requests(), 2, 'the aborted request was sent again');
  } finally {
    agent.close();
    await server.close();
  }
});

test('https: keep-alive over TLS with the CA it is given; a certificate from a CA it does not trust refused, unless told not to verify', async (t) => {
  const dir = fs.mkdtempSync(join(tmpdir(), 'mco-http1-tls-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const pki = makeTestPki(join(dir, 'pki'));
  fs.mkdirSync(join(dir, 'www'));
  fs.writeFileSync(join(dir, 'www/a'), 'hello');
  fs.writeFileSync(join(dir, 'www/big'), Buffer.alloc(300_000, 7)); // many TLS records
  const server = await startHttpsServer(join(dir, 'www'), pki);
  const trusted = new Agent({ ...OPTIONS, connections: 1, tls: { secureContext: createSecureContext({ ca: fs.readFileSync(pki.caPath) }) } });
  const untrusted = new Agent({ ...OPTIONS, connections: 1 });
  const permissive = new Agent({ ...OPTIONS, connections: 1, tls: { rejectUnauthorized: false } });
  try {
    assert.equal((await get(trusted, new URL('a', server.url))).body, 'hello');
    const big = await get(trusted, new URL('big', server.url));
    assert.deepEqual([big.status, big.body.length], [200, 300_000]);
    assert.equal((await get(trusted, new URL('missing', server.url))).status, 404);
    assert.equal(server.connections(), 1, 'the TLS connection was kept for the next requests');
    await assert.rejects(get(untrusted, new URL('a', server.url)), { code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' });
    assert.equal((await get(permissive, new URL('a', server.url))).body, 'hello');
  } finally {
    for (const a of [trusted, untrusted, permissive]) a.close();
    await server.close();
  }
});

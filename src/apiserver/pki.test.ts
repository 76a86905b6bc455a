/** The API server's PKI: a serving certificate is reused only while it chains to the current CA. */
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ensurePki } from './pki.js';

const chains = (cert: string, ca: string): boolean => new X509Certificate(cert).checkIssued(new X509Certificate(ca)) && new X509Certificate(cert).verify(new X509Certificate(ca).publicKey);

test('ensurePki() keeps the serving certificate across restarts, and re-issues it when the CA was re-made', async (t) => {
  const dir = fs.mkdtempSync(join(tmpdir(), 'mco-pki-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const first = await ensurePki(dir, '127.0.0.1');
  assert.ok(chains(first.cert, first.caCert));
  const again = await ensurePki(dir, '127.0.0.1');
  assert.equal(again.cert, first.cert, 'a fitting certificate is reused');

  // Someone removed the CA (say, to rotate it): the old serving certificate no longer chains.
  fs.rmSync(join(dir, 'ca.crt'));
  fs.rmSync(join(dir, 'ca.key'));
  const rotated = await ensurePki(dir, '127.0.0.1');
  assert.notEqual(rotated.caCert, first.caCert);
  assert.ok(chains(rotated.cert, rotated.caCert), 'the serving certificate is re-issued by the new CA');
  assert.equal(fs.readFileSync(join(dir, 'apiserver.crt'), 'utf8'), rotated.cert);
});

test('ensurePki() re-issues a serving certificate whose key file does not match it', async (t) => {
  const dir = fs.mkdtempSync(join(tmpdir(), 'mco-pki-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const first = await ensurePki(dir, '127.0.0.1');
  fs.writeFileSync(join(dir, 'apiserver.key'), fs.readFileSync(join(dir, 'ca.key')));
  const fixed = await ensurePki(dir, '127.0.0.1');
  assert.notEqual(fixed.cert, first.cert);
  assert.ok(new X509Certificate(fixed.cert).checkPrivateKey((await import('node:crypto')).createPrivateKey(fixed.key)));
});

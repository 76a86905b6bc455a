/**
 * Protobuf request bodies: the `k8s\0` + runtime.Unknown envelope decoded into the object's
 * JSON, and every malformed or unsupported body refused with the reason (bodies built here
 * field by field with protobufjs's Writer, by the wire numbers of k8s.io/api).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import protobuf from 'protobufjs';
import { ApiError } from './errors.js';
import { decodeProtobufObject } from './protobuf.js';

type Build = (w: protobuf.Writer) => void;
const message = (build: Build): Uint8Array => {
  const w = protobuf.Writer.create();
  build(w);
  return w.finish();
};
const bytesField = (w: protobuf.Writer, id: number, b: Uint8Array): void => void w.uint32((id << 3) | 2).bytes(b);
const stringField = (w: protobuf.Writer, id: number, s: string): void => void w.uint32((id << 3) | 2).string(s);
const mapEntry = (w: protobuf.Writer, id: number, k: string, v: string): void => bytesField(w, id, message((e) => (stringField(e, 1, k), stringField(e, 2, v))));

function envelope(apiVersion: string, kind: string, raw: Uint8Array): Buffer {
  const unknown = message((w) => {
    bytesField(w, 1, message((t) => (stringField(t, 1, apiVersion), stringField(t, 2, kind))));
    bytesField(w, 2, raw);
  });
  return Buffer.concat([Buffer.from('k8s\0', 'latin1'), unknown]);
}

const configMap = (extra: Build = () => {}): Uint8Array =>
  message((w) => {
    bytesField(w, 1, message((m) => {
      stringField(m, 1, 'osimageurl');
      stringField(m, 3, 'openshift-machine-config-operator');
      bytesField(m, 8, new Uint8Array()); // creationTimestamp: a zero Time, as Go writes it
      mapEntry(m, 11, 'app', 'mco');
    }));
    mapEntry(w, 2, 'osImageURL', 'quay.io/x@sha256:1');
    extra(w);
  });

function refusal(body: Buffer): ApiError {
  try {
    decodeProtobufObject(body);
  } catch (e) {
    if (e instanceof ApiError) return e;
    throw e;
  }
  assert.fail('the body should have been refused');
}

test('decodeProtobufObject() turns a ConfigMap sent as protobuf into its JSON form', () => {
  assert.deepEqual(decodeProtobufObject(envelope('v1', 'ConfigMap', configMap())), {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: 'osimageurl', namespace: 'openshift-machine-config-operator', creationTimestamp: null, labels: { app: 'mco' } },
    data: { osImageURL: 'quay.io/x@sha256:1' },
  });
});

test('decodeProtobufObject() gives Secret data (bytes) as base64, as its JSON does', () => {
  const secret = message((w) => {
    bytesField(w, 1, message((m) => stringField(m, 1, 'pull')));
    bytesField(w, 2, message((e) => (stringField(e, 1, 'pw'), bytesField(e, 2, Buffer.from([0xff, 0x00, 0x41])))));
    stringField(w, 3, 'Opaque');
  });
  assert.deepEqual(decodeProtobufObject(envelope('v1', 'Secret', secret)), { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'pull' }, data: { pw: '/wBB' }, type: 'Opaque' });
});

test('decodeProtobufObject() refuses bad bodies with the reason', () => {
  const cases: { name: string; body: Buffer; code: number; message: RegExp }[] = [
    { name: 'no k8s\\0 prefix', body: Buffer.from('{"kind":"ConfigMap"}'), code: 400, message: /does not start with the "k8s\\0" prefix/ },
    { name: 'a truncated envelope', body: Buffer.concat([Buffer.from('k8s\0', 'latin1'), Buffer.from([0x0a, 0x50, 0x01])]), code: 400, message: /could not be decoded as a protobuf runtime\.Unknown/ },
    { name: 'a truncated object', body: envelope('v1', 'ConfigMap', configMap().subarray(0, 10)), code: 400, message: /could not be decoded as a protobuf ConfigMap/ },
    { name: 'a kind not decoded from protobuf', body: envelope('v1', 'Node', configMap()), code: 415, message: /protobuf bodies of v1\/Node are not supported by this server - send application\/json/ },
    {
      name: 'a field this server does not know',
      body: envelope('v1', 'ConfigMap', configMap((w) => stringField(w, 9, 'x'))),
      code: 415,
      message: /the protobuf ConfigMap holds fields this server does not decode \(ConfigMap#9\)/,
    },
  ];
  for (const c of cases) {
    const e = refusal(c.body);
    assert.equal(e.code, c.code, c.name);
    assert.match(e.message, c.message, c.name);
  }
});

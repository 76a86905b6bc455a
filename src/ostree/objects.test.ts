import assert from 'node:assert/strict';
import { test } from 'node:test';
import { deserialize, serialize } from './gvariant.js';
import {
  compareNames, contentChecksum, decodeArchiveHeader, decodeCommit, decodeDirMeta, decodeDirTree, encodeArchiveHeader,
  encodeCommit, encodeDirMeta, encodeDirTree, fileChecksum, fileChecksumPrefix, ObjectError, sha256Hex, type Commit, type FileHeader,
} from './objects.js';

// Vectors produced by the real `ostree` 2022.7 (see shared/reference/ostree.md §1.9, §6.4).
const ROOT_DIRMETA = '446a0ef11b7cc167f3b603e585c7eeeeb675faa412d5ec73f62988eb0b6c5488';

test('dirmeta of a root-owned 0755 directory matches libostree bytes and checksum', () => {
  const bytes = encodeDirMeta({ uid: 0, gid: 0, mode: 0o40755, xattrs: [] });
  assert.equal(bytes.toString('hex'), '00000000' + '00000000' + '000041ed');
  assert.equal(sha256Hex(bytes), ROOT_DIRMETA);
  assert.deepEqual(decodeDirMeta(bytes), { uid: 0, gid: 0, mode: 0o40755, xattrs: [] });
});

test('dirmeta with an xattr keeps the NUL in the name', () => {
  const bytes = encodeDirMeta({ uid: 0, gid: 0, mode: 0o40755, xattrs: [['user.dirattr', Buffer.from('1')]] });
  assert.equal(sha256Hex(bytes), 'cf149dc90848767ef9f3dde956dd52a5106a0d56d20b1b085fc15fe0180db5b7');
});

test('dirmeta of a uid 1000 0700 directory stores ids big-endian', () => {
  const bytes = encodeDirMeta({ uid: 1000, gid: 1000, mode: 0o40700, xattrs: [] });
  assert.equal(bytes.toString('hex'), '000003e8000003e8000041c0');
  assert.equal(sha256Hex(bytes), '1bafaf47d4bd514f4673d99893ae641dd776f966837ffee354c729fdb74a562e');
});

test('empty dirtree is the one-byte object libostree writes', () => {
  const bytes = encodeDirTree({ files: [], dirs: [] });
  assert.equal(bytes.toString('hex'), '00');
  assert.equal(sha256Hex(bytes), '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d');
});

test('file checksums match libostree for regular files, symlinks, setuid and xattrs', () => {
  const reg = (mode: number, uid = 0) => ({ uid, gid: uid, mode, symlinkTarget: '', xattrs: [] });
  assert.equal(fileChecksum(reg(0o100644), Buffer.from('hello\n')), '44f778e59f0a4748d6b0c90a47347212a231c4ad1e8f7ea5c5dffc7749153a6b');
  assert.equal(fileChecksum(reg(0o100644)), 'cc700d46f407c6c5ab2d5dde474366a928b7398277e61162e7f8ec06f469f07e');
  assert.equal(fileChecksum(reg(0o100755), Buffer.from('#!/bin/sh\necho hi\n')), '89b350d278ff59ba4780bc377b8ebfee8ade6b55c99fab1ec84e133bc6ea52c5');
  assert.equal(
    fileChecksum({ uid: 0, gid: 0, mode: 0o120777, symlinkTarget: '../etc/hello.txt', xattrs: [] }),
    '4d0a228731129ea8509a38885ff7a64735dbaa9c67d3881bec94cb452197e571',
  );
  assert.equal(
    fileChecksum({ ...reg(0o100644), xattrs: [['user.test', Buffer.from('val\0')]] }, Buffer.from('x')),
    'c3764bcb39941f043b57a30378a94a15bfe9db3bba4fe6bbb7a5b8448a201c9d',
  );
  // Unsorted input, and an empty value that libglnx drops.
  const xattrs: [string, Buffer][] = [['user.b', Buffer.from('2')], ['user.empty', Buffer.alloc(0)], ['user.a', Buffer.from('1')]];
  assert.equal(fileChecksum({ ...reg(0o104755), xattrs }, Buffer.from('a')), '82376fb6cfb16b016963030d34b884c7cdc550ead86c409a1575a9e7a3919496');
  assert.equal(fileChecksum({ ...reg(0o100600, 1000) }, Buffer.from('secret')), '1b7ee07b9c30bc4bbe3bce2a633e57d40487157fe69e8763159aaaeb845ade01');
});

test('archive header of hello.txt matches the .filez prefix libostree writes', () => {
  const h = { uid: 0, gid: 0, mode: 0o100644, symlinkTarget: '', xattrs: [] };
  const bytes = encodeArchiveHeader(h, 6);
  assert.equal(bytes.toString('hex'), '0000001a00000000' + '0000000000000006' + '00000000' + '00000000' + '000081a4' + '00000000' + '00' + '19');
  assert.deepEqual(decodeArchiveHeader(bytes), { header: h, size: 6, dataOffset: bytes.length });
});

const treeA = {
  etc: encodeDirTree({ files: [['empty', 'cc700d46f407c6c5ab2d5dde474366a928b7398277e61162e7f8ec06f469f07e'], ['hello.txt', '44f778e59f0a4748d6b0c90a47347212a231c4ad1e8f7ea5c5dffc7749153a6b']], dirs: [] }),
  usrBin: encodeDirTree({ files: [['hi', '89b350d278ff59ba4780bc377b8ebfee8ade6b55c99fab1ec84e133bc6ea52c5']], dirs: [] }),
};

test('dirtrees sort files and dirs byte-wise and match libostree', () => {
  assert.equal(sha256Hex(treeA.etc), '0a2ca3c6c4e9b59d004abcea1adc308c432ea44fc80f88364292e2354aac2ae8');
  assert.equal(sha256Hex(treeA.usrBin), 'a5e70f9f04f659f65b9127b2bf38c4b1d9a84e218763ef8be22be1a94421691d');
  const usr = encodeDirTree({
    files: [['link', '4d0a228731129ea8509a38885ff7a64735dbaa9c67d3881bec94cb452197e571']],
    dirs: [['bin', sha256Hex(treeA.usrBin), ROOT_DIRMETA]],
  });
  assert.equal(sha256Hex(usr), 'e23a3bbc7e867b5c4a321ef48b2dc59ad9c4c6d2f9d485a6fef794d12fef81c0');
  const root = encodeDirTree({
    files: [
      ['B', 'f276eb605c763f0a4b1ec9d99b6fd96628f2e6fcdee5045a58f348b2c32787d7'],
      ['_u', 'b70ae7320f7795d4e8912468e632560b578997ed16f24aadaf45af7235780ccb'],
      ['a', 'c3764bcb39941f043b57a30378a94a15bfe9db3bba4fe6bbb7a5b8448a201c9d'],
    ],
    dirs: [
      ['empty-dir', '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d', ROOT_DIRMETA],
      ['etc', sha256Hex(treeA.etc), ROOT_DIRMETA],
      ['usr', sha256Hex(usr), ROOT_DIRMETA],
    ],
  });
  assert.equal(root.length, 330);
  assert.equal(sha256Hex(root), '70a8c40c872378af604810b17c9afe73769a8e332829655887fdca6583a9a74d');
  assert.deepEqual(decodeDirTree(root).dirs.map(([n]) => n), ['empty-dir', 'etc', 'usr']);
});

test('commit of tree A with metadata and ref binding matches libostree checksum', () => {
  const commit: Commit = {
    metadata: [
      ['version', { type: 's', value: '1.0' }],
      ['ostree.ref-binding', { type: 'as', value: ['test'] }],
    ],
    parent: null,
    subject: 'subj',
    body: 'body',
    timestamp: 1577836800,
    rootTree: '70a8c40c872378af604810b17c9afe73769a8e332829655887fdca6583a9a74d',
    rootMeta: ROOT_DIRMETA,
  };
  const bytes = encodeCommit(commit);
  assert.equal(bytes.length, 142);
  assert.equal(sha256Hex(bytes), 'f519ffa5aaa7579b0ce3bf424ea6d7ce0da9ce8c69477d001cec70867a0ac054');
  assert.deepEqual(decodeCommit(bytes), commit);
  assert.equal(contentChecksum(commit), 'c1d3a4967d31eea250786ae6a7d24c8f0b3cb3e9f7e4fb0008e51f9114960d1b');
  const noBindings = { ...commit, metadata: commit.metadata.slice(0, 1) };
  assert.equal(sha256Hex(encodeCommit(noBindings)), 'a59ff311d4e9f293efcab7acb2a80c549c372836f314e6ffdb9760210ac77398');
});

test('decoding rejects hostile dirtrees: traversal names and bad offsets', () => {
  const csum = '44f778e59f0a4748d6b0c90a47347212a231c4ad1e8f7ea5c5dffc7749153a6b';
  assert.throws(() => decodeDirTree(encodeDirTree({ files: [['..', csum]], dirs: [] })), /^ObjectError: Invalid path uplink filename '\.\.'$/);
  assert.throws(() => decodeDirTree(encodeDirTree({ files: [['../a', csum]], dirs: [] })), /^ObjectError: Invalid \/ in filename \.\.\/a$/);
  const good = encodeDirTree({ files: [['hi', csum]], dirs: [] });
  const bad = Buffer.from(good);
  bad[bad.length - 2] = 0xff; // array framing offset past the end
  assert.throws(() => decodeDirTree(bad), /Corrupted dirtree/);
});

test('dirtree decoding agrees with the generic GVariant reader on valid, non-ASCII and damaged trees', () => {
  // decodeDirTree reads the common case directly; whatever it returns or rejects must be what
  // reading the GVariant generically gives.
  const reference = (bytes: Buffer): unknown => {
    try {
      const [files, dirs] = deserialize('(a(say)a(sayay))', bytes) as [[string, Buffer][], [string, Buffer, Buffer][]];
      const hex = (b: Buffer): string => {
        if (b.length !== 32) throw new Error('checksum length');
        return b.toString('hex');
      };
      const t = { files: files.map(([n, c]) => [n, hex(c)]), dirs: dirs.map(([n, a, b]) => [n, hex(a), hex(b)]) };
      for (const [n] of [...t.files, ...t.dirs]) if (n === '' || n === '.' || n === '..' || n!.includes('/') || n!.includes('\0')) throw new Error('name');
      return t;
    } catch {
      return 'error';
    }
  };
  const ours = (bytes: Buffer): unknown => {
    try {
      return decodeDirTree(bytes);
    } catch (e) {
      assert.ok(e instanceof ObjectError, `not an ObjectError: ${(e as Error).message}`);
      return 'error';
    }
  };
  let seed = 7;
  const rand = (n: number): number => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) % n);
  const csum = (): string => sha256Hex(Buffer.from([rand(256), rand(256)]));
  const names = ['a', 'bin', 'héllo', 'x'.repeat(300), 'ünïcode-名前', 'lib64', 'z.conf', '.hidden'];
  let decoded = 0;
  let rejected = 0;
  for (let i = 0; i < 400; i++) {
    const pick = (): string[] => [...new Set(Array.from({ length: rand(6) }, () => names[rand(names.length)]!))].sort(compareNames);
    const tree = { files: pick().map((n): [string, string] => [n, csum()]), dirs: pick().map((n): [string, string, string] => [`d-${n}`, csum(), csum()]) };
    const bytes = encodeDirTree(tree);
    assert.deepEqual(ours(bytes), tree);
    // Then damage it: one byte anywhere, or cut it short.
    const bad = Buffer.from(bytes);
    if (i % 3 === 0) bad[rand(bad.length)] ^= 1 << rand(8);
    const damaged = i % 3 === 1 ? bad.subarray(0, rand(bad.length)) : bad;
    const expected = reference(damaged);
    assert.deepEqual(ours(damaged), expected, `damaged tree #${i}`);
    if (expected === 'error') rejected++;
    else decoded++;
  }
  assert.ok(rejected > 50 && decoded > 50, `both outcomes exercised (${rejected} rejected, ${decoded} decoded)`);
});

test('file checksum prefixes laid out directly are the generic serializer\'s bytes', () => {
  const generic = (h: FileHeader): Buffer => {
    const bswap = (n: number): number => Buffer.from(Uint32Array.of(n).buffer).readUInt32BE(0);
    const body = serialize('(uuuusa(ayay))', [bswap(h.uid), bswap(h.gid), bswap(h.mode), 0, h.symlinkTarget, []]);
    const framed = Buffer.alloc(8 + body.length);
    framed.writeUInt32BE(body.length, 0);
    body.copy(framed, 8);
    return framed;
  };
  const targets = ['', 'a', '../lib/libc.so.6', 'ünïcode/名前', 'x'.repeat(230), 'y'.repeat(237), 'z'.repeat(238), 'w'.repeat(70000)];
  for (const [uid, gid] of [[0, 0], [1000, 1000], [65534, 65534], [4294967294, 12]] as const) {
    for (const mode of [0o100644, 0o104755, 0o100000, 0o120777]) {
      for (const symlinkTarget of targets) {
        const h = { uid, gid, mode, symlinkTarget, xattrs: [] };
        assert.deepEqual(fileChecksumPrefix(h), generic(h), `uid ${uid} mode ${mode.toString(8)} target of ${symlinkTarget.length}`);
      }
    }
  }
  // The libostree vectors above pin the layout itself; xattrs still go through the generic path.
  assert.throws(() => fileChecksumPrefix({ uid: 0, gid: 0, mode: 0o120777, symlinkTarget: 'a\0b', xattrs: [] }), /NUL/);
});

test('dirmeta (and user.ostreemeta) without xattrs laid out directly are the generic serializer\'s bytes', () => {
  const bswap = (n: number): number => Buffer.from(Uint32Array.of(n).buffer).readUInt32BE(0);
  for (const [uid, gid] of [[0, 0], [1000, 1000], [4294967294, 12]] as const) {
    for (const mode of [0o40755, 0o100644, 0o104755, 0o120777]) {
      const m = { uid, gid, mode, xattrs: [] };
      assert.deepEqual(encodeDirMeta(m), serialize('(uuua(ayay))', [bswap(uid), bswap(gid), bswap(mode), []]), `uid ${uid} mode ${mode.toString(8)}`);
    }
  }
});

test('archive headers read directly agree with the generic reader, with and without xattrs, whole or damaged', () => {
  const reference = (buf: Buffer): unknown => {
    try {
      const len = buf.readUInt32BE(0);
      if (8 + len > buf.length) throw new Error('truncated');
      const [size, uid, gid, mode, , target, xattrs] = deserialize('(tuuuusa(ayay))', buf.subarray(8, 8 + len)) as [bigint, number, number, number, number, string, [Buffer, Buffer][]];
      const be = (n: number): number => Buffer.from(Uint32Array.of(n).buffer).readUInt32BE(0);
      const names = xattrs.map(([n, v]) => {
        if (n.length === 0 || n[n.length - 1] !== 0) throw new Error('xattr name');
        return [n.subarray(0, -1).toString('utf8'), Buffer.from(v)];
      });
      const bytes = Buffer.alloc(8);
      bytes.writeBigUInt64LE(size);
      return { header: { uid: be(uid), gid: be(gid), mode: be(mode), symlinkTarget: target, xattrs: names }, size: Number(bytes.readBigUInt64BE(0)), dataOffset: 8 + len };
    } catch {
      return 'error';
    }
  };
  const ours = (buf: Buffer): unknown => {
    try {
      return decodeArchiveHeader(buf);
    } catch (e) {
      assert.ok(e instanceof ObjectError, `not an ObjectError: ${(e as Error).message}`);
      return 'error';
    }
  };
  let seed = 11;
  const rand = (n: number): number => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) % n);
  const targets = ['', 'libfoo.so.1', 'ünï/名前', 'x'.repeat(240), 'y'.repeat(300)];
  let plain = 0;
  for (let i = 0; i < 600; i++) {
    const h: FileHeader = {
      uid: [0, 1000, 4294967294][rand(3)]!, gid: rand(70000), mode: [0o100644, 0o120777, 0o104755][rand(3)]!,
      symlinkTarget: targets[rand(targets.length)]!, xattrs: rand(3) === 0 ? [['security.capability', Buffer.from([1, 0, 0, 2, 0x80 + rand(100)])]] : [],
    };
    const buf = encodeArchiveHeader(h, [0, 1, 2 ** 31 + rand(1000), 2 ** 40][rand(4)]!);
    assert.deepEqual(ours(buf), reference(buf), `header #${i}`);
    if (h.xattrs.length === 0) plain++;
    const bad = Buffer.from(buf);
    bad[8 + rand(bad.length - 8)] ^= 1 << rand(8);
    assert.deepEqual(ours(bad), reference(bad), `damaged header #${i}`);
  }
  assert.ok(plain > 100);
});

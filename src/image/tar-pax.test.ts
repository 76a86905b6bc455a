import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parsePaxRecords } from './tar-pax.js';

/** One PAX record, its length prefix counting itself. */
function record(key: string, value: Buffer | string): Buffer {
  const body = Buffer.concat([Buffer.from(` ${key}=`), Buffer.from(value), Buffer.from('\n')]);
  let length = body.length + 1;
  while (String(length).length + body.length !== length) length++;
  return Buffer.concat([Buffer.from(String(length)), body]);
}

const CAPABILITY = Buffer.from('0100000280000000000000000000000000000000', 'hex');

const cases: { name: string; block: Buffer; expected: [string, string][] }[] = [
  { name: 'a text record', block: record('path', 'usr/bin/newuidmap'), expected: [['path', 'usr/bin/newuidmap']] },
  { name: 'a binary value with bytes ≥ 0x80, NULs and a newline', block: record('SCHILY.xattr.security.capability', Buffer.concat([CAPABILITY, Buffer.from('\n=')])), expected: [['SCHILY.xattr.security.capability', `${CAPABILITY.toString('hex')}0a3d`]] },
  { name: 'a later duplicate wins', block: Buffer.concat([record('a', '1'), record('a', '2')]), expected: [['a', '2']] },
  { name: 'an empty value', block: record('SCHILY.xattr.user.empty', ''), expected: [['SCHILY.xattr.user.empty', '']] },
  { name: 'NUL padding after the last record', block: Buffer.concat([record('a', '1'), Buffer.alloc(7)]), expected: [['a', '1']] },
];

for (const c of cases) {
  test(`parsePaxRecords() reads ${c.name}`, () => {
    const got = [...parsePaxRecords(c.block)].map(([k, v]) => [k, c.name.includes('binary') ? v.toString('hex') : v.toString('utf8')]);
    assert.deepEqual(got, c.expected);
  });
}

const malformed: { name: string; block: Buffer }[] = [
  { name: 'no length', block: Buffer.from(' a=1\n') },
  { name: 'a length past the block', block: Buffer.from('99 a=1\n') },
  { name: 'a record not ending in a newline', block: Buffer.from('6 a=12\n') },
  { name: 'a record without "="', block: Buffer.from('6 abc\n') },
];

for (const c of malformed) {
  test(`parsePaxRecords() refuses ${c.name}, naming the offset`, () => {
    assert.throws(() => parsePaxRecords(c.block), /malformed PAX extended header record at byte 0/);
  });
}

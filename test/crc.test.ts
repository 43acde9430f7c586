/**
 * The frame checksum (log-engine 3.1): `zlib.crc32` is the standard CRC-32 (zlib, gzip, Ethernet),
 * and the `crc-32` package, the test oracle, computes the same values.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { crc32 } from 'node:zlib';
import CRC32 from 'crc-32';
import fc from 'fast-check';

/** The oracle's value as an unsigned 32-bit integer. */
function oracle(bytes: Uint8Array): number {
  return CRC32.buf(bytes) >>> 0;
}

test('CRC-32: the known check vectors', () => {
  const vectors: Array<[string, number]> = [
    ['', 0x00000000],
    ['a', 0xe8b7be43],
    ['abc', 0x352441c2],
    ['123456789', 0xcbf43926],
    ['message digest', 0x20159d7f],
    ['abcdefghijklmnopqrstuvwxyz', 0x4c2750bd],
    ['The quick brown fox jumps over the lazy dog', 0x414fa339],
  ];
  for (const [text, expected] of vectors) {
    const bytes = Buffer.from(text, 'latin1');
    assert.equal(crc32(bytes), expected, text);
    assert.equal(oracle(bytes), expected, text);
  }
  // The value is unsigned: zlib.crc32 never returns a negative number.
  assert.ok(crc32(Buffer.from('123456789')) > 0x7fffffff);
  assert.ok(CRC32.buf(Buffer.from('123456789')) < 0);
});

test('CRC-32: special buffers', () => {
  const buffers = [
    Buffer.alloc(0),
    Buffer.alloc(1),
    Buffer.alloc(32),
    Buffer.alloc(4096, 0xff),
    Buffer.from(Array.from({ length: 256 }, (_, index) => index)),
    Buffer.from('{"seq":1,"at":"2026-06-05T12:00:00.000000Z","event":{}}'),
    Buffer.from('é😀€', 'utf8'),
    Buffer.alloc(1 << 20, 0xa5),
  ];
  for (const bytes of buffers) assert.equal(crc32(bytes), oracle(bytes), `${bytes.length} bytes`);
  assert.equal(crc32(Buffer.alloc(32)), 0x190a55ad);
  assert.equal(crc32(Buffer.alloc(32, 0xff)), 0xff6cab0b);
});

test('CRC-32 property: zlib.crc32 equals the crc-32 package for random buffers', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 5000 }), (bytes) => {
      const value = crc32(bytes);
      assert.ok(Number.isInteger(value) && value >= 0 && value <= 0xffffffff);
      assert.equal(value, oracle(bytes));
    }),
    { numRuns: 2000 },
  );
});

test('CRC-32 property: Buffer, Uint8Array and a subarray view of the same bytes agree', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 600 }), fc.nat(100), fc.nat(100), (bytes, before, after) => {
      const padded = new Uint8Array(before + bytes.length + after);
      padded.set(bytes, before);
      const view = padded.subarray(before, before + bytes.length);
      const expected = oracle(bytes);
      assert.equal(crc32(view), expected);
      assert.equal(crc32(Buffer.from(bytes)), expected);
      assert.equal(oracle(view), expected);
    }),
  );
});

test('CRC-32 property: a running value over two parts equals the value over the whole', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 1000 }), fc.uint8Array({ maxLength: 1000 }), (left, right) => {
      const whole = Buffer.concat([left, right]);
      assert.equal(crc32(right, crc32(left)), crc32(whole));
      assert.equal(CRC32.buf(right, CRC32.buf(left)) >>> 0, oracle(whole));
    }),
  );
});

test('CRC-32 property: any single bit flip changes the value', () => {
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 1, maxLength: 512 }), fc.nat(), fc.integer({ min: 0, max: 7 }), (bytes, position, bit) => {
      const flipped = Uint8Array.from(bytes);
      const index = position % flipped.length;
      flipped[index] = (flipped[index] as number) ^ (1 << bit);
      assert.notEqual(crc32(flipped), crc32(bytes));
      assert.equal(crc32(flipped), oracle(flipped));
    }),
  );
});

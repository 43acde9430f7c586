/**
 * src/log/interned-strings.ts: I1 (exactly the decoded bytes), I2 (the same string again), I3
 * (a collision replaces, never confuses).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';

import { internedString } from '../src/log/interned-strings.js';

test('I1: an interned string is what decoding its bytes gives, for any bytes', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 100 }), fc.nat(8), (bytes, pad) => {
      // Inside a larger buffer, at an offset, as the wire and the segment readers use it.
      const buffer = Buffer.concat([Buffer.alloc(pad, 0x41), Buffer.from(bytes), Buffer.alloc(3, 0x42)]);
      const expected = Buffer.from(bytes).toString('utf8');
      assert.equal(internedString(buffer, pad, pad + bytes.length), expected);
      assert.equal(internedString(buffer, pad, pad + bytes.length), expected); // and again, from the cache
    }),
    { numRuns: 3000 },
  );
  for (const text of ['', 'bench-0:cash', 'carteira:€', 'ação', '😀', 'x'.repeat(64), 'y'.repeat(65), '\u0000']) {
    const bytes = Buffer.from(text, 'utf8');
    assert.equal(internedString(bytes, 0, bytes.length), text);
  }
  const invalid = Buffer.from([0x61, 0xff, 0xc3]);
  assert.equal(internedString(invalid, 0, invalid.length), invalid.toString('utf8'));
});

test('the same bytes at other offsets give the same string; I3: more strings than slots never mix', () => {
  const first = Buffer.from('xbooks:assets/USD');
  const second = Buffer.from('__books:assets/USD__');
  const a = internedString(first, 1, first.length);
  const b = internedString(second, 2, second.length - 2);
  assert.equal(a, b);
  // More distinct strings than the cache has slots: every answer still matches its own bytes.
  const texts = Array.from({ length: 5000 }, (_, index) => `book-${index % 97}:account-${index}`);
  for (let round = 0; round < 2; round++) {
    for (const text of texts) {
      const bytes = Buffer.from(text);
      assert.equal(internedString(bytes, 0, bytes.length), text);
    }
  }
});

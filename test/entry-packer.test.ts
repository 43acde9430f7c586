import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Packr } from 'msgpackr';
import { EntryPacker } from './support/entry-packer.js';

// The loader's own settings (src/snapshot.ts).
const packr = new Packr({ useRecords: false, int64AsType: 'bigint', mapsAsObjects: true });

const numberValue = fc.oneof(
  fc.constantFrom(0, 1, 127, 128, 255, 256, 65_535, 65_536, 2 ** 32 - 1, 2 ** 32, Number.MAX_SAFE_INTEGER, 1_767_225_600_123_456, -1, -129, -(2 ** 40)),
  fc.maxSafeNat(),
  fc.integer(),
);
const text = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.string({ unit: 'grapheme', maxLength: 100 }),
  fc.nat({ max: 70_000 }).map((length) => 'k'.repeat(length)),
  fc.nat({ max: 30_000 }).map((length) => 'é'.repeat(length)),
);
const entry = fc.tuple(text, fc.uint8Array({ minLength: 16, maxLength: 16 }), numberValue, numberValue);

test('entry packer: msgpackr reads every record back to the values written', () => {
  fc.assert(
    fc.property(fc.constantFrom('txids', 'idem'), fc.array(entry, { maxLength: 40 }), (tag, entries) => {
      const packer = new EntryPacker();
      packer.begin(tag, entries.length);
      for (const [key, txid, first, second] of entries) {
        packer.arrayHeader(4);
        packer.string(key);
        packer.binary(txid, 0, 16);
        packer.number(first);
        packer.number(second);
      }
      const decoded = packr.unpack(packer.finish()) as [string, Array<[string, Uint8Array, number, number]>];
      assert.equal(decoded[0], tag);
      assert.equal(decoded[1].length, entries.length);
      decoded[1].forEach(([key, txid, first, second], index) => {
        const [expectedKey, expectedTxid, expectedFirst, expectedSecond] = entries[index]!;
        assert.equal(key, expectedKey);
        assert.deepEqual(Uint8Array.from(txid), expectedTxid);
        assert.equal(typeof first, 'number'); // never a bigint: the loader wants numbers
        assert.equal(first, expectedFirst);
        assert.equal(second, expectedSecond);
      });
    }),
    { numRuns: 300 },
  );
});

test('entry packer: array headers of every width, and records of 65,536 entries', () => {
  for (const count of [0, 15, 16, 65_535, 65_536]) {
    const packer = new EntryPacker();
    packer.begin('txids', count);
    for (let index = 0; index < count; index++) packer.number(index);
    const decoded = packr.unpack(packer.finish()) as [string, number[]];
    assert.equal(decoded[1].length, count);
    assert.equal(decoded[1][count - 1], count === 0 ? undefined : count - 1);
  }
});

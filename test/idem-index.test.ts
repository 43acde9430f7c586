/**
 * The idempotency index's hot records (src/idem-index.ts) against a plain Map model: inserts,
 * duplicates, lookups, spills that succeed or fail, and dropping a prefix, in any order.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { IdemIndex, type IdemRecord } from '../src/log/idem-index.js';

type Op =
  | { kind: 'insert'; key: string }
  | { kind: 'spill'; keep: number; succeed: boolean }
  | { kind: 'drop'; fraction: number }
  | { kind: 'reserve'; count: number }
  | { kind: 'append'; keys: string[] };

const key = fc.oneof(fc.constantFrom('a', 'b', 'k-1', 'k-2', ''), fc.string({ maxLength: 6 }), fc.string({ unit: 'grapheme', maxLength: 3 }));
const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 8, arbitrary: key.map((value) => ({ kind: 'insert' as const, key: value })) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('spill' as const), keep: fc.nat({ max: 40 }), succeed: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('drop' as const), fraction: fc.double({ min: 0, max: 1, noNaN: true }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('reserve' as const), count: fc.nat({ max: 300 }) }) },
  { weight: 2, arbitrary: fc.array(key, { maxLength: 30 }).map((keys) => ({ kind: 'append' as const, keys })) },
);

/** Column arguments of IdemIndex#appendHot for `keys`, with seqs from `seq + 1`. */
function columnsOf(keys: string[], seq: number): { records: IdemRecord[]; seqs: Float64Array; atUs: Float64Array; txids: Uint8Array } {
  const records = keys.map((_, index) => ({ txid: randomUUID(), seq: seq + 1 + index, atUs: 1_767_225_600_000_000 + seq + 1 + index }));
  const txids = new Uint8Array(keys.length * 16);
  records.forEach((record, index) => txids.set(Buffer.from(record.txid.replaceAll('-', ''), 'hex'), index * 16));
  return { records, seqs: Float64Array.from(records, (record) => record.seq), atUs: Float64Array.from(records, (record) => record.atUs), txids };
}

test('IdemIndex hot records behave like an insertion-ordered Map with a FIFO front', () => {
  fc.assert(
    fc.property(fc.array(op, { maxLength: 400 }), (ops) => {
      const index = new IdemIndex();
      const hot = new Map<string, IdemRecord>(); // the model of the hot FIFO
      const gone = new Map<string, IdemRecord>(); // spilled or dropped: in no run here, so forgotten
      let seq = 0;
      for (const step of ops) {
        if (step.kind === 'insert') {
          seq++;
          const record = { txid: randomUUID(), seq, atUs: 1_767_225_600_000_000 + seq };
          const known = hot.has(step.key);
          assert.equal(index.insert(step.key, record), !known);
          if (!known) hot.set(step.key, record);
        } else if (step.kind === 'spill') {
          const spilling = index.beginSpill(step.keep);
          const expected = [...hot].slice(0, Math.max(0, hot.size - step.keep));
          assert.equal(spilling, expected.length);
          const entries: Array<[string, number, number]> = [];
          for (const entry of index.spillingEntries()) entries.push([entry.key, entry.seq, entry.atUs]); // one view, read at once
          assert.deepEqual(entries, expected.map(([spilledKey, record]) => [spilledKey, record.seq, record.atUs]));
          assert.deepEqual([...index.hotRecords(spilling)], expected, 'the spilling records are the oldest hot ones');
          for (const [spilledKey, record] of expected) assert.deepEqual(index.get(spilledKey), record, 'still found while spilling');
          if (step.succeed) {
            index.endSpill(expected.at(-1)?.[1].seq ?? index.spilledThroughSeq);
            for (const [spilledKey, record] of expected) {
              hot.delete(spilledKey);
              gone.set(spilledKey, record);
            }
          } else {
            index.abortSpill();
          }
        } else if (step.kind === 'reserve') {
          index.reserveHot(step.count);
        } else if (step.kind === 'append') {
          const { records, seqs, atUs, txids } = columnsOf(step.keys, seq);
          const accepted = new Set(step.keys).size === step.keys.length && step.keys.every((appended) => !hot.has(appended));
          assert.equal(index.appendHot(step.keys, seqs, atUs, txids), accepted);
          if (accepted) {
            step.keys.forEach((appended, position) => hot.set(appended, records[position]!));
            seq += step.keys.length;
          }
        } else {
          const records = [...hot.values()];
          const through = records.length === 0 ? 0 : records[Math.floor(step.fraction * (records.length - 1))]!.seq;
          index.dropThrough(through);
          for (const [droppedKey, record] of [...hot]) {
            if (record.seq > through) break;
            hot.delete(droppedKey);
            gone.set(droppedKey, record);
          }
        }
        assert.equal(index.hotSize, hot.size);
      }
      assert.deepEqual([...index.hotRecords()], [...hot]);
      for (const [hotKey, record] of hot) {
        assert.deepEqual(index.get(hotKey), record);
        assert.equal(index.hasHot(hotKey), true);
      }
      for (const goneKey of gone.keys()) if (!hot.has(goneKey)) assert.equal(index.hasHot(goneKey), false);
      const entries: Array<[string, number, number]> = [];
      for (const entry of index.hotEntries()) entries.push([entry.key, entry.seq, entry.atUs]); // one view, read at once
      assert.deepEqual(entries, [...hot].map(([hotKey, record]) => [hotKey, record.seq, record.atUs]));
    }),
    { numRuns: 300 },
  );
});

test('IdemIndex keeps 200,000 hot records findable across growth', () => {
  const index = new IdemIndex();
  const txid = '0190f3c2-8c1e-7a4b-9d2e-3f1a2b3c4d5e';
  for (let seq = 1; seq <= 200_000; seq++) assert(index.insertNew(`key-${seq}`, seq, seq * 10, txid));
  assert.equal(index.insertNew('key-7', 200_001, 0, txid), false, 'a key already hot is refused');
  for (let seq = 1; seq <= 200_000; seq += 997) assert.deepEqual(index.get(`key-${seq}`), { txid, seq, atUs: seq * 10 });
  assert.equal(index.get('key-0'), undefined);
});

test('reserving after the front was dropped keeps every lookup right (positions move)', () => {
  const index = new IdemIndex();
  const txid = '0190f3c2-8c1e-7a4b-9d2e-3f1a2b3c4d5e';
  index.reserveHot(100);
  for (let seq = 1; seq <= 100; seq++) assert(index.insertNew(`k${seq}`, seq, seq, txid));
  index.dropThrough(50);
  index.reserveHot(60); // more than the arrays hold: the 50 live records slide to the front
  for (let seq = 51; seq <= 100; seq++) assert.deepEqual(index.get(`k${seq}`), { txid, seq, atUs: seq }, `k${seq}`);
  assert.equal(index.insertNew('k75', 101, 101, txid), false, 'a hot key is still refused');
  for (let seq = 1; seq <= 50; seq++) assert.equal(index.hasHot(`k${seq}`), false);
});

test('appendHot: a bulk load of 100,000 records, then refusals that change nothing', () => {
  const index = new IdemIndex();
  const keys = Array.from({ length: 100_000 }, (_, position) => `key-${position}-é`);
  const { records, seqs, atUs, txids } = columnsOf(keys, 0);
  index.reserveHot(keys.length);
  assert(index.appendHot(keys.slice(0, 60_000), seqs.subarray(0, 60_000), atUs.subarray(0, 60_000), txids.subarray(0, 60_000 * 16)));
  assert(index.appendHot(keys.slice(60_000), seqs.subarray(60_000), atUs.subarray(60_000), txids.subarray(60_000 * 16)));
  assert.equal(index.hotSize, 100_000);
  for (let position = 0; position < keys.length; position += 991) assert.deepEqual(index.get(keys[position]!), records[position]);
  const again = columnsOf(['fresh', 'key-5-é'], 100_000);
  assert.equal(index.appendHot(['fresh', 'key-5-é'], again.seqs, again.atUs, again.txids), false, 'a key already hot');
  assert.equal(index.hotSize, 100_000);
  assert.equal(index.hasHot('fresh'), false, 'nothing of a refused append stays');
  const twice = columnsOf(['x', 'y', 'x'], 100_000);
  assert.equal(index.appendHot(['x', 'y', 'x'], twice.seqs, twice.atUs, twice.txids), false, 'a key twice in the columns');
  assert.equal(index.hasHot('y'), false);
  assert(index.insertNew('fresh', 100_001, 1, records[0]!.txid), 'the index still takes new records');
  assert.throws(() => index.appendHot(['late'], Float64Array.of(5), Float64Array.of(5), new Uint8Array(16)), /seq order/, 'seqs below the newest record are a bug of the caller');
});

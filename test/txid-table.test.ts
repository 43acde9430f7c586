import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { test } from 'node:test';
import fc from 'fast-check';
import { TxidTable } from '../src/log/txid-table.js';

test('TxidTable answers like a Map, keeps insertion order and refuses duplicates', () => {
  fc.assert(
    fc.property(fc.array(fc.tuple(fc.uuid(), fc.integer({ min: 0, max: 2 ** 40 })), { maxLength: 300 }), (pairs) => {
      const table = new TxidTable();
      const model = new Map<string, number>();
      for (const [txid, value] of pairs) {
        assert.equal(table.set(txid, value), !model.has(txid));
        if (!model.has(txid)) model.set(txid, value);
      }
      assert.equal(table.size, model.size);
      assert.deepEqual([...table.entries()], [...model.entries()]);
      for (const [txid, value] of model) assert.equal(table.get(txid), value);
      assert.equal(table.get('00000000-0000-0000-0000-000000000000'), model.get('00000000-0000-0000-0000-000000000000'));
    }),
  );
});

test('TxidTable grows past many resizes, and bulk key bytes rebuild an equal table', () => {
  const table = new TxidTable();
  const txids = Array.from({ length: 20_000 }, () => randomUUID());
  txids.forEach((txid, index) => assert(table.set(txid, index)));
  assert.equal(table.size, txids.length);
  for (let index = 0; index < txids.length; index += 97) assert.equal(table.get(txids[index]!), index);
  assert.equal(table.get(randomUUID()), undefined);
  const copy = new TxidTable();
  const bytes = table.keyBytes();
  for (let offset = 0; offset < bytes.length; offset += 16) copy.setBytes(bytes, offset, offset / 16);
  assert.deepEqual([...copy.keys()], txids);
  assert.equal(copy.has(txids[123]!), true);
});

test('TxidTable.reserve keeps what is there and makes room in one step', () => {
  fc.assert(
    fc.property(fc.array(fc.uuid(), { maxLength: 200 }), fc.nat({ max: 5000 }), fc.array(fc.uuid(), { maxLength: 200 }), (before, room, after) => {
      const table = new TxidTable();
      const model = new Map<string, number>();
      const add = (txid: string): void => {
        assert.equal(table.set(txid, model.size), !model.has(txid));
        if (!model.has(txid)) model.set(txid, model.size);
      };
      before.forEach(add);
      table.reserve(room);
      after.forEach(add);
      assert.deepEqual([...table.entries()], [...model.entries()]);
      for (const [txid, value] of model) assert.equal(table.get(txid), value);
    }),
    { numRuns: 200 },
  );
});

test('TxidTable#importColumns appends in bulk like set, and refuses a duplicate without a change', () => {
  fc.assert(
    fc.property(fc.array(fc.oneof(fc.tuple(fc.uuid(), fc.integer({ min: 0, max: 2 ** 40 })).map((pair) => [pair]), fc.array(fc.tuple(fc.uuid(), fc.integer({ min: 0, max: 2 ** 40 })), { maxLength: 40 })), { maxLength: 30 }), (groups) => {
      const table = new TxidTable();
      const model = new Map<string, number>();
      for (const group of groups) {
        const keys = new Uint8Array(group.length * 16);
        group.forEach(([txid], index) => keys.set(Buffer.from(txid.replaceAll('-', ''), 'hex'), index * 16));
        const values = Float64Array.from(group, ([, value]) => value);
        const accepted = new Set(group.map(([txid]) => txid)).size === group.length && group.every(([txid]) => !model.has(txid));
        assert.equal(table.importColumns(keys, values), accepted);
        if (accepted) for (const [txid, value] of group) model.set(txid, value);
        assert.equal(table.size, model.size);
      }
      assert.deepEqual([...table.entries()], [...model.entries()]);
      for (const [txid, value] of model) assert.equal(table.get(txid), value);
      const fresh = randomUUID();
      assert(table.set(fresh, 1), 'the table still takes new entries');
      assert.equal(table.get(fresh), 1);
    }),
    { numRuns: 200 },
  );
});

test('TxidTable#importColumns: a txid already present, or twice in the columns, is refused and changes nothing', () => {
  const table = new TxidTable();
  const txids = Array.from({ length: 1000 }, () => randomUUID());
  const bytesOf = (list: string[]): Uint8Array => {
    const keys = new Uint8Array(list.length * 16);
    list.forEach((txid, index) => keys.set(Buffer.from(txid.replaceAll('-', ''), 'hex'), index * 16));
    return keys;
  };
  const values = (count: number, from: number): Float64Array => Float64Array.from({ length: count }, (_, index) => from + index);
  assert(table.importColumns(bytesOf(txids.slice(0, 900)), values(900, 1)));
  const fresh = randomUUID();
  assert.equal(table.importColumns(bytesOf([fresh, txids[5]!]), values(2, 901)), false, 'already present');
  assert.equal(table.importColumns(bytesOf([fresh, txids[950]!, fresh]), values(3, 901)), false, 'twice in the columns');
  assert.equal(table.size, 900);
  assert.equal(table.get(fresh), undefined);
  assert.equal(table.get(txids[950]!), undefined);
  assert(table.importColumns(bytesOf(txids.slice(900)), values(100, 901)));
  assert.deepEqual([...table.entries()], txids.map((txid, index) => [txid, index + 1]));
});

test("TxidTable#adoptColumns takes another table's entries and index: it answers like that table and keeps growing", () => {
  fc.assert(
    fc.property(fc.uniqueArray(fc.uuid(), { minLength: 1, maxLength: 400 }), fc.array(fc.uuid(), { maxLength: 100 }), (txids, later) => {
      const source = new TxidTable();
      txids.forEach((txid, index) => source.set(txid, index));
      const table = new TxidTable();
      table.adoptColumns(source.keyBytes(), new Float64Array(txids.length).fill(7), source.indexCopy());
      const model = new Map(txids.map((txid) => [txid, 7]));
      for (const txid of later) {
        assert.equal(table.set(txid, 8), !model.has(txid));
        if (!model.has(txid)) model.set(txid, 8);
      }
      assert.deepEqual([...table.entries()], [...model.entries()]);
      for (const [txid, value] of model) assert.equal(table.get(txid), value);
      assert.equal(table.get('00000000-0000-0000-0000-000000000000'), model.get('00000000-0000-0000-0000-000000000000'));
      // The source is not shared: its own entries are unchanged.
      assert.equal(source.size, txids.length);
    }),
    { numRuns: 200 },
  );
});

test('TxidTable#adoptColumns refuses an index that does not fit the entries, and a table that is not empty', () => {
  const source = new TxidTable();
  const txids = Array.from({ length: 100 }, () => randomUUID());
  txids.forEach((txid, index) => source.set(txid, index));
  const keys = source.keyBytes();
  const values = new Float64Array(100);
  const index = source.indexCopy();
  const duplicated = index.slice();
  const first = duplicated.findIndex((position) => position !== -1);
  const second = duplicated.findIndex((position, slot) => slot > first && position !== -1);
  duplicated[second] = duplicated[first]!;
  assert.throws(() => new TxidTable().adoptColumns(keys, values, duplicated), 'a position twice');
  assert.throws(() => new TxidTable().adoptColumns(keys.subarray(0, 99 * 16), values.subarray(0, 99), index), 'a position past the entries');
  assert.throws(() => new TxidTable().adoptColumns(keys, values, new Int32Array(128).fill(-1)), 'entries missing from the index');
  assert.throws(() => new TxidTable().adoptColumns(keys, values, index.subarray(0, 100)), 'not a power of two');
  const used = new TxidTable();
  used.set(randomUUID(), 1);
  assert.throws(() => used.adoptColumns(keys, values, index), 'not empty');
  const adopted = new TxidTable();
  adopted.adoptColumns(keys, values, index);
  assert.equal(adopted.get(txids[42]!), 0);
});

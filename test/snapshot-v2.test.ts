/**
 * Snapshot format version 2 (src/log/snapshot.ts): the txid and idempotency tables as columns.
 *
 * - Random book states (many accounts and postings, txids, hot idempotency records with unicode
 *   and long keys, spilledThroughSeq > 0) round-trip through a version-2 file to the same state,
 *   and through a version-1 file (test/support/snapshot-v1.ts) to that same state too.
 * - Every way a version-2 column record can be malformed makes the file unusable (R12), with a
 *   message naming the check: never a crash, never a silently different state.
 * - A store whose newest snapshot is a version-1 file opens from it.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { describe, test } from 'node:test';
import { BookState } from '../src/log/book-state.js';
import { RealFileSystem } from '../src/log/file-system.js';
import { LogStore } from '../src/log/log-store.js';
import type { LogStoreWarning } from '../src/log/options.js';
import { bookDirectory } from '../src/log/segment.js';
import {
  captureCut,
  COLUMN_ENTRIES_PER_RECORD,
  IDEM_KEY_BYTES_PER_RECORD_TARGET,
  loadSnapshot,
  snapshotFileName,
  SnapshotUnusable,
  SnapshotWriter,
} from '../src/log/snapshot.js';
import type { AccountDef, Transaction } from '../src/core/types.js';
import { assertSameState } from './support/book-state-compare.js';
import { makeTempDir, mkTx, removeDir, seed } from './support/log-store-fixtures.js';
import { snapshotFileV1, writeSnapshotV1 } from './support/snapshot-v1.js';
import { mulberry32 } from './support/prng.js';
import { f64Bytes, forgedSnapshot, snapshotPackr, snapshotRecords, u32Bytes, withPayload } from './support/snapshot-bytes.js';

const realFs = new RealFileSystem();
const BOOK = 'b';
const AT_US = 1_700_000_000_000_000;
const positionOf = (seq: number): { base: number; offset: number } => ({ base: Math.max(1, seq - 7), offset: seq * 100 });


function uuidFrom(next: () => number): string {
  const hex = Array.from({ length: 32 }, () => Math.floor(next() * 16).toString(16)).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-a${hex.slice(17, 20)}-${hex.slice(20)}`;
}

const KEY_PIECES = ['k', 'é', '日本', '😀', 'Ω', '-', 'x'.repeat(40), 'ß', '\u{10FFFF}', '\u00A0'];

interface RandomBook {
  accounts: number;
  transactions: number;
  /** One key in so many is long (about 100 KiB); 0 for none. */
  longKeyEvery: number;
  spill: boolean;
}

/** A book state built through BookState#apply, as replay builds it. */
function randomState(seed: number, shape: RandomBook): BookState {
  const next = mulberry32(seed);
  const state = new BookState(BOOK);
  let seq = 0;
  let atUs = AT_US;
  const paths: string[] = [];
  for (let index = 0; index < shape.accounts; index++) {
    const def: AccountDef = { id: { book: BOOK, path: `acct-${index}-${KEY_PIECES[index % KEY_PIECES.length]}` }, asset: 'USD', kind: index % 2 === 0 ? 'asset' : 'income' };
    state.apply(++seq, atUs, { kind: 'account_opened', def, cfg: { normal_side: null, min_balance: null } });
    paths.push(def.id.path);
  }
  for (let index = 0; index < shape.transactions; index++) {
    if (next() < 0.3) atUs += Math.floor(next() * 5_000_000); // batchmates share a commit time
    let key = `t${index}-`;
    const pieces = Math.floor(next() * 6);
    for (let piece = 0; piece < pieces; piece++) key += KEY_PIECES[Math.floor(next() * KEY_PIECES.length)];
    if (shape.longKeyEvery > 0 && index % shape.longKeyEvery === 0) key += 'λ'.repeat(50_000 + Math.floor(next() * 1000));
    const debit = paths[Math.floor(next() * paths.length)]!;
    let credit = paths[Math.floor(next() * paths.length)]!;
    if (credit === debit) credit = paths[(paths.indexOf(debit) + 1) % paths.length]!;
    const minor = next() < 0.1 ? 2n ** 50n + BigInt(index) : BigInt(1 + Math.floor(next() * 1_000_000));
    const tx: Transaction = {
      id: uuidFrom(next),
      book: BOOK,
      postings: [
        { account: { book: BOOK, path: debit }, amount: { minor, asset: 'USD' }, direction: 'debit' },
        { account: { book: BOOK, path: credit }, amount: { minor, asset: 'USD' }, direction: 'credit' },
      ],
      idempotency_key: key,
      external_refs: [],
      metadata: null,
      occurred_at: new Date(atUs / 1000).toISOString(),
    };
    state.apply(++seq, atUs, { kind: 'transaction_posted', ...tx });
  }
  if (shape.spill && state.idempotency.hotSize > 2) {
    // As after a spill: the oldest records are in a run, the hot map holds the rest (I3).
    const through = state.idempotency.hotRecords().next().value![1].seq + Math.floor(state.idempotency.hotSize / 3);
    state.idempotency.dropThrough(through);
    state.idempotency.spilledThroughSeq = through;
  }
  return state;
}

function withTemp(body: (dir: string) => Promise<void> | void): Promise<void> | void {
  const dir = makeTempDir();
  const done = (): void => removeDir(dir);
  try {
    const result = body(dir);
    if (result instanceof Promise) return result.finally(done);
    done();
    return undefined;
  } catch (error) {
    done();
    throw error;
  }
}

function writeSnapshot(bookDir: string, state: BookState, budget = 256 * 1024): string {
  fs.mkdirSync(bookDir, { recursive: true });
  const writer = new SnapshotWriter(realFs, bookDir, captureCut(state, positionOf));
  while (!writer.step(budget));
  return writer.finalPath;
}





function f64s(column: unknown): number[] {
  const bytes = Buffer.from(column as Uint8Array);
  return Array.from({ length: bytes.length / 8 }, (_, index) => bytes.readDoubleLE(index * 8));
}

function u32s(column: unknown): number[] {
  const bytes = Buffer.from(column as Uint8Array);
  return Array.from({ length: bytes.length / 4 }, (_, index) => bytes.readUInt32LE(index * 4));
}

describe('snapshot format version 2: round trips', () => {
  test('random states round-trip through version 2 and version 1 to the same state', () =>
    withTemp((dir) => {
      for (let seed = 1; seed <= 24; seed++) {
        const next = mulberry32(seed * 7919);
        const shape: RandomBook = {
          accounts: 2 + Math.floor(next() * 40),
          transactions: Math.floor(next() * 400),
          longKeyEvery: seed % 4 === 0 ? 37 : 0,
          spill: seed % 2 === 0,
        };
        const state = randomState(seed, shape);
        const seq = state.seqNext - 1;
        const v2 = writeSnapshot(path.join(dir, `v2-${seed}`), state, seed % 3 === 0 ? 1 : 256 * 1024);
        assert.equal(fs.readFileSync(v2).readUInt32LE(8), 2);
        const fromV2 = loadSnapshot(realFs, v2, BOOK, seq).state;
        assertSameState(fromV2, state);
        const v1 = writeSnapshotV1(path.join(dir, `v1-${seed}`), captureCut(state, positionOf));
        assert.equal(fs.readFileSync(v1).readUInt32LE(8), 1);
        const fromV1 = loadSnapshot(realFs, v1, BOOK, seq).state;
        assertSameState(fromV1, state);
        assertSameState(fromV1, fromV2);
        // Lookups work on the loaded tables, and keys come back exactly (unicode included).
        for (const [key, record] of state.idempotency.hotRecords()) assert.deepEqual(fromV2.idempotency.get(key), record, JSON.stringify(key.slice(0, 40)));
        for (const [txid, txSeq] of state.txids.entries()) assert.equal(fromV2.txids.get(txid), txSeq);
        if (shape.spill && state.idempotency.spilledThroughSeq > 0) assert(fromV2.idempotency.spilledThroughSeq > 0);
      }
    }));

  test('tables larger than one record: txids and idem split at COLUMN_ENTRIES_PER_RECORD, and idem keys at the byte target', () =>
    withTemp((dir) => {
      const transactions = COLUMN_ENTRIES_PER_RECORD + 1000;
      const state = randomState(99, { accounts: 300, transactions, longKeyEvery: 0, spill: true });
      // Keys long enough that the key bytes, not the count, end some idem records.
      const longKeys = randomState(7, { accounts: 3, transactions: 200, longKeyEvery: 1, spill: false });
      for (const [book, expectedIdemRecords] of [
        [state, Math.ceil(state.idempotency.hotSize / COLUMN_ENTRIES_PER_RECORD)],
        [longKeys, null],
      ] as const) {
        const file = writeSnapshot(path.join(dir, String(book.seqNext)), book);
        const bytes = fs.readFileSync(file);
        const records = snapshotRecords(bytes);
        const txidRecords = records.filter((record) => record[0] === 'txids');
        const idemRecords = records.filter((record) => record[0] === 'idem');
        assert.equal(txidRecords.length, Math.ceil(book.txids.size / COLUMN_ENTRIES_PER_RECORD));
        assert.deepEqual(txidRecords.map((record) => record[1]).reduce((sum, count) => (sum as number) + (count as number), 0), book.txids.size);
        if (expectedIdemRecords !== null) assert.equal(idemRecords.length, expectedIdemRecords);
        else {
          assert(idemRecords.length > 1, 'long keys end records early');
          for (const record of idemRecords) {
            const keyBytes = u32s(record[2]).reduce((sum, length) => sum + length, 0);
            assert(keyBytes - u32s(record[2]).at(-1)! < IDEM_KEY_BYTES_PER_RECORD_TARGET, 'a record ends as soon as its keys reach the target');
          }
        }
        assert.equal(idemRecords.map((record) => record[1] as number).reduce((sum, count) => sum + count, 0), book.idempotency.hotSize);
        const loaded = loadSnapshot(realFs, file, BOOK, book.seqNext - 1).state;
        assertSameState(loaded, book);
        const v1 = loadSnapshot(realFs, writeSnapshotV1(path.join(dir, `v1-${book.seqNext}`), captureCut(book, positionOf)), BOOK, book.seqNext - 1).state;
        assertSameState(v1, loaded);
      }
    }));

  test('loading reads the file a chunk at a time: any chunk size, records across every boundary, the same state', () =>
    withTemp((dir) => {
      const state = randomState(5, { accounts: 40, transactions: 600, longKeyEvery: 13, spill: true });
      const seq = state.seqNext - 1;
      const v2 = writeSnapshot(path.join(dir, 'v2'), state, 2048);
      const v1 = writeSnapshotV1(path.join(dir, 'v1'), captureCut(state, positionOf));
      const size = fs.statSync(v2).size;
      for (const chunkBytes of [1, 7, 24, 100, 4096, 65_536, size - 1, size, size + 1]) {
        assertSameState(loadSnapshot(realFs, v2, BOOK, seq, chunkBytes).state, state);
        assertSameState(loadSnapshot(realFs, v1, BOOK, seq, chunkBytes).state, state);
      }
      // A file cut short in its last record, whatever the chunk: its length field no longer matches.
      const cut = path.join(dir, 'cut');
      fs.writeFileSync(cut, fs.readFileSync(v2).subarray(0, size - 20));
      for (const chunkBytes of [7, 4096]) assert.throws(() => loadSnapshot(realFs, cut, BOOK, seq, chunkBytes), SnapshotUnusable);
    }));

  test('the version-1 encoder of the tests writes what the store used to: the same records, 4,096 entries each', () => {
    const state = randomState(5, { accounts: 5, transactions: 5000, longKeyEvery: 0, spill: false });
    const records = snapshotRecords(snapshotFileV1(captureCut(state, positionOf)));
    assert.deepEqual(
      records.filter((record) => record[0] === 'txids').map((record) => (record[1] as unknown[]).length),
      [4096, 904],
    );
    const firstIdem = (records.find((record) => record[0] === 'idem')![1] as unknown[][])[0]!;
    assert.equal(firstIdem.length, 6);
    assert.equal(typeof firstIdem[0], 'string');
  });
});

describe('snapshot format version 2: a malformed file is unusable (R12)', () => {
  test('every malformed txids or idem record is refused with a message, and nothing else throws', () =>
    withTemp((dir) => {
      const state = randomState(3, { accounts: 6, transactions: 40, longKeyEvery: 0, spill: true });
      // One key with a two-byte character, to cut it in the middle.
      const seq = state.seqNext - 1;
      const file = writeSnapshot(dir, state);
      const original = fs.readFileSync(file);
      const records = snapshotRecords(original);
      const txidsAt = records.findIndex((record) => record[0] === 'txids');
      const idemAt = records.findIndex((record) => record[0] === 'idem');
      assert(txidsAt > 0 && idemAt > txidsAt);
      const txids = records[txidsAt]!;
      const idem = records[idemAt]!;
      const txidCount = txids[1] as number;
      const idemCount = idem[1] as number;
      assert(txidCount >= 3 && idemCount >= 3);
      const editTxids = (field: number, value: unknown) => (all: unknown[][]) => all.map((record, index) => (index === txidsAt ? Object.assign([...record], { [field]: value }) : record));
      const editIdem = (field: number, value: unknown) => (all: unknown[][]) => all.map((record, index) => (index === idemAt ? Object.assign([...record], { [field]: value }) : record));
      const withF64 = (column: unknown, position: number, value: number): Buffer => f64Bytes(f64s(column).map((old, index) => (index === position ? value : old)));
      const txidBytes = Buffer.from(txids[2] as Uint8Array);
      const duplicateTxid = Buffer.concat([txidBytes.subarray(0, 16), txidBytes.subarray(0, txidBytes.length - 16)]);
      const keyBlob = Buffer.from(idem[3] as Uint8Array);
      const lengths = u32s(idem[2]);
      // Two keys made equal: the second takes the first's bytes, the blob and lengths follow.
      const firstKey = keyBlob.subarray(0, lengths[0]);
      const duplicateBlob = Buffer.concat([firstKey, firstKey, keyBlob.subarray(lengths[0]! + lengths[1]!)]);
      const duplicateLengths = u32Bytes([lengths[0]!, lengths[0]!, ...lengths.slice(2)]);
      const invalidBlob = Buffer.from(keyBlob);
      invalidBlob[0] = 0xff;
      // A blob that is UTF-8 as a whole, cut inside 'é' (0xc3 0xa9) by the lengths.
      const splitBlob = Buffer.concat([Buffer.from('aé', 'utf8'), keyBlob.subarray(lengths[0]! + lengths[1]!)]);
      const splitLengths = u32Bytes([2, 1, ...lengths.slice(2)]);
      const cases: Array<[string, (all: unknown[][]) => unknown[][], RegExp]> = [
        // txids
        ['a txids record with a field missing', (all) => all.map((record, index) => (index === txidsAt ? record.slice(0, 5) : record)), /txids record has 5 fields, expected 6/],
        ['a txids count of 0', editTxids(1, 0), /txids count is not a safe integer >= 1/],
        ['a txids count above the record maximum', editTxids(1, COLUMN_ENTRIES_PER_RECORD + 1), new RegExp(`more than ${COLUMN_ENTRIES_PER_RECORD}$`)],
        ['a txids count that is not a number', editTxids(1, 'three'), /txids count is not a safe integer/],
        ['a txids count larger than its columns', editTxids(1, txidCount + 1), /txids column is \d+ bytes, expected/],
        ['a txid column one byte short', editTxids(2, txidBytes.subarray(1)), /txids column is \d+ bytes, expected/],
        ['a txid column that is not binary', editTxids(2, 'x'), /txids is not binary/],
        ['a txid seqs column of the wrong length', editTxids(3, f64Bytes([1])), /txid seqs column is 8 bytes, expected/],
        ['a txid bases column of the wrong length', editTxids(4, Buffer.alloc(3)), /txid bases column is 3 bytes/],
        ['a txid offsets column of the wrong length', editTxids(5, Buffer.alloc(txidCount * 8 + 8)), /txid offsets column/],
        ['txid seqs out of order', editTxids(3, f64Bytes(f64s(txids[3]).reverse())), /txid seqs do not rise/],
        ['a repeated txid seq', editTxids(3, withF64(txids[3], 1, f64s(txids[3])[0]!)), /txid seqs do not rise/],
        ['a txid seq beyond the snapshot', editTxids(3, withF64(txids[3], txidCount - 1, seq + 1)), /beyond the snapshot/],
        ['a txid seq of 0', editTxids(3, withF64(txids[3], 0, 0)), /txid seqs do not rise/],
        ['a txid seq that is not an integer', editTxids(3, withF64(txids[3], 0, 1.5)), /txid seqs do not rise/],
        ['a txid seq that is NaN', editTxids(3, withF64(txids[3], 0, Number.NaN)), /txid seqs do not rise/],
        ['a txid seq above 2^53', editTxids(3, withF64(txids[3], txidCount - 1, 2 ** 53 + 2)), /txid seqs do not rise/],
        ['a txid that appears twice', editTxids(2, duplicateTxid), /a txid appears twice/],
        ['a txid segment base of 0', editTxids(4, withF64(txids[4], 0, 0)), /txid segment base/],
        ['a txid segment base above its seq', editTxids(4, withF64(txids[4], 0, f64s(txids[3])[0]! + 1)), /txid segment base/],
        ['a negative txid frame offset', editTxids(5, withF64(txids[5], 0, -1)), /txid frame offset/],
        ['an infinite txid frame offset', editTxids(5, withF64(txids[5], 0, Number.POSITIVE_INFINITY)), /txid frame offset/],
        ['a txids record dropped', (all) => all.filter((_, index) => index !== txidsAt), /txid count does not match/],
        // idem
        ['an idem record with an extra field', (all) => all.map((record, index) => (index === idemAt ? [...record, 1] : record)), /idem record has 10 fields, expected 9/],
        ['an idem count of 0', editIdem(1, 0), /idem count is not a safe integer >= 1/],
        ['an idem count above the record maximum', editIdem(1, 2 ** 40), new RegExp(`more than ${COLUMN_ENTRIES_PER_RECORD}$`)],
        ['an idem count larger than its columns', editIdem(1, idemCount + 1), /idem key lengths column is \d+ bytes, expected/],
        ['a key lengths column of the wrong length', editIdem(2, u32Bytes(lengths.slice(1))), /idem key lengths column/],
        ['a truncated key blob', editIdem(3, keyBlob.subarray(0, keyBlob.length - 1)), /idem keys are \d+ bytes, but their lengths add up to/],
        ['a key blob with a byte too many', editIdem(3, Buffer.concat([keyBlob, Buffer.from('x')])), /lengths add up to/],
        ['key lengths that add up to more than the blob', editIdem(2, u32Bytes([lengths[0]! + 1, ...lengths.slice(1)])), /lengths add up to/],
        ['a huge key length', editIdem(2, u32Bytes([0xffffffff, ...lengths.slice(1)])), /lengths add up to/],
        ['a key blob that is not UTF-8', editIdem(3, invalidBlob), /not UTF-8/],
        ['a key that starts inside a character', (all) => editIdem(3, splitBlob)(editIdem(2, splitLengths)(all)), /starts inside a UTF-8 character/],
        ['a key blob that is not binary', editIdem(3, 'keys'), /idem keys is not binary/],
        ['an idem txids column of the wrong length', editIdem(4, Buffer.alloc(16)), /idem txids column/],
        ['idem seqs out of order', editIdem(5, f64Bytes(f64s(idem[5]).reverse())), /out of seq order/],
        ['an idem seq at or below spilledThroughSeq', editIdem(5, withF64(idem[5], 0, state.idempotency.spilledThroughSeq)), /out of seq order/],
        ['an idem seq beyond the snapshot', editIdem(5, withF64(idem[5], idemCount - 1, seq + 1)), /out of seq order/],
        ['an idem seq that is not an integer', editIdem(5, withF64(idem[5], idemCount - 1, f64s(idem[5])[idemCount - 1]! + 0.5)), /out of seq order/],
        ['an idem seqs column of the wrong length', editIdem(5, f64Bytes([1, 2])), /idem seqs column/],
        ['a negative idem atUs', editIdem(6, withF64(idem[6], 0, -1)), /idem atUs is not a safe integer/],
        ['an idem atUs that is NaN', editIdem(6, withF64(idem[6], 0, Number.NaN)), /idem atUs is not a safe integer/],
        ['an idem atUs column of the wrong length', editIdem(6, Buffer.alloc(0)), /idem atUs column/],
        ['an idem segment base above its seq', editIdem(7, withF64(idem[7], 0, seq + 1)), /idem segment base/],
        ['an idem frame offset that is not an integer', editIdem(8, withF64(idem[8], 0, 0.25)), /idem frame offset/],
        ['an idem key that appears twice', (all) => editIdem(3, duplicateBlob)(editIdem(2, duplicateLengths)(all)), /idempotency key appears twice/],
        ['an idem record dropped', (all) => all.filter((_, index) => index !== idemAt), /idempotency count does not match/],
        ['an idem record before the txids', (all) => [...all.slice(0, txidsAt), idem, txids, ...all.slice(idemAt + 1)], /record \d+ is idem, expected sums|txid count/],
      ];
      for (const [what, edit, pattern] of cases) {
        fs.writeFileSync(file, forgedSnapshot(original, edit));
        assert.throws(
          () => loadSnapshot(realFs, file, BOOK, seq),
          (error) => error instanceof SnapshotUnusable && pattern.test(error.message),
          `${what}: ${(() => {
            try {
              loadSnapshot(realFs, file, BOOK, seq);
              return 'loaded';
            } catch (error) {
              return String(error);
            }
          })()}`,
        );
      }
      // The forger is faithful: the file re-encoded unedited loads to the same state.
      fs.writeFileSync(file, forgedSnapshot(original, (all) => all));
      assertSameState(loadSnapshot(realFs, file, BOOK, seq).state, state);
    }));

  test('a postings record of more than COLUMN_ENTRIES_PER_RECORD entries is unusable in version 2 (version 1 never limited it)', () =>
    withTemp((dir) => {
      const state = randomState(21, { accounts: 2, transactions: COLUMN_ENTRIES_PER_RECORD + 10, longKeyEvery: 0, spill: false });
      const seq = state.seqNext - 1;
      const file = writeSnapshot(dir, state);
      const merged = forgedSnapshot(fs.readFileSync(file), (all) => {
        const out: unknown[][] = [];
        for (const record of all) {
          const previous = out.at(-1);
          if (record[0] === 'postings' && previous?.[0] === 'postings') {
            out[out.length - 1] = previous.map((column, index) => (index === 0 ? column : Buffer.concat([column as Uint8Array, record[index] as Uint8Array])));
          } else out.push(record);
        }
        assert(out.length < all.length, 'two postings records were merged');
        return out;
      });
      fs.writeFileSync(file, merged);
      assert.throws(() => loadSnapshot(realFs, file, BOOK, seq), (error) => error instanceof SnapshotUnusable && new RegExp(`holds more than ${COLUMN_ENTRIES_PER_RECORD} entries`).test(error.message));
    }));

  test('the version field decides the decoding: a version-2 payload labelled 1, or a version-1 payload labelled 2, is unusable', () =>
    withTemp((dir) => {
      const state = randomState(12, { accounts: 3, transactions: 20, longKeyEvery: 0, spill: false });
      const seq = state.seqNext - 1;
      const relabelled = (bytes: Buffer, version: number): Buffer => {
        const copy = Buffer.from(bytes);
        copy.writeUInt32LE(version, 8);
        copy.writeUInt32LE(zlib.crc32(copy.subarray(0, copy.length - 4)), copy.length - 4);
        return copy;
      };
      const file = path.join(dir, snapshotFileName(seq));
      fs.writeFileSync(file, relabelled(fs.readFileSync(writeSnapshot(path.join(dir, 'v2'), state)), 1));
      assert.throws(() => loadSnapshot(realFs, file, BOOK, seq), (error) => error instanceof SnapshotUnusable && /txids is not an array/.test(error.message));
      fs.writeFileSync(file, relabelled(snapshotFileV1(captureCut(state, positionOf)), 2));
      assert.throws(() => loadSnapshot(realFs, file, BOOK, seq), (error) => error instanceof SnapshotUnusable && /txids record has 2 fields, expected 6/.test(error.message));
    }));

  test('a flipped byte in any column, a truncated file and a torn column fail the CRC or the length, whatever the byte', () =>
    withTemp((dir) => {
      const state = randomState(11, { accounts: 4, transactions: 30, longKeyEvery: 0, spill: false });
      const seq = state.seqNext - 1;
      const file = writeSnapshot(dir, state);
      const original = fs.readFileSync(file);
      for (let offset = 24; offset < original.length - 12; offset += 7) {
        const bytes = Buffer.from(original);
        bytes[offset]! ^= 0x20;
        fs.writeFileSync(file, bytes);
        assert.throws(() => loadSnapshot(realFs, file, BOOK, seq), (error) => error instanceof SnapshotUnusable && /CRC/.test(error.message), `offset ${offset}`);
      }
      for (const length of [original.length - 1, original.length - 13, Math.floor(original.length / 2), 40]) {
        fs.writeFileSync(file, original.subarray(0, length));
        assert.throws(() => loadSnapshot(realFs, file, BOOK, seq), (error) => error instanceof SnapshotUnusable && /length field|CRC/.test(error.message), `length ${length}`);
      }
      // A payload cut inside a column, with the length and CRC made right: it no longer decodes.
      const payload = Buffer.concat(snapshotRecords(original).map((record) => snapshotPackr.pack(record)));
      fs.writeFileSync(file, withPayload(original, payload.subarray(0, payload.length - 200)));
      assert.throws(() => loadSnapshot(realFs, file, BOOK, seq), (error) => error instanceof SnapshotUnusable);
    }));
});

describe('snapshot format version 2: compatibility through LogStore', () => {
  test('a store whose snapshot is a version-1 file opens from it, and its next snapshot is version 2', () =>
    withTemp(async (tmp) => {
      const dir = path.join(tmp, 'data');
      const warnings: LogStoreWarning[] = [];
      const options = { workers: 1, snapshotEvery: 0, onWarning: (warning: LogStoreWarning) => warnings.push(warning) };
      let store = await LogStore.open(dir, options);
      const txs = Array.from({ length: 50 }, (_, index) => mkTx(`k-${index}-日本-😀`, BigInt(index + 1)));
      try {
        await seed(store);
        for (const tx of txs) await store.commit(tx);
        await store.snapshot(BOOK);
        await store.commit(mkTx('after-snapshot', 1000n));
      } finally {
        await store.close();
      }
      const bookDir = bookDirectory(dir, BOOK);
      const file = path.join(bookDir, snapshotFileName(52));
      const v2State = loadSnapshot(realFs, file, BOOK, 52).state;
      fs.writeFileSync(file, snapshotFileV1(captureCut(v2State, positionOf)));
      assert.equal(fs.readFileSync(file).readUInt32LE(8), 1);
      assertSameState(loadSnapshot(realFs, file, BOOK, 52).state, v2State);
      store = await LogStore.open(dir, options);
      try {
        assert(!warnings.some((warning) => warning.code === 'SNAPSHOT_UNUSABLE'), JSON.stringify(warnings));
        const balance = await store.balance({ book: BOOK, path: 'cash' });
        assert.equal(balance.amount.minor, (50n * 51n) / 2n + 1000n);
        const replay = await store.commit({ ...txs[3]!, id: mkTx('other', 1n).id });
        assert.equal(replay.seq, 6, 'a retry of a key the snapshot holds is answered as a replay');
        await store.snapshot(BOOK);
      } finally {
        await store.close();
      }
      assert.equal(fs.readFileSync(path.join(bookDir, snapshotFileName(53))).readUInt32LE(8), 2);
    }));
});

/**
 * Snapshot unit tests (spec/conformance.md, Part 2, section 2.7; log-engine.md, section 8), the two
 * serde items of section 2.6 (book_state_serde_round_trips, posting_index_serde_round_trips), and
 * periodic and explicit snapshots through a real LogStore. Real files in fresh temporary
 * directories, removed afterwards.
 *
 * "Loading" at the unit level is the loop of section 8.8: snapshots newest first, the first one
 * that passes its own checks (loadSnapshot) wins. Check 7 (against the log) needs a log and goes
 * through recoverBook.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { describe, test } from 'node:test';
import { AccountState, BookState, postingsOf } from '../src/log/book-state.js';
import { StoreError } from '../src/core/errors.js';
import { RealFileSystem } from '../src/log/file-system.js';
import { LogStore } from '../src/log/log-store.js';
import type { LogStoreOptions, LogStoreWarning } from '../src/log/options.js';
import { PostingIndex } from '../src/log/posting-index.js';
import { recoverBook } from '../src/log/recovery.js';
import { bookDirectory } from '../src/log/segment.js';
import {
  captureCut,
  COLUMN_ENTRIES_PER_RECORD,
  listSnapshots,
  loadSnapshot,
  pruneSnapshots,
  SNAPSHOT_MAGIC,
  snapshotFileName,
  SnapshotUnusable,
  SnapshotWriter,
  type LoadedSnapshot,
} from '../src/log/snapshot.js';
import { I64_MAX, I64_MIN, SYSTEM_BOOK, type AccountCfg, type AccountDef, type AssetDef, type Transaction } from '../src/core/types.js';
import { makeTempDir, mkTx, removeDir, seed, USD, uuidV7, waitUntil } from './support/log-store-fixtures.js';
import { writeSnapshotV1 } from './support/snapshot-v1.js';
import { assertSameState } from './support/book-state-compare.js';
import { frameOf, readFrames, segmentFiles } from './support/segment-files.js';
import { f64Bytes, forgedSnapshot, snapshotRecords } from './support/snapshot-bytes.js';

const realFs = new RealFileSystem();
const BOOK = 'b';
const AT_US = 1_700_000_000_000_000;
const CASH_DEF: AccountDef = { id: { book: BOOK, path: 'cash' }, asset: 'USD', kind: 'asset' };
const REV_DEF: AccountDef = { id: { book: BOOK, path: 'rev' }, asset: 'USD', kind: 'income' };
const UNSIDED: AccountCfg = { normal_side: null, min_balance: null };
/** The same MessagePack settings as the file format (section 8.2), to inspect and forge payloads. */

// --- fixtures ---------------------------------------------------------------------------------

async function withTemp(body: (dir: string) => Promise<void> | void): Promise<void> {
  const dir = makeTempDir();
  try {
    await body(dir);
  } finally {
    removeDir(dir);
  }
}

/**
 * conformance.md 2.7: one account (raw 42, updated_seq 1), one hot idempotency key, one txid,
 * sums (42, 0), last_at set. Here S must equal seqNext − 1 (the header's S and the `book`
 * record's seqNext are checked against each other), so the state's last seq is the snapshot seq.
 */
function fixtureState(seq: number, book = BOOK): BookState {
  const state = new BookState(book);
  const txid = randomUUID();
  const def: AccountDef = { ...CASH_DEF, id: { book, path: 'cash' } };
  const cash = AccountState.open(def, UNSIDED, 0, state.accountClasses);
  (cash.postings ??= new PostingIndex()).push({ seq: 1, atUs: AT_US, txid, minor: 42n, direction: 'debit', rawAfter: 42n });
  state.accounts.add(cash);
  assert(state.idempotency.insert('k1', { txid, seq: 1, atUs: AT_US }));
  state.txids.set(txid, 1);
  state.sums.set('USD', { debits: 42n, credits: 0n });
  state.seqNext = seq + 1;
  state.atLastUs = AT_US + seq;
  return state;
}

const positionOf = (seq: number): { base: number; offset: number } => ({ base: 1, offset: seq * 100 });

/** Writes a snapshot of `state` in slices of `budget` bytes, then prunes (section 8.4). */
function writeSnapshot(bookDir: string, state: BookState, budget = 256 * 1024): string {
  fs.mkdirSync(bookDir, { recursive: true });
  const writer = new SnapshotWriter(realFs, bookDir, captureCut(state, positionOf));
  let steps = 0;
  while (!writer.step(budget)) steps++;
  assert(steps < 1_000_000);
  assert.deepEqual(pruneSnapshots(realFs, bookDir), []);
  return writer.finalPath;
}

/** Section 8.8 checks 1 to 6, newest first; the first usable snapshot wins. */
function loadLatest(bookDir: string, book = BOOK): { loaded: LoadedSnapshot | null; skipped: Array<{ seq: number; reason: string }> } {
  const skipped: Array<{ seq: number; reason: string }> = [];
  for (const seq of listSnapshots(realFs, bookDir)) {
    try {
      return { loaded: loadSnapshot(realFs, path.join(bookDir, snapshotFileName(seq)), book, seq), skipped };
    } catch (error) {
      if (!(error instanceof SnapshotUnusable)) throw error;
      skipped.push({ seq, reason: error.message });
    }
  }
  return { loaded: null, skipped };
}

function snapshotNames(bookDir: string): string[] {
  return fs.readdirSync(bookDir).filter((name) => name.startsWith('snapshot-')).sort();
}

function assertUnusable(file: string, seq: number, pattern: RegExp, book = BOOK): void {
  assert.throws(() => loadSnapshot(realFs, file, book, seq), (error) => error instanceof SnapshotUnusable && pattern.test(error.message));
}

/** The payload records of a snapshot file, decoded independently of the loader. */
function payloadRecords(file: string): unknown[][] {
  return snapshotRecords(fs.readFileSync(file));
}



/** Re-encodes a snapshot file with edited records and a correct length and CRC. */
function forge(file: string, edit: (records: unknown[][]) => unknown[][]): void {
  fs.writeFileSync(file, forgedSnapshot(fs.readFileSync(file), edit));
}

function transaction(key: string, postings: Array<[path: string, minor: bigint, direction: 'debit' | 'credit']>): Transaction {
  return {
    id: randomUUID(),
    book: BOOK,
    postings: postings.map(([path, minor, direction]) => ({ account: { book: BOOK, path }, amount: { minor, asset: 'USD' }, direction })),
    idempotency_key: key,
    external_refs: [],
    metadata: null,
    occurred_at: new Date().toISOString(),
  };
}

async function openStore(dir: string, options: LogStoreOptions): Promise<{ store: LogStore; warnings: LogStoreWarning[] }> {
  const warnings: LogStoreWarning[] = [];
  const store = await LogStore.open(dir, { workers: 2, ...options, onWarning: (warning) => warnings.push(warning) });
  return { store, warnings };
}

// --- conformance.md 2.7 -----------------------------------------------------------------------

describe('snapshot files (conformance 2.7)', () => {
  test('snapshot_round_trips_book_state', async () => {
    await withTemp((dir) => {
      const state = fixtureState(42);
      state.attachWriter(0);
      const file = writeSnapshot(dir, state);
      assert.equal(path.basename(file), 'snapshot-00000000000000000042.tsnap');
      const { loaded, skipped } = loadLatest(dir);
      assert.deepEqual(skipped, []);
      assert(loaded !== null);
      assert.equal(loaded.seq, 42);
      assert.equal(loaded.file, file);
      const restored = loaded.state;
      assert.equal(restored.seqNext, 43);
      assert.equal(restored.accounts.size, 1);
      assert.equal(restored.accounts.get('b:cash')!.rawBalance, 42n);
      assert.equal(restored.accounts.get('b:cash')!.updatedSeq, 1);
      assert.deepEqual(restored.idempotency.get('k1'), state.idempotency.get('k1'));
      assert.equal(restored.idempotency.get('k1')!.seq, 1);
      assert.equal(restored.txids.size, 1);
      assert.deepEqual(restored.sums, new Map([['USD', { debits: 42n, credits: 0n }]]));
      assert.equal(restored.atLastUs, AT_US + 42);
      assertSameState(restored, state);
      // A loaded state is owned by no writer.
      assert.equal(restored.writer, null);
    });
  });

  test('corrupt_snapshot_is_skipped_in_favor_of_older', async () => {
    await withTemp((dir) => {
      writeSnapshot(dir, fixtureState(10));
      const newest = writeSnapshot(dir, fixtureState(20));
      const bytes = fs.readFileSync(newest);
      bytes[Math.floor(bytes.length / 2)]! ^= 0xff;
      fs.writeFileSync(newest, bytes);
      const { loaded, skipped } = loadLatest(dir);
      assert.equal(loaded?.seq, 10);
      assert.deepEqual(skipped.map((entry) => entry.seq), [20]);
      assert.match(skipped[0]!.reason, /CRC/);
    });
  });

  test('only_latest_two_snapshots_are_retained', async () => {
    await withTemp((dir) => {
      writeSnapshot(dir, fixtureState(10));
      writeSnapshot(dir, fixtureState(20));
      assert.deepEqual(snapshotNames(dir), [snapshotFileName(10), snapshotFileName(20)]);
      writeSnapshot(dir, fixtureState(30));
      assert.deepEqual(snapshotNames(dir), [snapshotFileName(20), snapshotFileName(30)]);
      assert.deepEqual(listSnapshots(realFs, dir), [30, 20]);
      // Other files are never touched by pruning.
      fs.writeFileSync(path.join(dir, 'segment-00000000000000000001.log'), 'log');
      fs.writeFileSync(path.join(dir, `${snapshotFileName(5)}.tmp`), 'tmp');
      writeSnapshot(dir, fixtureState(40));
      assert.deepEqual(snapshotNames(dir), [`${snapshotFileName(5)}.tmp`, snapshotFileName(30), snapshotFileName(40)]);
      assert(fs.existsSync(path.join(dir, 'segment-00000000000000000001.log')));
    });
  });

  test('stray_snap_tmp_is_ignored_by_load_latest', async () => {
    await withTemp((dir) => {
      writeSnapshot(dir, fixtureState(5));
      fs.writeFileSync(path.join(dir, `${snapshotFileName(99)}.tmp`), 'garbage from an interrupted write');
      assert.deepEqual(listSnapshots(realFs, dir), [5]);
      const { loaded, skipped } = loadLatest(dir);
      assert.equal(loaded?.seq, 5);
      assert.deepEqual(skipped, []);
    });
  });

  test('stray_snap_tmp is removed at open, and the snapshot beside it is used', async () => {
    await withTemp(async (tmp) => {
      const dir = path.join(tmp, 'data');
      let { store } = await openStore(dir, { snapshotEvery: 0 });
      const txs = [mkTx('t1', 10n), mkTx('t2', 20n)];
      const committed = [];
      try {
        await seed(store);
        for (const tx of txs) committed.push(await store.commit(tx));
        await store.snapshot(BOOK);
      } finally {
        await store.close();
      }
      const bookDir = bookDirectory(dir, BOOK);
      assert.deepEqual(listSnapshots(realFs, bookDir), [4]);
      const stray = path.join(bookDir, `${snapshotFileName(99)}.tmp`);
      fs.writeFileSync(stray, 'garbage');
      const opened = await openStore(dir, { snapshotEvery: 0 });
      store = opened.store;
      try {
        assert(opened.warnings.some((warning) => warning.code === 'TMP_REMOVED' && warning.file === stray), JSON.stringify(opened.warnings));
        assert(!opened.warnings.some((warning) => warning.code === 'SNAPSHOT_UNUSABLE'));
        assert(!fs.existsSync(stray));
        assert.deepEqual((await store.balance({ book: BOOK, path: 'cash' })).amount.minor, 30n);
        assert.deepEqual(await store.commit({ ...txs[0]!, id: uuidV7() }), committed[0]);
      } finally {
        await store.close();
      }
    });
  });

  test('all_snapshots_corrupt_returns_ok_none', async () => {
    await withTemp((dir) => {
      for (const seq of [10, 20]) {
        const file = writeSnapshot(dir, fixtureState(seq));
        const bytes = fs.readFileSync(file);
        bytes.fill(0, 24, bytes.length - 12);
        fs.writeFileSync(file, bytes);
      }
      const { loaded, skipped } = loadLatest(dir);
      assert.equal(loaded, null, 'no snapshot: a full replay');
      assert.deepEqual(skipped.map((entry) => entry.seq), [20, 10]);
    });
  });

  test('a snapshot with an unknown format version or flags is not used', async () => {
    await withTemp((dir) => {
      const file = writeSnapshot(dir, fixtureState(7));
      const original = fs.readFileSync(file);
      for (const [offset, value, pattern] of [
        [8, 3, /format version 3; this build reads versions 1 and 2/],
        [8, 0, /format version 0/],
        [12, 1, /flags/],
      ] as const) {
        const bytes = Buffer.from(original);
        bytes.writeUInt32LE(value, offset);
        bytes.writeUInt32LE(zlib.crc32(bytes.subarray(0, bytes.length - 4)), bytes.length - 4); // a correct CRC
        fs.writeFileSync(file, bytes);
        assertUnusable(file, 7, pattern);
        assert.equal(loadLatest(dir).loaded, null);
      }
    });
  });

  test('the file format of section 8.2, and the CRC covers the whole file (header and trailer too)', async () => {
    await withTemp((dir) => {
      const file = writeSnapshot(dir, fixtureState(9));
      const bytes = fs.readFileSync(file);
      assert(bytes.subarray(0, 8).equals(SNAPSHOT_MAGIC));
      assert.equal(SNAPSHOT_MAGIC.toString('ascii'), 'TALEASNP');
      assert.equal(bytes.readUInt32LE(8), 2);
      assert.equal(bytes.readUInt32LE(12), 0);
      assert.equal(bytes.readBigUInt64LE(16), 9n);
      const n = bytes.length - 36;
      assert.equal(bytes.readBigUInt64LE(24 + n), BigInt(n));
      assert.equal(bytes.readUInt32LE(32 + n), zlib.crc32(bytes.subarray(0, 32 + n)));
      const flip = (offset: number): Buffer => {
        const copy = Buffer.from(bytes);
        copy[offset]! ^= 0x01;
        return copy;
      };
      // Header: the top byte of S; only the whole-file CRC can catch it before the name check.
      fs.writeFileSync(file, flip(23));
      assertUnusable(file, 9, /CRC/);
      // Trailer: the CRC field itself, and the length field.
      fs.writeFileSync(file, flip(bytes.length - 1));
      assertUnusable(file, 9, /CRC/);
      fs.writeFileSync(file, flip(24 + n));
      assertUnusable(file, 9, /length field/);
      // Payload, first and last byte.
      fs.writeFileSync(file, flip(24));
      assertUnusable(file, 9, /CRC/);
      fs.writeFileSync(file, flip(24 + n - 1));
      assertUnusable(file, 9, /CRC/);
      // Truncated, extended, too short.
      fs.writeFileSync(file, bytes.subarray(0, bytes.length - 1));
      assertUnusable(file, 9, /length field|CRC/);
      fs.writeFileSync(file, Buffer.concat([bytes, Buffer.alloc(1)]));
      assertUnusable(file, 9, /length field|CRC/);
      fs.writeFileSync(file, bytes.subarray(0, 35));
      assertUnusable(file, 9, /shorter than 36/);
      // Misplaced: a sound file under another seq's name.
      fs.writeFileSync(file, bytes);
      assertUnusable(file, 8, /name says 8/);
      // With S rewritten and the CRC recomputed, the name check still refuses it.
      const renamed = Buffer.from(bytes);
      renamed.writeBigUInt64LE(10n, 16);
      renamed.writeUInt32LE(zlib.crc32(renamed.subarray(0, renamed.length - 4)), renamed.length - 4);
      fs.writeFileSync(file, renamed);
      assertUnusable(file, 9, /holds seq 10/);
      // Not magic.
      const magic = Buffer.from(bytes);
      magic.write('TALEASNQ', 0, 'ascii');
      fs.writeFileSync(file, magic);
      assertUnusable(file, 9, /magic/);
      fs.writeFileSync(file, bytes);
      assert.equal(loadSnapshot(realFs, file, BOOK, 9).seq, 9);
    });
  });

  test('the payload schema of section 8.3 is checked: order, counts, book, seqNext, trailing data', async () => {
    await withTemp((dir) => {
      const state = fixtureState(12);
      state.idempotency.insert('k2', { txid: randomUUID(), seq: 11, atUs: AT_US + 11 });
      const file = writeSnapshot(dir, state);
      const original = fs.readFileSync(file);
      const tags = payloadRecords(file).map((record) => record[0]);
      assert.deepEqual(tags, ['book', 'account', 'postings', 'txids', 'idem', 'sums', 'end']);
      const head = payloadRecords(file)[0]!;
      assert.deepEqual(head.slice(1, 6), [BOOK, 13, AT_US + 12, 0, false]);
      assert.deepEqual(head.slice(6).map(Number), [1, 1, 1, 2, 0]);
      assert.deepEqual(payloadRecords(file).at(-1)!.slice(1).map(Number), [1, 1, 1, 2, 0]);
      // Version 2: ['idem', count, key lengths, keys, txids, seqs, atUs, bases, offsets].
      const idem = payloadRecords(file)[4]!;
      const f64s = (column: unknown): number[] => Array.from({ length: (column as Uint8Array).length / 8 }, (_, index) => Buffer.from(column as Uint8Array).readDoubleLE(index * 8));
      assert.equal(idem.length, 9);
      assert.equal(idem[1], 2);
      assert.deepEqual([...Buffer.from(idem[2] as Uint8Array)], [2, 0, 0, 0, 2, 0, 0, 0], 'u32 LE key lengths');
      assert.equal(Buffer.from(idem[3] as Uint8Array).toString('utf8'), 'k1k2');
      assert.deepEqual([f64s(idem[5]), f64s(idem[7]), f64s(idem[8])], [[1, 11], [1, 1], [100, 1100]], 'hot records oldest first with their frame positions');
      const cases: Array<[string, (records: unknown[][]) => unknown[][], RegExp]> = [
        ['seqNext other than S + 1', (records) => [['book', BOOK, 12, ...records[0]!.slice(3)], ...records.slice(1)], /seqNext 12, expected 13/],
        ['another book', (records) => [['book', 'c', ...records[0]!.slice(2)], ...records.slice(1)], /belongs to book c/],
        ['a missing end record', (records) => records.slice(0, -1), /record 6/],
        ['data after the end record', (records) => [...records, ['sums', []]], /after its end record/],
        ['an end record with other counts', (records) => [...records.slice(0, -1), ['end', 1, 1, 1, 3, 0]], /end record does not match/],
        ['a wrong idempotency count', (records) => [['book', ...records[0]!.slice(1, 9), 3, 0], ...records.slice(1)], /idempotency count|end record/],
        ['records out of order', (records) => [records[0]!, records[3]!, records[1]!, records[2]!, ...records.slice(4)], /record 1 is txids, expected account/],
        ['idempotency records out of seq order', (records) => records.map((record) => (record[0] === 'idem' ? [...record.slice(0, 5), f64Bytes([11, 1]), ...record.slice(6)] : record)), /out of seq order/],
        ['a txid beyond the snapshot', (records) => records.map((record) => (record[0] === 'txids' ? [...record.slice(0, 3), f64Bytes([13]), ...record.slice(4)] : record)), /beyond the snapshot/],
        ['an i64 out of range', (records) => records.map((record) => (record[0] === 'account' ? [...record.slice(0, 4), I64_MAX + 1n, ...record.slice(5)] : record)), /not an i64/],
        ['a seq that is not a safe integer', (records) => [['book', BOOK, 2 ** 53 + 2, ...records[0]!.slice(3)], ...records.slice(1)], /seqNext is not a safe integer|seqNext/],
      ];
      for (const [what, edit, pattern] of cases) {
        fs.writeFileSync(file, original);
        forge(file, edit);
        assert.throws(() => loadSnapshot(realFs, file, BOOK, 12), (error) => error instanceof SnapshotUnusable && pattern.test(error.message), what);
      }
      // The forger itself is faithful: an unedited re-encoding loads.
      fs.writeFileSync(file, original);
      forge(file, (records) => records);
      assert.equal(loadSnapshot(realFs, file, BOOK, 12).seq, 12);
      // A snapshot loaded for another book's directory is refused.
      assertUnusable(file, 12, /belongs to book b/, 'c');
    });
  });

  test('slices: a snapshot written a few bytes at a time is byte-identical to one written at once', async () => {
    await withTemp((dir) => {
      const state = fixtureState(30);
      const big = state.accounts.get('b:cash')!;
      for (let seq = 2; seq <= 30; seq++) {
        const txid = randomUUID();
        (big.postings ??= new PostingIndex()).push({ seq, atUs: AT_US + seq, txid, minor: 1n, direction: 'debit', rawAfter: 42n + BigInt(seq - 1) });
        state.txids.set(txid, seq);
        state.idempotency.insert(`k-${seq}`, { txid, seq, atUs: AT_US + seq });
      }
      const whole = fs.readFileSync(writeSnapshot(path.join(dir, 'whole'), state, Number.POSITIVE_INFINITY));
      const sliced = fs.readFileSync(writeSnapshot(path.join(dir, 'sliced'), state, 1));
      assert(whole.equals(sliced));
      assert(!fs.readdirSync(path.join(dir, 'sliced')).some((name) => name.endsWith('.tmp')));
    });
  });

  test('a failed write leaves no temporary file and no snapshot (section 8.4)', async () => {
    await withTemp((dir) => {
      class FailingFsync extends RealFileSystem {
        override fsyncSync(): void {
          throw Object.assign(new Error('EIO: injected fsync failure'), { code: 'EIO' });
        }
      }
      const writer = new SnapshotWriter(new FailingFsync(), dir, captureCut(fixtureState(3), positionOf));
      assert.throws(() => {
        while (!writer.step(1024));
      }, /injected fsync failure/);
      writer.abandon();
      assert.deepEqual(fs.readdirSync(dir), []);
    });
  });

  test('a snapshot whose seq is above the end of the log is refused, never trusted and never a fallback', async () => {
    await withTemp(async (tmp) => {
      const dir = path.join(tmp, 'data');
      const { store } = await openStore(dir, { snapshotEvery: 0 });
      try {
        await seed(store);
        await store.commit(mkTx('t1', 5n));
        await store.snapshot(BOOK);
      } finally {
        await store.close();
      }
      const bookDir = bookDirectory(dir, BOOK);
      const loaded = loadSnapshot(realFs, path.join(bookDir, snapshotFileName(3)), BOOK, 3);
      loaded.state.seqNext = 11; // claims seqs 4 to 10, which the log never had
      writeSnapshot(bookDir, loaded.state);
      assert.deepEqual(listSnapshots(realFs, bookDir), [10, 3]);
      const expected = (error: unknown): boolean =>
        error instanceof StoreError && error.code === 'CORRUPT' && /snapshot ".*snapshot-00000000000000000010\.tsnap" covers seq 10 but the log of book b ends at seq 3/.test(error.message);
      assert.throws(() => recoverBook(realFs, dir, BOOK), expected);
      await assert.rejects(LogStore.open(dir, { workers: 1 }), expected);
    });
  });
});

// --- conformance.md 2.6: the serde items ------------------------------------------------------

describe('snapshot codec for book state (conformance 2.6)', () => {
  test('book_state_serde_round_trips', async () => {
    await withTemp((dir) => {
      const state = new BookState(BOOK);
      state.apply(1, AT_US + 1, { kind: 'account_opened', def: CASH_DEF, cfg: { normal_side: 'debit', min_balance: 0n } });
      state.apply(2, AT_US + 2, { kind: 'account_opened', def: REV_DEF, cfg: { normal_side: 'credit', min_balance: I64_MIN } });
      const tx = transaction('k1', [['cash', 100n, 'debit'], ['rev', 100n, 'credit']]);
      state.apply(3, AT_US + 3, { kind: 'transaction_posted', ...tx });
      // Integers of every MessagePack width, including ones that need 64 bits.
      const big = transaction('k-big', [['cash', 2n ** 62n, 'debit'], ['rev', 2n ** 62n, 'credit']]);
      state.apply(4, AT_US + 2 ** 40, { kind: 'transaction_posted', ...big });
      const file = writeSnapshot(dir, state);
      const restored = loadSnapshot(realFs, file, BOOK, 4).state;
      assert.equal(restored.seqNext, 5);
      assert.equal(restored.accounts.get('b:cash')!.rawBalance, 100n + 2n ** 62n);
      assert.equal(typeof restored.accounts.get('b:cash')!.rawBalance, 'bigint');
      assert.deepEqual(restored.idempotency.get('k1'), { txid: tx.id, seq: 3, atUs: AT_US + 3 });
      assert.equal(restored.txids.get(tx.id), 3);
      assert.equal(restored.txids.get(big.id), 4);
      assert.deepEqual(restored.accounts.get('b:rev')!.cfg, { normal_side: 'credit', min_balance: I64_MIN });
      assert.deepEqual(restored.sums.get('USD'), { debits: 100n + 2n ** 62n, credits: 100n + 2n ** 62n });
      assertSameState(restored, state);
      // The loaded state is a working state: reads and the next apply behave as on the original.
      assert.deepEqual(restored.balance({ book: BOOK, path: 'rev' }, null), state.balance({ book: BOOK, path: 'rev' }, null));
      assert.deepEqual(restored.balance({ book: BOOK, path: 'cash' }, AT_US + 3), { minor: 100n, asset: 'USD', updatedSeq: 3 });
      assert.deepEqual(restored.history({ book: BOOK, path: 'cash' }, 0, 10), state.history({ book: BOOK, path: 'cash' }, 0, 10));
      const next = transaction('k2', [['rev', 1n, 'debit'], ['cash', 1n, 'credit']]);
      restored.apply(5, AT_US + 2 ** 41, { kind: 'transaction_posted', ...next });
      state.apply(5, AT_US + 2 ** 41, { kind: 'transaction_posted', ...next });
      assertSameState(restored, state);
    });
  });

  test('book_state_serde_round_trips for _system: the asset registry', async () => {
    await withTemp((dir) => {
      const state = new BookState(SYSTEM_BOOK);
      const assets: AssetDef[] = [
        USD,
        { id: 'BTC', class: { crypto: { network: 'bitcoin', native_id: null } }, precision: 8, name: 'Bitcoin' },
        { id: 'USDC', class: { crypto: { network: 'ethereum', native_id: '0xa0b8' } }, precision: 6, name: 'USD Coin' },
      ];
      assets.forEach((def, index) => state.apply(index + 1, AT_US + index, { kind: 'asset_registered', ...def }));
      const file = writeSnapshot(dir, state);
      assert.deepEqual(payloadRecords(file).map((record) => record[0]), ['book', 'sums', 'assets', 'end']);
      const restored = loadSnapshot(realFs, file, SYSTEM_BOOK, 3).state;
      assertSameState(restored, state);
      assert.deepEqual([...restored.assets.values()], assets);
    });
  });

  test('posting_index_serde_round_trips (4096 + 50 entries: one full postings record and a tail of 50, in both versions)', async () => {
    await withTemp((dir) => {
      const count = 4096 + 50;
      const state = new BookState(BOOK);
      state.apply(1, AT_US, { kind: 'account_opened', def: CASH_DEF, cfg: UNSIDED });
      const cash = state.accounts.get('b:cash')!;
      const base = AT_US;
      let raw = 0n;
      for (let index = 0; index < count; index++) {
        const minor = BigInt(index % 97) + (index % 5 === 0 ? 2n ** 40n : 1n);
        const direction = index % 3 === 0 ? 'credit' : 'debit';
        raw += direction === 'debit' ? minor : -minor;
        (cash.postings ??= new PostingIndex()).push({ seq: index + 2, atUs: base + index * 1_000_000, txid: randomUUID(), minor, direction, rawAfter: raw });
      }
      state.seqNext = count + 2;
      state.atLastUs = base + (count - 1) * 1_000_000;
      const file = writeSnapshot(dir, state);
      const postingsRecords = payloadRecords(file).filter((record) => record[0] === 'postings');
      assert.deepEqual(
        postingsRecords.map((record) => (record[1] as Uint8Array).length / 8),
        [COLUMN_ENTRIES_PER_RECORD, count - COLUMN_ENTRIES_PER_RECORD],
        'version 2 holds up to COLUMN_ENTRIES_PER_RECORD postings in a record',
      );
      // Version 1 chunked them by 4,096 too: the loader reads that as well.
      const v1 = writeSnapshotV1(path.join(dir, 'v1'), captureCut(state, positionOf));
      assert.deepEqual(
        snapshotRecords(fs.readFileSync(v1)).filter((record) => record[0] === 'postings').map((record) => (record[1] as Uint8Array).length / 8),
        [4096, 50],
      );
      assertSameState(loadSnapshot(realFs, v1, BOOK, count + 1).state, state);
      const restored = loadSnapshot(realFs, file, BOOK, count + 1).state.accounts.get('b:cash')!;
      assert.equal(postingsOf(restored).length, count);
      for (let index = 0; index < count; index++) {
        const entry = postingsOf(restored).get(index);
        const original = postingsOf(cash).get(index);
        assert.equal(entry.seq, index + 2);
        assert.equal(entry.atUs, base + index * 1_000_000);
        assert.equal(entry.rawAfter, original.rawAfter);
        assert.deepEqual(entry, original);
      }
      // Searches over the restored index agree with the original's.
      for (const seq of [0, 1, 2, 4097, 4098, 4099, count, count + 1, count + 5]) {
        assert.equal(postingsOf(restored).firstAfterSeq(seq), postingsOf(cash).firstAfterSeq(seq), `seq ${seq}`);
      }
      assert.equal(postingsOf(restored).firstAfterAtUs(base + 4095 * 1_000_000), 4096);
    });
  });

  test('PostingIndex exportColumns/importColumns round trip in chunks, and refuse a decreasing order', () => {
    const index = new PostingIndex();
    for (let position = 0; position < 4096 + 50; position++) {
      index.push({ seq: position + 1, atUs: AT_US + position, txid: randomUUID(), minor: BigInt(position), direction: position % 2 ? 'credit' : 'debit', rawAfter: BigInt(-position) });
    }
    const copy = new PostingIndex();
    assert(copy.importColumns(index.exportColumns(0, 4096)));
    assert(copy.importColumns(index.exportColumns(4096, 4146)));
    assert.equal(copy.length, 4146);
    for (let position = 0; position < 4146; position++) assert.deepEqual(copy.get(position), index.get(position));
    // A chunk that goes back in seq is refused and changes nothing.
    assert.equal(copy.importColumns(index.exportColumns(0, 10)), false);
    assert.equal(copy.length, 4146);
    const columns = index.exportColumns(0, 3);
    assert.equal(new PostingIndex().importColumns({ ...columns, directions: Buffer.from([0, 1, 2]) }), false);
    assert.equal(new PostingIndex().importColumns({ ...columns, txids: columns.txids.subarray(1) }), false);
  });
});

// --- snapshots through LogStore (sections 8.6, 8.7) -------------------------------------------

describe('snapshots through LogStore', () => {
  test('periodic: written in slices after enough events, retained two at a time, and used at reopen', async () => {
    await withTemp(async (tmp) => {
      const dir = path.join(tmp, 'data');
      const bookDir = bookDirectory(dir, BOOK);
      const options: LogStoreOptions = { snapshotEvery: 1000, segmentMax: 64 * 1024 };
      let { store, warnings } = await openStore(dir, options);
      const keys: string[] = [];
      let expectedCash = 0n;
      try {
        await seed(store);
        // Each round is large enough for a snapshot of several slices (256 KiB each).
        for (let round = 0; round < 3; round++) {
          const txs = Array.from({ length: 1000 }, (_, index) => mkTx(`r${round}-${index}`, BigInt(index + 1)));
          const results = await store.commitBatch(txs);
          assert(results.every((result) => result.ok), 'every draft committed');
          for (const tx of txs) {
            keys.push(tx.idempotency_key);
            expectedCash += tx.postings[0]!.amount.minor;
          }
          // Commits proceed while the snapshot is written between batches.
          const during = await store.commit(mkTx(`during-${round}`, 1n));
          keys.push(`during-${round}`);
          expectedCash += 1n;
          assert.equal(during.seq, 2 + (round + 1) * 1001);
          await waitUntil(() => listSnapshots(realFs, bookDir).some((seq) => seq >= 2 + round * 1001 + 1000), 20_000, `the periodic snapshot of round ${round}`);
        }
        // Pruning follows the rename: wait for it rather than catch the moment in between.
        await waitUntil(() => listSnapshots(realFs, bookDir).length <= 2, 10_000, 'pruning to the newest two');
        assert(!warnings.some((warning) => warning.code.startsWith('SNAPSHOT')), JSON.stringify(warnings));
      } finally {
        await store.close();
      }
      const seqs = listSnapshots(realFs, bookDir);
      assert(seqs.length >= 1 && seqs.length <= 2, `snapshots ${seqs.join(', ')}`);
      const snapshotBytes = fs.statSync(path.join(bookDir, snapshotFileName(seqs[0]!))).size;
      assert(snapshotBytes > 256 * 1024, `${snapshotBytes} bytes: more than one slice of 256 KiB`);
      assert(!fs.readdirSync(bookDir).some((name) => name.endsWith('.tmp')));
      const snapshotSeq = seqs[0]!;
      // Damage a frame the snapshot covers, with a correct CRC: a replay from seq 1 would refuse
      // the open, one that starts at the snapshot never decodes it.
      const target = segmentFiles(bookDir)
        .flatMap((file) => readFrames(file).map((frame) => ({ file, frame })))
        .find(({ frame }) => frame.seq === 5)!;
      const payload = target.frame.payload.replace('"kind":"transaction_posted"', '"kind":"transaction_postex"');
      assert.notEqual(payload, target.frame.payload);
      const bytes = fs.readFileSync(target.file);
      frameOf(payload).copy(bytes, target.frame.offset);
      fs.writeFileSync(target.file, bytes);
      assert(snapshotSeq > 5);
      ({ store, warnings } = await openStore(dir, options));
      try {
        assert(!warnings.some((warning) => warning.code === 'SNAPSHOT_UNUSABLE'), JSON.stringify(warnings));
        assert.equal((await store.balance({ book: BOOK, path: 'cash' })).amount.minor, expectedCash);
        assert.equal(store.durableSeq(BOOK), 2 + keys.length);
        const retry = mkTx('r2-999', 1000n);
        const replay = await store.commit(retry);
        assert.equal(replay.seq, 2 + 2 * 1001 + 1000);
      } finally {
        await store.close();
      }
      // Without the snapshots the damaged frame is found: proof that the reopen used one.
      for (const seq of listSnapshots(realFs, bookDir)) fs.unlinkSync(path.join(bookDir, snapshotFileName(seq)));
      assert.throws(() => recoverBook(realFs, dir, BOOK), (error) => error instanceof StoreError && error.code === 'CORRUPT');
    });
  });

  test('explicit: LogStore#snapshot validates its argument and resolves once the file is durable', async () => {
    await withTemp(async (tmp) => {
      const dir = path.join(tmp, 'data');
      const { store } = await openStore(dir, { snapshotEvery: 0 });
      try {
        await assert.rejects(store.snapshot('Not A Book!'), (error) => error instanceof StoreError && error.code === 'INVALID_BOOK');
        await assert.rejects(store.snapshot('nobook'), (error) => error instanceof StoreError && error.code === 'INVALID_ARGUMENT');
        await seed(store);
        await store.snapshot(BOOK);
        const bookDir = bookDirectory(dir, BOOK);
        assert.deepEqual(listSnapshots(realFs, bookDir), [2]);
        assert.equal(loadSnapshot(realFs, path.join(bookDir, snapshotFileName(2)), BOOK, 2).state.accounts.size, 2);
        await store.snapshot(SYSTEM_BOOK);
        assert.deepEqual(listSnapshots(realFs, bookDirectory(dir, SYSTEM_BOOK)), [1]);
        // Concurrent requests with commits in between: each resolves with a snapshot covering it.
        const pending: Array<Promise<unknown>> = [];
        for (let index = 0; index < 5; index++) {
          pending.push(store.commit(mkTx(`c${index}`, 1n)));
          pending.push(store.snapshot(BOOK));
        }
        await Promise.all(pending);
        assert.equal(listSnapshots(realFs, bookDir)[0], 7);
        assert(listSnapshots(realFs, bookDir).length <= 2);
      } finally {
        await store.close();
      }
    });
  });
});

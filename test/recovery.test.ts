/**
 * Crash tests through the real LogStore (conformance.md Part 2, section 2.1), one test per row of
 * the recovery decision table as exported by src/log/recovery.ts (log-engine.md 5.3), the
 * data-directory rows D2 to D5 (5.2), and the rule that a refused data directory is left exactly
 * as it was found (5.1). Damaged logs are built by editing real segment files.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { after, afterEach, before, test } from 'node:test';
import { StoreError } from '../src/core/errors.js';
import { encodeAssetRegistered, encodeTransactionPosted } from '../src/core/event-codec.js';
import { LogStore } from '../src/log/log-store.js';
import type { LogStoreOptions, LogStoreWarning } from '../src/log/options.js';
import { RECOVERY_CASES } from '../src/log/recovery.js';
import { segmentFileName } from '../src/log/segment.js';
import { snapshotFileName } from '../src/log/snapshot.js';
import { formatAtUs, parseTimestampUs } from '../src/core/time.js';
import { I64_MAX, type AccountId, type AssetDef, type Committed, type Transaction } from '../src/core/types.js';
import {
  assertCorrupt,
  assertSameTree,
  copyDir,
  eventFrame,
  frameOf,
  frameOffsets,
  makeTempDir,
  newestSegment,
  re,
  readFrames,
  removeTempDir,
  segmentFiles,
  snapshotTree,
  splitPayload,
  xorByte,
  type FrameInfo,
} from './support/segment-files.js';

// --- fixtures (conformance.md 2.0, 2.1) ---------------------------------------------------------

const USD: AssetDef = { id: 'USD', class: 'fiat', precision: 2, name: 'Dollar' };
const CASH: AccountId = { book: 'b', path: 'cash' };
const REV: AccountId = { book: 'b', path: 'rev' };

function uuidv7(): string {
  const bytes = randomBytes(16);
  const ms = Date.now();
  bytes.writeUIntBE(ms, 0, 6);
  bytes[6] = (bytes[6]! & 0x0f) | 0x70;
  bytes[8] = (bytes[8]! & 0x3f) | 0x80;
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** Debit `<book>:cash`, credit `<book>:rev`, by `minor` USD. */
function mkTx(key: string, minor: bigint, book = 'b'): Transaction {
  return {
    id: uuidv7(),
    book,
    postings: [
      { account: { book, path: 'cash' }, amount: { minor, asset: 'USD' }, direction: 'debit' },
      { account: { book, path: 'rev' }, amount: { minor, asset: 'USD' }, direction: 'credit' },
    ],
    idempotency_key: key,
    external_refs: [],
    metadata: null,
    occurred_at: new Date().toISOString(),
  };
}

async function openAccounts(store: LogStore, book: string): Promise<void> {
  await store.openAccount({ id: { book, path: 'cash' }, asset: 'USD', kind: 'asset' }, { normal_side: null, min_balance: null });
  await store.openAccount({ id: { book, path: 'rev' }, asset: 'USD', kind: 'income' }, { normal_side: null, min_balance: null });
}

interface Opened {
  store: LogStore;
  warnings: LogStoreWarning[];
}

function storeOptions(warnings: LogStoreWarning[], extra: LogStoreOptions = {}): LogStoreOptions {
  return { workers: 1, onWarning: (warning) => warnings.push(warning), ...extra };
}

async function open(dir: string, extra: LogStoreOptions = {}): Promise<Opened> {
  const warnings: LogStoreWarning[] = [];
  const store = await LogStore.open(dir, storeOptions(warnings, extra));
  return { store, warnings };
}

/** Opens, runs `body`, always closes. */
async function withStore<T>(dir: string, body: (opened: Opened) => Promise<T>, extra: LogStoreOptions = {}): Promise<T> {
  const opened = await open(dir, extra);
  try {
    return await body(opened);
  } finally {
    await opened.store.close();
  }
}

interface Reference {
  dir: string;
  txs: Transaction[];
  committed: Committed[];
}

/** conformance.md 2.1 `buildReference`: book `b` then holds 5 frames (tx1..tx3 are seqs 3..5). */
async function buildReference(dir: string, extra: LogStoreOptions = {}): Promise<Reference> {
  const txs = [mkTx('tx1', 10n), mkTx('tx2', 20n), mkTx('tx3', 30n)];
  const committed: Committed[] = [];
  await withStore(
    dir,
    async ({ store }) => {
      await store.registerAsset(USD);
      await openAccounts(store, 'b');
      for (const tx of txs) committed.push(await store.commit(tx));
    },
    extra,
  );
  assert.deepEqual(
    committed.map((entry) => entry.seq),
    [3, 4, 5],
  );
  return { dir, txs, committed };
}

let reference: Reference;
let reference64: Reference;
const referenceRoot = makeTempDir();
const scratch: string[] = [];

before(async () => {
  reference = await buildReference(path.join(referenceRoot, 'default'));
  reference64 = await buildReference(path.join(referenceRoot, 'seg64'), { segmentMax: 64 });
});

after(() => {
  removeTempDir(referenceRoot);
});

afterEach(() => {
  for (const dir of scratch.splice(0)) removeTempDir(dir);
});

/** A fresh copy of a reference data directory, removed after the test. */
function freshCopy(from: Reference = reference): string {
  const tmp = makeTempDir();
  scratch.push(tmp);
  const dir = path.join(tmp, 'data');
  copyDir(from.dir, dir);
  return dir;
}

function bookDir(dir: string, book = 'b'): string {
  return path.join(dir, 'books', book);
}

function segmentOf(dir: string, base: number, book = 'b'): string {
  return path.join(bookDir(dir, book), segmentFileName(base));
}

/** The only segment of book `b` in a reference built with the default segment size. */
function onlySegment(dir: string): string {
  const files = segmentFiles(bookDir(dir));
  assert.equal(files.length, 1);
  return files[0]!;
}

/** Re-encodes a frame with a correct CRC, changing any of its parts. */
function reframe(frame: FrameInfo, change: { seq?: number; at?: string; eventJson?: string }): Buffer {
  const parts = splitPayload(frame.payload);
  return eventFrame(change.seq ?? parts.seq, change.at ?? parts.at, change.eventJson ?? parts.eventJson);
}

function frameBytes(file: string, frame: FrameInfo): Buffer {
  return fs.readFileSync(file).subarray(frame.offset, frame.offset + frame.length);
}

/** Rewrites a segment as these frames; returns each frame's offset. */
function writeSegment(file: string, frames: Buffer[]): number[] {
  fs.writeFileSync(file, Buffer.concat(frames));
  const offsets: number[] = [];
  let offset = 0;
  for (const frame of frames) {
    offsets.push(offset);
    offset += frame.length;
  }
  return offsets;
}

/** Replaces frame `index` (0-based) of book b's only segment; returns the new frame offsets. */
function replaceFrame(dir: string, index: number, replacement: Buffer): { file: string; offsets: number[] } {
  const file = onlySegment(dir);
  const frames = readFrames(file);
  const buffers = frames.map((frame) => frameBytes(file, frame));
  buffers[index] = replacement;
  return { file, offsets: writeSegment(file, buffers) };
}

/** Splits book b's only segment into segment-1 (seqs 1..first-1) and segment-<first>. */
function splitSegment(dir: string, first: number, secondBase = first): { sealed: string; final: string; frames: FrameInfo[] } {
  const file = onlySegment(dir);
  const frames = readFrames(file);
  const bytes = fs.readFileSync(file);
  const cut = frames[first - 1]!.offset;
  fs.writeFileSync(file, bytes.subarray(0, cut));
  const final = segmentOf(dir, secondBase);
  fs.writeFileSync(final, bytes.subarray(cut));
  return { sealed: file, final, frames };
}

/** Opening must reject CORRUPT with exactly this book, file and offset, and change nothing on disk. */
async function expectRefusal(dir: string, expected: { file: string; offset: number; book?: string; message?: RegExp }): Promise<StoreError> {
  const before = snapshotTree(dir);
  let caught: unknown;
  await assert.rejects(open(dir), (error) => {
    caught = error;
    return assertCorrupt(error, { book: 'b', ...expected });
  });
  assertSameTree(snapshotTree(dir), before);
  // The lock was released: the directory can be opened again (and refuses again, the same way).
  await assert.rejects(open(dir), (error) => assertCorrupt(error, { book: 'b', ...expected }));
  return caught as StoreError;
}

async function balanceOf(store: LogStore, account: AccountId): Promise<bigint> {
  return (await store.balance(account)).amount.minor;
}

async function eventSeqs(store: LogStore, book = 'b'): Promise<number[]> {
  return (await store.readEvents(book, 1, 1000)).map((event) => event.seq);
}

/** The snapshot files of book b, sorted by name. */
function snapshotsOf(dir: string): string[] {
  return fs
    .readdirSync(bookDir(dir))
    .filter((name) => /^snapshot-\d+\.tsnap$/.test(name))
    .sort()
    .map((name) => path.join(bookDir(dir), name));
}

/**
 * A copy of the reference where book b also holds tx4 (seq 6, 1n), with explicit snapshots taken
 * when the log ends at each of `seqs` (5 and/or 6).
 */
async function withSnapshots(seqs: number[]): Promise<string> {
  const dir = freshCopy();
  await withStore(dir, async ({ store }) => {
    if (seqs.includes(5)) await store.snapshot('b');
    assert.equal((await store.commit(mkTx('tx4', 1n))).seq, 6);
    if (seqs.includes(6)) await store.snapshot('b');
  });
  assert.deepEqual(snapshotsOf(dir).map((file) => path.basename(file)), seqs.map(snapshotFileName));
  return dir;
}

/**
 * Replaces the frame of `seq` (in book b's only segment) by a frame of the same length and a
 * matching CRC whose payload starts with the right seq but is not a valid event (an unknown kind).
 */
function damageCoveredFrame(dir: string, seq: number): { file: string; offset: number } {
  const file = onlySegment(dir);
  const frame = readFrames(file).find((entry) => entry.seq === seq)!;
  const payload = frame.payload.replace('"kind":"transaction_posted"', '"kind":"transaction_postex"');
  assert.notEqual(payload, frame.payload);
  const replacement = frameOf(payload);
  assert.equal(replacement.length, frame.length);
  const bytes = fs.readFileSync(file);
  replacement.copy(bytes, frame.offset);
  fs.writeFileSync(file, bytes);
  return { file, offset: frame.offset };
}

/** Runs `count` async tasks with at most `limit` at a time. */
async function pool(count: number, limit: number, task: (index: number) => Promise<void>): Promise<void> {
  let next = 0;
  const runners = Array.from({ length: Math.min(limit, count) }, async () => {
    while (next < count) {
      const index = next++;
      await task(index);
    }
  });
  await Promise.all(runners);
}

// --- conformance.md 2.1 --------------------------------------------------------------------------

test('truncation_sweep_recovers_last_acked_prefix', async () => {
  const file = onlySegment(reference.dir);
  const frames = readFrames(file);
  assert.equal(frames.length, 5);
  const tx3Start = frames[4]!.offset;
  const length = fs.statSync(file).size;
  const cuts: number[] = [];
  for (let cut = tx3Start; cut < length; cut++) cuts.push(cut);
  let ran = 0;
  await pool(cuts.length, 4, async (index) => {
    const cut = cuts[index]!;
    const tmp = makeTempDir();
    try {
      const dir = path.join(tmp, 'data');
      copyDir(reference.dir, dir);
      const segment = onlySegment(dir);
      fs.truncateSync(segment, cut);
      await withStore(dir, async ({ store, warnings }) => {
        assert.equal(await balanceOf(store, CASH), 30n, `cut ${cut}`);
        assert.equal(store.durableSeq('b'), 4, `cut ${cut}`);
        assert.equal(fs.statSync(segment).size, tx3Start, `cut ${cut}: the segment ends with tx2's frame`);
        if (cut > tx3Start) {
          assert(
            warnings.some((warning) => warning.code === 'TORN_TAIL_TRUNCATED' && warning.file === segment),
            `cut ${cut}: a torn-tail warning names the segment`,
          );
        }
        const again = await store.commit(reference.txs[2]!);
        assert.equal(again.seq, 5, `cut ${cut}`);
        assert.equal(again.txid, reference.txs[2]!.id);
        assert.equal(await balanceOf(store, CASH), 60n);
      });
      ran++;
    } finally {
      removeTempDir(tmp);
    }
  });
  assert(ran >= 1, 'at least one cut ran');
  assert.equal(ran, cuts.length);
});

test('cut_one_frame_earlier_recovers_first_tx_state', async () => {
  const dir = freshCopy();
  const file = onlySegment(dir);
  const offsets = frameOffsets(file);
  fs.truncateSync(file, offsets[3]! + 7); // inside tx2's 8-byte header
  await withStore(dir, async ({ store, warnings }) => {
    assert.equal(await balanceOf(store, CASH), 10n);
    assert.deepEqual(await eventSeqs(store), [1, 2, 3]);
    assert.equal(fs.statSync(file).size, offsets[3]);
    assert(warnings.some((warning) => warning.code === 'TORN_TAIL_TRUNCATED' && warning.file === file));
    assert.equal((await store.commit(reference.txs[1]!)).seq, 4);
  });
});

test('sealed_segment_corruption_refuses_open_everywhere', async () => {
  const files = segmentFiles(bookDir(reference64.dir));
  assert(files.length >= 2, `expected at least 2 segments, found ${files.length}`);
  assert.equal(files.length, 5);
  for (const original of files.slice(0, -1)) {
    const dir = freshCopy(reference64);
    const file = path.join(bookDir(dir), path.basename(original));
    xorByte(file, Math.floor(fs.statSync(file).size / 2));
    await expectRefusal(dir, {
      file,
      offset: 0,
      message: new RegExp(`^CORRUPT: corrupt frame in sealed segment "${re(file)}" at offset 0 \\(crc mismatch\\)$`),
    });
  }
});

test('truncation_to_empty_book_dir_recovers_clean', async () => {
  const dir = freshCopy();
  const file = onlySegment(dir);
  fs.truncateSync(file, 0);
  await withStore(dir, async ({ store }) => {
    await assert.rejects(store.balance(CASH), (error) => error instanceof StoreError && error.code === 'UNKNOWN_ACCOUNT');
    assert.deepEqual(await store.readEvents('b', 1, 10), []);
    assert.equal(store.durableSeq('b'), 0);
    await store.registerAsset(USD); // _system is intact
    await openAccounts(store, 'c');
    const committed = await store.commit(mkTx('c1', 99n, 'c'));
    const balance = await store.balance({ book: 'c', path: 'cash' });
    assert.equal(balance.amount.minor, 99n);
    assert.equal(committed.seq, balance.updated_seq);
  });
  assert.equal(fs.statSync(file).size, 0);
});

// --- idempotency runs (rows R15 to R17) ----------------------------------------------------------

const SPILL_OPTIONS: LogStoreOptions = { idemHotCap: 1, snapshotEvery: 0 };

interface SpilledBook {
  dir: string;
  txs: Transaction[];
  committed: Committed[];
}

/** Book `b` with ten commits and a hot cap of 1, so most keys live in run files; optionally a snapshot. */
async function withSpilledBook(snapshot: boolean): Promise<SpilledBook> {
  const tmp = makeTempDir();
  scratch.push(tmp);
  const dir = path.join(tmp, 'data');
  const txs = Array.from({ length: 10 }, (_, index) => mkTx(`spill-${index}`, BigInt(index + 1)));
  const committed: Committed[] = [];
  await withStore(
    dir,
    async ({ store }) => {
      await store.registerAsset(USD);
      await openAccounts(store, 'b');
      for (const tx of txs) committed.push(await store.commit(tx));
      if (snapshot) await store.snapshot('b');
    },
    SPILL_OPTIONS,
  );
  assert(runsOf(dir).length > 0, 'keys were spilled to runs before the reopen');
  return { dir, txs, committed };
}

function runsOf(dir: string): string[] {
  return fs
    .readdirSync(bookDir(dir))
    .filter((name) => /^idem-\d+\.trun$/.test(name))
    .sort()
    .map((name) => path.join(bookDir(dir), name));
}

/** Every key of the book still deduplicates to its original commit, and nothing was posted twice. */
async function assertEveryKeyDeduplicates(store: LogStore, book: SpilledBook): Promise<void> {
  for (let index = 0; index < book.txs.length; index++) {
    const retry = { ...book.txs[index]!, id: uuidv7() };
    assert.deepEqual(await store.commit(retry), book.committed[index], `key ${book.txs[index]!.idempotency_key}`);
  }
  assert.equal(await balanceOf(store, CASH), 55n);
  assert.deepEqual(await eventSeqs(store), Array.from({ length: 12 }, (_, index) => index + 1));
}

// --- log-engine.md 5.3: one test per row of RECOVERY_CASES ---------------------------------------

type Scenario = [name: string, run: () => Promise<void>];

const ROW_TESTS: Record<string, Scenario[]> = {
  R1: [
    [
      'clean_log_opens',
      async () => {
        const dir = freshCopy();
        const before = snapshotTree(dir);
        await withStore(dir, async ({ store, warnings }) => {
          assert.deepEqual(await store.balance(CASH), { amount: { minor: 60n, asset: 'USD' }, updated_seq: 5 });
          assert.deepEqual(await store.balance(REV), { amount: { minor: -60n, asset: 'USD' }, updated_seq: 5 });
          assert.deepEqual(await eventSeqs(store), [1, 2, 3, 4, 5]);
          assert.equal(store.durableSeq('b'), 5);
          assert.deepEqual(warnings, []);
        });
        assertSameTree(snapshotTree(dir), before);
      },
    ],
    [
      'open_recovers_state_by_replay',
      async () => {
        const dir = freshCopy();
        await withStore(dir, async ({ store }) => {
          assert.deepEqual(await store.asset('USD'), USD);
          assert.deepEqual(await store.trialBalance('b'), [{ asset: 'USD', debits: 60n, credits: 60n }]);
          const stored = await store.transaction(reference.txs[1]!.id);
          assert.notEqual(stored, null);
          assert.equal(stored!.seq, 4);
          assert.equal(stored!.at, reference.committed[1]!.at);
          // Idempotency and the txid index survive the replay.
          assert.deepEqual(await store.commit(reference.txs[0]!), reference.committed[0]);
          await assert.rejects(
            store.commit({ ...mkTx('other', 1n), id: reference.txs[0]!.id }),
            (error) => error instanceof StoreError && error.code === 'ALREADY_EXISTS',
          );
          const next = await store.commit(mkTx('tx4', 1n));
          assert.equal(next.seq, 6);
          assert(next.at >= reference.committed[2]!.at);
        });
      },
    ],
  ],
  R2: [
    [
      'zero_filled_tail_truncates',
      async () => {
        const dir = freshCopy();
        const file = onlySegment(dir);
        const length = fs.statSync(file).size;
        fs.appendFileSync(file, Buffer.alloc(4096));
        await withStore(dir, async ({ store, warnings }) => {
          assert.equal(await balanceOf(store, CASH), 60n);
          assert.equal(fs.statSync(file).size, length);
          const warning = warnings.find((entry) => entry.code === 'TORN_TAIL_TRUNCATED');
          assert(warning !== undefined);
          assert.equal(warning.file, file);
          assert.equal(warning.book, 'b');
          assert.match(warning.message, new RegExp(`4096 bytes in "${re(file)}" at offset ${length}`));
          assert.equal((await store.commit(mkTx('tx4', 1n))).seq, 6);
        });
        assert.deepEqual(frameOffsets(file).length, 6);
      },
    ],
    [
      'garbage_tail_truncates',
      async () => {
        const dir = freshCopy();
        const file = onlySegment(dir);
        const length = fs.statSync(file).size;
        // Deterministic noise, with a fake header and payload prefix inside it that the forward
        // scan must reject (its CRC does not match).
        let state = 12345;
        const noise = Buffer.alloc(700, 0).map(() => {
          state = (state * 1103515245 + 12345) & 0x7fffffff;
          return state >> 16;
        });
        const fake = Buffer.concat([Buffer.from([40, 0, 0, 0, 1, 2, 3, 4]), Buffer.from('{"seq":6,"at":"2026-01-01T00:00:00.000000Z"')]);
        fs.appendFileSync(file, Buffer.concat([noise.subarray(0, 300), fake, noise.subarray(300)]));
        await withStore(dir, async ({ store, warnings }) => {
          assert.equal(await balanceOf(store, CASH), 60n);
          assert.equal(fs.statSync(file).size, length);
          assert(warnings.some((entry) => entry.code === 'TORN_TAIL_TRUNCATED' && entry.file === file));
        });
      },
    ],
    [
      'torn_tail_of_a_multi_segment_log_truncates',
      async () => {
        const dir = freshCopy(reference64);
        const file = newestSegment(bookDir(dir));
        assert.equal(path.basename(file), segmentFileName(5));
        fs.truncateSync(file, Math.floor(fs.statSync(file).size / 2));
        await withStore(dir, async ({ store }) => {
          assert.equal(await balanceOf(store, CASH), 30n);
          assert.equal(fs.statSync(file).size, 0);
          assert.equal((await store.commit(reference64.txs[2]!)).seq, 5);
        });
        assert.deepEqual(readFrames(file).map((frame) => frame.seq), [5]);
      },
    ],
  ],
  R3: [
    [
      'bad_frame_then_intact_frame_in_final_segment_refuses',
      async () => {
        const dir = freshCopy();
        const file = onlySegment(dir);
        const offsets = frameOffsets(file);
        xorByte(file, offsets[3]! + 40); // a byte of tx2's payload
        await expectRefusal(dir, {
          file,
          offset: offsets[3]!,
          message: new RegExp(
            `^CORRUPT: corrupt frame in final segment "${re(file)}" at offset ${offsets[3]} \\(crc mismatch\\); an intact frame follows at offset ${offsets[4]}$`,
          ),
        });
      },
    ],
    [
      'flipped_length_field_is_not_a_torn_tail',
      async () => {
        const dir = freshCopy();
        const file = onlySegment(dir);
        const offsets = frameOffsets(file);
        xorByte(file, offsets[3]! + 2, 0x01); // tx2's length grows by 65,536: it seems to run past the end
        await expectRefusal(dir, {
          file,
          offset: offsets[3]!,
          message: new RegExp(`at offset ${offsets[3]} \\(torn payload\\); an intact frame follows at offset ${offsets[4]}$`),
        });
      },
    ],
  ],
  R4: [
    [
      'bad_frame_in_sealed_segment_refuses',
      async () => {
        const dir = freshCopy();
        const { sealed, frames } = splitSegment(dir, 4); // segment-1: seqs 1-3, segment-4: seqs 4-5
        xorByte(sealed, frames[1]!.offset + 20);
        await expectRefusal(dir, {
          file: sealed,
          offset: frames[1]!.offset,
          message: new RegExp(`^CORRUPT: corrupt frame in sealed segment "${re(sealed)}" at offset ${frames[1]!.offset} \\(crc mismatch\\)$`),
        });
      },
    ],
    [
      'torn_frame_at_the_end_of_a_sealed_segment_refuses',
      async () => {
        const dir = freshCopy();
        const { sealed, frames } = splitSegment(dir, 4);
        fs.truncateSync(sealed, frames[2]!.offset + 30);
        await expectRefusal(dir, {
          file: sealed,
          offset: frames[2]!.offset,
          message: /\(torn payload\)$/,
        });
      },
    ],
  ],
  R5: [
    [
      'crc_valid_invalid_payload_refuses',
      async () => {
        const dir = freshCopy();
        const frames = readFrames(onlySegment(dir));
        const parts = splitPayload(frames[3]!.payload);
        // Valid JSON, matching CRC, but `minor` is a string: not a valid event.
        const bad = reframe(frames[3]!, { eventJson: parts.eventJson.replace('"minor":20', '"minor":"20"') });
        const { file, offsets } = replaceFrame(dir, 3, bad);
        await expectRefusal(dir, {
          file,
          offset: offsets[3]!,
          message: new RegExp(`^CORRUPT: invalid event in segment "${re(file)}" at offset ${offsets[3]}: .+`),
        });
      },
    ],
    [
      'crc_valid_invalid_last_frame_refuses',
      async () => {
        const dir = freshCopy();
        const frames = readFrames(onlySegment(dir));
        const { file, offsets } = replaceFrame(dir, 4, eventFrame(5, splitPayload(frames[4]!.payload).at, '{"kind":"transaction_posted"}'));
        await expectRefusal(dir, { file, offset: offsets[4]!, message: /invalid event in segment/ });
      },
    ],
    [
      'crc_valid_invalid_payload_in_sealed_segment_refuses',
      async () => {
        const dir = freshCopy();
        const { sealed, frames } = splitSegment(dir, 4); // segment-1: seqs 1-3, segment-4: seqs 4-5
        const buffers = frames.slice(0, 3).map((frame) => frameBytes(sealed, frame));
        buffers[1] = reframe(frames[1]!, { eventJson: '{"kind":"account_opened"}' });
        const offsets = writeSegment(sealed, buffers);
        await expectRefusal(dir, {
          file: sealed,
          offset: offsets[1]!,
          message: new RegExp(`^CORRUPT: invalid event in segment "${re(sealed)}" at offset ${offsets[1]}: .+`),
        });
      },
    ],
    [
      'crc_valid_non_json_payload_refuses',
      async () => {
        const dir = freshCopy();
        const { file, offsets } = replaceFrame(dir, 2, frameOf('not json at all'));
        await expectRefusal(dir, { file, offset: offsets[2]!, message: /invalid event in segment/ });
      },
    ],
  ],
  R6: [
    [
      'seq_gap_refuses',
      async () => {
        const dir = freshCopy();
        const frames = readFrames(onlySegment(dir));
        const { file, offsets } = replaceFrame(dir, 3, reframe(frames[3]!, { seq: 5 }));
        await expectRefusal(dir, {
          file,
          offset: offsets[3]!,
          message: new RegExp(`^CORRUPT: seq gap in book b: expected seq 4, found 5 in "${re(file)}" at offset ${offsets[3]}$`),
        });
      },
    ],
    [
      'repeated_seq_refuses',
      async () => {
        const dir = freshCopy();
        const frames = readFrames(onlySegment(dir));
        const { file, offsets } = replaceFrame(dir, 3, reframe(frames[3]!, { seq: 3 }));
        await expectRefusal(dir, { file, offset: offsets[3]!, message: /expected seq 4, found 3/ });
      },
    ],
    [
      'missing_middle_segment_refuses',
      async () => {
        const dir = freshCopy(reference64);
        fs.unlinkSync(segmentOf(dir, 3));
        await expectRefusal(dir, { file: segmentOf(dir, 4), offset: 0, message: /seq gap in book b: expected seq 3/ });
      },
    ],
    [
      'missing_first_segment_refuses',
      async () => {
        const dir = freshCopy(reference64);
        fs.unlinkSync(segmentOf(dir, 1));
        await expectRefusal(dir, { file: segmentOf(dir, 2), offset: 0, message: /seq gap in book b: expected seq 1/ });
      },
    ],
  ],
  R7: [
    [
      'segment_name_mismatch_refuses',
      async () => {
        const dir = freshCopy();
        // segment-1 holds seqs 1-3; the next holds 4-5 but is named 3.
        const { final } = splitSegment(dir, 4, 3);
        await expectRefusal(dir, { file: final, offset: 0, message: new RegExp(`^CORRUPT: segment "${re(final)}" does not start at seq 4`) });
      },
    ],
    [
      'duplicate_segment_base_refuses',
      async () => {
        const dir = freshCopy();
        const padded = onlySegment(dir);
        const unpadded = path.join(bookDir(dir), 'segment-1.log');
        fs.copyFileSync(padded, unpadded);
        await expectRefusal(dir, {
          file: unpadded,
          offset: 0,
          message: new RegExp(`^CORRUPT: segment "${re(unpadded)}" has the same base as "${re(padded)}"$`),
        });
      },
    ],
    [
      'empty_sealed_segment_refuses',
      async () => {
        const dir = freshCopy(reference64);
        fs.truncateSync(segmentOf(dir, 3), 0);
        await expectRefusal(dir, { file: segmentOf(dir, 3), offset: 0 });
      },
    ],
    [
      'empty_final_segment_after_rotation_is_clean',
      async () => {
        const dir = freshCopy(reference64);
        const empty = segmentOf(dir, 6);
        fs.writeFileSync(empty, Buffer.alloc(0)); // a rotation's new segment, crashed before its frame
        await withStore(
          dir,
          async ({ store }) => {
            assert.equal(await balanceOf(store, CASH), 60n);
            assert.equal((await store.commit(mkTx('tx4', 1n))).seq, 6);
          },
          { segmentMax: 64 },
        );
        assert.deepEqual(readFrames(empty).map((frame) => [frame.offset, frame.seq]), [[0, 6]]);
        assert.equal(segmentFiles(bookDir(dir)).length, 6);
      },
    ],
  ],
  R8: [
    [
      'book_dir_without_segments_is_empty_book',
      async () => {
        const dir = freshCopy();
        fs.unlinkSync(onlySegment(dir));
        const before = snapshotTree(dir);
        await withStore(dir, async ({ store }) => {
          await assert.rejects(store.balance(CASH), (error) => error instanceof StoreError && error.code === 'UNKNOWN_ACCOUNT');
          assert.deepEqual(await store.readEvents('b', 1, 10), []);
          assert.deepEqual(await store.trialBalance('b'), []);
          assert.equal(store.durableSeq('b'), 0);
        });
        assertSameTree(snapshotTree(dir), before); // creates nothing
        await withStore(dir, async ({ store }) => {
          await openAccounts(store, 'b');
          assert.equal((await store.commit(mkTx('again', 5n))).seq, 3);
        });
        assert.deepEqual(segmentFiles(bookDir(dir)), [segmentOf(dir, 1)]);
      },
    ],
    [
      'only_an_empty_final_segment_with_base_1_is_empty_book',
      async () => {
        const dir = freshCopy();
        fs.truncateSync(onlySegment(dir), 0);
        const before = snapshotTree(dir);
        await withStore(dir, async ({ store }) => {
          assert.deepEqual(await store.readEvents('b', 1, 10), []);
          assert.equal(store.durableSeq('b'), 0);
        });
        assertSameTree(snapshotTree(dir), before);
      },
    ],
  ],
  R9: [
    [
      'at_going_backwards_refuses',
      async () => {
        const dir = freshCopy();
        const frames = readFrames(onlySegment(dir));
        const tx2At = parseTimestampUs(splitPayload(frames[3]!.payload).at)!;
        const { file, offsets } = replaceFrame(dir, 4, reframe(frames[4]!, { at: formatAtUs(tx2At - 1) }));
        await expectRefusal(dir, {
          file,
          offset: offsets[4]!,
          message: new RegExp(`^CORRUPT: commit time goes backwards in book b at seq 5 in "${re(file)}" at offset ${offsets[4]}$`),
        });
      },
    ],
    [
      'equal_at_is_not_backwards',
      async () => {
        const dir = freshCopy();
        const frames = readFrames(onlySegment(dir));
        replaceFrame(dir, 4, reframe(frames[4]!, { at: splitPayload(frames[3]!.payload).at }));
        await withStore(dir, async ({ store }) => {
          assert.equal(await balanceOf(store, CASH), 60n);
        });
      },
    ],
  ],
  R10: [
    [
      'replay_of_overflowing_log_errors_not_panics',
      async () => {
        const dir = freshCopy();
        const frames = readFrames(onlySegment(dir));
        const [tx1, tx2] = reference.txs as [Transaction, Transaction];
        const withMinor = (tx: Transaction, minor: bigint): string =>
          encodeTransactionPosted({ ...tx, postings: tx.postings.map((posting) => ({ ...posting, amount: { ...posting.amount, minor } })) });
        const file = onlySegment(dir);
        const offsets = writeSegment(file, [
          frameBytes(file, frames[0]!),
          frameBytes(file, frames[1]!),
          reframe(frames[2]!, { eventJson: withMinor(tx1, I64_MAX) }), // cash = 2^63 - 1
          reframe(frames[3]!, { eventJson: withMinor(tx2, 1n) }), // cash would be 2^63
          frameBytes(file, frames[4]!),
        ]);
        await expectRefusal(dir, {
          file,
          offset: offsets[3]!,
          message: new RegExp(`^CORRUPT: corrupt log in book b at segment 1 offset ${offsets[3]}: .+`),
        });
      },
    ],
    [
      'unknown_account_at_replay_refuses',
      async () => {
        const dir = freshCopy();
        const frames = readFrames(onlySegment(dir));
        const tx2 = reference.txs[1]!;
        const ghost = encodeTransactionPosted({
          ...tx2,
          postings: [tx2.postings[0]!, { ...tx2.postings[1]!, account: { book: 'b', path: 'ghost' } }],
        });
        const { file, offsets } = replaceFrame(dir, 3, reframe(frames[3]!, { eventJson: ghost }));
        await expectRefusal(dir, { file, offset: offsets[3]!, message: /corrupt log in book b at segment 1 offset \d+: .*b:ghost/ });
      },
    ],
    [
      'asset_mismatch_at_replay_refuses',
      async () => {
        const dir = freshCopy();
        const frames = readFrames(onlySegment(dir));
        const tx2 = reference.txs[1]!;
        const eur = encodeTransactionPosted({
          ...tx2,
          postings: tx2.postings.map((posting) => ({ ...posting, amount: { ...posting.amount, asset: 'EUR' } })),
        });
        const { file, offsets } = replaceFrame(dir, 3, reframe(frames[3]!, { eventJson: eur }));
        await expectRefusal(dir, { file, offset: offsets[3]!, message: /corrupt log in book b at segment 1 offset \d+: / });
      },
    ],
    [
      'impossible_event_in_a_later_segment_names_its_base',
      async () => {
        const dir = freshCopy(reference64);
        const file = segmentOf(dir, 4);
        const [frame] = readFrames(file) as [FrameInfo];
        const tx2 = reference64.txs[1]!;
        const ghost = encodeTransactionPosted({ ...tx2, postings: [{ ...tx2.postings[0]!, account: { book: 'b', path: 'ghost' } }] });
        writeSegment(file, [reframe(frame, { eventJson: ghost })]);
        await expectRefusal(dir, { file, offset: 0, message: /^CORRUPT: corrupt log in book b at segment 4 offset 0: / });
      },
    ],
    [
      'asset_registered_outside_system_refuses',
      async () => {
        const dir = freshCopy();
        const frames = readFrames(onlySegment(dir));
        const registered = encodeAssetRegistered({ id: 'EUR', class: 'fiat', precision: 2, name: 'Euro' });
        const { file, offsets } = replaceFrame(dir, 4, reframe(frames[4]!, { eventJson: registered }));
        await expectRefusal(dir, { file, offset: offsets[4]!, message: /corrupt log in book b at segment 1 offset \d+: / });
      },
    ],
  ],
  R11: [
    [
      'no_snapshot_replays_from_seq_1',
      async () => {
        const dir = freshCopy();
        assert.deepEqual(snapshotsOf(dir), []);
        fs.writeFileSync(path.join(bookDir(dir), `${snapshotFileName(5)}.tmp`), 'an interrupted snapshot write');
        await withStore(dir, async ({ store, warnings }) => {
          assert.deepEqual(await store.balance(CASH), { amount: { minor: 60n, asset: 'USD' }, updated_seq: 5 });
          assert.deepEqual(await store.commit(reference.txs[0]!), reference.committed[0]);
          assert(!warnings.some((warning) => warning.code === 'SNAPSHOT_UNUSABLE'));
        });
        assert.deepEqual(snapshotsOf(dir), []);
      },
    ],
  ],
  R12: [
    [
      'corrupt_snapshot_is_skipped_in_favor_of_older',
      async () => {
        const dir = await withSnapshots([5, 6]);
        const newest = path.join(bookDir(dir), snapshotFileName(6));
        xorByte(newest, Math.floor(fs.statSync(newest).size / 2));
        // A bad payload covered by snapshot 5 proves which state was used: with snapshot 5 the open
        // does not decode frame 3; with a full replay it would refuse.
        const frame3 = damageCoveredFrame(dir, 3);
        await withStore(dir, async ({ store, warnings }) => {
          assert.deepEqual(await store.balance(CASH), { amount: { minor: 61n, asset: 'USD' }, updated_seq: 6 });
          const unusable = warnings.filter((warning) => warning.code === 'SNAPSHOT_UNUSABLE');
          assert.deepEqual(unusable.map((warning) => warning.file), [newest]);
          assert.match(unusable[0]!.message, /CRC/);
          await assert.rejects(store.readEvents('b', 1, 10), (error) => assertCorrupt(error, { book: 'b', file: frame3.file, offset: frame3.offset }));
        });
        assert(fs.existsSync(newest)); // ignored, not deleted
      },
    ],
    [
      'all_snapshots_corrupt_replays_the_whole_log',
      async () => {
        const dir = await withSnapshots([5, 6]);
        const files = snapshotsOf(dir);
        assert.equal(files.length, 2);
        for (const file of files) xorByte(file, 40);
        await withStore(dir, async ({ store, warnings }) => {
          assert.deepEqual(await store.balance(CASH), { amount: { minor: 61n, asset: 'USD' }, updated_seq: 6 });
          assert.deepEqual(await eventSeqs(store), [1, 2, 3, 4, 5, 6]);
          assert.deepEqual(
            warnings.filter((warning) => warning.code === 'SNAPSHOT_UNUSABLE').map((warning) => warning.file),
            [files[1], files[0]],
          );
        });
      },
    ],
    [
      'unknown_snapshot_version_is_ignored',
      async () => {
        const dir = await withSnapshots([5]);
        const file = path.join(bookDir(dir), snapshotFileName(5));
        const bytes = fs.readFileSync(file);
        bytes.writeUInt32LE(3, 8); // versions 1 and 2 are known
        bytes.writeUInt32LE(zlib.crc32(bytes.subarray(0, bytes.length - 4)), bytes.length - 4);
        fs.writeFileSync(file, bytes);
        const frame3 = damageCoveredFrame(dir, 3);
        await assert.rejects(open(dir), (error) => assertCorrupt(error, { book: 'b', file: frame3.file, offset: frame3.offset }));
      },
    ],
    [
      'snapshot_name_seq_mismatch_is_ignored',
      async () => {
        const dir = await withSnapshots([5]);
        fs.renameSync(path.join(bookDir(dir), snapshotFileName(5)), path.join(bookDir(dir), snapshotFileName(4)));
        await withStore(dir, async ({ store, warnings }) => {
          assert.deepEqual(await store.balance(CASH), { amount: { minor: 61n, asset: 'USD' }, updated_seq: 6 });
          assert(warnings.some((warning) => warning.code === 'SNAPSHOT_UNUSABLE' && warning.file === path.join(bookDir(dir), snapshotFileName(4))));
        });
      },
    ],
    [
      'snapshot_from_other_history_is_ignored',
      async () => {
        const other = await withSnapshots([5]);
        const dir = freshCopy(reference64); // five events too, with other commit times
        fs.copyFileSync(path.join(bookDir(other), snapshotFileName(5)), path.join(bookDir(dir), snapshotFileName(5)));
        await withStore(dir, async ({ store, warnings }) => {
          assert.deepEqual(await store.balance(CASH), { amount: { minor: 60n, asset: 'USD' }, updated_seq: 5 });
          assert.deepEqual(await store.commit(reference64.txs[0]!), reference64.committed[0]);
          assert(warnings.some((warning) => warning.code === 'SNAPSHOT_UNUSABLE' && /another history/.test(warning.message)));
        });
      },
    ],
  ],
  R13: [
    [
      'snapshot_ahead_of_log_refuses',
      async () => {
        // Snapshots at 4 and 5; then the log loses seq 5. The valid snapshot 5 proves that seq 5
        // was durable: refuse, and never fall back to snapshot 4.
        const dir = freshCopy();
        const file = onlySegment(dir);
        const tx3Start = frameOffsets(file)[4]!;
        fs.truncateSync(file, tx3Start);
        await withStore(dir, async ({ store }) => {
          await store.snapshot('b');
          assert.equal((await store.commit(reference.txs[2]!)).seq, 5);
          await store.snapshot('b');
        });
        assert.deepEqual(snapshotsOf(dir).map((name) => path.basename(name)), [snapshotFileName(4), snapshotFileName(5)]);
        fs.truncateSync(file, tx3Start);
        const snapshot = path.join(bookDir(dir), snapshotFileName(5));
        await expectRefusal(dir, {
          file,
          offset: tx3Start,
          message: new RegExp(`^CORRUPT: snapshot "${re(snapshot)}" covers seq 5 but the log of book b ends at seq 4$`),
        });
        // The same when the loss looks like a torn tail: nothing is truncated.
        fs.truncateSync(file, tx3Start + 20);
        await expectRefusal(dir, { file, offset: tx3Start, message: /covers seq 5 but the log of book b ends at seq 4/ });
      },
    ],
    [
      'snapshot_without_any_segment_refuses',
      async () => {
        const dir = await withSnapshots([5]);
        for (const segment of segmentFiles(bookDir(dir))) fs.unlinkSync(segment);
        await expectRefusal(dir, { file: bookDir(dir), offset: 0, message: /covers seq 5 but the log of book b ends at seq 0/ });
      },
    ],
  ],
  R14: [
    [
      'open_uses_snapshot_plus_tail',
      async () => {
        const dir = await withSnapshots([5]);
        const frame3 = damageCoveredFrame(dir, 3);
        await withStore(dir, async ({ store, warnings }) => {
          assert.deepEqual(warnings, []);
          assert.deepEqual(await store.balance(CASH), { amount: { minor: 61n, asset: 'USD' }, updated_seq: 6 });
          assert.deepEqual(await store.balance(REV), { amount: { minor: -61n, asset: 'USD' }, updated_seq: 6 });
          assert.deepEqual(await store.trialBalance('b'), [{ asset: 'USD', debits: 61n, credits: 61n }]);
          assert.equal(store.durableSeq('b'), 6);
          // Idempotency records and txids from the snapshot and from the replayed tail.
          assert.deepEqual(await store.commit(reference.txs[1]!), reference.committed[1]);
          const stored = await store.transaction(reference.txs[2]!.id);
          assert.equal(stored?.seq, 5);
          assert.equal((await store.commit(mkTx('tx5', 1n))).seq, 7);
          // The damaged frame the snapshot covers is found by the first read that reaches it.
          await assert.rejects(store.readEvents('b', 1, 10), (error) => assertCorrupt(error, { book: 'b', file: frame3.file, offset: frame3.offset }));
        });
      },
    ],
  ],
  R15: [
    [
      'valid_runs_are_attached_not_rebuilt',
      async () => {
        const book = await withSpilledBook(true);
        const runsBefore = runsOf(book.dir).map((file) => [file, fs.readFileSync(file)] as const);
        await withStore(
          book.dir,
          async ({ store, warnings }) => {
            await assertEveryKeyDeduplicates(store, book);
            assert(!warnings.some((warning) => warning.code.startsWith('RUN_')), 'no run was invalid or rebuilt');
          },
          SPILL_OPTIONS,
        );
        for (const [file, bytes] of runsBefore) assert(fs.readFileSync(file).equals(bytes), `${file} unchanged`);
      },
    ],
  ],
  R16: [
    [
      'one_corrupt_run_rebuilds_from_whole_log',
      async () => {
        const book = await withSpilledBook(true);
        const damaged = runsOf(book.dir)[0]!;
        const bytes = fs.readFileSync(damaged);
        bytes[40]! ^= 0xff;
        fs.writeFileSync(damaged, bytes);
        await withStore(
          book.dir,
          async ({ store, warnings }) => {
            assert(warnings.some((warning) => warning.code === 'RUN_INVALID' && warning.file === damaged));
            assert(warnings.some((warning) => warning.code === 'RUN_REBUILT'));
            await assertEveryKeyDeduplicates(store, book);
          },
          SPILL_OPTIONS,
        );
      },
    ],
    [
      'missing_run_before_snapshot_is_rebuilt',
      async () => {
        const book = await withSpilledBook(true);
        fs.unlinkSync(runsOf(book.dir)[0]!);
        await withStore(
          book.dir,
          async ({ store, warnings }) => {
            assert(warnings.some((warning) => warning.code === 'RUN_REBUILT'));
            await assertEveryKeyDeduplicates(store, book);
          },
          SPILL_OPTIONS,
        );
      },
    ],
    [
      'all_runs_deleted_without_snapshot_replays_every_key',
      async () => {
        const book = await withSpilledBook(false);
        for (const file of runsOf(book.dir)) fs.unlinkSync(file);
        await withStore(book.dir, async ({ store }) => assertEveryKeyDeduplicates(store, book), SPILL_OPTIONS);
      },
    ],
  ],
  R17: [
    [
      'run_beyond_log_end_refuses',
      async () => {
        const book = await withSpilledBook(false);
        const file = onlySegment(book.dir);
        const offsets = frameOffsets(file);
        // Cut the log after seq 4: every run reaching beyond it proves acknowledged events were lost.
        fs.truncateSync(file, offsets[4]!);
        await expectRefusal(book.dir, { file, offset: offsets[4]!, message: /idempotency run ".*idem-\d+\.trun" covers seq \d+ but the log of book b ends at seq 4/ });
      },
    ],
  ],
  R18: [
    [
      'leftover_tmp_files_are_removed',
      async () => {
        const dir = freshCopy();
        // This package's: layout-2 names, and layout-1 names (0.1.x) that begin with its magic.
        const ours: Array<[string, string]> = [
          ['snapshot-00000000000000000005.tsnap.tmp', 'partial'],
          ['idem-000000.trun.tmp', 'partial'],
          ['snapshot-00000000000000000004.snap.tmp', 'TALEASNP partial'],
          ['idem-000001.run.tmp', 'TALEARUN partial'],
        ];
        // Not this package's (O2, R19): another store's interrupted writes and unknown names.
        const theirs = ['anything.tmp', 'idem-000002.run.tmp', 'snapshot-00000000000000000003.snap.tmp'];
        for (const [name, text] of ours) fs.writeFileSync(path.join(bookDir(dir), name), text);
        for (const name of theirs) fs.writeFileSync(path.join(bookDir(dir), name), 'partial');
        fs.writeFileSync(path.join(bookDir(dir, '_system'), 'snapshot-00000000000000000001.tsnap.tmp'), 'x');
        const segmentBefore = fs.readFileSync(onlySegment(dir));
        await withStore(dir, async ({ store, warnings }) => {
          assert.equal(await balanceOf(store, CASH), 60n);
          for (const [name] of ours) assert(warnings.some((entry) => entry.code === 'TMP_REMOVED' && entry.file === path.join(bookDir(dir), name)));
          assert(!warnings.some((entry) => entry.code === 'TMP_REMOVED' && theirs.some((name) => entry.file === path.join(bookDir(dir), name))));
        });
        assert.deepEqual(fs.readdirSync(bookDir(dir)).sort(), [...theirs, segmentFileName(1)].sort());
        for (const name of theirs) assert.equal(fs.readFileSync(path.join(bookDir(dir), name), 'utf8'), 'partial');
        assert.deepEqual(fs.readdirSync(bookDir(dir, '_system')), [segmentFileName(1)]);
        assert(fs.readFileSync(onlySegment(dir)).equals(segmentBefore));
      },
    ],
  ],
  R19: [
    [
      'unknown_files_are_left_alone',
      async () => {
        const dir = freshCopy();
        const names = ['notes.txt', 'segment-abc.log', 'segment-0.log', 'segment-1.log.bak', 'SEGMENT-2.LOG'];
        for (const name of names) fs.writeFileSync(path.join(bookDir(dir), name), `unknown ${name}`);
        fs.mkdirSync(path.join(bookDir(dir), 'subdir'));
        const before = snapshotTree(dir);
        await withStore(dir, async ({ store }) => {
          assert.equal(await balanceOf(store, CASH), 60n);
        });
        assertSameTree(snapshotTree(dir), before);
        await withStore(dir, async ({ store }) => {
          assert.equal((await store.commit(mkTx('tx4', 1n))).seq, 6);
        });
        for (const name of names) assert.equal(fs.readFileSync(path.join(bookDir(dir), name), 'utf8'), `unknown ${name}`);
      },
    ],
    [
      'another_stores_files_at_shared_names_are_left_alone',
      async () => {
        const dir = freshCopy();
        // The Rust store's own snapshot and runs: a CRC, then JSON, under the layout-1 names.
        const names = ['idem-000018.run', 'idem-000025.run', 'idem-000026.run.tmp', 'snapshot-00000000000000000005.snap'];
        for (const name of names) fs.writeFileSync(path.join(bookDir(dir), name), Buffer.concat([randomBytes(4), Buffer.from(`[["key",{"name":"${name}"}]]`)]));
        const before = snapshotTree(dir);
        await withStore(dir, async ({ store, warnings }) => {
          assert.equal(await balanceOf(store, CASH), 60n);
          const foreign = warnings.filter((warning) => warning.code === 'FOREIGN_FILES');
          assert.equal(foreign.length, 1, 'one warning for the book');
          assert.equal(foreign[0]!.book, 'b');
          assert.equal(foreign[0]!.file, bookDir(dir));
          assert(!warnings.some((warning) => ['SNAPSHOT_UNUSABLE', 'RUN_INVALID', 'RUN_REBUILT', 'TMP_REMOVED'].includes(warning.code)), "none is read as this package's");
        });
        assertSameTree(snapshotTree(dir), before);
        // Spills and a snapshot write this package's own names, numbered past every run name.
        await withStore(
          dir,
          async ({ store }) => {
            assert.deepEqual(await store.commit(reference.txs[0]!), reference.committed[0]);
            await store.commit(mkTx('tx4', 1n));
            await store.snapshot('b');
          },
          SPILL_OPTIONS,
        );
        for (const name of names) assert(fs.readFileSync(path.join(bookDir(dir), name)).equals(before.get(path.join('books', 'b', name))!), `${name} unchanged`);
        const runNumbers = runsOf(dir).map((file) => Number(/idem-(\d+)\.trun$/.exec(file)![1]));
        assert(runNumbers.length > 0 && Math.min(...runNumbers) >= 27, `runs numbered past idem-000026: ${runNumbers.join(', ')}`);
        assert.deepEqual(snapshotsOf(dir).map((file) => path.basename(file)), [snapshotFileName(6)]);
      },
    ],
  ],
  R20: [
    [
      'repeated_txid_and_key_refuses',
      async () => {
        // A retry posted twice, as the Rust store did after losing keys: seq 6 repeats seq 3.
        const dir = freshCopy();
        const tx1 = reference.txs[0]!;
        const { file, offset } = appendFrame(dir, 6, encodeTransactionPosted(tx1));
        await expectRefusal(dir, {
          file,
          offset,
          message: new RegExp(
            `^CORRUPT: repeated transaction in book b: seq 6 in "${re(file)}" at offset ${offset} repeats the txid ${tx1.id} and the idempotency key "tx1" of seq 3$`,
          ),
        });
      },
    ],
    [
      'repeated_idempotency_key_under_another_txid_refuses',
      async () => {
        const dir = freshCopy();
        const { file, offset } = appendFrame(dir, 6, encodeTransactionPosted({ ...mkTx('tx2', 7n), occurred_at: reference.txs[1]!.occurred_at }));
        await expectRefusal(dir, { file, offset, message: new RegExp(`: seq 6 in "${re(file)}" at offset ${offset} repeats the idempotency key "tx2" of seq 4$`) });
      },
    ],
    [
      'repeated_txid_under_another_key_refuses',
      async () => {
        const dir = freshCopy();
        const tx3 = reference.txs[2]!;
        const { file, offset } = appendFrame(dir, 6, encodeTransactionPosted({ ...tx3, idempotency_key: 'fresh' }));
        await expectRefusal(dir, { file, offset, message: new RegExp(`: seq 6 in "${re(file)}" at offset ${offset} repeats the txid ${tx3.id} of seq 5$`) });
      },
    ],
    [
      'txid_and_key_of_two_earlier_transactions_are_both_named',
      async () => {
        const dir = freshCopy();
        const tx1 = reference.txs[0]!;
        const { file, offset } = appendFrame(dir, 6, encodeTransactionPosted({ ...reference.txs[1]!, id: tx1.id }));
        await expectRefusal(dir, { file, offset, message: new RegExp(`: seq 6 in "${re(file)}" at offset ${offset} repeats the txid ${tx1.id} of seq 3 and the idempotency key "tx2" of seq 4$`) });
      },
    ],
    [
      'repeat_of_a_key_spilled_before_the_snapshot_refuses',
      async () => {
        // The first spill-0 (seq 3) lives in a run and the snapshot covers it: the lookup reaches the run.
        const book = await withSpilledBook(true);
        const { file, offset } = appendFrame(book.dir, 13, encodeTransactionPosted({ ...mkTx('spill-0', 1n), occurred_at: book.txs[0]!.occurred_at }));
        await expectRefusal(book.dir, { file, offset, message: new RegExp(`: seq 13 in "${re(file)}" at offset ${offset} repeats the idempotency key "spill-0" of seq 3$`) });
      },
    ],
  ],
  R21: [
    [
      'layout_1_files_of_this_package_are_renamed',
      async () => {
        // 0.1.x wrote these bytes under the names the Rust store reads (test/rust-compat.test.ts
        // opens a directory 0.1.0 itself wrote).
        const book = await withSpilledBook(true);
        const layout1 = (name: string): string => name.replace(/\.tsnap$/, '.snap').replace(/\.trun$/, '.run');
        const ours = [...snapshotsOf(book.dir), ...runsOf(book.dir)];
        assert(ours.length >= 2);
        for (const file of ours) fs.renameSync(file, layout1(file));
        const before = snapshotTree(book.dir);
        await withStore(book.dir, async ({ store, warnings }) => {
          const renamed = warnings.filter((warning) => warning.code === 'FILES_RENAMED');
          assert.equal(renamed.length, 1);
          for (const file of ours) assert(renamed[0]!.message.includes(`${path.basename(layout1(file))} -> ${path.basename(file)}`), renamed[0]!.message);
          // Lookups reach the spilled keys under the runs' new names.
          await assertEveryKeyDeduplicates(store, book);
        });
        for (const file of ours) {
          assert.equal(fs.existsSync(layout1(file)), false);
          assert(fs.readFileSync(file).equals(before.get(path.relative(book.dir, layout1(file)))!), `${file}: the same bytes`);
        }
      },
    ],
    [
      'a_layout_2_name_that_is_taken_keeps_the_layout_1_file',
      async () => {
        const dir = await withSnapshots([5]);
        const file = path.join(bookDir(dir), snapshotFileName(5));
        const legacy = file.replace(/\.tsnap$/, '.snap');
        fs.copyFileSync(file, legacy);
        const before = snapshotTree(dir);
        await withStore(dir, async ({ warnings }) => {
          assert(!warnings.some((warning) => warning.code === 'FILES_RENAMED'));
        });
        assertSameTree(snapshotTree(dir), before);
      },
    ],
  ],
};

/** Appends a transaction frame of `seq` to book b's only segment, with the last frame's commit time. */
function appendFrame(dir: string, seq: number, eventJson: string): { file: string; offset: number } {
  const file = onlySegment(dir);
  const frames = readFrames(file);
  const last = frames[frames.length - 1]!;
  assert.equal(last.seq, seq - 1);
  const offset = fs.statSync(file).size;
  fs.appendFileSync(file, eventFrame(seq, splitPayload(last.payload).at, eventJson));
  return { file, offset };
}

/** The action log-engine.md 5.3 gives each row. */
const ROW_ACTIONS: Record<string, string> = {
  R1: 'open',
  R2: 'truncate-tail',
  R3: 'refuse-corrupt',
  R4: 'refuse-corrupt',
  R5: 'refuse-corrupt',
  R6: 'refuse-corrupt',
  R7: 'refuse-corrupt',
  R8: 'empty-book',
  R9: 'refuse-corrupt',
  R10: 'refuse-corrupt',
  R11: 'open',
  R12: 'ignore-snapshot',
  R13: 'refuse-corrupt',
  R14: 'open',
  R15: 'open',
  R16: 'rebuild-runs',
  R17: 'refuse-corrupt',
  R18: 'remove-tmp',
  R19: 'ignore',
  R20: 'refuse-corrupt',
  R21: 'rename',
};

test('RECOVERY_CASES lists the rows of log-engine.md 5.3 with their actions', () => {
  const ids = RECOVERY_CASES.map((row) => row.id);
  assert.equal(new Set(ids).size, ids.length, 'no row twice');
  for (const id of ['R1', 'R2', 'R3', 'R4', 'R5', 'R6', 'R7', 'R8', 'R9', 'R10', 'R18', 'R19', 'R20']) assert(ids.includes(id), `${id} is missing`);
  for (const row of RECOVERY_CASES) {
    assert(row.id in ROW_ACTIONS, `${row.id} is not a row of log-engine.md 5.3`);
    assert.equal(row.action, ROW_ACTIONS[row.id], `action of ${row.id}`);
  }
  for (const id of Object.keys(ROW_TESTS)) assert(ids.includes(id), `${id} has tests but is not in RECOVERY_CASES`);
});

for (const row of RECOVERY_CASES) {
  const scenarios = ROW_TESTS[row.id];
  if (scenarios === undefined || scenarios.length === 0) {
    test(`${row.id} has a test`, () => assert.fail(`row ${row.id} (${row.when}) has no test`));
    continue;
  }
  for (const [name, run] of scenarios) test(`${row.id} ${name}`, run);
}

// --- log-engine.md 5.2: data-directory checks ----------------------------------------------------

test('D2 book_dir_with_bad_name_refuses', async () => {
  const dir = freshCopy();
  fs.mkdirSync(path.join(dir, 'books', 'bad name!'));
  const before = snapshotTree(dir);
  await assert.rejects(open(dir), (error) => {
    assert(error instanceof StoreError);
    assert.equal(error.code, 'INVALID_BOOK');
    assert.equal((error as StoreError & { book: string }).book, 'bad name!');
    assert.equal((error as StoreError & { reason: string }).reason, 'pattern');
    return true;
  });
  assertSameTree(snapshotTree(dir), before);
});

test('D3 case_conflicting_book_dirs_refuse', async () => {
  const dir = freshCopy();
  fs.mkdirSync(path.join(dir, 'books', 'Acme'));
  fs.mkdirSync(path.join(dir, 'books', 'acme'));
  const before = snapshotTree(dir);
  await assert.rejects(open(dir), (error) => {
    assert(error instanceof StoreError);
    assert.equal(error.code, 'INVALID_BOOK');
    assert.equal((error as StoreError & { reason: string }).reason, 'case_conflict');
    assert(['Acme', 'acme'].includes((error as StoreError & { book: string }).book));
    assert.match(error.message, /"Acme"/);
    assert.match(error.message, /"acme"/);
    return true;
  });
  assertSameTree(snapshotTree(dir), before);
});

test('D4 stray_file_in_books_is_ignored', async () => {
  const dir = freshCopy();
  const stray = path.join(dir, 'books', 'stray.txt');
  fs.writeFileSync(stray, 'not a book');
  fs.writeFileSync(path.join(dir, 'books', 'bad name!'), 'a file with a bad book name is not a book either');
  await withStore(dir, async ({ store }) => {
    assert.equal(await balanceOf(store, CASH), 60n);
    assert.deepEqual(await store.readEvents('stray.txt', 1, 10), []);
  });
  assert.equal(fs.readFileSync(stray, 'utf8'), 'not a book');
});

test('D5 open_creates_missing_dirs', async () => {
  const tmp = makeTempDir();
  scratch.push(tmp);
  const dir = path.join(tmp, 'x', 'y', 'data');
  await withStore(dir, async ({ store }) => {
    assert.deepEqual(await store.readEvents('b', 1, 10), []);
  });
  assert(fs.statSync(path.join(dir, 'books')).isDirectory());
  assert.deepEqual(fs.readdirSync(path.join(dir, 'books')), []); // no book is created by opening
  // books/ alone missing.
  fs.rmSync(path.join(dir, 'books'), { recursive: true });
  await withStore(dir, async ({ store }) => {
    await store.registerAsset(USD);
  });
  assert.deepEqual(fs.readdirSync(path.join(dir, 'books')), ['_system']);
});

// --- log-engine.md 5.1: a refused directory is left as it was found ------------------------------

/** A copy of the reference with a second book `a` (accounts and one transaction). */
async function withBookA(): Promise<string> {
  const dir = freshCopy();
  await withStore(dir, async ({ store }) => {
    await openAccounts(store, 'a');
    await store.commit(mkTx('a1', 7n, 'a'));
  });
  return dir;
}

test('refused_directory_is_left_byte_for_byte_as_found', async () => {
  const dir = await withBookA();
  // Book a: a torn tail and a leftover temporary file, which a successful open would repair.
  const aSegment = onlySegmentOf(dir, 'a');
  fs.appendFileSync(aSegment, Buffer.alloc(100));
  fs.writeFileSync(path.join(bookDir(dir, 'a'), 'snapshot-00000000000000000003.tsnap.tmp'), 'partial');
  // Book b: damage in the middle of its final segment.
  const bSegment = onlySegment(dir);
  const offsets = frameOffsets(bSegment);
  xorByte(bSegment, offsets[2]! + 30);
  for (const workers of [1, 2]) {
    const before = snapshotTree(dir);
    await assert.rejects(open(dir, { workers }), (error) => assertCorrupt(error, { book: 'b', file: bSegment, offset: offsets[2]! }));
    assertSameTree(snapshotTree(dir), before); // no truncation of a, no deletion of its .tmp
  }
  // Once b is restored, the same open repairs a.
  xorByte(bSegment, offsets[2]! + 30);
  await withStore(dir, async ({ store }) => {
    assert.equal(await balanceOf(store, { book: 'a', path: 'cash' }), 7n);
    assert.equal(await balanceOf(store, CASH), 60n);
  });
  assert.deepEqual(fs.readdirSync(bookDir(dir, 'a')), [segmentFileName(1)]);
});

test('the first failing book in UTF-8 name order decides the error', async () => {
  const dir = await withBookA();
  const aSegment = onlySegmentOf(dir, 'a');
  const aOffsets = frameOffsets(aSegment);
  xorByte(aSegment, aOffsets[1]! + 30); // a: damage followed by an intact frame (R3)
  const bSegment = onlySegment(dir);
  const bOffsets = frameOffsets(bSegment);
  xorByte(bSegment, bOffsets[1]! + 30);
  for (const workers of [1, 2, 3]) {
    await assert.rejects(open(dir, { workers }), (error) => assertCorrupt(error, { book: 'a', file: aSegment, offset: aOffsets[1]! }));
  }
});

function onlySegmentOf(dir: string, book: string): string {
  const files = segmentFiles(bookDir(dir, book));
  assert.equal(files.length, 1);
  return files[0]!;
}

/**
 * Frame sizes against chunked reads (spec/log-engine.md, sections 3.4 and 4.5; G5 in
 * src/log/segment.ts): events of every size from 0 to the event cap (EVENT_BYTES_MAX), in random
 * order and random batches, written to real files and read back through every reading path.
 *
 *   1. A sweep: with tiny scan chunks, frame starts fall on every byte position relative to a
 *      chunk boundary, so headers and payloads are split at every point; every scan and every
 *      positioned read returns every frame.
 *   2. SegmentLog, property: random sizes and a random scan chunk size; the segment scan (from
 *      every kind of start, limit and ceiling), the positioned read, replay at open (recoverBook)
 *      and both passes of verify (checkSegmentFile, summarizeBook).
 *   3. LogStore, property: random sizes, chunk size (testHooks.scanChunkBytes) and segmentMax;
 *      readEvents, subscription catch-up, point-in-time trial balance, transaction(), the
 *      positioned read of an idempotent retry, a reopen (replay) and verifyDataDir. The book must
 *      still accept writes after all of them.
 *
 * Few runs with large frames keep the time modest; `PROPTEST_CASES=n` multiplies the runs and
 * `PROPTEST_SEED=s` replays a seed that fast-check printed with a failure.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { test } from 'node:test';
import fc from 'fast-check';
import { encodeAccountOpened, encodeSequencedPayload, encodeTransactionPosted, type DecodedPayload } from '../src/core/event-codec.js';
import { EVENT_BYTES_MAX, FRAME_HEADER_BYTES } from '../src/core/limits.js';
import { formatAtUs } from '../src/core/time.js';
import type { SequencedEvent, Transaction } from '../src/core/types.js';
import { RealFileSystem } from '../src/log/file-system.js';
import { LogStore } from '../src/log/log-store.js';
import { recoverBook } from '../src/log/recovery.js';
import { parseSegmentFileName, SCAN_CHUNK_BYTES, SegmentLog } from '../src/log/segment.js';
import { verifyDataDir } from '../src/log/verify.js';
import { checkSegmentFile, summarizeBook } from '../src/log/verify-tasks.js';
import { eventFrame, makeTempDir, removeTempDir } from './support/segment-files.js';
import { catchUp, seed } from './support/log-store-fixtures.js';

const BOOK = 'b';
const BASE_US = Date.UTC(2026, 0, 1) * 1000;
const realFs = new RealFileSystem();

function runsTimes(base: number): number {
  const text = process.env.PROPTEST_CASES;
  if (text === undefined || text === '') return base;
  const value = Number(text);
  assert(Number.isSafeInteger(value) && value > 0, `PROPTEST_CASES must be a positive integer, not ${JSON.stringify(text)}`);
  return value;
}

function seedOverride(): { seed?: number } {
  const text = process.env.PROPTEST_SEED;
  if (text === undefined || text === '') return {};
  const value = Number(text);
  assert(Number.isSafeInteger(value), `PROPTEST_SEED must be an integer, not ${JSON.stringify(text)}`);
  return { seed: value };
}

// --- sizes --------------------------------------------------------------------------------------

/** Bytes of event JSON written per property run at most: big frames are few, not many. */
const RUN_EVENT_BYTES_MAX = 10 * 1024 * 1024;

/**
 * Event sizes in bytes from 0 to the cap: mostly small, many just around a multiple of the default
 * chunk, some anywhere, some exactly at the cap.
 */
const eventBytesArb = fc.oneof(
  { weight: 4, arbitrary: fc.integer({ min: 0, max: 4096 }) },
  {
    weight: 3,
    arbitrary: fc
      .tuple(fc.integer({ min: 1, max: 64 }), fc.integer({ min: -48, max: 48 }))
      .map(([chunks, delta]) => Math.min(EVENT_BYTES_MAX, chunks * SCAN_CHUNK_BYTES + delta)),
  },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: EVENT_BYTES_MAX }) },
  { weight: 1, arbitrary: fc.constant(EVENT_BYTES_MAX) },
);

/** A list of sizes whose sum stays within RUN_EVENT_BYTES_MAX (the tail that would cross it is cut). */
const sizesArb = fc.array(eventBytesArb, { minLength: 1, maxLength: 10 }).map((sizes) => {
  let total = 0;
  return sizes.filter((size, index) => {
    total += size;
    return index === 0 || total <= RUN_EVENT_BYTES_MAX;
  });
});

/** Scan chunk sizes: degenerate, around the header, odd, and the default. */
const chunkArb = fc.oneof(fc.constantFrom(1, 7, 8, 9, 4096, SCAN_CHUNK_BYTES), fc.integer({ min: 1, max: 512 * 1024 }));

/** Random batch boundaries: the number of frames in each batch, covering `count` frames. */
function batchesOf(count: number, cuts: readonly number[]): number[] {
  const batches: number[] = [];
  let left = count;
  for (const cut of cuts) {
    if (left === 0) break;
    const size = 1 + (cut % left);
    batches.push(size);
    left -= size;
  }
  if (left > 0) batches.push(left);
  return batches;
}

// --- 1 and 2: SegmentLog ------------------------------------------------------------------------

/** The account path that makes an account_opened event of seq `seq` exactly `bytes` bytes of JSON (or its smallest). */
function accountPath(seq: number, bytes: number): string {
  const prefix = `${seq}:`;
  return prefix + 'p'.repeat(Math.max(0, bytes - accountEventJson(prefix).length));
}

function accountEventJson(pathText: string): string {
  return encodeAccountOpened({ id: { book: BOOK, path: pathText }, asset: 'USD', kind: 'asset' }, { normal_side: null, min_balance: null });
}

/** A short, exact stand-in for a long path: its seq, length and CRC (a failure prints no megabytes). */
function idOf(seq: number, pathText: string): string {
  return `${seq}:${pathText.length}:${zlib.crc32(pathText)}`;
}

function pathOf(decoded: DecodedPayload): string {
  const event = decoded.event.event;
  assert.equal(event.kind, 'account_opened');
  return event.def.id.path;
}

function scanIds(log: SegmentLog, from: number, limit: number, ceiling: number): string[] {
  const seen: string[] = [];
  log.scan(from, limit, ceiling, (decoded) => {
    seen.push(idOf(decoded.seq, pathOf(decoded)));
    return true;
  });
  return seen;
}

interface SegmentCase {
  sizes: number[];
  chunkBytes: number;
  segmentMax: number;
  cuts: number[];
  starts: Array<{ from: number; limit: number; ceiling: number }>;
}

/** Writes the frames in their batches and reads them back through every segment-level path. */
function checkSegmentCase(dataDir: string, { sizes, chunkBytes, segmentMax, cuts, starts }: SegmentCase): void {
  const log = new SegmentLog(realFs, dataDir, BOOK);
  const paths = sizes.map((bytes, index) => accountPath(index + 1, bytes));
  const frames = paths.map((pathText, index) => eventFrame(index + 1, formatAtUs(BASE_US + index + 1), accountEventJson(pathText)));
  let seq = 1;
  for (const count of batchesOf(frames.length, cuts)) {
    log.appendBatch(frames.slice(seq - 1, seq - 1 + count), seq, segmentMax);
    seq += count;
  }
  const last = frames.length;
  // Events with seq >= from, at most `limit` of them: a scan from 0 starts at seq 1, as readEvents does.
  const want = (from: number, limit: number, ceiling: number): string[] => {
    const first = Math.max(from, 1);
    return paths.flatMap((pathText, index) => (index + 1 >= first && index + 1 <= ceiling && index + 1 < first + limit ? [idOf(index + 1, pathText)] : []));
  };

  // The writer's own log, then the one replay at open rebuilds from the files. The writer closes
  // as a clean close of the store does, cutting the zeros it preallocated (segment.ts G9).
  log.trimAndClose();
  const recovered = recoverBook(realFs, dataDir, BOOK);
  assert.equal(recovered.state.lastSeq, last);
  assert.equal(recovered.repair.tornTail, null);
  for (const reader of [log, recovered.log]) {
    reader.scanChunkBytes = chunkBytes;
    assert.deepEqual(scanIds(reader, 1, Number.MAX_SAFE_INTEGER, last), want(1, Number.MAX_SAFE_INTEGER, last));
    for (let s = 1; s <= last; s++) assert.equal(idOf(s, pathOf(reader.readEvent(s))), idOf(s, paths[s - 1]!));
  }
  for (const { from, limit, ceiling } of starts) {
    const bounded = Math.min(ceiling, last);
    assert.deepEqual(scanIds(recovered.log, from, limit, bounded), want(from, limit, bounded), `scan(${from}, ${limit}, ${bounded})`);
  }

  // Verify's two passes read whole files; they must agree.
  const bookDir = path.join(dataDir, 'books', BOOK);
  const names = fs
    .readdirSync(bookDir)
    .filter((name) => parseSegmentFileName(name) !== null)
    .sort((left, right) => parseSegmentFileName(left)! - parseSegmentFileName(right)!);
  let frameCount = 0;
  names.forEach((name, index) => {
    const file = path.join(bookDir, name);
    const check = checkSegmentFile({ book: BOOK, file, base: parseSegmentFileName(name)!, final: index === names.length - 1 });
    assert.deepEqual(check.problems, []);
    assert.equal(check.tornTail, null);
    frameCount += check.frames;
  });
  assert.equal(frameCount, last);
  assert.equal(summarizeBook(realFs, dataDir, BOOK).lastSeq, last);
}

function withDataDir(body: (dataDir: string) => void): void {
  const dataDir = makeTempDir();
  try {
    fs.mkdirSync(path.join(dataDir, 'books'));
    body(dataDir);
  } finally {
    removeTempDir(dataDir);
  }
}

test('sweep: the first chunk of a scan ends at every byte of the next header and into its payload', () => {
  // A scan's first read starts at the frame it starts from. Each group of frames below begins with
  // a frame k bytes shorter than the chunk, so that read ends k bytes into the next frame: inside
  // its header for k < 8, inside its payload after. That frame is longer than a chunk, the next
  // one longer still (the reported bug), then a tiny one (room for longer seqs and paths than
  // seq 1's) and one just under a chunk.
  const minimalFrame = FRAME_HEADER_BYTES + encodeSequencedPayload(1, formatAtUs(BASE_US), accountEventJson('1:')).length;
  for (const chunkBytes of [minimalFrame + 48, 4096]) {
    withDataDir((dataDir) => {
      const frameBytes: number[] = [];
      const starts: SegmentCase['starts'] = [];
      for (let k = 0; k <= 40; k++) {
        starts.push({ from: frameBytes.length + 1, limit: 5, ceiling: Number.MAX_SAFE_INTEGER });
        frameBytes.push(chunkBytes - k, chunkBytes + 17 + k, 2 * chunkBytes + 5 + k, minimalFrame + 8, chunkBytes - 3);
      }
      // Frame lengths to event sizes: the payload wraps the event in {"seq":…,"at":"…","event":…}.
      const sizes = frameBytes.map((bytes, index) => bytes - FRAME_HEADER_BYTES - encodeSequencedPayload(index + 1, formatAtUs(BASE_US + index + 1), '').length);
      checkSegmentCase(dataDir, { sizes, chunkBytes, segmentMax: 1 << 30, cuts: [7, 3, 11, 1], starts });
      const log = recoverBook(realFs, dataDir, BOOK).log;
      frameBytes.forEach((bytes, index) => {
        const next = index + 1 < frameBytes.length ? log.offsetOf(index + 2) : fs.statSync(log.segmentPath(1)).size;
        assert.equal(next - log.offsetOf(index + 1), bytes, `frame ${index + 1} has the planned length`);
      });
    });
  }
});

test('property: random frame sizes up to the event cap read back through the segment paths', () => {
  const startArb = fc.record({ from: fc.integer({ min: 0, max: 12 }), limit: fc.integer({ min: 0, max: 12 }), ceiling: fc.integer({ min: 1, max: 12 }) });
  fc.assert(
    fc.property(
      sizesArb,
      chunkArb,
      fc.oneof(fc.constant(1 << 30), fc.constant(0), fc.integer({ min: 1, max: 8 * 1024 * 1024 })),
      fc.array(fc.nat(), { maxLength: 10 }),
      fc.array(startArb, { maxLength: 4 }),
      (sizes, chunkBytes, segmentMax, cuts, starts) => {
        withDataDir((dataDir) => checkSegmentCase(dataDir, { sizes, chunkBytes, segmentMax, cuts, starts }));
      },
    ),
    { numRuns: runsTimes(5), ...seedOverride() },
  );
});

// --- 3: LogStore --------------------------------------------------------------------------------

/** A balanced transfer whose event JSON is exactly `bytes` bytes (its smallest form when `bytes` is below that). */
function txOfSize(bytes: number): Transaction {
  const tx: Transaction = {
    id: randomUUID(),
    book: BOOK,
    idempotency_key: randomUUID(),
    external_refs: [],
    metadata: null,
    occurred_at: '2026-01-01T00:00:00Z',
    postings: [
      { account: { book: BOOK, path: 'cash' }, amount: { minor: 1n, asset: 'USD' }, direction: 'debit' },
      { account: { book: BOOK, path: 'rev' }, amount: { minor: 1n, asset: 'USD' }, direction: 'credit' },
    ],
  };
  const overhead = encodeTransactionPosted({ ...tx, metadata: '' }).length;
  if (bytes >= overhead) tx.metadata = 'm'.repeat(bytes - overhead);
  if (bytes >= overhead) assert.equal(encodeTransactionPosted(tx).length, bytes);
  return tx;
}


/** Keeps only what identifies an event, so a failure does not print megabytes. */
function summary(events: readonly SequencedEvent[]): Array<{ seq: number; kind: string; metadataBytes: number | null }> {
  return events.map(({ seq, event }) => ({
    seq,
    kind: event.kind,
    metadataBytes: event.kind === 'transaction_posted' ? (typeof event.metadata === 'string' ? event.metadata.length : null) : null,
  }));
}

/** Every store-level reading path against `txs` (committed in order after the 2 seed events). */
async function readEverywhere(store: LogStore, txs: readonly Transaction[], from: number, limit: number): Promise<void> {
  const last = 2 + txs.length;
  const events = await store.readEvents(BOOK, 1, last + 10);
  assert.deepEqual(
    events.map((event) => event.seq),
    Array.from({ length: last }, (_, index) => index + 1),
  );
  txs.forEach((tx, index) => {
    const event = events[index + 2]!.event;
    assert.equal(event.kind, 'transaction_posted');
    assert.equal(event.id, tx.id);
    assert(event.metadata === tx.metadata, `metadata of seq ${index + 3} differs`);
  });
  assert.deepEqual(summary(await store.readEvents(BOOK, from, limit)), summary(events.filter((event) => event.seq >= from).slice(0, limit)));
  assert.deepEqual(summary(await catchUp(store, 1, last)), summary(events));
  const start = Math.min(from, last);
  assert.deepEqual(summary(await catchUp(store, start, last - start + 1)), summary(events.slice(start - 1)));
  // Point-in-time trial balance: everything, and as of a middle event (equal `at`s are included).
  assert.deepEqual(await store.trialBalance(BOOK, new Date(Date.now() + 60_000)), await store.trialBalance(BOOK));
  const middle = events[Math.min(events.length - 1, 2 + Math.floor(txs.length / 2))]!;
  const upTo = BigInt(events.filter((event) => event.event.kind === 'transaction_posted' && event.at <= middle.at).length);
  assert.deepEqual(await store.trialBalance(BOOK, middle.at), upTo === 0n ? [] : [{ asset: 'USD', debits: upTo, credits: upTo }]);
  for (const tx of txs) {
    const stored = await store.transaction(tx.id);
    assert(stored !== null && stored.transaction.metadata === tx.metadata, `transaction ${tx.id} reads back different`);
  }
}

test('property: random frame sizes up to the event cap read back through every store path', async () => {
  await fc.assert(
    fc.asyncProperty(
      sizesArb,
      chunkArb,
      chunkArb,
      fc.oneof(fc.constant(128 * 1024 * 1024), fc.constant(0), fc.integer({ min: 1, max: 8 * 1024 * 1024 })),
      fc.integer({ min: 1, max: 12 }),
      fc.integer({ min: 1, max: 12 }),
      async (sizes, chunkBytes, chunkAfterReopen, segmentMax, from, limit) => {
        const dir = makeTempDir();
        const open = (scanChunkBytes: number) => LogStore.open(dir, { workers: 1, segmentMax, testHooks: { scanChunkBytes } });
        let store: LogStore | null = null;
        try {
          store = await open(chunkBytes);
          await seed(store);
          const txs = sizes.map(txOfSize);
          const committed = [];
          for (const tx of txs) committed.push(await store.commit(tx));
          await readEverywhere(store, txs, from, limit);
          // An idempotent retry reads its original frame back (a positioned read) to compare it.
          const retried = txs.length - 1;
          assert.deepEqual(await store.commit(txs[retried]!), committed[retried]);
          // The book still accepts writes.
          const after = txOfSize(0);
          await store.commit(after);
          txs.push(after);
          await store.close();
          store = null;
          // Replay at open, then every path again with another chunk size.
          store = await open(chunkAfterReopen);
          await readEverywhere(store, txs, from, limit);
          await store.close();
          store = null;
          const report = await verifyDataDir(dir, { all: true, threads: 1 });
          assert.deepEqual(report.findings, []);
        } finally {
          await store?.close();
          removeTempDir(dir);
        }
      },
    ),
    { numRuns: runsTimes(3), ...seedOverride() },
  );
});

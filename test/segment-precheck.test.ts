/**
 * Segment prechecks at open (src/log/segment-precheck.ts): helper threads verify the segments a
 * snapshot covers, and recovery adopts those frames unread (P1). Real files and real threads.
 *
 * - precheckSegment against the frame walker, at chunk sizes that put frames across every
 *   boundary; where it stops: a flipped byte, a torn frame, a zero tail, a wrong base.
 * - The helper pool gives the same answers as the inline check, and takes nothing back that a
 *   helper finished.
 * - precheckSegment's decoding (P5, src/log/replay-decode.ts): the columns hold what the frame
 *   decoder reads from every transaction of the book from the given seq on, and nothing else.
 * - LogStore opened with and without prechecks: the same state, events, history, trial balance,
 *   txid lookups and idempotent retries; with them the worker reads far fewer segment bytes (the
 *   path is taken); damage the prechecks stop at, and transactions that cannot be applied after
 *   them, are refused with the very error of the inline walk; a torn tail after the snapshot is
 *   cut as before; a missing idempotency run (a hole, decoded in full) still rebuilds; a full
 *   replay with account openings among the transactions reads the same.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { StoreError } from '../src/core/errors.js';
import type { OpenFlags } from '../src/log/file-system.js';
import { LogStore } from '../src/log/log-store.js';
import type { LogStoreOptions, LogStoreWarning } from '../src/log/options.js';
import { partsOf, precheckSegment, startPrechecks, type HelperPrechecks, type SegmentPrecheck } from '../src/log/segment-precheck.js';
import { parseSegmentFileName } from '../src/log/segment.js';
import { ConcurrentSyncFileSystem } from '../src/log/sync-pool.js';
import { BOOK, CASH_DEF, mkTx, seed, segmentFiles, UNSIDED, withDir } from './support/log-store-fixtures.js';
import { eventFrame, frameOffsets, readFrames, splitPayload, xorByte } from './support/segment-files.js';
import { decodeFrame } from '../src/log/frame.js';
import { readTxid } from '../src/log/posting-index.js';
import { isDebit, keyOf } from '../src/log/replay-decode.js';
import type { Transaction } from '../src/core/types.js';

const COMMITS_BEFORE_SNAPSHOT = 240;
const COMMITS_AFTER_SNAPSHOT = 30;

/**
 * Writes a book over several small segments, a snapshot, then a tail after it. Without a snapshot,
 * an account is opened halfway and some transactions post to it: frames the helpers do not decode
 * among those they do.
 */
async function buildBook(dir: string, options: LogStoreOptions = {}, snapshot = true): Promise<void> {
  const store = await LogStore.open(dir, { workers: 1, segmentMax: 4096, snapshotEvery: 0, ...options });
  try {
    await seed(store);
    for (let index = 0; index < COMMITS_BEFORE_SNAPSHOT; index++) {
      if (!snapshot && index === COMMITS_BEFORE_SNAPSHOT / 2) await store.openAccount({ ...CASH_DEF, id: { book: BOOK, path: 'late' } }, UNSIDED);
      const tx = mkTx(`before-${index}`, BigInt(index + 1));
      if (!snapshot && index > COMMITS_BEFORE_SNAPSHOT / 2 && index % 3 === 0) tx.postings[1]!.account.path = 'late';
      if (index % 7 === 0) tx.external_refs.push({ kind: 'invoice', value: `inv-${index}` });
      if (index % 11 === 0) tx.metadata = { note: `n${index}`, lines: [index, 'x'], inner: { seq: index } }; // a payload prefix inside a payload
      await store.commit(tx);
    }
    if (snapshot) await store.snapshot(BOOK);
    for (let index = 0; index < COMMITS_AFTER_SNAPSHOT; index++) await store.commit(mkTx(`after-${index}`, 7n));
  } finally {
    await store.close();
  }
}

function baseOf(file: string): number {
  return parseSegmentFileName(path.basename(file))!;
}

/** What the inline frame walker finds in a whole, sound segment. */
function expectedPrecheck(file: string): SegmentPrecheck {
  const offsets = frameOffsets(file);
  const fileBytes = fs.statSync(file).size;
  return { firstSeq: baseOf(file), firstOffset: 0, frames: offsets.length, offsets: Float64Array.from(offsets), verifiedEnd: fileBytes, fileBytes, decoded: null };
}

function assertSamePrecheck(actual: SegmentPrecheck | null, expected: SegmentPrecheck, what: string): void {
  assert(actual !== null, what);
  assert.equal(actual.firstSeq, expected.firstSeq, what);
  assert.equal(actual.firstOffset, expected.firstOffset, what);
  assert.equal(actual.frames, expected.frames, what);
  assert.deepEqual([...actual.offsets], [...expected.offsets], what);
  assert.equal(actual.verifiedEnd, expected.verifiedEnd, what);
  assert.equal(actual.fileBytes, expected.fileBytes, what);
}

describe('precheckSegment', () => {
  test('finds every frame of sound segments, at chunk sizes that split frames anywhere', () =>
    withDir(async (dir) => {
      await buildBook(dir);
      const files = segmentFiles(dir, BOOK);
      assert(files.length >= 4, `${files.length} segments`);
      for (const file of files) {
        const expected = expectedPrecheck(file);
        assert(expected.frames > 0);
        for (const chunkBytes of [1, 8, 13, 97, 1000, 4096, 1 << 20]) {
          assertSamePrecheck(precheckSegment(file, baseOf(file), chunkBytes), expected, `${path.basename(file)} in chunks of ${chunkBytes}`);
        }
      }
    }));

  test('stops at the first frame that is not sound or not the next seq, and reports the frames before it', () =>
    withDir(async (dir) => {
      await buildBook(dir);
      const file = segmentFiles(dir, BOOK)[1]!;
      const base = baseOf(file);
      const whole = expectedPrecheck(file);
      const third = whole.offsets[3]!;
      const stopsAt = (frames: number, why: string, at = whole.offsets[frames]!): void => {
        for (const chunkBytes of [8, 50, 1 << 20]) {
          const result = precheckSegment(file, base, chunkBytes);
          assert.equal(result.frames, frames, `${why}, chunks of ${chunkBytes}`);
          assert.equal(result.verifiedEnd, at, `${why}, chunks of ${chunkBytes}`);
          assert.deepEqual([...result.offsets], [...whole.offsets.subarray(0, frames)], why);
        }
      };
      // The base in the name is not the first frame's seq: nothing is verified.
      assert.equal(precheckSegment(file, base + 1).frames, 0);
      assert.equal(precheckSegment(file, base + 1).verifiedEnd, 0);

      xorByte(file, third + 20); // a payload byte: the CRC fails
      stopsAt(3, 'a flipped payload byte');
      xorByte(file, third + 20);
      xorByte(file, third + 1); // the length: no frame of that size fits
      stopsAt(3, 'a flipped length byte');
      xorByte(file, third + 1);

      const original = fs.readFileSync(file);
      try {
        fs.writeFileSync(file, original.subarray(0, third + 11)); // torn inside frame 3
        stopsAt(3, 'a torn frame', third);
        fs.writeFileSync(file, Buffer.concat([original, Buffer.alloc(5000)])); // a zero tail
        stopsAt(whole.frames, 'a zero tail', whole.fileBytes);
      } finally {
        fs.writeFileSync(file, original);
      }
      assertSamePrecheck(precheckSegment(file, base), whole, 'restored');
    }));
});

describe('precheckSegment in parts (P6)', () => {
  test('the parts of a segment, each found from its own start, hold exactly the frames of the whole, decoded alike', () =>
    withDir(async (dir) => {
      await buildBook(dir, {}, false);
      let parted = 0;
      for (const file of segmentFiles(dir, BOOK)) {
        const decode = { book: BOOK, fromSeq: 1 };
        const fileBytes = fs.statSync(file).size;
        const whole = precheckSegment(file, baseOf(file), 4096, () => {}, decode);
        assert.equal(whole.verifiedEnd, fileBytes);
        for (const partBytes of [97, 500, 1500]) {
          const ranges = partsOf({ file, base: baseOf(file), decode }, fileBytes, partBytes);
          assert(ranges.length > 1);
          parted++;
          let offset = 0;
          let seq = baseOf(file);
          const entries: number[] = [];
          for (const [index, range] of ranges.entries()) {
            for (const chunkBytes of [13, 4096]) {
              const part = precheckSegment(file, baseOf(file), chunkBytes, () => {}, decode, range);
              const what = `${path.basename(file)} part ${index} of ${partBytes} bytes in chunks of ${chunkBytes}`;
              if (part.frames === 0) {
                assert(offset >= range.startBytes, `${what}: an empty part only where the frames before it reach past its start`);
                continue;
              }
              assert.equal(part.firstOffset, offset, `${what} begins where the frames before it end`);
              assert.equal(part.firstSeq, seq, what);
              assert(part.verifiedEnd >= Math.min(range.endBytes, fileBytes), what);
              assert.deepEqual([...part.offsets], [...whole.offsets].filter((at) => at >= offset && at < part.verifiedEnd), what);
              if (chunkBytes === 13) continue;
              for (let frame = 0; frame < part.frames; frame++) {
                const entry = part.decoded!.entryOf[frame]!;
                entries.push(entry < 0 ? -1 : entry);
                if (entry >= 0) assert.equal(keyOf(part.decoded!, entry), keyOf(whole.decoded!, whole.decoded!.entryOf[seq - baseOf(file) + frame]!), what);
              }
              offset = part.verifiedEnd;
              seq += part.frames;
            }
          }
          assert.equal(offset, fileBytes);
          assert.deepEqual(entries.map((entry) => entry >= 0), [...whole.decoded!.entryOf].map((entry) => entry >= 0));
        }
      }
      assert(parted > 0);
    }));
});

describe('precheckSegment decoding (P5)', () => {
  test('the columns hold every transaction of the book from the given seq on, as the frame decoder reads it; other frames have no entry', () =>
    withDir(async (dir) => {
      await buildBook(dir, {}, false);
      const files = segmentFiles(dir, BOOK);
      const lastSeq = 2 + 1 + COMMITS_BEFORE_SNAPSHOT + COMMITS_AFTER_SNAPSHOT;
      let decodedFrames = 0;
      for (const fromSeq of [1, Math.floor(lastSeq / 2), lastSeq + 1]) {
        for (const file of files) {
          const frames = readFrames(file);
          for (const chunkBytes of [13, 4096]) {
            const what = `${path.basename(file)} from seq ${fromSeq} in chunks of ${chunkBytes}`;
            const result = precheckSegment(file, baseOf(file), chunkBytes, () => {}, { book: BOOK, fromSeq });
            assert.equal(result.frames, frames.length, what);
            const decoded = result.decoded;
            if (decoded === null) {
              // No frame at or after fromSeq: nothing to decode, no columns made.
              assert(frames.every((frame) => frame.seq < fromSeq), what);
              continue;
            }
            assert.equal(decoded.entryOf.length, frames.length, what);
            frames.forEach((frame, index) => {
              const read = decodeFrame(fs.readFileSync(file), frame.offset, fs.statSync(file).size);
              assert(read.kind === 'frame');
              const event = read.decoded.event.event;
              const entry = decoded.entryOf[index]!;
              if (event.kind !== 'transaction_posted' || frame.seq < fromSeq) {
                assert.equal(entry, -1, `${what}: seq ${frame.seq} (${event.kind}) has no entry`);
                return;
              }
              assert(entry >= 0, `${what}: seq ${frame.seq} has an entry`);
              decodedFrames++;
              assert.equal(decoded.atUs[entry], read.decoded.atUs);
              assert.equal(readTxid(decoded.txids, entry * 16), event.id);
              assert.equal(keyOf(decoded, entry), event.idempotency_key);
              const first = entry === 0 ? 0 : decoded.postingEnds[entry - 1]!;
              const postings = [];
              for (let posting = first; posting < decoded.postingEnds[entry]!; posting++) {
                postings.push({
                  account: { book: BOOK, path: decoded.strings[decoded.paths[posting]!] },
                  amount: { minor: decoded.minors[posting], asset: decoded.strings[decoded.assets[posting]!] },
                  direction: isDebit(decoded, posting) ? 'debit' : 'credit',
                });
              }
              assert.deepEqual(postings, event.postings, `${what}: postings of seq ${frame.seq}`);
            });
            // Another book's segment: nothing is decoded (D1).
            const foreign = precheckSegment(file, baseOf(file), chunkBytes, () => {}, { book: 'other', fromSeq: 1 });
            assert.equal(foreign.frames, frames.length);
            assert(foreign.decoded!.entryOf.every((entry) => entry === -1), `${what}: another book's transactions are left to the worker`);
          }
        }
      }
      assert(decodedFrames > 2 * COMMITS_BEFORE_SNAPSHOT, `${decodedFrames} frames decoded`);
    }));
});

/** Helper threads for every one of `files`, however small, reading 64 bytes at a time. */
function startHelpers(files: string[], helpers: number): HelperPrechecks {
  const prechecks = startPrechecks(
    files.map((file) => ({ file, base: baseOf(file), decode: null })),
    helpers,
    0,
    64,
  );
  assert(prechecks !== null);
  return prechecks;
}

describe('the helper pool', () => {
  test('gives the inline answers, and a segment a helper finished is never taken back', () =>
    withDir(async (dir) => {
      await buildBook(dir);
      const files = segmentFiles(dir, BOOK);
      const prechecks = startHelpers(files, 3);
      try {
        for (let waited = 0; prechecks.unfinished > 0; waited += 10) {
          assert(waited < 30_000, 'the helpers finish');
          await sleep(10);
        }
        for (const file of files) assertSamePrecheck(prechecks.take(file), expectedPrecheck(file), path.basename(file));
        assert.equal(prechecks.take(files[0]!), null, 'each result is taken once');
        assert.equal(prechecks.take(path.join(dir, 'not-a-segment')), null);
      } finally {
        prechecks.close();
      }
      assert.equal(startPrechecks([{ file: files[0]!, base: 1, decode: null }], 3, 1 << 30, 64), null, 'too few bytes: no helpers');
    }));

  test('a segment no helper has claimed yet is taken back at once', () =>
    withDir(async (dir) => {
      await buildBook(dir);
      const files = segmentFiles(dir, BOOK);
      const prechecks = startHelpers(files, 1);
      try {
        // Taken before the one helper thread can have started: the caller walks it itself (P3).
        assert.equal(prechecks.take(files[files.length - 1]!), null);
      } finally {
        prechecks.close();
      }
    }));
});

/** The real file system of a shard writer, counting the bytes read from segment files. */
class CountingFileSystem extends ConcurrentSyncFileSystem {
  /** Changes what the helpers found for parts after the first (P6: the worker must refuse them). */
  tamper: ((part: SegmentPrecheck) => SegmentPrecheck) | null = null;
  segmentBytesRead = 0;
  /** segmentBytesRead when the open resolved: what recovery read. */
  readAtOpen = 0;
  prechecked = 0;
  readonly #segments = new Set<number>();

  override openSync(file: string, flags: OpenFlags): number {
    const fd = super.openSync(file, flags);
    if (flags === 'r' && path.basename(file).startsWith('segment-')) this.#segments.add(fd);
    return fd;
  }
  override closeSync(fd: number): void {
    this.#segments.delete(fd);
    super.closeSync(fd);
  }
  override readSync(fd: number, target: Uint8Array, positionBytes: number): number {
    const read = super.readSync(fd, target, positionBytes);
    if (this.#segments.has(fd)) this.segmentBytesRead += read;
    return read;
  }
  override precheckSegments(...args: Parameters<ConcurrentSyncFileSystem['precheckSegments']>): ReturnType<ConcurrentSyncFileSystem['precheckSegments']> {
    const prechecks = super.precheckSegments(...args);
    if (prechecks === null) return null;
    const take = prechecks.take.bind(prechecks);
    prechecks.take = (file, part) => {
      // Give the helpers time to finish, as a snapshot load would: the test is about the adoption.
      const started = Date.now();
      while ((prechecks as { unfinished?: number }).unfinished! > 0 && Date.now() - started < 30_000) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 5);
      let result = take(file, part);
      if (result !== null && part !== undefined && part > 0 && this.tamper !== null) result = this.tamper(result);
      if (result !== null) this.prechecked++;
      return result;
    };
    return prechecks;
  }
}

interface Opened {
  lastSeq: number;
  events: string;
  balances: string;
  history: string;
  trial: string;
  /** Per transaction: the seq its txid finds, and the seq an idempotent retry of it answers. */
  lookups: string;
  warnings: string[];
}

const jsonOf = (value: unknown): string => JSON.stringify(value, (_key, item: unknown) => (typeof item === 'bigint' ? item.toString() : item));

async function openAndRead(dir: string, fileSystem: CountingFileSystem | null, prechecks: boolean): Promise<Opened> {
  const warnings: LogStoreWarning[] = [];
  const hooks = { precheckFromBytes: prechecks ? 0 : 2 ** 40, scanChunkBytes: 333 };
  const store = await LogStore.open(dir, {
    workers: 1,
    segmentMax: 4096,
    snapshotEvery: 0,
    onWarning: (warning) => warnings.push(warning),
    testHooks: fileSystem === null ? hooks : { ...hooks, inProcess: true, fileSystem },
  });
  if (fileSystem !== null) fileSystem.readAtOpen = fileSystem.segmentBytesRead;
  try {
    const lastSeq = store.durableSeq(BOOK);
    const events = JSON.stringify(await store.readEvents(BOOK, 1, lastSeq), (_key, value: unknown) => (typeof value === 'bigint' ? value.toString() : value));
    const balances = JSON.stringify(
      await Promise.all(['cash', 'rev'].map((pathName) => store.balance({ book: BOOK, path: pathName }))),
      (_key, value: unknown) => (typeof value === 'bigint' ? value.toString() : value),
    );
    const trial = JSON.stringify(await store.trialBalance(BOOK), (_key, value: unknown) => (typeof value === 'bigint' ? value.toString() : value));
    const history = jsonOf(await Promise.all(['cash', 'rev'].map((pathName) => store.accountHistory({ book: BOOK, path: pathName }, null, 100_000))));
    const lookups: Array<[number, number | undefined, number]> = [];
    for (const sequenced of await store.readEvents(BOOK, 1, lastSeq)) {
      if (sequenced.event.kind !== 'transaction_posted') continue;
      const { kind: _kind, ...tx } = sequenced.event;
      const retried = await store.commit(tx as Transaction);
      lookups.push([sequenced.seq, (await store.transaction(tx.id))?.seq, retried.seq]);
    }
    for (const [seq, found, retried] of lookups) assert.deepEqual([found, retried], [seq, seq], `txid and key of seq ${seq}`);
    // A read from any seq starts at that frame's recorded offset, adopted or walked.
    for (let seq = 1; seq <= lastSeq; seq++) assert.deepEqual((await store.readEvents(BOOK, seq, 1)).map((event) => event.seq), [seq]);
    return { lastSeq, events, balances, history, trial, lookups: jsonOf(lookups), warnings: warnings.map((warning) => warning.code) };
  } finally {
    await store.close();
  }
}

async function openError(dir: string, prechecks: boolean): Promise<StoreError> {
  const fileSystem = new CountingFileSystem();
  try {
    await openAndRead(dir, fileSystem, prechecks);
  } catch (error) {
    assert(error instanceof StoreError, String(error));
    return error;
  }
  assert.fail('the open succeeded');
}

function copyTree(source: string, target: string): void {
  fs.cpSync(source, target, { recursive: true });
}

/**
 * Opens `dir` with prechecks and a copy of it without, asserts that both read the same, and
 * returns what the first read.
 */
async function openBothWays(dir: string): Promise<Opened> {
  const inlineDir = `${dir}-inline`;
  copyTree(dir, inlineDir);
  try {
    const pooled = await openAndRead(dir, new CountingFileSystem(), true);
    assert.deepEqual(pooled, await openAndRead(inlineDir, new CountingFileSystem(), false));
    return pooled;
  } finally {
    fs.rmSync(inlineDir, { recursive: true, force: true });
  }
}

describe('LogStore open with prechecks', () => {
  test('opens to the same state, and the worker reads almost none of the covered segments', () =>
    withDir(async (dir) => {
      await buildBook(dir);
      const totalBytes = segmentFiles(dir, BOOK).reduce((sum, file) => sum + fs.statSync(file).size, 0);
      const inline = new CountingFileSystem();
      const without = await openAndRead(dir, inline, false);
      const pooled = new CountingFileSystem();
      const withPrechecks = await openAndRead(dir, pooled, true);
      assert.deepEqual(withPrechecks, without);
      assert.equal(without.lastSeq, 2 + COMMITS_BEFORE_SNAPSHOT + COMMITS_AFTER_SNAPSHOT); // two accounts, then the commits
      assert.equal(inline.prechecked, 0);
      assert(inline.readAtOpen >= totalBytes, `the inline walk read ${inline.readAtOpen} of ${totalBytes} bytes`);
      assert(pooled.prechecked >= 4, `${pooled.prechecked} segments adopted from prechecks`);
      assert(pooled.readAtOpen < totalBytes / 3, `with prechecks the worker read ${pooled.readAtOpen} of ${totalBytes} bytes`);
      // And through real shard worker threads (the file system of workers/shard-worker.ts).
      assert.deepEqual(await openAndRead(dir, null, true), without);
    }));

  test('damage in a covered segment is refused with the inline walk\'s error, file and offset', () =>
    withDir(async (dir) => {
      await buildBook(dir);
      const files = segmentFiles(dir, BOOK);
      const cases: Array<{ what: string; damage: (work: string) => void }> = [
        { what: 'a CRC byte in a sealed segment', damage: (work) => xorByte(segmentFiles(work, BOOK)[1]!, frameOffsets(files[1]!)[2]! + 5) },
        { what: 'a payload byte of the first frame', damage: (work) => xorByte(segmentFiles(work, BOOK)[0]!, 30) },
        {
          what: 'a seq that skips (a frame cut out of a sealed segment)',
          damage: (work) => {
            const file = segmentFiles(work, BOOK)[2]!;
            const offsets = frameOffsets(file);
            const bytes = fs.readFileSync(file);
            fs.writeFileSync(file, Buffer.concat([bytes.subarray(0, offsets[1]!), bytes.subarray(offsets[2]!)]));
          },
        },
        { what: 'a sealed segment removed', damage: (work) => fs.rmSync(segmentFiles(work, BOOK)[1]!) },
      ];
      for (const { what, damage } of cases) {
        const work = `${dir}-${cases.findIndex((entry) => entry.what === what)}`;
        copyTree(dir, work);
        try {
          damage(work);
          const inline = await openError(work, false);
          const pooled = await openError(work, true);
          assert.equal(inline.code, 'CORRUPT', `${what}: ${inline.message}`);
          assert.equal(pooled.message, inline.message, what);
          assert.deepEqual({ ...pooled }, { ...inline }, what);
        } finally {
          fs.rmSync(work, { recursive: true, force: true });
        }
      }
    }));

  test('a snapshot of another history is ignored: the frame at its seq is decoded, not skipped', () =>
    withDir(async (dir) => {
      await buildBook(dir);
      const other = `${dir}-other`;
      try {
        await buildBook(other); // the same seqs, other commit times and txids
        const bookDir = path.join(dir, 'books', BOOK);
        const snapshot = fs.readdirSync(bookDir).find((name) => name.startsWith('snapshot-'))!;
        fs.copyFileSync(path.join(other, 'books', BOOK, snapshot), path.join(bookDir, snapshot));
      } finally {
        fs.rmSync(other, { recursive: true, force: true });
      }
      assert((await openBothWays(dir)).warnings.includes('SNAPSHOT_UNUSABLE'));
    }));

  test('a torn tail after the snapshot is cut as before', () =>
    withDir(async (dir) => {
      await buildBook(dir);
      const files = segmentFiles(dir, BOOK);
      const final = files[files.length - 1]!;
      fs.appendFileSync(final, Buffer.from([0x30, 0, 0, 0, 1, 2, 3]));
      const size = fs.statSync(final).size;
      assert((await openBothWays(dir)).warnings.includes('TORN_TAIL_TRUNCATED'));
      assert.equal(fs.statSync(final).size, size - 7, 'the torn bytes are cut');
    }));

  test('a full replay decoded by the helpers, account openings among the transactions, opens to the same state', () =>
    withDir(async (dir) => {
      await buildBook(dir, {}, false);
      const pooled = new CountingFileSystem();
      const opened = await openAndRead(dir, pooled, true);
      assert.deepEqual(opened, await openAndRead(dir, new CountingFileSystem(), false));
      assert.equal(opened.lastSeq, 2 + 1 + COMMITS_BEFORE_SNAPSHOT + COMMITS_AFTER_SNAPSHOT);
      assert(pooled.prechecked >= 4, `${pooled.prechecked} segments decoded by helpers`);
      const totalBytes = segmentFiles(dir, BOOK).reduce((sum, file) => sum + fs.statSync(file).size, 0);
      assert(pooled.readAtOpen < totalBytes / 2, `with decoding helpers the worker read ${pooled.readAtOpen} of ${totalBytes} bytes`);
      assert.deepEqual(await openAndRead(dir, null, true), opened); // through real shard worker threads
    }));

  test('a part that does not begin where the frames before it end, at the next seq, is walked instead (P6)', () =>
    withDir(async (dir) => {
      await buildBook(dir, {}, false);
      const inline = await openAndRead(dir, new CountingFileSystem(), false);
      const trusted = new CountingFileSystem();
      assert.deepEqual(await openAndRead(dir, trusted, true), inline);
      const tampers: Array<[string, (part: SegmentPrecheck) => SegmentPrecheck]> = [
        ['a seq one too high', (part) => ({ ...part, firstSeq: part.firstSeq + 1 })],
        ['a first frame one byte later', (part) => ({ ...part, firstOffset: part.firstOffset + 1, offsets: part.offsets.map((at) => at + 1) })],
        ['a first frame one frame earlier', (part) => ({ ...part, firstSeq: part.firstSeq - 1, firstOffset: part.firstOffset - 10 })],
      ];
      for (const [what, tamper] of tampers) {
        const tampered = new CountingFileSystem();
        tampered.tamper = tamper;
        assert.deepEqual(await openAndRead(dir, tampered, true), inline, what);
        assert(tampered.readAtOpen > trusted.readAtOpen, `${what}: the worker walked the parts (${tampered.readAtOpen} bytes read, ${trusted.readAtOpen} trusting them)`);
      }
    }));

  test('a transaction after the prechecked frames that cannot be applied is refused with the inline walk\'s error', () =>
    withDir(async (dir) => {
      await buildBook(dir, {}, false);
      const files = segmentFiles(dir, BOOK);
      const frames = files.flatMap((file) => readFrames(file));
      const earlier = splitPayload(frames[10]!.payload); // a transaction
      const last = frames[frames.length - 1]!;
      const lastAt = splitPayload(last.payload).at;
      const fresh = (change: (tx: Transaction) => void): string => {
        const tx = mkTx('fresh', 5n);
        change(tx);
        return JSON.stringify({ kind: 'transaction_posted', ...tx }, (_key, value: unknown) => (typeof value === 'bigint' ? Number(value) : value));
      };
      const cases: Array<{ what: string; at: string; eventJson: string }> = [
        { what: 'a repeated txid and key', at: lastAt, eventJson: earlier.eventJson },
        { what: 'a repeated key under a new txid', at: lastAt, eventJson: earlier.eventJson.replace(/"id":"[^"]+"/, `"id":"${mkTx('x', 1n).id}"`) },
        { what: 'a repeated txid under a new key', at: lastAt, eventJson: earlier.eventJson.replace(/"idempotency_key":"[^"]+"/, '"idempotency_key":"new-key"') },
        { what: 'a posting to an unknown account', at: lastAt, eventJson: fresh((tx) => (tx.postings[0]!.account.path = 'nowhere')) },
        { what: 'a commit time before the last one', at: '2000-01-01T00:00:00.000000Z', eventJson: fresh(() => {}) },
      ];
      for (const [index, { what, at, eventJson }] of cases.entries()) {
        const work = `${dir}-${index}`;
        copyTree(dir, work);
        try {
          const final = segmentFiles(work, BOOK).at(-1)!;
          fs.appendFileSync(final, eventFrame(last.seq + 1, at, eventJson));
          const inline = await openError(work, false);
          const pooled = await openError(work, true);
          assert.equal(inline.code, 'CORRUPT', `${what}: ${inline.message}`);
          assert.deepEqual({ ...pooled, message: pooled.message }, { ...inline, message: inline.message }, what);
        } finally {
          fs.rmSync(work, { recursive: true, force: true });
        }
      }
    }));

  test('a missing idempotency run (a hole, whose frames are decoded) still rebuilds, prechecks or not', () =>
    withDir(async (dir) => {
      await buildBook(dir, { idemHotCap: 16 });
      const bookDir = path.join(dir, 'books', BOOK);
      const runs = fs.readdirSync(bookDir).filter((name) => name.startsWith('idem-'));
      assert(runs.length > 0, 'the book has runs');
      fs.rmSync(path.join(bookDir, runs[0]!));
      assert((await openBothWays(dir)).warnings.includes('RUN_REBUILT'));
    }));
});

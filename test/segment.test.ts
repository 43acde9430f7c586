/**
 * Segment files unit tests (conformance.md Part 2, section 2.5): SegmentLog and the check and
 * repair phases of recovery, on real files in fresh temporary directories, with no store.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { afterEach, beforeEach, test } from 'node:test';
import type { StoreError } from '../src/core/errors.js';
import { encodeAccountOpened } from '../src/core/event-codec.js';
import { RealFileSystem, type FileSystem } from '../src/log/file-system.js';
import { FRAME_HEADER_BYTES } from '../src/log/frame.js';
import { recoverBook, repairBook, type RecoveredBook } from '../src/log/recovery.js';
import { parseSegmentFileName, SegmentLog, segmentFileName } from '../src/log/segment.js';
import { formatAtUs } from '../src/core/time.js';
import { FaultPlan, FaultyFileSystem } from './support/faulty-file-system.js';
import {
  assertCorrupt,
  assertSameTree,
  eventFrame,
  frameOffsets,
  makeTempDir,
  re,
  readFrames,
  removeTempDir,
  segmentFiles,
  snapshotTree,
  xorByte,
} from './support/segment-files.js';

const BOOK = 'b';
const BASE_US = Date.UTC(2026, 5, 5, 12, 0, 0) * 1000;

/** `ev(seq)`: an account_opened event for path `a<seq>`, as a frame with a correct CRC. */
function ev(seq: number): Buffer {
  const eventJson = encodeAccountOpened(
    { id: { book: BOOK, path: `a${seq}` }, asset: 'USD', kind: 'asset' },
    { normal_side: null, min_balance: null },
  );
  return eventFrame(seq, formatAtUs(BASE_US + seq), eventJson);
}

const realFs = new RealFileSystem();
let dataDir = '';
let bookDir = '';

beforeEach(() => {
  dataDir = makeTempDir();
  fs.mkdirSync(path.join(dataDir, 'books'));
  bookDir = path.join(dataDir, 'books', BOOK);
});

afterEach(() => {
  removeTempDir(dataDir);
});

function newLog(fileSystem: FileSystem = realFs): SegmentLog {
  return new SegmentLog(fileSystem, dataDir, BOOK);
}

/** Appends seqs first..last, one batch per frame (rotation is checked before each). */
function appendEach(log: SegmentLog, first: number, last: number, segmentMax: number): void {
  for (let seq = first; seq <= last; seq++) log.appendBatch([ev(seq)], seq, segmentMax);
}

/** Check phase only. */
function check(): RecoveredBook {
  return recoverBook(realFs, dataDir, BOOK);
}

/** Check phase, then repair phase: what LogStore.open does for one book. */
function reopen(): RecoveredBook {
  const recovered = check();
  repairBook(realFs, recovered.log.bookDir, { ...recovered.repair, temporaryFiles: recovered.temporaryFiles });
  return recovered;
}

function scanSeqs(log: SegmentLog, from = 1, limit = Number.MAX_SAFE_INTEGER, ceiling = log.lastSeq): number[] {
  const seqs: number[] = [];
  log.scan(from, limit, ceiling, (decoded) => {
    seqs.push(decoded.seq);
    return true;
  });
  return seqs;
}

function range(first: number, last: number): number[] {
  return Array.from({ length: last - first + 1 }, (_, index) => first + index);
}

function segmentPath(base: number): string {
  return path.join(bookDir, segmentFileName(base));
}

/** Runs the check phase, expects CORRUPT, and checks that nothing on disk changed. */
function expectRefusal(expected: { file: string; offset: number; message?: RegExp }): StoreError {
  const before = snapshotTree(dataDir);
  let caught: unknown;
  assert.throws(
    () => check(),
    (error) => {
      caught = error;
      return assertCorrupt(error, { book: BOOK, ...expected });
    },
  );
  assertSameTree(snapshotTree(dataDir), before);
  return caught as StoreError;
}

test('append_then_scan_round_trips', () => {
  const log = newLog();
  log.appendBatch(range(1, 5).map(ev), 1, 1024 * 1024);
  assert.equal(log.lastSeq, 5);
  assert.deepEqual(scanSeqs(log), [1, 2, 3, 4, 5]);
  assert.deepEqual(scanSeqs(log, 3, 2), [3, 4]);
  const events: unknown[] = [];
  log.scan(1, 5, 5, (decoded) => {
    events.push(decoded.event);
    return true;
  });
  for (const [index, event] of events.entries()) {
    assert.deepEqual(event, {
      seq: index + 1,
      at: formatAtUs(BASE_US + index + 1),
      event: {
        kind: 'account_opened',
        def: { id: { book: BOOK, path: `a${index + 1}` }, asset: 'USD', kind: 'asset' },
        cfg: { normal_side: null, min_balance: null },
      },
    });
  }
  // One segment, named by seq 1, holding exactly the five frames.
  assert.deepEqual(fs.readdirSync(bookDir), [segmentFileName(1)]);
  assert.deepEqual(
    readFrames(segmentPath(1)).map((frame) => frame.seq),
    [1, 2, 3, 4, 5],
  );
  assert.equal(log.activeLengthBytes, fs.statSync(segmentPath(1)).size);
  log.close();
  // The same from disk, through recovery.
  const recovered = reopen();
  assert.equal(recovered.repair.tornTail, null);
  assert.deepEqual(scanSeqs(recovered.log), [1, 2, 3, 4, 5]);
  assert.deepEqual(scanSeqs(recovered.log, 3, 2), [3, 4]);
  assert.equal(recovered.state.seqNext, 6);
  assert.equal(recovered.state.accounts.size, 5);
});

test('rotation_starts_a_new_segment_named_by_base_seq', () => {
  const log = newLog();
  appendEach(log, 1, 10, 64);
  log.close();
  const files = segmentFiles(bookDir);
  assert(files.length >= 2, `expected at least 2 segments, found ${files.length}`);
  for (const file of files) {
    const base = parseSegmentFileName(path.basename(file));
    assert.notEqual(base, null);
    const frames = readFrames(file);
    assert(frames.length > 0, `${file} is empty`);
    assert.equal(frames[0]!.seq, base, `${file} is named by the seq of its first frame`);
    assert.equal(path.basename(file), segmentFileName(base!));
  }
  assert.deepEqual(log.catalog, files.map((file) => parseSegmentFileName(path.basename(file))));
  assert.deepEqual(scanSeqs(log), range(1, 10));
  assert.deepEqual(scanSeqs(log, 4, 5), [4, 5, 6, 7, 8]);
  const recovered = reopen();
  assert.deepEqual(recovered.log.catalog, log.catalog);
  assert.deepEqual(scanSeqs(recovered.log), range(1, 10));
});

test('torn_tail_on_final_segment_truncates', () => {
  const log = newLog();
  appendEach(log, 1, 3, 1024 * 1024);
  log.close();
  const file = segmentPath(1);
  const offsets = frameOffsets(file);
  const length = fs.statSync(file).size;
  fs.truncateSync(file, length - 5);
  const recovered = reopen();
  assert.deepEqual(recovered.repair.tornTail, { file, offsetBytes: offsets[2]!, discardedBytes: length - 5 - offsets[2]! });
  assert.equal(fs.statSync(file).size, offsets[2]);
  assert.deepEqual(scanSeqs(recovered.log), [1, 2]);
  assert.equal(recovered.state.seqNext, 3);
  assert.equal(recovered.log.activeLengthBytes, offsets[2]);
  recovered.log.appendBatch([ev(3)], 3, 1024 * 1024);
  assert.deepEqual(scanSeqs(recovered.log), [1, 2, 3]);
  recovered.log.close();
  assert.equal(fs.statSync(file).size, length);
  const again = reopen();
  assert.equal(again.repair.tornTail, null);
  assert.deepEqual(scanSeqs(again.log), [1, 2, 3]);
});

test('corruption_in_sealed_segment_refuses_open', () => {
  const log = newLog();
  appendEach(log, 1, 10, 64);
  log.close();
  const files = segmentFiles(bookDir);
  assert(files.length >= 2);
  const first = files[0]!;
  xorByte(first, Math.floor(fs.statSync(first).size / 2));
  expectRefusal({ file: first, offset: 0, message: new RegExp(`corrupt frame in sealed segment "${re(first)}" at offset 0 \\(crc mismatch\\)`) });
});

test('torn_header_with_partial_payload_truncates', () => {
  const log = newLog();
  appendEach(log, 1, 3, 1024 * 1024);
  log.close();
  const file = segmentPath(1);
  const goodLength = fs.statSync(file).size;
  // A valid header for 20 intended bytes (correct CRC), then only 10 of them.
  const intended = ev(4).subarray(FRAME_HEADER_BYTES, FRAME_HEADER_BYTES + 20);
  const header = Buffer.alloc(8);
  header.writeUInt32LE(20, 0);
  header.writeUInt32LE(zlib.crc32(intended), 4);
  fs.appendFileSync(file, Buffer.concat([header, intended.subarray(0, 10)]));
  const recovered = reopen();
  assert.deepEqual(recovered.repair.tornTail, { file, offsetBytes: goodLength, discardedBytes: 18 });
  assert.deepEqual(scanSeqs(recovered.log), [1, 2, 3]);
  assert.equal(fs.statSync(file).size, goodLength);
});

test('scan_with_pos_round_trips_via_read_at', () => {
  const log = newLog();
  appendEach(log, 1, 3, 1024 * 1024);
  const file = segmentPath(1);
  const frames = readFrames(file);
  assert.deepEqual(frames.map((frame) => frame.seq), [1, 2, 3]);
  const recovered = check();
  for (const source of [log, recovered.log]) {
    const scanned: Array<{ seq: number; event: unknown }> = [];
    source.scan(1, 10, source.lastSeq, (decoded) => {
      scanned.push({ seq: decoded.seq, event: decoded.event });
      return true;
    });
    assert.equal(scanned.length, 3);
    for (const entry of scanned) {
      assert.equal(source.baseOf(entry.seq), 1);
      const read = source.readEvent(entry.seq);
      assert.equal(read.seq, entry.seq);
      assert.equal(read.event.event.kind, 'account_opened');
      assert.deepEqual(read.event, entry.event);
    }
  }
  log.close();
  // A stale or wrong position: the frames of seqs 1 and 2 (same length) swap places on disk, so
  // the position recorded for seq 1 now holds seq 2, and the other way round.
  assert.equal(frames[0]!.length, frames[1]!.length);
  const bytes = fs.readFileSync(file);
  const swapped = Buffer.concat([
    bytes.subarray(frames[1]!.offset, frames[1]!.offset + frames[1]!.length),
    bytes.subarray(frames[0]!.offset, frames[0]!.offset + frames[0]!.length),
    bytes.subarray(frames[2]!.offset),
  ]);
  fs.writeFileSync(file, swapped);
  assert.throws(
    () => recovered.log.readEvent(1),
    (error) => assertCorrupt(error, { book: BOOK, file, offset: 0, message: /expected seq 1, found 2: stale or wrong position/ }),
  );
  assert.throws(
    () => recovered.log.readEvent(2),
    (error) => assertCorrupt(error, { book: BOOK, file, offset: frames[1]!.offset, message: /stale or wrong position/ }),
  );
  assert.equal(recovered.log.readEvent(3).seq, 3);
  // A position past the end of the file (the file lost its last frame).
  fs.truncateSync(file, frames[2]!.offset + 4);
  assert.throws(
    () => recovered.log.readEvent(3),
    (error) => assertCorrupt(error, { book: BOOK, file, offset: frames[2]!.offset, message: /torn header/ }),
  );
  // A missing segment.
  fs.unlinkSync(file);
  assert.throws(
    () => recovered.log.readEvent(1),
    (error) => assertCorrupt(error, { book: BOOK, file, offset: 0, message: /cannot open segment/ }),
  );
});

test('scan_stops_cleanly_at_inflight_torn_tail part 1: a bad frame running to the end is repaired', () => {
  const log = newLog();
  appendEach(log, 1, 3, 1024 * 1024);
  log.close();
  const file = segmentPath(1);
  const goodLength = fs.statSync(file).size;
  const header = Buffer.alloc(8);
  header.writeUInt32LE(20, 0);
  header.writeUInt32LE(0xdeadbeef, 4); // wrong CRC
  fs.appendFileSync(file, Buffer.concat([header, Buffer.alloc(10, 0x41)]));
  const recovered = reopen();
  assert.deepEqual(recovered.repair.tornTail, { file, offsetBytes: goodLength, discardedBytes: 18 });
  assert.deepEqual(scanSeqs(recovered.log), [1, 2, 3]);
  assert.equal(fs.statSync(file).size, goodLength);
});

test('scan_stops_cleanly_at_inflight_torn_tail part 1b: a live scan never reads past the durable seq', () => {
  const log = newLog();
  appendEach(log, 1, 3, 1024 * 1024);
  const file = segmentPath(1);
  const goodLength = fs.statSync(file).size;
  // Bytes of a batch being written, not yet fsynced: 16 bytes of 0xFF after the durable frames.
  fs.appendFileSync(file, Buffer.alloc(16, 0xff));
  assert.deepEqual(scanSeqs(log, 1, Number.MAX_SAFE_INTEGER, 3), [1, 2, 3]);
  assert.deepEqual(scanSeqs(log, 3, 100, 3), [3]);
  assert.deepEqual(scanSeqs(log, 4, 100, 3), []);
  assert.equal(log.readEvent(3).seq, 3);
  log.close();
  // A crash now leaves those bytes as a torn tail; the next open drops them.
  const recovered = reopen();
  assert.deepEqual(recovered.repair.tornTail, { file, offsetBytes: goodLength, discardedBytes: 16 });
  assert.deepEqual(scanSeqs(recovered.log), [1, 2, 3]);
});

test('scan_stops_cleanly_at_inflight_torn_tail part 2: damage in a sealed segment refuses to open', () => {
  const log = newLog();
  appendEach(log, 1, 10, 64);
  log.close();
  const first = segmentFiles(bookDir)[0]!;
  xorByte(first, Math.floor(fs.statSync(first).size / 2));
  expectRefusal({ file: first, offset: 0 });
});

test('empty_final_segment_after_rotation_is_clean', () => {
  const plan = new FaultPlan(segmentFileName(4));
  const log = newLog(new FaultyFileSystem(plan.config()));
  appendEach(log, 1, 3, 1);
  assert.deepEqual(log.catalog, [1, 2, 3]);
  // Rotate for seq 4, then crash before its frame is written: an empty active segment is left.
  plan.arm('writev');
  assert.throws(() => log.appendBatch([ev(4)], 4, 1), /injected writev failure/);
  assert(plan.fired());
  log.close();
  assert.equal(fs.statSync(segmentPath(4)).size, 0);
  const recovered = reopen();
  assert.equal(recovered.repair.tornTail, null);
  assert.deepEqual(scanSeqs(recovered.log), [1, 2, 3]);
  // The next append position is (the new segment's base, offset 0).
  assert.deepEqual(recovered.log.catalog, [1, 2, 3, 4]);
  assert.equal(recovered.log.catalog.at(-1), 4);
  assert.equal(recovered.log.activeLengthBytes, 0);
  recovered.log.appendBatch([ev(4)], 4, 1);
  recovered.log.close();
  assert.deepEqual(scanSeqs(recovered.log), [1, 2, 3, 4]);
  assert.deepEqual(frameOffsets(segmentPath(4)), [0]);
  assert.deepEqual(readFrames(segmentPath(4)).map((frame) => frame.seq), [4]);
  assert.equal(segmentFiles(bookDir).length, 4);
  assert.deepEqual(scanSeqs(reopen().log), [1, 2, 3, 4]);
});

test('an empty final segment whose base is 1 is an empty book', () => {
  fs.mkdirSync(bookDir);
  fs.writeFileSync(segmentPath(1), Buffer.alloc(0));
  const before = snapshotTree(dataDir);
  const recovered = reopen();
  assertSameTree(snapshotTree(dataDir), before);
  assert.equal(recovered.state.seqNext, 1);
  assert.equal(recovered.log.lastSeq, 0);
  assert.deepEqual(scanSeqs(recovered.log), []);
  recovered.log.appendBatch([ev(1)], 1, 1024);
  recovered.log.close();
  assert.deepEqual(segmentFiles(bookDir), [segmentPath(1)]);
  assert.deepEqual(scanSeqs(reopen().log), [1]);
});

test('scans cross 64 KiB chunk boundaries and frames larger than a chunk', () => {
  const log = newLog();
  const big = (seq: number): Buffer =>
    eventFrame(
      seq,
      formatAtUs(BASE_US + seq),
      encodeAccountOpened({ id: { book: BOOK, path: 'x'.repeat(100_000 + seq) }, asset: 'USD', kind: 'asset' }, { normal_side: null, min_balance: null }),
    );
  log.appendBatch(range(1, 700).map(ev), 1, 1 << 30);
  log.appendBatch([big(701)], 701, 1 << 30);
  log.appendBatch(range(702, 1500).map(ev), 702, 1 << 30);
  assert(log.activeLengthBytes > 3 * 64 * 1024);
  assert.deepEqual(scanSeqs(log), range(1, 1500));
  assert.deepEqual(scanSeqs(log, 650, 100), range(650, 749));
  log.close();
  const recovered = reopen();
  assert.deepEqual(scanSeqs(recovered.log), range(1, 1500));
  assert.deepEqual(scanSeqs(recovered.log, 701, 1), [701]);
  assert.equal(recovered.log.readEvent(701).event.event.kind, 'account_opened');
  assert.equal(recovered.log.readEvent(1500).seq, 1500);
});

// --- This project also: the stricter recovery rules of log-engine.md -----------------------

test('a bad frame in the final segment followed by an intact frame refuses to open', () => {
  const log = newLog();
  appendEach(log, 1, 3, 1024 * 1024);
  log.close();
  const file = segmentPath(1);
  const offsets = frameOffsets(file);
  xorByte(file, offsets[1]! + 20); // inside frame 2's payload: CRC mismatch
  expectRefusal({
    file,
    offset: offsets[1]!,
    message: new RegExp(
      `^CORRUPT: corrupt frame in final segment "${re(file)}" at offset ${offsets[1]} \\(crc mismatch\\); an intact frame follows at offset ${offsets[2]}$`,
    ),
  });
});

test('a torn frame followed by more data that decodes as a good frame refuses to open', () => {
  const log = newLog();
  appendEach(log, 1, 2, 1024 * 1024);
  log.close();
  const file = segmentPath(1);
  const goodLength = fs.statSync(file).size;
  // Half of frame 3 (as a torn write leaves it), then a complete, intact frame 4.
  const frame3 = ev(3);
  fs.appendFileSync(file, Buffer.concat([frame3.subarray(0, 30), ev(4)]));
  expectRefusal({ file, offset: goodLength, message: /an intact frame follows at offset/ });
});

test('a frame whose seq is not the previous seq + 1 refuses to open', () => {
  fs.mkdirSync(bookDir);
  const file = segmentPath(1);
  const frames = [ev(1), ev(2), ev(4)];
  fs.writeFileSync(file, Buffer.concat(frames));
  const offset = frames[0]!.length + frames[1]!.length;
  expectRefusal({ file, offset, message: new RegExp(`seq gap in book b: expected seq 3, found 4 in "${re(file)}" at offset ${offset}$`) });
});

test('a repeated seq refuses to open', () => {
  fs.mkdirSync(bookDir);
  const file = segmentPath(1);
  const frames = [ev(1), ev(2), ev(2)];
  fs.writeFileSync(file, Buffer.concat(frames));
  expectRefusal({ file, offset: frames[0]!.length + frames[1]!.length, message: /expected seq 3, found 2/ });
});

test('a first frame other than seq 1 refuses to open', () => {
  fs.mkdirSync(bookDir);
  const file = segmentPath(1);
  fs.writeFileSync(file, Buffer.concat([ev(2), ev(3)]));
  expectRefusal({ file, offset: 0, message: /expected seq 1, found 2/ });
});

test('a segment whose first frame seq differs from the seq in its name refuses to open', () => {
  fs.mkdirSync(bookDir);
  fs.writeFileSync(segmentPath(1), Buffer.concat([ev(1), ev(2)]));
  // Named 3, as expected next, but its first frame is seq 4.
  const third = segmentPath(3);
  fs.writeFileSync(third, Buffer.concat([ev(4), ev(5)]));
  expectRefusal({ file: third, offset: 0 });
});

test('a segment named below the next expected seq refuses to open', () => {
  fs.mkdirSync(bookDir);
  fs.writeFileSync(segmentPath(1), Buffer.concat([ev(1), ev(2)]));
  // Holds seq 3 but is named 2.
  const second = segmentPath(2);
  fs.writeFileSync(second, ev(3));
  expectRefusal({ file: second, offset: 0, message: new RegExp(`segment "${re(second)}" does not start at seq 3`) });
});

test('a missing segment in the middle of the sequence refuses to open', () => {
  const log = newLog();
  appendEach(log, 1, 5, 64);
  log.close();
  const files = segmentFiles(bookDir);
  assert.equal(files.length, 5);
  fs.unlinkSync(files[2]!);
  expectRefusal({ file: files[3]!, offset: 0, message: /seq gap in book b: expected seq 3/ });
});

test('an empty segment that is not the final one refuses to open', () => {
  const log = newLog();
  appendEach(log, 1, 3, 64);
  log.close();
  const files = segmentFiles(bookDir);
  fs.truncateSync(files[1]!, 0);
  expectRefusal({ file: files[1]!, offset: 0 });
});

test('a CRC-valid frame with an invalid payload at the end of the final segment refuses, not truncates', () => {
  const log = newLog();
  appendEach(log, 1, 2, 1024 * 1024);
  log.close();
  const file = segmentPath(1);
  const goodLength = fs.statSync(file).size;
  fs.appendFileSync(file, eventFrame(3, formatAtUs(BASE_US + 3), '{"kind":"no_such_kind"}'));
  expectRefusal({ file, offset: goodLength, message: new RegExp(`^CORRUPT: invalid event in segment "${re(file)}" at offset ${goodLength}: `) });
});

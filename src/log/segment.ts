/**
 * Segment files of one book (spec/log-engine.md, section 4).
 *
 * A book's log is a sequence of files `segment-<base:020>.log`, each named by the seq of its first
 * frame. The one with the highest base is the active segment, the only one appended to; every
 * other is sealed and never changes again. Segments are never deleted.
 *
 * G1. A batch is one write and one fsync of one file; rotation happens only between batches.
 * G2. A new book's directory and first segment are created inside its first batch that appends,
 *     each followed by an fsync of the parent directory, so an acknowledged event's directory
 *     entries are durable.
 * G3. Readers never decode past the ceiling they are given (the durable seq), so bytes of a batch
 *     being written are never mistaken for damage.
 * G4. Every frame read must decode and carry the expected seq; anything else is CORRUPT with the
 *     file and the frame's offset (a read that fails before there are bytes to judge: G6).
 * G5. Only the file decides that a frame is torn. A reader compares a frame's length with the
 *     file's length, and decodes it only once its buffer holds the whole frame, refilled at the
 *     frame's own offset and grown to its real length; a buffer the reader itself cut short is
 *     never reported as damage.
 * G6. Only damage ends a book. A read that fails for a reason that says nothing about the file's
 *     bytes (out of descriptors or memory, interrupted, access withdrawn: isNotDamage) rejects IO
 *     and leaves the book writable; a missing segment or any other failed read (EIO is a latent
 *     sector error, section 12) is CORRUPT like a bad frame.
 * G7. An open that finds no free descriptor (EMFILE, ENFILE) is not damage and not this reader's
 *     verdict: the error passes through as it is, and the shard refuses the job (src/log/fd-budget.ts).
 * G8. A failure to get a descriptor during an append leaves the log as it was before the batch, so
 *     the same batch can simply be tried again: the active descriptor and the catalog change only
 *     once a new segment and its directory entry are in place.
 * G9. Preallocation. Frames are written at their offset, not appended. Once the active segment
 *     holds PREALLOCATE_FROM_BYTES, a batch that would pass the allocated end writes zeros after
 *     its frames up to the next PREALLOCATE_CHUNK_BYTES boundary (never past segmentMax) and is
 *     made durable with a full fsync; a batch that fits in the zeros already durable needs only an
 *     fdatasync, which skips the file-system journal. The zero tail is never part of the log:
 *     recovery reads it as a torn tail (it is one: bytes past the last frame), rotation truncates
 *     it before the segment is sealed, and a clean close truncates it, so a sealed segment and a
 *     closed store hold no zeros (the Rust store reads both unchanged).
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { StoreError } from '../core/errors.js';
import type { DecodedPayload } from '../core/event-codec.js';
import { isDescriptorPressure, isNotDamage, readFully, writeAll, type FileSystem, type SyncRequest } from './file-system.js';
import { decodeFrame, FRAME_HEADER_BYTES, type FrameDecodeResult } from './frame.js';
import { FRAME_PAYLOAD_BYTES_MAX, PREALLOCATE_CHUNK_BYTES, PREALLOCATE_FROM_BYTES } from '../core/limits.js';

const SEGMENT_NAME_PATTERN = /^segment-(\d+)\.log$/;

/** Bytes read at a time by a scan; a read is enlarged to hold one whole frame when needed (G5). */
export const SCAN_CHUNK_BYTES = 64 * 1024;

/** Zeros to grow a segment with (G9), shared: written, never changed. */
let zeros: Buffer | null = null;
function zeroChunk(bytes: number): Buffer {
  zeros ??= Buffer.alloc(PREALLOCATE_CHUNK_BYTES);
  return zeros.subarray(0, bytes);
}

export function segmentFileName(base: number): string {
  return `segment-${String(base).padStart(20, '0')}.log`;
}

/** The base of a segment file name, or null if the name is not a segment's. */
export function parseSegmentFileName(name: string): number | null {
  const match = SEGMENT_NAME_PATTERN.exec(name);
  if (match === null) return null;
  const base = Number(match[1]);
  return Number.isSafeInteger(base) && base >= 1 ? base : null;
}

export function bookDirectory(dataDir: string, book: string): string {
  return path.join(dataDir, 'books', book);
}

/** Grows by doubling; one f64 per event: the byte offset of seq s's frame in its segment. */
class OffsetColumn {
  #values = new Float64Array(16);
  length = 0;

  push(value: number): void {
    this.#roomFor(1);
    this.#values[this.length++] = value;
  }

  pushAll(values: Float64Array): void {
    this.#roomFor(values.length);
    this.#values.set(values, this.length);
    this.length += values.length;
  }

  /** Doubles the column until `count` more values fit. */
  #roomFor(count: number): void {
    let capacity = this.#values.length;
    while (this.length + count > capacity) capacity *= 2;
    if (capacity === this.#values.length) return;
    const grown = new Float64Array(capacity);
    grown.set(this.#values.subarray(0, this.length));
    this.#values = grown;
  }

  at(index: number): number {
    assert(index >= 0 && index < this.length);
    return this.#values[index]!;
  }
}

/** A batch written by SegmentLog.writeBatch and not yet durable. */
export interface WrittenBatch {
  /** What to fsync: the active segment, with fdatasync when the batch grew nothing (G9). */
  sync: SyncRequest;
  firstSeq: number;
  /** Each frame's length, in order. */
  sizes: number[];
  /** The segment's length on disk once the batch is durable: its frames and any zeros after them. */
  allocated: number;
}

export class SegmentLog {
  readonly bookDir: string;
  /** Segment bases, ascending. */
  readonly catalog: number[] = [];
  /** Bytes of frames in the active segment (the last of the catalog). */
  activeLengthBytes = 0;
  /** The active segment's length on disk: its frames, then the zeros durable after them (G9). */
  #allocatedBytes = 0;
  /** Bytes a scan reads at a time (G5); tests make it small to put frames across every boundary. */
  scanChunkBytes = SCAN_CHUNK_BYTES;
  /** G9's thresholds; tests make them small so small logs run on preallocated segments. */
  preallocate = { fromBytes: PREALLOCATE_FROM_BYTES, chunkBytes: PREALLOCATE_CHUNK_BYTES };
  readonly #offsets = new OffsetColumn();
  #activeFd: number | null = null;

  constructor(
    readonly fileSystem: FileSystem,
    readonly dataDir: string,
    readonly book: string,
  ) {
    this.bookDir = bookDirectory(dataDir, book);
  }

  /** The last seq with a frame on disk that this log knows of (0 for an empty book). */
  get lastSeq(): number {
    return this.#offsets.length;
  }

  segmentPath(base: number): string {
    return path.join(this.bookDir, segmentFileName(base));
  }

  /** Recovery: adopt a segment found on disk (in base order). */
  adoptSegment(base: number, lengthBytes: number): void {
    const previous = this.catalog[this.catalog.length - 1];
    assert(previous === undefined || base > previous);
    this.catalog.push(base);
    this.activeLengthBytes = lengthBytes;
  }

  /**
   * Recovery: the adopted segment's frames end at `lengthBytes`. Any bytes after them are a torn
   * tail, not zeros of this log's (G9): repair cuts them before the first append, and until then,
   * a close leaves them as found.
   */
  framesEndAt(lengthBytes: number): void {
    this.activeLengthBytes = lengthBytes;
    this.#allocatedBytes = lengthBytes;
  }

  /** Recovery: the frames from `firstSeq` on start at `offsets` in the active segment. */
  recordFrames(firstSeq: number, offsets: Float64Array): void {
    assert.equal(firstSeq, this.#offsets.length + 1);
    this.#offsets.pushAll(offsets);
  }

  /** Recovery and append: the frame of `seq` starts at `offsetBytes` in the active segment. */
  recordFrame(seq: number, offsetBytes: number): void {
    assert.equal(seq, this.#offsets.length + 1);
    this.#offsets.push(offsetBytes);
  }

  /**
   * Descriptors appendBatch may need beyond those the log holds: none when the active segment is
   * open and no rotation is due; otherwise two (a new or reopened segment, a directory fsync).
   */
  descriptorsNeeded(segmentMax: number): number {
    return this.#activeFd !== null && !this.#rotationDue(segmentMax) ? 0 : 2;
  }

  #rotationDue(segmentMax: number): boolean {
    return this.catalog.length > 0 && this.activeLengthBytes >= segmentMax && this.activeLengthBytes > 0;
  }

  /**
   * Appends one batch of frames whose first seq is `firstSeq`: creates the book or rotates if
   * needed, writes every byte with one writev, fsyncs once (G1, G2). Throws the file-system error
   * on any failure; the caller then ends the book.
   */
  appendBatch(frames: readonly Buffer[], firstSeq: number, segmentMax: number): void {
    const written = this.writeBatch(frames, firstSeq, segmentMax);
    this.fileSystem.fsyncSync(written.sync.fd, written.sync.dataOnly);
    this.completeBatch(written);
  }

  /**
   * The first half of appendBatch: creates the book or rotates if needed and writes every byte of
   * the batch, but does not make it durable. The caller fsyncs `sync` (with other books' batches,
   * src/log/sync-pool.ts) and then calls completeBatch; if that fsync fails, the book ends (W4)
   * and the log is never written again.
   */
  writeBatch(frames: readonly Buffer[], firstSeq: number, segmentMax: number): WrittenBatch {
    assert(frames.length > 0);
    assert.equal(firstSeq, this.lastSeq + 1);
    const fileSystem = this.fileSystem;
    if (this.catalog.length === 0) {
      this.#createBook(firstSeq);
    } else if (this.#rotationDue(segmentMax)) {
      this.#rotate(firstSeq);
    } else if (this.#activeFd === null) {
      this.#activeFd = fileSystem.openSync(this.segmentPath(this.catalog[this.catalog.length - 1]!), 'r+');
    }
    const fd = this.#activeFd!;
    const start = this.activeLengthBytes;
    let end = start;
    const sizes: number[] = new Array(frames.length);
    for (let index = 0; index < frames.length; index++) {
      sizes[index] = frames[index]!.length;
      end += sizes[index]!;
    }
    // G9: inside the durable zeros an fdatasync will do; past them, grow and fsync in full.
    const grows = end > this.#allocatedBytes;
    const allocated = grows ? this.#preallocatedEnd(end, segmentMax) : this.#allocatedBytes;
    const chunks = backToBack(frames);
    if (allocated > end && grows) chunks.push(zeroChunk(allocated - end));
    writeAll(fileSystem, fd, chunks, start);
    return { sync: { fd, dataOnly: !grows }, firstSeq, sizes, allocated };
  }

  /** The second half of appendBatch, once the batch is durable: its frames join the log. */
  completeBatch(written: WrittenBatch): void {
    assert.equal(written.firstSeq, this.lastSeq + 1);
    this.#allocatedBytes = Math.max(this.#allocatedBytes, written.allocated);
    let offset = this.activeLengthBytes;
    for (let index = 0; index < written.sizes.length; index++) {
      this.recordFrame(written.firstSeq + index, offset);
      offset += written.sizes[index]!;
    }
    this.activeLengthBytes = offset;
  }

  /**
   * Where the zeros after a batch ending at `end` stop (G9): nothing while the segment is small,
   * else the next chunk boundary, but not past segmentMax, where the segment rotates anyway.
   */
  #preallocatedEnd(end: number, segmentMax: number): number {
    const { fromBytes, chunkBytes } = this.preallocate;
    if (end < fromBytes) return end;
    const boundary = (Math.floor(end / chunkBytes) + 1) * chunkBytes;
    return Math.max(end, Math.min(boundary, segmentMax));
  }

  /**
   * A clean close (G9): cuts the active segment's zero tail, so the files on disk hold frames only,
   * and closes it. Failure is harmless (the zeros read as a torn tail at the next open) and silent.
   */
  trimAndClose(): void {
    if (this.catalog.length > 0 && this.#allocatedBytes > this.activeLengthBytes) {
      try {
        this.#activeFd ??= this.fileSystem.openSync(this.segmentPath(this.catalog[this.catalog.length - 1]!), 'r+');
        this.fileSystem.ftruncateSync(this.#activeFd, this.activeLengthBytes);
        this.fileSystem.fsyncSync(this.#activeFd);
        this.#allocatedBytes = this.activeLengthBytes;
      } catch {
        // the next open truncates the tail instead
      }
    }
    this.close();
  }

  #createBook(firstSeq: number): void {
    const fileSystem = this.fileSystem;
    const booksDir = path.dirname(this.bookDir);
    fileSystem.mkdirSync(this.bookDir); // an existing directory is fine: a retry repeats every step (G5)
    fileSystem.fsyncDirSync(booksDir);
    this.#activeFd = this.#openNewSegment(firstSeq);
    this.catalog.push(firstSeq);
    this.activeLengthBytes = 0;
    this.#allocatedBytes = 0;
  }

  /** Creates (or opens, on a retry) `segment-<firstSeq>.log` and makes its entry durable (G5). */
  #openNewSegment(firstSeq: number): number {
    const fd = this.fileSystem.openSync(this.segmentPath(firstSeq), 'create');
    try {
      this.fileSystem.fsyncDirSync(this.bookDir);
    } catch (error) {
      try {
        this.fileSystem.closeSync(fd);
      } catch {
        // the descriptor is gone either way
      }
      throw error;
    }
    return fd;
  }

  #rotate(firstSeq: number): void {
    const fileSystem = this.fileSystem;
    const sealedFd = this.#activeFd ?? fileSystem.openSync(this.segmentPath(this.catalog[this.catalog.length - 1]!), 'r+');
    this.#activeFd = sealedFd;
    // G9: a sealed segment holds frames only; the cut is made durable with the seal, before the
    // next segment exists.
    if (this.#allocatedBytes > this.activeLengthBytes) fileSystem.ftruncateSync(sealedFd, this.activeLengthBytes);
    fileSystem.fsyncSync(sealedFd); // "sealed" always means fsynced
    this.#allocatedBytes = this.activeLengthBytes;
    this.#activeFd = null;
    fileSystem.closeSync(sealedFd);
    this.#activeFd = this.#openNewSegment(firstSeq);
    this.catalog.push(firstSeq);
    this.activeLengthBytes = 0;
    this.#allocatedBytes = 0;
  }

  /** Closes the active descriptor without an fsync (used when the book dies, and at close). */
  close(): void {
    if (this.#activeFd === null) return;
    const fd = this.#activeFd;
    this.#activeFd = null;
    try {
      this.fileSystem.closeSync(fd);
    } catch {
      // The descriptor is gone either way; a close error changes nothing on disk.
    }
  }

  /** The segment base holding `seq`: the greatest base <= seq. */
  baseOf(seq: number): number {
    const catalog = this.catalog;
    let low = 0;
    let high = catalog.length - 1;
    assert(high >= 0);
    while (low < high) {
      const middle = (low + high + 1) >> 1;
      if (catalog[middle]! <= seq) low = middle;
      else high = middle - 1;
    }
    return catalog[low]!;
  }

  /** The byte offset of seq's frame in its segment (baseOf(seq)). */
  offsetOf(seq: number): number {
    return this.#offsets.at(seq - 1);
  }

  /** Reads and decodes the frame of one seq, checking that it carries that seq (G4). */
  readEvent(seq: number): DecodedPayload {
    assert(seq >= 1 && seq <= this.lastSeq);
    const offset = this.#offsets.at(seq - 1);
    // A window of one frame: the header, then exactly the frame's bytes.
    const reader = this.#openReader(this.baseOf(seq), offset, 0);
    try {
      return reader.expectFrame(offset, seq, ': stale or wrong position').decoded;
    } finally {
      reader.close();
    }
  }

  /**
   * Reads events with seq >= from, at most `limit`, never above `ceiling` (G3). `visit` returns
   * false to stop early (the point-in-time trial balance stops at the first later `at`).
   */
  scan(from: number, limit: number, ceiling: number, visit: (decoded: DecodedPayload) => boolean): void {
    const first = Math.max(from, 1);
    if (limit === 0 || first > ceiling) return;
    assert(ceiling <= this.lastSeq);
    let seq = first;
    const last = Math.min(ceiling, first + limit - 1);
    while (seq <= last) {
      const base = this.baseOf(seq);
      const nextBase = this.catalog[this.catalog.indexOf(base) + 1] ?? Number.POSITIVE_INFINITY;
      let offset = this.#offsets.at(seq - 1);
      const reader = this.#openReader(base, offset, this.scanChunkBytes);
      try {
        while (seq <= last && seq < nextBase) {
          const frame = reader.expectFrame(offset, seq, '');
          offset += frame.frameBytes;
          seq++;
          if (!visit(frame.decoded)) return;
        }
      } finally {
        reader.close();
      }
    }
  }

  /** Opens the segment of `base` for reading; `offset` is the frame the error names if it fails. */
  #openReader(base: number, offset: number, chunkBytes: number): SegmentReader {
    const file = this.segmentPath(base);
    let fd: number;
    try {
      fd = this.fileSystem.openSync(file, 'r');
    } catch (error) {
      if (isDescriptorPressure(error)) throw error; // G7
      throw readFailure(this.book, file, offset, 'cannot open segment', error);
    }
    let lengthBytes: number;
    try {
      lengthBytes = this.fileSystem.fstatSizeSync(fd);
    } catch (error) {
      closeQuietly(this.fileSystem, fd);
      throw readFailure(this.book, file, offset, 'cannot read the length of segment', error);
    }
    return new SegmentReader(this.book, this.fileSystem, fd, file, lengthBytes, chunkBytes);
  }
}

/**
 * The frames as few chunks as they allow: frames that lie back to back in one buffer (a batch built
 * in a FrameArena) become one chunk, so the write passes one buffer, not one per frame.
 */
function backToBack(frames: readonly Buffer[]): Buffer[] {
  const chunks: Buffer[] = [];
  let first = frames[0]!;
  let bytes = first.length;
  for (let index = 1; index < frames.length; index++) {
    const frame = frames[index]!;
    if (frame.buffer === first.buffer && frame.byteOffset === first.byteOffset + bytes) {
      bytes += frame.length;
      continue;
    }
    chunks.push(bytes === first.length ? first : Buffer.from(first.buffer, first.byteOffset, bytes));
    first = frame;
    bytes = frame.length;
  }
  chunks.push(bytes === first.length ? first : Buffer.from(first.buffer, first.byteOffset, bytes));
  return chunks;
}

/**
 * One segment file open for reading frames at known offsets (G5). Frames are read through a
 * window that is refilled at the wanted frame's offset and grown to hold that whole frame, never
 * beyond 8 + FRAME_PAYLOAD_BYTES_MAX; it reads `chunkBytes` at a time when frames are smaller, so a
 * scan does one read per chunk, not one per frame. Torn frames are decided against the file's
 * length, taken once at open and taken again before any verdict of damage that rests on it.
 */
class SegmentReader {
  /** The file's length as last taken. */
  #lengthBytes: number;
  #window: Buffer;
  /** The file offset of #window[0], and how many bytes of #window hold file data. */
  #windowStart = 0;
  #windowBytes = 0;

  constructor(
    readonly book: string,
    readonly fileSystem: FileSystem,
    readonly fd: number,
    readonly file: string,
    lengthBytes: number,
    readonly chunkBytes: number,
  ) {
    assert(Number.isSafeInteger(chunkBytes) && chunkBytes >= 0);
    this.#lengthBytes = lengthBytes;
    this.#window = Buffer.allocUnsafe(Math.max(chunkBytes, FRAME_HEADER_BYTES));
  }

  /**
   * The frame at `offset`, which must decode and carry `seq` (G4). Damage is CORRUPT with the file
   * and the frame's offset; a read failure is IO or CORRUPT as G6 says.
   */
  expectFrame(offset: number, seq: number, seqNote: string): { decoded: DecodedPayload; frameBytes: number } {
    const result = this.#frameAt(offset);
    if (result.kind !== 'frame') {
      throw corruptFrame(this.book, this.file, offset, result.kind === 'end' ? 'unexpected end of segment' : result.reason);
    }
    if (result.decoded.seq !== seq) throw corruptFrame(this.book, this.file, offset, `expected seq ${seq}, found ${result.decoded.seq}${seqNote}`);
    return result;
  }

  /** The checks of section 3.5 for the frame at `offset`, the torn ones against the file itself (G5). */
  #frameAt(offset: number): FrameDecodeResult {
    if (offset + FRAME_HEADER_BYTES > this.#lengthBytes && this.#fileEndsBefore(offset, offset + FRAME_HEADER_BYTES)) {
      return offset >= this.#lengthBytes ? { kind: 'end' } : { kind: 'torn', reason: 'torn header' };
    }
    this.#fill(offset, FRAME_HEADER_BYTES);
    const payloadBytes = this.#window.readUInt32LE(offset - this.#windowStart);
    const frameBytes = FRAME_HEADER_BYTES + payloadBytes;
    // Rows 3 to 5 before anything is allocated for the payload.
    if (offset + frameBytes > this.#lengthBytes && this.#fileEndsBefore(offset, offset + frameBytes)) return { kind: 'torn', reason: 'torn payload' };
    if (payloadBytes === 0 || payloadBytes > FRAME_PAYLOAD_BYTES_MAX) return { kind: 'corrupt', reason: `length ${payloadBytes} out of range` };
    this.#fill(offset, frameBytes);
    const start = offset - this.#windowStart;
    const result = decodeFrame(this.#window, start, start + frameBytes);
    // The window holds the whole frame, so the decoder cannot find it torn; if it ever did, the
    // reader is at fault, not the file: never CORRUPT (G5).
    if (result.kind === 'torn' || result.kind === 'end') {
      throw StoreError.io(`the reader of segment "${this.file}" held too few bytes for the frame at offset ${offset} (${result.kind})`);
    }
    return result;
  }

  /** Makes the window hold bytes [offset, offset + bytes) of the file, which it has (checked by the caller). */
  #fill(offset: number, bytes: number): void {
    if (offset >= this.#windowStart && offset + bytes <= this.#windowStart + this.#windowBytes) return;
    if (bytes > this.#window.length) this.#window = Buffer.allocUnsafe(Math.max(bytes, this.chunkBytes));
    const target = this.#window.subarray(0, Math.max(bytes, Math.min(this.#window.length, this.#lengthBytes - offset)));
    this.#windowStart = offset;
    this.#windowBytes = 0;
    try {
      this.#windowBytes = readFully(this.fileSystem, this.fd, target, offset);
    } catch (error) {
      throw readFailure(this.book, this.file, offset, 'cannot read segment', error);
    }
    if (this.#windowBytes >= bytes) return;
    // The file ended early: damage only if it is shorter now than the frame needs (G5).
    if (this.#fileEndsBefore(offset, offset + bytes)) {
      throw corruptFrame(this.book, this.file, offset, `the segment ended at ${this.#lengthBytes} bytes while it was read`);
    }
    throw StoreError.io(`a read of segment "${this.file}" at offset ${offset} returned ${this.#windowBytes} of ${bytes} bytes`);
  }

  /** Takes the file's length again: does it end before `end`? Errors name the frame at `offset`. */
  #fileEndsBefore(offset: number, end: number): boolean {
    try {
      this.#lengthBytes = this.fileSystem.fstatSizeSync(this.fd);
    } catch (error) {
      throw readFailure(this.book, this.file, offset, 'cannot read the length of segment', error);
    }
    return this.#lengthBytes < end;
  }

  close(): void {
    closeQuietly(this.fileSystem, this.fd);
  }
}

function corruptFrame(book: string, file: string, offset: number, reason: string): StoreError {
  return StoreError.corrupt(book, file, offset, `corrupt frame in segment "${file}" at offset ${offset} (${reason})`);
}

/** A failed open, fstat or read of a segment (G6): IO when it says nothing about the bytes, else CORRUPT. */
function readFailure(book: string, file: string, offset: number, what: string, error: unknown): StoreError {
  if (error instanceof StoreError) return error; // a FileSystem wrapper's own verdict
  const message = (error as Error).message;
  if (isNotDamage(error)) return StoreError.io(`${what} "${file}" at offset ${offset}: ${message}; the log is not known to be damaged`, error);
  return corruptFrame(book, file, offset, `${what} (${message})`);
}

/** A close after reading changes nothing on disk; its failure must not turn a good read into an error. */
function closeQuietly(fileSystem: FileSystem, fd: number): void {
  try {
    fileSystem.closeSync(fd);
  } catch {
    // Nothing to do: the descriptor is gone either way.
  }
}

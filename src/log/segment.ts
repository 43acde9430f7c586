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
 *     file and the frame's offset. An open that finds no free descriptor (EMFILE, ENFILE) is not
 *     damage: that error passes through as it is (src/log/fd-budget.ts).
 * G5. A failure to get a descriptor during an append leaves the log as it was before the batch, so
 *     the same batch can simply be tried again: the active descriptor and the catalog change only
 *     once a new segment and its directory entry are in place.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { StoreError } from '../core/errors.js';
import type { DecodedPayload } from '../core/event-codec.js';
import { isDescriptorPressure, readFully, writeAll, type FileSystem } from './file-system.js';
import { decodeFrame, FRAME_HEADER_BYTES } from './frame.js';
import { FRAME_PAYLOAD_BYTES_MAX } from '../core/limits.js';

const SEGMENT_NAME_PATTERN = /^segment-(\d+)\.log$/;

/** Bytes read at a time by a scan; enlarged to hold one whole frame when needed. */
export const SCAN_CHUNK_BYTES = 64 * 1024;

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
    if (this.length === this.#values.length) {
      const grown = new Float64Array(this.#values.length * 2);
      grown.set(this.#values);
      this.#values = grown;
    }
    this.#values[this.length++] = value;
  }

  at(index: number): number {
    assert(index >= 0 && index < this.length);
    return this.#values[index]!;
  }
}

export class SegmentLog {
  readonly bookDir: string;
  /** Segment bases, ascending. */
  readonly catalog: number[] = [];
  /** Bytes in the active segment (the last of the catalog). */
  activeLengthBytes = 0;
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
    assert(frames.length > 0);
    assert.equal(firstSeq, this.lastSeq + 1);
    const fileSystem = this.fileSystem;
    if (this.catalog.length === 0) {
      this.#createBook(firstSeq);
    } else if (this.#rotationDue(segmentMax)) {
      this.#rotate(firstSeq);
    } else if (this.#activeFd === null) {
      this.#activeFd = fileSystem.openSync(this.segmentPath(this.catalog[this.catalog.length - 1]!), 'a');
    }
    const fd = this.#activeFd!;
    writeAll(fileSystem, fd, frames);
    fileSystem.fsyncSync(fd);
    let offset = this.activeLengthBytes;
    for (let index = 0; index < frames.length; index++) {
      this.recordFrame(firstSeq + index, offset);
      offset += frames[index]!.length;
    }
    this.activeLengthBytes = offset;
  }

  #createBook(firstSeq: number): void {
    const fileSystem = this.fileSystem;
    const booksDir = path.dirname(this.bookDir);
    fileSystem.mkdirSync(this.bookDir); // an existing directory is fine: a retry repeats every step (G5)
    fileSystem.fsyncDirSync(booksDir);
    this.#activeFd = this.#openNewSegment(firstSeq);
    this.catalog.push(firstSeq);
    this.activeLengthBytes = 0;
  }

  /** Creates (or opens, on a retry) `segment-<firstSeq>.log` and makes its entry durable (G5). */
  #openNewSegment(firstSeq: number): number {
    const fd = this.fileSystem.openSync(this.segmentPath(firstSeq), 'a');
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
    const sealedFd = this.#activeFd ?? fileSystem.openSync(this.segmentPath(this.catalog[this.catalog.length - 1]!), 'a');
    this.#activeFd = sealedFd;
    fileSystem.fsyncSync(sealedFd); // "sealed" always means fsynced
    this.#activeFd = null;
    fileSystem.closeSync(sealedFd);
    this.#activeFd = this.#openNewSegment(firstSeq);
    this.catalog.push(firstSeq);
    this.activeLengthBytes = 0;
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
    const base = this.baseOf(seq);
    const offset = this.#offsets.at(seq - 1);
    const file = this.segmentPath(base);
    const fileSystem = this.fileSystem;
    let fd: number;
    try {
      fd = fileSystem.openSync(file, 'r');
    } catch (error) {
      if (isDescriptorPressure(error)) throw error; // G4: no descriptor is not damage
      throw this.#corrupt(file, offset, `cannot open segment (${(error as Error).message})`);
    }
    try {
      const header = Buffer.alloc(FRAME_HEADER_BYTES);
      if (readFully(fileSystem, fd, header, offset) < FRAME_HEADER_BYTES) throw this.#corrupt(file, offset, 'torn header');
      const payloadBytes = header.readUInt32LE(0);
      if (payloadBytes === 0 || payloadBytes > FRAME_PAYLOAD_BYTES_MAX) {
        throw this.#corrupt(file, offset, `length ${payloadBytes} out of range`);
      }
      // Check that the frame fits inside the file before allocating its payload.
      if (offset + FRAME_HEADER_BYTES + payloadBytes > fileSystem.fstatSizeSync(fd)) throw this.#corrupt(file, offset, 'torn payload');
      const frame = Buffer.allocUnsafe(FRAME_HEADER_BYTES + payloadBytes);
      header.copy(frame);
      const payloadRead = readFully(fileSystem, fd, frame.subarray(FRAME_HEADER_BYTES), offset + FRAME_HEADER_BYTES);
      if (payloadRead < payloadBytes) throw this.#corrupt(file, offset, 'torn payload');
      const result = decodeFrame(frame, 0, frame.length);
      if (result.kind !== 'frame') throw this.#corrupt(file, offset, 'reason' in result ? result.reason : result.kind);
      if (result.decoded.seq !== seq) throw this.#corrupt(file, offset, `expected seq ${seq}, found ${result.decoded.seq}: stale or wrong position`);
      return result.decoded;
    } catch (error) {
      // A failed read or fstat is a read that fails at this frame (G4), never a raw error.
      if (error instanceof StoreError) throw error;
      throw this.#corrupt(file, offset, `cannot be read (${(error as Error).message})`);
    } finally {
      fileSystem.closeSync(fd);
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
    const fileSystem = this.fileSystem;
    while (seq <= last) {
      const base = this.baseOf(seq);
      const file = this.segmentPath(base);
      // A failed open or read is a read that fails at this frame, as in readEvent (G4): CORRUPT
      // with file and offset, never a raw error escaping the shard.
      let fd: number;
      try {
        fd = fileSystem.openSync(file, 'r');
      } catch (error) {
        if (isDescriptorPressure(error)) throw error; // G4: no descriptor is not damage
        throw this.#corrupt(file, this.#offsets.at(seq - 1), `cannot open segment (${(error as Error).message})`);
      }
      const readAt = (target: Buffer, offset: number): number => {
        try {
          return readFully(fileSystem, fd, target, offset);
        } catch (error) {
          throw this.#corrupt(file, offset, `cannot be read (${(error as Error).message})`);
        }
      };
      try {
        let chunk = Buffer.allocUnsafe(SCAN_CHUNK_BYTES);
        let chunkStart = this.#offsets.at(seq - 1);
        let chunkLength = readAt(chunk, chunkStart);
        let position = 0;
        const nextBase = this.catalog[this.catalog.indexOf(base) + 1] ?? Number.POSITIVE_INFINITY;
        while (seq <= last && seq < nextBase) {
          // Make sure the whole frame is in the chunk, reading more (and a larger chunk) if needed.
          if (chunkLength - position < FRAME_HEADER_BYTES || chunkLength - position < FRAME_HEADER_BYTES + chunk.readUInt32LE(position)) {
            const needed =
              chunkLength - position >= FRAME_HEADER_BYTES
                ? Math.min(FRAME_HEADER_BYTES + chunk.readUInt32LE(position), FRAME_HEADER_BYTES + FRAME_PAYLOAD_BYTES_MAX)
                : FRAME_HEADER_BYTES;
            chunkStart += position;
            if (needed > chunk.length) chunk = Buffer.allocUnsafe(Math.max(needed, SCAN_CHUNK_BYTES));
            chunkLength = readAt(chunk, chunkStart);
            position = 0;
          }
          const result = decodeFrame(chunk, position, chunkLength);
          if (result.kind !== 'frame') {
            throw this.#corrupt(file, chunkStart + position, 'reason' in result ? result.reason : 'unexpected end of segment');
          }
          if (result.decoded.seq !== seq) {
            throw this.#corrupt(file, chunkStart + position, `expected seq ${seq}, found ${result.decoded.seq}`);
          }
          position += result.frameBytes;
          seq++;
          if (!visit(result.decoded)) return;
        }
      } finally {
        fileSystem.closeSync(fd);
      }
    }
  }

  #corrupt(file: string, offset: number, reason: string): StoreError {
    return StoreError.corrupt(this.book, file, offset, `corrupt frame in segment "${file}" at offset ${offset} (${reason})`);
  }
}

/**
 * Segment prechecks: the read pool's part of recovery (spec/log-engine.md, section 5.1 step 6).
 * While a shard worker loads a book's snapshot, helper threads read the segments that snapshot
 * covers and verify their frames (length, CRC, seq), so that recovery adopts the frames the
 * snapshot covers without reading them itself. Opening a book of 1,000,000 transactions from a
 * snapshot spent about half its time reading and CRC-checking covered frames on the worker.
 *
 * P1. An accelerator only. A precheck reports how far from the start of one segment its frames are
 *     sound and carry the seqs base, base + 1, …; it stops at the first frame that is anything
 *     else and names nothing. Recovery skips only frames a precheck verified and the snapshot
 *     covers; every other byte (the snapshot's own frame, the tail, a bad frame, a seq it could not
 *     peek) is walked by recovery itself, so every row, torn tail and error message is the
 *     worker's, word for word.
 * P2. Real files only, read-only: only the shard writer's real file system offers prechecks
 *     (FileSystem.precheckSegments); the injectable file systems of the tests and the fault
 *     campaigns have none, so every byte they serve goes through them.
 * P3. A helper that cannot start, fails or stalls costs time, never correctness: a segment no
 *     helper has taken is taken back and walked by the worker, and one whose helper shows no
 *     progress for STALL_MS is walked by the worker too.
 * P4. The helpers end when the shard's recovery ends (close), finished or not.
 * P5. Segments with frames after the book's newest snapshot are also decoded by the helper that
 *     verifies them (src/log/replay-decode.ts), so a replay applies their transactions without
 *     reading the JSON itself. A helper claims such a segment only while it is fewer than
 *     DECODE_AHEAD_SEGMENTS places past the last segment the worker asked for: decoded columns
 *     wait in memory until the worker applies them.
 *
 * Shared cells (Int32): [0] progress beats (every chunk read, every file done), [1] how many of
 * the segments the worker has asked for (the index of the last one, plus one), then one state per
 * segment: UNCLAIMED, CLAIMED (a helper checks it), DONE (its result is in the helper's port),
 * TAKEN_BACK (the worker walks it).
 */
import fs from 'node:fs';
import os from 'node:os';
import { MessageChannel, receiveMessageOnPort, Worker, type MessagePort } from 'node:worker_threads';
import { FRAME_PAYLOAD_BYTES_MAX } from '../core/limits.js';
import { decodeCanonicalPayload } from './canonical-payload.js';
import { checkFrame, FRAME_HEADER_BYTES, peekSeq } from './frame.js';
import { decodedBuffers, FrameDecoder, type DecodedFrames } from './replay-decode.js';

/** What a precheck verified of one segment (P1). */
export interface SegmentPrecheck {
  /** Frames verified from the start: sound, with seqs base, base + 1, … */
  frames: number;
  /** The byte offset of each verified frame. */
  offsets: Float64Array;
  /** Where the verified frames end: the offset of the first frame not verified, or the file's end. */
  verifiedEnd: number;
  /** The file's length when it was read. */
  fileBytes: number;
  /** The transactions decoded from frames at or after `decode.fromSeq` (P5), or null. */
  decoded: DecodedFrames | null;
}

export interface SegmentToPrecheck {
  file: string;
  base: number;
  /** Decode the book's transactions from this seq on (P5); null: verify only. */
  decode: { book: string; fromSeq: number } | null;
}

/** Where recovery asks for the precheck of a segment: null when the worker must walk it itself. */
export interface SegmentPrechecks {
  take(file: string): SegmentPrecheck | null;
  close(): void;
}

/** Below this many bytes in all, starting helper threads costs more than it saves. */
export const PRECHECK_FROM_BYTES = 32 * 1024 * 1024;
/** Bytes a helper reads at a time: small enough that the CRC reads them from the cache. */
export const PRECHECK_CHUNK_BYTES = 4 * 1024 * 1024;
/** A helper with no progress for this long is given up on (P3). */
const STALL_MS = 5000;
/** How far past the worker's segment the helpers decode (P5). */
const DECODE_AHEAD_SEGMENTS = 2;

const BEATS = 0;
const ASKED = 1;
const STATES = 2;
const UNCLAIMED = 0;
const CLAIMED = 1;
const DONE = 2;
const TAKEN_BACK = 3;

const HELPER_URL = new URL('../../workers/precheck-helper.js', import.meta.url);

/**
 * Verifies the frames of one segment from its start, reading `chunkBytes` at a time (P1). Reads
 * only; throws only what the file system throws.
 */
export function precheckSegment(
  file: string,
  base: number,
  chunkBytes = PRECHECK_CHUNK_BYTES,
  onChunk: () => void = () => {},
  decode: SegmentToPrecheck['decode'] = null,
): SegmentPrecheck {
  const decoder = decode === null ? null : new FrameDecoder(decode.book);
  const fd = fs.openSync(file, 'r');
  try {
    const fileBytes = fs.fstatSync(fd).size;
    let buffer = Buffer.allocUnsafeSlow(Math.max(chunkBytes, FRAME_HEADER_BYTES));
    let offsets = new Float64Array(1024);
    let bufferStart = 0; // the file offset of buffer[0]
    let filled = 0;
    let offset = 0;
    let frames = 0;
    for (;;) {
      const local = offset - bufferStart;
      const checked = checkFrame(buffer, local, filled);
      if ((checked.kind === 'end' || checked.kind === 'torn') && bufferStart + filled < fileBytes) {
        // The frame runs past the bytes read so far: keep its start, read on.
        const needed = filled - local >= FRAME_HEADER_BYTES ? FRAME_HEADER_BYTES + buffer.readUInt32LE(local) : FRAME_HEADER_BYTES;
        if (needed > FRAME_HEADER_BYTES + FRAME_PAYLOAD_BYTES_MAX) break; // a length no frame has: the worker decides
        if (needed > buffer.length) {
          const grown = Buffer.allocUnsafeSlow(needed);
          buffer.copy(grown, 0, local, filled);
          buffer = grown;
        } else {
          buffer.copy(buffer, 0, local, filled);
        }
        filled -= local;
        bufferStart = offset;
        const read = readInto(fd, buffer, filled, bufferStart + filled);
        if (read === 0) break; // shorter than it was: the worker reads it and decides
        filled += read;
        onChunk();
        continue;
      }
      if (checked.kind !== 'sound') break;
      const payloadStart = local + FRAME_HEADER_BYTES;
      const payloadEnd = payloadStart + checked.payloadBytes;
      const seq = base + frames;
      if (peekSeq(buffer, payloadStart, payloadEnd) !== seq) break;
      if (decoder !== null && seq >= decode!.fromSeq) {
        const decoded = decodeCanonicalPayload(buffer, payloadStart, payloadEnd);
        if (decoded !== null) decoder.add(frames, decoded); // else the worker decodes it (D1)
      }
      if (frames === offsets.length) {
        const grown = new Float64Array(offsets.length * 2);
        grown.set(offsets);
        offsets = grown;
      }
      offsets[frames++] = offset;
      offset += FRAME_HEADER_BYTES + checked.payloadBytes;
    }
    return { frames, offsets: offsets.slice(0, frames), verifiedEnd: offset, fileBytes, decoded: decoder?.finish(frames) ?? null };
  } finally {
    fs.closeSync(fd);
  }
}

/** Fills `buffer` from `at` as far as the file has bytes; returns the count read. */
function readInto(fd: number, buffer: Buffer, at: number, position: number): number {
  let total = 0;
  while (at + total < buffer.length) {
    const read = fs.readSync(fd, buffer, at + total, buffer.length - at - total, position + total);
    if (read === 0) break;
    total += read;
  }
  return total;
}

/**
 * Starts up to `helpersMax` helper threads that precheck `segments` (in order, each taken by one
 * helper), or returns null when they hold fewer than `fromBytes` bytes in all.
 */
export function startPrechecks(segments: readonly SegmentToPrecheck[], helpersMax: number, fromBytes: number, chunkBytes: number): HelperPrechecks | null {
  let total = 0;
  for (const { file } of segments) total += fs.statSync(file, { throwIfNoEntry: false })?.size ?? 0;
  if (segments.length === 0 || total < fromBytes) return null;
  return new HelperPrechecks(segments, Math.min(helpersMax, os.availableParallelism(), segments.length), chunkBytes);
}

interface PrecheckMessage {
  index: number;
  result: SegmentPrecheck | null;
}

export class HelperPrechecks implements SegmentPrechecks {
  readonly #cells: Int32Array;
  readonly #indexOf = new Map<string, number>();
  readonly #ports: MessagePort[] = [];
  readonly #helpers: Worker[] = [];
  readonly #results = new Map<number, SegmentPrecheck | null>();

  readonly #segments: readonly SegmentToPrecheck[];

  constructor(segments: readonly SegmentToPrecheck[], helpers: number, chunkBytes: number) {
    this.#segments = segments;
    this.#cells = new Int32Array(new SharedArrayBuffer((STATES + segments.length) * 4));
    segments.forEach(({ file }, index) => this.#indexOf.set(file, index));
    for (let helper = 0; helper < helpers; helper++) {
      const { port1, port2 } = new MessageChannel();
      try {
        const worker = new Worker(HELPER_URL, { workerData: { cells: this.#cells, segments, chunkBytes, port: port2 }, transferList: [port2] });
        worker.unref();
        worker.on('error', () => {}); // its segments are taken back or given up on (P3)
        this.#helpers.push(worker);
        this.#ports.push(port1);
      } catch {
        port1.close(); // could not start: the others, or the worker, check its share
      }
    }
  }

  /**
   * Segments a helper is checking or may start now; not those P5 holds back until the worker
   * comes closer (for tests and diagnostics).
   */
  get unfinished(): number {
    const asked = Atomics.load(this.#cells, ASKED);
    let count = 0;
    for (let index = 0; index < this.#segments.length; index++) {
      const state = Atomics.load(this.#cells, STATES + index);
      const heldBack = this.#segments[index]!.decode !== null && index >= asked + DECODE_AHEAD_SEGMENTS;
      if (state === CLAIMED || (state === UNCLAIMED && !heldBack)) count++;
    }
    return count;
  }

  take(file: string): SegmentPrecheck | null {
    const index = this.#indexOf.get(file);
    if (index === undefined) return null;
    this.#indexOf.delete(file);
    if (index + 1 > Atomics.load(this.#cells, ASKED)) {
      Atomics.store(this.#cells, ASKED, index + 1); // P5: the helpers may decode further on
      Atomics.notify(this.#cells, ASKED);
    }
    const cell = STATES + index;
    if (Atomics.compareExchange(this.#cells, cell, UNCLAIMED, TAKEN_BACK) === UNCLAIMED) return null; // P3
    let beats = Atomics.load(this.#cells, BEATS);
    let progressAt = performance.now();
    while (Atomics.load(this.#cells, cell) !== DONE) {
      Atomics.wait(this.#cells, cell, CLAIMED, 100);
      const now = performance.now();
      const seen = Atomics.load(this.#cells, BEATS);
      if (seen !== beats) {
        beats = seen;
        progressAt = now;
      } else if (now - progressAt > STALL_MS) {
        return null; // P3: the helper shows no progress
      }
    }
    // DONE is stored after the result was posted, so the result is in one of the ports now.
    while (!this.#results.has(index)) {
      let received = false;
      for (const port of this.#ports) {
        for (let message = receiveMessageOnPort(port); message !== undefined; message = receiveMessageOnPort(port)) {
          const { index: done, result } = message.message as PrecheckMessage;
          this.#results.set(done, result);
          received = true;
        }
      }
      if (!received) return null; // cannot happen (see above); never wait for it
    }
    const result = this.#results.get(index)!;
    this.#results.delete(index);
    return result;
  }

  close(): void {
    for (const helper of this.#helpers.splice(0)) void helper.terminate();
    for (const port of this.#ports.splice(0)) port.close();
  }
}

/** A helper thread's loop (workers/precheck-helper.ts): claim the next unclaimed segment, check it, post the result. */
export function runPrecheckHelper(cells: Int32Array, segments: readonly SegmentToPrecheck[], chunkBytes: number, port: MessagePort): void {
  const beat = (): void => {
    Atomics.add(cells, BEATS, 1);
  };
  for (let index = 0; index < segments.length; index++) {
    const cell = STATES + index;
    const { file, base, decode } = segments[index]!;
    if (decode !== null) {
      // P5: wait until the worker is close enough (it takes back what it reaches first).
      for (let asked = Atomics.load(cells, ASKED); index >= asked + DECODE_AHEAD_SEGMENTS; asked = Atomics.load(cells, ASKED)) {
        if (Atomics.load(cells, cell) !== UNCLAIMED) break;
        Atomics.wait(cells, ASKED, asked, 100);
      }
    }
    if (Atomics.compareExchange(cells, cell, UNCLAIMED, CLAIMED) !== UNCLAIMED) continue;
    let result: SegmentPrecheck | null = null;
    try {
      result = precheckSegment(file, base, chunkBytes, beat, decode);
    } catch {
      result = null; // the worker reads it and meets the error itself (P1)
    }
    const transfer = result === null ? [] : [result.offsets.buffer as ArrayBuffer, ...(result.decoded === null ? [] : decodedBuffers(result.decoded))];
    port.postMessage({ index, result } satisfies PrecheckMessage, transfer);
    beat();
    Atomics.store(cells, cell, DONE);
    Atomics.notify(cells, cell);
  }
  port.close();
}

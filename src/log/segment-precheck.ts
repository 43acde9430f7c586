/**
 * Segment prechecks: the read pool's part of recovery (spec/log-engine.md, section 5.1 step 6).
 * While a shard worker loads a book's snapshot, helper threads read the book's segments and verify
 * their frames (length, CRC, seq), so that recovery adopts the frames the snapshot covers without
 * reading them itself; the frames after the snapshot they also decode (P5). Opening a book of
 * 1,000,000 transactions from a snapshot spent about half its time reading and CRC-checking
 * covered frames on the worker; a full replay, a third of its time reading and decoding.
 *
 * P1. An accelerator only. A precheck reports how far from its start one segment's (or part's)
 *     frames are sound and carry consecutive seqs; it stops at the first frame that is anything
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
 *     reading the JSON itself. Once some segment has decoded transactions, a helper claims such a
 *     segment only while it is fewer than DECODE_AHEAD_ITEMS places past the last one the worker
 *     asked for: decoded columns wait in memory until the worker applies them.
 * P6. A large segment the helpers decode from its first frame on is split into parts of
 *     PART_CHUNKS chunks, each taken by one helper, so the worker applies a segment's first part
 *     while helpers decode the next ones.
 *     A part after the first begins at the first frame that starts at or after its range's start,
 *     found by scanning for a sound frame with a seq, and ends where the next part begins. The
 *     worker uses a part only where it meets the frames before it exactly: it begins at the
 *     offset where those end, with the seq that follows theirs. A part that does not is walked.
 *
 * Shared cells (Int32): [0] progress beats (every chunk read, every item done), [1] how many of
 * the items (segments or parts) the worker has asked for (the index of the last one, plus one),
 * then one state per item: UNCLAIMED, CLAIMED (a helper checks it), DONE (its result is in the
 * helper's port), TAKEN_BACK (the worker walks it).
 */
import fs from 'node:fs';
import os from 'node:os';
import { MessageChannel, receiveMessageOnPort, Worker, type MessagePort } from 'node:worker_threads';
import { FRAME_PAYLOAD_BYTES_MAX } from '../core/limits.js';
import { decodeCanonicalPayload } from './canonical-payload.js';
import { checkFrame, FRAME_HEADER_BYTES, PAYLOAD_PREFIX, peekSeq } from './frame.js';
import { decodedBuffers, ENTRY_BYTES_GUESS, FrameDecoder, type DecodedFrames } from './replay-decode.js';

/** What a precheck verified of one segment or of one part of it (P1, P6). */
export interface SegmentPrecheck {
  /** The seq of the first verified frame: the segment's base for a first part. */
  firstSeq: number;
  /** The offset of the first verified frame (where the part found none: where it stopped). */
  firstOffset: number;
  /** Frames verified from the first: sound, with seqs firstSeq, firstSeq + 1, … */
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

/** Where recovery asks for the precheck of a segment or part: null when the worker must walk it itself. */
export interface SegmentPrechecks {
  /** The ranges of a segment's parts, in order (P6); one, the whole file, for most. */
  partsOf(file: string): readonly PartRange[];
  take(file: string, part?: number): SegmentPrecheck | null;
  /** Hands a taken precheck's arrays back to the helper that filled them (D3); the caller no longer reads them. */
  recycle(precheck: SegmentPrecheck): void;
  close(): void;
}

/** The arrays of a precheck the worker is done with, sent back to be filled again (D3). */
interface Recycled {
  offsets: Float64Array;
  decoded: DecodedFrames | null;
}

/** Below this many bytes in all, starting helper threads costs more than it saves. */
export const PRECHECK_FROM_BYTES = 32 * 1024 * 1024;
/** Bytes a helper reads at a time: small enough that the CRC reads them from the cache. */
export const PRECHECK_CHUNK_BYTES = 4 * 1024 * 1024;
/** A helper with no progress for this long is given up on (P3). */
const STALL_MS = 5000;
/** How many segments or parts past the worker's the helpers decode (P5). */
const DECODE_AHEAD_ITEMS = 8;
/** A part is this many chunks (P6). */
const PART_CHUNKS = 4;

const BEATS = 0;
const ASKED = 1;
const DECODING = 2;
const STATES = 3;
const UNCLAIMED = 0;
const CLAIMED = 1;
const DONE = 2;
const TAKEN_BACK = 3;

const HELPER_URL = new URL('../../workers/precheck-helper.js', import.meta.url);

/** Where a precheck starts and stops in its segment (P6): a part, or the whole file. */
export interface PartRange {
  /** The part's frames are the first frame that starts at or after this offset, and those after it. */
  startBytes: number;
  /** ... up to the first frame that starts at or after this offset, which the next part holds. */
  endBytes: number;
}

const WHOLE_FILE: PartRange = { startBytes: 0, endBytes: Number.POSITIVE_INFINITY };

/**
 * The read buffer of this thread's last precheck, for the next: a helper checks many segments and
 * parts one after another, and a fresh buffer of several MiB for each is memory the C allocator
 * keeps after it is freed (measured: the resident memory of a full replay grew by a third).
 */
let spareBuffer: Buffer | null = null;

/**
 * Verifies the frames of one segment, or of one part of it, reading `chunkBytes` at a time (P1,
 * P6). Reads only; throws only what the file system throws.
 */
export function precheckSegment(
  file: string,
  base: number,
  chunkBytes = PRECHECK_CHUNK_BYTES,
  onChunk: () => void = () => {},
  decode: SegmentToPrecheck['decode'] = null,
  range: PartRange = WHOLE_FILE,
  reuse: Recycled | null = null,
): SegmentPrecheck {
  const fd = fs.openSync(file, 'r');
  try {
    const fileBytes = fs.fstatSync(fd).size;
    const rangeBytes = Math.max(0, Math.min(range.endBytes, fileBytes) - range.startBytes);
    let decoder: FrameDecoder | null = null; // made at the first frame to decode: many segments have none
    const bufferBytes = Math.max(chunkBytes, FRAME_HEADER_BYTES + PAYLOAD_PREFIX.length);
    let buffer = spareBuffer !== null && spareBuffer.length >= bufferBytes ? spareBuffer : Buffer.allocUnsafeSlow(bufferBytes);
    spareBuffer = null;
    let offsets = reuse === null ? new Float64Array(Math.max(1024, Math.ceil(rangeBytes / ENTRY_BYTES_GUESS))) : new Float64Array(reuse.offsets.buffer);
    let bufferStart = range.startBytes; // the file offset of buffer[0]
    let filled = 0;
    let offset = range.startBytes;
    // A part after the first finds its first frame by its seq prefix and CRC (P6); a false match
    // fails the worker's check where the parts meet.
    let firstSeq: number | null = range.startBytes === 0 ? base : null;
    let frames = 0;
    for (;;) {
      const local = offset - bufferStart;
      const scanning = firstSeq === null;
      const checked = scanning && !mayStartFrame(buffer, local, filled) ? NO_FRAME : checkFrame(buffer, local, filled);
      const short = checked.kind === 'end' || checked.kind === 'torn' || (scanning && filled - local < FRAME_HEADER_BYTES + PAYLOAD_PREFIX.length);
      if (short && bufferStart + filled < fileBytes) {
        // The frame runs past the bytes read so far: keep its start, read on.
        const needed = filled - local >= FRAME_HEADER_BYTES ? FRAME_HEADER_BYTES + buffer.readUInt32LE(local) : FRAME_HEADER_BYTES;
        if (needed > FRAME_HEADER_BYTES + FRAME_PAYLOAD_BYTES_MAX && !scanning) break; // a length no frame has: the worker decides
        const keep = Math.min(Math.max(needed, FRAME_HEADER_BYTES + PAYLOAD_PREFIX.length), FRAME_HEADER_BYTES + FRAME_PAYLOAD_BYTES_MAX);
        if (keep > buffer.length) {
          const grown = Buffer.allocUnsafeSlow(keep);
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
      const payloadStart = local + FRAME_HEADER_BYTES;
      const payloadEnd = checked.kind === 'sound' ? payloadStart + checked.payloadBytes : payloadStart;
      const peeked = checked.kind === 'sound' ? peekSeq(buffer, payloadStart, payloadEnd) : null;
      if (scanning) {
        if (peeked === null) {
          if (offset - range.startBytes >= FRAME_HEADER_BYTES + FRAME_PAYLOAD_BYTES_MAX || offset + 1 >= fileBytes) break;
          offset++;
          continue;
        }
        firstSeq = peeked;
      }
      if (checked.kind !== 'sound' || offset >= range.endBytes) break;
      const seq = firstSeq! + frames;
      if (peeked !== seq) break;
      if (decode !== null && seq >= decode.fromSeq) {
        const decoded = decodeCanonicalPayload(buffer, payloadStart, payloadEnd);
        decoder ??= new FrameDecoder(decode.book, reuse?.decoded ?? null, rangeBytes);
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
    spareBuffer = buffer; // nothing returned keeps a view of it (decoded strings are copies)
    return {
      firstSeq: firstSeq ?? base,
      firstOffset: frames === 0 ? offset : offsets[0]!,
      frames,
      offsets: offsets.subarray(0, frames),
      verifiedEnd: offset,
      fileBytes,
      decoded: decoder?.finish(frames) ?? null,
    };
  } finally {
    fs.closeSync(fd);
  }
}

const NO_FRAME = { kind: 'corrupt', reason: 'no payload prefix' } as const;

/** Whether a frame may start at `at`: a length in range and a payload that starts `{"seq":` (false when not all read yet). */
function mayStartFrame(buffer: Buffer, at: number, filled: number): boolean {
  const payloadAt = at + FRAME_HEADER_BYTES;
  if (payloadAt + PAYLOAD_PREFIX.length > filled) return false;
  const length = buffer.readUInt32LE(at);
  if (length === 0 || length > FRAME_PAYLOAD_BYTES_MAX) return false;
  for (let index = 0; index < PAYLOAD_PREFIX.length; index++) if (buffer[payloadAt + index] !== PAYLOAD_PREFIX[index]) return false;
  return true;
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

/** One helper's unit of work: a segment, or one part of it (P6). */
export interface PrecheckItem extends SegmentToPrecheck {
  range: PartRange;
}

/**
 * The parts of a segment of `fileBytes` (P6): parts of `partBytes` for a segment the helpers decode
 * from its first frame on that holds more than two of them, else the whole file.
 */
export function partsOf(segment: SegmentToPrecheck, fileBytes: number, partBytes: number): PartRange[] {
  // The segment of the snapshot's own frame is mostly verified, not decoded: one helper takes it.
  if (segment.decode === null || segment.base < segment.decode.fromSeq || fileBytes <= 2 * partBytes) return [WHOLE_FILE];
  const parts: PartRange[] = [];
  for (let startBytes = 0; startBytes < fileBytes; startBytes += partBytes) {
    parts.push({ startBytes, endBytes: startBytes + partBytes >= fileBytes ? Number.POSITIVE_INFINITY : startBytes + partBytes });
  }
  return parts;
}

/**
 * Starts up to `helpersMax` helper threads that precheck `segments` (in order, each segment or
 * part taken by one helper), or returns null when they hold fewer than `fromBytes` bytes in all.
 */
export function startPrechecks(segments: readonly SegmentToPrecheck[], helpersMax: number, fromBytes: number, chunkBytes: number): HelperPrechecks | null {
  let total = 0;
  const items: PrecheckItem[] = [];
  for (const segment of segments) {
    const fileBytes = fs.statSync(segment.file, { throwIfNoEntry: false })?.size ?? 0;
    total += fileBytes;
    for (const range of partsOf(segment, fileBytes, chunkBytes * PART_CHUNKS)) items.push({ ...segment, range });
  }
  if (segments.length === 0 || total < fromBytes) return null;
  return new HelperPrechecks(items, Math.min(helpersMax, os.availableParallelism(), items.length), chunkBytes);
}

interface PrecheckMessage {
  index: number;
  result: SegmentPrecheck | null;
}

export class HelperPrechecks implements SegmentPrechecks {
  readonly #cells: Int32Array;
  readonly #items: readonly PrecheckItem[];
  /** A segment's first item and its parts' ranges. */
  readonly #segmentOf = new Map<string, { first: number; parts: PartRange[] }>();
  readonly #taken: Uint8Array;
  readonly #ports: MessagePort[] = [];
  readonly #helpers: Worker[] = [];
  readonly #results = new Map<number, SegmentPrecheck | null>();
  /** The port each taken result came from, for `recycle`. */
  readonly #portOf = new WeakMap<SegmentPrecheck, MessagePort>();

  constructor(items: readonly PrecheckItem[], helpers: number, chunkBytes: number) {
    this.#items = items;
    this.#cells = new Int32Array(new SharedArrayBuffer((STATES + items.length) * 4));
    this.#taken = new Uint8Array(items.length);
    items.forEach(({ file, range }, index) => {
      const segment = this.#segmentOf.get(file);
      if (segment === undefined) this.#segmentOf.set(file, { first: index, parts: [range] });
      else segment.parts.push(range);
    });
    for (let helper = 0; helper < helpers; helper++) {
      const { port1, port2 } = new MessageChannel();
      try {
        const worker = new Worker(HELPER_URL, { workerData: { cells: this.#cells, items, chunkBytes, port: port2 }, transferList: [port2] });
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
   * Segments or parts a helper is checking or may start now; not those P5 holds back until the
   * worker comes closer (for tests and diagnostics).
   */
  get unfinished(): number {
    const asked = Atomics.load(this.#cells, ASKED);
    let count = 0;
    for (let index = 0; index < this.#items.length; index++) {
      const state = Atomics.load(this.#cells, STATES + index);
      if (state === CLAIMED || (state === UNCLAIMED && !heldBack(this.#cells, this.#items[index]!, index, asked))) count++;
    }
    return count;
  }

  partsOf(file: string): readonly PartRange[] {
    return this.#segmentOf.get(file)?.parts ?? [WHOLE_FILE];
  }

  take(file: string, part = 0): SegmentPrecheck | null {
    const segment = this.#segmentOf.get(file);
    if (segment === undefined || part >= segment.parts.length) return null;
    const index = segment.first + part;
    if (this.#taken[index] !== 0) return null; // each result is taken once
    this.#taken[index] = 1;
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
          if (result !== null) this.#portOf.set(result, port);
          received = true;
        }
      }
      if (!received) return null; // cannot happen (see above); never wait for it
    }
    const result = this.#results.get(index)!;
    this.#results.delete(index);
    return result;
  }

  recycle(precheck: SegmentPrecheck): void {
    const port = this.#portOf.get(precheck);
    if (port === undefined) return;
    this.#portOf.delete(precheck);
    const recycled: Recycled = { offsets: precheck.offsets, decoded: precheck.decoded };
    port.postMessage(recycled, transferOf(recycled));
  }

  close(): void {
    for (const helper of this.#helpers.splice(0)) void helper.terminate();
    for (const port of this.#ports.splice(0)) port.close();
  }
}

/** The buffers of a precheck's arrays, to transfer with it. */
function transferOf(precheck: Pick<SegmentPrecheck, 'offsets' | 'decoded'>): ArrayBuffer[] {
  return [precheck.offsets.buffer as ArrayBuffer, ...(precheck.decoded === null ? [] : decodedBuffers(precheck.decoded))];
}

/**
 * Whether P5 keeps helpers from item `index` until the worker has asked for more than `asked`
 * items: only once some item has decoded transactions. Until then there are no columns to hold in
 * memory, and the helpers verify everything while the worker loads its snapshot (the newest
 * snapshot of a book often covers its last segment, which is then decoded to no effect).
 */
function heldBack(cells: Int32Array, item: PrecheckItem, index: number, asked: number): boolean {
  return item.decode !== null && index >= asked + DECODE_AHEAD_ITEMS && Atomics.load(cells, DECODING) !== 0;
}

/** A helper thread's loop (workers/precheck-helper.ts): claim the next unclaimed item, check it, post the result. */
export function runPrecheckHelper(cells: Int32Array, items: readonly PrecheckItem[], chunkBytes: number, port: MessagePort): void {
  const beat = (): void => {
    Atomics.add(cells, BEATS, 1);
  };
  const spares: Recycled[] = []; // arrays the worker sent back (D3)
  for (let index = 0; index < items.length; index++) {
    const cell = STATES + index;
    const item = items[index]!;
    // P5: wait until the worker is close enough (it takes back what it reaches first).
    for (let asked = Atomics.load(cells, ASKED); heldBack(cells, item, index, asked); asked = Atomics.load(cells, ASKED)) {
      if (Atomics.load(cells, cell) !== UNCLAIMED) break;
      Atomics.wait(cells, ASKED, asked, 100);
    }
    if (Atomics.compareExchange(cells, cell, UNCLAIMED, CLAIMED) !== UNCLAIMED) continue;
    for (let message = receiveMessageOnPort(port); message !== undefined; message = receiveMessageOnPort(port)) spares.push(message.message as Recycled);
    let result: SegmentPrecheck | null = null;
    try {
      result = precheckSegment(item.file, item.base, chunkBytes, beat, item.decode, item.range, spares.pop() ?? null);
    } catch {
      result = null; // the worker reads it and meets the error itself (P1)
    }
    if ((result?.decoded?.atUs.length ?? 0) > 0) Atomics.store(cells, DECODING, 1); // some transaction decoded
    port.postMessage({ index, result } satisfies PrecheckMessage, result === null ? [] : transferOf(result));
    beat();
    Atomics.store(cells, cell, DONE);
    Atomics.notify(cells, cell);
  }
  port.close();
}

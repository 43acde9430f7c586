/**
 * Replay decoding on the precheck helpers (issue 14; src/log/segment-precheck.ts). A full replay
 * kept one core busy reading, CRC-checking and decoding every frame while the other core idled;
 * now the helpers that verify a segment's frames also decode its transactions into columns, and
 * the shard worker applies those columns without reading the JSON again.
 *
 * D1. An accelerator only, like the precheck itself (P1 there). A helper decodes a frame only when
 *     the canonical reader accepts it (canonical-payload C1), it is a transaction of the segment's
 *     own book, and every posting names that book. Every other frame has no entry: the worker
 *     decodes it itself, so every row, error and warning of recovery stays the worker's.
 * D2. An entry holds what BookState needs to check and apply a transaction (B5, B1): the commit
 *     time, the txid as 16 bytes, the idempotency key and the postings. Account paths and assets
 *     repeat from frame to frame, so they are sent once per segment and the postings refer to them.
 * D3. Columns are memory: the helpers decode at most DECODE_AHEAD_ITEMS parts beyond the one the
 *     worker is applying (segment-precheck P5), and the worker sends a part's columns back to its
 *     helper once applied, to be filled again.
 */
import type { DecodedPayload } from '../core/event-codec.js';
import { writeTxid } from './posting-index.js';

const TXID_BYTES = 16;
/** Bytes of segment per transaction frame, a low guess (a two-posting transaction frame is about 600). */
export const ENTRY_BYTES_GUESS = 256;
const DIRECTION_DEBIT = 0;
const DIRECTION_CREDIT = 1;

/** The transactions a helper decoded in one segment (D2). */
export interface DecodedFrames {
  /** For each verified frame of the segment, its entry, or -1 when the worker decodes it (D1). */
  entryOf: Int32Array;
  atUs: Float64Array;
  txids: Uint8Array;
  /** The idempotency keys as UTF-8, entry e's at [keyEnds[e - 1] (0 for the first), keyEnds[e]). */
  keyBytes: Uint8Array;
  keyEnds: Uint32Array;
  /** Entry e's postings are [postingEnds[e - 1] (0 for the first), postingEnds[e]). */
  postingEnds: Uint32Array;
  /** Per posting: the account path and the asset, as positions in `strings`. */
  paths: Uint32Array;
  assets: Uint32Array;
  minors: BigInt64Array;
  directions: Uint8Array;
  strings: string[];
}

/** Collects the entries of one segment on a helper thread. */
export class FrameDecoder {
  #entryOf: Int32Array;
  #atUs: Float64Array;
  #txids: Uint8Array;
  #keyBytes: Buffer;
  #keyEnds: Uint32Array;
  #keyBytesUsed = 0;
  #postingEnds: Uint32Array;
  #paths: Uint32Array;
  #assets: Uint32Array;
  #minors: BigInt64Array;
  #directions: Uint8Array;
  #entries = 0;
  #postings = 0;
  readonly #stringRefs = new Map<string, number>();
  readonly #strings: string[] = [];

  /**
   * Fills the columns of `reuse`, whole (the worker sends them back once it has applied them, D3),
   * or new ones. Columns allocated and freed for every part are memory the C allocator keeps once
   * freed: a full replay's resident memory grew by a third with them.
   */
  constructor(
    readonly book: string,
    reuse: DecodedFrames | null = null,
    segmentBytes = 0,
  ) {
    // New columns are sized for the segment or part at once (about what its frames can hold), so
    // they rarely grow: each one given up for a bigger one is another such freed block.
    const entries = Math.max(1024, Math.ceil(segmentBytes / ENTRY_BYTES_GUESS));
    const postings = 2 * entries;
    this.#entryOf = reuse === null ? new Int32Array(entries) : new Int32Array(reuse.entryOf.buffer);
    this.#entryOf.fill(-1);
    this.#atUs = reuse === null ? new Float64Array(entries) : new Float64Array(reuse.atUs.buffer);
    this.#txids = reuse === null ? new Uint8Array(entries * TXID_BYTES) : new Uint8Array(reuse.txids.buffer);
    this.#postingEnds = reuse === null ? new Uint32Array(entries) : new Uint32Array(reuse.postingEnds.buffer);
    this.#keyBytes = reuse === null ? Buffer.alloc(32 * entries) : Buffer.from(reuse.keyBytes.buffer);
    this.#keyEnds = reuse === null ? new Uint32Array(entries) : new Uint32Array(reuse.keyEnds.buffer);
    this.#paths = reuse === null ? new Uint32Array(postings) : new Uint32Array(reuse.paths.buffer);
    this.#assets = reuse === null ? new Uint32Array(postings) : new Uint32Array(reuse.assets.buffer);
    this.#minors = reuse === null ? new BigInt64Array(postings) : new BigInt64Array(reuse.minors.buffer);
    this.#directions = reuse === null ? new Uint8Array(postings) : new Uint8Array(reuse.directions.buffer);
  }

  /** Adds frame `frameIndex` when D1 allows; false when the worker must decode it. */
  add(frameIndex: number, decoded: DecodedPayload): boolean {
    const event = decoded.event.event;
    if (event.kind !== 'transaction_posted' || event.book !== this.book) return false;
    for (const posting of event.postings) if (posting.account.book !== this.book) return false;
    const entry = this.#entries;
    if (entry === this.#atUs.length) this.#growEntries();
    while (frameIndex >= this.#entryOf.length) this.#entryOf = grown(this.#entryOf, this.#entryOf.length * 2, -1);
    this.#entryOf[frameIndex] = entry;
    this.#atUs[entry] = decoded.atUs;
    writeTxid(this.#txids, entry * TXID_BYTES, event.id);
    const key = event.idempotency_key;
    if (this.#keyBytesUsed + 3 * key.length > this.#keyBytes.length) {
      const bigger = Buffer.alloc(Math.max(2 * this.#keyBytes.length, this.#keyBytesUsed + 3 * key.length));
      this.#keyBytes.copy(bigger, 0, 0, this.#keyBytesUsed);
      this.#keyBytes = bigger;
    }
    this.#keyBytesUsed += this.#keyBytes.write(key, this.#keyBytesUsed, 'utf8');
    this.#keyEnds[entry] = this.#keyBytesUsed;
    const needed = this.#postings + event.postings.length;
    if (needed > this.#paths.length) this.#growPostings(needed);
    for (const posting of event.postings) {
      const at = this.#postings++;
      this.#paths[at] = this.#ref(posting.account.path);
      this.#assets[at] = this.#ref(posting.amount.asset);
      this.#minors[at] = posting.amount.minor;
      this.#directions[at] = posting.direction === 'debit' ? DIRECTION_DEBIT : DIRECTION_CREDIT;
    }
    this.#postingEnds[entry] = this.#postings;
    this.#entries = entry + 1;
    return true;
  }

  /** The columns for the segment's first `frames` verified frames; their buffers may be transferred. */
  finish(frames: number): DecodedFrames {
    const entries = this.#entries;
    const postings = this.#postings;
    while (frames > this.#entryOf.length) this.#entryOf = grown(this.#entryOf, this.#entryOf.length * 2, -1);
    // Views, not copies: every copy of a column is more memory the C allocator keeps once freed.
    return {
      entryOf: this.#entryOf.subarray(0, frames),
      atUs: this.#atUs.subarray(0, entries),
      txids: this.#txids.subarray(0, entries * TXID_BYTES),
      keyBytes: new Uint8Array(this.#keyBytes.buffer, this.#keyBytes.byteOffset, this.#keyBytesUsed),
      keyEnds: this.#keyEnds.subarray(0, entries),
      postingEnds: this.#postingEnds.subarray(0, entries),
      paths: this.#paths.subarray(0, postings),
      assets: this.#assets.subarray(0, postings),
      minors: this.#minors.subarray(0, postings),
      directions: this.#directions.subarray(0, postings),
      strings: this.#strings,
    };
  }

  #ref(text: string): number {
    let ref = this.#stringRefs.get(text);
    if (ref === undefined) {
      ref = this.#strings.length;
      this.#strings.push(text);
      this.#stringRefs.set(text, ref);
    }
    return ref;
  }

  #growEntries(): void {
    const length = this.#atUs.length * 2;
    this.#atUs = grown(this.#atUs, length);
    this.#txids = grown(this.#txids, length * TXID_BYTES);
    this.#postingEnds = grown(this.#postingEnds, length);
    this.#keyEnds = grown(this.#keyEnds, length);
  }

  #growPostings(needed: number): void {
    let length = this.#paths.length * 2;
    while (length < needed) length *= 2;
    this.#paths = grown(this.#paths, length);
    this.#assets = grown(this.#assets, length);
    this.#minors = grown(this.#minors, length);
    this.#directions = grown(this.#directions, length);
  }
}

function grown<T extends Int32Array | Uint32Array | Uint8Array | Float64Array | BigInt64Array>(column: T, length: number, fill?: number): T {
  const bigger = new (column.constructor as new (length: number) => T)(length);
  if (fill !== undefined) (bigger as Int32Array).fill(fill, column.length);
  bigger.set(column as never);
  return bigger;
}

/** The buffers of `decoded`, to transfer with it. */
export function decodedBuffers(decoded: DecodedFrames): ArrayBuffer[] {
  const { entryOf, atUs, txids, keyBytes, keyEnds, postingEnds, paths, assets, minors, directions } = decoded;
  return [entryOf, atUs, txids, keyBytes, keyEnds, postingEnds, paths, assets, minors, directions].map((column) => column.buffer as ArrayBuffer);
}

/** The idempotency key of entry `entry`. */
export function keyOf(decoded: DecodedFrames, entry: number): string {
  const start = entry === 0 ? 0 : decoded.keyEnds[entry - 1]!;
  return Buffer.from(decoded.keyBytes.buffer, decoded.keyBytes.byteOffset, decoded.keyBytes.length).toString('utf8', start, decoded.keyEnds[entry]);
}

/** Whether a posting column holds a debit. */
export function isDebit(decoded: DecodedFrames, posting: number): boolean {
  return decoded.directions[posting] === DIRECTION_DEBIT;
}

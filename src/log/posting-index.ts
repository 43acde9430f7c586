/**
 * The posting index of one account: one entry per posting, in append order, which is also
 * non-decreasing (seq, at) order (spec/log-engine.md, section 7.1).
 *
 * Entries are stored as columns of typed arrays that grow by doubling, about 50 bytes per
 * posting, instead of one object per posting (which costs several times more in V8): a large
 * book keeps every posting resident.
 *
 * P1. seq and atUs never decrease from one entry to the next.
 * P2. rawAfter is the account's raw balance after the entry's transaction (its postings share one
 *     seq and at, so no read falls between them, and a running sum between them may leave i64).
 * P3. An index with no entries allocates nothing: its columns are shared empty arrays of length 0,
 *     never written, until the first append. A book may hold millions of accounts that never had
 *     a posting (a wallet per customer), and six typed arrays cost about 1.5 KB.
 */
import assert from 'node:assert/strict';
import { formatAtUs } from '../core/time.js';
import type { AccountId, Direction, PostingRecord } from '../core/types.js';

const TXID_BYTES = 16;
/** Entries of the first allocation; until then an index holds the shared empty columns (P3). */
const INITIAL_CAPACITY = 4;
const EMPTY_FLOAT64 = new Float64Array(0);
const EMPTY_BIGINT64 = new BigInt64Array(0);
const EMPTY_BYTES = new Uint8Array(0);
const DIRECTION_DEBIT = 0;
const DIRECTION_CREDIT = 1;

export interface PostingEntry {
  seq: number;
  atUs: number;
  txid: string;
  minor: bigint;
  direction: Direction;
  rawAfter: bigint;
}

export interface PostingColumns {
  seqs: Buffer;
  atUs: Buffer;
  txids: Buffer;
  minors: Buffer;
  directions: Buffer;
  rawAfters: Buffer;
}

/** History entries as columns (see PostingIndex#historyPage and postingRecordsOf). */
export interface HistoryColumns {
  seqs: Float64Array;
  atUs: Float64Array;
  txids: Uint8Array;
  minors: BigInt64Array;
  directions: Uint8Array;
}

/** The PostingRecords of a history page, for one account holding `asset`. */
export function postingRecordsOf(page: HistoryColumns, account: AccountId, asset: string): PostingRecord[] {
  const count = page.seqs.length;
  const records: PostingRecord[] = new Array(count);
  let formattedAtUs = Number.NaN;
  let at = '';
  for (let index = 0; index < count; index++) {
    const atUs = page.atUs[index]!;
    if (atUs !== formattedAtUs) {
      formattedAtUs = atUs; // the postings of one batch share their commit time
      at = formatAtUs(atUs);
    }
    records[index] = {
      seq: page.seqs[index]!,
      txid: readTxid(page.txids, index * TXID_BYTES),
      account: { book: account.book, path: account.path },
      amount: { minor: page.minors[index]!, asset },
      direction: page.directions[index] === DIRECTION_DEBIT ? 'debit' : 'credit',
      at,
    };
  }
  return records;
}

export class PostingIndex {
  length = 0;
  #seqs = EMPTY_FLOAT64;
  #atUs = EMPTY_FLOAT64;
  #minors = EMPTY_BIGINT64;
  #rawAfters = EMPTY_BIGINT64;
  #directions = EMPTY_BYTES;
  #txids = EMPTY_BYTES;

  push(entry: PostingEntry): void {
    const txid = new Uint8Array(TXID_BYTES);
    writeTxid(txid, 0, entry.txid);
    this.append(entry.seq, entry.atUs, txid, entry.minor, entry.direction, entry.rawAfter);
  }

  /** Appends one posting (the writer's path); `txid` holds the transaction's 16 txid bytes at offset 0. */
  append(seq: number, atUs: number, txid: Uint8Array, minor: bigint, direction: Direction, rawAfter: bigint): void {
    const index = this.length;
    if (index > 0) {
      assert(seq >= this.#seqs[index - 1]! && atUs >= this.#atUs[index - 1]!); // P1
    }
    if (index === this.#seqs.length) this.#grow();
    this.#seqs[index] = seq;
    this.#atUs[index] = atUs;
    this.#minors[index] = minor;
    this.#rawAfters[index] = rawAfter;
    this.#directions[index] = direction === 'debit' ? DIRECTION_DEBIT : DIRECTION_CREDIT;
    const txids = this.#txids;
    const start = index * TXID_BYTES;
    for (let byte = 0; byte < TXID_BYTES; byte++) txids[start + byte] = txid[byte]!;
    this.length = index + 1;
  }

  /** Makes room for `count` more entries at once (a snapshot load knows each account's count). */
  reserve(count: number): void {
    if (this.length + count > this.#seqs.length) this.#grow(this.length + count);
  }

  #grow(atLeast = 0): void {
    const capacity = Math.max(this.#seqs.length * 2, atLeast, INITIAL_CAPACITY);
    this.#seqs = grown(this.#seqs, new Float64Array(capacity));
    this.#atUs = grown(this.#atUs, new Float64Array(capacity));
    this.#minors = grown(this.#minors, new BigInt64Array(capacity));
    this.#rawAfters = grown(this.#rawAfters, new BigInt64Array(capacity));
    this.#directions = grown(this.#directions, new Uint8Array(capacity));
    this.#txids = grown(this.#txids, new Uint8Array(capacity * TXID_BYTES));
  }

  seqAt(index: number): number {
    return this.#seqs[index]!;
  }

  atUsAt(index: number): number {
    return this.#atUs[index]!;
  }

  rawAfterAt(index: number): bigint {
    return this.#rawAfters[index]!;
  }

  get(index: number): PostingEntry {
    assert(index >= 0 && index < this.length);
    return {
      seq: this.#seqs[index]!,
      atUs: this.#atUs[index]!,
      txid: readTxid(this.#txids, index * TXID_BYTES),
      minor: this.#minors[index]!,
      direction: this.#directions[index] === DIRECTION_DEBIT ? 'debit' : 'credit',
      rawAfter: this.#rawAfters[index]!,
    };
  }

  /**
   * Entries [start, end) as little-endian column bytes, for snapshots: seqs and atUs as f64,
   * txids as 16 bytes each, minors and rawAfters as i64, directions as u8 (0 debit, 1 credit).
   */
  exportColumns(start: number, end: number): PostingColumns {
    assert(start >= 0 && start <= end && end <= this.length);
    const bytesOf = (array: Float64Array | BigInt64Array | Uint8Array, width: number): Buffer =>
      Buffer.from(array.buffer, array.byteOffset + start * width, (end - start) * width);
    return {
      seqs: Buffer.from(bytesOf(this.#seqs, 8)),
      atUs: Buffer.from(bytesOf(this.#atUs, 8)),
      txids: Buffer.from(bytesOf(this.#txids, TXID_BYTES)),
      minors: Buffer.from(bytesOf(this.#minors, 8)),
      directions: Buffer.from(bytesOf(this.#directions, 1)),
      rawAfters: Buffer.from(bytesOf(this.#rawAfters, 8)),
    };
  }

  /**
   * Appends entries from column bytes (the inverse of exportColumns). Returns false when the
   * columns are inconsistent or break P1 (a snapshot is input, not our state); the index then
   * holds the same entries as before (bytes past `length` may have changed, and room may have
   * grown). Each column is copied once, from the file's bytes into the index's own arrays, and
   * checked there: no temporary arrays.
   */
  importColumns(columns: PostingColumns): boolean {
    const count = columns.seqs.length / 8;
    if (!Number.isInteger(count)) return false;
    if (columns.atUs.length !== count * 8 || columns.txids.length !== count * TXID_BYTES) return false;
    if (columns.minors.length !== count * 8 || columns.rawAfters.length !== count * 8 || columns.directions.length !== count) return false;
    if (count === 0) return true;
    if (this.#seqs.length < this.length + count) this.#grow(this.length + count);
    const at = this.length;
    copyBytesInto(this.#seqs, at, 8, columns.seqs);
    copyBytesInto(this.#atUs, at, 8, columns.atUs);
    copyBytesInto(this.#minors, at, 8, columns.minors);
    copyBytesInto(this.#rawAfters, at, 8, columns.rawAfters);
    this.#directions.set(columns.directions, at);
    this.#txids.set(columns.txids, at * TXID_BYTES);
    const seqs = this.#seqs;
    const atUs = this.#atUs;
    const directions = this.#directions;
    let previousSeq = at > 0 ? seqs[at - 1]! : 0;
    let previousAtUs = at > 0 ? atUs[at - 1]! : Number.NEGATIVE_INFINITY;
    for (let index = at; index < at + count; index++) {
      const seq = seqs[index]!;
      const atUsValue = atUs[index]!;
      if (!Number.isSafeInteger(seq) || seq < 1 || seq < previousSeq) return false;
      if (!Number.isSafeInteger(atUsValue) || atUsValue < previousAtUs) return false;
      if (directions[index]! > DIRECTION_CREDIT) return false;
      previousSeq = seq;
      previousAtUs = atUsValue;
    }
    this.length = at + count;
    return true;
  }

  /**
   * A page of history: the entries after `afterSeq` that belong to the first `limit` distinct
   * seqs, as columns with their own buffers (cheap to send across a worker port).
   */
  historyPage(afterSeq: number, limit: number): HistoryColumns {
    const start = this.firstAfterSeq(afterSeq);
    let end = start;
    let seqCount = 0;
    let lastSeq = -1;
    for (; end < this.length; end++) {
      const seq = this.#seqs[end]!;
      if (seq !== lastSeq) {
        if (seqCount === limit) break;
        seqCount++;
        lastSeq = seq;
      }
    }
    return {
      seqs: this.#seqs.slice(start, end),
      atUs: this.#atUs.slice(start, end),
      txids: this.#txids.slice(start * TXID_BYTES, end * TXID_BYTES),
      minors: this.#minors.slice(start, end),
      directions: this.#directions.slice(start, end),
    };
  }

  /** The first index whose seq is greater than `seq` (length if none). */
  firstAfterSeq(seq: number): number {
    return upperBound(this.#seqs, this.length, seq);
  }

  /** The first index whose atUs is greater than `atUs` (length if none). */
  firstAfterAtUs(atUs: number): number {
    return upperBound(this.#atUs, this.length, atUs);
  }
}

function grown<T extends Float64Array | BigInt64Array | Uint8Array>(source: T, target: T): T {
  target.set(source as never);
  return target;
}

/** Copies little-endian column bytes into `target` from entry `at` on (`width` bytes per entry). */
function copyBytesInto(target: Float64Array | BigInt64Array, at: number, width: number, source: Uint8Array): void {
  assert(at * width + source.length <= target.byteLength);
  new Uint8Array(target.buffer, target.byteOffset + at * width, source.length).set(source);
}

function upperBound(values: Float64Array, length: number, key: number): number {
  let low = 0;
  let high = length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if (values[middle]! <= key) low = middle + 1;
    else high = middle;
  }
  return low;
}

/** Hex digit values by char code; -1 for anything else. */
const HEX_VALUES = new Int8Array(128).fill(-1);
for (let digit = 0; digit < 16; digit++) HEX_VALUES['0123456789abcdef'.charCodeAt(digit)] = digit;

/** Writes a canonical lowercase UUID as 16 bytes. */
export function writeTxid(target: Uint8Array, offset: number, txid: string): void {
  assert.equal(txid.length, 36); // txids are validated and lowercased at input
  let byteIndex = offset;
  let invalid = 0;
  for (let index = 0; index < 36; index += 2) {
    if (index === 8 || index === 13 || index === 18 || index === 23) index++; // the hyphens
    const high = HEX_VALUES[txid.charCodeAt(index)] ?? -1;
    const low = HEX_VALUES[txid.charCodeAt(index + 1)] ?? -1;
    invalid |= high | low; // negative once any digit is not lowercase hex
    target[byteIndex++] = (high << 4) | low;
  }
  assert(invalid >= 0, `not a canonical txid: ${txid}`);
}

/** Reads 16 bytes back as a canonical lowercase UUID. */
export function readTxid(source: Uint8Array, offset: number): string {
  const hex = Buffer.from(source.buffer, source.byteOffset, source.byteLength).toString('hex', offset, offset + TXID_BYTES);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

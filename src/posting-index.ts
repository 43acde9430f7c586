/**
 * The posting index of one account: one entry per posting, in append order, which is also
 * non-decreasing (seq, at) order (spec/log-engine.md, section 7.1).
 *
 * Entries are stored as columns of typed arrays that grow by doubling, about 50 bytes per
 * posting, instead of one object per posting (which costs several times more in V8): a large
 * book keeps every posting resident.
 *
 * P1. seq and atUs never decrease from one entry to the next.
 * P2. rawAfter is the account's raw balance after the entry's posting.
 */
import assert from 'node:assert/strict';
import type { Direction } from './types.js';

const TXID_BYTES = 16;
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

export class PostingIndex {
  length = 0;
  #seqs = new Float64Array(2);
  #atUs = new Float64Array(2);
  #minors = new BigInt64Array(2);
  #rawAfters = new BigInt64Array(2);
  #directions = new Uint8Array(2);
  #txids = new Uint8Array(2 * TXID_BYTES);

  push(entry: PostingEntry): void {
    const index = this.length;
    if (index > 0) {
      assert(entry.seq >= this.#seqs[index - 1]!); // P1
      assert(entry.atUs >= this.#atUs[index - 1]!);
    }
    if (index === this.#seqs.length) this.#grow();
    this.#seqs[index] = entry.seq;
    this.#atUs[index] = entry.atUs;
    this.#minors[index] = entry.minor;
    this.#rawAfters[index] = entry.rawAfter;
    this.#directions[index] = entry.direction === 'debit' ? DIRECTION_DEBIT : DIRECTION_CREDIT;
    writeTxid(this.#txids, index * TXID_BYTES, entry.txid);
    this.length = index + 1;
  }

  #grow(): void {
    const capacity = this.#seqs.length * 2;
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

const HEX = '0123456789abcdef';

/** Writes a canonical lowercase UUID as 16 bytes. */
function writeTxid(target: Uint8Array, offset: number, txid: string): void {
  let byteIndex = 0;
  for (let index = 0; index < txid.length; index++) {
    if (txid.charCodeAt(index) === 0x2d) continue; // '-'
    const high = HEX.indexOf(txid[index]!);
    const low = HEX.indexOf(txid[index + 1]!);
    assert(high >= 0 && low >= 0); // txids are validated and lowercased at input
    target[offset + byteIndex++] = (high << 4) | low;
    index++;
  }
  assert.equal(byteIndex, TXID_BYTES);
}

function readTxid(source: Uint8Array, offset: number): string {
  let text = '';
  for (let index = 0; index < TXID_BYTES; index++) {
    if (index === 4 || index === 6 || index === 8 || index === 10) text += '-';
    const byte = source[offset + index]!;
    text += HEX[byte >> 4]! + HEX[byte & 0x0f]!;
  }
  return text;
}

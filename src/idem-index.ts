/**
 * The idempotency index of one book (spec/log-engine.md, section 9): key → the original commit.
 *
 * I1. A record exists for every transaction_posted event of the book's log, forever.
 * I2. Records enter in seq order, so the hot map's insertion order (a Map iterates in insertion
 *     order) is its FIFO, oldest first, and the FIFO is sorted by seq.
 * I3. Prefix property: every key with seq <= spilledThroughSeq is in a durable run; every key with
 *     a higher seq is in the hot map or in the spilling map.
 * I4. The hot map keeps only key → seq; each record's txid and commit time sit in dense columns in
 *     FIFO order (HotColumns), found again by the seq. A million hot records then cost a string and a
 *     map entry each, not three more heap objects that every garbage collection has to trace.
 */
import assert from 'node:assert/strict';
import { readTxid, writeTxid } from './posting-index.js';

export interface IdemRecord {
  txid: string;
  seq: number;
  atUs: number;
}

/** A hot record seen in place: its txid is the 16 bytes of `txids` at `txidOffset`. */
export interface HotEntry {
  key: string;
  seq: number;
  atUs: number;
  txids: Uint8Array;
  txidOffset: number;
}

/** What the index needs from the book's run files (src/idem-runs.ts). */
export interface RunLookup {
  get(key: string): IdemRecord | undefined;
}

const TXID_BYTES = 16;

/** Seq, commit time and txid of the hot records, in FIFO order (I4); the front can be dropped. */
class HotColumns {
  #seqs = new Float64Array(64);
  #atUs = new Float64Array(64);
  #txids = new Uint8Array(64 * TXID_BYTES);
  #head = 0;
  #end = 0;

  get length(): number {
    return this.#end - this.#head;
  }

  /** `txidBytes`, when given, holds the record's txid as 16 bytes at offset 0. */
  push(record: IdemRecord, txidBytes?: Uint8Array): void {
    assert(this.#end === this.#head || record.seq > this.#seqs[this.#end - 1]!, 'hot records enter in seq order');
    if (this.#end === this.#seqs.length) this.#makeRoom();
    const position = this.#end++;
    this.#seqs[position] = record.seq;
    this.#atUs[position] = record.atUs;
    if (txidBytes === undefined) writeTxid(this.#txids, position * TXID_BYTES, record.txid);
    else this.#txids.set(txidBytes.subarray(0, TXID_BYTES), position * TXID_BYTES);
  }

  /** The i-th record from the front. */
  at(index: number): IdemRecord {
    const position = this.#head + index;
    assert(index >= 0 && position < this.#end);
    return { txid: readTxid(this.#txids, position * TXID_BYTES), seq: this.#seqs[position]!, atUs: this.#atUs[position]! };
  }

  /** Points `view` at the i-th record from the front, without building a record. */
  view(index: number, view: HotEntry): void {
    const position = this.#head + index;
    assert(index >= 0 && position < this.#end);
    view.seq = this.#seqs[position]!;
    view.atUs = this.#atUs[position]!;
    view.txids = this.#txids;
    view.txidOffset = position * TXID_BYTES;
  }

  /** The record with this seq (binary search: the FIFO is sorted by seq, I2). */
  find(seq: number): IdemRecord {
    let low = this.#head;
    let high = this.#end;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (this.#seqs[middle]! < seq) low = middle + 1;
      else high = middle;
    }
    assert(low < this.#end && this.#seqs[low] === seq, 'every hot key has its record');
    return this.at(low - this.#head);
  }

  dropFront(count: number): void {
    assert(count >= 0 && count <= this.length);
    this.#head += count;
    if (this.#head === this.#end) this.#head = this.#end = 0;
  }

  clear(): void {
    this.#head = this.#end = 0;
  }

  /** Full at the end: slide the live records to the front, and double when that frees too little. */
  #makeRoom(): void {
    const live = this.length;
    const capacity = live * 2 > this.#seqs.length ? this.#seqs.length * 2 : this.#seqs.length;
    const seqs = capacity === this.#seqs.length ? this.#seqs : new Float64Array(capacity);
    const atUs = capacity === this.#atUs.length ? this.#atUs : new Float64Array(capacity);
    const txids = capacity * TXID_BYTES === this.#txids.length ? this.#txids : new Uint8Array(capacity * TXID_BYTES);
    seqs.set(this.#seqs.subarray(this.#head, this.#end));
    atUs.set(this.#atUs.subarray(this.#head, this.#end));
    txids.set(this.#txids.subarray(this.#head * TXID_BYTES, this.#end * TXID_BYTES));
    this.#seqs = seqs;
    this.#atUs = atUs;
    this.#txids = txids;
    this.#head = 0;
    this.#end = live;
  }
}

export class IdemIndex {
  /** Key → seq of the hot records, oldest first (I2, I4). */
  readonly #hot = new Map<string, number>();
  readonly #columns = new HotColumns();
  /** Records being written to a run: still found by lookups until the run is installed. */
  spilling: Map<string, IdemRecord> | null = null;
  /** H of section 9.2. */
  spilledThroughSeq = 0;
  /** The book's run files, attached at open; null for a book with none yet. */
  runs: RunLookup | null = null;

  get hotSize(): number {
    return this.#hot.size;
  }

  hasHot(key: string): boolean {
    return this.#hot.has(key);
  }

  /** Hot map, spilling map, then the runs. A run that cannot be read throws CORRUPT, never a miss. */
  get(key: string): IdemRecord | undefined {
    const seq = this.#hot.get(key);
    if (seq !== undefined) return this.#columns.find(seq);
    return this.spilling?.get(key) ?? this.runs?.get(key);
  }

  /**
   * Adds a record at the back of the FIFO. A record at or below spilledThroughSeq is already in a
   * run (replay after the runs were attached) and is not added. False when the key is already
   * known: the first record is kept (I1).
   */
  insert(key: string, record: IdemRecord, txidBytes?: Uint8Array): boolean {
    if (record.seq <= this.spilledThroughSeq) return true;
    if (this.#hot.has(key) || this.spilling?.get(key) !== undefined || this.runs?.get(key) !== undefined) return false;
    this.insertNew(key, record, txidBytes);
    return true;
  }

  /**
   * Adds a record the writer has just validated as new (its lookup ran in the same batch): no
   * second lookup, so applying a durable commit never reads a run block.
   */
  insertNew(key: string, record: IdemRecord, txidBytes?: Uint8Array): void {
    this.#hot.set(key, record.seq);
    this.#columns.push(record, txidBytes);
  }

  /** The first `count` hot records, oldest first (a snapshot's cut records only the count). */
  *hotRecords(count = this.#hot.size): Generator<[string, IdemRecord]> {
    let index = 0;
    for (const key of this.#hot.keys()) {
      if (index === count) return;
      yield [key, this.#columns.at(index++)];
    }
  }

  /**
   * The first `count` hot records, oldest first, through one view object that every step
   * overwrites: for the snapshot encoder, which copies each record's fields at once.
   */
  *hotEntries(count = this.#hot.size): Generator<Readonly<HotEntry>> {
    const view: HotEntry = { key: '', seq: 0, atUs: 0, txids: new Uint8Array(0), txidOffset: 0 };
    let index = 0;
    for (const key of this.#hot.keys()) {
      if (index === count) return;
      view.key = key;
      this.#columns.view(index++, view);
      yield view;
    }
  }

  /** Forgets the hot records with seq <= `seq`, which a run now holds (the FIFO front, I2). */
  dropThrough(seq: number): void {
    let dropped = 0;
    for (const [key, keySeq] of this.#hot) {
      if (keySeq > seq) break;
      this.#hot.delete(key);
      dropped++;
    }
    this.#columns.dropFront(dropped);
  }

  /** Moves the oldest records, leaving `keep` in the hot map, to the spilling map (section 9.3). */
  beginSpill(keep: number): Map<string, IdemRecord> {
    const spilling = new Map<string, IdemRecord>();
    const excess = this.#hot.size - keep;
    for (const [key, record] of this.hotRecords(Math.max(0, excess))) spilling.set(key, record);
    for (const key of spilling.keys()) this.#hot.delete(key);
    this.#columns.dropFront(spilling.size);
    this.spilling = spilling;
    return spilling;
  }

  /** The run holding the spilling records is durable and installed. */
  endSpill(throughSeq: number): void {
    this.spilledThroughSeq = throughSeq;
    this.spilling = null;
  }

  /** The spill failed: the records go back to the front of the FIFO in their original order. */
  abortSpill(): void {
    if (this.spilling === null) return;
    const rest = [...this.hotRecords()];
    this.#hot.clear();
    this.#columns.clear();
    for (const [key, record] of this.spilling) this.insertNew(key, record);
    for (const [key, record] of rest) this.insertNew(key, record);
    this.spilling = null;
  }
}

/**
 * The idempotency index of one book (spec/log-engine.md, section 9): key → the original commit.
 *
 * I1. A record exists for every transaction_posted event of the book's log, forever.
 * I2. Records enter in seq order, so the hot map's insertion order (a Map iterates in insertion
 *     order) is its FIFO, oldest first, and the FIFO is sorted by seq.
 * I3. Prefix property: every key with seq <= spilledThroughSeq is in a durable run; every key with
 *     a higher seq is hot. While a spill runs, its records are the oldest hot ones: they stay hot,
 *     found like any other, until the run holding them is installed (endSpill drops them) or the
 *     spill fails (abortSpill only forgets that they were spilling; nothing moves).
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

/**
 * The hot records (I4): keys, seqs, commit times and txids in dense arrays in FIFO order, found
 * through an open-addressing index of their positions. One probe sequence answers a lookup or an
 * insert-if-absent, where a Map needs two for the latter; no object per record.
 *
 * H1. Positions from `#head` to `#end` are live, oldest first. Records leave only from the front.
 * H2. The index holds exactly the live positions; it is rebuilt whenever positions move or leave,
 *     which happens once per spill (half the hot cap), so its cost is spread over many inserts.
 * H3. Each record's key hash is kept in a column beside it: a rebuild reads that column in order
 *     instead of every key string (a pointer chase per record, then a hash over its characters),
 *     and a probe compares hashes before strings, so a slot of another key costs no string read.
 */
class HotRecords {
  #keys: string[] = [];
  /** hashOf(key) of each record (H3). */
  #hashes = new Int32Array(64);
  #seqs = new Float64Array(64);
  #atUs = new Float64Array(64);
  #txids = new Uint8Array(64 * TXID_BYTES);
  #head = 0;
  #end = 0;
  /** Positions + 1, 0 for an empty slot; a power of two in size, at most half full. */
  #index = new Int32Array(128);

  get length(): number {
    return this.#end - this.#head;
  }

  /**
   * Makes room at the end for `count` more records at once (a snapshot load knows how many
   * follow), and an index that stays at most half full with them.
   */
  reserve(count: number): void {
    const needed = this.length + count;
    let moved = false;
    if (this.#end + count > this.#seqs.length) {
      moved = this.#head > 0;
      this.#hashes = grownTo(this.#hashes.subarray(this.#head, this.#end), new Int32Array(needed));
      this.#seqs = grownTo(this.#seqs.subarray(this.#head, this.#end), new Float64Array(needed));
      this.#atUs = grownTo(this.#atUs.subarray(this.#head, this.#end), new Float64Array(needed));
      this.#txids = grownTo(this.#txids.subarray(this.#head * TXID_BYTES, this.#end * TXID_BYTES), new Uint8Array(needed * TXID_BYTES));
      this.#keys = this.#keys.slice(this.#head, this.#end);
      this.#end -= this.#head;
      this.#head = 0;
    }
    let length = this.#index.length;
    while (needed * 2 > length) length *= 2; // a power of two, at most half full
    if (moved || length !== this.#index.length) this.#rebuildIndex(length); // positions moved or the index grew
  }

  /** The position of `key`'s record, or -1. */
  find(key: string): number {
    const index = this.#index;
    const mask = index.length - 1;
    const hash = hashOf(key);
    for (let slot = hash & mask; ; slot = (slot + 1) & mask) {
      const entry = index[slot]!;
      if (entry === 0) return -1;
      if (this.#hashes[entry - 1] === hash && this.#keys[entry - 1] === key) return entry - 1;
    }
  }

  /** Appends a record unless its key is present; false (and no change) when it is (I1). */
  add(key: string, seq: number, atUs: number, txid: Uint8Array, txidOffset: number): boolean {
    assert(this.#end === this.#head || seq > this.#seqs[this.#end - 1]!, 'hot records enter in seq order');
    if ((this.length + 1) * 2 > this.#index.length) this.#rebuildIndex(this.#index.length * 2);
    const index = this.#index;
    const mask = index.length - 1;
    const hash = hashOf(key);
    let slot = hash & mask;
    for (; index[slot] !== 0; slot = (slot + 1) & mask) {
      const entry = index[slot]!;
      if (this.#hashes[entry - 1] === hash && this.#keys[entry - 1] === key) return false;
    }
    if (this.#end === this.#seqs.length) {
      this.#makeRoom();
      return this.add(key, seq, atUs, txid, txidOffset); // positions moved: probe again
    }
    const position = this.#end++;
    this.#keys[position] = key;
    this.#hashes[position] = hash;
    this.#seqs[position] = seq;
    this.#atUs[position] = atUs;
    const txids = this.#txids;
    const start = position * TXID_BYTES;
    for (let byte = 0; byte < TXID_BYTES; byte++) txids[start + byte] = txid[txidOffset + byte]!;
    index[slot] = position + 1;
    return true;
  }

  /**
   * Appends `keys.length` records at once (a snapshot load): the columns are copied with one call
   * each, then the index takes the new positions, each in one probe sequence. No object is made per
   * record; the keys are the caller's strings. False when a key is already present or appears
   * twice (I1); the records are then as they were.
   */
  append(keys: readonly string[], seqs: Float64Array, atUs: Float64Array, txids: Uint8Array): boolean {
    const count = keys.length;
    assert.equal(seqs.length, count);
    assert.equal(atUs.length, count);
    assert.equal(txids.length, count * TXID_BYTES);
    for (let index = 0; index < count; index++) {
      const previous = index > 0 ? seqs[index - 1]! : this.length > 0 ? this.#seqs[this.#end - 1]! : 0;
      assert(seqs[index]! > previous, 'hot records enter in seq order'); // I2; the loader checked it too
    }
    this.reserve(count); // room at the end for `count` more, and an index at most half full after
    const first = this.#end;
    assert(first + count <= this.#seqs.length);
    this.#seqs.set(seqs, first);
    this.#atUs.set(atUs, first);
    this.#txids.set(txids, first * TXID_BYTES);
    for (let index = 0; index < count; index++) this.#keys[first + index] = keys[index]!;
    const index = this.#index;
    const mask = index.length - 1;
    const hashes = this.#hashes;
    // Hash every key first, then probe: the probe loop is then short enough for the processor to
    // overlap the cache misses of consecutive records (the index is megabytes, its slots random).
    for (let offset = 0; offset < count; offset++) hashes[first + offset] = hashOf(keys[offset]!);
    for (let position = first; position < first + count; position++) {
      const key = this.#keys[position]!;
      const hash = hashes[position]!;
      let slot = hash & mask;
      for (; index[slot] !== 0; slot = (slot + 1) & mask) {
        const entry = index[slot]!;
        if (hashes[entry - 1] === hash && this.#keys[entry - 1] === key) {
          this.#keys.length = first;
          this.#rebuildIndex(index.length); // H2: only positions before `first` are live
          return false;
        }
      }
      index[slot] = position + 1;
    }
    this.#end = first + count;
    assert(this.length * 2 <= this.#index.length);
    return true;
  }

  /** The record at a position (from `find`). */
  recordAt(position: number): IdemRecord {
    return { txid: readTxid(this.#txids, position * TXID_BYTES), seq: this.#seqs[position]!, atUs: this.#atUs[position]! };
  }

  /** The i-th record from the front, key first. */
  at(index: number): [string, IdemRecord] {
    const position = this.#head + index;
    assert(index >= 0 && position < this.#end);
    return [this.#keys[position]!, this.recordAt(position)];
  }

  /** Points `view` at the i-th record from the front, without building a record. */
  view(index: number, view: HotEntry): void {
    const position = this.#head + index;
    assert(index >= 0 && position < this.#end);
    view.key = this.#keys[position]!;
    view.seq = this.#seqs[position]!;
    view.atUs = this.#atUs[position]!;
    view.txids = this.#txids;
    view.txidOffset = position * TXID_BYTES;
  }

  /** The seq of the i-th record from the front. */
  seqAt(index: number): number {
    assert(index >= 0 && this.#head + index < this.#end);
    return this.#seqs[this.#head + index]!;
  }

  dropFront(count: number): void {
    assert(count >= 0 && count <= this.length);
    if (count === 0) return;
    this.#keys.fill(undefined as unknown as string, this.#head, this.#head + count); // let the keys go
    this.#head += count;
    this.#rebuildIndex(this.#index.length); // H2
  }

  clear(): void {
    this.#keys = [];
    this.#head = this.#end = 0;
    this.#index.fill(0);
  }

  /** Full at the end: slide the live records to the front, and double when that frees too little. */
  #makeRoom(): void {
    const live = this.length;
    const capacity = live * 2 > this.#seqs.length ? this.#seqs.length * 2 : this.#seqs.length;
    const hashes = capacity === this.#hashes.length ? this.#hashes : new Int32Array(capacity);
    const seqs = capacity === this.#seqs.length ? this.#seqs : new Float64Array(capacity);
    const atUs = capacity === this.#atUs.length ? this.#atUs : new Float64Array(capacity);
    const txids = capacity * TXID_BYTES === this.#txids.length ? this.#txids : new Uint8Array(capacity * TXID_BYTES);
    hashes.set(this.#hashes.subarray(this.#head, this.#end));
    seqs.set(this.#seqs.subarray(this.#head, this.#end));
    atUs.set(this.#atUs.subarray(this.#head, this.#end));
    txids.set(this.#txids.subarray(this.#head * TXID_BYTES, this.#end * TXID_BYTES));
    this.#keys = this.#keys.slice(this.#head, this.#end);
    this.#hashes = hashes;
    this.#seqs = seqs;
    this.#atUs = atUs;
    this.#txids = txids;
    this.#head = 0;
    this.#end = live;
    this.#rebuildIndex(this.#index.length); // H2
  }

  #rebuildIndex(length: number): void {
    while (this.length * 2 > length) length *= 2;
    const index = length === this.#index.length ? this.#index.fill(0) : new Int32Array(length);
    const mask = length - 1;
    for (let position = this.#head; position < this.#end; position++) {
      let slot = this.#hashes[position]! & mask; // H3: no key is read
      while (index[slot] !== 0) slot = (slot + 1) & mask;
      index[slot] = position + 1;
    }
    this.#index = index;
  }
}

function grownTo<T extends Float64Array | Int32Array | Uint8Array>(live: T, target: T): T {
  target.set(live as never);
  return target;
}

/** FNV-1a over the UTF-16 code units, with a final mix so that nearby keys spread (an int32). */
function hashOf(key: string): number {
  let hash = 0x811c9dc5;
  for (let index = 0; index < key.length; index++) hash = Math.imul(hash ^ key.charCodeAt(index), 0x01000193);
  return hash ^ (hash >>> 15);
}

export class IdemIndex {
  /** Key → record of the hot records, oldest first (I2, I4). */
  readonly #hot = new HotRecords();
  readonly #txidScratch = new Uint8Array(TXID_BYTES);
  /** How many of the oldest hot records a spill in flight is writing to a run (I3); 0 for none. */
  #spillingCount = 0;
  /** H of section 9.2. */
  spilledThroughSeq = 0;
  /** The book's run files, attached at open; null for a book with none yet. */
  runs: RunLookup | null = null;

  /** Makes room for `count` more hot records at once. */
  reserveHot(count: number): void {
    this.#hot.reserve(count);
  }

  get hotSize(): number {
    return this.#hot.length;
  }

  hasHot(key: string): boolean {
    return this.#hot.find(key) >= 0;
  }

  /** The hot records (spilling ones included, I3), then the runs. A run that cannot be read throws CORRUPT, never a miss. */
  get(key: string): IdemRecord | undefined {
    const position = this.#hot.find(key);
    if (position >= 0) return this.#hot.recordAt(position);
    return this.runs?.get(key);
  }

  /**
   * Adds a record at the back of the FIFO. A record at or below spilledThroughSeq is already in a
   * run (replay after the runs were attached) and is not added. False when the key is already
   * known: the first record is kept (I1). `txidBytes`, when given, holds the txid as 16 bytes.
   */
  insert(key: string, record: IdemRecord, txidBytes?: Uint8Array): boolean {
    if (record.seq <= this.spilledThroughSeq) return true;
    if (this.runs?.get(key) !== undefined) return false;
    return this.insertNew(key, record.seq, record.atUs, txidBytes ?? record.txid);
  }

  /**
   * Adds a record the writer has just validated as new (its lookup ran in the same batch): no
   * lookup in the spilling map or the runs, so applying a durable commit never reads a run block.
   * False when the key is already hot (a snapshot that lists a key twice).
   */
  insertNew(key: string, seq: number, atUs: number, txid: string | Uint8Array): boolean {
    if (typeof txid === 'string') {
      writeTxid(this.#txidScratch, 0, txid);
      txid = this.#txidScratch;
    }
    return this.#hot.add(key, seq, atUs, txid, 0);
  }

  /**
   * Appends hot records from columns (a snapshot load), after the records already hot: `seqs`
   * must rise from one record to the next and above the newest hot record (I2). False, adding
   * nothing, when a key is already hot or appears twice in `keys`.
   */
  appendHot(keys: readonly string[], seqs: Float64Array, atUs: Float64Array, txids: Uint8Array): boolean {
    return this.#hot.append(keys, seqs, atUs, txids);
  }

  /** The first `count` hot records, oldest first (a snapshot's cut records only the count). */
  *hotRecords(count = this.#hot.length): Generator<[string, IdemRecord]> {
    for (let index = 0; index < count; index++) yield this.#hot.at(index);
  }

  /**
   * The first `count` hot records, oldest first, through one view object that every step
   * overwrites: for the snapshot encoder, which copies each record's fields at once.
   */
  *hotEntries(count = this.#hot.length): Generator<Readonly<HotEntry>> {
    const view: HotEntry = { key: '', seq: 0, atUs: 0, txids: new Uint8Array(0), txidOffset: 0 };
    for (let index = 0; index < count; index++) {
      this.#hot.view(index, view);
      yield view;
    }
  }

  /** Forgets the hot records with seq <= `seq`, which a run now holds (the FIFO front, I2). */
  dropThrough(seq: number): void {
    let count = 0;
    while (count < this.#hot.length && this.#hot.seqAt(count) <= seq) count++;
    this.#hot.dropFront(count);
  }

  /**
   * Starts a spill (section 9.3) of the oldest records, all but the newest `keep`, and returns how
   * many. They stay hot, in place, until endSpill or abortSpill (I3).
   */
  beginSpill(keep: number): number {
    assert.equal(this.#spillingCount, 0, 'one spill at a time');
    this.#spillingCount = Math.max(0, this.#hot.length - keep);
    return this.#spillingCount;
  }

  /** The records of the spill in flight, oldest first, through one view (as hotEntries). */
  spillingEntries(): Generator<Readonly<HotEntry>> {
    return this.hotEntries(this.#spillingCount);
  }

  /** The run holding the spilling records is durable and installed: they leave the hot records. */
  endSpill(throughSeq: number): void {
    this.#hot.dropFront(this.#spillingCount);
    this.#spillingCount = 0;
    this.spilledThroughSeq = throughSeq;
  }

  /** The spill failed: its records simply stay hot, where they always were. */
  abortSpill(): void {
    this.#spillingCount = 0;
  }
}

/**
 * A compact map from txid (a UUID, kept as 16 bytes) to a number: a book's txid → seq index, and
 * the router's store-wide txid → book index (spec/log-engine.md, sections 1.6 and 7.1).
 *
 * About 32 bytes per entry instead of the ~100 a Map of 36-character strings costs, and no string
 * per entry: entries live in insertion order in dense typed arrays, found through an
 * open-addressing index of positions.
 *
 * X1. Entries are never removed, and iteration is in insertion order, so the first `n` entries of
 *     a table stay the same while it grows (a snapshot's cut records only the count).
 * X2. A txid is present at most once.
 * X3. An index holds positions only, placed by a fixed hash of the keys: it serves any table that
 *     holds the same keys at the same positions, so a table can take another's with its entries.
 */
import assert from 'node:assert/strict';
import { readTxid, writeTxid } from './posting-index.js';

const TXID_BYTES = 16;
const EMPTY = -1;

export class TxidTable {
  #keys: Uint8Array = new Uint8Array(16 * TXID_BYTES);
  #values: Float64Array = new Float64Array(16);
  /** Positions into the dense arrays; a power of two in size, at most half full. */
  #index: Int32Array = new Int32Array(32).fill(EMPTY);
  #size = 0;
  readonly #scratch = new Uint8Array(TXID_BYTES);

  get size(): number {
    return this.#size;
  }

  get(txid: string): number | undefined {
    writeTxid(this.#scratch, 0, txid);
    const position = this.#find(this.#scratch, 0);
    return position === EMPTY ? undefined : this.#values[position];
  }

  /** The value of the txid in 16 bytes at `offset`, or undefined. */
  getBytes(bytes: Uint8Array, offset: number): number | undefined {
    const position = this.#find(bytes, offset);
    return position === EMPTY ? undefined : this.#values[position];
  }

  has(txid: string): boolean {
    return this.get(txid) !== undefined;
  }

  /** Makes room for `count` more entries at once, so a bulk load does not grow step by step. */
  reserve(count: number): void {
    const needed = this.#size + count;
    if (needed > this.#values.length) this.#growEntries(needed);
    if (needed * 2 > this.#index.length) {
      let length = this.#index.length;
      while (needed * 2 > length) length *= 2;
      this.#growIndex(length);
    }
  }

  /** Adds an entry; false (and no change) when the txid is already present (X2). */
  set(txid: string, value: number): boolean {
    writeTxid(this.#scratch, 0, txid);
    return this.setBytes(this.#scratch, 0, value);
  }

  /** Adds an entry from 16 txid bytes at `offset`; false when already present. */
  setBytes(bytes: Uint8Array, offset: number, value: number): boolean {
    if (this.#find(bytes, offset) !== EMPTY) return false;
    if (this.#size === this.#values.length) this.#growEntries();
    if ((this.#size + 1) * 2 > this.#index.length) this.#growIndex();
    const position = this.#size++;
    this.#keys.set(bytes.subarray(offset, offset + TXID_BYTES), position * TXID_BYTES);
    this.#values[position] = value;
    this.#insertIndex(position);
    return true;
  }

  /**
   * Appends `values.length` entries at once (a snapshot load): the txids are the 16 bytes per
   * entry of `keys`, copied with one call, and the index takes each new position in one probe
   * sequence, with no object per entry. False when a txid is already present or appears twice in
   * the columns (X2); the table is then as it was.
   */
  importColumns(keys: Uint8Array, values: Float64Array): boolean {
    const count = values.length;
    assert.equal(keys.length, count * TXID_BYTES);
    this.reserve(count);
    const first = this.#size;
    this.#keys.set(keys, first * TXID_BYTES);
    this.#values.set(values, first);
    // Hash every txid first, then probe: a short probe loop lets the processor overlap the cache
    // misses of consecutive entries (the index is megabytes, its slots random).
    const slots = new Uint32Array(count);
    for (let offset = 0; offset < count; offset++) slots[offset] = this.#slotOf(this.#keys, (first + offset) * TXID_BYTES);
    for (let position = first; position < first + count; position++) {
      if (!this.#insertIndexIfAbsent(position, slots[position - first]!)) {
        this.#growIndex(this.#index.length); // forget the positions from `first` on: #size is still `first`
        return false;
      }
    }
    this.#size = first + count;
    assert(this.#size * 2 <= this.#index.length);
    return true;
  }

  /**
   * Fills an empty table with another table's entries and its index (`indexCopy()` of a table
   * holding exactly `keys`, in that order), adopting all three arrays: no txid is hashed again.
   * For the router's first book at open, whose txids its worker has just indexed (X3).
   */
  adoptColumns(keys: Uint8Array, values: Float64Array, index: Int32Array): void {
    const count = values.length;
    assert(this.#size === 0 && count > 0);
    assert.equal(keys.length, count * TXID_BYTES);
    // X3. A cheap pass checks its shape: a power of two at least twice the entries, each position once.
    assert(index.length >= 32 && (index.length & (index.length - 1)) === 0 && count * 2 <= index.length);
    const seen = new Uint8Array(count);
    let indexed = 0;
    for (let slot = 0; slot < index.length; slot++) {
      const position = index[slot]!;
      if (position === EMPTY) continue;
      assert(position >= 0 && position < count && seen[position] === 0);
      seen[position] = 1;
      indexed++;
    }
    assert.equal(indexed, count);
    this.#keys = keys;
    this.#values = values;
    this.#index = index;
    this.#size = count;
  }

  /** A copy of the index, for `adoptColumns` of a table that takes this one's entries. */
  indexCopy(): Int32Array {
    return this.#index.slice();
  }

  txidAt(position: number): string {
    assert(position >= 0 && position < this.#size);
    return readTxid(this.#keys, position * TXID_BYTES);
  }

  valueAt(position: number): number {
    assert(position >= 0 && position < this.#size);
    return this.#values[position]!;
  }

  /**
   * The array holding the txids, 16 bytes per entry by position. Read it at once: growth replaces
   * it (the old one keeps its contents, X1).
   */
  keyBytesView(): Uint8Array {
    return this.#keys;
  }

  /** The txid bytes of entries [0, count), for bulk transfer (a copy). */
  keyBytes(count = this.#size): Uint8Array {
    return this.#keys.slice(0, count * TXID_BYTES);
  }

  /** Txids in insertion order (X1). */
  *keys(): Generator<string> {
    for (let position = 0; position < this.#size; position++) yield this.txidAt(position);
  }

  /** Entries in insertion order (X1). */
  *entries(): Generator<[string, number]> {
    for (let position = 0; position < this.#size; position++) yield [this.txidAt(position), this.#values[position]!];
  }

  #slotOf(bytes: Uint8Array, offset: number): number {
    // UUIDs of versions 4 and 7 are random in their last bytes, but any UUID is accepted: mix all 16.
    let hash = 0x811c9dc5;
    for (let index = 0; index < TXID_BYTES; index++) hash = Math.imul(hash ^ bytes[offset + index]!, 0x01000193);
    hash ^= hash >>> 15;
    return (hash >>> 0) & (this.#index.length - 1);
  }

  #find(bytes: Uint8Array, offset: number): number {
    const mask = this.#index.length - 1;
    for (let slot = this.#slotOf(bytes, offset); ; slot = (slot + 1) & mask) {
      const position = this.#index[slot]!;
      if (position === EMPTY) return EMPTY;
      if (this.#sameKey(position, bytes, offset)) return position;
    }
  }

  #sameKey(position: number, bytes: Uint8Array, offset: number): boolean {
    const start = position * TXID_BYTES;
    for (let index = 0; index < TXID_BYTES; index++) {
      if (this.#keys[start + index] !== bytes[offset + index]) return false;
    }
    return true;
  }

  #insertIndex(position: number): void {
    const mask = this.#index.length - 1;
    let slot = this.#slotOf(this.#keys, position * TXID_BYTES);
    while (this.#index[slot] !== EMPTY) slot = (slot + 1) & mask;
    this.#index[slot] = position;
  }

  /** Indexes the entry at `position` (whose txid hashes to `slot`) unless an indexed entry has the same txid (then false). */
  #insertIndexIfAbsent(position: number, slot: number): boolean {
    const mask = this.#index.length - 1;
    const start = position * TXID_BYTES;
    for (; this.#index[slot] !== EMPTY; slot = (slot + 1) & mask) {
      if (this.#sameKey(this.#index[slot]!, this.#keys, start)) return false;
    }
    this.#index[slot] = position;
    return true;
  }

  #growEntries(atLeast = 0): void {
    const capacity = Math.max(this.#values.length * 2, atLeast);
    const keys = new Uint8Array(capacity * TXID_BYTES);
    keys.set(this.#keys);
    this.#keys = keys;
    const values = new Float64Array(capacity);
    values.set(this.#values);
    this.#values = values;
  }

  #growIndex(length = this.#index.length * 2): void {
    this.#index = new Int32Array(length).fill(EMPTY);
    for (let position = 0; position < this.#size; position++) this.#insertIndex(position);
  }
}

/**
 * Account balances in shared memory, so `balance(account)` (without `asOf`) is answered on the
 * caller's thread with no round trip to the book's worker.
 *
 * M1. Each account of a book has an ordinal: the order in which its account_opened event was
 *     applied. Slot `ordinal` holds four BigInt64 fields: a version, the raw balance, the updated
 *     seq and a hash of the account's path, which the reader compares with the path it expects
 *     (both sides number accounts the same way; the hash makes a slip fall back, never misread).
 *     Chunks of BALANCE_SLOTS_PER_CHUNK slots are SharedArrayBuffers made by the
 *     worker and sent to the main thread before the first event that needs them is answered.
 * M2. Only the book's worker writes a slot, after the fsync and the apply and before the
 *     watermark (so nothing is visible before it is durable, and a read after a write resolves sees
 *     it). The version is odd while the two values change; a reader that sees an odd or changed
 *     version tries again, and after a few tries asks the worker instead. A reader never returns a
 *     raw balance of one commit with the updated seq of another.
 * M3. The reader knows each account by its path: a map from path to ordinal (a small integer, no
 *     object), and the asset and normal side of each ordinal in one typed array, with the book's
 *     few asset ids kept once, so that a book of millions of accounts costs the caller's thread
 *     little more than the paths themselves.
 */
import assert from 'node:assert/strict';

export const BALANCE_SLOTS_PER_CHUNK = 1024;
const FIELDS = 4; // version, raw balance, updated seq, path hash
const READ_ATTEMPTS = 4;

/** The worker's side, one per book. */
export class BalanceSlotsWriter {
  readonly #chunks: BigInt64Array[] = [];

  /** `announce` sends a new chunk to the main thread (message order puts it before any reply). */
  constructor(readonly announce: (chunkIndex: number, buffer: SharedArrayBuffer) => void) {}

  write(ordinal: number, path: string, raw: bigint, updatedSeq: number): void {
    const chunkIndex = Math.floor(ordinal / BALANCE_SLOTS_PER_CHUNK);
    while (this.#chunks.length <= chunkIndex) {
      const buffer = new SharedArrayBuffer(BALANCE_SLOTS_PER_CHUNK * FIELDS * 8);
      this.#chunks.push(new BigInt64Array(buffer));
      this.announce(this.#chunks.length - 1, buffer);
    }
    const slots = this.#chunks[chunkIndex]!;
    const base = (ordinal % BALANCE_SLOTS_PER_CHUNK) * FIELDS;
    Atomics.add(slots, base, 1n); // odd: changing
    Atomics.store(slots, base + 1, raw);
    Atomics.store(slots, base + 2, BigInt(updatedSeq));
    Atomics.store(slots, base + 3, pathHash(path));
    Atomics.add(slots, base, 1n); // even: settled
  }
}

/** Distinct asset ids one book's accounts may hold on the reader's side (M3). */
const READER_ASSETS_MAX = 2 ** 31;
/** Accounts one book may number on the reader's side: an ordinal stays a small integer (M3). */
const READER_ACCOUNTS_MAX = 2 ** 30;

/** The main thread's side, one per book. */
export class BalanceSlotsReader {
  readonly #chunks: Array<BigInt64Array | undefined> = [];
  /** Path → ordinal, a small integer, so no number object per account (M3). */
  readonly #accounts = new Map<string, number>();
  /** Per ordinal: asset index × 2 + (1 if credit-normal). */
  #shapes = new Uint32Array(1024);
  readonly #assetIndexes = new Map<string, number>();
  readonly #assets: string[] = [];

  /** Numbers the book's next account, in opening order (M1). */
  addAccount(path: string, asset: string, credit: boolean): void {
    let assetIndex = this.#assetIndexes.get(asset);
    if (assetIndex === undefined) {
      assetIndex = this.#assets.length;
      assert(assetIndex < READER_ASSETS_MAX, 'too many distinct assets in one book');
      this.#assets.push(asset);
      this.#assetIndexes.set(asset, assetIndex);
    }
    const ordinal = this.#accounts.size;
    assert(ordinal < READER_ACCOUNTS_MAX, 'too many accounts in one book');
    if (ordinal === this.#shapes.length) {
      const grown = new Uint32Array(this.#shapes.length * 2);
      grown.set(this.#shapes);
      this.#shapes = grown;
    }
    this.#shapes[ordinal] = assetIndex * 2 + (credit ? 1 : 0);
    this.#accounts.set(path, ordinal);
  }

  /** An account's balance from its slot, or null when the worker has to be asked. */
  balance(path: string): { minor: bigint; asset: string; updatedSeq: number } | null {
    const ordinal = this.#accounts.get(path);
    if (ordinal === undefined) return null;
    const slot = this.read(ordinal, path);
    if (slot === null) return null;
    const shape = this.#shapes[ordinal]!;
    const asset = this.#assets[shape >>> 1]!;
    return { minor: (shape & 1) === 1 ? -slot.raw : slot.raw, asset, updatedSeq: slot.updatedSeq };
  }

  attach(chunkIndex: number, buffer: SharedArrayBuffer): void {
    this.#chunks[chunkIndex] = new BigInt64Array(buffer);
  }

  /** The slot's raw balance and updated seq, or null when the worker has to be asked (M2). */
  read(ordinal: number, path: string): { raw: bigint; updatedSeq: number } | null {
    const slots = this.#chunks[Math.floor(ordinal / BALANCE_SLOTS_PER_CHUNK)];
    if (slots === undefined) return null;
    const base = (ordinal % BALANCE_SLOTS_PER_CHUNK) * FIELDS;
    for (let attempt = 0; attempt < READ_ATTEMPTS; attempt++) {
      const version = Atomics.load(slots, base);
      if ((version & 1n) === 1n) continue;
      const raw = Atomics.load(slots, base + 1);
      const updatedSeq = Atomics.load(slots, base + 2);
      const hash = Atomics.load(slots, base + 3);
      if (Atomics.load(slots, base) !== version) continue;
      return hash === pathHash(path) ? { raw, updatedSeq: Number(updatedSeq) } : null;
    }
    return null;
  }
}

/** FNV-1a (64-bit) of a path's UTF-16 code units, as a BigInt64 field. */
function pathHash(path: string): bigint {
  let low = 0x84222325;
  let high = 0xcbf29ce4;
  for (let index = 0; index < path.length; index++) {
    low ^= path.charCodeAt(index);
    // Multiply the 64-bit value high:low by the FNV prime 2^40 + 0x1b3, in 32-bit halves.
    const product = low * 0x1b3;
    const carry = Math.floor(product / 0x1_0000_0000);
    high = (Math.imul(high, 0x1b3) + Math.imul(low, 0x100) + carry) >>> 0;
    low = product >>> 0;
  }
  return BigInt.asIntN(64, (BigInt(high) << 32n) | BigInt(low));
}

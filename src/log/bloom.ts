/**
 * A Bloom filter per idempotency run (spec/log-engine.md, section 9.5): k = 4 probes, 10 bits per
 * key rounded up to whole 64-bit words, double hashing over two MurmurHash3 (x86, 32-bit) values
 * of the key's UTF-8 bytes. Filters are never persisted, so the hash may change between versions.
 *
 * F1. No false negatives: every added key tests maybe-present.
 */
const PROBES = 4;
const BITS_PER_KEY = 10;
const SEED_FIRST = 0x9747b28c;
const SEED_SECOND = 0x5bd1e995;

export function murmur3x86_32(bytes: Uint8Array, seed: number): number {
  let hash = seed >>> 0;
  const blockCount = bytes.length >>> 2;
  for (let block = 0; block < blockCount; block++) {
    const index = block << 2;
    let k = bytes[index]! | (bytes[index + 1]! << 8) | (bytes[index + 2]! << 16) | (bytes[index + 3]! << 24);
    k = Math.imul(k, 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, 0x1b873593);
    hash ^= k;
    hash = (hash << 13) | (hash >>> 19);
    hash = (Math.imul(hash, 5) + 0xe6546b64) | 0;
  }
  const tail = blockCount << 2;
  const remainder = bytes.length & 3;
  if (remainder > 0) {
    let k = 0;
    if (remainder === 3) k ^= bytes[tail + 2]! << 16;
    if (remainder >= 2) k ^= bytes[tail + 1]! << 8;
    k ^= bytes[tail]!;
    k = Math.imul(k, 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, 0x1b873593);
    hash ^= k;
  }
  hash ^= bytes.length;
  hash ^= hash >>> 16;
  hash = Math.imul(hash, 0x85ebca6b);
  hash ^= hash >>> 13;
  hash = Math.imul(hash, 0xc2b2ae35);
  hash ^= hash >>> 16;
  return hash >>> 0;
}

export class BloomFilter {
  readonly #bits: Uint32Array;
  readonly #bitCount: number;

  constructor(keyCount: number) {
    const words64 = Math.max(1, Math.ceil((Math.max(1, keyCount) * BITS_PER_KEY) / 64));
    this.#bits = new Uint32Array(words64 * 2);
    this.#bitCount = words64 * 64;
  }

  add(key: Uint8Array): void {
    const first = murmur3x86_32(key, SEED_FIRST);
    const second = (murmur3x86_32(key, SEED_SECOND) | 1) >>> 0;
    for (let probe = 0; probe < PROBES; probe++) {
      const bit = (first + probe * second) % this.#bitCount;
      this.#bits[bit >>> 5]! |= 1 << (bit & 31);
    }
  }

  mayContain(key: Uint8Array): boolean {
    const first = murmur3x86_32(key, SEED_FIRST);
    const second = (murmur3x86_32(key, SEED_SECOND) | 1) >>> 0;
    for (let probe = 0; probe < PROBES; probe++) {
      const bit = (first + probe * second) % this.#bitCount;
      if ((this.#bits[bit >>> 5]! & (1 << (bit & 31))) === 0) return false;
    }
    return true;
  }
}

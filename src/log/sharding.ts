/**
 * Which worker owns a book (spec/log-engine.md, section 1.1): a pure function of the name and the
 * worker count, so tests can pick names that land on different workers. It is not stored on disk;
 * a different worker count after a restart is harmless.
 */

/** 32-bit FNV-1a over the UTF-8 bytes of `text`. */
export function fnv1a32(text: string): number {
  let hash = 0x811c9dc5;
  for (const byte of Buffer.from(text, 'utf8')) {
    hash ^= byte;
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash >>> 0;
}

export function workerIndexOf(book: string, workerCount: number): number {
  return fnv1a32(book) % workerCount;
}

/**
 * Strings that repeat from record to record (book names, account paths and keys, assets), made
 * once from their bytes and handed back whenever the same bytes come again.
 *
 * I1. A string handed back is exactly what decoding its bytes gives (Latin-1 when every byte is
 *     ASCII, else UTF-8, as Buffer#toString decodes): a slot answers only for the very bytes it was
 *     made from, and anything longer than INTERNED_BYTES_MAX is decoded afresh.
 * I2. The same string object comes back, so the reader allocates nothing, and a Map lookup by it
 *     reuses the hash V8 stored in it the first time instead of hashing new characters.
 * I3. A direct-mapped cache of INTERNED_SLOTS entries per thread: a collision replaces the slot's
 *     string, never returns a wrong one.
 */
const INTERNED_SLOTS = 1024;
const INTERNED_BYTES_MAX = 64;
const internedBytes: Array<Uint8Array | undefined> = new Array(INTERNED_SLOTS);
const internedText: string[] = new Array(INTERNED_SLOTS);

/** The FNV-1a start value; fold each byte with `fnvStep`. */
export const FNV_START = 0x811c9dc5;

export function fnvStep(hash: number, byte: number): number {
  return Math.imul(hash ^ byte, 0x01000193);
}

/**
 * The string of `bytes[start, end)`, whose FNV-1a hash (fnvStep over those bytes) is `hash` and
 * which holds a byte of 0x80 or above unless `ascii`. For readers that hash while they scan.
 */
export function internedAt(bytes: Buffer, start: number, end: number, hash: number, ascii: boolean): string {
  const length = end - start;
  if (length > INTERNED_BYTES_MAX) return bytes.toString(ascii ? 'latin1' : 'utf8', start, end);
  const slot = (hash >>> 0) & (INTERNED_SLOTS - 1);
  const cached = internedBytes[slot];
  if (cached !== undefined && cached.length === length) {
    let same = true;
    for (let index = 0; index < length; index++) {
      if (cached[index] !== bytes[start + index]) {
        same = false;
        break;
      }
    }
    if (same) return internedText[slot]!;
  }
  const text = bytes.toString(ascii ? 'latin1' : 'utf8', start, end);
  internedBytes[slot] = Uint8Array.prototype.slice.call(bytes, start, end);
  internedText[slot] = text;
  return text;
}

/** The string of `bytes[start, end)`, hashed here (I1). */
export function internedString(bytes: Buffer, start: number, end: number): string {
  if (end - start > INTERNED_BYTES_MAX) return bytes.toString('utf8', start, end);
  let hash = FNV_START;
  let ascii = true;
  for (let position = start; position < end; position++) {
    const byte = bytes[position]!;
    if (byte >= 0x80) ascii = false;
    hash = fnvStep(hash, byte);
  }
  return internedAt(bytes, start, end, hash, ascii);
}

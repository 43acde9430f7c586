/**
 * Commits on the wire from the caller's thread to a shard writer: the commits of one message are
 * packed into one buffer that is transferred, not cloned (issue 14). The caller encodes each
 * commit's event JSON to UTF-8 here, once; the writer frames those bytes as they are and reads from
 * the record's header only what it validates and applies.
 *
 * A record, little-endian, records back to back:
 *
 *   u32 id          the router's request number
 *   u32 position    how many of the message's other jobs come before it (their order is kept)
 *   u32 slot        the book's watermark slot
 *   u8  flags       bit 0: the txid belongs to another book (checked on the caller's thread)
 *   u8  reserved
 *   u16 postings    how many postings follow the strings
 *   str book, str txid, str idempotency key
 *   per posting: str account key, str asset, i64 minor, u8 direction (0 debit, 1 credit)
 *   str event       the event JSON, UTF-8
 *
 * where `str` is a u32 byte length and that many bytes of UTF-8.
 *
 * C1. Unpacking returns exactly what was packed: every string, amount and direction, and the
 *     event bytes unchanged (test/commit-wire.test.ts).
 * C2. A packer's buffer leaves with its message and is never touched again: `take` starts a new one.
 * C3. A new buffer is sized from what the last message used (a power of two, 4 KiB at least), not
 *     a fixed 64 KiB: every buffer is external memory on both threads, and at one commit per
 *     message a fixed size made V8 collect both heaps for memory that was never used (measured:
 *     a worker with 5,000 idle books ran a full collection every 150 ms at one caller).
 */
import type { PostingEffect } from './book-state.js';
import type { Direction, Transaction } from '../core/types.js';
import { accountKey } from '../core/account-key.js';
import { internedString } from './interned-strings.js';

/** The smallest buffer of a packer (C3): room for a few ordinary commits. */
const MIN_BYTES = 4 * 1024;
const FIXED_BYTES = 16;
const POSTING_FIXED_BYTES = 4 + 4 + 8 + 1;
const FLAG_TXID_FOREIGN = 1;

/** A commit as the writer receives it. */
export interface CommitJob {
  op: 'commit';
  id: number;
  book: string;
  slot: number;
  txid: string;
  key: string;
  postings: PostingEffect[];
  /** The event JSON's UTF-8 bytes, a view into the message's buffer. */
  event: Buffer;
  txidForeign: boolean;
}

/** The commits of one message: the packed bytes, transferred with it. */
export interface PackedCommits {
  buffer: ArrayBuffer;
  bytes: number;
  count: number;
}

export class CommitPacker {
  #buffer = Buffer.allocUnsafeSlow(MIN_BYTES);
  #used = 0;
  #count = 0;

  get count(): number {
    return this.#count;
  }

  add(id: number, position: number, slot: number, tx: Transaction, eventJson: string, txidForeign: boolean): void {
    const postings = tx.postings;
    // UTF-8 takes at most 3 bytes per UTF-16 unit; reserve the worst case, then write.
    let worst = FIXED_BYTES + 12 + 3 * (tx.book.length + tx.id.length + tx.idempotency_key.length) + 4 + 3 * eventJson.length;
    for (const posting of postings) {
      worst += POSTING_FIXED_BYTES + 3 * (posting.account.book.length * 2 + 1 + posting.account.path.length + posting.amount.asset.length);
    }
    this.#reserve(worst);
    const buffer = this.#buffer;
    let at = this.#used;
    buffer.writeUInt32LE(id, at);
    buffer.writeUInt32LE(position, at + 4);
    buffer.writeUInt32LE(slot, at + 8);
    buffer[at + 12] = txidForeign ? FLAG_TXID_FOREIGN : 0;
    buffer[at + 13] = 0;
    buffer.writeUInt16LE(postings.length, at + 14);
    at += FIXED_BYTES;
    at = writeString(buffer, at, tx.book);
    at = writeString(buffer, at, tx.id);
    at = writeString(buffer, at, tx.idempotency_key);
    for (const posting of postings) {
      at = writeString(buffer, at, accountKey(posting.account));
      at = writeString(buffer, at, posting.amount.asset);
      buffer.writeBigInt64LE(posting.amount.minor, at);
      buffer[at + 8] = posting.direction === 'debit' ? 0 : 1;
      at += 9;
    }
    at = writeString(buffer, at, eventJson);
    this.#used = at;
    this.#count++;
  }

  /** The packed commits so far, or null when there are none; the packer starts afresh (C2). */
  take(): PackedCommits | null {
    if (this.#count === 0) return null;
    const packed: PackedCommits = { buffer: this.#buffer.buffer as ArrayBuffer, bytes: this.#used, count: this.#count };
    let next = MIN_BYTES;
    while (next < this.#used) next *= 2; // C3: about what the next message will need
    this.#buffer = Buffer.allocUnsafeSlow(next);
    this.#used = 0;
    this.#count = 0;
    return packed;
  }

  #reserve(bytes: number): void {
    if (this.#used + bytes <= this.#buffer.length) return;
    let size = this.#buffer.length * 2;
    while (size < this.#used + bytes) size *= 2;
    const grown = Buffer.allocUnsafeSlow(size);
    this.#buffer.copy(grown, 0, 0, this.#used);
    this.#buffer = grown;
  }
}

/**
 * Buffer's own UTF-8 writer, without the argument handling of `write` (a measurable share of a
 * commit's cost on the caller's thread); `write` where a runtime lacks it.
 */
const nativeUtf8Write = (Buffer.prototype as unknown as { utf8Write?: (text: string, offset: number) => number }).utf8Write;
function utf8Write(buffer: Buffer, text: string, offset: number): number {
  return nativeUtf8Write === undefined ? buffer.write(text, offset, 'utf8') : nativeUtf8Write.call(buffer, text, offset);
}

/** Below this length an ASCII string is copied a character at a time: cheaper than a native call. */
const SHORT_STRING = 64;

function writeString(buffer: Buffer, at: number, text: string): number {
  const start = at + 4;
  let length = -1;
  if (text.length <= SHORT_STRING) {
    length = text.length;
    for (let index = 0; index < text.length; index++) {
      const code = text.charCodeAt(index);
      if (code >= 0x80) {
        length = -1; // not ASCII: UTF-8 from the start
        break;
      }
      buffer[start + index] = code;
    }
  }
  if (length < 0) length = utf8Write(buffer, text, start);
  buffer.writeUInt32LE(length, at);
  return start + length;
}

/** Unpacks every commit of `packed`, in order, each with its position among the message's other jobs. */
export function unpackCommits(packed: PackedCommits, visit: (job: CommitJob, position: number) => void): void {
  const buffer = Buffer.from(packed.buffer, 0, packed.bytes);
  let at = 0;
  for (let index = 0; index < packed.count; index++) {
    const id = buffer.readUInt32LE(at);
    const position = buffer.readUInt32LE(at + 4);
    const slot = buffer.readUInt32LE(at + 8);
    const txidForeign = (buffer[at + 12]! & FLAG_TXID_FOREIGN) !== 0;
    const postingCount = buffer.readUInt16LE(at + 14);
    at += FIXED_BYTES;
    let length = buffer.readUInt32LE(at);
    const book = internedString(buffer, at + 4, at + 4 + length);
    at += 4 + length;
    length = buffer.readUInt32LE(at);
    const txid = buffer.toString('latin1', at + 4, at + 4 + length); // a canonical UUID: ASCII
    at += 4 + length;
    length = buffer.readUInt32LE(at);
    const key = buffer.toString('utf8', at + 4, at + 4 + length);
    at += 4 + length;
    const postings: PostingEffect[] = new Array(postingCount);
    for (let posting = 0; posting < postingCount; posting++) {
      length = buffer.readUInt32LE(at);
      // Books, accounts and assets repeat from commit to commit: interned, they are neither made
      // again nor hashed again by the maps the writer looks them up in.
      const accountKeyText = internedString(buffer, at + 4, at + 4 + length);
      at += 4 + length;
      length = buffer.readUInt32LE(at);
      const asset = internedString(buffer, at + 4, at + 4 + length);
      at += 4 + length;
      const minor = buffer.readBigInt64LE(at);
      const direction: Direction = buffer[at + 8] === 0 ? 'debit' : 'credit';
      at += 9;
      postings[posting] = { key: accountKeyText, asset, minor, direction };
    }
    length = buffer.readUInt32LE(at);
    const event = buffer.subarray(at + 4, at + 4 + length);
    at += 4 + length;
    visit({ op: 'commit', id, book, slot, txid, key, postings, event, txidForeign }, position);
  }
}

/**
 * MessagePack for the two largest record kinds of snapshot format version 1, `txids` and `idem`
 * (spec/log-engine.md, section 8.3), written by hand: a book of a million transactions has a
 * million entries of each, and packing them as small arrays through msgpackr cost more than the
 * rest of the snapshot. The store writes version 2 (columns) since; this packer now serves the
 * version-1 encoder of the tests (test/support/snapshot-v1.ts).
 *
 * K1. The output is standard MessagePack that msgpackr (the snapshot loader) reads back to the
 *     same values: strings as str, txids as bin, numbers as msgpackr writes them (unsigned
 *     integers below 2^32 as integers, anything else as float64, which it reads as a number).
 * K2. One packer builds one record at a time into a buffer it reuses; `finish` returns a copy.
 */
const FLOAT64_LIMIT = 2 ** 32;

export class EntryPacker {
  #buffer = Buffer.allocUnsafe(64 * 1024);
  #length = 0;

  /** Starts a record `[tag, [entries…]]` with `count` entries to follow. */
  begin(tag: string, count: number): void {
    this.#length = 0;
    this.#byte(0x92); // fixarray of 2: the tag and the entries
    this.string(tag);
    this.arrayHeader(count);
  }

  /** The record built since `begin`, as its own buffer. */
  finish(): Buffer {
    return Buffer.from(this.#buffer.subarray(0, this.#length));
  }

  arrayHeader(count: number): void {
    if (count < 16) this.#byte(0x90 | count);
    else if (count < 0x10000) {
      this.#reserve(3);
      this.#buffer[this.#length] = 0xdc;
      this.#buffer.writeUInt16BE(count, this.#length + 1);
      this.#length += 3;
    } else {
      this.#reserve(5);
      this.#buffer[this.#length] = 0xdd;
      this.#buffer.writeUInt32BE(count, this.#length + 1);
      this.#length += 5;
    }
  }

  string(text: string): void {
    const most = text.length * 3; // UTF-8 bytes per UTF-16 unit, at most
    this.#reserve(5 + most);
    // Write the text after the widest header it may need, then put the real header in front.
    const header = most < 32 ? 1 : most < 0x100 ? 2 : most < 0x10000 ? 3 : 5;
    const start = this.#length;
    const bytes = this.#buffer.write(text, start + header, 'utf8');
    const buffer = this.#buffer;
    if (header === 1) buffer[start] = 0xa0 | bytes;
    else if (header === 2) {
      buffer[start] = 0xd9;
      buffer[start + 1] = bytes;
    } else if (header === 3) {
      buffer[start] = 0xda;
      buffer.writeUInt16BE(bytes, start + 1);
    } else {
      buffer[start] = 0xdb;
      buffer.writeUInt32BE(bytes, start + 1);
    }
    this.#length = start + header + bytes;
  }

  /** `count` bytes of `source` from `offset`, as bin 8. */
  binary(source: Uint8Array, offset: number, count: number): void {
    this.#reserve(2 + count);
    const buffer = this.#buffer;
    buffer[this.#length] = 0xc4;
    buffer[this.#length + 1] = count;
    for (let index = 0; index < count; index++) buffer[this.#length + 2 + index] = source[offset + index]!;
    this.#length += 2 + count;
  }

  number(value: number): void {
    this.#reserve(9);
    const buffer = this.#buffer;
    const at = this.#length;
    if (Number.isInteger(value) && value >= 0 && value < FLOAT64_LIMIT) {
      if (value < 0x80) {
        buffer[at] = value;
        this.#length = at + 1;
      } else if (value < 0x100) {
        buffer[at] = 0xcc;
        buffer[at + 1] = value;
        this.#length = at + 2;
      } else if (value < 0x10000) {
        buffer[at] = 0xcd;
        buffer.writeUInt16BE(value, at + 1);
        this.#length = at + 3;
      } else {
        buffer[at] = 0xce;
        buffer.writeUInt32BE(value, at + 1);
        this.#length = at + 5;
      }
      return;
    }
    buffer[at] = 0xcb;
    buffer.writeDoubleBE(value, at + 1);
    this.#length = at + 9;
  }

  #byte(value: number): void {
    this.#reserve(1);
    this.#buffer[this.#length++] = value;
  }

  #reserve(bytes: number): void {
    if (this.#length + bytes <= this.#buffer.length) return;
    const grown = Buffer.allocUnsafe(Math.max(this.#buffer.length * 2, this.#length + bytes));
    this.#buffer.copy(grown, 0, 0, this.#length);
    this.#buffer = grown;
  }
}

/**
 * The fast path for the payloads the engine reads most: transaction frames exactly as this project
 * (or the Rust store) writes them, read straight from the segment bytes.
 *
 * C1. The reader walks the bytes against the one layout the writers produce: members in their
 *     order, no whitespace, strings without escapes, integers within 2^53. It returns null at the
 *     first byte that differs, and the caller decodes the payload with the schema-directed reader
 *     (event-codec.ts), errors included. So the fast path only ever accepts a payload that the
 *     careful reader would decode to the same value.
 * C2. Metadata is the one free-form part: its text is read with JSON.parse and trusted only when
 *     re-encoding the result gives back the same text (an integer beyond 2^53, `1.0`, a repeated
 *     key, deep nesting: all return null).
 * C3. Strings are made from the bytes, not sliced out of a larger string, so a key kept in an
 *     index does not pin the whole payload in memory.
 */
import { parseTimestampUs } from '../core/time.js';
import { FNV_START, fnvStep, internedAt } from './interned-strings.js';
import type { DecodedPayload } from '../core/event-codec.js';
import type { Direction, JsonValue, Posting, Transaction } from '../core/types.js';

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const CANONICAL_METADATA_DEPTH_MAX = 64; // far inside the JSON reader's nesting limit

const literal = (text: string): Buffer => Buffer.from(text, 'latin1');
const SEQ_OPEN = literal('{"seq":');
const AT_OPEN = literal(',"at":"');
const EVENT_OPEN = literal('","event":{"kind":"transaction_posted","id":"');
const BOOK_OPEN = literal('","book":');
const POSTINGS_OPEN = literal(',"postings":[');
const POSTING_OPEN = literal('{"account":{"book":');
const PATH_OPEN = literal(',"path":');
const MINOR_OPEN = literal('},"amount":{"minor":');
const ASSET_OPEN = literal(',"asset":');
const DIRECTION_OPEN = literal('},"direction":"');
const DEBIT_CLOSE = literal('debit"}');
const CREDIT_CLOSE = literal('credit"}');
const KEY_OPEN = literal('],"idempotency_key":');
const REFS_OPEN = literal(',"external_refs":[');
const REF_OPEN = literal('{"kind":');
const VALUE_OPEN = literal(',"value":');
const METADATA_OPEN = literal('],"metadata":');
const NULL_METADATA = literal('null,"occurred_at":"');
const OCCURRED_OPEN = literal(',"occurred_at":"');
const EVENT_CLOSE = literal('}}'); // after the closing quote of occurred_at

const AT_BYTES = 27;
const TXID_CHARS = 36;
const SAFE_DIGITS = 15; // every integer of up to 15 digits is below 2^53

// The last `at` read, as bytes, text and microseconds; seeded with a real timestamp so that no
// payload can match the cache without being a valid one.
let lastAt = Buffer.from('1970-01-01T00:00:00.000000Z', 'latin1');
let lastAtText = '1970-01-01T00:00:00.000000Z';
let lastAtUs = 0;

class Cursor {
  constructor(
    readonly bytes: Buffer,
    public position: number,
    readonly end: number,
  ) {}

  /** Consumes `expected` if the bytes continue with it. */
  take(expected: Buffer): boolean {
    const { bytes, position } = this;
    if (position + expected.length > this.end) return false;
    for (let index = 0; index < expected.length; index++) {
      if (bytes[position + index] !== expected[index]) return false;
    }
    this.position = position + expected.length;
    return true;
  }

  /** A quoted string without escapes or control characters, or null. */
  string(): string | null {
    if (this.bytes[this.position] !== QUOTE) return null;
    this.position++;
    return this.stringBody();
  }

  /** The rest of a string whose opening quote is consumed; the closing one is consumed too. */
  stringBody(): string | null {
    const { bytes, end } = this;
    const start = this.position;
    let ascii = true;
    for (let position = start; position < end; position++) {
      const code = bytes[position]!;
      if (code === QUOTE) {
        this.position = position + 1;
        return ascii ? bytes.toString('latin1', start, position) : bytes.toString('utf8', start, position);
      }
      if (code === BACKSLASH || code < 0x20) return null;
      if (code >= 0x80) ascii = false;
    }
    return null;
  }

  /**
   * Like `string`, for the few values that repeat from event to event (book, account paths,
   * assets): a value seen recently comes back as the very same string, so replay neither
   * allocates it again nor hashes it again when it is looked up in a map.
   */
  internedString(): string | null {
    const { bytes, end } = this;
    if (bytes[this.position] !== QUOTE) return null;
    const start = this.position + 1;
    let hash = FNV_START;
    let ascii = true;
    let position = start;
    for (;; position++) {
      if (position >= end) return null;
      const code = bytes[position]!;
      if (code === QUOTE) break;
      if (code === BACKSLASH || code < 0x20) return null;
      if (code >= 0x80) ascii = false;
      hash = fnvStep(hash, code);
    }
    this.position = position + 1;
    return internedAt(bytes, start, position, hash, ascii);
  }

  /** An integer as the writers print it (no sign on zero, no leading zeros), within 15 digits. */
  integer(): number | null {
    const { bytes, end } = this;
    let position = this.position;
    const negative = bytes[position] === 0x2d;
    if (negative) position++;
    const first = position;
    let value = 0;
    while (position < end) {
      const code = bytes[position]!;
      if (code < 0x30 || code > 0x39) break;
      value = value * 10 + (code - 0x30);
      position++;
    }
    const digits = position - first;
    if (digits === 0 || digits > SAFE_DIGITS || (digits > 1 && bytes[first] === 0x30)) return null;
    if (negative && value === 0) return null;
    this.position = position;
    return negative ? -value : value;
  }
}

/** Decodes a canonical transaction payload held in `bytes[start, end)`, or returns null (C1). */
export function decodeCanonicalPayload(bytes: Buffer, start: number, end: number): DecodedPayload | null {
  const cursor = new Cursor(bytes, start, end);
  if (!cursor.take(SEQ_OPEN)) return null;
  const seq = cursor.integer();
  if (seq === null || seq < 1 || !cursor.take(AT_OPEN)) return null;
  const atStart = cursor.position;
  if (atStart + AT_BYTES > end) return null;
  cursor.position += AT_BYTES;
  let at: string;
  let atUs: number;
  if (bytes.compare(lastAt, 0, AT_BYTES, atStart, atStart + AT_BYTES) === 0) {
    at = lastAtText;
    atUs = lastAtUs;
  } else {
    at = bytes.toString('latin1', atStart, atStart + AT_BYTES);
    const us = CANONICAL_AT_PATTERN.test(at) ? parseTimestampUs(at) : null;
    if (us === null || !Number.isSafeInteger(us)) return null;
    lastAt = Buffer.from(bytes.subarray(atStart, atStart + AT_BYTES));
    lastAtText = at;
    lastAtUs = atUs = us;
  }
  if (!cursor.take(EVENT_OPEN)) return null;
  const idStart = cursor.position;
  if (idStart + TXID_CHARS > end || !isCanonicalTxid(bytes, idStart)) return null;
  const id = bytes.toString('latin1', idStart, idStart + TXID_CHARS);
  cursor.position += TXID_CHARS;
  if (!cursor.take(BOOK_OPEN)) return null;
  const book = cursor.internedString();
  if (book === null || !cursor.take(POSTINGS_OPEN)) return null;
  const postings: Posting[] = [];
  if (bytes[cursor.position] !== 0x5d) {
    do {
      const posting = readPosting(cursor);
      if (posting === null) return null;
      postings.push(posting);
    } while (cursor.take(COMMA));
  }
  if (!cursor.take(KEY_OPEN)) return null;
  const idempotencyKey = cursor.string();
  if (idempotencyKey === null || !cursor.take(REFS_OPEN)) return null;
  const externalRefs: Array<{ kind: string; value: string }> = [];
  if (bytes[cursor.position] !== 0x5d) {
    do {
      if (!cursor.take(REF_OPEN)) return null;
      const kind = cursor.string();
      if (kind === null || !cursor.take(VALUE_OPEN)) return null;
      const value = cursor.string();
      if (value === null || bytes[cursor.position++] !== 0x7d) return null;
      externalRefs.push({ kind, value });
    } while (cursor.take(COMMA));
  }
  if (!cursor.take(METADATA_OPEN)) return null;
  let metadata: JsonValue;
  if (cursor.take(NULL_METADATA)) metadata = null;
  else {
    const parsed = readMetadata(cursor);
    if (parsed === undefined) return null;
    metadata = parsed;
  }
  const occurredAt = cursor.stringBody();
  if (occurredAt === null || !cursor.take(EVENT_CLOSE) || cursor.position !== end) return null;
  const event: Transaction & { kind: 'transaction_posted' } = {
    kind: 'transaction_posted',
    id,
    book,
    postings,
    idempotency_key: idempotencyKey,
    external_refs: externalRefs,
    metadata,
    occurred_at: occurredAt,
  };
  return { seq, atUs, event: { seq, at, event } };
}

const COMMA = literal(',');
const CANONICAL_AT_PATTERN = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/;

function readPosting(cursor: Cursor): Posting | null {
  if (!cursor.take(POSTING_OPEN)) return null;
  const book = cursor.internedString();
  if (book === null || !cursor.take(PATH_OPEN)) return null;
  const path = cursor.internedString();
  if (path === null || !cursor.take(MINOR_OPEN)) return null;
  const minor = cursor.integer();
  if (minor === null || !cursor.take(ASSET_OPEN)) return null;
  const asset = cursor.internedString();
  if (asset === null || !cursor.take(DIRECTION_OPEN)) return null;
  let direction: Direction;
  if (cursor.take(DEBIT_CLOSE)) direction = 'debit';
  else if (cursor.take(CREDIT_CLOSE)) direction = 'credit';
  else return null;
  return { account: { book, path }, amount: { minor: BigInt(minor), asset }, direction };
}

/** Lowercase hex with hyphens at 8, 13, 18 and 23. */
function isCanonicalTxid(bytes: Buffer, start: number): boolean {
  for (let index = 0; index < TXID_CHARS; index++) {
    const code = bytes[start + index]!;
    if (index === 8 || index === 13 || index === 18 || index === 23) {
      if (code !== 0x2d) return false;
    } else if (!((code >= 0x30 && code <= 0x39) || (code >= 0x61 && code <= 0x66))) {
      return false;
    }
  }
  return true;
}

/**
 * Metadata other than null (C2). The payload ends with `,"occurred_at":"<text>"}}` and that text
 * holds no quote, so its opening quote is the last quote but one of the payload; the metadata is
 * everything between `"metadata":` and that member. Leaves the cursor inside the occurred_at
 * string. Undefined when the text is not canonical.
 */
function readMetadata(cursor: Cursor): JsonValue | undefined {
  const { bytes, end } = cursor;
  let quote = end - EVENT_CLOSE.length - 2; // the last character of the occurred_at text
  while (quote > cursor.position && bytes[quote] !== QUOTE) quote--;
  const metadataEnd = quote + 1 - OCCURRED_OPEN.length;
  if (metadataEnd <= cursor.position) return undefined;
  const text = bytes.toString('utf8', cursor.position, metadataEnd);
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (canonicalJson(parsed, 0) !== text) return undefined;
  cursor.position = metadataEnd;
  if (!cursor.take(OCCURRED_OPEN)) return undefined;
  return parsed as JsonValue;
}

/**
 * Re-encodes a JSON.parse result as the writers print it, or null for a value the careful reader
 * would represent differently (an integer beyond 2^53 is a bigint there) or might refuse.
 */
function canonicalJson(value: unknown, depth: number): string | null {
  switch (typeof value) {
    case 'string':
      return value.isWellFormed() ? JSON.stringify(value) : null; // the careful reader refuses lone surrogates
    case 'number':
      if (Number.isInteger(value) && !Number.isSafeInteger(value)) return null;
      return JSON.stringify(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'object':
      break;
    default:
      return null;
  }
  if (value === null) return 'null';
  if (depth >= CANONICAL_METADATA_DEPTH_MAX) return null;
  let out: string;
  if (Array.isArray(value)) {
    out = '[';
    for (let index = 0; index < value.length; index++) {
      const item = canonicalJson(value[index], depth + 1);
      if (item === null) return null;
      out += index > 0 ? `,${item}` : item;
    }
    return `${out}]`;
  }
  out = '{';
  let first = true;
  for (const key in value as Record<string, unknown>) {
    const item = canonicalJson((value as Record<string, unknown>)[key], depth + 1);
    if (item === null || !key.isWellFormed()) return null;
    out += `${first ? '' : ','}${JSON.stringify(key)}:${item}`;
    first = false;
  }
  return `${out}}`;
}

/**
 * Bigint-safe JSON (spec/log-engine.md, section 3.8; spec/store-contract.md, section 5.5).
 *
 * J1. Writing: a bigint is written as its decimal digits (a JSON number, never a string); numbers
 *     and strings exactly as JSON.stringify writes them.
 * J2. Reading: an integer token is a `number` when it is a safe integer and a `bigint` otherwise;
 *     a token with a fraction or exponent is a `number`. Nothing is ever rounded silently.
 * J3. Object keys such as `__proto__` become ordinary own properties; a repeated key keeps the
 *     last value, as JSON.parse and serde_json do.
 * J4. The reader never throws anything but JsonSyntaxError, whatever the input.
 *
 * JsonReader also serves the schema-directed event decoder (event-codec.ts), which needs the raw
 * number tokens and member positions that JSON.parse hides.
 */
import type { JsonValue } from './types.js';

export class JsonSyntaxError extends Error {
  override readonly name = 'JsonSyntaxError';
  constructor(
    message: string,
    readonly position: number,
  ) {
    super(`${message} at character ${position}`);
  }
}

const QUOTE = 0x22;

const BACKSLASH = 0x5c;
/** Below this length V8 copies a slice or a concatenation; from it on, it makes a view of its parts. */
const SLICE_VIEW_LENGTH_MIN = 13;
const MINUS = 0x2d;
const PLUS = 0x2b;
const DOT = 0x2e;
const ZERO = 0x30;
const NINE = 0x39;
const LOWER_E = 0x65;
const UPPER_E = 0x45;

/** A number token: its text and whether it was written without fraction or exponent. */
export interface NumberToken {
  text: string;
  integer: boolean;
}

/**
 * Deepest nesting of arrays and objects the reader accepts, so deep input fails with a
 * JsonSyntaxError (J4) instead of overflowing the stack. serde_json refuses the same depth, so the
 * Rust store could not read such a document either; metadata is capped lower (METADATA_DEPTH_MAX).
 */
const NESTING_DEPTH_MAX = 128;

export class JsonReader {
  position = 0;
  private depth = 0;

  constructor(readonly text: string) {}

  fail(message: string): never {
    throw new JsonSyntaxError(message, this.position);
  }

  skipWhitespace(): void {
    const text = this.text;
    let position = this.position;
    for (;;) {
      const code = text.charCodeAt(position);
      if (code === 0x20 || code === 0x0a || code === 0x0d || code === 0x09) position++;
      else break;
    }
    this.position = position;
  }

  /** The next non-whitespace character code, not consumed (NaN at the end). */
  peek(): number {
    this.skipWhitespace();
    return this.text.charCodeAt(this.position);
  }

  expect(code: number): void {
    if (this.peek() !== code) this.fail(`expected '${String.fromCharCode(code)}'`);
    this.position++;
  }

  /** Consumes `code` if it is next; returns whether it did. */
  accept(code: number): boolean {
    if (this.peek() !== code) return false;
    this.position++;
    return true;
  }

  expectEnd(): void {
    this.skipWhitespace();
    if (this.position !== this.text.length) this.fail('unexpected data after the value');
  }

  /**
   * Reads a string. `owned`: the result never shares the text's memory. A slice of 13 or more
   * characters is otherwise a view that keeps the whole text alive, and a string kept in a
   * long-lived index (an account path, an idempotency key) must not pin its event's payload.
   */
  readString(owned = false): string {
    this.expect(QUOTE);
    const text = this.text;
    const start = this.position;
    let position = start;
    // Fast path: no escapes.
    for (;;) {
      const code = text.charCodeAt(position);
      if (code === QUOTE) {
        this.position = position + 1;
        if (!owned || position - start < SLICE_VIEW_LENGTH_MIN) return text.slice(start, position);
        return JSON.parse(text.slice(start - 1, position + 1)) as string; // a fresh copy
      }
      if (code === BACKSLASH) break;
      if (code < 0x20 || Number.isNaN(code)) {
        this.position = position;
        this.fail(Number.isNaN(code) ? 'unterminated string' : 'control character in string');
      }
      position++;
    }
    let value = text.slice(start, position);
    let escapedUnicode = false;
    for (;;) {
      const code = text.charCodeAt(position);
      if (code === QUOTE) break;
      if (Number.isNaN(code)) {
        this.position = position;
        this.fail('unterminated string');
      }
      if (code < 0x20) {
        this.position = position;
        this.fail('control character in string');
      }
      if (code !== BACKSLASH) {
        const runStart = position;
        while (position < text.length) {
          const next = text.charCodeAt(position);
          if (next === QUOTE || next === BACKSLASH || next < 0x20) break;
          position++;
        }
        value += text.slice(runStart, position);
        continue;
      }
      const escape = text[position + 1];
      position += 2;
      switch (escape) {
        case '"': value += '"'; break;
        case '\\': value += '\\'; break;
        case '/': value += '/'; break;
        case 'b': value += '\b'; break;
        case 'f': value += '\f'; break;
        case 'n': value += '\n'; break;
        case 'r': value += '\r'; break;
        case 't': value += '\t'; break;
        case 'u': {
          const hex = text.slice(position, position + 4);
          if (!/^[0-9a-fA-F]{4}$/.test(hex)) {
            this.position = position;
            this.fail('bad \\u escape');
          }
          value += String.fromCharCode(parseInt(hex, 16));
          position += 4;
          escapedUnicode = true;
          break;
        }
        default:
          this.position = position - 2;
          this.fail('bad escape');
      }
    }
    this.position = position + 1;
    // A lone surrogate can only come from a \u escape; serde_json refuses it, and so do we.
    if (escapedUnicode && !value.isWellFormed()) this.fail('lone surrogate in string');
    if (!owned || value.length < SLICE_VIEW_LENGTH_MIN) return value;
    return JSON.parse(JSON.stringify(value)) as string; // a rope of slices: copy it whole
  }

  readNumberToken(): NumberToken {
    this.skipWhitespace();
    const text = this.text;
    const start = this.position;
    let position = start;
    let integer = true;
    if (text.charCodeAt(position) === MINUS) position++;
    const firstDigit = text.charCodeAt(position);
    if (firstDigit === ZERO) {
      position++;
    } else if (firstDigit > ZERO && firstDigit <= NINE) {
      while (isDigit(text.charCodeAt(position))) position++;
    } else {
      this.position = position;
      this.fail('expected a number');
    }
    if (text.charCodeAt(position) === DOT) {
      integer = false;
      position++;
      if (!isDigit(text.charCodeAt(position))) {
        this.position = position;
        this.fail('expected a digit after the decimal point');
      }
      while (isDigit(text.charCodeAt(position))) position++;
    }
    const exponent = text.charCodeAt(position);
    if (exponent === LOWER_E || exponent === UPPER_E) {
      integer = false;
      position++;
      const sign = text.charCodeAt(position);
      if (sign === PLUS || sign === MINUS) position++;
      if (!isDigit(text.charCodeAt(position))) {
        this.position = position;
        this.fail('expected a digit in the exponent');
      }
      while (isDigit(text.charCodeAt(position))) position++;
    }
    this.position = position;
    return { text: text.slice(start, position), integer };
  }

  /** Reads any JSON value with the number rules of J2. */
  readValue(): JsonValue {
    const code = this.peek();
    switch (code) {
      case 0x7b: // {
        return this.readObject();
      case 0x5b: // [
        return this.readArray();
      case QUOTE:
        return this.readString();
      case 0x74: // t
        return this.readLiteral('true', true);
      case 0x66: // f
        return this.readLiteral('false', false);
      case 0x6e: // n
        return this.readLiteral('null', null);
      default:
        return this.readNumber();
    }
  }

  readNumber(): number | bigint {
    const token = this.readNumberToken();
    if (token.integer) {
      const value = Number(token.text);
      if (Number.isSafeInteger(value)) return value === 0 ? 0 : value; // -0 reads as 0
      return BigInt(token.text);
    }
    const value = Number(token.text);
    if (!Number.isFinite(value)) this.fail('number out of range');
    return value === 0 ? 0 : value;
  }

  private readLiteral<T>(word: string, value: T): T {
    if (!this.text.startsWith(word, this.position)) this.fail('unexpected token');
    this.position += word.length;
    return value;
  }

  private readArray(): JsonValue[] {
    this.expect(0x5b);
    this.enterNesting();
    const items: JsonValue[] = [];
    if (!this.accept(0x5d)) {
      do {
        items.push(this.readValue());
      } while (this.accept(0x2c));
      this.expect(0x5d);
    }
    this.depth--;
    return items;
  }

  private enterNesting(): void {
    if (++this.depth > NESTING_DEPTH_MAX) this.fail(`nested deeper than ${NESTING_DEPTH_MAX} levels`);
  }

  private readObject(): { [key: string]: JsonValue } {
    this.enterNesting();
    const object: { [key: string]: JsonValue } = {};
    this.readMembers((key) => {
      const value = this.readValue();
      if (key === '__proto__') {
        Object.defineProperty(object, key, { value, enumerable: true, writable: true, configurable: true });
      } else {
        object[key] = value;
      }
    });
    this.depth--;
    return object;
  }

  /** Reads `{ "key": value, ... }`, calling `onMember` with the reader positioned at each value. */
  readMembers(onMember: (key: string) => void): void {
    this.expect(0x7b);
    if (this.accept(0x7d)) return;
    do {
      const key = this.readString();
      this.expect(0x3a);
      onMember(key);
    } while (this.accept(0x2c));
    this.expect(0x7d);
  }

  /** Skips one value, checking its syntax. */
  skipValue(): void {
    this.readValue();
  }
}

function isDigit(code: number): boolean {
  return code >= ZERO && code <= NINE;
}

/** Parses a whole JSON text with the rules J2 and J3. Throws JsonSyntaxError. */
export function parseJson(text: string): JsonValue {
  const reader = new JsonReader(text);
  const value = reader.readValue();
  reader.expectEnd();
  return value;
}

/**
 * Writes a JSON value (J1). The value must already be valid JSON data (see validateJsonValue):
 * finite numbers, well-formed strings, plain objects, no cycles.
 */
export function stringifyJson(value: JsonValue): string {
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value);
    case 'number':
      // JSON.stringify(2 ** 60) is "1152921504606847000", which the reader (J2) would take as a
      // different integer; write such numbers' exact digits (store-contract 5.5: 2 ** 60 comes back
      // as 1152921504606846976n). JSON.parse reads either text as the same double.
      if (!Number.isSafeInteger(value) && Number.isInteger(value) && Math.abs(value) < 1e21) return BigInt(value).toString();
      return JSON.stringify(value);
    case 'bigint':
      return value.toString();
    case 'boolean':
      return value ? 'true' : 'false';
    default:
      break;
  }
  if (value === null) return 'null';
  if (Array.isArray(value)) {
    let out = '[';
    for (let index = 0; index < value.length; index++) {
      if (index > 0) out += ',';
      out += stringifyJson(value[index] as JsonValue);
    }
    return `${out}]`;
  }
  let out = '{';
  let first = true;
  for (const key of Object.keys(value)) {
    if (!first) out += ',';
    first = false;
    out += `${JSON.stringify(key)}:${stringifyJson(value[key] as JsonValue)}`;
  }
  return `${out}}`;
}

/** Deep equality of normalised JSON values: same types, key order ignored. */
export function jsonEqual(left: JsonValue, right: JsonValue): boolean {
  if (left === right) return true;
  if (typeof left !== typeof right) return false;
  if (typeof left !== 'object' || left === null || right === null || typeof right !== 'object') return false;
  if (Array.isArray(left)) {
    if (!Array.isArray(right) || left.length !== right.length) return false;
    for (let index = 0; index < left.length; index++) {
      if (!jsonEqual(left[index] as JsonValue, right[index] as JsonValue)) return false;
    }
    return true;
  }
  if (Array.isArray(right)) return false;
  const leftKeys = Object.keys(left);
  if (leftKeys.length !== Object.keys(right).length) return false;
  for (const key of leftKeys) {
    if (!Object.prototype.hasOwnProperty.call(right, key)) return false;
    if (!jsonEqual(left[key] as JsonValue, right[key] as JsonValue)) return false;
  }
  return true;
}

/**
 * A deep copy of a JSON value (bigints included) that shares no object with it: what
 * structuredClone gives for these values, at a fifth of its cost. Keys keep their order, and
 * `__proto__` stays an own property (J3).
 */
export function copyJson<T extends JsonValue>(value: T): T {
  if (value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) {
    const items = new Array<JsonValue>(value.length);
    for (let index = 0; index < value.length; index++) items[index] = copyJson(value[index] as JsonValue);
    return items as T;
  }
  const copy: Record<string, JsonValue> = {};
  for (const key of Object.keys(value)) {
    const item = copyJson(value[key] as JsonValue);
    if (key === '__proto__') Object.defineProperty(copy, key, { value: item, enumerable: true, writable: true, configurable: true });
    else copy[key] = item;
  }
  return copy as T;
}

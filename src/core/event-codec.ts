/**
 * The event JSON of the store contract (spec/store-contract.md, section 5), byte-compatible with
 * the Rust store's serde encoding.
 *
 * E1. Written compact, fields in the reference's declaration order, optional values as `null`.
 * E2. i64 fields (`minor`, `min_balance`) are written as JSON numbers and read exactly as bigint;
 *     `seq` must be a safe integer >= 1 and `precision` an integer 0..255.
 * E3. Readers accept any member order and whitespace and ignore unknown members; a missing required
 *     member, a wrong type, an unknown tag or a repeated member of a fixed-shape object is an
 *     EventDecodeError. Missing `native_id`, `normal_side` and `min_balance` read as null.
 * E4. `at` is read with 0-9 fractional digits and any offset, and returned with exactly 6.
 *     `occurred_at` is kept verbatim.
 */
import { JsonReader, JsonSyntaxError, stringifyJson } from './json.js';
import { formatAtUs, parseTimestampUs } from './time.js';
import {
  ACCOUNT_KINDS,
  I64_MAX,
  I64_MIN,
  type AccountCfg,
  type AccountDef,
  type AccountId,
  type AccountKind,
  type AssetClass,
  type AssetDef,
  type Direction,
  type ExternalRef,
  type JsonValue,
  type LedgerEvent,
  type Posting,
  type SequencedEvent,
  type Transaction,
} from './types.js';

/** A payload that is not a valid event: syntax, shape or range. */
export class EventDecodeError extends Error {
  override readonly name = 'EventDecodeError';
}

/**
 * A string as JSON text: JSON.stringify's output, built without calling it when nothing needs
 * escaping (no quote, backslash, control character or surrogate), which is every name, key and
 * timestamp of an ordinary event. Measured: about half the cost per call for short strings, and an
 * event has a dozen of them.
 */
function str(text: string): string {
  for (let index = 0; index < text.length; index++) {
    const code = text.charCodeAt(index);
    if (code < 0x20 || code === 0x22 || code === 0x5c || (code >= 0xd800 && code <= 0xdfff)) return JSON.stringify(text);
  }
  return `"${text}"`;
}

/** Txids on disk are canonical: lowercase, hyphenated, 36 characters (as both writers emit them). */
const CANONICAL_UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** `at` as this project writes it: UTC, exactly six fractional digits. */
const CANONICAL_AT_PATTERN = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/;

// ---------------------------------------------------------------------------------------------
// Writing

function encodeAccountId(id: AccountId): string {
  return `{"book":${str(id.book)},"path":${str(id.path)}}`;
}

function encodeAssetClass(assetClass: AssetClass): string {
  if (assetClass === 'fiat') return '"fiat"';
  const { network, native_id } = assetClass.crypto;
  return `{"crypto":{"network":${str(network)},"native_id":${native_id === null ? 'null' : str(native_id)}}}`;
}

export function encodeAssetRegistered(def: AssetDef): string {
  return `{"kind":"asset_registered","id":${str(def.id)},"class":${encodeAssetClass(def.class)},"precision":${def.precision},"name":${str(def.name)}}`;
}

export function encodeAccountOpened(def: AccountDef, cfg: AccountCfg): string {
  const normalSide = cfg.normal_side === null ? 'null' : str(cfg.normal_side);
  const minBalance = cfg.min_balance === null ? 'null' : cfg.min_balance.toString();
  return (
    `{"kind":"account_opened","def":{"id":${encodeAccountId(def.id)},"asset":${str(def.asset)},"kind":${str(def.kind)}}` +
    `,"cfg":{"normal_side":${normalSide},"min_balance":${minBalance}}}`
  );
}

/** `metadataJson` may be passed when the caller already holds the metadata's encoding. */
export function encodeTransactionPosted(tx: Transaction, metadataJson?: string): string {
  let postings = '';
  for (let index = 0; index < tx.postings.length; index++) {
    const posting = tx.postings[index] as Posting;
    if (index > 0) postings += ',';
    postings +=
      `{"account":${encodeAccountId(posting.account)},"amount":{"minor":${posting.amount.minor.toString()},` +
      `"asset":${str(posting.amount.asset)}},"direction":"${posting.direction}"}`;
  }
  let refs = '';
  for (let index = 0; index < tx.external_refs.length; index++) {
    const ref = tx.external_refs[index] as ExternalRef;
    if (index > 0) refs += ',';
    refs += `{"kind":${str(ref.kind)},"value":${str(ref.value)}}`;
  }
  return (
    `{"kind":"transaction_posted","id":${str(tx.id)},"book":${str(tx.book)},"postings":[${postings}]` +
    `,"idempotency_key":${str(tx.idempotency_key)},"external_refs":[${refs}]` +
    `,"metadata":${metadataJson ?? stringifyJson(tx.metadata)},"occurred_at":${str(tx.occurred_at)}}`
  );
}

export function encodeEvent(event: LedgerEvent): string {
  switch (event.kind) {
    case 'asset_registered':
      return encodeAssetRegistered(event);
    case 'account_opened':
      return encodeAccountOpened(event.def, event.cfg);
    case 'transaction_posted':
      return encodeTransactionPosted(event);
  }
}

/** The frame payload: `{"seq":…,"at":"…","event":…}` around an already encoded event. */
export function encodeSequencedPayload(seq: number, at: string, eventJson: string): string {
  return `{"seq":${seq},"at":"${at}","event":${eventJson}}`;
}

// ---------------------------------------------------------------------------------------------
// Reading

function shapeError(message: string): never {
  throw new EventDecodeError(message);
}

/** Reads a fixed-shape object: each member once, through `readMember`; unknown members skipped. */
function readFixed(reader: JsonReader, what: string, readMember: (key: string) => boolean): void {
  const seen = new Set<string>();
  reader.readMembers((key) => {
    if (seen.has(key)) shapeError(`repeated member "${key}" in ${what}`);
    seen.add(key);
    if (!readMember(key)) reader.skipValue();
  });
}

/** `owned` for the strings a book keeps in its indexes (paths, idempotency keys): see JsonReader#readString. */
function readStringValue(reader: JsonReader, field: string, owned = false): string {
  if (reader.peek() !== 0x22) shapeError(`${field} must be a string`);
  return reader.readString(owned);
}

function readNullableString(reader: JsonReader, field: string): string | null {
  if (reader.peek() === 0x6e) {
    reader.readValue();
    return null;
  }
  return readStringValue(reader, field);
}

function readIntegerToken(reader: JsonReader, field: string): string {
  const code = reader.peek();
  if (code !== 0x2d && !(code >= 0x30 && code <= 0x39)) shapeError(`${field} must be an integer`);
  const token = reader.readNumberToken();
  if (!token.integer) shapeError(`${field} must be an integer`);
  return token.text;
}

function readI64(reader: JsonReader, field: string): bigint {
  const value = BigInt(readIntegerToken(reader, field));
  if (value < I64_MIN || value > I64_MAX) shapeError(`${field} is outside the i64 range`);
  return value;
}

function readSeq(reader: JsonReader): number {
  const value = Number(readIntegerToken(reader, 'seq'));
  if (!Number.isSafeInteger(value) || value < 1) shapeError('seq must be a safe integer >= 1');
  return value;
}

function readDirection(reader: JsonReader, field: string): Direction {
  const value = readStringValue(reader, field);
  if (value !== 'debit' && value !== 'credit') shapeError(`${field} must be "debit" or "credit"`);
  return value;
}

function readAccountId(reader: JsonReader, field: string): AccountId {
  let book: string | undefined;
  let path: string | undefined;
  readFixed(reader, field, (key) => {
    if (key === 'book') book = readStringValue(reader, `${field}.book`);
    else if (key === 'path') path = readStringValue(reader, `${field}.path`, true);
    else return false;
    return true;
  });
  if (book === undefined || path === undefined) shapeError(`${field} needs book and path`);
  return { book, path };
}

function readAssetClass(reader: JsonReader): AssetClass {
  if (reader.peek() === 0x22) {
    const tag = reader.readString();
    if (tag !== 'fiat') shapeError(`unknown asset class "${tag}"`);
    return 'fiat';
  }
  let crypto: AssetClass | undefined;
  let members = 0;
  readFixed(reader, 'class', (key) => {
    members++;
    if (key !== 'crypto') shapeError(`unknown asset class "${key}"`);
    let network: string | undefined;
    let nativeId: string | null = null;
    readFixed(reader, 'class.crypto', (member) => {
      if (member === 'network') network = readStringValue(reader, 'class.crypto.network');
      else if (member === 'native_id') nativeId = readNullableString(reader, 'class.crypto.native_id');
      else return false;
      return true;
    });
    if (network === undefined) shapeError('class.crypto needs network');
    crypto = { crypto: { network, native_id: nativeId } };
    return true;
  });
  if (crypto === undefined || members !== 1) shapeError('class must be "fiat" or {"crypto":{...}}');
  return crypto;
}

function readArray<T>(reader: JsonReader, field: string, readItem: (index: number) => T): T[] {
  if (reader.peek() !== 0x5b) shapeError(`${field} must be an array`);
  reader.expect(0x5b);
  const items: T[] = [];
  if (reader.accept(0x5d)) return items;
  do {
    items.push(readItem(items.length));
  } while (reader.accept(0x2c));
  reader.expect(0x5d);
  return items;
}

function readPosting(reader: JsonReader, field: string): Posting {
  let account: AccountId | undefined;
  let minor: bigint | undefined;
  let asset: string | undefined;
  let direction: Direction | undefined;
  readFixed(reader, field, (key) => {
    if (key === 'account') account = readAccountId(reader, `${field}.account`);
    else if (key === 'direction') direction = readDirection(reader, `${field}.direction`);
    else if (key === 'amount') {
      if (reader.peek() !== 0x7b) shapeError(`${field}.amount must be an object`);
      readFixed(reader, `${field}.amount`, (member) => {
        if (member === 'minor') minor = readI64(reader, `${field}.amount.minor`);
        else if (member === 'asset') asset = readStringValue(reader, `${field}.amount.asset`);
        else return false;
        return true;
      });
    } else return false;
    return true;
  });
  if (account === undefined || minor === undefined || asset === undefined || direction === undefined) {
    shapeError(`${field} needs account, amount.minor, amount.asset and direction`);
  }
  return { account, amount: { minor, asset }, direction };
}

function readExternalRef(reader: JsonReader, field: string): ExternalRef {
  let kind: string | undefined;
  let value: string | undefined;
  readFixed(reader, field, (key) => {
    if (key === 'kind') kind = readStringValue(reader, `${field}.kind`);
    else if (key === 'value') value = readStringValue(reader, `${field}.value`);
    else return false;
    return true;
  });
  if (kind === undefined || value === undefined) shapeError(`${field} needs kind and value`);
  return { kind, value };
}

function readObjectStart(reader: JsonReader, field: string): void {
  if (reader.peek() !== 0x7b) shapeError(`${field} must be an object`);
}

/**
 * Reads one event object. Members are located first and decoded once `kind` is known, because a
 * foreign writer may put `kind` anywhere.
 */
function readEvent(reader: JsonReader): LedgerEvent {
  readObjectStart(reader, 'event');
  const positions = new Map<string, number>();
  reader.readMembers((key) => {
    if (positions.has(key)) shapeError(`repeated member "${key}" in event`);
    positions.set(key, reader.position);
    reader.skipValue();
  });
  const end = reader.position;
  const at = (key: string): JsonReader => {
    const position = positions.get(key);
    if (position === undefined) shapeError(`event needs "${key}"`);
    reader.position = position;
    return reader;
  };
  const kind = readStringValue(at('kind'), 'kind');
  let event: LedgerEvent;
  switch (kind) {
    case 'asset_registered': {
      const id = readStringValue(at('id'), 'id');
      const assetClass = readAssetClass(at('class'));
      const precisionText = readIntegerToken(at('precision'), 'precision');
      const precision = Number(precisionText);
      if (!(precision >= 0 && precision <= 255)) shapeError('precision must be 0..255');
      const name = readStringValue(at('name'), 'name');
      event = { kind, id, class: assetClass, precision, name };
      break;
    }
    case 'account_opened': {
      let accountId: AccountId | undefined;
      let asset: string | undefined;
      let accountKind: AccountKind | undefined;
      readObjectStart(at('def'), 'def');
      readFixed(reader, 'def', (key) => {
        if (key === 'id') accountId = readAccountId(reader, 'def.id');
        else if (key === 'asset') asset = readStringValue(reader, 'def.asset');
        else if (key === 'kind') {
          const value = readStringValue(reader, 'def.kind');
          if (!(ACCOUNT_KINDS as readonly string[]).includes(value)) shapeError(`unknown account kind "${value}"`);
          accountKind = value as AccountKind;
        } else return false;
        return true;
      });
      if (accountId === undefined || asset === undefined || accountKind === undefined) {
        shapeError('def needs id, asset and kind');
      }
      let normalSide: Direction | null = null;
      let minBalance: bigint | null = null;
      readObjectStart(at('cfg'), 'cfg');
      readFixed(reader, 'cfg', (key) => {
        if (key === 'normal_side') {
          if (reader.peek() === 0x6e) reader.readValue();
          else normalSide = readDirection(reader, 'cfg.normal_side');
        } else if (key === 'min_balance') {
          if (reader.peek() === 0x6e) reader.readValue();
          else minBalance = readI64(reader, 'cfg.min_balance');
        } else return false;
        return true;
      });
      event = {
        kind,
        def: { id: accountId, asset, kind: accountKind },
        cfg: { normal_side: normalSide, min_balance: minBalance },
      };
      break;
    }
    case 'transaction_posted': {
      const id = readStringValue(at('id'), 'id');
      if (!CANONICAL_UUID_PATTERN.test(id)) shapeError(`id ${JSON.stringify(id)} is not a lowercase hyphenated UUID`);
      const book = readStringValue(at('book'), 'book');
      const postings = readArray(at('postings'), 'postings', (index) => readPosting(reader, `postings[${index}]`));
      const idempotencyKey = readStringValue(at('idempotency_key'), 'idempotency_key', true);
      const externalRefs = readArray(at('external_refs'), 'external_refs', (index) =>
        readExternalRef(reader, `external_refs[${index}]`),
      );
      const metadata: JsonValue = at('metadata').readValue();
      const occurredAt = readStringValue(at('occurred_at'), 'occurred_at');
      event = {
        kind,
        id,
        book,
        postings,
        idempotency_key: idempotencyKey,
        external_refs: externalRefs,
        metadata,
        occurred_at: occurredAt,
      };
      break;
    }
    default:
      shapeError(`unknown event kind "${kind}"`);
  }
  reader.position = end;
  return event;
}

/** Decodes a whole event JSON text. Throws EventDecodeError. */
export function decodeEvent(text: string): LedgerEvent {
  return withDecodeErrors(() => {
    const reader = new JsonReader(text);
    const event = readEvent(reader);
    reader.expectEnd();
    return event;
  });
}

/** The definition in a stored `asset_registered` event's JSON (a database store's row). */
export function decodeAssetDef(text: string): AssetDef {
  const event = decodeEvent(text);
  if (event.kind !== 'asset_registered') throw new EventDecodeError(`expected an asset_registered event, got ${event.kind}`);
  const { kind: _kind, ...def } = event;
  return def;
}

/** The transaction in a stored `transaction_posted` event's JSON (a database store's row). */
export function decodeTransaction(text: string): Transaction {
  const event = decodeEvent(text);
  if (event.kind !== 'transaction_posted') throw new EventDecodeError(`expected a transaction_posted event, got ${event.kind}`);
  const { kind: _kind, ...transaction } = event;
  return transaction;
}

/** The decoded frame payload, with `at` also as microseconds. */
export interface DecodedPayload {
  seq: number;
  atUs: number;
  event: SequencedEvent;
}

/** Decodes a frame payload `{"seq":…,"at":"…","event":…}`. Throws EventDecodeError. */
export function decodeSequencedPayload(text: string): DecodedPayload {
  return withDecodeErrors(() => {
    const reader = new JsonReader(text);
    let seq: number | undefined;
    let atUs: number | undefined;
    let atText = '';
    let event: LedgerEvent | undefined;
    readObjectStart(reader, 'payload');
    readFixed(reader, 'payload', (key) => {
      if (key === 'seq') seq = readSeq(reader);
      else if (key === 'at') {
        const text = readStringValue(reader, 'at');
        const us = parseTimestampUs(text);
        if (us === null || !Number.isSafeInteger(us)) shapeError(`at ${JSON.stringify(text)} is not a timestamp`);
        atUs = us;
        atText = text;
      } else if (key === 'event') event = readEvent(reader);
      else return false;
      return true;
    });
    reader.expectEnd();
    if (seq === undefined || atUs === undefined || event === undefined) shapeError('payload needs seq, at and event');
    // This project writes `at` in its canonical 27-character form: reuse the string as it is.
    return { seq, atUs, event: { seq, at: atText.length === 27 && CANONICAL_AT_PATTERN.test(atText) ? atText : formatAtUs(atUs), event } };
  });
}

function withDecodeErrors<T>(decode: () => T): T {
  try {
    return decode();
  } catch (error) {
    if (error instanceof EventDecodeError) throw error;
    if (error instanceof JsonSyntaxError) throw new EventDecodeError(`json: ${error.message}`);
    throw error;
  }
}

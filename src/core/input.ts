/**
 * Validation and normalisation of caller input (spec/store-contract.md, sections 3, 5.5, 6.1, 7, 8.3).
 *
 * V1. Checks run in the contract's precedence: the book field's type, then INVALID_BOOK, then the
 *     rest of the shape. The first bad field decides, and the error's `field` names it.
 * V2. The result is a fresh, normalised copy that shares nothing with the caller's objects: i64
 *     fields as bigint, txids in lowercase, missing optional fields as null, metadata passed
 *     through the JSON codec.
 * V3. Every string is well-formed UTF-16, and the encoded event fits EVENT_BYTES_MAX.
 * V4. Nothing here touches store state; the store runs its own checks on the clean value.
 * V5. Unknown fields are refused (see onlyFields).
 */
import { isReservedBook, isValidBookName } from './book-name.js';
import { StoreError } from './errors.js';
import {
  encodeAccountOpened,
  encodeAssetRegistered,
  encodeTransactionPosted,
} from './event-codec.js';
import { stringifyJson } from './json.js';
import { EVENT_BYTES_MAX, METADATA_DEPTH_MAX } from './limits.js';
import { isRfc3339 } from './time.js';
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
  type Posting,
  type Transaction,
} from './types.js';

type Fields = Record<string, unknown>;

function invalid(field: string, problem: string): never {
  throw StoreError.invalidArgument(field, problem);
}

function objectField(value: unknown, field: string): Fields {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) invalid(field, 'must be an object');
  return value as Fields;
}

export function stringField(value: unknown, field: string): string {
  if (typeof value !== 'string') invalid(field, 'must be a string');
  if (!value.isWellFormed()) invalid(field, 'contains a lone surrogate');
  return value;
}

/**
 * An account path, asset id or idempotency key: a string without U+0000 (contract amendment A1;
 * a database text column cannot hold NUL, so no store accepts it).
 */
export function keyField(value: unknown, field: string): string {
  const text = stringField(value, field);
  if (text.includes('\0')) invalid(field, 'contains U+0000');
  return text;
}

function nullableStringField(value: unknown, field: string): string | null {
  return value === undefined || value === null ? null : stringField(value, field);
}

/** A bigint inside i64, or a safe-integer number (converted). Anything else is INVALID_ARGUMENT. */
export function i64Field(value: unknown, field: string): bigint {
  if (typeof value === 'bigint') {
    if (value < I64_MIN || value > I64_MAX) invalid(field, 'is outside the i64 range');
    return value;
  }
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value)) invalid(field, 'must be a bigint or a safe integer number');
    return BigInt(value);
  }
  return invalid(field, 'must be a bigint or a safe integer number');
}

function directionField(value: unknown, field: string): Direction {
  if (value !== 'debit' && value !== 'credit') invalid(field, 'must be "debit" or "credit"');
  return value;
}

/**
 * V5. A write's objects hold only the contract's fields: an unknown own or inherited enumerable
 *     field is INVALID_ARGUMENT naming it (a misspelt or extra field would otherwise vanish
 *     silently from a ledger). It is checked after the object's known fields. Symbol keys and
 *     non-enumerable properties are not fields and are ignored, in metadata too.
 */
function onlyFields(value: Fields, known: readonly string[], field: string): void {
  for (const key in value) {
    if (!known.includes(key)) invalid(field === '' ? key : `${field}.${key}`, 'is not a field of this object');
  }
}

const TRANSACTION_FIELDS = ['id', 'book', 'postings', 'idempotency_key', 'external_refs', 'metadata', 'occurred_at'] as const;
const POSTING_FIELDS = ['account', 'amount', 'direction'] as const;
const ACCOUNT_ID_FIELDS = ['book', 'path'] as const;
const AMOUNT_FIELDS = ['minor', 'asset'] as const;
const EXTERNAL_REF_FIELDS = ['kind', 'value'] as const;
const ASSET_FIELDS = ['id', 'class', 'precision', 'name'] as const;
const CRYPTO_CLASS_FIELDS = ['crypto'] as const;
const CRYPTO_FIELDS = ['network', 'native_id'] as const;
const ACCOUNT_DEF_FIELDS = ['id', 'asset', 'kind'] as const;
const ACCOUNT_CFG_FIELDS = ['normal_side', 'min_balance'] as const;

function arrayField(value: unknown, field: string): unknown[] {
  if (!Array.isArray(value)) invalid(field, 'must be an array');
  return value;
}

function checkEventSize(eventJson: string, field: string): void {
  // A UTF-8 byte count is at most 3 × the UTF-16 length; only measure when it could matter.
  if (eventJson.length * 3 <= EVENT_BYTES_MAX) return;
  const bytes = Buffer.byteLength(eventJson, 'utf8');
  if (bytes > EVENT_BYTES_MAX) invalid(field, `the event is ${bytes} bytes, above the limit of ${EVENT_BYTES_MAX}`);
}

/** Book names. `write` adds the reserved-name rule. */
export function checkBook(book: unknown, field: string, write: boolean): string {
  if (typeof book !== 'string') invalid(field, 'must be a string');
  if (!isValidBookName(book)) throw StoreError.invalidBook(book, 'pattern');
  if (write && isReservedBook(book)) throw StoreError.invalidBook(book, 'reserved');
  return book;
}

/** The account argument of a read: its type, its book's pattern, then its path. */
export function accountArgument(value: unknown): AccountId {
  const account = objectField(value, 'account');
  const book = checkBook(account.book, 'account.book', false);
  const path = keyField(account.path, 'account.path');
  return { book, path };
}

/** `from`, `limit` and `afterSeq`: safe integers >= 0. */
export function countArgument(value: unknown, field: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    invalid(field, 'must be a safe integer >= 0');
  }
  return value;
}

export function txidArgument(value: unknown, field = 'txid'): string {
  const shape = typeof value === 'string' ? uuidShape(value) : UUID_INVALID;
  if (shape === UUID_INVALID) invalid(field, 'must be a UUID (8-4-4-4-12 hex)');
  return shape === UUID_UPPER ? (value as string).toLowerCase() : (value as string);
}

const UUID_INVALID = 0;
const UUID_LOWER = 1;
const UUID_UPPER = 2;

/**
 * Whether `text` is 8-4-4-4-12 hex digits, and whether any is upper case, in one pass a character
 * at a time: every commit checks its txid, and a regular expression plus a lower-casing cost more.
 */
function uuidShape(text: string): number {
  if (text.length !== 36) return UUID_INVALID;
  let shape = UUID_LOWER;
  for (let index = 0; index < 36; index++) {
    const code = text.charCodeAt(index);
    if (index === 8 || index === 13 || index === 18 || index === 23) {
      if (code !== 0x2d) return UUID_INVALID;
    } else if (code >= 0x41 && code <= 0x46) {
      shape = UUID_UPPER;
    } else if (!((code >= 0x30 && code <= 0x39) || (code >= 0x61 && code <= 0x66))) {
      return UUID_INVALID;
    }
  }
  return shape;
}

// ---------------------------------------------------------------------------------------------
// Metadata

/**
 * Checks that `value` is JSON data (store-contract 5.5) and returns a normalised copy with its
 * text. The copy equals what encoding and decoding the value would give (a bigint in the safe range
 * becomes a number, an integral number beyond it a bigint, -0 becomes 0), built in one walk
 * without a parse.
 */
export function normaliseMetadata(value: unknown, field = 'metadata'): { metadata: JsonValue; json: string } {
  if (value === null) return NULL_METADATA; // most transactions: no walk, nothing allocated
  const metadata = normaliseJson(value, { field, keys: [], ancestors: new Set() });
  return { metadata, json: stringifyJson(metadata) };
}

const NULL_METADATA: { metadata: JsonValue; json: string } = Object.freeze({ metadata: null, json: 'null' });

interface JsonWalk {
  field: string;
  /** Keys and indexes from the root to the value being checked, to name a bad field. */
  keys: Array<string | number>;
  ancestors: Set<object>;
}

function badJson(walk: JsonWalk, problem: string): never {
  let field = walk.field;
  for (const key of walk.keys) field += typeof key === 'number' ? `[${key}]` : `.${key}`;
  return invalid(field, problem);
}

const INTEGER_TEXT_LIMIT = 1e21; // JSON.stringify writes integers from here on with an exponent

function normaliseJson(value: unknown, walk: JsonWalk): JsonValue {
  switch (typeof value) {
    case 'boolean':
      return value;
    case 'string':
      if (!value.isWellFormed()) badJson(walk, 'contains a lone surrogate');
      return value;
    case 'bigint':
      return value >= -9007199254740991n && value <= 9007199254740991n ? Number(value) : value;
    case 'number':
      if (!Number.isFinite(value)) badJson(walk, 'must be a finite number');
      if (value === 0) return 0; // -0 reads back as 0
      if (Number.isInteger(value) && !Number.isSafeInteger(value) && Math.abs(value) < INTEGER_TEXT_LIMIT) return BigInt(value);
      return value;
    case 'object':
      break;
    default:
      badJson(walk, `a ${typeof value} is not JSON`);
  }
  if (value === null) return null;
  if (walk.keys.length >= METADATA_DEPTH_MAX) badJson(walk, `nests deeper than ${METADATA_DEPTH_MAX} levels`);
  if (walk.ancestors.has(value)) badJson(walk, 'contains a cycle');
  walk.ancestors.add(value);
  let copy: JsonValue;
  if (Array.isArray(value)) {
    const items: JsonValue[] = new Array(value.length);
    for (let index = 0; index < value.length; index++) {
      walk.keys.push(index);
      if (!(index in value)) badJson(walk, 'is a hole in a sparse array');
      items[index] = normaliseJson(value[index], walk);
      walk.keys.pop();
    }
    copy = items;
  } else {
    const prototype = Object.getPrototypeOf(value);
    if (prototype !== Object.prototype && prototype !== null) badJson(walk, 'must be a plain object');
    const object: { [key: string]: JsonValue } = {};
    for (const key of Object.keys(value)) {
      if (!key.isWellFormed()) badJson(walk, 'has a key with a lone surrogate');
      walk.keys.push(key);
      const item = normaliseJson((value as Fields)[key], walk);
      walk.keys.pop();
      if (key === '__proto__') Object.defineProperty(object, key, { value: item, enumerable: true, writable: true, configurable: true });
      else object[key] = item;
    }
    copy = object;
  }
  walk.ancestors.delete(value);
  return copy;
}

// ---------------------------------------------------------------------------------------------
// Write arguments

export interface NormalisedAsset {
  def: AssetDef;
  eventJson: string;
}

export function normaliseAssetDef(value: unknown): NormalisedAsset {
  const def = objectField(value, 'def');
  const id = keyField(def.id, 'def.id');
  const assetClass = assetClassField(def.class);
  const precision = def.precision;
  if (typeof precision !== 'number' || !Number.isInteger(precision) || precision < 0 || precision > 255) {
    invalid('def.precision', 'must be an integer from 0 to 255');
  }
  const name = stringField(def.name, 'def.name');
  onlyFields(def, ASSET_FIELDS, 'def');
  const normalised: AssetDef = { id, class: assetClass, precision: precision === 0 ? 0 : precision, name }; // -0 → 0
  const eventJson = encodeAssetRegistered(normalised);
  checkEventSize(eventJson, 'def');
  return { def: normalised, eventJson };
}

function assetClassField(value: unknown): AssetClass {
  if (value === 'fiat') return 'fiat';
  if (typeof value !== 'object' || value === null) invalid('def.class', "must be 'fiat' or { crypto: {...} }");
  const crypto = objectField((value as Fields).crypto, 'def.class.crypto');
  const network = stringField(crypto.network, 'def.class.crypto.network');
  const nativeId = nullableStringField(crypto.native_id, 'def.class.crypto.native_id');
  onlyFields(crypto, CRYPTO_FIELDS, 'def.class.crypto');
  onlyFields(value as Fields, CRYPTO_CLASS_FIELDS, 'def.class');
  return { crypto: { network, native_id: nativeId } };
}

export interface NormalisedAccount {
  def: AccountDef;
  cfg: AccountCfg;
  eventJson: string;
}

/**
 * `checkBookState` runs after the book's pattern and reserved checks and before the rest of the
 * shape, where the contract puts the case-conflict check.
 */
export function normaliseAccount(
  defValue: unknown,
  cfgValue: unknown,
  checkBookState?: (book: string) => void,
): NormalisedAccount {
  const def = objectField(defValue, 'def');
  const id = objectField(def.id, 'def.id');
  const book = checkBook(id.book, 'def.id.book', true);
  checkBookState?.(book);
  const path = keyField(id.path, 'def.id.path');
  const asset = keyField(def.asset, 'def.asset');
  if (!(ACCOUNT_KINDS as readonly unknown[]).includes(def.kind)) {
    invalid('def.kind', `must be one of ${ACCOUNT_KINDS.join(', ')}`);
  }
  onlyFields(id, ACCOUNT_ID_FIELDS, 'def.id');
  onlyFields(def, ACCOUNT_DEF_FIELDS, 'def');
  const cfg = objectField(cfgValue, 'cfg');
  const normalSide =
    cfg.normal_side === undefined || cfg.normal_side === null ? null : directionField(cfg.normal_side, 'cfg.normal_side');
  const minBalance =
    cfg.min_balance === undefined || cfg.min_balance === null ? null : i64Field(cfg.min_balance, 'cfg.min_balance');
  onlyFields(cfg, ACCOUNT_CFG_FIELDS, 'cfg');
  const normalisedDef: AccountDef = { id: { book, path }, asset, kind: def.kind as AccountKind };
  const normalisedCfg: AccountCfg = { normal_side: normalSide, min_balance: minBalance };
  const eventJson = encodeAccountOpened(normalisedDef, normalisedCfg);
  checkEventSize(eventJson, 'def');
  return { def: normalisedDef, cfg: normalisedCfg, eventJson };
}

export interface NormalisedTransaction {
  tx: Transaction;
  eventJson: string;
}

export function normaliseTransaction(value: unknown): NormalisedTransaction {
  const tx = objectField(value, 'tx');
  const book = checkBook(tx.book, 'book', true);
  const id = txidArgument(tx.id, 'id');
  const idempotencyKey = keyField(tx.idempotency_key, 'idempotency_key');
  // Every index, not map: map skips the holes of a sparse array, and a hole is not a posting.
  const postingValues = arrayField(tx.postings, 'postings');
  const postings: Posting[] = [];
  for (let index = 0; index < postingValues.length; index++) postings.push(postingField(postingValues[index], index));
  const refValues = arrayField(tx.external_refs, 'external_refs');
  const externalRefs: ExternalRef[] = [];
  for (let index = 0; index < refValues.length; index++) externalRefs.push(externalRefField(refValues[index], index));
  if (!('metadata' in tx)) invalid('metadata', 'is missing (use null for none)');
  const { metadata, json: metadataJson } = normaliseMetadata(tx.metadata);
  const occurredAt = tx.occurred_at;
  if (typeof occurredAt !== 'string' || !isRfc3339(occurredAt)) {
    invalid('occurred_at', 'must be an RFC 3339 string such as 2026-06-05T12:00:00Z (use date.toISOString())');
  }
  onlyFields(tx, TRANSACTION_FIELDS, '');
  const normalised: Transaction = {
    id,
    book,
    postings,
    idempotency_key: idempotencyKey,
    external_refs: externalRefs,
    metadata,
    occurred_at: occurredAt,
  };
  const eventJson = encodeTransactionPosted(normalised, metadataJson);
  checkEventSize(eventJson, 'tx');
  return { tx: normalised, eventJson };
}

function externalRefField(value: unknown, index: number): ExternalRef {
  const fields = objectField(value, `external_refs[${index}]`);
  const kind = stringField(fields.kind, `external_refs[${index}].kind`);
  const refValue = stringField(fields.value, `external_refs[${index}].value`);
  onlyFields(fields, EXTERNAL_REF_FIELDS, `external_refs[${index}]`);
  return { kind, value: refValue };
}

/**
 * A posting that is valid as given is copied without building a single field name; anything else
 * goes through checkedPosting, which names the first problem in the contract's order.
 */
function postingField(value: unknown, index: number): Posting {
  if (isPlainObject(value)) {
    const { account, amount, direction } = value as Fields;
    if (isPlainObject(account) && isPlainObject(amount) && (direction === 'debit' || direction === 'credit')) {
      const { book, path } = account as Fields;
      const { minor, asset } = amount as Fields;
      if (
        typeof book === 'string' &&
        typeof path === 'string' &&
        typeof asset === 'string' &&
        typeof minor === 'bigint' &&
        minor >= I64_MIN &&
        minor <= I64_MAX &&
        book.isWellFormed() &&
        path.isWellFormed() &&
        asset.isWellFormed() &&
        !path.includes('\0') &&
        !asset.includes('\0') &&
        hasOnlyFields(value as Fields, POSTING_FIELDS) &&
        hasOnlyFields(account as Fields, ACCOUNT_ID_FIELDS) &&
        hasOnlyFields(amount as Fields, AMOUNT_FIELDS)
      ) {
        return { account: { book, path }, amount: { minor, asset }, direction };
      }
    }
  }
  return checkedPosting(value, `postings[${index}]`);
}

function hasOnlyFields(value: Fields, known: readonly string[]): boolean {
  for (const key in value) if (!known.includes(key)) return false;
  return true;
}

function isPlainObject(value: unknown): boolean {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function checkedPosting(value: unknown, field: string): Posting {
  const posting = objectField(value, field);
  const account = objectField(posting.account, `${field}.account`);
  const amount = objectField(posting.amount, `${field}.amount`);
  const checked: Posting = {
    account: {
      book: stringField(account.book, `${field}.account.book`),
      path: keyField(account.path, `${field}.account.path`),
    },
    amount: {
      minor: i64Field(amount.minor, `${field}.amount.minor`),
      asset: keyField(amount.asset, `${field}.amount.asset`),
    },
    direction: directionField(posting.direction, `${field}.direction`),
  };
  onlyFields(account, ACCOUNT_ID_FIELDS, `${field}.account`);
  onlyFields(amount, AMOUNT_FIELDS, `${field}.amount`);
  onlyFields(posting, POSTING_FIELDS, field);
  return checked;
}

/**
 * The arguments of `subscribe`, checked in the contract's order (book type, pattern, `from`,
 * `options`, `signal`). Throws the first problem; subscribe reports it through `next()`.
 */
export function subscribeArguments(book: unknown, from: unknown, options: unknown): { book: string; signal: AbortSignal | undefined } {
  const name = checkBook(book, 'book', false);
  countArgument(from, 'from');
  if (options !== undefined && (typeof options !== 'object' || options === null)) invalid('options', 'must be an object');
  const signal = (options as { signal?: unknown } | undefined)?.signal;
  if (signal !== undefined && !(signal instanceof AbortSignal)) invalid('options.signal', 'must be an AbortSignal');
  return { book: name, signal };
}

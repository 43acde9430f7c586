/**
 * The wire shapes: request drafts read into store inputs, store answers rendered as the
 * reference's views (docs/reference-http-api.md; spec/store-contract.md, appendix A).
 *
 * W1. Bodies arrive already parsed by the bigint-safe reader, so an amount is a `number` when it
 *     is a safe integer and a `bigint` beyond; i64 fields accept both and are exact (H1). Fields
 *     are read only when they are the object's own properties, so `__proto__` or `constructor`
 *     keys stay data (H2).
 * W2. A draft is checked in two passes with the reference's outcome: first its shape (a field of
 *     the wrong type or missing is `invalid_draft` naming the field), then the service's rules in
 *     the reference's order: book, idempotency key, postings non-empty, per posting `minor > 0`
 *     and a non-empty account, per-asset totals (overflow is `invalid_amount`), balance per asset
 *     (`unbalanced`, the first unbalanced asset in order of first appearance).
 * W3. The service fills in what the store needs: a fresh UUIDv7 per draft as `id`, `occurred_at`
 *     when absent (the server's now), and `{book: draft.book, path}` for every posting account.
 *     Both are cheap per request: the random part of the ids comes from a pool refilled once per
 *     256 ids (the library alone asks the system for 16 bytes per id), and the server's now is
 *     rendered once per millisecond. Ids are time-ordered to the millisecond.
 * W4. Views repeat the store's values exactly: `at` as the store wrote it, i64 as bigint, and the
 *     balance as a decimal string at the asset's precision made with string arithmetic only.
 */
import { randomFillSync } from 'node:crypto';
import { v7 as uuidV7 } from 'uuid';
import { accountKey } from '../core/account-key.js';
import { isReservedBook, isValidBookName } from '../core/book-name.js';
import { encodeEvent } from '../core/event-codec.js';
import { formatAtUs, isRfc3339, parseTimestampUs } from '../core/time.js';
import {
  ACCOUNT_KINDS,
  I64_MAX,
  I64_MIN,
  type AccountCfg,
  type AccountDef,
  type AccountKind,
  type AssetDef,
  type BalanceSnapshot,
  type Committed,
  type Direction,
  type ExternalRef,
  type JsonValue,
  type PostingRecord,
  type SequencedEvent,
  type StoredTransaction,
  type Transaction,
  type TrialBalanceRow,
} from '../core/types.js';
import { invalidAmount, invalidDraft, unbalanced } from './api-error.js';

type Fields = Record<string, unknown>;

/** An own property of a parsed JSON object, or undefined (W1). */
function own(object: Fields, key: string): unknown {
  return Object.hasOwn(object, key) ? object[key] : undefined;
}

function objectAt(value: unknown, field: string): Fields {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw invalidDraft(field, 'must be a JSON object');
  return value as Fields;
}

function stringAt(value: unknown, field: string): string {
  if (value === undefined) throw invalidDraft(field, 'missing field');
  if (typeof value !== 'string') throw invalidDraft(field, 'must be a string');
  return value;
}

function optionalStringAt(value: unknown, field: string): string | null {
  return value === undefined || value === null ? null : stringAt(value, field);
}

function i64At(value: unknown, field: string): bigint {
  if (value === undefined) throw invalidDraft(field, 'missing field');
  if (typeof value === 'bigint') {
    if (value < I64_MIN || value > I64_MAX) throw invalidDraft(field, 'is outside the i64 range');
    return value;
  }
  if (typeof value === 'number' && Number.isSafeInteger(value)) return BigInt(value);
  throw invalidDraft(field, 'must be an integer (i64)');
}

function directionAt(value: unknown, field: string): Direction {
  if (value === 'debit' || value === 'credit') return value;
  if (value === undefined) throw invalidDraft(field, 'missing field');
  throw invalidDraft(field, 'must be "debit" or "credit"');
}

/** A book named in a draft or a path (reads allow reserved books, writes do not). */
export function checkWireBook(book: string, write: boolean): string {
  if (book === '') throw invalidDraft('book', 'must not be empty');
  if (write && isReservedBook(book)) throw invalidDraft('book', "names starting with '_' are reserved");
  if (!isValidBookName(book)) throw invalidDraft('book', 'must be 1-128 characters of A-Z a-z 0-9 . _ - and not "." or ".."');
  return book;
}

// --- assets -------------------------------------------------------------------------------------

export function readAssetDraft(body: unknown): AssetDef {
  const draft = objectAt(body, 'body');
  const id = stringAt(own(draft, 'id'), 'id');
  const className = stringAt(own(draft, 'class'), 'class');
  const network = optionalStringAt(own(draft, 'network'), 'network');
  const nativeId = optionalStringAt(own(draft, 'native_id'), 'native_id');
  const precision = own(draft, 'precision');
  if (precision === undefined) throw invalidDraft('precision', 'missing field');
  if (typeof precision !== 'number' || !Number.isInteger(precision) || precision < 0 || precision > 255) {
    throw invalidDraft('precision', 'must be an integer from 0 to 255');
  }
  const name = stringAt(own(draft, 'name'), 'name');
  if (id === '') throw invalidDraft('id', 'must not be empty');
  if (className === 'fiat') {
    if (network !== null || nativeId !== null) throw invalidDraft('network', 'fiat assets have no network or native_id');
    return { id, class: 'fiat', precision, name };
  }
  if (className === 'crypto') {
    if (network === null) throw invalidDraft('network', 'crypto assets require a network');
    return { id, class: { crypto: { network, native_id: nativeId } }, precision, name };
  }
  throw invalidDraft('class', `unknown asset class '${className}' (expected 'fiat' or 'crypto')`);
}

// --- accounts -----------------------------------------------------------------------------------

/** The book of an account draft, read before the scope check (the rest is read after it). */
export function draftBook(body: unknown): string {
  return stringAt(own(objectAt(body, 'body'), 'book'), 'book');
}

export function readAccountDraft(body: unknown): { def: AccountDef; cfg: AccountCfg } {
  const draft = objectAt(body, 'body');
  const book = stringAt(own(draft, 'book'), 'book');
  const path = stringAt(own(draft, 'path'), 'path');
  const asset = stringAt(own(draft, 'asset'), 'asset');
  const kind = stringAt(own(draft, 'kind'), 'kind');
  const side = own(draft, 'normal_side');
  const normalSide = side === undefined || side === null ? null : directionAt(side, 'normal_side');
  const minimum = own(draft, 'min_balance');
  const minBalance = minimum === undefined || minimum === null ? null : i64At(minimum, 'min_balance');
  checkWireBook(book, true);
  if (path === '') throw invalidDraft('path', 'must not be empty');
  if (!(ACCOUNT_KINDS as readonly string[]).includes(kind)) throw invalidDraft('kind', `unknown account kind '${kind}'`);
  return {
    def: { id: { book, path }, asset, kind: kind as AccountKind },
    cfg: { normal_side: normalSide, min_balance: minBalance },
  };
}

// --- transactions -------------------------------------------------------------------------------

/** A draft read into a store transaction, with what the OVERFLOW mapping needs. */
export interface ReadTransaction {
  tx: Transaction;
  /** The first posting amount on each account path, reported if the store says OVERFLOW. */
  amountOfPath: Map<string, bigint>;
}

function readExternalRefs(value: unknown): ExternalRef[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw invalidDraft('external_refs', 'must be an array');
  return value.map((item, index) => {
    const ref = objectAt(item, `external_refs[${index}]`);
    return {
      kind: stringAt(own(ref, 'kind'), `external_refs[${index}].kind`),
      value: stringAt(own(ref, 'value'), `external_refs[${index}].value`),
    };
  });
}

const RANDOM_POOL = new Uint8Array(4096);
let randomPoolAt = RANDOM_POOL.length;

/** A fresh UUIDv7 whose random part comes from the pool (W3). */
function newTxid(): string {
  if (randomPoolAt === RANDOM_POOL.length) {
    randomFillSync(RANDOM_POOL);
    randomPoolAt = 0;
  }
  const random = RANDOM_POOL.subarray(randomPoolAt, (randomPoolAt += 16));
  return uuidV7({ random });
}

let nowMs = Number.NaN;
let nowText = '';

/** The server's now as RFC 3339 with milliseconds, rendered once per millisecond (W3). */
function serverNow(): string {
  const ms = Date.now();
  if (ms !== nowMs) {
    nowMs = ms;
    nowText = new Date(ms).toISOString();
  }
  return nowText;
}

/** Reads and checks one transaction draft (W2, W3). Throws ApiFailure. */
export function readTransactionDraft(body: unknown, now: () => string = serverNow): ReadTransaction {
  const draft = objectAt(body, 'body');
  const book = stringAt(own(draft, 'book'), 'book');
  const idempotencyKey = stringAt(own(draft, 'idempotency_key'), 'idempotency_key');
  const rawPostings = own(draft, 'postings');
  if (rawPostings === undefined) throw invalidDraft('postings', 'missing field');
  if (!Array.isArray(rawPostings)) throw invalidDraft('postings', 'must be an array');
  const wirePostings = rawPostings.map((item, index) => {
    const field = `postings[${index}]`;
    const posting = objectAt(item, field);
    const account = stringAt(own(posting, 'account'), `${field}.account`);
    const amount = objectAt(own(posting, 'amount'), `${field}.amount`);
    return {
      account,
      minor: i64At(own(amount, 'minor'), `${field}.amount.minor`),
      asset: stringAt(own(amount, 'asset'), `${field}.amount.asset`),
      direction: directionAt(own(posting, 'direction'), `${field}.direction`),
    };
  });
  const externalRefs = readExternalRefs(own(draft, 'external_refs'));
  const metadataValue = own(draft, 'metadata');
  const metadata = (metadataValue === undefined ? null : metadataValue) as JsonValue;
  const occurredValue = own(draft, 'occurred_at');
  let occurredAt: string;
  if (occurredValue === undefined || occurredValue === null) {
    occurredAt = now();
  } else {
    occurredAt = stringAt(occurredValue, 'occurred_at');
    if (!isRfc3339(occurredAt)) throw invalidDraft('occurred_at', 'must be an RFC 3339 timestamp');
  }

  checkWireBook(book, true);
  if (idempotencyKey === '') throw invalidDraft('idempotency_key', 'must not be empty');
  if (wirePostings.length === 0) throw invalidDraft('postings', 'must not be empty');
  const totals = new Map<string, { debit: bigint; credit: bigint }>();
  const amountOfPath = new Map<string, bigint>();
  for (const posting of wirePostings) {
    if (posting.minor <= 0n) throw invalidAmount(posting.minor);
    if (posting.account === '') throw invalidDraft('postings.account', 'must not be empty');
    let total = totals.get(posting.asset);
    if (total === undefined) totals.set(posting.asset, (total = { debit: 0n, credit: 0n }));
    const sum = (posting.direction === 'debit' ? total.debit : total.credit) + posting.minor;
    if (sum > I64_MAX) throw invalidAmount(posting.minor);
    if (posting.direction === 'debit') total.debit = sum;
    else total.credit = sum;
    if (!amountOfPath.has(posting.account)) amountOfPath.set(posting.account, posting.minor);
  }
  for (const [asset, { debit, credit }] of totals) {
    if (debit !== credit) throw unbalanced(asset, debit, credit);
  }
  return {
    tx: {
      id: newTxid(),
      book,
      postings: wirePostings.map((posting) => ({
        account: { book, path: posting.account },
        amount: { minor: posting.minor, asset: posting.asset },
        direction: posting.direction,
      })),
      idempotency_key: idempotencyKey,
      external_refs: externalRefs,
      metadata,
      occurred_at: occurredAt,
    },
    amountOfPath,
  };
}

// --- query strings ------------------------------------------------------------------------------

const INTEGER_TEXT = /^-?[0-9]+$/;

/** An optional integer query parameter within [min, max], exact (no doubles on the way). */
export function integerQuery(value: string | undefined, field: string, min: bigint, max: bigint): bigint | null {
  if (value === undefined) return null;
  if (!INTEGER_TEXT.test(value)) throw invalidDraft(field, `${JSON.stringify(value)} is not an integer`);
  const number = BigInt(value);
  if (number < min || number > max) throw invalidDraft(field, `${value} is outside ${min}..${max}`);
  return number;
}

/** `as_of`: an RFC 3339 timestamp; returned with the UTC rendering the views echo. */
export function asOfQuery(value: string | undefined): { asOf: string; rendered: string } | null {
  if (value === undefined) return null;
  const us = parseTimestampUs(value);
  if (us === null) throw invalidDraft('as_of', `${JSON.stringify(value)} is not an RFC 3339 timestamp`);
  return { asOf: value, rendered: formatAtUs(us) };
}

const UUID_TEXT = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

export function checkTxId(value: string): string {
  if (!UUID_TEXT.test(value)) throw invalidDraft('tx_id', `not a uuid: ${JSON.stringify(value)}`);
  return value.toLowerCase();
}

// --- views --------------------------------------------------------------------------------------

export interface PostedView {
  tx_id: string;
  seq: number;
  at: string;
  deduplicated: boolean;
}

/** `deduplicated` is true when the store answered with an earlier commit (its txid differs). */
export function postedView(committed: Committed, sentId: string): PostedView {
  return { tx_id: committed.txid, seq: committed.seq, at: committed.at, deduplicated: committed.txid !== sentId };
}

/** Integer minor units as a decimal at `precision` places, by string arithmetic only (W4). */
export function formatMinor(minor: bigint, precision: number): string {
  if (precision === 0) return minor.toString();
  const negative = minor < 0n;
  const digits = (negative ? -minor : minor).toString().padStart(precision + 1, '0');
  const cut = digits.length - precision;
  return `${negative ? '-' : ''}${digits.slice(0, cut)}.${digits.slice(cut)}`;
}

export function balanceView(
  book: string,
  path: string,
  snapshot: BalanceSnapshot,
  precision: number,
  asOf: string | null,
): Record<string, unknown> {
  return {
    account: accountKey({ book, path }),
    asset: snapshot.amount.asset,
    balance: formatMinor(snapshot.amount.minor, precision),
    as_of: asOf,
    updated_seq: snapshot.updated_seq,
  };
}

export function postingView(record: PostingRecord): Record<string, unknown> {
  return {
    seq: record.seq,
    tx_id: record.txid,
    account: accountKey(record.account),
    amount: { minor: record.amount.minor, asset: record.amount.asset },
    direction: record.direction,
    at: record.at,
  };
}

/** A history page: `next` is the last seq when the page came back full, else null. */
export function historyView(records: PostingRecord[], limit: number): Record<string, unknown> {
  const next = records.length < limit ? null : records[records.length - 1]!.seq;
  return { items: records.map(postingView), next };
}

export function transactionView(stored: StoredTransaction): Record<string, unknown> {
  const tx = stored.transaction;
  return {
    tx_id: tx.id,
    book: tx.book,
    seq: stored.seq,
    at: stored.at,
    postings: tx.postings.map((posting) => ({
      seq: stored.seq,
      tx_id: tx.id,
      account: accountKey(posting.account),
      amount: { minor: posting.amount.minor, asset: posting.amount.asset },
      direction: posting.direction,
      at: stored.at,
    })),
    external_refs: tx.external_refs.map((ref) => ({ kind: ref.kind, value: ref.value })),
    metadata: tx.metadata,
  };
}

export function trialBalanceView(book: string, asOf: string | null, rows: TrialBalanceRow[]): Record<string, unknown> {
  return { book, as_of: asOf, lines: rows.map((row) => ({ asset: row.asset, debits: row.debits, credits: row.credits })) };
}

/** One SSE data line: `{seq, at, kind, payload}` with the event's canonical JSON as payload. */
export function eventEnvelopeJson(event: SequencedEvent): string {
  return `{"seq":${event.seq},"at":${JSON.stringify(event.at)},"kind":${JSON.stringify(event.event.kind)},"payload":${encodeEvent(event.event)}}`;
}


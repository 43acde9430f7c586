/**
 * Fixtures and helpers of the shared conformance suite (spec/conformance.md, section 1.3).
 *
 * F1. Every book, asset and account name a case creates comes from `unique(prefix)`, so the suite
 *     can run repeatedly and in parallel against one persistent store with no cleanup.
 * F2. Every awaited subscription item must arrive within 5 s (`nextWithin`), or the case fails.
 * F3. "Rejects CODE" means: the promise rejects with a StoreError whose `code` is CODE
 *     (`expectStoreError`), which returns the typed error so its details can be checked.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';

import { StoreError, type StoreErrorCode, type StoreErrorOf } from '../../src/core/errors.js';
import type { Store } from '../../src/core/store.js';
import {
  normalSideOf,
  type AccountCfg,
  type AccountDef,
  type AccountId,
  type AccountKind,
  type AssetDef,
  type CommitResult,
  type Committed,
  type Direction,
  type Posting,
  type SequencedEvent,
  type Transaction,
} from '../../src/core/types.js';

/** How long an awaited subscription item may take, in milliseconds. */
export const SUBSCRIPTION_ITEM_TIMEOUT_MS = 5000;

/** The commit-time form: RFC 3339 UTC with exactly 6 fractional digits. */
export const AT_PATTERN = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/;

/** prefix + '-' + a v4 UUID as 32 lowercase hex digits without hyphens, e.g. 'book-3f1a...'. */
export function unique(prefix: string): string {
  return `${prefix}-${randomUUID().replaceAll('-', '')}`;
}

/** A fiat asset with precision 2, named `${id} test asset`. */
export function asset(id: string): AssetDef {
  return { id, class: 'fiat', precision: 2, name: `${id} test asset` };
}

export function accountId(book: string, path: string): AccountId {
  return { book, path };
}

/**
 * The def with that id, asset and kind; the cfg's normal side is the kind's conventional side
 * (asset/expense debit; liability/income/equity credit; clearing null); min_balance null.
 */
export function openSpec(book: string, path: string, assetId: string, kind: AccountKind): [AccountDef, AccountCfg] {
  return [
    { id: accountId(book, path), asset: assetId, kind },
    { normal_side: normalSideOf(kind), min_balance: null },
  ];
}

export function posting(book: string, path: string, direction: Direction, assetId: string, minor: bigint): Posting {
  return { account: accountId(book, path), amount: { minor, asset: assetId }, direction };
}

/**
 * A transaction in `book`: a fresh v4 txid; postings CREDIT `from` by `minor`, then DEBIT `to`
 * by `minor`, both in `book` and `asset`; key `idem`; no external refs; metadata {}; occurred_at now.
 */
export function transfer(book: string, idem: string, from: string, to: string, assetId: string, minor: bigint): Transaction {
  return {
    id: randomUUID(),
    book,
    postings: [posting(book, from, 'credit', assetId, minor), posting(book, to, 'debit', assetId, minor)],
    idempotency_key: idem,
    external_refs: [],
    metadata: {},
    occurred_at: new Date().toISOString(),
  };
}

/** A transaction with hand-built postings; otherwise like `transfer`. */
export function draft(book: string, idem: string, postings: Posting[]): Transaction {
  return {
    id: randomUUID(),
    book,
    postings,
    idempotency_key: idem,
    external_refs: [],
    metadata: {},
    occurred_at: new Date().toISOString(),
  };
}

/** Opens `cash` (kind asset) and then `deposits` (kind liability) in `book`: seqs 1 and 2. */
export async function setupNamedBook(store: Store, book: string, assetId: string): Promise<void> {
  await store.openAccount(...openSpec(book, 'cash', assetId, 'asset'));
  await store.openAccount(...openSpec(book, 'deposits', assetId, 'liability'));
}

/**
 * Makes a fresh book unique('book') and asset unique('USD'); registers the asset; opens `cash`
 * (kind asset, so debit-normal) and then `deposits` (kind liability, so credit-normal). The two
 * account_opened events take seqs 1 and 2.
 */
export async function setupBook(store: Store): Promise<{ book: string; asset: string }> {
  const book = unique('book');
  const assetId = unique('USD');
  await store.registerAsset(asset(assetId));
  await setupNamedBook(store, book, assetId);
  return { book, asset: assetId };
}

/** A fresh book and a freshly registered asset, with no accounts yet. */
export async function freshBookAndAsset(store: Store): Promise<{ book: string; asset: string }> {
  const book = unique('book');
  const assetId = unique('USD');
  await store.registerAsset(asset(assetId));
  return { book, asset: assetId };
}

/** The effective balance (`amount.minor`) of `book:path`. */
export async function balanceOf(store: Store, book: string, path: string, asOf?: string | Date): Promise<bigint> {
  return (await store.balance(accountId(book, path), asOf)).amount.minor;
}

/** Every event of a book, paged with `readEvents` from seq 1 until a page is empty. */
export async function readAllEvents(store: Store, book: string, pageSize = 500): Promise<SequencedEvent[]> {
  const events: SequencedEvent[] = [];
  let from = 1;
  for (;;) {
    const page = await store.readEvents(book, from, pageSize);
    if (page.length === 0) return events;
    events.push(...page);
    from = page[page.length - 1]!.seq + 1;
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Races `iterator.next()` against a timer; fails the case on timeout. */
export async function nextWithin<T>(
  iterator: AsyncIterator<T>,
  ms: number = SUBSCRIPTION_ITEM_TIMEOUT_MS,
): Promise<IteratorResult<T>> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no subscription item within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([iterator.next(), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** The next item of a stream within the timeout; an early end of the stream fails the case. */
export async function nextEvent<T>(iterator: AsyncIterator<T>, ms: number = SUBSCRIPTION_ITEM_TIMEOUT_MS): Promise<T> {
  const result = await nextWithin(iterator, ms);
  assert.equal(result.done, false, 'the subscription ended early');
  return result.value as T;
}

/** Settles `promise` within `ms` or fails; resolves with its settlement. */
export async function settleWithin<T>(promise: Promise<T>, ms: number, what: string): Promise<PromiseSettledResult<T>> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not settle within ${ms} ms`)), ms);
  });
  try {
    const [settled] = await Promise.race([Promise.allSettled([promise]), timeout]);
    return settled!;
  } finally {
    clearTimeout(timer);
  }
}

/** Asserts that `error` is a StoreError with `code`, and returns it typed. */
export function assertStoreError<C extends StoreErrorCode>(error: unknown, code: C): StoreErrorOf<C> {
  assert.ok(error instanceof StoreError, `expected a StoreError ${code}, got ${String(error)}`);
  assert.equal(error.code, code, `expected ${code}, got ${error.message}`);
  return error as StoreErrorOf<C>;
}

/** Asserts that `promise` rejects with a StoreError of `code`, and returns the error. */
export async function expectStoreError<C extends StoreErrorCode>(promise: Promise<unknown>, code: C): Promise<StoreErrorOf<C>> {
  let caught: unknown;
  await assert.rejects(promise, (error: unknown) => {
    caught = error;
    return true;
  });
  return assertStoreError(caught, code);
}

/** Asserts INVALID_ARGUMENT naming `field`. */
export async function expectInvalidArgument(promise: Promise<unknown>, field: string): Promise<void> {
  const error = await expectStoreError(promise, 'INVALID_ARGUMENT');
  assert.equal(error.field, field, `wrong field in ${error.message}`);
}

/** The value of an ok batch slot; fails the case on a missing or failed slot. */
export function okValue(result: CommitResult | undefined, what: string): Committed {
  assert.ok(result !== undefined, `${what}: missing result`);
  assert.ok(result.ok, `${what}: expected ok, got ${result.ok ? '' : result.error.message}`);
  return result.value;
}

/** The error of a failed batch slot; fails the case on a missing or ok slot. */
export function errorOf(result: CommitResult | undefined, what: string): StoreError {
  assert.ok(result !== undefined, `${what}: missing result`);
  assert.ok(!result.ok, `${what}: expected an error, got ok`);
  return result.error;
}

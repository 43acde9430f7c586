/**
 * StoreError: the one error type every store rejects with (spec/store-contract.md, section 8).
 *
 * `code` and the snake_case detail fields are the stable interface; messages are for people.
 * Errors that begin in a worker are re-created on the caller's thread from `code`, details and
 * message (`toWire` / `fromWire`), so `instanceof StoreError` always holds.
 */
import type { AccountId, Committed } from './types.js';
import { accountKey } from './account-key.js';

export type StoreErrorCode =
  | 'CONSTRAINT_VIOLATION'
  | 'UNKNOWN_ACCOUNT'
  | 'UNKNOWN_ASSET'
  | 'ASSET_MISMATCH'
  | 'ALREADY_EXISTS'
  | 'INVALID_BOOK'
  | 'IDEMPOTENCY_CONFLICT'
  | 'OVERFLOW'
  | 'BOOK_UNAVAILABLE'
  | 'CORRUPT'
  | 'IO'
  | 'OVERLOADED'
  | 'CLOSED'
  | 'INVALID_ARGUMENT';

export const STORE_ERROR_CODES: readonly StoreErrorCode[] = [
  'CONSTRAINT_VIOLATION',
  'UNKNOWN_ACCOUNT',
  'UNKNOWN_ASSET',
  'ASSET_MISMATCH',
  'ALREADY_EXISTS',
  'INVALID_BOOK',
  'IDEMPOTENCY_CONFLICT',
  'OVERFLOW',
  'BOOK_UNAVAILABLE',
  'CORRUPT',
  'IO',
  'OVERLOADED',
  'CLOSED',
  'INVALID_ARGUMENT',
];

export type InvalidBookReason = 'pattern' | 'reserved' | 'case_conflict';

/** The detail fields carried by each code. */
export interface StoreErrorDetails {
  CONSTRAINT_VIOLATION: { account: AccountId; min_balance: bigint; would_be: bigint };
  UNKNOWN_ACCOUNT: { account: AccountId };
  UNKNOWN_ASSET: { asset: string };
  ASSET_MISMATCH: { account: AccountId; account_asset: string; asset: string };
  ALREADY_EXISTS: { what: string };
  INVALID_BOOK: { book: string; reason: InvalidBookReason };
  IDEMPOTENCY_CONFLICT: { book: string; idempotency_key: string; original: Committed };
  OVERFLOW: { account: AccountId };
  BOOK_UNAVAILABLE: { book: string };
  CORRUPT: { book: string; file: string; offset: number };
  IO: Record<string, never>;
  OVERLOADED: { book: string };
  CLOSED: Record<string, never>;
  INVALID_ARGUMENT: { field: string };
}

export type StoreErrorOf<C extends StoreErrorCode> = StoreError & { readonly code: C } & Readonly<
    StoreErrorDetails[C]
  >;

export class StoreError extends Error {
  override readonly name = 'StoreError' as const;
  readonly code: StoreErrorCode;

  constructor(code: StoreErrorCode, message: string, details?: object, options?: { cause?: unknown }) {
    super(`${code}: ${message}`, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    if (details !== undefined) Object.assign(this, details);
  }

  // One constructor per code: the message names the account by its flat key, as the contract asks.

  static constraintViolation(account: AccountId, min_balance: bigint, would_be: bigint): StoreErrorOf<'CONSTRAINT_VIOLATION'> {
    return make('CONSTRAINT_VIOLATION', `${accountKey(account)} would be ${would_be}, below min_balance ${min_balance}`, {
      account,
      min_balance,
      would_be,
    });
  }

  static unknownAccount(account: AccountId): StoreErrorOf<'UNKNOWN_ACCOUNT'> {
    return make('UNKNOWN_ACCOUNT', `account ${accountKey(account)} is not open`, { account });
  }

  static unknownAsset(asset: string): StoreErrorOf<'UNKNOWN_ASSET'> {
    return make('UNKNOWN_ASSET', `asset ${asset} is not registered`, { asset });
  }

  static assetMismatch(account: AccountId, account_asset: string, asset: string): StoreErrorOf<'ASSET_MISMATCH'> {
    return make('ASSET_MISMATCH', `${accountKey(account)} holds ${account_asset}, posting uses ${asset}`, {
      account,
      account_asset,
      asset,
    });
  }

  static alreadyExists(what: string): StoreErrorOf<'ALREADY_EXISTS'> {
    return make('ALREADY_EXISTS', `${what} already exists with a different definition`, { what });
  }

  static invalidBook(book: string, reason: InvalidBookReason): StoreErrorOf<'INVALID_BOOK'> {
    const why =
      reason === 'pattern'
        ? 'must be 1-128 characters of A-Z a-z 0-9 . _ - and not "." or ".."'
        : reason === 'reserved'
          ? 'names starting with "_" are reserved for the store'
          : 'another book has the same name ignoring ASCII case';
    return make('INVALID_BOOK', `book ${JSON.stringify(book)}: ${why}`, { book, reason });
  }

  static idempotencyConflict(book: string, idempotency_key: string, original: Committed): StoreErrorOf<'IDEMPOTENCY_CONFLICT'> {
    return make(
      'IDEMPOTENCY_CONFLICT',
      `key ${JSON.stringify(idempotency_key)} in book ${book} was committed at seq ${original.seq} with different content`,
      { book, idempotency_key, original },
    );
  }

  static overflow(account: AccountId): StoreErrorOf<'OVERFLOW'> {
    return make('OVERFLOW', `balance of ${accountKey(account)} would leave the i64 range`, { account });
  }

  /** `message` replaces the log store's wording (PgStore: an unknown outcome, amendment A2). */
  static bookUnavailable(book: string, cause?: unknown, message?: string): StoreErrorOf<'BOOK_UNAVAILABLE'> {
    return make('BOOK_UNAVAILABLE', message ?? `book ${book} is unavailable after a storage failure; reopen the store`, { book }, cause);
  }

  /** `message` names the file and offset in the words of the recovery table (log-engine 5.5). */
  static corrupt(book: string, file: string, offset: number, message: string): StoreErrorOf<'CORRUPT'> {
    return make('CORRUPT', message, { book, file, offset });
  }

  static io(message: string, cause?: unknown): StoreErrorOf<'IO'> {
    return make('IO', message, {}, cause);
  }

  /**
   * A full write queue, or, with a `cause`, no free file descriptor for the job (EMFILE, ENFILE);
   * `reason` replaces those words (PgStore: a lock or connection not granted in time, A3).
   */
  static overloaded(book: string, cause?: unknown, reason?: string): StoreErrorOf<'OVERLOADED'> {
    const why =
      reason ??
      (cause === undefined
        ? `the write queue of book ${book} is full`
        : `book ${book} found no free file descriptor (${(cause as Error).message}); nothing was written`);
    return make('OVERLOADED', `${why}; retry later with the same key`, { book }, cause);
  }

  static closed(): StoreErrorOf<'CLOSED'> {
    return make('CLOSED', 'the store has been closed', {});
  }

  static invalidArgument(field: string, problem: string, cause?: unknown): StoreErrorOf<'INVALID_ARGUMENT'> {
    return make('INVALID_ARGUMENT', `${field}: ${problem}`, { field }, cause);
  }
}

function make<C extends StoreErrorCode>(code: C, message: string, details: StoreErrorDetails[C], cause?: unknown): StoreErrorOf<C> {
  return new StoreError(code, message, details, { cause }) as StoreErrorOf<C>;
}

export function isStoreError<C extends StoreErrorCode>(error: unknown, code?: C): error is StoreErrorOf<C> {
  return error instanceof StoreError && (code === undefined || error.code === code);
}

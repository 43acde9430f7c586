/**
 * PostgreSQL errors as StoreErrors (spec/postgres-store.md 6.2, contract amendments A2-A4).
 *
 * E1. Every error the `pg` client or the server raises leaves the store as a StoreError; nothing
 *     else is ever thrown to a caller. A StoreError passes through unchanged.
 * E2. Backpressure is OVERLOADED (A3): a lock not granted within `lock_timeout` (55P03), a pool
 *     connection not granted within `acquireTimeoutMs`, too many connections (53300). Nothing was
 *     done; retry later with the same key.
 * E3. A lost connection (no SQLSTATE, class 08, 57P01-57P03) is definite only when COMMIT was not
 *     yet sent (IO: nothing committed). After COMMIT was sent the outcome is unknown:
 *     BOOK_UNAVAILABLE (A2), to be settled by a retry with the same idempotency key. The flush
 *     decides which (it alone knows whether it sent COMMIT), after rerunning itself within
 *     `reconnectWindowMs` (pg-store.ts, P12); toStoreError maps a lost connection to IO.
 * E4. Damage the server reports (XX001, XX002) is CORRUPT with `file = '<schema>.<table>'` and
 *     `offset = 0` (A4). Anything else is IO with the server's error as `cause`.
 */
import { StoreError } from '../core/errors.js';

interface PgLikeError {
  code?: unknown;
  message?: unknown;
  table?: unknown;
  constraint?: unknown;
}

/**
 * The SQLSTATE of a server error, or undefined for a client-side or connection error. No SQLSTATE
 * class starts with E, so a socket's errno code of five letters (EPIPE) is never taken for one.
 */
export function sqlState(error: unknown): string | undefined {
  const code = (error as PgLikeError | null)?.code;
  return typeof code === 'string' && /^[0-9A-DF-Z][0-9A-Z]{4}$/.test(code) ? code : undefined;
}

/** The pool's own acquire timeout (pg-pool words it so; it has no code). */
export function isAcquireTimeout(error: unknown): boolean {
  const message = (error as PgLikeError | null)?.message;
  return typeof message === 'string' && /timeout exceeded when trying to connect/i.test(message);
}

/**
 * A connection-level failure: the server's answer was not read (E3). Errors of this program's own
 * making (a StoreError, a TypeError or RangeError, a failed assertion) are not.
 */
export function isConnectionError(error: unknown): boolean {
  if (error instanceof StoreError || error instanceof TypeError || error instanceof RangeError || error instanceof ReferenceError) return false;
  if ((error as { code?: unknown } | null)?.code === 'ERR_ASSERTION') return false;
  const state = sqlState(error);
  if (state === undefined) return !isAcquireTimeout(error);
  return state.startsWith('08') || state === '57P01' || state === '57P02' || state === '57P03';
}

/** A unique violation on the store-wide txid key: a txid race with another book (spec 3.5). */
export function isTxidRace(error: unknown): boolean {
  return sqlState(error) === '23505' && (error as PgLikeError).constraint === 'transactions_pkey';
}

export interface ErrorContext {
  /** What was being done, for the message. */
  what: string;
  /** The book of the operation, when there is one (OVERLOADED, BOOK_UNAVAILABLE, CORRUPT name it). */
  book?: string;
  /** The store's schema, for CORRUPT's `file`. */
  schema: string;
}

/** E1-E4. */
export function toStoreError(error: unknown, context: ErrorContext): StoreError {
  if (error instanceof StoreError) return error;
  const state = sqlState(error);
  const book = context.book ?? '';
  if (state === '55P03' || state === '53300' || isAcquireTimeout(error)) {
    if (context.book !== undefined) {
      const what = state === '55P03' ? 'its lock was not granted within lockTimeoutMs' : 'no connection to the server was granted in time';
      return StoreError.overloaded(book, error, `book ${book} is busy: ${what} (${String((error as PgLikeError).message)}); nothing was written`);
    }
    return StoreError.io(`${context.what}: the server is busy (${String((error as PgLikeError).message)}); retry later`, error);
  }
  if (state === 'XX001' || state === 'XX002') {
    const table = (error as PgLikeError).table;
    const file = `${context.schema}.${typeof table === 'string' ? table : 'unknown'}`;
    return StoreError.corrupt(book, file, 0, `${context.what}: PostgreSQL reports damage in ${file} (${String((error as PgLikeError).message)})`);
  }
  const detail = error instanceof Error ? error.message : String(error);
  return StoreError.io(`${context.what} failed${state === undefined ? '' : ` (SQLSTATE ${state})`}: ${detail}`, error);
}

/** The words of BOOK_UNAVAILABLE for a COMMIT whose reply was never read (A2). */
export function unknownOutcomeMessage(book: string, why: string): string {
  return `book ${book}: the outcome of a write is unknown (COMMIT was sent, its reply never came: ${why}); retry with the same idempotency key, which returns the original if it committed`;
}

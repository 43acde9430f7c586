/**
 * The wire's error envelope (talea reference, docs/reference-http-api.md, "Errors") and the one
 * place that turns a failure of any kind into a status, headers and a body.
 *
 * A1. Every failure body is `{"error": "<code>", ...fields}` with the reference's snake_case code
 *     and fields; i64 fields (`min_balance`, `would_be`, `amount`, `debit`, `credit`) are JSON
 *     integers, exact beyond 2^53.
 * A2. StoreError codes map as spec/http-api.md section 3 says: account-bearing errors name the
 *     account by its flat key; INVALID_BOOK and INVALID_ARGUMENT are `invalid_draft` with `field`
 *     and `reason`; OVERLOADED is 429 and CLOSED 503, both `overloaded` with `Retry-After: 1`;
 *     BOOK_UNAVAILABLE, IO and CORRUPT are 503 `internal` with a short fixed message and
 *     `Retry-After: 5` (the store's own message is logged by the caller, never sent).
 * A3. IDEMPOTENCY_CONFLICT is 409 `already_exists` naming the book and the key: an extension (the
 *     reference returns the original commit silently), kept inside the reference's vocabulary so
 *     that its SDK can decode it.
 * A4. Anything that is not an ApiFailure or a StoreError is 500 `internal` with a fixed message.
 */
import { accountKey } from '../core/account-key.js';
import { StoreError } from '../core/errors.js';
import type { AccountId } from '../core/types.js';

/** An error body: the tag plus its fields (values are JSON, bigint allowed). */
export interface ApiErrorBody {
  error: string;
  [field: string]: string | number | bigint | null;
}

/** A failure on its way to the wire: status, body, and an optional Retry-After in seconds. */
export class ApiFailure extends Error {
  override readonly name = 'ApiFailure';

  constructor(
    readonly status: number,
    readonly body: ApiErrorBody,
    readonly retryAfterSeconds: number | null = null,
  ) {
    super(`${status} ${body.error}`);
  }
}

export function invalidDraft(field: string, reason: string, status = 400): ApiFailure {
  return new ApiFailure(status, { error: 'invalid_draft', field, reason });
}

export function unsupportedMediaType(): ApiFailure {
  return invalidDraft('body', 'expected content-type: application/json', 415);
}

export function unauthorized(): ApiFailure {
  return new ApiFailure(401, { error: 'unauthorized' });
}

export function forbidden(book: string): ApiFailure {
  return new ApiFailure(403, { error: 'forbidden', book });
}

export function notFound(what: string): ApiFailure {
  return new ApiFailure(404, { error: 'not_found', what });
}

export function invalidAmount(amount: bigint): ApiFailure {
  return new ApiFailure(400, { error: 'invalid_amount', amount });
}

export function unbalanced(asset: string, debit: bigint, credit: bigint): ApiFailure {
  return new ApiFailure(400, { error: 'unbalanced', asset, debit, credit });
}

/** Admission shed (H5): 503, the same body as the queue-full 429; the status tells them apart. */
export function shed(): ApiFailure {
  return new ApiFailure(503, { error: 'overloaded' }, 1);
}

export function timeout(): ApiFailure {
  return new ApiFailure(408, { error: 'timeout' });
}

export function internal(message: string): ApiFailure {
  return new ApiFailure(500, { error: 'internal', message });
}

/** Why the store refused a book name, in words for `reason`. */
const BOOK_REASONS = {
  pattern: 'must be 1-128 characters of A-Z a-z 0-9 . _ - and not "." or ".."',
  reserved: "names starting with '_' are reserved",
  case_conflict: 'another book has the same name ignoring ASCII case',
} as const;

/** The store's field names where the wire names them differently. */
const WIRE_FIELDS: Record<string, string> = { asOf: 'as_of', afterSeq: 'after_seq', txid: 'tx_id', id: 'tx_id' };

/**
 * Maps a StoreError (A2, A3). `amountOf` finds the amount to report for an OVERFLOW on an account
 * (the reference reports the posting's minor); without it the amount is 0.
 */
export function failureFromStoreError(error: StoreError, amountOf?: (account: AccountId) => bigint): ApiFailure {
  const details = error as unknown as Record<string, unknown>;
  switch (error.code) {
    case 'CONSTRAINT_VIOLATION':
      return new ApiFailure(409, {
        error: 'constraint_violation',
        account: accountKey(details.account as AccountId),
        min_balance: details.min_balance as bigint,
        would_be: details.would_be as bigint,
      });
    case 'UNKNOWN_ACCOUNT':
      return new ApiFailure(404, { error: 'unknown_account', account: accountKey(details.account as AccountId) });
    case 'UNKNOWN_ASSET':
      return new ApiFailure(404, { error: 'unknown_asset', asset: details.asset as string });
    case 'ASSET_MISMATCH':
      return new ApiFailure(400, {
        error: 'asset_mismatch',
        account: accountKey(details.account as AccountId),
        account_asset: details.account_asset as string,
        asset: details.asset as string,
      });
    case 'ALREADY_EXISTS':
      return new ApiFailure(409, { error: 'already_exists', what: details.what as string });
    case 'IDEMPOTENCY_CONFLICT':
      return new ApiFailure(409, {
        error: 'already_exists',
        what: `idempotency key ${JSON.stringify(details.idempotency_key)} in book ${details.book as string}, committed with different content`,
      });
    case 'INVALID_BOOK':
      return invalidDraft('book', BOOK_REASONS[details.reason as keyof typeof BOOK_REASONS] ?? 'invalid book name');
    case 'INVALID_ARGUMENT': {
      const field = details.field as string;
      const head = field.split(/[.[]/)[0]!;
      const wireField = WIRE_FIELDS[head] === undefined ? field : WIRE_FIELDS[head] + field.slice(head.length);
      // The message is "INVALID_ARGUMENT: <field>: <problem>"; the reason is the problem.
      const prefix = `INVALID_ARGUMENT: ${field}: `;
      const reason = error.message.startsWith(prefix) ? error.message.slice(prefix.length) : 'is invalid';
      return invalidDraft(wireField, reason);
    }
    case 'OVERFLOW':
      return invalidAmount(amountOf === undefined ? 0n : amountOf(details.account as AccountId));
    case 'OVERLOADED':
      return new ApiFailure(429, { error: 'overloaded' }, 1);
    case 'CLOSED':
      return new ApiFailure(503, { error: 'overloaded' }, 1);
    case 'BOOK_UNAVAILABLE':
      return new ApiFailure(503, { error: 'internal', message: 'book unavailable' }, 5);
    case 'IO':
      return new ApiFailure(503, { error: 'internal', message: 'storage backend error' }, 5);
    case 'CORRUPT':
      return new ApiFailure(503, { error: 'internal', message: 'storage corrupt' }, 5);
  }
}

/** Whether a failure says something about the server that an operator should see in the log. */
export function isServerSide(failure: ApiFailure): boolean {
  return failure.status >= 500;
}

/** Any thrown value as an ApiFailure (A4). */
export function toFailure(error: unknown): ApiFailure {
  if (error instanceof ApiFailure) return error;
  if (error instanceof StoreError) return failureFromStoreError(error);
  return internal('internal error');
}

/**
 * The Store interface (spec/store-contract.md, section 6). Every store implements all of it and
 * passes the same conformance suite.
 *
 * S1. Every method except `subscribe` returns a promise and reports every failure by rejecting it
 *     with a StoreError; none throws synchronously. `subscribe` reports failures through `next()`.
 * S2. `CLOSED` is checked before anything else, then input validation, then the operation's own
 *     checks, in the order of the contract.
 * S3. A failed operation changes nothing: no event, no seq, no state.
 * S4. A write that resolved is visible to every later read. For a durable store it is also on disk.
 * S5. No aliasing: a store keeps no reference to a caller's object and returns fresh objects.
 */
import type {
  AccountCfg,
  AccountDef,
  AccountId,
  AssetDef,
  BalanceSnapshot,
  CommitResult,
  Committed,
  PostingRecord,
  SequencedEvent,
  StoredTransaction,
  Transaction,
  TrialBalanceRow,
} from './types.js';

export interface SubscribeOptions {
  /** Aborting ends the stream: a pending or later `next()` rejects with an `AbortError`. */
  signal?: AbortSignal;
}

/** A subscription stream. It is its own async iterator and single-use. */
export interface EventStream extends AsyncIterableIterator<SequencedEvent> {
  next(): Promise<IteratorResult<SequencedEvent, undefined>>;
  return(): Promise<IteratorResult<SequencedEvent, undefined>>;
}

export interface Store {
  /** Registers an asset store-wide. Identical re-registration appends nothing. */
  registerAsset(def: AssetDef): Promise<void>;
  /** Opens an account in its book. Identical re-opening appends nothing. */
  openAccount(def: AccountDef, cfg: AccountCfg): Promise<void>;
  /**
   * Commits a transaction and resolves with its seq and commit time. A same-key retry with the
   * same content resolves with the original `Committed`; with different content it rejects
   * `IDEMPOTENCY_CONFLICT`.
   */
  commit(tx: Transaction): Promise<Committed>;
  /** Positional results, as if the drafts were committed one after another in input order. */
  commitBatch(txs: Transaction[]): Promise<CommitResult[]>;
  balance(account: AccountId, asOf?: string | Date | null): Promise<BalanceSnapshot>;
  asset(id: string): Promise<AssetDef | null>;
  /** Records with seq > afterSeq; `limit` counts transactions, never splitting one. */
  accountHistory(account: AccountId, afterSeq: number | null, limit: number): Promise<PostingRecord[]>;
  transaction(txid: string): Promise<StoredTransaction | null>;
  trialBalance(book: string, asOf?: string | Date | null): Promise<TrialBalanceRow[]>;
  /** Events with seq >= from, ascending, at most `limit`. */
  readEvents(book: string, from: number, limit: number): Promise<SequencedEvent[]>;
  /** Catch-up from `from`, then live events, with no gaps and no duplicates. */
  subscribe(book: string, from: number, options?: SubscribeOptions): EventStream;
  /** Stops accepting work, ends every subscription, releases resources. Idempotent. */
  close(): Promise<void>;
}

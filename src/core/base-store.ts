/**
 * BaseStore: the one validating front of every store (the public/protected split of
 * abstract-level, STYLE 1.3). The public `Store` methods live here and only here; a backend
 * implements the protected `_method`s and receives clean, normalised values.
 *
 * F1. Every public method checks CLOSED first, then its arguments in the contract's order
 *     (src/core/input.ts), then calls the backend. A backend never sees a caller's object: it gets
 *     fresh, normalised copies (bigint amounts, lowercase txids, microsecond instants).
 * F2. Every method but `subscribe` reports failure only by rejecting its promise with a
 *     StoreError. An exception thrown by the caller's own object while it is read (a getter, a
 *     Proxy trap, a revoked proxy) is INVALID_ARGUMENT naming the argument, with the original as
 *     `cause`: it is the caller's input that is bad, not the store.
 * F3. The life of a store is `open` → `closing` → `closed`. `close()` is idempotent: the first call
 *     ends every subscription and runs the backend's `_close` once; every call returns the same
 *     promise, which always resolves.
 * F4. Subscriptions are the SubscriptionHub's, fed by the backend through `hub.publish`; catch-up
 *     pages come from the backend's `_readEvents`, which never returns an event that is not durable.
 */
import { StoreError } from './errors.js';
import {
  accountArgument,
  checkBook,
  countArgument,
  normaliseAccount,
  normaliseAssetDef,
  normaliseTransaction,
  keyField,
  txidArgument,
  type NormalisedAccount,
  type NormalisedAsset,
  type NormalisedTransaction,
} from './input.js';
import type { EventStream, Store, SubscribeOptions } from './store.js';
import { SubscriptionHub, type Subscription } from './subscription.js';
import { asOfToUs } from './time.js';
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

export type StoreLifecycle = 'open' | 'closing' | 'closed';

/** A draft of `commitBatch` after the front: normalised, or refused with the error of its slot. */
export type BatchDraft = NormalisedTransaction | StoreError;

export abstract class BaseStore implements Store {
  /** Live events: a backend publishes each durable event here, in seq order (F4). */
  protected readonly hub = new SubscriptionHub();
  #lifecycle: StoreLifecycle = 'open';
  #closing: Promise<void> | null = null;

  // --- the public front -------------------------------------------------------------------------

  async registerAsset(def: AssetDef): Promise<void> {
    this.checkOpen();
    return this._registerAsset(readInput('def', () => normaliseAssetDef(def)));
  }

  async openAccount(def: AccountDef, cfg: AccountCfg): Promise<void> {
    this.checkOpen();
    let checkedBook: string | undefined;
    let account: NormalisedAccount;
    try {
      account = normaliseAccount(def, cfg, (book) => {
        checkedBook = book;
        this._checkCaseConflict(book);
      });
    } catch (error) {
      const refusal = inputError('def', error);
      // A backend that checks case conflicts inside its write gets the chance to report one first.
      if (checkedBook !== undefined && refusal.code !== 'INVALID_BOOK') return this._refuseAccount(checkedBook, refusal);
      throw refusal;
    }
    return this._openAccount(account);
  }

  // Not async: the backend's promise is returned as it is, without a second promise around it
  // (the hot path of every commit); a synchronous failure still arrives as a rejection.
  commit(tx: Transaction): Promise<Committed> {
    try {
      this.checkOpen();
      return this._commit(readInput('tx', () => normaliseTransaction(tx)));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  async commitBatch(txs: Transaction[]): Promise<CommitResult[]> {
    this.checkOpen();
    const drafts = readInput('txs', (): BatchDraft[] => {
      if (!Array.isArray(txs)) throw StoreError.invalidArgument('txs', 'must be an array');
      // Array.from, not map: a hole is a draft too, and it is refused in its own slot.
      return Array.from(txs, (tx): BatchDraft => {
        try {
          return normaliseTransaction(tx);
        } catch (error) {
          return inputError('tx', error);
        }
      });
    });
    return this._commitBatch(drafts);
  }

  async balance(account: AccountId, asOf?: string | Date | null): Promise<BalanceSnapshot> {
    this.checkOpen();
    const id = readInput('account', () => accountArgument(account));
    return this._balance(id, readInput('asOf', () => asOfToUs(asOf)));
  }

  async asset(id: string): Promise<AssetDef | null> {
    this.checkOpen();
    return this._asset(keyField(id, 'id'));
  }

  async accountHistory(account: AccountId, afterSeq: number | null, limit: number): Promise<PostingRecord[]> {
    this.checkOpen();
    const id = readInput('account', () => accountArgument(account));
    const after = afterSeq === null ? 0 : countArgument(afterSeq, 'afterSeq');
    return this._accountHistory(id, after, countArgument(limit, 'limit'));
  }

  async transaction(txid: string): Promise<StoredTransaction | null> {
    this.checkOpen();
    return this._transaction(txidArgument(txid));
  }

  async trialBalance(book: string, asOf?: string | Date | null): Promise<TrialBalanceRow[]> {
    this.checkOpen();
    const name = checkBook(book, 'book', false);
    return this._trialBalance(name, readInput('asOf', () => asOfToUs(asOf)));
  }

  async readEvents(book: string, from: number, limit: number): Promise<SequencedEvent[]> {
    this.checkOpen();
    const name = checkBook(book, 'book', false);
    const first = countArgument(from, 'from');
    const count = countArgument(limit, 'limit');
    return this._readEvents(name, first, count);
  }

  subscribe(book: string, from: number, options?: SubscribeOptions): EventStream {
    const stream = this.hub.subscribe(book, from, options, () => this.checkOpen(), (name) => (first, limit) =>
      this.#lifecycle === 'open' ? this._readStreamPage(name, first, limit) : Promise.resolve([]),
    );
    this._subscribed(stream);
    return stream;
  }

  close(): Promise<void> {
    if (this.#closing === null) {
      this.#lifecycle = 'closing';
      this.hub.endAll();
      this.#closing = (async () => {
        try {
          await this._close();
        } finally {
          this.#lifecycle = 'closed';
        }
      })();
    }
    return this.#closing;
  }

  // --- for backends -----------------------------------------------------------------------------

  protected get lifecycle(): StoreLifecycle {
    return this.#lifecycle;
  }

  /** Throws CLOSED unless the store is open; a backend calls it again after any wait. */
  protected checkOpen(): void {
    if (this.#lifecycle !== 'open') throw StoreError.closed();
  }

  /**
   * Called from inside `openAccount`'s validation, after the book's pattern and reserved checks
   * and before the rest of the shape, where the contract puts the case-conflict check. Throws
   * INVALID_BOOK `case_conflict`. A backend that can only decide inside its write leaves it empty
   * and overrides `_refuseAccount`.
   */
  protected _checkCaseConflict(_book: string): void {}

  /**
   * `openAccount` input that failed after its book passed the pattern checks. The default rejects
   * with `error`; a backend whose case-conflict check runs in its write queue checks it first.
   */
  protected async _refuseAccount(_book: string, error: StoreError): Promise<void> {
    throw error;
  }

  /** A stream was just created (valid or not); a backend may fail it at once. */
  protected _subscribed(_stream: Subscription): void {}

  /** A page of a stream's catch-up read; a backend may ride out outages here that `readEvents` reports. */
  protected _readStreamPage(book: string, from: number, limit: number): Promise<SequencedEvent[]> {
    return this._readEvents(book, from, limit);
  }

  protected abstract _registerAsset(asset: NormalisedAsset): Promise<void>;
  protected abstract _openAccount(account: NormalisedAccount): Promise<void>;
  protected abstract _commit(draft: NormalisedTransaction): Promise<Committed>;
  /** Positional results; a StoreError slot is already refused and keeps its error. */
  protected abstract _commitBatch(drafts: BatchDraft[]): Promise<CommitResult[]>;
  protected abstract _balance(account: AccountId, asOfUs: number | null): Promise<BalanceSnapshot>;
  protected abstract _asset(id: string): Promise<AssetDef | null>;
  protected abstract _accountHistory(account: AccountId, afterSeq: number, limit: number): Promise<PostingRecord[]>;
  protected abstract _transaction(txid: string): Promise<StoredTransaction | null>;
  protected abstract _trialBalance(book: string, asOfUs: number | null): Promise<TrialBalanceRow[]>;
  /** Durable events of a valid book with seq >= from, at most `limit`; [] for an unknown book. */
  protected abstract _readEvents(book: string, from: number, limit: number): Promise<SequencedEvent[]>;
  /** Releases the backend's resources; runs once, after every subscription has ended (F3). */
  protected abstract _close(): Promise<void>;
}

/**
 * `commitBatch` for a store that queues each draft as its own job: a book's drafts are admitted
 * together or not at all (`admit` throws OVERLOADED for the whole book), the admitted ones are
 * sent in input order, and every slot settles with its own outcome.
 */
export async function commitQueuedBatch(
  drafts: readonly BatchDraft[],
  admit: (book: string, count: number) => void,
  send: (draft: NormalisedTransaction) => Promise<Committed>,
): Promise<CommitResult[]> {
  const results: Array<CommitResult | Promise<CommitResult>> = new Array(drafts.length);
  const countsByBook = new Map<string, number>();
  for (let index = 0; index < drafts.length; index++) {
    const draft = drafts[index]!;
    if (draft instanceof StoreError) results[index] = { ok: false, error: draft };
    else countsByBook.set(draft.tx.book, (countsByBook.get(draft.tx.book) ?? 0) + 1);
  }
  const refused = new Map<string, StoreError>();
  for (const [book, count] of countsByBook) {
    try {
      admit(book, count);
    } catch (error) {
      if (!(error instanceof StoreError)) throw error;
      refused.set(book, error);
    }
  }
  for (let index = 0; index < drafts.length; index++) {
    const draft = drafts[index]!;
    if (draft instanceof StoreError) continue;
    const refusal = refused.get(draft.tx.book);
    if (refusal !== undefined) {
      results[index] = { ok: false, error: refusal };
      continue;
    }
    results[index] = send(draft).then(
      (value): CommitResult => ({ ok: true, value }),
      (error: unknown): CommitResult => {
        if (error instanceof StoreError) return { ok: false, error };
        throw error;
      },
    );
  }
  return Promise.all(results);
}

/** Runs `read` over caller input; whatever it throws becomes a StoreError (F2). */
function readInput<T>(argument: string, read: () => T): T {
  try {
    return read();
  } catch (error) {
    throw inputError(argument, error);
  }
}

function inputError(argument: string, error: unknown): StoreError {
  if (error instanceof StoreError) return error;
  // The thrown value is not inspected: it is the caller's and may be hostile too. It is the cause.
  return StoreError.invalidArgument(argument, 'reading it threw an exception (see cause)', error);
}

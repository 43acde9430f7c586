/**
 * MemoryStore: the in-memory reference model of the store contract, with no disk.
 *
 * It is written to be obviously correct rather than fast: every event is kept, balances are folded
 * as commits arrive, and point-in-time reads scan. The log engine is checked against it answer for
 * answer, so it shares no book-state code with the engine; it shares only input validation, the
 * event codec and the subscription stream, which are part of the contract itself.
 *
 * M1. All state changes of one operation happen synchronously after every check has passed, so a
 *     failed operation changes nothing and concurrent calls see each other's complete effects.
 * M2. Stored and returned objects are copies; a caller can never reach the store's state.
 */
import { accountKey } from '../core/account-key.js';
import { sumsSaturatedWarning, TrialBalanceSums } from '../core/trial-balance.js';
import { bookCaseKey } from '../core/book-name.js';
import { BaseStore, type BatchDraft } from '../core/base-store.js';
import { StoreError } from '../core/errors.js';
import type { NormalisedAccount, NormalisedAsset, NormalisedTransaction } from '../core/input.js';
import { formatAtUs, wallClockUs } from '../core/time.js';
import { sameAccount, sameAssetDef, sameTransactionContent } from '../core/identity.js';
import {
  I64_MAX,
  I64_MIN,
  SYSTEM_BOOK,
  type AccountCfg,
  type AccountDef,
  type AccountId,
  type AssetDef,
  type BalanceSnapshot,
  type CommitResult,
  type Committed,
  type Direction,
  type LedgerEvent,
  type PostingRecord,
  type SequencedEvent,
  type StoredTransaction,
  type Transaction,
  type TrialBalanceRow,
} from '../core/types.js';

export interface StoreWarning {
  code: string;
  message: string;
  book?: string;
}

export interface MemoryStoreOptions {
  /** The commit clock in microseconds since the epoch; default: the wall clock. */
  clockUs?: () => number;
  /** Receives operational warnings; default: process.emitWarning. */
  onWarning?: (warning: StoreWarning) => void;
}

interface PostingEntry {
  seq: number;
  atUs: number;
  txid: string;
  amountMinor: bigint;
  asset: string;
  direction: Direction;
  /** The account's raw balance after this posting. */
  rawAfter: bigint;
}

interface AccountModel {
  def: AccountDef;
  cfg: AccountCfg;
  raw: bigint;
  postings: PostingEntry[];
}

interface BookModel {
  events: SequencedEvent[];
  eventAtUs: number[];
  lastAtUs: number;
  accounts: Map<string, AccountModel>;
  idempotency: Map<string, { tx: Transaction; committed: Committed }>;
  sumsSaturationWarned: boolean;
}

export class MemoryStore extends BaseStore {
  readonly #assets = new Map<string, AssetDef>();
  readonly #books = new Map<string, BookModel>();
  readonly #booksByCaseKey = new Map<string, string>();
  readonly #txids = new Map<string, { book: string; index: number }>();
  readonly #clockUs: () => number;
  readonly #onWarning: (warning: StoreWarning) => void;

  constructor(options: MemoryStoreOptions = {}) {
    super();
    this.#clockUs = options.clockUs ?? wallClockUs;
    this.#onWarning =
      options.onWarning ?? ((warning) => process.emitWarning(warning.message, { code: warning.code }));
  }

  // --- writes -----------------------------------------------------------------------------------

  protected override async _registerAsset({ def: asset }: NormalisedAsset): Promise<void> {
    const existing = this.#assets.get(asset.id);
    if (existing !== undefined) {
      if (sameAssetDef(existing, asset)) return;
      throw StoreError.alreadyExists(`asset ${asset.id}`);
    }
    this.#append(SYSTEM_BOOK, { kind: 'asset_registered', ...asset });
    this.#assets.set(asset.id, asset);
  }

  protected override async _openAccount(account: NormalisedAccount): Promise<void> {
    if (!this.#assets.has(account.def.asset)) throw StoreError.unknownAsset(account.def.asset);
    const key = accountKey(account.def.id);
    const existing = this.#books.get(account.def.id.book)?.accounts.get(key);
    if (existing !== undefined) {
      if (sameAccount(existing, account)) return;
      throw StoreError.alreadyExists(`account ${key}`);
    }
    const book = this.#append(account.def.id.book, { kind: 'account_opened', def: account.def, cfg: account.cfg });
    book.accounts.set(key, { def: account.def, cfg: account.cfg, raw: 0n, postings: [] });
  }

  protected override async _commit(draft: NormalisedTransaction): Promise<Committed> {
    return this.#commit(draft.tx);
  }

  protected override async _commitBatch(drafts: BatchDraft[]): Promise<CommitResult[]> {
    return drafts.map((draft): CommitResult => {
      if (draft instanceof StoreError) return { ok: false, error: draft };
      try {
        return { ok: true, value: this.#commit(draft.tx) };
      } catch (error) {
        if (error instanceof StoreError) return { ok: false, error };
        throw error;
      }
    });
  }

  #commit(tx: Transaction): Committed {
    const book = this.#books.get(tx.book);
    // Idempotency first: a same-content retry returns the original whatever happened since.
    const prior = book?.idempotency.get(tx.idempotency_key);
    if (prior !== undefined) {
      if (sameTransactionContent(prior.tx, tx)) return { ...prior.committed };
      throw StoreError.idempotencyConflict(tx.book, tx.idempotency_key, { ...prior.committed });
    }
    if (this.#txids.has(tx.id)) throw StoreError.alreadyExists(`transaction ${tx.id}`);

    // Postings, in order: the account must be open in tx.book and hold the posting's asset.
    const touched = new Map<string, { account: AccountModel; delta: bigint }>();
    for (const posting of tx.postings) {
      const key = accountKey(posting.account);
      const account = posting.account.book === tx.book ? book?.accounts.get(key) : undefined;
      if (account === undefined) throw StoreError.unknownAccount({ ...posting.account });
      if (account.def.asset !== posting.amount.asset) {
        throw StoreError.assetMismatch({ ...posting.account }, account.def.asset, posting.amount.asset);
      }
    }
    // Fold into one checked delta per account, in order of first appearance.
    for (const posting of tx.postings) {
      const key = accountKey(posting.account);
      const account = book!.accounts.get(key)!;
      const entry = touched.get(key) ?? { account, delta: 0n };
      entry.delta += posting.direction === 'debit' ? posting.amount.minor : -posting.amount.minor;
      if (entry.delta < I64_MIN || entry.delta > I64_MAX) throw StoreError.overflow({ ...posting.account });
      touched.set(key, entry);
    }
    for (const { account, delta } of touched.values()) {
      const projected = account.raw + delta;
      if (projected < I64_MIN || projected > I64_MAX) throw StoreError.overflow({ ...account.def.id });
      if (account.cfg.normal_side === 'credit' && projected === I64_MIN) throw StoreError.overflow({ ...account.def.id });
    }
    for (const { account, delta } of touched.values()) {
      const minBalance = account.cfg.min_balance;
      if (minBalance === null) continue;
      const wouldBe = effective(account.cfg, account.raw + delta);
      if (wouldBe < minBalance) throw StoreError.constraintViolation({ ...account.def.id }, minBalance, wouldBe);
    }

    const model = this.#append(tx.book, { kind: 'transaction_posted', ...tx });
    const event = model.events[model.events.length - 1]!;
    const atUs = model.eventAtUs[model.eventAtUs.length - 1]!;
    for (const posting of tx.postings) {
      const account = model.accounts.get(accountKey(posting.account))!;
      account.raw += posting.direction === 'debit' ? posting.amount.minor : -posting.amount.minor;
      account.postings.push({
        seq: event.seq,
        atUs,
        txid: tx.id,
        amountMinor: posting.amount.minor,
        asset: posting.amount.asset,
        direction: posting.direction,
        rawAfter: account.raw,
      });
    }
    const committed: Committed = { txid: tx.id, seq: event.seq, at: event.at };
    model.idempotency.set(tx.idempotency_key, { tx: structuredClone(tx), committed });
    this.#txids.set(tx.id, { book: tx.book, index: model.events.length - 1 });
    return { ...committed };
  }

  /** Appends one event to a book (creating the book), stamps it, and wakes its subscribers. */
  #append(bookName: string, event: LedgerEvent): BookModel {
    let book = this.#books.get(bookName);
    if (book === undefined) {
      book = {
        events: [],
        eventAtUs: [],
        lastAtUs: 0,
        accounts: new Map(),
        idempotency: new Map(),
        sumsSaturationWarned: false,
      };
      this.#books.set(bookName, book);
      this.#booksByCaseKey.set(bookCaseKey(bookName), bookName);
    }
    const atUs = Math.max(this.#clockUs(), book.lastAtUs);
    book.lastAtUs = atUs;
    const sequenced: SequencedEvent = { seq: book.events.length + 1, at: formatAtUs(atUs), event: structuredClone(event) };
    book.events.push(sequenced);
    book.eventAtUs.push(atUs);
    this.hub.publish(bookName, [sequenced]);
    return book;
  }

  // --- reads ------------------------------------------------------------------------------------

  protected override async _balance(id: AccountId, asOfUs: number | null): Promise<BalanceSnapshot> {
    const model = this.#account(id);
    let last: PostingEntry | undefined;
    if (asOfUs === null) {
      last = model.postings[model.postings.length - 1];
    } else {
      for (const entry of model.postings) {
        if (entry.atUs > asOfUs) break;
        last = entry;
      }
    }
    return {
      amount: { minor: last === undefined ? 0n : effective(model.cfg, last.rawAfter), asset: model.def.asset },
      updated_seq: last === undefined ? 0 : last.seq,
    };
  }

  protected override async _asset(id: string): Promise<AssetDef | null> {
    const asset = this.#assets.get(id);
    return asset === undefined ? null : { ...asset };
  }

  protected override async _accountHistory(id: AccountId, after: number, seqCountMax: number): Promise<PostingRecord[]> {
    const model = this.#account(id);
    const records: PostingRecord[] = [];
    let seqCount = 0;
    let lastSeq = -1;
    for (const entry of model.postings) {
      if (entry.seq <= after) continue;
      if (entry.seq !== lastSeq) {
        if (seqCount === seqCountMax) break;
        seqCount++;
        lastSeq = entry.seq;
      }
      records.push({
        seq: entry.seq,
        txid: entry.txid,
        account: { ...id },
        amount: { minor: entry.amountMinor, asset: entry.asset },
        direction: entry.direction,
        at: formatAtUs(entry.atUs),
      });
    }
    return records;
  }

  protected override async _transaction(txid: string): Promise<StoredTransaction | null> {
    const location = this.#txids.get(txid);
    if (location === undefined) return null;
    const sequenced = this.#books.get(location.book)!.events[location.index]!;
    const { kind: _kind, ...transaction } = structuredClone(sequenced.event) as { kind: string } & Transaction;
    return { transaction, seq: sequenced.seq, at: sequenced.at };
  }

  protected override async _trialBalance(name: string, asOfUs: number | null): Promise<TrialBalanceRow[]> {
    const model = this.#books.get(name);
    if (model === undefined) return [];
    const sums = new TrialBalanceSums();
    for (let index = 0; index < model.events.length; index++) {
      if (asOfUs !== null && model.eventAtUs[index]! > asOfUs) break;
      const event = model.events[index]!.event;
      if (event.kind !== 'transaction_posted') continue;
      for (const posting of event.postings) sums.add(posting.amount.asset, posting.direction, posting.amount.minor);
    }
    if (sums.saturated && !model.sumsSaturationWarned) {
      model.sumsSaturationWarned = true;
      this.#onWarning(sumsSaturatedWarning(name));
    }
    return sums.rows();
  }

  protected override async _readEvents(book: string, from: number, limit: number): Promise<SequencedEvent[]> {
    const events = this.#books.get(book)?.events ?? [];
    const start = Math.max(from, 1) - 1;
    return structuredClone(events.slice(start, start + limit));
  }

  protected override async _close(): Promise<void> {}

  // --- helpers ----------------------------------------------------------------------------------

  protected override _checkCaseConflict(book: string): void {
    if (this.#books.has(book)) return;
    if (this.#booksByCaseKey.has(bookCaseKey(book))) throw StoreError.invalidBook(book, 'case_conflict');
  }

  #account(id: AccountId): AccountModel {
    const model = this.#books.get(id.book)?.accounts.get(accountKey(id));
    if (model === undefined) throw StoreError.unknownAccount({ ...id });
    return model;
  }
}

function effective(cfg: AccountCfg, raw: bigint): bigint {
  return cfg.normal_side === 'credit' ? -raw : raw;
}

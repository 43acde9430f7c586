/**
 * LogStore: the durable, worker-sharded Store (spec/log-engine.md). This module is the public API:
 * lifecycle, input validation, the book table, the store-wide txid index, the asset registry copy,
 * admission control and subscriptions. The writers live in the shards (src/shard.ts).
 *
 * A1. A write resolves only after the fsync of the batch that holds it has returned; from then on
 *     every read reflects it and durableSeq(book) >= its seq.
 * A2. Every call is checked in the contract's precedence: CLOSED, argument types, INVALID_BOOK, the
 *     rest of the shape; then BOOK_UNAVAILABLE and OVERLOADED; then the book's own checks.
 * A3. Admission is bounded: at most `queueDepthMax` write jobs per book are in flight; beyond that
 *     a write is OVERLOADED at once and nothing was done.
 * A4. close() always resolves: with open subscriptions, in-flight work, dead books or dead workers.
 * A5. A refused write never reserves a book name. While a new book's first write is in flight, an
 *     openAccount on a name equal to it ignoring case waits for that write's outcome: the name is
 *     taken if it succeeded (case_conflict) and free again if it failed, as if the calls had run
 *     one after another.
 * A6. The workers' open files are budgeted from the soft RLIMIT_NOFILE read at open (or option
 *     fdsMax), leaving the application a quarter of the limit (src/log/fd-budget.ts); a write that
 *     finds no descriptor is OVERLOADED, never BOOK_UNAVAILABLE.
 * A7. A txid that two books hold on disk (the Rust store checks txids nowhere) belongs to the first
 *     of them in UTF-8 name order, whatever the thread timing, with a TXID_SHARED warning.
 */
import path from 'node:path';
import { BaseStore, type BatchDraft } from '../core/base-store.js';
import { bookCaseKey, isValidBookName } from '../core/book-name.js';
import { DataDirLock } from './data-dir-lock.js';
import { StoreError } from '../core/errors.js';
import { RealFileSystem, type FileSystem } from './file-system.js';
import { derivedFdsMax, readOpenFilesLimit, workerFdShare } from './fd-budget.js';
import { sameAssetDef } from '../core/identity.js';
import { postingRecordsOf, readTxid, type HistoryColumns } from './posting-index.js';
import { BalanceSlotsReader } from './shared-balances.js';
import { checkBook, type NormalisedAccount, type NormalisedAsset, type NormalisedTransaction } from '../core/input.js';
import { WATERMARK_SLOTS_PER_CHUNK, WORKER_FDS_MIN } from '../core/limits.js';
import { resolveOptions, type LogStoreOptions, type ResolvedOptions } from './options.js';
import { Router, type AppendedHandler, type PendingRequest } from './router.js';
import { TxidTable } from './txid-table.js';
import { workerIndexOf } from './sharding.js';
import type { Subscription } from '../core/subscription.js';
import {
  SYSTEM_BOOK,
  type AccountId,
  type AssetDef,
  type BalanceSnapshot,
  type CommitResult,
  type Committed,
  type LedgerEvent,
  type PostingRecord,
  type SequencedEvent,
  type StoredTransaction,
  type Transaction,
  type TrialBalanceRow,
} from '../core/types.js';
import { forEachSharedAccount, fromWireError, type JobRequest, type RecoverResult, type ReplyValue } from './worker-protocol.js';

type BookStatus = 'absent' | 'creating' | 'live' | 'dead';

interface BookEntry {
  name: string;
  worker: number;
  slot: number;
  status: BookStatus;
  /** Write jobs sent to the worker and not yet answered (A3). */
  inFlight: number;
  /** Callers waiting for a `creating` book to exist or to be absent again (A5). */
  creationWaiters: Array<() => void>;
  deadError: StoreError | null;
  /** The book's accounts and their balance slots (src/log/shared-balances.ts). */
  balances: BalanceSlotsReader;
}

export class LogStore extends BaseStore {
  readonly #options: ResolvedOptions;
  readonly #lock: DataDirLock;
  readonly #router: Router;
  readonly #books = new Map<string, BookEntry>();
  readonly #booksByCaseKey = new Map<string, string>();
  /** Store-wide txid → ordinal of its book in #bookNames (section 1.6), about 32 bytes a transaction. */
  readonly #txids = new TxidTable();
  readonly #bookNames: string[] = [];
  readonly #bookOrdinals = new Map<string, number>();
  /** Txids of commits in flight → their book, with a count when more than one is in flight. */
  readonly #txidReservations = new Map<string, string | { book: string; count: number }>();
  readonly #assets = new Map<string, AssetDef>();
  readonly #slotChunks: BigInt64Array[] = [];
  /** [batches, frames] fsynced per worker (ShardConfig.writeCounters). */
  readonly #writeCounters: BigInt64Array;
  #slotCount = 0;
  #registrations: Promise<unknown> = Promise.resolve();

  private constructor(dir: string, options: ResolvedOptions, lock: DataDirLock) {
    super();
    this.#options = options;
    this.#lock = lock;
    this.#writeCounters = new BigInt64Array(new SharedArrayBuffer(2 * options.workers * BigInt64Array.BYTES_PER_ELEMENT));
    const testClock = options.testHooks.clockUs ?? null;
    this.#router = new Router(
      {
        workerCount: options.workers,
        shard: {
          dataDir: dir,
          segmentMax: options.segmentMax,
          snapshotEvery: options.snapshotEvery,
          idemHotCap: options.idemHotCap,
          writerSpinUs: options.writerSpinUs,
          writeCounters: this.#writeCounters,
          fdsPerWorker: descriptorShare(options),
          clockUs: testClock,
          ...(options.testHooks.scanChunkBytes === undefined ? {} : { scanChunkBytes: options.testHooks.scanChunkBytes }),
          ...(options.testHooks.preallocate === undefined ? {} : { preallocate: { ...options.testHooks.preallocate } }),
          ...(options.testHooks.precheckFromBytes === undefined ? {} : { precheckFromBytes: options.testHooks.precheckFromBytes }),
          fileSystemModule: options.testHooks.fileSystemModule ?? null,
          fileSystemConfig: options.testHooks.fileSystemConfig ?? null,
        },
        inProcess: options.testHooks.inProcess === true,
        inProcessFileSystem: options.testHooks.fileSystem,
      },
      {
        onBookDead: (book, error) => this.#markDead(book, error),
        onWarning: (warning) => this.#options.onWarning(warning),
        onBalanceChunk: (book, chunkIndex, buffer) => this.#entry(book).balances.attach(chunkIndex, buffer),
        onWorkerDeath: (workerIndex, cause) => {
          for (const entry of this.#books.values()) {
            if (entry.worker === workerIndex) this.#markDead(entry.name, StoreError.bookUnavailable(entry.name, cause));
          }
        },
      },
    );
  }

  /**
   * Opens (creating if needed) the data directory `dir`: takes its lock, recovers every book and
   * resolves with a ready store. Rejects INVALID_ARGUMENT for bad options, IO when the directory is
   * locked, CORRUPT (with file and offset) for damage recovery may not repair.
   */
  static async open(dir: string, options?: LogStoreOptions): Promise<LogStore> {
    if (typeof dir !== 'string' || dir.length === 0) throw StoreError.invalidArgument('dir', 'must be a non-empty string');
    const resolved = resolveOptions(options);
    const root = path.resolve(dir);
    // Every disk access but the lock goes through the injectable file system (log-engine 13.2).
    const fileSystem = (resolved.testHooks.inProcess === true ? resolved.testHooks.fileSystem : undefined) ?? new RealFileSystem();
    createDirectories(root, fileSystem);
    const lock = DataDirLock.acquire(root);
    let store: LogStore | undefined;
    try {
      const books = listBooks(root, fileSystem);
      store = new LogStore(root, resolved, lock);
      await store.#recover(books);
      return store;
    } catch (error) {
      if (store !== undefined) await store.#router.close().catch(() => undefined);
      lock.release();
      throw error;
    }
  }

  async #recover(books: string[]): Promise<void> {
    const perWorker = new Map<number, Array<{ book: string; slot: number }>>();
    for (const book of books) {
      const entry = this.#entry(book);
      entry.status = 'live';
      this.#booksByCaseKey.set(bookCaseKey(book), book);
      const list = perWorker.get(entry.worker) ?? [];
      list.push({ book, slot: entry.slot });
      perWorker.set(entry.worker, list);
    }
    const results = await Promise.all(
      [...perWorker].map(([worker, list]) => this.#router.request(worker, { op: 'recover', books: list }) as Promise<RecoverResult>),
    );
    // The first failing book in UTF-8 name order decides, so the error does not depend on timing.
    const failures: Array<{ book: string; error: StoreError }> = [];
    const recovered: Array<Extract<RecoverResult['books'][number], { txidBytes: Uint8Array }>> = [];
    for (const result of results) {
      for (const book of result.books) {
        if ('error' in book) failures.push({ book: book.book, error: fromWireError(book.error) });
        else recovered.push(book);
      }
      if (result.assets !== null) for (const def of result.assets) this.#assets.set(def.id, def);
    }
    if (failures.length > 0) {
      failures.sort((left, right) => Buffer.compare(Buffer.from(left.book), Buffer.from(right.book)));
      throw failures[0]!.error;
    }
    // A txid in two books (the Rust store does not check txids across books) stays with the first
    // in UTF-8 name order, for transaction(txid) and whatever the thread timing; no book accepts a
    // new commit with it. Each book is sound on its own, so this is a warning, not CORRUPT.
    recovered.sort((left, right) => Buffer.compare(Buffer.from(left.book), Buffer.from(right.book)));
    for (const book of recovered) {
      const ordinal = this.#bookOrdinal(book.book);
      const balances = this.#entry(book.book).balances;
      forEachSharedAccount(book.accounts, (path, asset, credit) => balances.addAccount(path, asset, credit));
      // The first book's txids come with its worker's index; the others are added all at once when
      // no txid is shared (the table is unchanged if one is), else one by one.
      const ordinals = new Float64Array(book.txidBytes.length / 16).fill(ordinal);
      if (this.#txids.size === 0 && book.txidIndex !== null) {
        this.#txids.adoptColumns(book.txidBytes, ordinals, book.txidIndex);
        continue;
      }
      if (this.#txids.importColumns(book.txidBytes, ordinals)) continue;
      const shared = new Map<number, { count: number; first: string }>(); // ordinal of the earlier book → its txids here
      for (let offset = 0; offset < book.txidBytes.length; offset += 16) {
        if (this.#txids.setBytes(book.txidBytes, offset, ordinal)) continue;
        const owner = this.#txids.getBytes(book.txidBytes, offset)!;
        const entry = shared.get(owner) ?? { count: 0, first: readTxid(book.txidBytes, offset) };
        entry.count++;
        shared.set(owner, entry);
      }
      for (const [owner, { count, first }] of shared) {
        const ownerBook = this.#bookNames[owner]!;
        const message =
          `book ${book.book} holds ${count} txid${count === 1 ? '' : 's'} that book ${ownerBook} holds too (the first: ${first}); ` +
          `transaction(txid) returns book ${ownerBook}'s, and no book accepts a new commit with ${count === 1 ? 'it' : 'them'}`;
        this.#options.onWarning({ code: 'TXID_SHARED', message, book: book.book });
      }
    }
    await this.#router.broadcast({ op: 'repair' });
    await this.#router.broadcast({ op: 'assets', assets: [...this.#assets.values()] });
  }

  // --- writes -----------------------------------------------------------------------------------

  protected override async _registerAsset({ def: asset, eventJson }: NormalisedAsset): Promise<void> {
    // Registrations are serialised; nothing else waits for them.
    const registration = this.#registrations.then(() => this.#registerAsset(asset, eventJson));
    this.#registrations = registration.catch(() => undefined);
    return registration;
  }

  async #registerAsset(asset: AssetDef, eventJson: string): Promise<void> {
    this.checkOpen();
    const existing = this.#assets.get(asset.id);
    if (existing !== undefined) {
      if (sameAssetDef(existing, asset)) return;
      throw StoreError.alreadyExists(`asset ${asset.id}`);
    }
    const entry = this.#admit(SYSTEM_BOOK, 1);
    await this.#write(entry, 1, { op: 'registerAsset', book: SYSTEM_BOOK, slot: entry.slot, def: asset, eventJson }, (seq, at) =>
      this.#publish(SYSTEM_BOOK, seq, at, { kind: 'asset_registered', ...asset }),
    );
    // Every worker's registry copy learns the asset before the caller does.
    await this.#router.broadcast({ op: 'assetRegistered', def: asset });
    this.#assets.set(asset.id, asset);
  }

  protected override async _openAccount(account: NormalisedAccount): Promise<void> {
    const book = account.def.id.book;
    if (this.#caseHolder(book)?.status === 'creating') {
      await this.#creationSettled(book);
      this.checkOpen();
      this._checkCaseConflict(book);
    }
    const entry = this.#admit(book, 1);
    if (entry.status === 'absent') {
      entry.status = 'creating';
      this.#booksByCaseKey.set(bookCaseKey(book), book);
    }
    await this.#write(entry, 1, { op: 'openAccount', book, slot: entry.slot, def: account.def, cfg: account.cfg, eventJson: account.eventJson }, (seq, at) => {
      // Appended handlers run in seq order, the order in which the worker numbers accounts (M1).
      entry.balances.addAccount(account.def.id.path, account.def.asset, account.cfg.normal_side === 'credit');
      return this.#publish(book, seq, at, { kind: 'account_opened', def: account.def, cfg: account.cfg });
    });
  }

  protected override _commit(draft: NormalisedTransaction): Promise<Committed> {
    return this.#commitDraft(this.#admit(draft.tx.book, 1), draft); // an admission refusal throws: the front rejects with it
  }

  protected override async _commitBatch(drafts: BatchDraft[]): Promise<CommitResult[]> {
    const results: CommitResult[] = new Array(drafts.length);
    const byBook = new Map<string, Array<{ index: number; draft: NormalisedTransaction }>>();
    for (let index = 0; index < drafts.length; index++) {
      const draft = drafts[index]!;
      if (draft instanceof StoreError) {
        results[index] = { ok: false, error: draft };
        continue;
      }
      const group = byBook.get(draft.tx.book) ?? [];
      group.push({ index, draft });
      byBook.set(draft.tx.book, group);
    }
    // Slots have the outcomes of commits made one after another in input order (store-contract
    // 7.5). Books are independent unless drafts of two books share a txid: such a batch is
    // committed one draft at a time, so the txid goes to the first draft that commits.
    const txidBook = new Map<string, string>();
    let txidShared = false;
    for (const [book, group] of byBook) {
      for (const { draft } of group) {
        if ((txidBook.get(draft.tx.id) ?? book) !== book) txidShared = true;
        txidBook.set(draft.tx.id, book);
      }
    }
    if (txidShared) {
      for (let index = 0; index < drafts.length; index++) {
        const draft = drafts[index]!;
        if (draft instanceof StoreError) continue;
        try {
          results[index] = { ok: true, value: await this.#commitDraft(this.#admit(draft.tx.book, 1), draft) };
        } catch (error) {
          if (!(error instanceof StoreError)) throw error;
          results[index] = { ok: false, error };
        }
      }
      return results;
    }
    // One promise for the whole batch: each draft's ticket fills its own slot (no promise per draft).
    const slots = new BatchSlots(results);
    for (const [book, group] of byBook) {
      let entry: BookEntry;
      try {
        entry = this.#admit(book, group.length); // a book's part is admitted whole or not at all
      } catch (error) {
        if (!(error instanceof StoreError)) throw error;
        for (const { index } of group) results[index] = { ok: false, error };
        continue;
      }
      for (const { index, draft } of group) this.#sendCommit(new SlotTicket(this.#commitHooks, entry, draft.tx, this.#keptContent(draft.tx), slots, index), draft.tx, draft.eventJson);
    }
    return slots.settled();
  }

  /** One admitted commit, settled as a promise. */
  #commitDraft(entry: BookEntry, draft: NormalisedTransaction): Promise<Committed> {
    return new Promise<Committed>((resolve, reject) =>
      this.#sendCommit(new PromiseTicket(this.#commitHooks, entry, draft.tx, this.#keptContent(draft.tx), resolve, reject), draft.tx, draft.eventJson),
    );
  }

  /**
   * What a ticket keeps of its transaction until the commit is durable besides its txid and book:
   * all of it only when the book has streams to push it to. Commits in flight outlive
   * young-generation collections, so a copy of each transaction kept for nothing was most of what
   * they copied.
   */
  #keptContent(tx: Transaction): Transaction | null {
    return this.hub.hasSubscribers(tx.book) ? tx : null;
  }

  /**
   * Sends one admitted commit, checking its txid store-wide on the way. The admission and the txid
   * reservation are released by the ticket just before it settles (CommitHooks.settled).
   */
  #sendCommit(ticket: CommitTicket, tx: Transaction, eventJson: string): void {
    const entry = ticket.entry;
    const ownerOrdinal = this.#txids.get(tx.id);
    const owner = ownerOrdinal === undefined ? undefined : this.#bookNames[ownerOrdinal];
    const held = this.#txidReservations.get(tx.id);
    const heldBy = typeof held === 'string' ? held : held?.book;
    const txidForeign = (owner !== undefined && owner !== tx.book) || (heldBy !== undefined && heldBy !== tx.book);
    if (!txidForeign) {
      // One commit of a txid in flight is the book's name alone: no object per commit.
      if (held === undefined) this.#txidReservations.set(tx.id, tx.book);
      else if (typeof held === 'string') this.#txidReservations.set(tx.id, { book: held, count: 2 });
      else held.count++;
    }
    ticket.txidForeign = txidForeign;
    this.#router.requestCommit(entry.worker, entry.slot, tx, eventJson, txidForeign, ticket);
  }

  /** What every commit ticket does on its acknowledgement and on settling: made once per store. */
  readonly #commitHooks: CommitHooks = {
    appended: (ticket, seq, at) => {
      const { txid, book, content } = ticket;
      this.#markDurable(ticket.entry);
      this.#txids.set(txid, this.#bookOrdinal(book));
      if (this.hub.hasSubscribers(book)) {
        // A stream that began while the commit was in flight reads the event from the log (U6).
        if (content === null) this.hub.missed(book);
        else this.hub.publish(book, [{ seq, at, event: { kind: 'transaction_posted', ...content } }]);
      }
      return { txid, seq, at };
    },
    settled: (ticket) => {
      this.#release(ticket.entry, 1);
      if (!ticket.txidForeign) {
        const held = this.#txidReservations.get(ticket.txid)!;
        if (typeof held === 'string' || --held.count === 0) this.#txidReservations.delete(ticket.txid);
      }
    },
  };

  /** Admits `count` write jobs for a book (A2, A3) and returns its entry. */
  #admit(book: string, count: number): BookEntry {
    const entry = this.#entry(book);
    if (entry.status === 'dead') throw entry.deadError ?? StoreError.bookUnavailable(book);
    const limit = this.#options.queueDepthMax;
    if (entry.inFlight > 0 && entry.inFlight + count > limit) throw StoreError.overloaded(book);
    entry.inFlight += count;
    return entry;
  }

  /**
   * Hands an appended event to the book's live streams: called in seq order, as each batch is
   * answered and before its callers resume (the worker does not send events back).
   */
  #publish(book: string, seq: number, at: string, event: LedgerEvent): undefined {
    if (this.hub.hasSubscribers(book)) this.hub.publish(book, [{ seq, at, event }]);
    return undefined;
  }

  /** Sends one admitted write job and releases its admission when it settles. */
  async #write(entry: BookEntry, count: number, job: JobRequest, onAppended?: AppendedHandler): Promise<unknown> {
    try {
      const value = await this.#router.request(entry.worker, job, entry.name, onAppended);
      this.#markDurable(entry);
      return value;
    } finally {
      this.#release(entry, count);
    }
  }

  /** A book that has a durable event exists from now on. */
  #markDurable(entry: BookEntry): void {
    if ((entry.status === 'creating' || entry.status === 'absent') && this.#durableSeqOf(entry) > 0) {
      entry.status = 'live';
      this.#booksByCaseKey.set(bookCaseKey(entry.name), entry.name);
      this.#creationDecided(entry);
    }
  }

  /** Ends the admission of `count` settled write jobs. */
  #release(entry: BookEntry, count: number): void {
    entry.inFlight -= count;
    if (entry.inFlight === 0 && entry.status === 'creating' && this.#durableSeqOf(entry) === 0) {
      // Nothing was ever appended: the book does not exist, and its name is free again.
      entry.status = 'absent';
      this.#booksByCaseKey.delete(bookCaseKey(entry.name));
      this.#creationDecided(entry);
    }
  }

  /**
   * Takes a snapshot of a book now (an operator and test method). Resolves when the file is
   * durable; resolves without a file for an empty book. Rejects INVALID_ARGUMENT for a book that
   * does not exist, BOOK_UNAVAILABLE for a dead one, IO when the snapshot could not be written.
   */
  async snapshot(book: string): Promise<void> {
    this.checkOpen();
    const name = checkBook(book, 'book', false);
    const known = this.#books.get(name);
    if (known === undefined || known.status === 'absent' || (known.status === 'creating' && this.#durableSeqOf(known) === 0)) {
      throw StoreError.invalidArgument('book', `book ${name} does not exist`);
    }
    const entry = this.#admit(name, 1);
    await this.#write(entry, 1, { op: 'snapshot', book: name, slot: entry.slot });
  }

  // --- reads ------------------------------------------------------------------------------------

  protected override async _balance(id: AccountId, asOfUs: number | null): Promise<BalanceSnapshot> {
    if (asOfUs === null) {
      const shared = this.#sharedBalance(id);
      if (shared !== null) return shared;
    }
    const value = (await this.#read(id.book, { op: 'balance', book: id.book, account: id, asOfUs })) as {
      minor: bigint;
      asset: string;
      updatedSeq: number;
    };
    return { amount: { minor: value.minor, asset: value.asset }, updated_seq: value.updatedSeq };
  }

  /** A balance read from shared memory (src/shared-balances.ts), or null to ask the worker. */
  #sharedBalance(id: AccountId): BalanceSnapshot | null {
    const entry = this.#books.get(id.book);
    if (entry === undefined || entry.status !== 'live') return null; // dead books answer through their worker
    const balance = entry.balances.balance(id.path);
    return balance === null ? null : { amount: { minor: balance.minor, asset: balance.asset }, updated_seq: balance.updatedSeq };
  }

  protected override async _asset(id: string): Promise<AssetDef | null> {
    const asset = this.#assets.get(id);
    // Every field is a primitive: a spread is an exact copy, and far cheaper than structuredClone.
    return asset === undefined ? null : { ...asset };
  }

  protected override async _accountHistory(id: AccountId, after: number, count: number): Promise<PostingRecord[]> {
    const { page, asset } = (await this.#read(id.book, { op: 'history', book: id.book, account: id, afterSeq: after, limit: count })) as {
      page: HistoryColumns;
      asset: string;
    };
    return postingRecordsOf(page, id, asset);
  }

  protected override async _transaction(id: string): Promise<StoredTransaction | null> {
    const ordinal = this.#txids.get(id);
    if (ordinal === undefined) return null;
    const book = this.#bookNames[ordinal]!;
    return (await this.#read(book, { op: 'transaction', book, txid: id })) as StoredTransaction | null;
  }

  protected override async _trialBalance(name: string, asOfUs: number | null): Promise<TrialBalanceRow[]> {
    return (await this.#read(name, { op: 'trialBalance', book: name, asOfUs })) as TrialBalanceRow[];
  }

  protected override async _readEvents(book: string, from: number, limit: number): Promise<SequencedEvent[]> {
    if (limit === 0 || !this.#books.has(book)) return [];
    return this.#read(book, { op: 'readEvents', book, from, limit }) as Promise<SequencedEvent[]>;
  }

  #read(book: string, job: JobRequest): Promise<unknown> {
    return this.#router.request(this.#workerOf(book), job, book);
  }

  protected override _subscribed(stream: Subscription): void {
    const entry = this.#books.get(stream.book);
    if (entry?.status === 'dead') stream.fail(entry.deadError); // drains what is durable, then rejects
  }

  /**
   * Write batches fsynced since open (one write and one fsync each, W6 of src/log/shard.ts) and the
   * frames they held, summed over the workers: frames ÷ batches is the group commit's reach. An
   * operator and benchmark method; it reads shared counters, no round trip.
   */
  writeStats(): { batches: number; frames: number } {
    let batches = 0n;
    let frames = 0n;
    for (let index = 0; index < this.#writeCounters.length; index += 2) {
      batches += Atomics.load(this.#writeCounters, index);
      frames += Atomics.load(this.#writeCounters, index + 1);
    }
    return { batches: Number(batches), frames: Number(frames) };
  }

  /** The highest fsynced and applied seq of a book: one Atomics.load, no round trip. */
  durableSeq(book: string): number {
    this.checkOpen();
    const name = checkBook(book, 'book', false);
    const entry = this.#books.get(name);
    return entry === undefined ? 0 : this.#durableSeqOf(entry);
  }

  /** Resolves when every worker has stopped and the lock is released (A4). */
  protected override async _close(): Promise<void> {
    try {
      await this.#router.close();
    } finally {
      this.#lock.release();
    }
  }

  // --- helpers ----------------------------------------------------------------------------------

  /** INVALID_BOOK case_conflict when another book of the same name ignoring case exists (A5). */
  protected override _checkCaseConflict(book: string): void {
    const holder = this.#caseHolder(book);
    if (holder !== null && holder.status !== 'creating') throw StoreError.invalidBook(book, 'case_conflict');
  }

  /** The entry of another book that holds `book`'s name ignoring case, or null. */
  #caseHolder(book: string): BookEntry | null {
    const entry = this.#books.get(book);
    if (entry !== undefined && entry.status !== 'absent') return null;
    const holder = this.#booksByCaseKey.get(bookCaseKey(book));
    return holder === undefined || holder === book ? null : this.#entry(holder);
  }

  /** Resolves once no book that holds `book`'s name ignoring case is still being created (A5). */
  async #creationSettled(book: string): Promise<void> {
    for (let holder = this.#caseHolder(book); holder?.status === 'creating'; holder = this.#caseHolder(book)) {
      const waiting = holder;
      await new Promise<void>((resolve) => waiting.creationWaiters.push(resolve));
    }
  }

  /** Wakes the callers waiting for a book's creation to succeed or fail. */
  #creationDecided(entry: BookEntry): void {
    const waiters = entry.creationWaiters.splice(0);
    for (const wake of waiters) wake();
  }

  #bookOrdinal(book: string): number {
    let ordinal = this.#bookOrdinals.get(book);
    if (ordinal === undefined) {
      ordinal = this.#bookNames.length;
      this.#bookNames.push(book);
      this.#bookOrdinals.set(book, ordinal);
    }
    return ordinal;
  }

  #workerOf(book: string): number {
    return workerIndexOf(book, this.#router.workerCount);
  }

  /** The book's entry, created (status `absent`, with a watermark slot) on first sight. */
  #entry(book: string): BookEntry {
    let entry = this.#books.get(book);
    if (entry === undefined) {
      entry = {
        name: book,
        worker: this.#workerOf(book),
        slot: this.#allocateSlot(),
        status: 'absent',
        inFlight: 0,
        creationWaiters: [],
        deadError: null,
        balances: new BalanceSlotsReader(),
      };
      this.#books.set(book, entry);
    }
    return entry;
  }

  #allocateSlot(): number {
    const slot = this.#slotCount++;
    const chunkIndex = Math.floor(slot / WATERMARK_SLOTS_PER_CHUNK);
    if (chunkIndex === this.#slotChunks.length) {
      const buffer = new SharedArrayBuffer(WATERMARK_SLOTS_PER_CHUNK * BigInt64Array.BYTES_PER_ELEMENT);
      this.#slotChunks.push(new BigInt64Array(buffer));
      // Queued before any job that uses a slot of this chunk, on every worker's port.
      void this.#router.broadcast({ op: 'slots', chunkIndex, buffer }).catch(() => undefined);
    }
    return slot;
  }

  #durableSeqOf(entry: BookEntry): number {
    const chunk = this.#slotChunks[Math.floor(entry.slot / WATERMARK_SLOTS_PER_CHUNK)]!;
    return Number(Atomics.load(chunk, entry.slot % WATERMARK_SLOTS_PER_CHUNK));
  }

  #markDead(book: string, error: StoreError): void {
    const entry = this.#entry(book);
    entry.status = 'dead';
    entry.deadError = error.code === 'BOOK_UNAVAILABLE' ? error : StoreError.bookUnavailable(book, error);
    this.hub.fail(book, entry.deadError);
    this.#creationDecided(entry);
  }
}

/**
 * Each worker's descriptor share (src/log/fd-budget.ts): from fdsMax if given, else from the soft
 * RLIMIT_NOFILE read now. Warns when the limit leaves less than the smallest useful share.
 */
function descriptorShare(options: ResolvedOptions): number {
  let fdsMax = options.fdsMax;
  if (fdsMax === null) {
    const limit = options.testHooks.openFilesLimit ?? readOpenFilesLimit();
    fdsMax = derivedFdsMax(limit, options.workers);
    if (fdsMax < WORKER_FDS_MIN * options.workers) {
      options.onWarning({
        code: 'FD_LIMIT_LOW',
        message: `the open-files limit (${limit}) leaves ${fdsMax} descriptors for ${options.workers} workers; each takes ${WORKER_FDS_MIN} anyway and writes may be refused OVERLOADED (raise ulimit -n or lower workers)`,
      });
    }
  }
  return workerFdShare(fdsMax, options.workers);
}

/** Creates `<dir>` and `<dir>/books` if missing, fsyncing the parent of each created directory. */
function createDirectories(root: string, fileSystem: FileSystem): void {
  try {
    for (const directory of [root, path.join(root, 'books')]) {
      const missing: string[] = [];
      for (let current = directory; fileSystem.statKindSync(current) === null; current = path.dirname(current)) missing.unshift(current);
      for (const created of missing) {
        fileSystem.mkdirSync(created);
        fileSystem.fsyncDirSync(path.dirname(created));
      }
    }
  } catch (error) {
    throw StoreError.io(`cannot create data dir ${root}`, error);
  }
}

/** The book directories of `books/` (D2, D3, D4 of log-engine 5.2); the operator CLI lists books with it too. */
export function listBooks(root: string, fileSystem: FileSystem = new RealFileSystem()): string[] {
  const booksDir = path.join(root, 'books');
  const books: string[] = [];
  const byCaseKey = new Map<string, string>();
  for (const name of fileSystem.readdirSync(booksDir)) {
    if (fileSystem.statKindSync(path.join(booksDir, name)) !== 'directory') continue; // D4
    if (!isValidBookName(name)) throw StoreError.invalidBook(name, 'pattern');
    const other = byCaseKey.get(bookCaseKey(name));
    if (other !== undefined) {
      const error = StoreError.invalidBook(name, 'case_conflict');
      error.message = `INVALID_BOOK: book directories "${other}" and "${name}" differ only in ASCII case`;
      throw error;
    }
    byCaseKey.set(bookCaseKey(name), name);
    books.push(name);
  }
  return books.sort();
}

interface CommitHooks {
  appended(ticket: CommitTicket, seq: number, at: string): Committed;
  settled(ticket: CommitTicket): void;
}

/**
 * One commit in flight, as the router holds it (PendingRequest): one object per commit and no
 * closures. It settles a promise (PromiseTicket) or one slot of a commitBatch (SlotTicket).
 */
abstract class CommitTicket implements PendingRequest {
  txidForeign = false;

  readonly txid: string;
  readonly book: string;

  constructor(
    readonly hooks: CommitHooks,
    readonly entry: BookEntry,
    tx: Transaction,
    /** The transaction, kept only for the book's streams (LogStore#keptContent). */
    readonly content: Transaction | null,
  ) {
    this.txid = tx.id;
    this.book = tx.book;
  }

  appended(seq: number, at: string): Committed {
    return this.hooks.appended(this, seq, at);
  }

  settled(): void {
    this.hooks.settled(this);
  }

  abstract resolve(value: ReplyValue): void;
  abstract reject(error: StoreError): void;
}

class PromiseTicket extends CommitTicket {
  constructor(
    hooks: CommitHooks,
    entry: BookEntry,
    tx: Transaction,
    content: Transaction | null,
    readonly resolve: (value: Committed) => void,
    readonly reject: (error: StoreError) => void,
  ) {
    super(hooks, entry, tx, content);
  }
}

/** The outcomes of one commitBatch call, filled slot by slot; settled() resolves once all are in. */
class BatchSlots {
  #outstanding = 0;
  #resolve: ((results: CommitResult[]) => void) | null = null;

  constructor(readonly results: CommitResult[]) {}

  expect(): void {
    this.#outstanding++;
  }

  fill(index: number, result: CommitResult): void {
    this.results[index] = result;
    if (--this.#outstanding === 0) this.#resolve?.(this.results);
  }

  settled(): Promise<CommitResult[]> {
    if (this.#outstanding === 0) return Promise.resolve(this.results);
    return new Promise((resolve) => (this.#resolve = resolve));
  }
}

class SlotTicket extends CommitTicket {
  constructor(
    hooks: CommitHooks,
    entry: BookEntry,
    tx: Transaction,
    content: Transaction | null,
    readonly slots: BatchSlots,
    readonly index: number,
  ) {
    super(hooks, entry, tx, content);
    slots.expect();
  }

  resolve(value: ReplyValue): void {
    this.slots.fill(this.index, { ok: true, value: value as Committed });
  }

  reject(error: StoreError): void {
    this.slots.fill(this.index, { ok: false, error });
  }
}

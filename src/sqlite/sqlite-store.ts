/**
 * SqliteStore: the store on one SQLite database file (`sqlite://<file>`, `talea-store-log/sqlite`),
 * and the benchmark's peer (spec/bench.md, section 4.1). It implements the same `Store` interface
 * as LogStore on better-sqlite3, made exactly as durable, and passes the same conformance suite
 * with an empty skip list. It is what a Node user would embed instead of the log store.
 *
 * Q1. One database file for every book, `journal_mode=WAL` and `synchronous=FULL`: every commit
 *     fsyncs the WAL before it returns. `open` reads both pragmas back and refuses to run otherwise.
 *     Auto-checkpointing stays at SQLite's default; checkpoint fsyncs are part of the cost.
 * Q2. Group commit per event-loop turn: the writes submitted during one turn are run at
 *     `setImmediate` in submission order inside one SQLite transaction, with a SAVEPOINT per job so
 *     that a failed job never fails its batchmates. Every job of a batch is answered only after the
 *     COMMIT (and its fsync) returned, positionally, and subscribers hear of the batch's events
 *     before the first answer.
 * Q3. The same per-book admission bound as LogStore: at most `queueDepthMax` write jobs of one book
 *     in flight; beyond it a write is OVERLOADED at once and nothing was done.
 * Q4. Same answers as MemoryStore: input validation is the shared front (src/core/base-store.ts,
 *     src/core/input.ts), identity rules src/core/identity.ts, the clock clamp src/core/time.ts,
 *     subscriptions src/core/subscription.ts. Jobs are validated against
 *     the database inside the batch transaction, one after another, so a job sees every earlier
 *     accepted job, exactly as if the calls had run one by one.
 * Q5. The database is the only state. Balances are a projection table updated inside the commit
 *     transaction; the trial balance is aggregated on demand (saturating at the i64 bounds, with one
 *     warning per book, like every store).
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import type Database from 'better-sqlite3';

import { BaseStore, commitQueuedBatch, type BatchDraft } from '../core/base-store.js';
import { checkedDeltas, effectiveBalance, postingAccount, type LoadedAccount } from '../core/commit-checks.js';
import { sumsSaturatedWarning, TrialBalanceSums } from '../core/trial-balance.js';
import { accountKey } from '../core/account-key.js';
import { bookCaseKey } from '../core/book-name.js';
import { StoreError } from '../core/errors.js';
import { decodeAssetDef, decodeEvent, decodeTransaction } from '../core/event-codec.js';
import { sameAccount, sameAssetDef, sameTransactionContent } from '../core/identity.js';
import type { NormalisedAccount, NormalisedAsset, NormalisedTransaction } from '../core/input.js';
import { BATCH_DRAFTS_MAX, QUEUE_DEPTH_MAX_DEFAULT } from '../core/limits.js';
import { formatAtUs, wallClockUs } from '../core/time.js';
import {
  SYSTEM_BOOK,
  type AccountId,
  type AccountKind,
  type AssetDef,
  type BalanceSnapshot,
  type CommitResult,
  type Committed,
  type Direction,
  type PostingRecord,
  type SequencedEvent,
  type StoredTransaction,
  type Transaction,
  type TrialBalanceRow,
} from '../core/types.js';

/** The database file's name inside a directory, where a caller names a directory (bench, tests). */
export const SQLITE_FILE_NAME = 'ledger.sqlite';

export interface SqliteStoreWarning {
  code: string;
  message: string;
  book?: string;
}

export interface SqliteStoreOptions {
  /** Write jobs in flight per book before OVERLOADED; default 4096 (LogStore's default). */
  queueDepthMax?: number;
  /** Write jobs run in one SQLite transaction at most; default 1024 (LogStore's batch bound). */
  batchJobsMax?: number;
  /** The commit clock in microseconds since the epoch; default: the wall clock. */
  clockUs?: () => number;
  /** Default: process.emitWarning. */
  onWarning?: (warning: SqliteStoreWarning) => void;
}

/** What `open` read back from the database: the durability self-check of bench.md 4.1. */
export interface SqliteDurability {
  library_version: string;
  journal_mode: string;
  synchronous: number;
}

type Row = Record<string, unknown>;

interface BookRow {
  lastSeq: number;
  lastAtUs: number;
}

/** An account as loaded for a commit or a read (src/core/commit-checks.ts). */
type AccountRow = LoadedAccount;

/** One queued write. `run` executes inside the batch transaction and returns the job's answer. */
interface WriteJob {
  book: string;
  counted: boolean;
  run: () => unknown;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

type JobOutcome = { ok: true; value: unknown } | { ok: false; error: unknown };

const SCHEMA = `
CREATE TABLE IF NOT EXISTS books (
  name TEXT PRIMARY KEY,
  case_key TEXT NOT NULL,
  last_seq INTEGER NOT NULL,
  last_at_us INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS books_by_case_key ON books (case_key);
CREATE TABLE IF NOT EXISTS events (
  book TEXT NOT NULL,
  seq INTEGER NOT NULL,
  at_us INTEGER NOT NULL,
  at TEXT NOT NULL,
  json TEXT NOT NULL,
  PRIMARY KEY (book, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS assets (
  id TEXT PRIMARY KEY,
  json TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS accounts (
  book TEXT NOT NULL,
  path TEXT NOT NULL,
  asset TEXT NOT NULL,
  kind TEXT NOT NULL,
  normal_side TEXT,
  min_balance INTEGER,
  PRIMARY KEY (book, path)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS balances (
  book TEXT NOT NULL,
  path TEXT NOT NULL,
  raw INTEGER NOT NULL,
  updated_seq INTEGER NOT NULL,
  PRIMARY KEY (book, path)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS transactions (
  txid TEXT PRIMARY KEY,
  book TEXT NOT NULL,
  idempotency_key TEXT NOT NULL,
  seq INTEGER NOT NULL,
  UNIQUE (book, idempotency_key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS postings (
  book TEXT NOT NULL,
  path TEXT NOT NULL,
  seq INTEGER NOT NULL,
  idx INTEGER NOT NULL,
  txid TEXT NOT NULL,
  asset TEXT NOT NULL,
  direction TEXT NOT NULL,
  minor INTEGER NOT NULL,
  raw_after INTEGER NOT NULL,
  at_us INTEGER NOT NULL,
  PRIMARY KEY (book, path, seq, idx)
) WITHOUT ROWID;
`;

/** Everything the store runs, prepared once. */
function prepareStatements(db: Database.Database) {
  return {
    bookGet: db.prepare('SELECT last_seq, last_at_us FROM books WHERE name = ?'),
    bookCaseHolder: db.prepare('SELECT name FROM books WHERE case_key = ? LIMIT 1'),
    bookInsert: db.prepare('INSERT INTO books (name, case_key, last_seq, last_at_us) VALUES (?, ?, 0, 0)'),
    bookAdvance: db.prepare('UPDATE books SET last_seq = ?, last_at_us = ? WHERE name = ?'),
    eventInsert: db.prepare('INSERT INTO events (book, seq, at_us, at, json) VALUES (?, ?, ?, ?, ?)'),
    eventsPage: db.prepare('SELECT seq, at, json FROM events WHERE book = ? AND seq >= ? ORDER BY seq LIMIT ?'),
    assetGet: db.prepare('SELECT json FROM assets WHERE id = ?'),
    assetInsert: db.prepare('INSERT INTO assets (id, json) VALUES (?, ?)'),
    accountGet: db.prepare(
      `SELECT a.asset, a.kind, a.normal_side, a.min_balance, b.raw
         FROM accounts a JOIN balances b ON b.book = a.book AND b.path = a.path
        WHERE a.book = ? AND a.path = ?`,
    ),
    accountInsert: db.prepare('INSERT INTO accounts (book, path, asset, kind, normal_side, min_balance) VALUES (?, ?, ?, ?, ?, ?)'),
    balanceInsert: db.prepare('INSERT INTO balances (book, path, raw, updated_seq) VALUES (?, ?, 0, 0)'),
    balanceGet: db.prepare('SELECT raw, updated_seq FROM balances WHERE book = ? AND path = ?'),
    balanceUpdate: db.prepare('UPDATE balances SET raw = ?, updated_seq = ? WHERE book = ? AND path = ?'),
    balanceAsOf: db.prepare(
      `SELECT raw_after, seq FROM postings
        WHERE book = ? AND path = ? AND at_us <= ?
        ORDER BY seq DESC, idx DESC LIMIT 1`,
    ),
    idempotencyGet: db.prepare(
      `SELECT t.txid, t.seq, e.at, e.json
         FROM transactions t JOIN events e ON e.book = t.book AND e.seq = t.seq
        WHERE t.book = ? AND t.idempotency_key = ?`,
    ),
    txidTaken: db.prepare('SELECT 1 FROM transactions WHERE txid = ?'),
    transactionInsert: db.prepare('INSERT INTO transactions (txid, book, idempotency_key, seq) VALUES (?, ?, ?, ?)'),
    transactionGet: db.prepare(
      `SELECT e.seq, e.at, e.json
         FROM transactions t JOIN events e ON e.book = t.book AND e.seq = t.seq
        WHERE t.txid = ?`,
    ),
    postingInsert: db.prepare(
      `INSERT INTO postings (book, path, seq, idx, txid, asset, direction, minor, raw_after, at_us)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ),
    historyLastSeq: db.prepare(
      `SELECT MAX(seq) AS last FROM (
         SELECT DISTINCT seq FROM postings WHERE book = ? AND path = ? AND seq > ? ORDER BY seq LIMIT ?)`,
    ),
    historyPage: db.prepare(
      `SELECT seq, idx, txid, asset, direction, minor, at_us FROM postings
        WHERE book = ? AND path = ? AND seq > ? AND seq <= ?
        ORDER BY seq, idx`,
    ),
    // Positive and negative parts apart: when neither overflows, no running sum in any order can
    // leave the i64 range, so the plain sum equals the saturating one (see #trialBalance).
    trialSums: db.prepare(
      `SELECT asset, direction,
              SUM(CASE WHEN minor > 0 THEN minor ELSE 0 END) AS up,
              SUM(CASE WHEN minor < 0 THEN minor ELSE 0 END) AS down
         FROM postings WHERE book = ? AND at_us <= ?
        GROUP BY asset, direction`,
    ),
    trialRowsInOrder: db.prepare(
      `SELECT asset, direction, minor FROM postings WHERE book = ? AND at_us <= ? ORDER BY seq, idx`,
    ),
    savepoint: db.prepare('SAVEPOINT draft'),
    release: db.prepare('RELEASE draft'),
    rollbackTo: db.prepare('ROLLBACK TO draft'),
    begin: db.prepare('BEGIN IMMEDIATE'),
    commit: db.prepare('COMMIT'),
    rollback: db.prepare('ROLLBACK'),
  };
}

type Statements = ReturnType<typeof prepareStatements>;

/** An i64 column read with safe integers on: a bigint. Seqs and microseconds come back as numbers. */
function toNumber(value: unknown): number {
  const number = typeof value === 'bigint' ? Number(value) : (value as number);
  assert(Number.isSafeInteger(number));
  return number;
}

function toBigint(value: unknown): bigint {
  if (typeof value === 'bigint') return value;
  assert(typeof value === 'number' && Number.isSafeInteger(value));
  return BigInt(value);
}


export class SqliteStore extends BaseStore {
  readonly #file: string;
  readonly #db: Database.Database;
  readonly #sql: Statements;
  readonly #queueDepthMax: number;
  readonly #batchJobsMax: number;
  readonly #clockUs: () => number;
  readonly #onWarning: (warning: SqliteStoreWarning) => void;
  readonly #durability: SqliteDurability;
  readonly #inFlight = new Map<string, number>();
  readonly #sumsSaturationWarned = new Set<string>();
  #queue: WriteJob[] = [];
  #flushScheduled: NodeJS.Immediate | null = null;

  private constructor(file: string, db: Database.Database, options: SqliteStoreOptions, durability: SqliteDurability) {
    super();
    this.#file = file;
    this.#db = db;
    this.#sql = prepareStatements(db);
    this.#durability = durability;
    this.#queueDepthMax = options.queueDepthMax ?? QUEUE_DEPTH_MAX_DEFAULT;
    this.#batchJobsMax = options.batchJobsMax ?? BATCH_DRAFTS_MAX;
    this.#clockUs = options.clockUs ?? wallClockUs;
    this.#onWarning =
      options.onWarning ?? ((warning) => process.emitWarning(warning.message, { code: warning.code }));
  }

  /**
   * Opens (creating it and its directory if needed) the database file `file`. Rejects IO when the
   * database cannot be opened or when the durability pragmas do not read back as `wal` and `2`
   * (FULL).
   */
  static async open(file: string, options: SqliteStoreOptions = {}): Promise<SqliteStore> {
    if (typeof file !== 'string' || file.length === 0) throw StoreError.invalidArgument('file', 'must be a non-empty string');
    for (const [name, value] of [
      ['queueDepthMax', options.queueDepthMax],
      ['batchJobsMax', options.batchJobsMax],
    ] as const) {
      if (value !== undefined && (!Number.isSafeInteger(value) || value < 1)) {
        throw StoreError.invalidArgument(`options.${name}`, 'must be a positive integer');
      }
    }
    file = path.resolve(file);
    const Driver = await loadDriver();
    let db: Database.Database;
    try {
      fs.mkdirSync(path.dirname(file), { recursive: true });
      db = new Driver(file);
    } catch (error) {
      throw StoreError.io(`cannot open ${file}`, error);
    }
    try {
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = FULL');
      const durability: SqliteDurability = {
        library_version: String(db.prepare('SELECT sqlite_version() AS v').pluck().get()),
        journal_mode: String(db.pragma('journal_mode', { simple: true })),
        synchronous: Number(db.pragma('synchronous', { simple: true })),
      };
      if (durability.journal_mode !== 'wal' || durability.synchronous !== 2) {
        throw StoreError.io(
          `durability self-check failed: journal_mode=${durability.journal_mode}, synchronous=${durability.synchronous} (want wal, 2)`,
        );
      }
      db.defaultSafeIntegers(true);
      db.exec(SCHEMA);
      return new SqliteStore(file, db, options, durability);
    } catch (error) {
      db.close();
      if (error instanceof StoreError) throw error;
      throw StoreError.io(`cannot prepare ${file}`, error);
    }
  }

  /** The database file. */
  get file(): string {
    return this.#file;
  }

  /** The pragmas as read back at open (bench.md 4.1). */
  get durability(): SqliteDurability {
    return { ...this.#durability };
  }

  // --- writes -----------------------------------------------------------------------------------

  protected override async _registerAsset({ def: asset, eventJson }: NormalisedAsset): Promise<void> {
    this.#admit(SYSTEM_BOOK, 1);
    await this.#enqueue(SYSTEM_BOOK, true, () => {
      const existing = this.#sql.assetGet.get(asset.id) as Row | undefined;
      if (existing !== undefined) {
        if (sameAssetDef(decodeAssetDef(String(existing.json)), asset)) return undefined;
        throw StoreError.alreadyExists(`asset ${asset.id}`);
      }
      this.#append(SYSTEM_BOOK, eventJson);
      this.#sql.assetInsert.run(asset.id, eventJson);
      return undefined;
    });
  }

  /**
   * The case-conflict check needs the database as earlier jobs leave it, so it runs in the batch;
   * an input error found after that point of the contract's order is answered there, after it.
   */
  protected override async _refuseAccount(book: string, error: StoreError): Promise<void> {
    await this.#enqueue(book, false, () => {
      this.#checkCaseConflict(book);
      throw error;
    });
  }

  protected override async _openAccount(account: NormalisedAccount): Promise<void> {
    const book = account.def.id.book;
    this.#admit(book, 1);
    await this.#enqueue(book, true, () => {
      this.#checkCaseConflict(book);
      if (this.#sql.assetGet.get(account.def.asset) === undefined) throw StoreError.unknownAsset(account.def.asset);
      const existing = this.#account(account.def.id);
      if (existing !== undefined) {
        if (sameAccount(existing, account)) return undefined;
        throw StoreError.alreadyExists(`account ${accountKey(account.def.id)}`);
      }
      this.#append(book, account.eventJson);
      const { id } = account.def;
      this.#sql.accountInsert.run(id.book, id.path, account.def.asset, account.def.kind, account.cfg.normal_side, account.cfg.min_balance);
      this.#sql.balanceInsert.run(id.book, id.path);
      return undefined;
    });
  }

  protected override async _commit(draft: NormalisedTransaction): Promise<Committed> {
    this.#admit(draft.tx.book, 1);
    return (await this.#enqueue(draft.tx.book, true, () => this.#commit(draft.tx, draft.eventJson))) as Committed;
  }

  protected override async _commitBatch(drafts: BatchDraft[]): Promise<CommitResult[]> {
    // A book's drafts are admitted together or not at all; jobs are queued in input order.
    return commitQueuedBatch(drafts, (book, count) => this.#admit(book, count), (draft) => this.#enqueue(draft.tx.book, true, () => this.#commit(draft.tx, draft.eventJson)) as Promise<Committed>);
  }

  /** Runs inside the batch transaction: the checks of store-contract 7.3, then the append. */
  #commit(tx: Transaction, eventJson: string): Committed {
    const sql = this.#sql;
    // 4. Idempotency first: a same-content retry returns the original whatever happened since.
    const prior = sql.idempotencyGet.get(tx.book, tx.idempotency_key) as Row | undefined;
    if (prior !== undefined) {
      const committed: Committed = { txid: String(prior.txid), seq: toNumber(prior.seq), at: String(prior.at) };
      const original = decodeTransaction(String(prior.json));
      if (sameTransactionContent(original, tx)) return committed;
      throw StoreError.idempotencyConflict(tx.book, tx.idempotency_key, committed);
    }
    // 5. Txid uniqueness, store-wide.
    if (sql.txidTaken.get(tx.id) !== undefined) throw StoreError.alreadyExists(`transaction ${tx.id}`);
    // 6. Postings in order: open in tx.book, same asset.
    const accounts = new Map<string, AccountRow>();
    const postingAccounts: AccountRow[] = [];
    for (const posting of tx.postings) {
      const key = accountKey(posting.account);
      let account = accounts.get(key);
      if (account === undefined && posting.account.book === tx.book) {
        account = this.#account(posting.account);
        if (account !== undefined) accounts.set(key, account);
      }
      postingAccounts.push(postingAccount(posting, account));
    }
    // 7-8. Overflow and minimum balances (src/core/commit-checks.ts).
    const deltas = checkedDeltas(tx.postings, postingAccounts);
    // 9. Append and project.
    const { seq, atUs, at } = this.#append(tx.book, eventJson);
    sql.transactionInsert.run(tx.id, tx.book, tx.idempotency_key, seq);
    // Every posting row carries its account's raw balance after the whole transaction: a point-in-time
    // read takes the last row at or before its time, and a transaction's rows share one `at`. (A
    // running balance between two postings of one transaction may leave the i64 range; the final
    // one was checked above.)
    for (let index = 0; index < tx.postings.length; index++) {
      const posting = tx.postings[index]!;
      const account = postingAccounts[index]!;
      const rawAfter = account.raw + deltas.get(account)!;
      sql.postingInsert.run(
        tx.book,
        posting.account.path,
        seq,
        index,
        tx.id,
        posting.amount.asset,
        posting.direction,
        posting.amount.minor,
        rawAfter,
        atUs,
      );
    }
    for (const [account, delta] of deltas) {
      sql.balanceUpdate.run(account.raw + delta, seq, account.def.id.book, account.def.id.path);
    }
    return { txid: tx.id, seq, at };
  }

  /** Appends one event to a book (creating the book), stamped with the clamped clock. */
  #append(book: string, eventJson: string): { seq: number; atUs: number; at: string } {
    let row = this.#book(book);
    if (row === undefined) {
      this.#sql.bookInsert.run(book, bookCaseKey(book));
      row = { lastSeq: 0, lastAtUs: 0 };
    }
    const seq = row.lastSeq + 1;
    const atUs = Math.max(this.#clockUs(), row.lastAtUs);
    const at = formatAtUs(atUs);
    this.#sql.bookAdvance.run(seq, atUs, book);
    this.#sql.eventInsert.run(book, seq, atUs, at, eventJson);
    return { seq, atUs, at };
  }

  // --- the write queue (Q2, Q3) -----------------------------------------------------------------

  /** Admits `count` write jobs for a book, or OVERLOADED (same rule as LogStore). */
  #admit(book: string, count: number): void {
    const inFlight = this.#inFlight.get(book) ?? 0;
    if (inFlight > 0 && inFlight + count > this.#queueDepthMax) throw StoreError.overloaded(book);
    this.#inFlight.set(book, inFlight + count);
  }

  #release(book: string): void {
    const inFlight = this.#inFlight.get(book)! - 1;
    assert(inFlight >= 0);
    if (inFlight === 0) this.#inFlight.delete(book);
    else this.#inFlight.set(book, inFlight);
  }

  #enqueue(book: string, counted: boolean, run: () => unknown): Promise<unknown> {
    return new Promise((resolve, reject) => {
      this.#queue.push({ book, counted, run, resolve, reject });
      this.#flushScheduled ??= setImmediate(() => this.#flush());
    });
  }

  /** Runs the queued jobs (at most batchJobsMax) in one transaction, then answers them. */
  #flush(): void {
    this.#flushScheduled = null;
    if (this.lifecycle !== 'open') return;
    const jobs = this.#queue.length <= this.#batchJobsMax ? this.#queue : this.#queue.slice(0, this.#batchJobsMax);
    this.#queue = jobs === this.#queue ? [] : this.#queue.slice(this.#batchJobsMax);
    if (this.#queue.length > 0) this.#flushScheduled = setImmediate(() => this.#flush());

    const sql = this.#sql;
    const outcomes: JobOutcome[] = new Array(jobs.length);
    const appended = new Map<string, number>(); // book → last seq before the batch
    let failure: unknown = null;
    try {
      sql.begin.run();
      for (let index = 0; index < jobs.length; index++) {
        const job = jobs[index]!;
        if (!appended.has(job.book)) appended.set(job.book, this.#book(job.book)?.lastSeq ?? 0);
        sql.savepoint.run();
        try {
          outcomes[index] = { ok: true, value: job.run() };
          sql.release.run();
        } catch (error) {
          sql.rollbackTo.run();
          sql.release.run();
          outcomes[index] = { ok: false, error: error instanceof StoreError ? error : StoreError.io('write failed', error) };
        }
      }
      for (const book of appended.keys()) {
        const before = appended.get(book)!;
        const after = this.#book(book)?.lastSeq ?? 0;
        if (after === before) appended.delete(book);
      }
      sql.commit.run(); // WAL append + fsync (synchronous=FULL)
    } catch (error) {
      failure = error;
      if (this.#db.inTransaction) {
        try {
          sql.rollback.run();
        } catch {
          // The transaction is already gone; nothing was committed.
        }
      }
    }
    if (failure !== null) {
      const error = StoreError.io('the batch transaction failed; nothing was committed', failure);
      for (const job of jobs) {
        if (job.counted) this.#release(job.book);
        job.reject(error);
      }
      return;
    }
    // Subscribers first, then the answers in job order.
    for (const [book, before] of appended) {
      if (this.hub.hasSubscribers(book)) this.hub.publish(book, this.#readPage(book, before + 1, Number.MAX_SAFE_INTEGER));
    }
    for (let index = 0; index < jobs.length; index++) {
      const job = jobs[index]!;
      const outcome = outcomes[index]!;
      if (job.counted) this.#release(job.book);
      if (outcome.ok) job.resolve(outcome.value);
      else job.reject(outcome.error);
    }
  }

  // --- reads ------------------------------------------------------------------------------------

  protected override async _balance(id: AccountId, asOfUs: number | null): Promise<BalanceSnapshot> {
    const model = this.#account(id);
    if (model === undefined) throw StoreError.unknownAccount({ ...id });
    let raw = 0n;
    let updatedSeq = 0;
    if (asOfUs === null) {
      const row = this.#sql.balanceGet.get(id.book, id.path) as Row;
      raw = toBigint(row.raw);
      updatedSeq = toNumber(row.updated_seq);
    } else {
      const row = this.#sql.balanceAsOf.get(id.book, id.path, asOfUs) as Row | undefined;
      if (row !== undefined) {
        raw = toBigint(row.raw_after);
        updatedSeq = toNumber(row.seq);
      }
    }
    return { amount: { minor: updatedSeq === 0 ? 0n : effectiveBalance(model.cfg, raw), asset: model.def.asset }, updated_seq: updatedSeq };
  }

  protected override async _asset(id: string): Promise<AssetDef | null> {
    const row = this.#sql.assetGet.get(id) as Row | undefined;
    return row === undefined ? null : decodeAssetDef(String(row.json));
  }

  protected override async _accountHistory(id: AccountId, after: number, seqCountMax: number): Promise<PostingRecord[]> {
    if (this.#account(id) === undefined) throw StoreError.unknownAccount({ ...id });
    if (seqCountMax === 0) return [];
    const last = (this.#sql.historyLastSeq.get(id.book, id.path, after, seqCountMax) as Row).last;
    if (last === null || last === undefined) return [];
    const rows = this.#sql.historyPage.all(id.book, id.path, after, last) as Row[];
    return rows.map((row) => ({
      seq: toNumber(row.seq),
      txid: String(row.txid),
      account: { book: id.book, path: id.path },
      amount: { minor: toBigint(row.minor), asset: String(row.asset) },
      direction: row.direction as Direction,
      at: formatAtUs(toNumber(row.at_us)),
    }));
  }

  protected override async _transaction(txid: string): Promise<StoredTransaction | null> {
    const row = this.#sql.transactionGet.get(txid) as Row | undefined;
    if (row === undefined) return null;
    return { transaction: decodeTransaction(String(row.json)), seq: toNumber(row.seq), at: String(row.at) };
  }

  protected override async _trialBalance(name: string, asOf: number | null): Promise<TrialBalanceRow[]> {
    const asOfUs = asOf ?? Number.MAX_SAFE_INTEGER;
    let sums = new TrialBalanceSums();
    try {
      for (const row of this.#sql.trialSums.all(name, asOfUs) as Row[]) {
        sums.set(String(row.asset), row.direction as Direction, toBigint(row.up) + toBigint(row.down));
      }
    } catch (error) {
      if (!isIntegerOverflow(error)) throw StoreError.io('trial balance failed', error);
      // A part left the i64 range: add in commit order, saturating at the bounds, as every store does.
      sums = new TrialBalanceSums();
      for (const row of this.#sql.trialRowsInOrder.iterate(name, asOfUs) as IterableIterator<Row>) {
        sums.add(String(row.asset), row.direction as Direction, toBigint(row.minor));
      }
    }
    if (sums.saturated && !this.#sumsSaturationWarned.has(name)) {
      this.#sumsSaturationWarned.add(name);
      this.#onWarning(sumsSaturatedWarning(name));
    }
    return sums.rows();
  }

  protected override async _readEvents(book: string, from: number, limit: number): Promise<SequencedEvent[]> {
    return this.#readPage(book, from, limit);
  }

  /** Drops queued writes (CLOSED) and closes the database. */
  protected override async _close(): Promise<void> {
    if (this.#flushScheduled !== null) clearImmediate(this.#flushScheduled);
    this.#flushScheduled = null;
    const dropped = this.#queue;
    this.#queue = [];
    for (const job of dropped) {
      if (job.counted) this.#release(job.book);
      job.reject(StoreError.closed());
    }
    this.#db.close();
  }

  // --- helpers ----------------------------------------------------------------------------------

  #checkCaseConflict(book: string): void {
    if (this.#book(book) !== undefined) return;
    if (this.#sql.bookCaseHolder.get(bookCaseKey(book)) !== undefined) throw StoreError.invalidBook(book, 'case_conflict');
  }

  #book(book: string): BookRow | undefined {
    const row = this.#sql.bookGet.get(book) as Row | undefined;
    return row === undefined ? undefined : { lastSeq: toNumber(row.last_seq), lastAtUs: toNumber(row.last_at_us) };
  }

  #account(id: AccountId): AccountRow | undefined {
    const row = this.#sql.accountGet.get(id.book, id.path) as Row | undefined;
    if (row === undefined) return undefined;
    return {
      def: { id: { book: id.book, path: id.path }, asset: String(row.asset), kind: row.kind as AccountKind },
      cfg: {
        normal_side: row.normal_side === null ? null : (row.normal_side as Direction),
        min_balance: row.min_balance === null ? null : toBigint(row.min_balance),
      },
      raw: toBigint(row.raw),
    };
  }

  #readPage(book: string, from: number, limit: number): SequencedEvent[] {
    if (limit === 0) return [];
    const rows = this.#sql.eventsPage.all(book, Math.max(from, 1), BigInt(limit)) as Row[];
    return rows.map((row) => ({ seq: toNumber(row.seq), at: String(row.at), event: decodeEvent(String(row.json)) }));
  }
}

type DriverConstructor = typeof Database;
let driverLoad: Promise<DriverConstructor> | null = null;

/**
 * better-sqlite3 is an optional peer dependency: it is loaded on the first open, so that a program
 * that never opens a SQLite store needs nothing native. Without it, open rejects IO saying what to
 * install.
 */
function loadDriver(): Promise<DriverConstructor> {
  driverLoad ??= import('better-sqlite3').then(
    (module) => module.default,
    (error: unknown) => {
      driverLoad = null; // installing it later, without a restart, works
      throw StoreError.io('SqliteStore needs the optional peer dependency better-sqlite3: run `npm install better-sqlite3`', error);
    },
  );
  return driverLoad;
}

function isIntegerOverflow(error: unknown): boolean {
  return error instanceof Error && /integer overflow/i.test(error.message);
}

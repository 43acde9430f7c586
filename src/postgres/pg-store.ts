/**
 * PgStore: the Store contract on PostgreSQL (spec/postgres-store.md), so that processes on several
 * machines share one ledger with the semantics, event JSON and conformance suite of the other
 * stores. Schema and migrations: pg-schema.ts; errors: pg-errors.ts; wake-ups: pg-listener.ts.
 *
 * P1. One lock, first. A write transaction locks exactly one `books` row (`FOR UPDATE`), in its
 *     own statement, before it reads any state: a statement that waited for a row lock keeps its
 *     old snapshot for the other tables, so the state must be read by later statements.
 * P2. Gapless. Seqs come only from `last_seq` read under that lock and are written with the new
 *     head in the same transaction (guarded by the old value); a rollback frees them.
 * P3. Nothing for nothing. Rejections, replays and identical re-registrations write nothing; a
 *     flush that appended nothing rolls back (removing a head row it inserted for a new book).
 * P4. After COMMIT. No job is answered and no event is published before COMMIT returned, and the
 *     COMMIT reply is checked (a transaction aborted earlier answers ROLLBACK).
 * P5. Set-based, under the lock (pg-flush.ts): one statement reads the state of all the flush's
 *     jobs, validation runs job by job in JavaScript with the shared rules (identity.ts, the
 *     contract's 7.3 order) against that state and what the accepted jobs before it changed, and
 *     one guarded statement writes every row. A refused job leaves its batchmates untouched
 *     without savepoints. BEGIN, the lock and the read go out together, then the write and
 *     COMMIT, when the client pipelines (two round trips per flush).
 * P6. Group commit per book per process: at most one flush in flight per book; the jobs queued
 *     meanwhile (up to `batchJobsMax`) form the next flush. Books flush in parallel up to the
 *     write pool's size. At most `queueDepthMax` jobs of a book wait or run; beyond that OVERLOADED.
 * P7. The commit time is the store clock (`clockUs`, default the wall clock), clamped under the
 *     lock to the book's last `at`: non-decreasing per book across processes and restarts. One
 *     `at` per flush.
 * P8. Durability: every connection runs with `synchronous_commit` at least `on` (the server's
 *     setting if stronger), read back at open; the server must have `fsync` and
 *     `full_page_writes` on.
 * P9. The database is the only state: every decision uses rows read under the lock, so several
 *     PgStores on one schema stay coherent. Memory holds queues, counters, the subscription hub.
 * P10. Subscriptions across processes: after each COMMIT the book's channel is NOTIFYed (outside
 *     the transaction: a NOTIFY inside serialises every notifying commit cluster-wide); listeners
 *     read the table from their published seq; a poll covers lost notifications (pg-listener.ts).
 *     Streams wait out a lost server; when neither the listener nor the poll reached it for
 *     `reconnectWindowMs`, each stream of the book rejects IO once and ends (spec 4.7).
 * P11. `close()` always resolves: queued jobs no flush took reject CLOSED, flushes in flight finish
 *     with their real outcome for at most 10 s; then their connections are destroyed and their jobs
 *     answered BOOK_UNAVAILABLE if their COMMIT was sent, CLOSED if not; the listener and pools end.
 * P12. A lost connection reruns the flush (spec 6.2, 6.3). A flush records whether it sent COMMIT;
 *     on a connection-level error (no SQLSTATE, class 08, 57P01-57P03) the whole flush runs again
 *     on a new connection, after 50 ms doubling to 1 s, until `reconnectWindowMs` has passed since
 *     the first loss. A rerun after a COMMIT whose reply was not read first settles that attempt
 *     under the book lock (which it can take only once the attempt's transaction has ended): if
 *     the attempt's events are in the table, at its seqs and `at`, it landed, and the callers get
 *     exactly the answers it computed (its commits' own Committed); otherwise nothing of it
 *     exists, and the jobs run again (idempotency and identical registrations make that exact for
 *     any earlier attempt too). Past the window: IO if no COMMIT is unsettled, BOOK_UNAVAILABLE
 *     (unknown outcome) if one is. No job is ever answered "not committed" for a COMMIT whose
 *     reply was not read. New jobs of the book queue meanwhile, up to `queueDepthMax`.
 * P13. Import mode (`importEvents`, for pg-import): the flush's own job code validates and projects
 *     each event of a log, keeping the log's seq, `at` and event bytes; anything the store would
 *     refuse or not append aborts the whole transaction.
 */
import assert from 'node:assert/strict';
import type pg from 'pg';

import { BaseStore, commitQueuedBatch, type BatchDraft } from '../core/base-store.js';
import { effectiveBalance } from '../core/commit-checks.js';
import { bookCaseKey } from '../core/book-name.js';
import { StoreError } from '../core/errors.js';
import { decodeAssetDef, decodeEvent, decodeTransaction } from '../core/event-codec.js';
import type { NormalisedAccount, NormalisedAsset, NormalisedTransaction } from '../core/input.js';
import { BATCH_DRAFTS_MAX, QUEUE_DEPTH_MAX_DEFAULT } from '../core/limits.js';
import type { Subscription } from '../core/subscription.js';
import { sumsSaturatedWarning, TrialBalanceSums } from '../core/trial-balance.js';
import { formatAtUs, wallClockUs } from '../core/time.js';
import {
  I64_MAX,
  I64_MIN,
  SYSTEM_BOOK,
  type AccountCfg,
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
  type TrialBalanceRow,
} from '../core/types.js';
import { isConnectionError, isTxidRace, sqlState, toStoreError, unknownOutcomeMessage } from './pg-errors.js';
import { BookListener, channelOf } from './pg-listener.js';
import { appendedEvents, FlushView, lockedState, stateReadSql, writeSql, type FlushState, type Job } from './pg-flush.js';
import { migrate, SCHEMA_PATTERN, US } from './pg-schema.js';

export interface PgStoreWarning {
  code: string;
  message: string;
  book?: string;
}

export interface PgStoreOptions {
  /** postgres://user:password@host:port/database; default: the environment's TALEA_PG_URL. */
  url?: string;
  /** The schema holding the tables; default `talea`. */
  schema?: string;
  /** Connections of the write pool (books flushing at once); default 8. */
  writeConnections?: number;
  /** Connections of the read pool; default 8. */
  readConnections?: number;
  /** Write jobs waiting or running per book before OVERLOADED; default 4096. */
  queueDepthMax?: number;
  /** Jobs in one flush transaction at most; default 1024. */
  batchJobsMax?: number;
  /** Wait for a pool connection before OVERLOADED; default 5,000 ms. */
  acquireTimeoutMs?: number;
  /** Wait for a book's lock before OVERLOADED; default 10,000 ms. */
  lockTimeoutMs?: number;
  /** Server-side limit of one statement; default 30,000 ms. */
  statementTimeoutMs?: number;
  /** The server ends a session idle in a transaction (a frozen client holding a lock); default 15,000 ms. */
  idleInTransactionTimeoutMs?: number;
  /** Safety poll of subscribed books' heads; default 1,000 ms. */
  subscribePollMs?: number;
  /**
   * How long a flush that lost its connection keeps rerunning on new ones (and a stream's catch-up
   * read keeps retrying) before its jobs fail IO, or BOOK_UNAVAILABLE when a COMMIT's outcome is
   * unknown (P12); also how long streams wait for a server neither the listener nor the poll
   * reaches before each ends IO (P10); default 10,000 ms.
   */
  reconnectWindowMs?: number;
  /** 'auto' applies missing migrations at open; 'verify' refuses to open without them. */
  migrate?: 'auto' | 'verify';
  /** The commit clock in microseconds since the epoch; default the wall clock. */
  clockUs?: () => number;
  /** Default: process.emitWarning. */
  onWarning?: (warning: PgStoreWarning) => void;
  /**
   * Tests only: `notify: false` sends no NOTIFY (subscribers then rely on the poll);
   * `pipeline: false` sends a flush's statements one by one, as with a `pg` that cannot pipeline.
   */
  testHooks?: { notify?: boolean; pipeline?: boolean };
}

/** What `stats()` counts since open. */
export interface PgStoreStats {
  /** Flushes answered (each one transaction that committed or rolled back, after its reruns). */
  flushes: number;
  /** Jobs those flushes answered. */
  flushJobs: number;
  /** Flush attempts rerun after a lost connection (P12). */
  connectionReruns: number;
  /** Reruns that found the earlier attempt's unanswered COMMIT had landed (its answers given). */
  landedCommits: number;
  /** Reruns after a txid race with another book (spec 3.5). */
  raceReruns: number;
}

/** What open read back from the server (P8). */
export interface PgDurability {
  server_version: string;
  synchronous_commit: string;
  fsync: string;
  full_page_writes: string;
}

/**
 * One event of a log being imported (importEvents, src/postgres/pg-impex.ts): its seq and commit
 * time are kept, its event JSON is stored as the given bytes.
 */
export interface ImportedEvent {
  seq: number;
  atUs: number;
  /** The event part of the log frame, byte for byte. */
  eventJson: string;
  /** The same event, decoded. */
  event: LedgerEvent;
}

type Row = Record<string, unknown>;

interface QueuedJob {
  book: string;
  job: Job;
  counted: boolean;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

/** The jobs of the books sharing one case key, in call order. */
interface BookQueue {
  jobs: QueuedJob[];
  flushing: boolean;
}

/** An attempt that sent COMMIT and never read the reply: what it would have answered (P12). */
interface Unsettled {
  outcomes: Outcome[];
  state: FlushState;
}

/** What the attempts of one flush share (P12). */
interface FlushRun {
  /** Set while an attempt's COMMIT is unanswered and no later attempt has looked under the lock. */
  unsettled: Unsettled | null;
}

type Outcome = { ok: true; value: unknown } | { ok: false; error: StoreError };

const DEFAULTS = {
  schema: 'talea',
  writeConnections: 8,
  readConnections: 8,
  acquireTimeoutMs: 5_000,
  lockTimeoutMs: 10_000,
  statementTimeoutMs: 30_000,
  idleInTransactionTimeoutMs: 15_000,
  subscribePollMs: 1_000,
  reconnectWindowMs: 10_000,
};

/** Reruns of a flush after a lost connection wait 50 ms, doubling to 1 s (spec 6.2). */
const RERUN_BACKOFF_FIRST_MS = 50;
const RERUN_BACKOFF_MAX_MS = 1_000;
/** How long close() lets flushes in flight finish before destroying their connections (spec 6.4). */
const CLOSE_FLUSH_WAIT_MS = 10_000;

const STRONG_ENOUGH = new Set(['on', 'remote_write', 'remote_apply']);

export class PgStore extends BaseStore {
  readonly #schema: string;
  readonly #S: string;
  readonly #writePool: pg.Pool;
  readonly #readPool: pg.Pool;
  readonly #durability: PgDurability;
  readonly #queueDepthMax: number;
  readonly #batchJobsMax: number;
  readonly #clockUs: () => number;
  readonly #onWarning: (warning: PgStoreWarning) => void;
  readonly #notify: boolean;
  readonly #reconnectWindowMs: number;
  readonly #acquireTimeoutMs: number;
  readonly #listener: BookListener;
  /** Write connections inside a flush attempt, destroyed if close() stops waiting (P11). */
  readonly #flushClients = new Set<pg.PoolClient>();
  /** Wakes flushes pausing between reruns when close() stops waiting. */
  readonly #pauseWakers = new Set<() => void>();
  /** Set when close() stopped waiting for flushes: no more reruns (P11). */
  #abandoned = false;
  readonly #stats: PgStoreStats = { flushes: 0, flushJobs: 0, connectionReruns: 0, landedCommits: 0, raceReruns: 0 };
  readonly #queues = new Map<string, BookQueue>(); // by case key
  /** Jobs admitted and not yet answered, per book (P6). */
  readonly #inFlight = new Map<string, number>();
  readonly #flushes = new Set<Promise<void>>();
  readonly #sumsSaturationWarned = new Set<string>();
  /** Statement text → prepared statement name, per store (its pools' connections share them). */
  readonly #statementNames = new Map<string, string>();
  /** Per subscribed book, the highest seq handed to the hub by a tail read or a local commit. */
  readonly #published = new Map<string, number>();
  readonly #tailReading = new Map<string, boolean>(); // book → another read requested meanwhile
  #pendingNotify = new Map<string, number>();
  #notifyScheduled = false;

  private constructor(
    driver: typeof pg,
    clientConfig: pg.ClientConfig,
    options: PgStoreOptions,
    schema: string,
    durability: PgDurability,
    pools: { write: pg.Pool; read: pg.Pool },
  ) {
    super();
    this.#schema = schema;
    this.#S = `"${schema}"`;
    this.#writePool = pools.write;
    this.#readPool = pools.read;
    this.#durability = durability;
    this.#queueDepthMax = options.queueDepthMax ?? QUEUE_DEPTH_MAX_DEFAULT;
    this.#batchJobsMax = options.batchJobsMax ?? BATCH_DRAFTS_MAX;
    this.#clockUs = options.clockUs ?? wallClockUs;
    this.#onWarning = options.onWarning ?? ((warning) => process.emitWarning(warning.message, { code: warning.code }));
    this.#notify = options.testHooks?.notify !== false;
    this.#reconnectWindowMs = options.reconnectWindowMs ?? DEFAULTS.reconnectWindowMs;
    this.#acquireTimeoutMs = options.acquireTimeoutMs ?? DEFAULTS.acquireTimeoutMs;
    this.#listener = new BookListener({
      schema,
      connect: () => new driver.Client(clientConfig),
      pollMs: options.subscribePollMs ?? DEFAULTS.subscribePollMs,
      heads: (books) => this.#heads(books),
      wake: (book, head) => this.#wake(book, head),
      isSubscribed: (book) => this.lifecycle === 'open' && this.hub.hasSubscribers(book),
      onError: () => undefined, // the listener recovers by itself; streams wait meanwhile
      windowMs: this.#reconnectWindowMs,
      onUnreachable: (books) => this.#unreachable(books),
    });
  }

  /**
   * Connects, checks the server (version 14 or newer, UTF8, fsync and full_page_writes on),
   * migrates the schema under the advisory lock, and reads the session settings back. Rejects
   * INVALID_ARGUMENT for bad options, IO for everything else.
   */
  static async open(options: PgStoreOptions = {}): Promise<PgStore> {
    if (typeof options !== 'object' || options === null) throw StoreError.invalidArgument('options', 'must be an object');
    const url = options.url ?? process.env.TALEA_PG_URL;
    if (typeof url !== 'string' || !/^postgres(ql)?:\/\/./.test(url)) {
      throw StoreError.invalidArgument('options.url', 'must be a postgres:// URL (or set TALEA_PG_URL)');
    }
    const schema = options.schema ?? DEFAULTS.schema;
    if (typeof schema !== 'string' || !SCHEMA_PATTERN.test(schema)) {
      throw StoreError.invalidArgument('options.schema', 'must match [a-z_][a-z0-9_]{0,62}');
    }
    for (const name of [
      'writeConnections',
      'readConnections',
      'queueDepthMax',
      'batchJobsMax',
      'acquireTimeoutMs',
      'lockTimeoutMs',
      'statementTimeoutMs',
      'idleInTransactionTimeoutMs',
      'subscribePollMs',
      'reconnectWindowMs',
    ] as const) {
      const value = options[name];
      if (value !== undefined && (!Number.isSafeInteger(value) || value < 1)) {
        throw StoreError.invalidArgument(`options.${name}`, 'must be a positive integer');
      }
    }
    if (options.migrate !== undefined && options.migrate !== 'auto' && options.migrate !== 'verify') {
      throw StoreError.invalidArgument('options.migrate', "must be 'auto' or 'verify'");
    }
    const driver = await loadDriver();
    const types = {
      getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
        // bigint columns as BigInt, exactly (per pool, never the process-wide pg.types).
        oid === 20 ? (value: string) => BigInt(value) : driver.types.getTypeParser(oid, format)) as typeof driver.types.getTypeParser,
    };
    const base: pg.ClientConfig = { connectionString: url, application_name: 'talea-store', keepAlive: true, types };

    // Server checks and migrations, on a connection of their own.
    const admin = new driver.Client(base);
    admin.on('error', () => undefined);
    let serverSyncCommit: string;
    let durabilityBase: Omit<PgDurability, 'synchronous_commit'>;
    try {
      await admin.connect();
      const settings = (
        await admin.query(
          `SELECT current_setting('server_version_num')::int AS version_num, current_setting('server_version') AS version,
                  current_setting('server_encoding') AS encoding, current_setting('fsync') AS fsync,
                  current_setting('full_page_writes') AS full_page_writes, current_setting('synchronous_commit') AS sync_commit`,
        )
      ).rows[0] as Row;
      if (Number(settings.version_num) < 140000) throw StoreError.io(`PostgreSQL ${String(settings.version)} is too old: PgStore needs 14 or newer`);
      if (settings.encoding !== 'UTF8') throw StoreError.io(`the database encoding is ${String(settings.encoding)}: PgStore needs UTF8`);
      if (settings.fsync !== 'on' || settings.full_page_writes !== 'on') {
        throw StoreError.io(`durability self-check failed: fsync=${String(settings.fsync)}, full_page_writes=${String(settings.full_page_writes)} (want on, on)`);
      }
      serverSyncCommit = String(settings.sync_commit);
      durabilityBase = { server_version: String(settings.version), fsync: 'on', full_page_writes: 'on' };
      await migrate(admin, schema, options.migrate ?? 'auto');
    } catch (error) {
      throw toStoreError(error, { what: 'PgStore.open', schema });
    } finally {
      await admin.end().catch(() => undefined);
    }

    // P8: never below `on`, never weaker than the operator's choice.
    const syncCommit = STRONG_ENOUGH.has(serverSyncCommit) ? serverSyncCommit : 'on';
    const session = [
      `-c synchronous_commit=${syncCommit}`,
      `-c statement_timeout=${options.statementTimeoutMs ?? DEFAULTS.statementTimeoutMs}`,
      `-c lock_timeout=${options.lockTimeoutMs ?? DEFAULTS.lockTimeoutMs}`,
      `-c idle_in_transaction_session_timeout=${options.idleInTransactionTimeoutMs ?? DEFAULTS.idleInTransactionTimeoutMs}`,
      '-c client_connection_check_interval=1000',
    ].join(' ');
    const clientConfig: pg.ClientConfig = { ...base, options: session };
    const acquire = options.acquireTimeoutMs ?? DEFAULTS.acquireTimeoutMs;
    // The flush's statements take arrays: with a custom plan per call (the planner keeps choosing
    // them, its row estimates of unnest being exact for each call) the ten-CTE write would be
    // planned at every flush, milliseconds of server CPU each. Their generic plans use the same
    // indexes (PG-EXPLAIN checks both).
    // `pipeline` (pg 8.2x; older clients ignore it) lets a flush send its statements together.
    const pipeline = options.testHooks?.pipeline !== false;
    const writeConfig = { ...clientConfig, options: `${session} -c plan_cache_mode=force_generic_plan`, pipeline } as pg.ClientConfig;
    const write = new driver.Pool({ ...writeConfig, max: options.writeConnections ?? DEFAULTS.writeConnections, connectionTimeoutMillis: acquire });
    const read = new driver.Pool({ ...clientConfig, max: options.readConnections ?? DEFAULTS.readConnections, connectionTimeoutMillis: acquire });
    // An idle client that dies emits `error` on its pool; unhandled, it would end the process. A
    // checked-out client has no listener of its pool's, so each client gets one of its own for
    // life: a connection lost mid-flush rejects the pending query, and its `error` event is moot.
    for (const pool of [write, read]) {
      pool.on('error', ignoreError);
      pool.on('connect', (client) => client.on('error', ignoreError));
    }
    try {
      const shown = await write.query('SHOW synchronous_commit');
      const readBack = String((shown.rows[0] as Row).synchronous_commit);
      if (!STRONG_ENOUGH.has(readBack)) throw StoreError.io(`durability self-check failed: synchronous_commit=${readBack}`);
      return new PgStore(driver, clientConfig, options, schema, { ...durabilityBase, synchronous_commit: readBack }, { write, read });
    } catch (error) {
      await Promise.allSettled([write.end(), read.end()]);
      throw toStoreError(error, { what: 'PgStore.open', schema });
    }
  }

  /** The settings open read back (P8). */
  get durability(): PgDurability {
    return { ...this.#durability };
  }

  get schema(): string {
    return this.#schema;
  }

  /** Counters since open (a copy). */
  stats(): PgStoreStats {
    return { ...this.#stats };
  }

  // --- writes -----------------------------------------------------------------------------------

  protected override async _registerAsset(asset: NormalisedAsset): Promise<void> {
    this.#admit(SYSTEM_BOOK, 1);
    await this.#enqueue(SYSTEM_BOOK, true, { kind: 'asset', asset });
  }

  /** The case-conflict check needs the database, so an input error after it waits for the queue. */
  protected override async _refuseAccount(book: string, error: StoreError): Promise<void> {
    await this.#enqueue(book, false, { kind: 'refuse', error });
  }

  protected override async _openAccount(account: NormalisedAccount): Promise<void> {
    const book = account.def.id.book;
    this.#admit(book, 1);
    await this.#enqueue(book, true, { kind: 'account', account });
  }

  protected override async _commit(draft: NormalisedTransaction): Promise<Committed> {
    this.#admit(draft.tx.book, 1);
    return (await this.#enqueue(draft.tx.book, true, { kind: 'commit', draft })) as Committed;
  }

  protected override async _commitBatch(drafts: BatchDraft[]): Promise<CommitResult[]> {
    // A book's drafts are admitted together or not at all; jobs are queued in input order.
    return commitQueuedBatch(drafts, (book, count) => this.#admit(book, count), (draft) => this.#enqueue(draft.tx.book, true, { kind: 'commit', draft }) as Promise<Committed>);
  }

  // --- import (P13) ------------------------------------------------------------------------------

  /**
   * P13. Import mode of the flush, for `talea-log pg-import` (src/postgres/pg-impex.ts): appends
   * the events of a log to `book` in one transaction under the book lock, each validated and
   * projected by the same job code as a write, but keeping the log's seq and `at` and storing the
   * log's own event bytes. The events must continue the book's head (seq last_seq + 1, `at` not
   * before last_at); an event the store would refuse or would not append (a repeat) aborts the
   * transaction with CORRUPT naming its seq: the log is inconsistent (recovery row R10). Not
   * queued: the caller must be the only writer of the book while it runs.
   */
  async importEvents(book: string, events: readonly ImportedEvent[]): Promise<void> {
    this.checkOpen();
    if (events.length === 0) return;
    const jobs = events.map((imported) => importJob(book, imported, this.#schema));
    try {
      // Not rerun after a lost connection: pg-import --resume continues from what landed.
      await this.#runFlush(book, jobs, { unsettled: null }, events);
    } catch (error) {
      if (error instanceof FlushError) throw error.storeError;
      throw toStoreError(error, { what: `import into book ${book}`, book, schema: this.#schema });
    }
  }

  // --- the per-book queues (P6) -----------------------------------------------------------------
  // Queues are keyed by the book's case key, so that two books differing only in ASCII case take
  // turns in call order within a process (their case conflict is decided as if the calls ran one
  // by one); a flush takes only the leading jobs of one book.

  #admit(book: string, count: number): void {
    const inFlight = this.#inFlight.get(book) ?? 0;
    if (inFlight > 0 && inFlight + count > this.#queueDepthMax) throw StoreError.overloaded(book);
    this.#inFlight.set(book, inFlight + count);
  }

  #release(book: string, job: QueuedJob): void {
    if (!job.counted) return;
    const inFlight = this.#inFlight.get(book)! - 1;
    assert(inFlight >= 0);
    if (inFlight === 0) this.#inFlight.delete(book);
    else this.#inFlight.set(book, inFlight);
  }

  #enqueue(book: string, counted: boolean, job: Job): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const key = bookCaseKey(book);
      let queue = this.#queues.get(key);
      if (queue === undefined) {
        queue = { jobs: [], flushing: false };
        this.#queues.set(key, queue);
      }
      queue.jobs.push({ book, job, counted, resolve, reject });
      this.#schedule(key, queue);
    });
  }

  /**
   * A flush starts at the end of the turn (after its microtasks), so the writes of one turn
   * share it (P6). Not at the next event-loop iteration: that costs a lone commit about 0.1 ms
   * here, and under load the queue fills while the previous flush runs anyway.
   */
  #schedule(key: string, queue: BookQueue): void {
    if (queue.flushing) return;
    queue.flushing = true;
    process.nextTick(() => {
      const flush = this.#flush(key, queue).finally(() => this.#flushes.delete(flush));
      this.#flushes.add(flush);
    });
  }

  async #flush(key: string, queue: BookQueue): Promise<void> {
    if (this.lifecycle !== 'open') {
      queue.flushing = false;
      return; // _close answers what is queued
    }
    const book = queue.jobs[0]!.book;
    let count = 0;
    while (count < queue.jobs.length && count < this.#batchJobsMax && queue.jobs[count]!.book === book) count++;
    const taken = queue.jobs.splice(0, count);
    const jobs = taken.map((queued) => queued.job);
    let outcomes: Outcome[] = [];
    let state: FlushState | null = null;
    let failure: StoreError | null = null;
    const run: FlushRun = { unsettled: null };
    let races = 0;
    let windowEndMs: number | null = null;
    let backoffMs = RERUN_BACKOFF_FIRST_MS;
    for (;;) {
      try {
        ({ outcomes, state } = await this.#runFlush(book, jobs, run));
        break;
      } catch (error) {
        // A txid raced into another book's commit: rerun, the winner is then visible (spec 3.5).
        if ((isTxidRace(error) || error instanceof RerunFlush) && ++races < 3) {
          this.#stats.raceReruns++;
          continue;
        }
        // P12: a lost connection reruns the whole flush on a new one, within the window.
        if (connectionLost(error) && !this.#abandoned) {
          windowEndMs ??= Date.now() + this.#reconnectWindowMs;
          const leftMs = windowEndMs - Date.now();
          if (leftMs > 0) {
            // The last attempt runs as the window ends.
            await this.#pause(Math.min(backoffMs, leftMs));
            backoffMs = Math.min(backoffMs * 2, RERUN_BACKOFF_MAX_MS);
            if (!this.#abandoned) {
              this.#stats.connectionReruns++;
              continue;
            }
          }
        }
        failure = this.#flushFailure(book, error, run);
        break;
      }
    }
    this.#stats.flushes++;
    this.#stats.flushJobs += taken.length;
    if (failure === null && state !== null && state.eventJsons.length > 0) {
      // P4, P10: subscribers first, then the answers in job order; the NOTIFY after the commit.
      if (this.hub.hasSubscribers(book)) this.#publishLocal(book, appendedEvents(state));
      this.#queueNotify(book, state.lastSeq);
    }
    for (let index = 0; index < taken.length; index++) {
      const queued = taken[index]!;
      this.#release(book, queued);
      if (failure !== null) queued.reject(failure);
      else {
        const outcome = outcomes[index]!;
        if (outcome.ok) queued.resolve(outcome.value);
        else queued.reject(outcome.error);
      }
    }
    queue.flushing = false;
    if (queue.jobs.length > 0) this.#schedule(key, queue);
    else this.#queues.delete(key);
  }

  /** The answer of every job of a flush that gave up (P11, P12). */
  #flushFailure(book: string, error: unknown, run: FlushRun): StoreError {
    if (run.unsettled !== null) {
      // A COMMIT was sent and never answered, and no later attempt could look: unknown (A2).
      const why = this.#abandoned
        ? 'the store was closed before the server answered'
        : `the server was unreachable for reconnectWindowMs (${this.#reconnectWindowMs} ms)`;
      return StoreError.bookUnavailable(book, error, unknownOutcomeMessage(book, why));
    }
    if (this.#abandoned) return StoreError.closed();
    if (error instanceof FlushError) return error.storeError;
    if (connectionLost(error)) {
      return StoreError.io(
        `write to book ${book}: the connection to the server was lost before COMMIT and not regained within reconnectWindowMs (${this.#reconnectWindowMs} ms); nothing was committed`,
        error,
      );
    }
    return toStoreError(error, { what: `write to book ${book}`, book, schema: this.#schema });
  }

  /** Waits between reruns; close() cuts it short when it stops waiting (P11). */
  #pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const wake = (): void => {
        clearTimeout(timer);
        this.#pauseWakers.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      this.#pauseWakers.add(wake);
    });
  }

  /**
   * One attempt of a flush: one transaction, F1-F8 of spec 3.2. Throws only for a failure of the
   * whole attempt. Sets `run.unsettled` while its COMMIT is unanswered, and settles an earlier
   * attempt's unanswered COMMIT under the lock before running any job (P12). With `imported`, the
   * import mode (P13): job i replays event i of a log.
   */
  async #runFlush(book: string, jobs: Job[], run: FlushRun, imported: readonly ImportedEvent[] | null = null): Promise<{ outcomes: Outcome[]; state: FlushState }> {
    const S = this.#S;
    const client = await this.#writePool.connect();
    if (this.#abandoned) {
      // close() stopped waiting while this attempt waited for a connection: no new transaction.
      client.release();
      throw StoreError.closed();
    }
    this.#flushClients.add(client);
    let discard = false;
    try {
      // F1-F4 go out together when the client pipelines (run in order, so the state read's
      // snapshot follows the lock, P1); an attempt settling an earlier one reads after it.
      const opening: Statement[] = [{ text: 'BEGIN', simple: true }];
      // F2: a job that may create the book inserts its head, unless a case twin exists. The
      // transaction-scoped advisory lock on the case key makes that check race-free across
      // processes (only flushes that may create a book take it; it is held until COMMIT).
      if (jobs.some((job) => job.kind === 'asset' || job.kind === 'account')) {
        opening.push(
          { text: `SELECT pg_advisory_xact_lock(hashtext($1))`, values: [`talea:${this.#schema}:${bookCaseKey(book)}`] },
          {
            text: `INSERT INTO ${S}.books (name, case_key, last_seq, last_at)
           SELECT $1, $2, 0, 'epoch' WHERE NOT EXISTS (SELECT 1 FROM ${S}.books WHERE case_key = $2 AND name <> $1)
           ON CONFLICT (name) DO NOTHING`,
            values: [book, bookCaseKey(book)],
          },
        );
      }
      // F3, P1: the lock, alone.
      opening.push({ text: `SELECT last_seq, ${US('last_at')} AS last_at_us FROM ${S}.books WHERE name = $1 FOR UPDATE`, values: [book] });
      // F4: the state of every job, one statement (pg-flush.ts V1).
      const stateRead: Statement = { text: stateReadSql(S), values: FlushView.readParams(book, jobs) };
      const settling = run.unsettled !== null;
      if (!settling) opening.push(stateRead);
      const opened = await this.#send(client, opening);
      const failed = opened.find((result): result is PromiseRejectedResult => result.status === 'rejected');
      if (failed !== undefined) throw failed.reason;
      const head = fulfilled(opened[settling ? opened.length - 1 : opened.length - 2]!).rows[0] as Row | undefined;
      if (settling) {
        // P12: an earlier attempt's transaction has ended once this one holds the lock.
        const earlier = run.unsettled!;
        if (await this.#landed(client, earlier.state)) {
          discard = !(await this.#rollback(client));
          run.unsettled = null;
          this.#stats.landedCommits++;
          return earlier; // it committed: exactly its answers
        }
        run.unsettled = null; // nothing of it exists
      }
      const read = (settling ? await this.#query(client, stateRead) : fulfilled(opened[opened.length - 1]!)).rows[0] as Row;
      const state = lockedState(book, head === undefined ? undefined : { lastSeq: toSeq(head.last_seq, this.#schema, book), lastAtUs: toSafeNumber(head.last_at_us) });
      const view = FlushView.fromRow(book, read);
      // F5: each job validated against that state and its accepted batchmates (V2).
      const outcomes: Outcome[] = [];
      for (const [index, job] of jobs.entries()) {
        const event = imported?.[index];
        if (event !== undefined) this.#importStamp(state, event); // P13
        try {
          outcomes.push({ ok: true, value: view.apply(state, job, this.#clockUs) });
        } catch (error) {
          if (!(error instanceof StoreError)) throw error;
          if (event !== undefined) throw new FlushError(this.#importRefused(book, event.seq, `fails validation: ${error.message}`));
          outcomes.push({ ok: false, error });
        }
        if (event !== undefined && state.lastSeq !== event.seq) {
          throw new FlushError(this.#importRefused(book, event.seq, 'appends nothing (the store answers it as a repeat of an earlier event)'));
        }
      }
      if (state.eventJsons.length === 0) {
        // F6, P3: nothing to commit, so the answers stand even if the ROLLBACK is not answered.
        discard = !(await this.#rollback(client));
        return { outcomes, state };
      }
      // F7: every row in one statement, its updates guarded by the values they replace and its
      // counts by guard() (P2, P5); then F8, COMMIT, whose reply decides (P4). They go out
      // together when the client pipelines: a failed guard aborts the transaction, and COMMIT
      // then answers ROLLBACK. Until that reply is read the outcome is unknown (P12).
      const closing: Statement[] = [];
      if (state.createsHead) {
        // A transaction without postings creates its book: its head, inserted and locked. If
        // another process created the book since the state read, the head guard of F7 fails and
        // the flush reruns (below).
        closing.push(
          { text: `INSERT INTO ${S}.books (name, case_key, last_seq, last_at) VALUES ($1, $2, 0, 'epoch') ON CONFLICT (name) DO NOTHING`, values: [book, bookCaseKey(book)] },
          { text: `SELECT last_seq FROM ${S}.books WHERE name = $1 FOR UPDATE`, values: [book] },
        );
      }
      const values = view.writeParams(state);
      closing.push({ text: writeSql(S, values), values }, { text: 'COMMIT', simple: true });
      run.unsettled = { outcomes, state };
      const closed = await this.#send(client, closing);
      const commit = closed[closed.length - 1]!;
      if (commit.status === 'rejected') {
        // A server error in reply to COMMIT (or a statement before it) is definite: rolled back.
        // A lost connection is not.
        if (!connectionLost(commit.reason)) run.unsettled = null;
        throw this.#flushStatementError(book, state.createsHead, closed);
      }
      run.unsettled = null;
      if (commit.value.command !== 'COMMIT') throw this.#flushStatementError(book, state.createsHead, closed);
      return { outcomes, state };
    } catch (error) {
      discard = run.unsettled !== null || connectionLost(error) || !(await this.#rollback(client));
      throw error;
    } finally {
      this.#flushClients.delete(client);
      // A connection that failed mid-transaction is discarded, not reused.
      client.release(discard ? true : undefined);
    }
  }

  /**
   * Why F7's transaction did not commit, from the first statement that failed: a head created
   * meanwhile by another process reruns the flush; a failed guard is a broken lock discipline (IO);
   * other errors as they are (a txid race reruns, P12 and toStoreError decide the rest).
   */
  #flushStatementError(book: string, createsHead: boolean, closed: PromiseSettledResult<pg.QueryResult>[]): unknown {
    if (createsHead) {
      const head = closed[1]!; // after the head's insert: its lock, with the last seq it found
      if (head.status === 'fulfilled' && toSeq((head.value.rows[0] as Row).last_seq, this.#schema, book) !== 0) return new RerunFlush();
    }
    const failed = closed.find((result): result is PromiseRejectedResult => result.status === 'rejected');
    if (failed === undefined) return new FlushError(StoreError.io(`book ${book}: the transaction was rolled back by the server; nothing committed`));
    if (sqlState(failed.reason) === GUARD_FAILED) {
      return new FlushError(StoreError.io(`book ${book}: ${(failed.reason as Error).message} (lock discipline broken); nothing committed`));
    }
    return failed.reason;
  }

  /**
   * Sends the statements of one transaction together when the client pipelines (pg with
   * `pipeline: true`), else one after another, stopping at the first failure. Every result
   * settles: a statement not sent after a failure settles with that failure.
   */
  async #send(client: pg.PoolClient, statements: Statement[]): Promise<PromiseSettledResult<pg.QueryResult>[]> {
    if ((client as { pipeline?: boolean }).pipeline === true) {
      // One write for all of them (the client writes each statement as it is queued).
      const stream = (client as unknown as { connection?: { stream?: { cork?(): void; uncork?(): void } } }).connection?.stream;
      stream?.cork?.();
      try {
        return Promise.allSettled(statements.map((statement) => this.#query(client, statement)));
      } finally {
        stream?.uncork?.();
      }
    }
    const results: PromiseSettledResult<pg.QueryResult>[] = [];
    let failure: PromiseRejectedResult | null = null;
    for (const statement of statements) {
      if (failure === null) {
        try {
          results.push({ status: 'fulfilled', value: await this.#query(client, statement) });
          continue;
        } catch (reason) {
          failure = { status: 'rejected', reason };
        }
      }
      results.push(failure);
    }
    return results;
  }

  #query(client: pg.PoolClient, statement: Statement): Promise<pg.QueryResult> {
    return statement.simple === true ? client.query(statement.text) : this.#run(client, statement.text, statement.values);
  }

  /** P13: the imported event must continue the head; its `at` becomes the flush's. */
  #importStamp(state: FlushState, event: ImportedEvent): void {
    if (event.seq !== state.lastSeq + 1) {
      throw new FlushError(this.#importRefused(state.book, event.seq, `does not follow the book's last seq ${state.lastSeq}`));
    }
    const previousAtUs = state.atUs ?? state.lastAtUs;
    if (event.atUs < previousAtUs) {
      throw new FlushError(this.#importRefused(state.book, event.seq, `has a commit time before the book's last (${formatAtUs(previousAtUs)})`));
    }
    state.atUs = event.atUs;
  }

  #importRefused(book: string, seq: number, what: string): StoreError {
    return StoreError.corrupt(book, `${this.#schema}.events`, seq, `import refused: event ${seq} of book ${book} ${what}; nothing of this batch was written`);
  }

  /**
   * ROLLBACK, whose failure changes nothing (the server rolls back a lost session's transaction):
   * false when it failed, so that the connection is discarded.
   */
  async #rollback(client: pg.PoolClient): Promise<boolean> {
    try {
      await client.query('ROLLBACK');
      return true;
    } catch {
      return false;
    }
  }

  /**
   * Under the book lock: did the attempt that built `earlier` commit? Its events are in the table
   * at its seqs with its `at`, byte for byte, exactly when it did (P12). (Another process could
   * only have written the same bytes at those seqs by writing the same txids, or the same
   * registrations, and those answer the same.)
   */
  async #landed(client: pg.PoolClient, earlier: FlushState): Promise<boolean> {
    const rows = (
      await this.#run(client,
        `SELECT seq, ${US('at')} AS at_us, event_json FROM ${this.#S}.events WHERE book = $1 AND seq >= $2 AND seq <= $3 ORDER BY seq`,
        [earlier.book, earlier.firstSeq, earlier.lastSeq],
      )
    ).rows as Row[];
    if (rows.length !== earlier.eventJsons.length) return false;
    return rows.every(
      (row, index) =>
        toSeq(row.seq, this.#schema, earlier.book) === earlier.firstSeq + index &&
        toSafeNumber(row.at_us) === earlier.atsUs[index] &&
        String(row.event_json) === earlier.eventJsons[index],
    );
  }

  /**
   * Runs a statement as a named prepared statement (parsed and planned once per connection): a
   * flush runs a handful of statements per job, so parse and plan would dominate small ones.
   */
  #run(client: pg.ClientBase | pg.Pool, text: string, values?: unknown[]): Promise<pg.QueryResult> {
    let name = this.#statementNames.get(text);
    if (name === undefined) {
      name = `talea_${this.#statementNames.size}`;
      this.#statementNames.set(text, name);
    }
    return client.query({ name, text, ...(values === undefined ? {} : { values }) });
  }

  // --- subscriptions across processes (P10) -----------------------------------------------------

  protected override _subscribed(stream: Subscription): void {
    if (this.lifecycle === 'open' && this.hub.hasSubscribers(stream.book)) this.#listener.add(stream.book);
  }

  #publishLocal(book: string, events: SequencedEvent[]): void {
    if (!this.hub.hasSubscribers(book)) return;
    this.hub.publish(book, events);
    const last = events[events.length - 1]!.seq;
    if (last > (this.#published.get(book) ?? 0)) this.#published.set(book, last);
  }

  #queueNotify(book: string, seq: number): void {
    if (!this.#notify) return;
    this.#pendingNotify.set(book, seq);
    if (this.#notifyScheduled) return;
    this.#notifyScheduled = true;
    // Once per turn, outside every write transaction (spec 4.6). A lost NOTIFY is the poll's job.
    setImmediate(() => {
      this.#notifyScheduled = false;
      const pending = this.#pendingNotify;
      this.#pendingNotify = new Map();
      if (this.lifecycle !== 'open' || pending.size === 0) return;
      const books = [...pending.keys()];
      this.#writePool
        .query('SELECT pg_notify(c, p) FROM unnest($1::text[], $2::text[]) AS n(c, p)', [
          books.map((name) => channelOf(this.#schema, name)),
          books.map((name) => `${name}:${pending.get(name)!}`),
        ])
        .catch(() => undefined);
    });
  }

  /**
   * Spec 4.7, lost listener: neither the listener nor the poll reached the server for
   * `reconnectWindowMs`, so each stream of these books delivers what it holds, rejects IO once and
   * ends; its caller resubscribes from its last seq + 1.
   */
  #unreachable(books: string[]): void {
    if (this.lifecycle !== 'open') return;
    for (const book of books) {
      this.hub.fail(
        book,
        StoreError.io(
          `subscription to book ${book}: neither the listener nor the poll reached the server for reconnectWindowMs (${this.#reconnectWindowMs} ms); resubscribe from the last seq + 1`,
        ),
      );
    }
  }

  async #heads(books: string[]): Promise<Map<string, number>> {
    const rows = (await this.#readPool.query(`SELECT name, last_seq FROM ${this.#S}.books WHERE name = ANY($1::text[])`, [books])).rows as Row[];
    return new Map(rows.map((row) => [String(row.name), toSeq(row.last_seq, this.#schema, String(row.name))]));
  }

  /** A hint that `book` may have events past what was published: read them (L1). */
  #wake(book: string, head?: number): void {
    if (this.lifecycle !== 'open' || !this.hub.hasSubscribers(book)) return;
    if (head !== undefined && head <= (this.#published.get(book) ?? 0)) return;
    if (this.#tailReading.has(book)) {
      this.#tailReading.set(book, true); // coalesce: read once more when the current read ends
      return;
    }
    this.#tailReading.set(book, false);
    void this.#tailRead(book);
  }

  /**
   * Pushes the events after the published seq. When more than a page is missing, only the newest
   * event is pushed: a stream behind it sees the gap and re-reads from the table (subscription.ts).
   */
  async #tailRead(book: string): Promise<void> {
    try {
      for (;;) {
        this.#tailReading.set(book, false);
        const published = this.#published.get(book) ?? 0;
        const events = await this.#readPage(book, published + 1, 512);
        if (events.length === 512) {
          const newest = (
            await this.#readPool.query(
              `SELECT e.seq, ${US('e.at')} AS at_us, e.event_json FROM ${this.#S}.books b JOIN ${this.#S}.events e ON e.book = b.name AND e.seq = b.last_seq WHERE b.name = $1`,
              [book],
            )
          ).rows as Row[];
          events.push(...newest.map((row) => this.#eventOf(book, row)));
        }
        if (events.length > 0 && this.lifecycle === 'open') {
          this.hub.publish(book, events);
          const last = events[events.length - 1]!.seq;
          if (last > (this.#published.get(book) ?? 0)) this.#published.set(book, last);
        }
        if (this.#tailReading.get(book) !== true) break;
      }
    } catch {
      // The poll tries again; a stream whose own read fails ends with that error.
    } finally {
      this.#tailReading.delete(book);
    }
  }

  // --- reads ------------------------------------------------------------------------------------

  /**
   * One read statement. A lost connection is retried once on a fresh one (spec 4.1: a read changes
   * nothing); a stream's read (`rideOut`) retries with the flushes' backoff for
   * `reconnectWindowMs` instead, so streams wait out a server restart (spec 4.7).
   */
  async #read(what: string, book: string | undefined, text: string, values: unknown[], rideOut = false): Promise<Row[]> {
    let windowEndMs: number | null = null;
    let backoffMs = RERUN_BACKOFF_FIRST_MS;
    for (let attempt = 1; ; attempt++) {
      try {
        return (await this.#run(this.#readPool, text, values)).rows as Row[];
      } catch (error) {
        if (isConnectionError(error) && this.lifecycle === 'open') {
          if (!rideOut && attempt === 1) continue;
          windowEndMs ??= Date.now() + this.#reconnectWindowMs;
          const leftMs = windowEndMs - Date.now();
          if (rideOut && leftMs > 0) {
            await this.#pause(Math.min(backoffMs, leftMs));
            backoffMs = Math.min(backoffMs * 2, RERUN_BACKOFF_MAX_MS);
            continue;
          }
        }
        throw toStoreError(error, { what, ...(book === undefined ? {} : { book }), schema: this.#schema });
      }
    }
  }

  protected override async _balance(id: AccountId, asOfUs: number | null): Promise<BalanceSnapshot> {
    const S = this.#S;
    const rows = await this.#read(
      'balance',
      id.book,
      asOfUs === null
        ? `SELECT asset, normal_side, raw, updated_seq FROM ${S}.accounts WHERE book = $1 AND path = $2`
        : // Existence is judged now; the amount is the last posting row at or before the asOf
          // bound: the highest seq with `at` <= asOf (`at` never decreases with seq), one backward
          // probe of events (book, at, seq), then one backward probe of the postings key (spec 4.2).
          `SELECT a.asset, a.normal_side, p.raw_after AS raw, coalesce(p.seq, 0) AS updated_seq
             FROM ${S}.accounts a
             LEFT JOIN LATERAL (
               SELECT raw_after, seq FROM ${S}.postings
                WHERE book = a.book AND path = a.path
                  AND seq <= (SELECT seq FROM ${S}.events WHERE book = $1 AND at <= $3::timestamptz ORDER BY at DESC, seq DESC LIMIT 1)
                ORDER BY seq DESC, idx DESC LIMIT 1) p ON true
            WHERE a.book = $1 AND a.path = $2`,
      asOfUs === null ? [id.book, id.path] : [id.book, id.path, formatAtUs(asOfUs)],
    );
    const row = rows[0];
    if (row === undefined) throw StoreError.unknownAccount({ ...id });
    const updatedSeq = toSeq(row.updated_seq, this.#schema, id.book);
    const cfg: AccountCfg = { normal_side: row.normal_side === null ? null : (row.normal_side as Direction), min_balance: null };
    const raw = row.raw === null ? 0n : (row.raw as bigint);
    return { amount: { minor: updatedSeq === 0 ? 0n : effectiveBalance(cfg, raw), asset: String(row.asset) }, updated_seq: updatedSeq };
  }

  protected override async _asset(id: string): Promise<AssetDef | null> {
    const rows = await this.#read(
      'asset',
      undefined,
      `SELECT e.event_json FROM ${this.#S}.assets a JOIN ${this.#S}.events e ON e.book = $2 AND e.seq = a.seq WHERE a.id = $1`,
      [id, SYSTEM_BOOK],
    );
    return rows[0] === undefined ? null : decodeAssetDef(String(rows[0].event_json));
  }

  protected override async _accountHistory(id: AccountId, after: number, seqCountMax: number): Promise<PostingRecord[]> {
    const S = this.#S;
    const exists = await this.#read('accountHistory', id.book, `SELECT 1 FROM ${S}.accounts WHERE book = $1 AND path = $2`, [id.book, id.path]);
    if (exists.length === 0) throw StoreError.unknownAccount({ ...id });
    if (seqCountMax === 0) return [];
    // The page ends at the limit-th distinct seq: a transaction is never split between pages.
    const rows = await this.#read(
      'accountHistory',
      id.book,
      `SELECT seq, txid, asset, direction, minor, ${US('at')} AS at_us FROM ${S}.postings
        WHERE book = $1 AND path = $2 AND seq > $3
          AND seq <= (SELECT max(seq) FROM (SELECT DISTINCT seq FROM ${S}.postings
                                             WHERE book = $1 AND path = $2 AND seq > $3 ORDER BY seq LIMIT $4) bound)
        ORDER BY seq, idx`,
      [id.book, id.path, after, seqCountMax],
    );
    return rows.map((row) => ({
      seq: toSeq(row.seq, this.#schema, id.book),
      txid: String(row.txid),
      account: { book: id.book, path: id.path },
      amount: { minor: row.minor as bigint, asset: String(row.asset) },
      direction: row.direction as Direction,
      at: formatAtUs(toSafeNumber(row.at_us)),
    }));
  }

  protected override async _transaction(txid: string): Promise<StoredTransaction | null> {
    const rows = await this.#read(
      'transaction',
      undefined,
      `SELECT t.book, t.seq, e.seq AS event_seq, ${US('e.at')} AS at_us, e.event_json
         FROM ${this.#S}.transactions t LEFT JOIN ${this.#S}.events e ON e.book = t.book AND e.seq = t.seq
        WHERE t.txid = $1`,
      [txid],
    );
    const row = rows[0];
    if (row === undefined) return null;
    const book = String(row.book);
    const seq = toSeq(row.seq, this.#schema, book);
    if (row.event_seq === null) throw StoreError.corrupt(book, `${this.#schema}.events`, seq, `transaction ${txid} names seq ${seq} of book ${book}, which has no event`);
    return { transaction: decodeTransaction(String(row.event_json)), seq, at: formatAtUs(toSafeNumber(row.at_us)) };
  }

  protected override async _trialBalance(book: string, asOfUs: number | null): Promise<TrialBalanceRow[]> {
    const S = this.#S;
    if (asOfUs === null) {
      // Now: the book's trial-balance rows, O(assets) (pg-flush.ts V4), in UTF-8 byte order (C
      // collation). A sum at i64 max may be saturated: the sums below decide, and warn.
      const rows = await this.#read('trialBalance', book, `SELECT asset, debits, credits FROM ${S}.book_assets WHERE book = $1 ORDER BY asset`, [book]);
      if (!rows.some((row) => row.debits === I64_MAX || row.credits === I64_MAX)) {
        return rows.map((row) => ({ asset: String(row.asset), debits: row.debits as bigint, credits: row.credits as bigint }));
      }
    }
    const bound = asOfUs === null ? '' : 'AND at <= $2::timestamptz';
    const values = asOfUs === null ? [book] : [book, formatAtUs(asOfUs)];
    // Positive and negative parts apart (numeric, exact): when each fits in i64, no running sum in
    // any order leaves the range, so the plain total equals the saturating fold in commit order.
    const parts = await this.#read(
      'trialBalance',
      book,
      `SELECT asset, direction,
              coalesce(sum(minor) FILTER (WHERE minor > 0), 0)::text AS up,
              coalesce(sum(minor) FILTER (WHERE minor < 0), 0)::text AS down
         FROM ${S}.postings WHERE book = $1 ${bound}
        GROUP BY asset, direction`,
      values,
    );
    let sums = new TrialBalanceSums();
    let exact = true;
    for (const row of parts) {
      const up = BigInt(String(row.up));
      const down = BigInt(String(row.down));
      if (up > I64_MAX || down < I64_MIN) exact = false;
      sums.set(String(row.asset), row.direction as Direction, up + down);
    }
    if (!exact) {
      sums = new TrialBalanceSums();
      const rows = await this.#read(
        'trialBalance',
        book,
        `SELECT p.asset, p.direction, p.minor FROM ${S}.postings p WHERE p.book = $1 ${bound.replace('at', 'p.at')} ORDER BY p.seq, p.idx`,
        values,
      );
      for (const row of rows) sums.add(String(row.asset), row.direction as Direction, row.minor as bigint);
    }
    if (sums.saturated && !this.#sumsSaturationWarned.has(book)) {
      this.#sumsSaturationWarned.add(book);
      this.#onWarning(sumsSaturatedWarning(book));
    }
    return sums.rows();
  }

  protected override async _readEvents(book: string, from: number, limit: number): Promise<SequencedEvent[]> {
    return this.#readPage(book, from, limit);
  }

  protected override _readStreamPage(book: string, from: number, limit: number): Promise<SequencedEvent[]> {
    return this.#readPage(book, from, limit, true);
  }

  async #readPage(book: string, from: number, limit: number, rideOut = false): Promise<SequencedEvent[]> {
    if (limit === 0) return [];
    const rows = await this.#read(
      'readEvents',
      book,
      `SELECT seq, ${US('at')} AS at_us, event_json FROM ${this.#S}.events WHERE book = $1 AND seq >= $2 ORDER BY seq LIMIT $3`,
      [book, Math.max(from, 1), limit],
      rideOut,
    );
    return rows.map((row) => this.#eventOf(book, row));
  }

  #eventOf(book: string, row: Row): SequencedEvent {
    const seq = toSeq(row.seq, this.#schema, book);
    try {
      return { seq, at: formatAtUs(toSafeNumber(row.at_us)), event: decodeEvent(String(row.event_json)) };
    } catch (error) {
      throw StoreError.corrupt(book, `${this.#schema}.events`, seq, `event ${seq} of book ${book} cannot be decoded: ${(error as Error).message}`);
    }
  }

  // --- close (P11) ------------------------------------------------------------------------------

  protected override async _close(): Promise<void> {
    for (const queue of this.#queues.values()) {
      const dropped = queue.jobs.splice(0);
      for (const queued of dropped) {
        this.#release(queued.book, queued);
        queued.reject(StoreError.closed());
      }
    }
    // Flushes in flight finish with their real outcome, for at most 10 s (reruns included). Then
    // no more reruns, and their connections are destroyed: each flush answers at once, CLOSED,
    // or BOOK_UNAVAILABLE after a COMMIT it sent (P11). A flush waiting for a pool connection
    // gives up within acquireTimeoutMs.
    if (!(await settledWithin(this.#flushes, CLOSE_FLUSH_WAIT_MS))) {
      this.#abandoned = true;
      for (const wake of [...this.#pauseWakers]) wake();
      for (const client of this.#flushClients) destroyConnection(client);
      await settledWithin(this.#flushes, this.#acquireTimeoutMs + 1_000);
    }
    await this.#listener.close().catch(() => undefined);
    await Promise.allSettled([endPool(this.#writePool), endPool(this.#readPool)]);
  }
}

function ignoreError(): void {}

/** True if every promise of `promises` settled within `ms`. */
async function settledWithin(promises: Iterable<Promise<unknown>>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const settled = await Promise.race([
    Promise.allSettled([...promises]).then(() => true),
    new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), ms);
    }),
  ]);
  clearTimeout(timer);
  return settled;
}

/**
 * Closes a client's socket at once: its pending query rejects as a lost connection. (`end()` would
 * wait for the server, which may be the thing not answering.)
 */
function destroyConnection(client: pg.PoolClient): void {
  (client as unknown as { connection?: { stream?: { destroy(): void } } }).connection?.stream?.destroy();
}

/** Ends a pool within 5 s; a pool whose clients hang is abandoned rather than awaited (P11). */
async function endPool(pool: pg.Pool): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    pool.end().catch(() => undefined),
    new Promise((resolve) => {
      timer = setTimeout(resolve, 5_000);
    }),
  ]);
  clearTimeout(timer);
}

/** The flush's view of its book went stale (another process created the book): run it again. */
class RerunFlush extends Error {}

/** A statement of a flush: prepared (named) unless `simple`. */
interface Statement {
  text: string;
  values?: unknown[];
  simple?: boolean;
}

/** SQLSTATE raised by the schema's guard() when a flush's write counts are off (pg-flush.ts V3). */
const GUARD_FAILED = 'TL001';

/** The value of a statement that succeeded, else its failure thrown. */
function fulfilled(result: PromiseSettledResult<pg.QueryResult>): pg.QueryResult {
  if (result.status === 'rejected') throw result.reason;
  return result.value;
}

/** A failure of a whole flush already decided as a StoreError (not to be re-mapped). */
class FlushError extends Error {
  constructor(readonly storeError: StoreError) {
    super(storeError.message);
  }
}

/**
 * A flush attempt failed because its connection was lost (P12). The flush's own failures carry no
 * SQLSTATE, which `isConnectionError` reads as a lost connection: they are decided here first (a
 * guard that caught a broken lock discipline must fail, not rerun).
 */
function connectionLost(error: unknown): boolean {
  return !(error instanceof FlushError) && !(error instanceof RerunFlush) && isConnectionError(error);
}


/** The write job an imported event replays (P13); an event of another book is refused. */
function importJob(book: string, imported: ImportedEvent, schema: string): Job {
  const { event, eventJson } = imported;
  const refuse = (what: string): never => {
    throw StoreError.corrupt(book, `${schema}.events`, imported.seq, `import refused: event ${imported.seq} of book ${book} ${what}`);
  };
  switch (event.kind) {
    case 'asset_registered': {
      if (book !== SYSTEM_BOOK) refuse(`registers asset ${event.id} outside ${SYSTEM_BOOK}`);
      const { kind: _kind, ...def } = event;
      return { kind: 'asset', asset: { def, eventJson } };
    }
    case 'account_opened':
      if (event.def.id.book !== book) refuse(`opens an account of book ${event.def.id.book}`);
      return { kind: 'account', account: { def: event.def, cfg: event.cfg, eventJson } };
    case 'transaction_posted': {
      if (event.book !== book) refuse(`posts a transaction of book ${event.book}`);
      const { kind: _kind, ...tx } = event;
      return { kind: 'commit', draft: { tx, eventJson } };
    }
  }
}

function toSafeNumber(value: unknown): number {
  const number = Number(value as bigint);
  assert(Number.isSafeInteger(number));
  return number;
}

/** A seq from the database: a safe integer, else CORRUPT (spec 2.1). */
function toSeq(value: unknown, schema: string, book: string): number {
  const number = Number(value as bigint);
  if (!Number.isSafeInteger(number) || number < 0) {
    throw StoreError.corrupt(book, `${schema}.books`, 0, `book ${book} holds a seq beyond 2^53: ${String(value)}`);
  }
  return number;
}

type Driver = typeof pg;
let driverLoad: Promise<Driver> | null = null;

/**
 * `pg` is an optional peer dependency, loaded on the first open: a program that never opens a
 * PgStore needs nothing. Without it, open rejects IO saying what to install.
 */
export function loadDriver(): Promise<Driver> {
  driverLoad ??= import('pg').then(
    (module) => (module.default ?? module) as Driver,
    (error: unknown) => {
      driverLoad = null; // installing it later, without a restart, works
      throw StoreError.io('PgStore needs the optional peer dependency pg: run `npm install pg`', error);
    },
  );
  return driverLoad;
}

/**
 * A shard: the books one worker owns, their queues, and the group-commit writer loop
 * (spec/log-engine.md, section 6). Pure: it talks to the router only through `post`, so it runs in
 * a worker thread (workers/shard-worker.ts) or, for tests, on the main thread.
 *
 * W1. No reply for a write leaves the shard before the fsync of the batch that holds it has
 *     returned; this includes rejections and replays that share a batch with appended frames.
 * W2. BookState changes only after that fsync, so no read ever sees an event that is not durable.
 * W3. The book's watermark slot is stored after the fsync and the apply and before the batch's
 *     first reply. It never decreases and never moves for a failed batch.
 * W4. A failed write, fsync, rotation or book creation ends the book. The fsync is never retried.
 * W5. The accepted events of a batch take consecutive seqs; a rejection or a replay takes none.
 * W6. A batch is one write and one fsync of one segment file. The fsyncs of the batches of one pass
 *     (one per book) run at once (src/log/sync-pool.ts); each batch is applied and answered only
 *     after its own fsync returned.
 * W7. Replies leave in job order, after the batch's events have been handed to subscribers.
 * W9. A job that cannot get a file descriptor (EMFILE or ENFILE, or the worker's share in use:
 *     src/log/fd-budget.ts) is refused OVERLOADED, with the rest of its batch when the append
 *     needed the descriptor, and the book lives on: an open that failed wrote no byte. A failed
 *     write or fsync still ends the book (W4). A read that finds none fails IO, and so does the
 *     store's open when recovery finds none.
 * W10. A pass visits only the books with work (queued jobs, a snapshot or idempotency work in
 *     flight), in the order they came to have it: its cost does not grow with the books a worker
 *     owns, which matters when thousands of them sit idle beside one busy book.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import {
  BatchOverlay,
  BookState,
  stageCommit,
  stageOpenAccount,
  validateCommit,
  validateOpenAccount,
  type AccountState,
  type CommitDraft,
  type OriginalLoader,
} from './book-state.js';
import { StoreError } from '../core/errors.js';
import { sameAssetDef } from '../core/identity.js';
import { decodeEvent, encodeSequencedPayload } from '../core/event-codec.js';
import { fsyncAll, isDescriptorPressure, type FileSystem } from './file-system.js';
import { BudgetedFileSystem } from './fd-budget.js';
import { encodeFrameAroundEvent, encodeFrameFromText, FrameArena } from './frame.js';
import { unpackCommits } from './commit-wire.js';
import {
  BATCH_BYTES_MAX,
  BATCH_DRAFTS_MAX,
  SNAPSHOT_SLICE_BYTES,
  WATERMARK_SLOTS_PER_CHUNK,
} from '../core/limits.js';
import { recoverBook, renamedFilesWarning, repairBook, type RecoverOptions, type RepairPlan } from './recovery.js';
import { IdemMaintenance } from './idem-spill.js';
import { bookDirectory, SegmentLog, type WrittenBatch } from './segment.js';
import { PRECHECK_CHUNK_BYTES, PRECHECK_FROM_BYTES, type SegmentPrechecks, type SegmentToPrecheck } from './segment-precheck.js';
import { readBookFiles, type BookFiles } from './book-files.js';
import { workerIndexOf } from './sharding.js';
import { captureCut, pruneSnapshots, SnapshotWriter } from './snapshot.js';
import { formatAtUs, wallClockUs } from '../core/time.js';
import {
  SYSTEM_BOOK,
  type AssetDef,
  type Committed,
  type LedgerEvent,
  type SequencedEvent,
  type Transaction,
  type TrialBalanceRow,
} from '../core/types.js';
import {
  packSharedAccounts,
  toWireError,
  type Job,
  type JobsMessage,
  type ReadJob,
  type RecoverResult,
  type Reply,
  type ReplyValue,
  type ShardConfig,
  type WorkerMessage,
  type WriteJob,
} from './worker-protocol.js';
import { accountKey } from '../core/account-key.js';
import { BalanceSlotsWriter } from './shared-balances.js';
import { sumsSaturatedWarning, TrialBalanceSums } from '../core/trial-balance.js';

interface BookRuntime {
  state: BookState;
  log: SegmentLog;
  slot: number;
  queue: WriteJob[];
  dead: StoreError | null;
  repair: RepairPlan | null;
  /** Events applied since the last snapshot started (or since open). */
  eventsSinceSnapshot: number;
  /** The snapshot being written between batches, if any. */
  snapshot: SnapshotWriter | null;
  /** Explicit snapshot requests: answered when a snapshot covering `seqRequired` is durable. */
  snapshotWaiters: Array<{ id: number; seqRequired: number }>;
  /** The seq of the last snapshot this worker made durable (0: none since open). */
  snapshotSeqDurable: number;
  /** Spills, merges and rebuilds of the book's idempotency runs. */
  idem: IdemMaintenance;
  /** The book's balance slots, one per account at its ordinal (AccountState.ordinal). */
  balances: BalanceSlotsWriter;
}

interface Staged {
  seq: number;
  job: WriteJob;
  /** What applying it does: a commit's compact effect, or an event for the rare kinds. */
  apply: { kind: 'commit'; effect: CommitDraft } | { kind: 'event'; event: LedgerEvent };
  frame: Buffer;
}

/** Books whose batches are written before their fsyncs run together (Shard.#pass). */
const SYNC_GROUP_BOOKS = 16;

/** A batch written and waiting for its fsync (Shard.#prepareBatch, #finishBatch). */
interface PreparedBatch {
  runtime: BookRuntime;
  jobs: WriteJob[];
  outcomes: Outcome[];
  staged: Staged[];
  batchAtUs: number;
  written: WrittenBatch | null;
  syncError: Error | null;
}

type Outcome = { ok: true; value: ReplyValue } | { ok: false; error: StoreError } | { deferred: true } | { appended: true };

export class Shard {
  readonly #config: ShardConfig;
  /** Every file operation of the shard, counted against its descriptor share (fd-budget.ts F1). */
  readonly #fileSystem: BudgetedFileSystem;
  readonly #post: (message: WorkerMessage) => void;
  readonly #books = new Map<string, BookRuntime>();
  /** W10: the books with queued jobs, a snapshot or idempotency work; the only ones a pass visits. */
  readonly #working = new Set<BookRuntime>();
  readonly #assets = new Map<string, AssetDef>();
  readonly #slotChunks: BigInt64Array[] = [];
  /** Books whose active segment descriptor is open and idle, least recently written first. */
  readonly #openSegments = new Set<BookRuntime>();
  /** The pass waiting for the next turn, if any: at most one, or deferred work would run twice per turn. */
  #scheduledPass: NodeJS.Immediate | null = null;
  /** The frames of the batch being run (one batch at a time: the append is synchronous). */
  readonly #frames = new FrameArena();
  #closed = false;

  constructor(config: ShardConfig, fileSystem: FileSystem, post: (message: WorkerMessage) => void) {
    this.#config = config;
    this.#fileSystem = new BudgetedFileSystem(fileSystem, config.fdsPerWorker);
    this.#fileSystem.reclaim = (count) => this.#closeIdleSegments(count);
    this.#post = post;
  }

  /** Nothing queued and no deferred work scheduled: the writer may wait for its next message. */
  get idle(): boolean {
    return !this.#closed && this.#scheduledPass === null;
  }

  /** One message from the router: queue its writes, answer its reads and control jobs now. */
  handle(message: JobsMessage): void {
    this.#accept(message);
    this.#schedulePass();
  }

  /**
   * Every message the port holds at this moment, taken together: the batches run at once, with
   * no turn of the event loop in between (the worker drains its port before calling this).
   */
  handleNow(messages: readonly JobsMessage[]): void {
    for (const message of messages) this.#accept(message);
    this.#pass();
  }

  #accept(message: JobsMessage): void {
    const replies: Reply[] = [];
    const { jobs } = message;
    let next = 0; // the next cloned job; each packed commit comes after `position` of them
    if (message.commits !== null) {
      unpackCommits(message.commits, (job, position) => {
        while (next < position) this.#acceptJob(jobs[next++]!, replies);
        this.#acceptJob(job, replies);
      });
    }
    while (next < jobs.length) this.#acceptJob(jobs[next++]!, replies);
    if (replies.length > 0) this.#post({ type: 'replies', replies });
  }

  #acceptJob(job: Job, replies: Reply[]): void {
    if (this.#closed) {
      replies.push(errorReply(job.id, StoreError.closed()));
      return;
    }
    switch (job.op) {
      case 'commit':
      case 'openAccount':
      case 'registerAsset':
      case 'snapshot':
        this.#enqueue(job, replies);
        break;
      case 'balance':
      case 'history':
      case 'trialBalance':
      case 'readEvents':
      case 'transaction':
        replies.push(this.#read(job));
        break;
      default:
        replies.push(this.#control(job));
    }
  }

  // --- writes -----------------------------------------------------------------------------------

  #enqueue(job: WriteJob, replies: Reply[]): void {
    const runtime = this.#bookFor(job.book, job.slot);
    if (runtime.dead !== null) {
      replies.push(errorReply(job.id, runtime.dead));
      return;
    }
    runtime.queue.push(job);
    this.#working.add(runtime);
  }

  #bookFor(book: string, slot: number): BookRuntime {
    let runtime = this.#books.get(book);
    if (runtime === undefined) {
      this.#assertOwned(book); // a book in the map passed this when it was added
      const state = new BookState(book);
      state.attachWriter(this.#config.workerIndex);
      const log = this.#configured(new SegmentLog(this.#fileSystem, this.#config.dataDir, book));
      runtime = {
        state,
        log,
        idem: this.#idemMaintenance(book, log, state),
        slot,
        queue: [],
        dead: null,
        repair: null,
        eventsSinceSnapshot: 0,
        snapshot: null,
        snapshotWaiters: [],
        snapshotSeqDurable: 0,
        balances: this.#balanceSlots(book),
      };
      this.#books.set(book, runtime);
    }
    return runtime;
  }

  /** A book's log with the scan chunk size of the test hook, if any. */
  #configured(log: SegmentLog): SegmentLog {
    if (this.#config.scanChunkBytes !== undefined) log.scanChunkBytes = this.#config.scanChunkBytes;
    if (this.#config.preallocate !== undefined) log.preallocate = { ...this.#config.preallocate };
    return log;
  }

  /** W8: a book is written by its own worker only; a job for another worker's book is a bug. */
  #assertOwned(book: string): void {
    assert.equal(workerIndexOf(book, this.#config.workerCount), this.#config.workerIndex, `book ${book} is not owned by worker ${this.#config.workerIndex}`);
  }

  #schedulePass(): void {
    if (this.#scheduledPass !== null || this.#closed || this.#working.size === 0) return;
    // Yield first, so every message already waiting in the port joins this pass's batches.
    this.#scheduledPass = setImmediate(() => this.#pass());
  }

  /** One batch for each book with queued jobs, made durable together, then the deferred work. */
  #pass(): void {
    // A pass run straight from handleNow replaces the one scheduled for the next turn.
    if (this.#scheduledPass !== null) clearImmediate(this.#scheduledPass);
    this.#scheduledPass = null;
    if (this.#closed) return;
    // Books' batches are written first, up to SYNC_GROUP_BOOKS of them, then made durable at once,
    // then each is applied and answered (W1: no reply before its own batch's fsync returned). A
    // written batch holds its segment's descriptor until then, so a small descriptor share (F5 in
    // src/log/fd-budget.ts) runs one book at a time.
    const groupMax = this.#fileSystem.concurrentSyncs ? SYNC_GROUP_BOOKS : 1;
    let group: PreparedBatch[] = [];
    let written = 0;
    for (const runtime of this.#working) {
      if (runtime.queue.length === 0 || runtime.dead !== null) continue;
      const batch = this.#prepareBatch(runtime);
      if (batch === null) continue;
      group.push(batch);
      if (batch.written !== null && ++written === groupMax) {
        this.#syncAndFinish(group);
        group = [];
        written = 0;
      }
    }
    this.#syncAndFinish(group);
    // Deferred work, one bounded slice per book, never before the batches' replies; then a book
    // with nothing left leaves the working set (W10).
    for (const runtime of this.#working) {
      if (runtime.dead === null) {
        if (runtime.snapshot !== null) this.#snapshotSlice(runtime);
        else if (runtime.idem.busy && runtime.idem.slice(SNAPSHOT_SLICE_BYTES)) this.#considerDeferredWork(runtime);
      }
      if (runtime.dead !== null || (runtime.queue.length === 0 && runtime.snapshot === null && !runtime.idem.busy)) this.#working.delete(runtime);
    }
    this.#schedulePass();
  }

  /** Makes the written batches of `group` durable at once, then applies and answers each in turn. */
  #syncAndFinish(group: readonly PreparedBatch[]): void {
    const syncing = group.filter((batch) => batch.written !== null);
    const syncErrors = fsyncAll(
      this.#fileSystem,
      syncing.map((batch) => batch.written!.sync),
    );
    syncing.forEach((batch, index) => (batch.syncError = syncErrors[index]!));
    for (const batch of group) this.#finishBatch(batch);
  }

  /**
   * Steps 1-6 of a batch: drain, validate, stage and write it, without the fsync (the pass makes
   * every book's batch durable at once, src/log/sync-pool.ts). Null when the batch already ended:
   * refused or its book killed, every reply sent.
   */
  #prepareBatch(runtime: BookRuntime): PreparedBatch | null {
    const { state, log } = runtime;
    const jobs = drain(runtime.queue);
    this.#frames.reset();
    const overlay = new BatchOverlay();
    const outcomes: Outcome[] = [];
    const staged: Staged[] = [];
    let seq = state.seqNext;
    // One commit time per batch, read from the clock when the first event is staged and never
    // below the book's last: batchmates share it, and at never decreases within the book.
    let batchAtUs = -1;
    let batchAt = '';
    let corruption: StoreError | null = null;
    const loadOriginal: OriginalLoader = (originalSeq) => loadCommitted(log, originalSeq);

    const stage = (job: WriteJob, apply: Staged['apply']): Staged => {
      if (batchAtUs < 0) {
        batchAtUs = Math.max(this.#clockUs(), state.atLastUs ?? 0);
        batchAt = formatAtUs(batchAtUs);
      }
      const frame =
        job.op === 'commit'
          ? encodeFrameAroundEvent(seq, batchAt, job.event, this.#frames)
          : encodeFrameFromText(encodeSequencedPayload(seq, batchAt, (job as { eventJson: string }).eventJson));
      const entry: Staged = { seq, job, apply, frame };
      staged.push(entry);
      seq++;
      return entry;
    };

    for (const job of jobs) {
      try {
        switch (job.op) {
          case 'commit': {
            const draft: CommitDraft = {
              txid: job.txid,
              key: job.key,
              postings: job.postings,
              content: () => transactionOf(job.event),
            };
            const verdict = validateCommit(state, overlay, draft, job.txidForeign, loadOriginal);
            if (verdict.kind === 'replay') {
              outcomes.push({ ok: true, value: verdict.committed });
              break;
            }
            const entry = stage(job, { kind: 'commit', effect: draft });
            stageCommit(overlay, draft, verdict, { txid: job.txid, seq: entry.seq, at: batchAt });
            outcomes.push({ appended: true });
            break;
          }
          case 'openAccount': {
            const verdict = validateOpenAccount(state, overlay, job.def, job.cfg, (id) => this.#assets.has(id));
            if (verdict === 'new') {
              stage(job, { kind: 'event', event: { kind: 'account_opened', def: job.def, cfg: job.cfg } });
              stageOpenAccount(overlay, job.def, job.cfg);
              outcomes.push({ appended: true });
            } else {
              outcomes.push({ ok: true, value: undefined });
            }
            break;
          }
          case 'snapshot':
            outcomes.push({ deferred: true }); // answered when a snapshot of this state is durable
            break;
          case 'registerAsset': {
            assert.equal(state.book, SYSTEM_BOOK);
            const existing = this.#assets.get(job.def.id) ?? overlay.assets.get(job.def.id);
            if (existing !== undefined) {
              if (!sameAssetDef(existing, job.def)) throw StoreError.alreadyExists(`asset ${job.def.id}`);
              outcomes.push({ ok: true, value: undefined });
            } else {
              stage(job, { kind: 'event', event: { kind: 'asset_registered', ...job.def } });
              overlay.assets.set(job.def.id, job.def);
              outcomes.push({ appended: true });
            }
            break;
          }
        }
      } catch (error) {
        if (isDescriptorPressure(error)) {
          // A read for the idempotency check found no descriptor: this job only is refused (W9).
          outcomes.push({ ok: false, error: StoreError.overloaded(state.book, error) });
          continue;
        }
        if (!(error instanceof StoreError)) throw error;
        if (error.code === 'CORRUPT') {
          const file = (error as StoreError & { file?: string }).file ?? '';
          // A damaged idempotency run fails the job and is rebuilt from the log; damage to the
          // log itself ends the book's writes.
          if (!runtime.idem.markDamaged(file)) corruption ??= error;
        }
        outcomes.push({ ok: false, error });
      }
    }
    for (let index = 1; index < staged.length; index++) assert.equal(staged[index]!.seq, staged[index - 1]!.seq + 1); // W5
    assert(staged.length === 0 || staged[0]!.seq === state.seqNext);

    if (corruption !== null) {
      // A read below the watermark met damage: the log is no longer trustworthy. Nothing was written.
      this.#killBook(runtime, corruption, jobs);
      return null;
    }
    let written: WrittenBatch | null = null;
    if (staged.length > 0) {
      // The book's own descriptor is not idle while its batch runs: making room never closes it.
      this.#openSegments.delete(runtime);
      try {
        // Room for a new or reopened segment and a directory fsync first, so a refusal comes
        // before the book's directory is made (a rejected write creates nothing).
        this.#fileSystem.ensureFree(log.descriptorsNeeded(this.#config.segmentMax));
        written = log.writeBatch(
          staged.map((entry) => entry.frame),
          staged[0]!.seq,
          this.#config.segmentMax,
        );
      } catch (error) {
        if (isDescriptorPressure(error)) this.#refuseBatch(runtime, error, jobs); // W9: nothing was written
        else this.#killBook(runtime, error, jobs); // W4: no apply, no watermark, no retry
        return null;
      }
    }
    return { runtime, jobs, outcomes, staged, batchAtUs, written, syncError: null };
  }

  /** Steps 8-12 of a batch whose fsync returned (with `syncError` if it failed). */
  #finishBatch(batch: PreparedBatch): void {
    const { runtime, jobs, outcomes, staged, batchAtUs, written } = batch;
    const { state, log } = runtime;
    if (written !== null) {
      if (batch.syncError !== null) {
        this.#killBook(runtime, batch.syncError, jobs); // W4: no apply, no watermark, no retry
        return;
      }
      log.completeBatch(written);
      this.#openSegments.add(runtime); // now the most recently written
      const counters = this.#config.writeCounters;
      Atomics.add(counters, 2 * this.#config.workerIndex, 1n);
      Atomics.add(counters, 2 * this.#config.workerIndex + 1, BigInt(staged.length));
      // Steps 8-11 run with no yield in between (W1-W3, W7).
      for (const entry of staged) {
        const outcome =
          entry.apply.kind === 'commit'
            ? state.applyCommit(entry.seq, batchAtUs, entry.apply.effect)
            : state.apply(entry.seq, batchAtUs, entry.apply.event);
        if (entry.apply.kind === 'event' && entry.apply.event.kind === 'asset_registered') {
          const { kind: _kind, ...def } = entry.apply.event;
          this.#assets.set(def.id, def);
        }
        if (outcome.sumsSaturatedNow) this.#warnSaturated(state.book);
      }
      this.#publishBalances(runtime, staged);
      this.#storeWatermark(runtime.slot, state.lastSeq);
      // The main thread builds each appended job's Committed and event from what it kept.
      this.#post({
        type: 'appended',
        ids: staged.map((entry) => entry.job.id),
        seqs: staged.map((entry) => entry.seq),
        atUs: staged.map(() => batchAtUs),
      });
    }
    const replies: Reply[] = [];
    jobs.forEach((job, index) => {
      const outcome = outcomes[index]!;
      if ('appended' in outcome) return;
      if ('deferred' in outcome) {
        if (state.lastSeq === 0) replies.push({ id: job.id, ok: true, value: undefined }); // an empty book has nothing to snapshot
        else runtime.snapshotWaiters.push({ id: job.id, seqRequired: state.lastSeq });
      } else {
        replies.push(outcome.ok ? { id: job.id, ok: true, value: outcome.value } : errorReply(job.id, outcome.error));
      }
    });
    if (replies.length > 0) this.#post({ type: 'replies', replies });
    runtime.eventsSinceSnapshot += staged.length;
    this.#considerDeferredWork(runtime);
  }

  /**
   * Step 12 of a batch, never before its replies: idempotency work (spill, merge, rebuild) first,
   * then a snapshot. One of them at a time per book, so a snapshot's cut never races a spill.
   */
  #considerDeferredWork(runtime: BookRuntime): void {
    if (runtime.dead !== null || runtime.snapshot !== null || runtime.idem.busy) return;
    try {
      if (runtime.idem.start()) return;
    } catch (error) {
      // A rebuild scans the log: damage there ends the book's writes (section 4.5); any other
      // failure leaves the work for a later batch.
      if (error instanceof StoreError && error.code === 'CORRUPT') {
        this.#killBook(runtime, error, []);
        return;
      }
      const book = runtime.state.book;
      this.#post({ type: 'warning', warning: { code: 'SPILL_FAILED', message: `idempotency work of book ${book} failed: ${(error as Error).message}`, book } });
      return;
    }
    this.#considerSnapshot(runtime);
  }

  #idemMaintenance(book: string, log: SegmentLog, state: BookState): IdemMaintenance {
    return new IdemMaintenance(this.#fileSystem, log, state.idempotency, this.#config.idemHotCap, (warning) =>
      this.#post({ type: 'warning', warning: { ...warning, book } }),
    );
  }

  // --- snapshots (log-engine section 8) ----------------------------------------------------------

  /** Starts a snapshot when one is due (periodic) or requested, and none is in flight. */
  #considerSnapshot(runtime: BookRuntime): void {
    if (runtime.snapshot !== null || runtime.idem.busy || runtime.dead !== null || runtime.state.lastSeq === 0) return;
    const every = this.#config.snapshotEvery;
    const periodic = every > 0 && runtime.eventsSinceSnapshot >= every;
    if (!periodic && runtime.snapshotWaiters.length === 0) return;
    if (!periodic && runtime.snapshotSeqDurable === runtime.state.lastSeq) {
      // Nothing changed since the last snapshot: it already covers every waiter.
      this.#answerSnapshotWaiters(runtime, runtime.snapshotSeqDurable, null);
      return;
    }
    const { state, log } = runtime;
    runtime.eventsSinceSnapshot = 0;
    runtime.snapshot = new SnapshotWriter(
      this.#fileSystem,
      log.bookDir,
      captureCut(state, (seq) => ({ base: log.baseOf(seq), offset: log.offsetOf(seq) })),
    );
  }

  #snapshotSlice(runtime: BookRuntime): void {
    const writer = runtime.snapshot!;
    const book = runtime.state.book;
    let done: boolean;
    try {
      done = writer.step(SNAPSHOT_SLICE_BYTES);
    } catch (error) {
      writer.abandon();
      runtime.snapshot = null;
      this.#post({
        type: 'warning',
        warning: { code: 'SNAPSHOT_WRITE_FAILED', message: `snapshot of book ${book} failed: ${(error as Error).message}`, book, file: writer.finalPath },
      });
      const failure = StoreError.io(`snapshot of book ${book} could not be written`, error);
      this.#answerSnapshotWaiters(runtime, Number.POSITIVE_INFINITY, failure);
      return;
    }
    if (!done) return;
    runtime.snapshot = null;
    runtime.snapshotSeqDurable = writer.cut.seq;
    for (const file of pruneSnapshots(this.#fileSystem, runtime.log.bookDir)) {
      this.#post({ type: 'warning', warning: { code: 'DELETE_FAILED', message: `could not delete old snapshot "${file}"`, book, file } });
    }
    this.#answerSnapshotWaiters(runtime, writer.cut.seq, null);
    this.#considerDeferredWork(runtime); // spills waited for the snapshot; waiters may need a newer one
  }

  /** Answers the waiters whose required seq is covered: with `error`, or as done. */
  #answerSnapshotWaiters(runtime: BookRuntime, seqCovered: number, error: StoreError | null): void {
    const answered = runtime.snapshotWaiters.filter((waiter) => waiter.seqRequired <= seqCovered);
    if (answered.length === 0) return;
    runtime.snapshotWaiters = runtime.snapshotWaiters.filter((waiter) => waiter.seqRequired > seqCovered);
    this.#post({
      type: 'replies',
      replies: answered.map((waiter) => (error === null ? { id: waiter.id, ok: true, value: undefined } : errorReply(waiter.id, error))),
    });
  }

  /** Stops snapshot work of a book that died or is closing; its waiters get `error`. */
  #abandonSnapshot(runtime: BookRuntime, error: StoreError): void {
    runtime.idem.abandon();
    runtime.snapshot?.abandon();
    runtime.snapshot = null;
    this.#answerSnapshotWaiters(runtime, Number.POSITIVE_INFINITY, error);
  }

  /**
   * The budget's reclaim (fd-budget.ts F2): closes up to `count` idle active-segment descriptors,
   * least recently written first. Every byte in them is fsynced, so closing is safe; the book's
   * next batch reopens its segment in append mode.
   */
  #closeIdleSegments(count: number): number {
    let closed = 0;
    for (const runtime of this.#openSegments) {
      if (closed === count) break;
      this.#openSegments.delete(runtime);
      runtime.log.close();
      closed++;
    }
    return closed;
  }

  /**
   * W9: the append found no descriptor before it wrote anything. Every job of the batch is
   * refused OVERLOADED (their outcomes were computed against an overlay that never happened);
   * state, watermark and files are as before, and a retry with the same keys is safe.
   */
  #refuseBatch(runtime: BookRuntime, cause: unknown, batch: readonly WriteJob[]): void {
    runtime.log.close(); // whatever the attempt opened: it holds only fsynced bytes
    const error = StoreError.overloaded(runtime.state.book, cause);
    this.#post({ type: 'replies', replies: batch.map((job) => errorReply(job.id, error)) });
  }

  #killBook(runtime: BookRuntime, cause: unknown, batch: readonly WriteJob[]): void {
    const book = runtime.state.book;
    const error = cause instanceof StoreError && cause.code === 'BOOK_UNAVAILABLE' ? cause : StoreError.bookUnavailable(book, cause);
    runtime.dead = error;
    this.#abandonSnapshot(runtime, error);
    runtime.log.close(); // never fsynced again
    this.#openSegments.delete(runtime);
    const queued = runtime.queue.splice(0);
    const replies = [...batch, ...queued].map((job) => errorReply(job.id, error));
    this.#post({ type: 'bookDead', book, error: toWireError(error) });
    this.#post({ type: 'replies', replies });
  }

  #warnSaturated(book: string): void {
    this.#post({ type: 'warning', warning: sumsSaturatedWarning(book) });
  }

  #clockUs(): number {
    const testClock = this.#config.clockUs;
    if (testClock !== null) {
      const frozen = Atomics.load(testClock, 0);
      if (frozen !== 0n) return Number(frozen);
    }
    return wallClockUs();
  }

  /** Writes the balance slots of the accounts a batch opened or posted to (M2: before the watermark). */
  #publishBalances(runtime: BookRuntime, staged: readonly Staged[]): void {
    for (const entry of staged) {
      if (entry.apply.kind === 'commit') {
        for (const posting of entry.apply.effect.postings) this.#publishBalance(runtime, posting.key);
      } else if (entry.apply.event.kind === 'account_opened') {
        this.#addBalanceSlot(runtime, accountKey(entry.apply.event.def.id));
      }
    }
  }

  /** Writes the slot of a newly applied account (numbered in opening order by BookState, M1). */
  #addBalanceSlot(runtime: BookRuntime, key: string): void {
    this.#publishBalance(runtime, key);
  }

  #publishBalance(runtime: BookRuntime, key: string): void {
    this.#writeBalanceSlot(runtime, runtime.state.accounts.get(key)!);
  }

  #writeBalanceSlot(runtime: BookRuntime, account: AccountState): void {
    runtime.balances.write(account.ordinal, account.path, account.rawBalance, account.updatedSeq);
  }

  #balanceSlots(book: string): BalanceSlotsWriter {
    return new BalanceSlotsWriter((chunkIndex, buffer) => this.#post({ type: 'balanceChunk', book, chunkIndex, buffer }));
  }

  #storeWatermark(slot: number, seq: number): void {
    const chunk = this.#slotChunks[Math.floor(slot / WATERMARK_SLOTS_PER_CHUNK)];
    assert(chunk !== undefined);
    const index = slot % WATERMARK_SLOTS_PER_CHUNK;
    assert(BigInt(seq) >= Atomics.load(chunk, index)); // never decreases
    Atomics.store(chunk, index, BigInt(seq));
  }

  // --- reads ------------------------------------------------------------------------------------

  #read(job: ReadJob): Reply {
    const runtime = this.#books.get(job.book);
    try {
      return { id: job.id, ok: true, value: this.#readValue(job, runtime) };
    } catch (error) {
      // No descriptor for the read: a failed read (IO), never damage (W9).
      if (isDescriptorPressure(error)) return errorReply(job.id, StoreError.io(`a read of book ${job.book} found no free file descriptor; retry later`, error));
      if (!(error instanceof StoreError)) throw error;
      // Only damage below the watermark ends the book's writes (section 4.5); a read that failed
      // for another reason (IO, G6 in segment.ts) leaves the book writable.
      if (error.code === 'CORRUPT' && runtime !== undefined && runtime.dead === null) this.#killBook(runtime, error, []);
      return errorReply(job.id, error);
    }
  }

  #readValue(job: ReadJob, runtime: BookRuntime | undefined): ReplyValue {
    switch (job.op) {
      case 'balance':
        if (runtime === undefined) throw StoreError.unknownAccount(job.account);
        return runtime.state.balance(job.account, job.asOfUs);
      case 'history':
        if (runtime === undefined) throw StoreError.unknownAccount(job.account);
        return runtime.state.historyPage(job.account, job.afterSeq, job.limit); // columns: cheap to clone
      case 'trialBalance':
        if (runtime === undefined) return [];
        return job.asOfUs === null ? runtime.state.trialBalance() : this.#trialBalanceAsOf(runtime, job.asOfUs);
      case 'readEvents': {
        if (runtime === undefined) return [];
        const events: SequencedEvent[] = [];
        runtime.log.scan(job.from, job.limit, runtime.state.lastSeq, (decoded) => {
          events.push(decoded.event);
          return true;
        });
        return events;
      }
      case 'transaction': {
        if (runtime === undefined) return null;
        const seq = runtime.state.txids.get(job.txid);
        if (seq === undefined) return null;
        const { tx, committed } = loadCommitted(runtime.log, seq);
        if (tx.id !== job.txid) {
          const file = runtime.log.segmentPath(runtime.log.baseOf(seq));
          const offset = runtime.log.offsetOf(seq);
          throw StoreError.corrupt(job.book, file, offset, `the frame of seq ${seq} in "${file}" at offset ${offset} does not hold transaction ${job.txid}`);
        }
        return { transaction: tx, seq: committed.seq, at: committed.at };
      }
    }
  }

  /** A scan from seq 1 that stops at the first event with a later commit time (at never decreases). */
  #trialBalanceAsOf(runtime: BookRuntime, asOfUs: number): TrialBalanceRow[] {
    const sums = new TrialBalanceSums();
    runtime.log.scan(1, Number.MAX_SAFE_INTEGER, runtime.state.lastSeq, (decoded) => {
      if (decoded.atUs > asOfUs) return false;
      const event = decoded.event.event;
      if (event.kind === 'transaction_posted') {
        for (const posting of event.postings) sums.add(posting.amount.asset, posting.direction, posting.amount.minor);
      }
      return true;
    });
    if (sums.saturated && !runtime.state.sumsSaturated) {
      runtime.state.sumsSaturated = true;
      this.#warnSaturated(runtime.state.book);
    }
    return sums.rows();
  }

  // --- control ----------------------------------------------------------------------------------

  #control(job: Exclude<Job, WriteJob | ReadJob>): Reply {
    switch (job.op) {
      case 'assetRegistered':
        this.#assets.set(job.def.id, job.def);
        return { id: job.id, ok: true, value: undefined };
      case 'assets':
        for (const def of job.assets) this.#assets.set(def.id, def);
        return { id: job.id, ok: true, value: undefined };
      case 'slots':
        assert.equal(job.chunkIndex, this.#slotChunks.length);
        this.#slotChunks.push(new BigInt64Array(job.buffer));
        return { id: job.id, ok: true, value: undefined };
      case 'recover':
        return { id: job.id, ok: true, value: this.#recover(job.books) };
      case 'repair':
        this.#repair();
        return { id: job.id, ok: true, value: { done: true } };
      case 'close':
        this.#close();
        return { id: job.id, ok: true, value: undefined };
    }
  }

  #recover(books: Array<{ book: string; slot: number }>): RecoverResult {
    const result: RecoverResult = { books: [], assets: null };
    const listings = new Map<string, BookFiles>(); // each book's directory listed once, for both
    const prechecks = this.#startPrechecks(books.map(({ book }) => book), listings);
    try {
      for (const { book, slot } of books) this.#recoverOne(book, slot, { prechecks, files: listings.get(book) ?? null }, result);
    } finally {
      prechecks?.close();
    }
    // The router adopts the index of the first book with txids in UTF-8 name order, which is this
    // shard's first such book or another shard's: only that one is copied.
    let first: (typeof result.books)[number] | null = null;
    for (const entry of result.books) {
      if ('error' in entry || entry.txidBytes.length === 0) continue;
      if (first === null || Buffer.compare(Buffer.from(entry.book), Buffer.from(first.book)) < 0) first = entry;
    }
    if (first !== null && !('error' in first)) first.txidIndex = this.#books.get(first.book)!.state.txids.indexCopy();
    return result;
  }

  /**
   * Helper threads verify books' segments while the books load, and decode the frames after each
   * book's newest snapshot (src/log/segment-precheck.ts); null when the file system offers none or
   * there is too little to read. Each listing is kept in `listings`, so recovery does not list the
   * directory again.
   */
  #startPrechecks(books: string[], listings: Map<string, BookFiles>): SegmentPrechecks | null {
    const segments: SegmentToPrecheck[] = [];
    for (const book of books) {
      const bookDir = bookDirectory(this.#config.dataDir, book);
      let files: BookFiles;
      try {
        files = readBookFiles(this.#fileSystem, bookDir);
      } catch {
        continue; // the book's own recovery meets the error and reports it
      }
      listings.set(book, files);
      // Segments the newest snapshot covers are verified; frames after it are decoded too (P5).
      const newest = Math.max(0, ...files.snapshots.map(({ seq }) => seq));
      files.segments.forEach(({ base, name }, index) => {
        const next = files.segments[index + 1]?.base ?? Number.POSITIVE_INFINITY;
        const decode = next > newest + 1 ? { book, fromSeq: newest + 1 } : null;
        segments.push({ file: path.join(bookDir, name), base, decode });
      });
    }
    if (segments.length === 0) return null;
    try {
      return this.#fileSystem.precheckSegments(segments, this.#config.precheckFromBytes ?? PRECHECK_FROM_BYTES, this.#config.scanChunkBytes ?? PRECHECK_CHUNK_BYTES);
    } catch {
      return null; // an accelerator only (P3): recovery reads every segment itself and meets any error there
    }
  }

  #recoverOne(book: string, slot: number, found: Pick<RecoverOptions, 'prechecks' | 'files'>, result: RecoverResult): void {
    this.#assertOwned(book);
    try {
      const recovered = recoverBook(this.#fileSystem, this.#config.dataDir, book, { idemHotCap: this.#config.idemHotCap, writeRuns: true, ...found });
      const repair = { ...recovered.repair, temporaryFiles: recovered.temporaryFiles };
      recovered.state.attachWriter(this.#config.workerIndex);
      this.#configured(recovered.log);
      this.#books.set(book, {
        state: recovered.state,
        log: recovered.log,
        idem: this.#idemMaintenance(book, recovered.log, recovered.state),
        balances: this.#balanceSlots(book),
        slot,
        queue: [],
        dead: null,
        repair,
        eventsSinceSnapshot: 0,
        snapshot: null,
        snapshotWaiters: [],
        snapshotSeqDurable: 0,
      });
      for (const warning of recovered.warnings) this.#post({ type: 'warning', warning: { ...warning, book } });
      if (book === SYSTEM_BOOK) result.assets = [...recovered.state.assets.values()];
      const runtime = this.#books.get(book)!;
      for (const account of recovered.state.accounts.values()) this.#writeBalanceSlot(runtime, account);
      const accounts = packSharedAccounts(recovered.state.accounts.values(), (account) => ({
        path: account.path,
        asset: account.asset,
        credit: account.normalSide === 'credit',
      }));
      result.books.push({ book, lastSeq: recovered.state.lastSeq, txidBytes: recovered.state.txids.keyBytes(), txidIndex: null, accounts });
    } catch (error) {
      if (isDescriptorPressure(error)) {
        // Out of descriptors at open: a failed read, so the open fails IO and nothing is repaired.
        result.books.push({ book, error: toWireError(StoreError.io(`cannot recover book ${book}: no free file descriptor`, error)) });
        return;
      }
      if (!(error instanceof StoreError)) throw error;
      result.books.push({ book, error: toWireError(error) });
    }
  }

  #repair(): void {
    for (const runtime of this.#books.values()) {
      const plan = runtime.repair;
      runtime.repair = null;
      if (plan !== null) {
        repairBook(this.#fileSystem, runtime.log.bookDir, plan);
        const book = runtime.state.book;
        if (plan.tornTail !== null) {
          const { file, offsetBytes, discardedBytes } = plan.tornTail;
          this.#post({
            type: 'warning',
            warning: { code: 'TORN_TAIL_TRUNCATED', message: `truncated a torn tail of ${discardedBytes} bytes in "${file}" at offset ${offsetBytes}`, book, file },
          });
        }
        for (const file of plan.temporaryFiles) {
          this.#post({ type: 'warning', warning: { code: 'TMP_REMOVED', message: `removed leftover temporary file "${file}"`, book, file } });
        }
        if (plan.renames.length > 0) this.#post({ type: 'warning', warning: { ...renamedFilesWarning(plan.renames), book } });
      }
      this.#storeWatermark(runtime.slot, runtime.state.lastSeq);
    }
  }

  #close(): void {
    this.#closed = true;
    const closed = StoreError.closed();
    for (const runtime of this.#books.values()) {
      const queued = runtime.queue.splice(0);
      if (queued.length > 0) this.#post({ type: 'replies', replies: queued.map((job) => errorReply(job.id, closed)) });
      this.#abandonSnapshot(runtime, closed);
      if (runtime.dead === null) runtime.log.trimAndClose(); // a dead book's file is never written again
      else runtime.log.close();
    }
    this.#fileSystem.close(); // the sync helper threads, if any were started
  }
}

function drain(queue: WriteJob[]): WriteJob[] {
  let count = 0;
  let bytes = 0;
  while (count < queue.length && count < BATCH_DRAFTS_MAX) {
    const job = queue[count]!;
    const estimate = (job.op === 'snapshot' ? 0 : job.op === 'commit' ? job.event.length : job.eventJson.length) + 128;
    if (count > 0 && bytes + estimate > BATCH_BYTES_MAX) break; // stays at the head for the next batch
    bytes += estimate;
    count++;
  }
  return queue.splice(0, count);
}

/** The full transaction of a commit job, decoded from its event JSON: only to compare a retry. */
function transactionOf(eventJson: Buffer): Transaction {
  const event = decodeEvent(eventJson.toString('utf8'));
  assert.equal(event.kind, 'transaction_posted');
  const { kind: _kind, ...tx } = event as Extract<LedgerEvent, { kind: 'transaction_posted' }>;
  return tx;
}

function loadCommitted(log: SegmentLog, seq: number): { tx: Transaction; committed: Committed } {
  const decoded = log.readEvent(seq);
  const event = decoded.event.event;
  if (event.kind !== 'transaction_posted') {
    const file = log.segmentPath(log.baseOf(seq));
    const offset = log.offsetOf(seq);
    throw StoreError.corrupt(log.book, file, offset, `seq ${seq} in "${file}" at offset ${offset} is a ${event.kind}, not a transaction`);
  }
  const { kind: _kind, ...tx } = event;
  return { tx, committed: { txid: tx.id, seq, at: decoded.event.at } };
}

function errorReply(id: number, error: StoreError): Reply {
  return { id, ok: false, error: toWireError(error) };
}

/**
 * Concurrent fsyncs for one shard writer (issue 14): when a pass has written batches of several
 * books, their fsyncs run at once, one on the writer's own thread and the others on helper threads,
 * and the writer waits for all of them. A disk takes concurrent flushes together (on the benchmark
 * machine four streams of append + fdatasync reach 2.7× the fsyncs per second of one), so a worker
 * that owns many books pays about one fsync per pass instead of one per book.
 *
 * S1. syncAll returns only when every fsync it was given has returned, with each one's outcome; the
 *     writer stays synchronous, so the batch invariants of src/log/shard.ts (W1 to W7) are as before.
 * S2. A failed fsync is reported as the error the system gave (its errno code) and never retried.
 * S3. Every fsync is done exactly once, by the helper that took it or by the writer. A helper is
 *     asked only once it has said it is ready; a request no helper takes within HANDOFF_MS is taken
 *     back and done by the writer (a helper that failed to start or died never blocks a book), and
 *     that helper is not asked again.
 * S4. Helper threads are started on first need, unreferenced (an idle store does not keep the
 *     process alive), and ended by close().
 * S5. A helper may also run one fsync in the background (start): the periodic flushes of a
 *     snapshot or run file being written, so the writer goes on with its batches instead of
 *     waiting for megabytes to reach the disk. Such a helper is reserved until the writer collects
 *     the outcome (finish, which takes the request back and does it itself if the helper never
 *     took it, as in S3), and syncAll does not ask it meanwhile.
 *
 * Each helper owns five Int32 cells of one SharedArrayBuffer: state (IDLE, ASKED, TAKEN, DONE),
 * descriptor, data-only flag, the errno of a failure (0 for success), and ready (1 once running).
 */
import fs from 'node:fs';
import os from 'node:os';
import { Worker } from 'node:worker_threads';
import assert from 'node:assert/strict';
import { RealFileSystem, type PendingSync, type SyncRequest } from './file-system.js';
import { startPrechecks, type SegmentPrechecks, type SegmentToPrecheck } from './segment-precheck.js';

/** Helper threads one writer may start. */
export const SYNC_HELPERS_MAX = 3;
/** How long the writer waits for a helper to take a request before doing it itself (S3). */
const HANDOFF_MS = 50;

const CELLS = 5;
const STATE = 0;
const FD = 1;
const DATA_ONLY = 2;
const ERRNO = 3;
const READY = 4;
const IDLE = 0;
const ASKED = 1;
const TAKEN = 2;
const DONE = 3;

const HELPER_URL = new URL('../../workers/sync-helper.js', import.meta.url);

/** errno number → code (`EIO`, …), for the errors helpers report. */
const ERRNO_CODES = new Map<number, string>(Object.entries(os.constants.errno).map(([code, number]) => [number, code]));

export class SyncPool {
  readonly #cells: Int32Array;
  readonly #helpers: Array<Worker | null> = [];
  /** Helpers that once failed to take a request in time: never asked again (S3). */
  readonly #broken = new Set<number>();
  /** Helpers running a background fsync whose outcome the writer has not collected (S5). */
  readonly #reserved = new Set<number>();

  constructor(readonly helpersMax: number = SYNC_HELPERS_MAX) {
    this.#cells = new Int32Array(new SharedArrayBuffer(Math.max(1, helpersMax) * CELLS * 4));
  }

  /** Helpers running and not known broken: the ones syncAll asks. */
  get readyHelpers(): number {
    let ready = 0;
    for (let helper = 0; helper < this.#helpers.length; helper++) if (this.#isFree(helper)) ready++;
    return ready;
  }

  #isFree(helper: number): boolean {
    return !this.#broken.has(helper) && !this.#reserved.has(helper) && Atomics.load(this.#cells, helper * CELLS + READY) === 1;
  }

  /**
   * Starts `request` on a free helper and returns at once (S5); null when none is free yet (the
   * first call starts one for the next time).
   */
  start(request: SyncRequest): PendingSync | null {
    this.#start(Math.min(1, this.helpersMax));
    for (let helper = 0; helper < this.#helpers.length; helper++) {
      if (!this.#isFree(helper)) continue;
      this.#reserved.add(helper);
      this.#ask(helper, request);
      let finished = false;
      return {
        finish: () => {
          assert(!finished, 'a background fsync is collected once');
          finished = true;
          const outcome = this.#await(helper, request);
          this.#reserved.delete(helper);
          return outcome;
        },
      };
    }
    return null;
  }

  /** Fsyncs every request at once (S1); the outcome of each, in order: null, or the error (S2). */
  syncAll(requests: readonly SyncRequest[]): Array<Error | null> {
    this.#start(Math.min(this.helpersMax, requests.length - 1));
    const ready: number[] = [];
    for (let helper = 0; helper < this.#helpers.length; helper++) if (this.#isFree(helper)) ready.push(helper);
    const outcomes: Array<Error | null> = new Array(requests.length).fill(null);
    let next = 0;
    while (next < requests.length) {
      // One round: the ready helpers take one request each, the writer the first of the round.
      const asked: Array<{ helper: number; index: number }> = [];
      const mine = next++;
      for (const helper of ready) {
        if (next >= requests.length) break;
        this.#ask(helper, requests[next]!);
        asked.push({ helper, index: next++ });
      }
      outcomes[mine] = syncHere(requests[mine]!);
      for (const { helper, index } of asked) outcomes[index] = this.#await(helper, requests[index]!);
    }
    return outcomes;
  }

  #start(count: number): void {
    while (this.#helpers.length < count) {
      const index = this.#helpers.length;
      try {
        const worker = new Worker(HELPER_URL, { workerData: { cells: this.#cells, index } });
        worker.unref();
        worker.on('error', () => this.#broken.add(index));
        worker.on('exit', () => this.#broken.add(index));
        this.#helpers.push(worker);
      } catch {
        this.#helpers.push(null); // could not start: never ready, never asked
      }
    }
  }

  #ask(helper: number, request: SyncRequest): void {
    const base = helper * CELLS;
    Atomics.store(this.#cells, base + FD, request.fd);
    Atomics.store(this.#cells, base + DATA_ONLY, request.dataOnly ? 1 : 0);
    Atomics.store(this.#cells, base + ERRNO, 0);
    Atomics.store(this.#cells, base + STATE, ASKED);
    Atomics.notify(this.#cells, base + STATE);
  }

  #await(helper: number, request: SyncRequest): Error | null {
    const base = helper * CELLS;
    if (Atomics.load(this.#cells, base + STATE) === ASKED) Atomics.wait(this.#cells, base + STATE, ASKED, HANDOFF_MS);
    // Not taken in time: take it back, unless the helper takes it this very moment (S3).
    if (Atomics.compareExchange(this.#cells, base + STATE, ASKED, IDLE) === ASKED) {
      this.#broken.add(helper);
      return syncHere(request);
    }
    for (let state = Atomics.load(this.#cells, base + STATE); state !== DONE; state = Atomics.load(this.#cells, base + STATE)) {
      Atomics.wait(this.#cells, base + STATE, state);
    }
    const errno = Atomics.load(this.#cells, base + ERRNO);
    Atomics.store(this.#cells, base + STATE, IDLE);
    if (errno === 0) return null;
    const code = ERRNO_CODES.get(Math.abs(errno)) ?? 'EIO';
    return Object.assign(new Error(`${code}: fsync of descriptor ${request.fd} failed`), { code, errno, syscall: 'fsync' });
  }

  /** Ends the helper threads (S4). */
  close(): void {
    for (const helper of this.#helpers.splice(0)) void helper?.terminate();
  }
}

/**
 * The real file system with concurrent fsyncs and segment prechecks at open: what a shard writer
 * uses (a RealFileSystem fsyncs one descriptor at a time and walks every segment itself).
 */
export class ConcurrentSyncFileSystem extends RealFileSystem {
  #pool: SyncPool | null = null;

  precheckSegments(segments: readonly SegmentToPrecheck[], fromBytes: number, chunkBytes: number): SegmentPrechecks | null {
    return startPrechecks(segments, SYNC_HELPERS_MAX, fromBytes, chunkBytes); // the room of F5 in src/log/fd-budget.ts
  }

  fsyncAllSync(requests: readonly SyncRequest[]): Array<Error | null> {
    this.#pool ??= new SyncPool();
    return this.#pool.syncAll(requests);
  }

  fsyncStart(request: SyncRequest): PendingSync | null {
    this.#pool ??= new SyncPool();
    return this.#pool.start(request);
  }

  close(): void {
    this.#pool?.close();
    this.#pool = null;
  }
}

function syncHere(request: SyncRequest): Error | null {
  try {
    if (request.dataOnly) fs.fdatasyncSync(request.fd);
    else fs.fsyncSync(request.fd);
    return null;
  } catch (error) {
    return error as Error;
  }
}

/** The helper thread's loop (workers/sync-helper.ts): say ready, then wait to be asked, take, fsync, report. */
export function runSyncHelper(cells: Int32Array, index: number): never {
  const base = index * CELLS;
  Atomics.store(cells, base + READY, 1);
  for (;;) {
    const state = Atomics.load(cells, base + STATE);
    if (state !== ASKED) {
      Atomics.wait(cells, base + STATE, state); // idle, or done and not yet read by the writer
      continue;
    }
    if (Atomics.compareExchange(cells, base + STATE, ASKED, TAKEN) !== ASKED) continue; // taken back by the writer
    Atomics.notify(cells, base + STATE);
    const fd = Atomics.load(cells, base + FD);
    try {
      if (Atomics.load(cells, base + DATA_ONLY) === 1) fs.fdatasyncSync(fd);
      else fs.fsyncSync(fd);
      Atomics.store(cells, base + ERRNO, 0);
    } catch (error) {
      const errno = (error as NodeJS.ErrnoException).errno;
      Atomics.store(cells, base + ERRNO, typeof errno === 'number' && errno !== 0 ? errno : -5); // EIO when the error names none
    }
    Atomics.store(cells, base + STATE, DONE);
    Atomics.notify(cells, base + STATE);
  }
}

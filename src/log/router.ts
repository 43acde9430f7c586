/**
 * The router: starts the shard workers, batches requests per worker per event-loop turn, matches
 * replies to callers, and reports worker events (live events, dead books, warnings, crashes) to
 * the store. It knows nothing about the ledger.
 *
 * R1. One message per worker per event-loop turn carries every job submitted in that turn, so a
 *     book's concurrent writes reach its writer together and can share one fsync.
 * R2. Every request settles: with its reply, or, when its worker dies or the store closes, with
 *     BOOK_UNAVAILABLE or CLOSED. No caller waits forever.
 */
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { StoreError } from '../core/errors.js';
import type { FileSystem } from './file-system.js';
import { ConcurrentSyncFileSystem } from './sync-pool.js';
import { Shard } from './shard.js';
import { CommitPacker } from './commit-wire.js';
import type { Transaction } from '../core/types.js';
import {
  fromWireError,
  type ClonedJob,
  type JobRequest,
  type JobsMessage,
  type ReplyValue,
  type ShardConfig,
  type StoreWarningMessage,
  type WireError,
  type WorkerMessage,
} from './worker-protocol.js';
import { formatAtUs } from '../core/time.js';

const WORKER_URL = new URL('../../workers/shard-worker.js', import.meta.url);
/** How long close() waits for a worker to finish its batch and exit before terminating it. */
const WORKER_EXIT_GRACE_MS = 5000;
/** Jobs after which a worker's outbox is sent without waiting for the end of the turn. */
const OUTBOX_FLUSH_JOBS = 64;

export interface RouterEvents {
  onBookDead(book: string, error: StoreError): void;
  onWarning(warning: StoreWarningMessage): void;
  onBalanceChunk(book: string, chunkIndex: number, buffer: SharedArrayBuffer): void;
  /** A worker exited unexpectedly (a bug): every book it owns is gone. */
  onWorkerDeath(workerIndex: number, cause: unknown): void;
}

/**
 * A request the router holds until its reply: how it settles, and for a write, what its
 * acknowledgement is worth. `request` makes one per call; a commit brings its own (a ticket of
 * LogStore's, one object per commit, which settles a promise or a slot of a commitBatch).
 */
export interface PendingRequest {
  readonly book: string | null;
  /** For a write that was appended: its value, built from its seq and commit time. */
  appended(seq: number, at: string): ReplyValue;
  /** Runs once, just before the request settles either way. */
  settled(): void;
  resolve(value: ReplyValue): void;
  reject(error: StoreError): void;
}

/** What the caller of `request` can add for a write. */
export type AppendedHandler = (seq: number, at: string) => ReplyValue;

interface Endpoint {
  post(message: JobsMessage, transfer: ArrayBuffer[]): void;
  /** Keeps the process alive while requests are outstanding, and only then. */
  hold(active: boolean): void;
  outbox: ClonedJob[];
  /** This turn's commits, packed as they come (src/log/commit-wire.ts). */
  commits: CommitPacker;
  pending: Map<number, PendingRequest>;
  alive: boolean;
  exited: Promise<void>;
  terminate(): Promise<void>;
}

export interface RouterConfig {
  workerCount: number;
  shard: Omit<ShardConfig, 'workerIndex' | 'workerCount'>;
  inProcess: boolean;
  inProcessFileSystem: FileSystem | undefined;
}

export class Router {
  readonly workerCount: number;
  readonly #endpoints: Endpoint[] = [];
  readonly #events: RouterEvents;
  #nextId = 1;
  #flushScheduled = false;
  #closing = false;

  constructor(config: RouterConfig, events: RouterEvents) {
    this.workerCount = config.workerCount;
    this.#events = events;
    for (let workerIndex = 0; workerIndex < config.workerCount; workerIndex++) {
      const shardConfig: ShardConfig = { ...config.shard, workerIndex, workerCount: config.workerCount };
      this.#endpoints.push(
        config.inProcess ? this.#startInProcess(workerIndex, shardConfig, config.inProcessFileSystem) : this.#startWorker(workerIndex, shardConfig),
      );
    }
  }

  #startWorker(workerIndex: number, shardConfig: ShardConfig): Endpoint {
    const worker = new Worker(fileURLToPath(WORKER_URL), { workerData: shardConfig });
    let exitResolve!: () => void;
    const exited = new Promise<void>((resolve) => (exitResolve = resolve));
    const endpoint: Endpoint = {
      post: (message, transfer) => worker.postMessage(message, transfer),
      hold: (active) => (active ? worker.ref() : worker.unref()),
      outbox: [],
      commits: new CommitPacker(),
      pending: new Map(),
      alive: true,
      exited,
      terminate: async () => {
        await worker.terminate();
      },
    };
    worker.on('message', (message: WorkerMessage) => this.#onMessage(workerIndex, message));
    let failure: unknown;
    worker.on('error', (error) => {
      failure = error;
    });
    worker.on('exit', (code) => {
      endpoint.alive = false;
      exitResolve();
      const cause = failure ?? new Error(`shard worker ${workerIndex} exited with code ${code}`);
      this.#failPending(endpoint, cause);
      if (!this.#closing) this.#events.onWorkerDeath(workerIndex, cause);
    });
    worker.unref(); // an idle store does not keep the process alive; pending work holds promises
    return endpoint;
  }

  #startInProcess(workerIndex: number, shardConfig: ShardConfig, fileSystem: FileSystem | undefined): Endpoint {
    const channel = new MessageChannel();
    const shard = new Shard(shardConfig, fileSystem ?? new ConcurrentSyncFileSystem(), (message) => channel.port2.postMessage(message));
    channel.port2.on('message', (message: JobsMessage) => shard.handle(message));
    channel.port1.on('message', (message: WorkerMessage) => this.#onMessage(workerIndex, message));
    channel.port1.unref();
    channel.port2.unref();
    const endpoint: Endpoint = {
      post: (message, transfer) => channel.port1.postMessage(message, transfer),
      hold: (active) => (active ? channel.port1.ref() : channel.port1.unref()),
      outbox: [],
      commits: new CommitPacker(),
      pending: new Map(),
      alive: true,
      exited: Promise.resolve(),
      terminate: async () => {
        channel.port1.close();
        channel.port2.close();
      },
    };
    return endpoint;
  }

  /** Queues a job for this turn's message to its worker; settles with the worker's reply (R2). */
  request(
    workerIndex: number,
    job: JobRequest,
    book: string | null = null,
    onAppended?: AppendedHandler,
    onSettled?: () => void,
  ): Promise<ReplyValue> {
    return new Promise<ReplyValue>((resolve, reject) => {
      const pending: PendingRequest = {
        book,
        appended: (seq, at) => (onAppended === undefined ? undefined : onAppended(seq, at)),
        settled: () => onSettled?.(),
        resolve,
        reject,
      };
      this.#enqueue(workerIndex, pending, (endpoint, id) => {
        (job as ClonedJob).id = id; // the caller's object travels as it is: no copy per job
        endpoint.outbox.push(job as ClonedJob);
      });
    });
  }

  /**
   * Queues a commit, packed into this turn's message to its worker (src/log/commit-wire.ts).
   * `pending` settles it (R2); a dead worker settles it at once.
   */
  requestCommit(workerIndex: number, slot: number, tx: Transaction, eventJson: string, txidForeign: boolean, pending: PendingRequest): void {
    this.#enqueue(workerIndex, pending, (endpoint, id) => endpoint.commits.add(id, endpoint.outbox.length, slot, tx, eventJson, txidForeign));
  }

  #enqueue(workerIndex: number, pending: PendingRequest, place: (endpoint: Endpoint, id: number) => void): void {
    const endpoint = this.#endpoints[workerIndex]!;
    if (!endpoint.alive) {
      pending.settled();
      pending.reject(this.#closing ? StoreError.closed() : StoreError.bookUnavailable(pending.book ?? 'unknown', new Error('its shard worker has died')));
      return;
    }
    const id = this.#nextId++;
    if (endpoint.pending.size === 0) endpoint.hold(true);
    endpoint.pending.set(id, pending);
    place(endpoint, id);
    // A full chunk leaves at once, so the worker starts on it while this thread builds the rest
    // of the turn's jobs: the two threads overlap instead of taking turns.
    if (endpoint.outbox.length + endpoint.commits.count >= OUTBOX_FLUSH_JOBS) this.#flushEndpoint(endpoint);
    else this.#scheduleFlush();
  }

  /** Sends a job to every live worker and waits for all replies. */
  async broadcast(job: JobRequest): Promise<ReplyValue[]> {
    const replies: Promise<ReplyValue>[] = [];
    for (let workerIndex = 0; workerIndex < this.workerCount; workerIndex++) {
      if (this.#endpoints[workerIndex]!.alive) replies.push(this.request(workerIndex, { ...job })); // one object per worker: request numbers it
    }
    return Promise.all(replies);
  }

  isAlive(workerIndex: number): boolean {
    return this.#endpoints[workerIndex]!.alive;
  }

  #scheduleFlush(): void {
    if (this.#flushScheduled) return;
    this.#flushScheduled = true;
    setImmediate(() => this.#flush());
  }

  #flush(): void {
    this.#flushScheduled = false;
    for (const endpoint of this.#endpoints) this.#flushEndpoint(endpoint);
  }

  #flushEndpoint(endpoint: Endpoint): void {
    if (endpoint.outbox.length === 0 && endpoint.commits.count === 0) return;
    const jobs = endpoint.outbox;
    endpoint.outbox = [];
    const commits = endpoint.commits.take();
    if (endpoint.alive) endpoint.post({ type: 'jobs', jobs, commits }, commits === null ? [] : [commits.buffer]);
  }

  #onMessage(workerIndex: number, message: WorkerMessage): void {
    const endpoint = this.#endpoints[workerIndex]!;
    switch (message.type) {
      case 'replies':
        for (const reply of message.replies) {
          const pending = endpoint.pending.get(reply.id);
          if (pending === undefined) continue;
          endpoint.pending.delete(reply.id);
          if (endpoint.pending.size === 0) endpoint.hold(false);
          pending.settled();
          if (reply.ok) pending.resolve(reply.value);
          else pending.reject(fromWireError(reply.error));
        }
        break;
      case 'appended': {
        // One commit time per batch: format each distinct value once.
        let atUsFormatted = Number.NaN;
        let at = '';
        for (let index = 0; index < message.ids.length; index++) {
          const pending = endpoint.pending.get(message.ids[index]!);
          if (pending === undefined) continue;
          endpoint.pending.delete(message.ids[index]!);
          const atUs = message.atUs[index]!;
          if (atUs !== atUsFormatted) {
            atUsFormatted = atUs;
            at = formatAtUs(atUs);
          }
          pending.settled();
          pending.resolve(pending.appended(message.seqs[index]!, at));
        }
        if (endpoint.pending.size === 0) endpoint.hold(false);
        break;
      }
      case 'bookDead':
        this.#events.onBookDead(message.book, fromWireError(message.error as WireError));
        break;
      case 'balanceChunk':
        this.#events.onBalanceChunk(message.book, message.chunkIndex, message.buffer);
        break;
      case 'warning':
        this.#events.onWarning(message.warning);
        break;
      case 'closed':
        break;
    }
  }

  #failPending(endpoint: Endpoint, cause: unknown): void {
    const pending = [...endpoint.pending.values()];
    endpoint.pending.clear();
    for (const entry of pending) {
      entry.settled();
      entry.reject(this.#closing ? StoreError.closed() : StoreError.bookUnavailable(entry.book ?? 'unknown', cause));
    }
  }

  /**
   * Asks every worker to finish its running batch, answer its queued jobs CLOSED and exit; then
   * ends them. Resolves even when workers have died (R2).
   */
  async close(): Promise<void> {
    this.#closing = true;
    const closing = this.broadcast({ op: 'close' }).catch(() => undefined);
    const grace = new Promise<void>((resolve) => setTimeout(resolve, WORKER_EXIT_GRACE_MS).unref());
    await Promise.race([closing, grace]);
    await Promise.all(
      this.#endpoints.map(async (endpoint) => {
        endpoint.alive = false;
        await endpoint.terminate().catch(() => undefined);
        this.#failPending(endpoint, StoreError.closed());
      }),
    );
  }
}

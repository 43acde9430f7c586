/**
 * The typed messages between the router (main thread) and the shard workers. Both directions are
 * batched: one message per port per event-loop turn carries every request or reply of that turn.
 *
 * Errors cross the port as WireError and are re-created as StoreError on the caller's thread, so
 * `instanceof StoreError` holds for errors that began in a worker.
 */
import { StoreError, type StoreErrorCode } from '../core/errors.js';
import type { HistoryColumns } from './posting-index.js';
import type { CommitJob, PackedCommits } from './commit-wire.js';
import type {
  AccountCfg,
  AccountDef,
  AccountId,
  AssetDef,
  Committed,
  PostingRecord,
  SequencedEvent,
  StoredTransaction,
  TrialBalanceRow,
} from '../core/types.js';

export interface WireError {
  code: StoreErrorCode;
  message: string;
  details: Record<string, unknown>;
  cause?: { message: string; code?: string };
}

export function toWireError(error: unknown): WireError {
  if (error instanceof StoreError) {
    const { name: _name, message, code, stack: _stack, cause, ...details } = error as StoreError & Record<string, unknown>;
    return { code, message, details, cause: describeCause(cause) };
  }
  return { code: 'IO', message: `IO: ${(error as Error)?.message ?? String(error)}`, details: {}, cause: describeCause(error) };
}

function describeCause(cause: unknown): WireError['cause'] {
  if (cause === undefined || cause === null) return undefined;
  const { message, code } = cause as { message?: unknown; code?: unknown };
  return { message: String(message ?? cause), ...(typeof code === 'string' ? { code } : {}) };
}

export function fromWireError(wire: WireError): StoreError {
  const cause = wire.cause === undefined ? undefined : Object.assign(new Error(wire.cause.message), wire.cause.code === undefined ? {} : { code: wire.cause.code });
  const error = new StoreError(wire.code, '', wire.details, { cause });
  error.message = wire.message; // the original text, code prefix included
  return error;
}

// --- requests ---------------------------------------------------------------------------------

export type WriteJob =
  | CommitJob
  | { op: 'openAccount'; id: number; book: string; slot: number; def: AccountDef; cfg: AccountCfg; eventJson: string }
  | { op: 'registerAsset'; id: number; book: string; slot: number; def: AssetDef; eventJson: string }
  | { op: 'snapshot'; id: number; book: string; slot: number };

export type ReadJob =
  | { op: 'balance'; id: number; book: string; account: AccountId; asOfUs: number | null }
  | { op: 'history'; id: number; book: string; account: AccountId; afterSeq: number; limit: number }
  | { op: 'trialBalance'; id: number; book: string; asOfUs: number | null }
  | { op: 'readEvents'; id: number; book: string; from: number; limit: number }
  | { op: 'transaction'; id: number; book: string; txid: string };

export type ControlJob =
  | { op: 'assetRegistered'; id: number; def: AssetDef }
  | { op: 'slots'; id: number; chunkIndex: number; buffer: SharedArrayBuffer }
  | { op: 'recover'; id: number; books: Array<{ book: string; slot: number }> }
  | { op: 'repair'; id: number }
  | { op: 'assets'; id: number; assets: AssetDef[] }
  | { op: 'close'; id: number };

export type Job = WriteJob | ReadJob | ControlJob;

/** A job before the router numbers it. */
export type JobRequest = ClonedJob extends infer J ? (J extends ClonedJob ? Omit<J, 'id'> : never) : never;

/** A commit travels packed (src/log/commit-wire.ts); every other job as a cloned object. */
export type ClonedJob = Exclude<Job, CommitJob>;

export interface JobsMessage {
  type: 'jobs';
  jobs: ClonedJob[];
  /** The message's commits, each placed among `jobs` by its position; the buffer is transferred. */
  commits: PackedCommits | null;
}

// --- replies ----------------------------------------------------------------------------------

export type ReplyValue =
  | Committed
  | PostingRecord[]
  | TrialBalanceRow[]
  | SequencedEvent[]
  | StoredTransaction
  | { minor: bigint; asset: string; updatedSeq: number }
  | { page: HistoryColumns; asset: string }
  | RecoverResult
  | RepairResult
  | null
  | undefined;

export type Reply = { id: number; ok: true; value: ReplyValue } | { id: number; ok: false; error: WireError };

export interface RecoverResult {
  /**
   * Per book, in request order: its last seq, txids (16 bytes each, in the book's order), for the
   * shard's first book with txids in UTF-8 name order their index too (TxidTable X3: the router
   * adopts it for its first book instead of hashing every txid again), or the error that refuses
   * the open.
   */
  books: Array<{ book: string; lastSeq: number; txidBytes: Uint8Array; txidIndex: Int32Array | null; accounts: SharedAccounts } | { book: string; error: WireError }>;
  /** `_system`'s registry, when this worker owns `_system`. */
  assets: AssetDef[] | null;
}

/**
 * A book's accounts as the main thread needs them to read their balance slots, in opening order,
 * as three columns rather than an object per account (a book may hold millions): the paths joined
 * by U+0000 (which no path holds, contract amendment A1), the distinct asset ids, and per account
 * its asset's index × 2 + 1 if it is credit-normal.
 */
export interface SharedAccounts {
  paths: string;
  assets: string[];
  codes: Uint32Array;
}

/** Packs accounts, described one by one by `describe`, into SharedAccounts. */
export function packSharedAccounts<T>(accounts: Iterable<T>, describe: (account: T) => { path: string; asset: string; credit: boolean }): SharedAccounts {
  const paths: string[] = [];
  const codes: number[] = [];
  const assets: string[] = [];
  const assetIndexes = new Map<string, number>();
  for (const account of accounts) {
    const { path, asset, credit } = describe(account);
    let assetIndex = assetIndexes.get(asset);
    if (assetIndex === undefined) {
      assetIndex = assets.push(asset) - 1;
      assetIndexes.set(asset, assetIndex);
    }
    paths.push(path);
    codes.push(assetIndex * 2 + (credit ? 1 : 0));
  }
  return { paths: paths.join('\0'), assets, codes: Uint32Array.from(codes) };
}

/** Calls `visit` for each account of `shared`, in opening order. */
export function forEachSharedAccount(shared: SharedAccounts, visit: (path: string, asset: string, credit: boolean) => void): void {
  let start = 0;
  for (let index = 0; index < shared.codes.length; index++) {
    const end = index === shared.codes.length - 1 ? shared.paths.length : shared.paths.indexOf('\0', start);
    const code = shared.codes[index]!;
    visit(shared.paths.slice(start, end), shared.assets[code >>> 1]!, (code & 1) === 1);
    start = end + 1;
  }
}

export interface RepairResult {
  done: true;
}

export interface StoreWarningMessage {
  code: string;
  message: string;
  book?: string;
  file?: string;
}

export type WorkerMessage =
  | { type: 'replies'; replies: Reply[] }
  /** The writes of one batch that were appended, in job order: their seqs and commit times. */
  | { type: 'appended'; ids: number[]; seqs: number[]; atUs: number[] }
  | { type: 'bookDead'; book: string; error: WireError }
  /** A new chunk of a book's balance slots (src/shared-balances.ts), sent before it is used. */
  | { type: 'balanceChunk'; book: string; chunkIndex: number; buffer: SharedArrayBuffer }
  | { type: 'warning'; warning: StoreWarningMessage }
  | { type: 'closed' };

/** Shard worker start-up data (workerData). */
export interface ShardConfig {
  workerIndex: number;
  /** The pool's size: with workerIndex, which books this shard owns (workerIndexOf). */
  workerCount: number;
  dataDir: string;
  segmentMax: number;
  snapshotEvery: number;
  idemHotCap: number;
  /** How long a writer polls for its next message after a pass (see workers/shard-worker.ts). */
  writerSpinUs: number;
  /** Descriptors this worker may hold open at once (src/log/fd-budget.ts). */
  fdsPerWorker: number;
  clockUs: BigInt64Array | null;
  /**
   * Shared with every worker and the caller's thread: at 2 × workerIndex the write batches this
   * worker has fsynced, at 2 × workerIndex + 1 the frames they held (LogStore#writeStats).
   */
  writeCounters: BigInt64Array;
  /** Tests only: bytes a segment scan reads at a time; absent, SCAN_CHUNK_BYTES. */
  scanChunkBytes?: number;
  /** Tests only: the bytes from which segments are prechecked at open; absent, PRECHECK_FROM_BYTES. */
  precheckFromBytes?: number;
  /** Tests only: segment preallocation thresholds; absent, PREALLOCATE_FROM_BYTES and PREALLOCATE_CHUNK_BYTES. */
  preallocate?: { fromBytes: number; chunkBytes: number };
  fileSystemModule: string | null;
  fileSystemConfig: unknown;
}

/**
 * The stateless units of work behind `talea-log verify` and `stats`, run by the piscina pool
 * (workers/verify-task.ts) or directly on the calling thread: check one segment file, or replay one
 * book with recovery's own check phase and summarise it.
 *
 * T1. Read-only. Every file access goes through `readOnlyFileSystem`, which refuses any operation
 *     that could change the disk (open for writing, write, fsync, truncate, rename, unlink, mkdir)
 *     with an error instead of performing it, so a future change to recovery that writes during
 *     its check phase makes verify fail loudly rather than modify a directory under inspection.
 * T2. Results are plain, structured-cloneable data (bigints included), so they cross the thread
 *     boundary unchanged; a StoreError travels as its code, message, file and offset.
 * T3. Replaying a book is `recoverBook`, exactly what `LogStore.open` runs before it repairs
 *     anything: a book that replays here is a book open accepts.
 * T4. For verify, the replay also accounts for every snapshot and run file of this package: the
 *     snapshot recovery loaded and the runs it attached passed its checks; every other one is
 *     checked here with the same functions (src/cache-file-check.ts). Files open uses are not read
 *     a second time. Another store's files at shared names are named by recovery's FOREIGN_FILES
 *     warning, as open leaves them alone.
 */
import fs from 'node:fs';
import path from 'node:path';
import { checkRunFile, checkSnapshotFile } from './cache-file-check.js';
import { StoreError } from '../core/errors.js';
import { RealFileSystem, type FileSystem } from './file-system.js';
import { readBookFiles } from './book-files.js';
import { recoverBook, type RecoveredBook, type TornTail } from './recovery.js';
import { bookDirectory } from './segment.js';
import { checkSegmentBytes, type SegmentCheck, type SegmentCheckTarget } from './segment-check.js';
import { postingsOf } from './book-state.js';
import { formatAtUs } from '../core/time.js';
import type { TrialBalanceRow } from '../core/types.js';

/** Where a replay reports the files it opens, so the caller can show progress (a MessagePort). */
export interface ProgressPort {
  postMessage(message: unknown): void;
}

export type VerifyTask =
  | { kind: 'segment'; target: SegmentCheckTarget }
  | { kind: 'book'; dataDir: string; book: string; checkCacheFiles: boolean; progressPort: ProgressPort | null };

/** One snapshot file and what open does with it (T4). */
export interface CheckedSnapshot {
  file: string;
  seq: number;
  /**
   * `loaded`: open loads it (R14). `skipped`: newer than the one open loads (or there is none), so
   * open tried it and skips it (R12). `older`: older than the one open loads, so open never reads it.
   */
  role: 'loaded' | 'skipped' | 'older';
  /** Why it is unusable (the engine's words, after the file name); null when usable. */
  reason: string | null;
}

/** One idempotency-run file and what open does with it (T4). */
export interface CheckedRun {
  file: string;
  /**
   * `attached`: valid and part of the tiling open keeps (R15). `invalid`: fails its checks, so open
   * deletes it and rebuilds its keys from the log (R16). `retired`: valid, but the tiling leaves it
   * out (another run covers its seqs, or a gap comes before it), so open deletes it (R16).
   */
  role: 'attached' | 'invalid' | 'retired';
  /** Why it is invalid (the engine's words, after the file name); null otherwise. */
  reason: string | null;
}

export interface CacheFiles {
  /** Newest first. */
  snapshots: CheckedSnapshot[];
  /** In name order. */
  runs: CheckedRun[];
  /** Recovery's words for seq ranges whose idempotency keys no valid run holds: open rebuilds them from the log (R16). */
  holes: string[];
}

/** Recovery's warnings that CacheFiles reports in its own terms. */
const CACHE_FILE_WARNINGS = new Set(['SNAPSHOT_UNUSABLE', 'RUN_INVALID', 'RUN_REBUILT']);

export interface BookSummary {
  book: string;
  lastSeq: number;
  lastAt: string | null;
  accounts: number;
  transactions: number;
  postings: number;
  /** `_system` only: the registered asset ids. */
  assetsRegistered: string[];
  /** The distinct assets the book's accounts hold. */
  accountAssets: string[];
  trialBalance: TrialBalanceRow[];
  sumsSaturated: boolean;
  /** What open would truncate (R2). */
  tornTail: TornTail | null;
  /** This package's layout-1 files open would rename (R21). */
  renames: Array<{ from: string; to: string }>;
  /**
   * Recovery's warnings (duplicates a Rust-written log may hold, unusable snapshots and runs); with
   * `cacheFiles`, those about snapshot and run files are reported there instead.
   */
  warnings: string[];
  /** Every snapshot and run file of the book (T4), when the task asked for them. */
  cacheFiles?: CacheFiles;
}

export interface TaskError {
  code: string;
  message: string;
  file: string | null;
  offsetBytes: number | null;
}

export type BookReplay = { ok: true; summary: BookSummary } | { ok: false; error: TaskError };

/** Runs one task (the piscina entry point calls this). */
export function runVerifyTask(task: VerifyTask): SegmentCheck | BookReplay {
  if (task.kind === 'segment') return checkSegmentFile(task.target);
  const onOpen = task.progressPort === null ? null : (file: string) => task.progressPort!.postMessage(file);
  return replayBook(task.dataDir, task.book, task.checkCacheFiles, onOpen);
}

/** Reads one segment file and checks it on its own (src/segment-check.ts). */
export function checkSegmentFile(target: SegmentCheckTarget): SegmentCheck {
  return checkSegmentBytes(fs.readFileSync(target.file), target);
}

/** Replays one book with recovery's check phase (T3); a refusal comes back as an error value (T2). */
export function replayBook(dataDir: string, book: string, checkCacheFiles: boolean, onOpen: ((file: string) => void) | null): BookReplay {
  try {
    return { ok: true, summary: summarizeBook(readOnlyFileSystem(new RealFileSystem(), onOpen), dataDir, book, checkCacheFiles) };
  } catch (error) {
    if (!(error instanceof StoreError)) throw error;
    const details = error as StoreError & { file?: string; offset?: number };
    return {
      ok: false,
      error: { code: error.code, message: error.message, file: details.file ?? null, offsetBytes: details.offset ?? null },
    };
  }
}

/** Replays one book and counts what it holds. Throws StoreError (CORRUPT) like open would. */
export function summarizeBook(fileSystem: FileSystem, dataDir: string, book: string, checkCacheFiles = false): BookSummary {
  const recovered = recoverBook(fileSystem, dataDir, book);
  const cacheFiles = checkCacheFiles ? accountForCacheFiles(fileSystem, bookDirectory(dataDir, book), recovered) : undefined;
  const state = recovered.state;
  let postings = 0;
  const accountAssets = new Set<string>();
  for (const account of state.accounts.values()) {
    postings += postingsOf(account).length;
    accountAssets.add(account.asset);
  }
  return {
    book,
    lastSeq: state.lastSeq,
    lastAt: state.atLastUs === null ? null : formatAtUs(state.atLastUs),
    accounts: state.accounts.size,
    transactions: state.txids.size,
    postings,
    assetsRegistered: [...state.assets.keys()].sort(),
    accountAssets: [...accountAssets].sort(),
    trialBalance: state.trialBalance(),
    sumsSaturated: state.sumsSaturated,
    tornTail: recovered.repair.tornTail,
    renames: recovered.repair.renames.map(({ from, to }) => ({ from, to })),
    warnings: recovered.warnings.filter(({ code }) => cacheFiles === undefined || !CACHE_FILE_WARNINGS.has(code)).map(({ message }) => message),
    ...(cacheFiles === undefined ? {} : { cacheFiles }),
  };
}

/** Every snapshot and run file of a book that recovery accepted, and what open does with it (T4). */
function accountForCacheFiles(fileSystem: FileSystem, bookDir: string, recovered: RecoveredBook): CacheFiles {
  const { snapshotFile, logEnd, log } = recovered;
  // This package's files only (another store's are named in recovery's FOREIGN_FILES warning),
  // in recovery's order: newest first, of one seq the layout-2 file first.
  const files = readBookFiles(fileSystem, bookDir);
  const ordered = files.snapshots
    .map(({ name, seq, legacy }) => ({ file: path.join(bookDir, name), seq, legacy }))
    .sort((left, right) => right.seq - left.seq || Number(left.legacy) - Number(right.legacy));
  const loadedIndex = ordered.findIndex((entry) => entry.file === snapshotFile);
  const snapshots = ordered.map(({ file, seq }, index): CheckedSnapshot => {
    if (index === loadedIndex) return { file, seq, role: 'loaded', reason: null };
    // Open tries snapshots newest first: those before the one it loads it skips, the rest it never reads.
    const role = loadedIndex < 0 || index < loadedIndex ? 'skipped' : 'older';
    const verdict = checkSnapshotFile(fileSystem, file, seq, logEnd, (frameSeq) => log.readEvent(frameSeq).atUs);
    // `ahead` cannot occur here: recovery refuses the book for it before this runs (R13).
    return { file, seq, role, reason: verdict.kind === 'usable' ? null : verdict.kind === 'unusable' ? verdict.reason : verdict.message };
  });
  // Recovery plans to delete exactly the invalid and the retired runs; every other one it attached.
  const obsolete = new Set(recovered.repair.obsoleteFiles);
  const runs: CheckedRun[] = [];
  for (const { name, number } of files.runs) {
    const file = path.join(bookDir, name);
    if (!obsolete.has(file)) {
      runs.push({ file, role: 'attached', reason: null });
      continue;
    }
    const verdict = checkRunFile(fileSystem, file, number, logEnd);
    runs.push(verdict.kind === 'invalid' ? { file, role: 'invalid', reason: verdict.reason } : { file, role: 'retired', reason: null });
  }
  const holes = recovered.warnings.filter(({ code }) => code === 'RUN_REBUILT').map(({ message }) => message);
  return { snapshots, runs, holes };
}

/**
 * A FileSystem that reads through `base` and refuses everything else (T1). `onOpen` hears every
 * file opened for reading, in order (recovery opens a book's segments in base order).
 */
export function readOnlyFileSystem(base: FileSystem, onOpen: ((file: string) => void) | null): FileSystem {
  const refuse = (operation: string) => (): never => {
    throw StoreError.io(`verification is read-only; recovery attempted ${operation}`);
  };
  const readOnly: Partial<FileSystem> = {
    openSync(file, flags) {
      if (flags !== 'r') refuse(`to open "${file}" with flags ${flags}`)();
      onOpen?.(file);
      return base.openSync(file, flags);
    },
    writevSync: refuse('a write'),
    fsyncSync: refuse('an fsync'),
    ftruncateSync: refuse('a truncation'),
    renameSync: refuse('a rename'),
    unlinkSync: refuse('an unlink'),
    mkdirSync: refuse('a mkdir'),
    fsyncDirSync: refuse('a directory fsync'),
  };
  // Every other method (reads, stat, readdir, close) is the base's own, bound to it.
  return new Proxy(base, {
    get(target, property, receiver) {
      const own = readOnly[property as keyof FileSystem];
      if (own !== undefined) return own;
      const value = Reflect.get(target, property, receiver) as unknown;
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
}

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
 */
import fs from 'node:fs';
import { StoreError } from './errors.js';
import { RealFileSystem, type FileSystem } from './file-system.js';
import { recoverBook, type TornTail } from './recovery.js';
import { checkSegmentBytes, type SegmentCheck, type SegmentCheckTarget } from './segment-check.js';
import { formatAtUs } from './time.js';
import type { TrialBalanceRow } from './types.js';

/** Where a replay reports the files it opens, so the caller can show progress (a MessagePort). */
export interface ProgressPort {
  postMessage(message: unknown): void;
}

export type VerifyTask =
  | { kind: 'segment'; target: SegmentCheckTarget }
  | { kind: 'book'; dataDir: string; book: string; progressPort: ProgressPort | null };

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
  /** Recovery's warnings (duplicates a Rust-written log may hold, unusable snapshots). */
  warnings: string[];
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
  return replayBook(task.dataDir, task.book, onOpen);
}

/** Reads one segment file and checks it on its own (src/segment-check.ts). */
export function checkSegmentFile(target: SegmentCheckTarget): SegmentCheck {
  return checkSegmentBytes(fs.readFileSync(target.file), target);
}

/** Replays one book with recovery's check phase (T3); a refusal comes back as an error value (T2). */
export function replayBook(dataDir: string, book: string, onOpen: ((file: string) => void) | null): BookReplay {
  try {
    return { ok: true, summary: summarizeBook(readOnlyFileSystem(new RealFileSystem(), onOpen), dataDir, book) };
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
export function summarizeBook(fileSystem: FileSystem, dataDir: string, book: string): BookSummary {
  const recovered = recoverBook(fileSystem, dataDir, book);
  const state = recovered.state;
  let postings = 0;
  const accountAssets = new Set<string>();
  for (const account of state.accounts.values()) {
    postings += account.postings.length;
    accountAssets.add(account.def.asset);
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
    warnings: recovered.warnings.map((warning) => (typeof warning === 'string' ? warning : warning.message)),
  };
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

/**
 * Verification of a whole data directory, for `talea-log verify` (README, "Operator CLI").
 *
 * V1. Read-only: the lock is never taken (a running store keeps working), and no file is created,
 *     written, truncated, renamed or deleted (T1 in src/verify-tasks.ts enforces it for recovery).
 * V2. Two passes. The frame pass checks every segment on its own (CRC, length, payload, seqs,
 *     times, per-transaction balance) in a piscina pool, in parallel, and then, in base order, the
 *     joins between a book's segments and every transaction against the earlier ones of its book
 *     (a repeated txid or idempotency key is CORRUPT, R20, from seq 1 whatever snapshots cover)
 *     and of the books before it (a txid in two books is a WARNING: open keeps the first book's).
 *     The replay pass runs recovery's own check phase for every book in the same pool, so what
 *     verify accepts is what open accepts, and checks the replayed trial balance per asset.
 * V3. Findings come out in one order whatever the thread timing: books in name order, segments in
 *     base order, offsets ascending. Without `all`, verification stops at the first corruption.
 * V4. Every snapshot and idempotency-run file is accounted for in the replay pass (T4 in
 *     src/verify-tasks.ts): one that proves the log lost events is CORRUPT, as open refuses it (R13,
 *     R17); one open would skip, delete, rebuild from the log or rename is REPAIR (R12, R16, R21);
 *     an unusable snapshot older than the one open loads, which open never reads, is a WARNING;
 *     another store's files under shared names are a WARNING (open leaves them alone).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Piscina } from 'piscina';
import { readBookFiles } from './book-files.js';
import { isStoreError } from '../core/errors.js';
import { RealFileSystem } from './file-system.js';
import { lockHolder, type LockHolder } from './lock-holder.js';
import { listBooks } from './log-store.js';
import { recoveryMessages, type Repeat } from './recovery.js';
import { checkSegmentJoin, seqAfter, type SegmentCheck, type SegmentCheckTarget, type SegmentProblem } from './segment-check.js';
import { TxidTable } from './txid-table.js';
import { SYSTEM_BOOK } from '../core/types.js';
import type { BookReplay, BookSummary, CacheFiles, VerifyTask } from './verify-tasks.js';

const TASK_FILE_URL = new URL('../../workers/verify-task.js', import.meta.url);

export type FindingKind = 'corrupt' | 'unbalanced' | 'repair' | 'warning';

export interface Finding {
  kind: FindingKind;
  book: string | null;
  file: string | null;
  offsetBytes: number | null;
  /** One line, starting with the kind's tag (`CORRUPT:`, `UNBALANCED:`, `REPAIR:`, `WARNING:`). */
  line: string;
}

export interface BookReport {
  book: string;
  segments: number;
  bytes: number;
  /** Frames the frame pass found intact. */
  frames: number;
  /** Null when the replay refused the book or did not run. */
  summary: BookSummary | null;
}

export interface VerifyReport {
  dir: string;
  lockHolder: LockHolder;
  books: BookReport[];
  findings: Finding[];
  /** True when verification stopped at the first corruption (no `all`). */
  stoppedEarly: boolean;
}

export interface VerifyProgress {
  phase: 'frames' | 'replay';
  bytesDone: number;
  bytesTotal: number;
  eventsDone: number;
}

export interface VerifyOptions {
  /** Report every problem instead of stopping at the first corruption. */
  all: boolean;
  /** Pool threads; default os.availableParallelism(). */
  threads?: number;
  onProgress?: (progress: VerifyProgress) => void;
}

/** Unbalanced transactions listed per book without `all`; the rest are counted. */
const UNBALANCED_LISTED_MAX = 1;
/** Txids a book shares with earlier books, listed per book without `all`; the rest are counted. */
const SHARED_TXIDS_LISTED_MAX = 1;

/** The txids and idempotency keys of one book's transactions so far, to find repeats (R20). */
class RepeatFinder {
  readonly #txids = new TxidTable();
  readonly #keys = new Map<string, number>();

  /** Records the transaction of `seq`; returns what it repeats, or null. */
  see(seq: number, txid: string, key: string): Repeat | null {
    const txidSeq = this.#txids.get(txid) ?? null;
    const keySeq = this.#keys.get(key) ?? null;
    if (txidSeq === null) this.#txids.set(txid, seq);
    if (keySeq === null) this.#keys.set(key, seq);
    return txidSeq === null && keySeq === null ? null : { txid, key, txidSeq, keySeq };
  }
}

interface SegmentPlan {
  target: SegmentCheckTarget;
  lengthBytes: number;
  result: Promise<Settled<SegmentCheck>> | null;
  check: SegmentCheck | null;
  replayed: boolean;
}

interface BookPlan {
  book: string;
  segments: SegmentPlan[];
  hasDuplicateBases: boolean;
}

type Settled<T> = { ok: true; value: T } | { ok: false; error: unknown };

function settle<T>(promise: Promise<T>): Promise<Settled<T>> {
  return promise.then(
    (value) => ({ ok: true as const, value }),
    (error: unknown) => ({ ok: false as const, error }),
  );
}

function unwrap<T>(settled: Settled<T>): T {
  if (!settled.ok) throw settled.error;
  return settled.value;
}

/** A pool for verification tasks; the caller destroys it. */
export function createVerifyPool(threads?: number): Piscina<VerifyTask, SegmentCheck | BookReplay> {
  const maxThreads = Math.max(1, threads ?? os.availableParallelism());
  return new Piscina<VerifyTask, SegmentCheck | BookReplay>({ filename: TASK_FILE_URL.href, minThreads: 1, maxThreads });
}

/**
 * Replays one book in the pool; with `checkCacheFiles`, also accounts for its snapshot and run
 * files (T4). `onOpen` hears each file recovery opens for reading (the pool thread posts it through
 * a MessageChannel), for progress.
 */
export async function replayBookInPool(
  pool: Piscina<VerifyTask, SegmentCheck | BookReplay>,
  dataDir: string,
  book: string,
  checkCacheFiles: boolean,
  onOpen: ((file: string) => void) | null,
): Promise<BookReplay> {
  if (onOpen === null) return (await pool.run({ kind: 'book', dataDir, book, checkCacheFiles, progressPort: null })) as BookReplay;
  const channel = new MessageChannel();
  channel.port1.on('message', (file: unknown) => onOpen(String(file)));
  try {
    const task: VerifyTask = { kind: 'book', dataDir, book, checkCacheFiles, progressPort: channel.port2 };
    return (await pool.run(task, { transferList: [channel.port2] })) as BookReplay;
  } finally {
    channel.port1.close();
  }
}

/** Verifies the data directory `dir` (V1 to V4). Throws only for I/O errors and bugs. */
export async function verifyDataDir(dir: string, options: VerifyOptions): Promise<VerifyReport> {
  const report: VerifyReport = { dir, lockHolder: lockHolder(dir), books: [], findings: [], stoppedEarly: false };
  let books: string[];
  try {
    books = listBooks(dir);
  } catch (error) {
    // D2, D3: open refuses the whole directory before it reads any book.
    if (!isStoreError(error, 'INVALID_BOOK')) throw error;
    report.findings.push({ kind: 'corrupt', book: error.book, file: path.join(dir, 'books', error.book), offsetBytes: null, line: error.message });
    report.stoppedEarly = !options.all;
    return report;
  }
  const plans = books.map((book) => planBook(dir, book, report));
  const pool = createVerifyPool(options.threads);
  // Stopping at the first corruption destroys the pool while other checks may still run, and
  // piscina reports the answer of such a check as an 'error' event on the pool, which with no
  // listener ends the process (exit 1, the code of CORRUPT, with no report). Every other failure
  // reaches its task's promise, so an error here when nothing was abandoned is a bug.
  const strayErrors: unknown[] = [];
  pool.on('error', (error: unknown) => strayErrors.push(error));
  try {
    const stopped = await framePass(pool, plans, report, options);
    if (!stopped) await replayPass(pool, dir, plans, report, options);
    else report.stoppedEarly = true;
  } finally {
    await pool.destroy();
  }
  if (!report.stoppedEarly && strayErrors.length > 0) throw strayErrors[0];
  checkAssetsRegistered(report);
  // V3: group the findings by book in name order; within a book they keep their order.
  const bookIndex = new Map(books.map((book, index) => [book, index]));
  report.findings.sort((left, right) => (bookIndex.get(left.book ?? '') ?? -1) - (bookIndex.get(right.book ?? '') ?? -1));
  return report;
}

/** Lists one book's files and records what the listing alone can tell (R18 leftovers). */
function planBook(dir: string, book: string, report: VerifyReport): BookPlan {
  const bookDir = path.join(dir, 'books', book);
  const files = readBookFiles(new RealFileSystem(), bookDir);
  const segments: SegmentPlan[] = files.segments.map(({ name, base }, index) => ({
    target: { book, file: path.join(bookDir, name), base, final: index === files.segments.length - 1, collectTransactions: true },
    lengthBytes: fs.statSync(path.join(bookDir, name)).size,
    result: null,
    check: null,
    replayed: false,
  }));
  for (const name of files.temporary) {
    const file = path.join(bookDir, name);
    report.findings.push({ kind: 'repair', book, file, offsetBytes: null, line: `REPAIR: leftover temporary file "${file}": open would remove it (R18)` });
  }
  report.books.push({ book, segments: segments.length, bytes: segments.reduce((sum, segment) => sum + segment.lengthBytes, 0), frames: 0, summary: null });
  return { book, segments, hasDuplicateBases: files.duplicateBases.length > 0 };
}

/** The frame pass (V2). Returns true when it stopped at a corruption. */
async function framePass(
  pool: Piscina<VerifyTask, SegmentCheck | BookReplay>,
  plans: BookPlan[],
  report: VerifyReport,
  options: VerifyOptions,
): Promise<boolean> {
  const bytesTotal = plans.reduce((sum, plan) => sum + plan.segments.reduce((bytes, segment) => bytes + segment.lengthBytes, 0), 0);
  const progress: VerifyProgress = { phase: 'frames', bytesDone: 0, bytesTotal, eventsDone: 0 };
  options.onProgress?.({ ...progress });
  // Submit everything first; the pool runs it in parallel, and results are taken in order (V3).
  for (const plan of plans) {
    for (const segment of plan.segments) segment.result = settle(pool.run({ kind: 'segment', target: segment.target }) as Promise<SegmentCheck>);
  }
  // Store-wide: txid → the ordinal (in `plans`, name order) of the first book that holds it.
  const bookOfTxid = new TxidTable();
  for (const [ordinal, plan] of plans.entries()) {
    const bookReport = report.books.find((entry) => entry.book === plan.book)!;
    if (plan.hasDuplicateBases && duplicateBaseFinding(plan, report) && !options.all) return true;
    let expectedSeq = 1;
    let lastAtUs: number | null = null;
    let unbalancedCount = 0;
    const repeats = new RepeatFinder();
    const shared: Finding[] = [];
    // After a damaged segment its end is unknown, so the next join would only repeat the damage.
    let previousDamaged = false;
    for (const segment of plan.segments) {
      const check = unwrap(await segment.result!);
      segment.check = check;
      progress.bytesDone += check.lengthBytes;
      progress.eventsDone += check.frames;
      bookReport.frames += check.frames;
      options.onProgress?.({ ...progress });
      const join = plan.hasDuplicateBases || previousDamaged ? null : checkSegmentJoin(expectedSeq, lastAtUs, check);
      previousDamaged = check.problems.some((problem) => problem.kind === 'corrupt');
      const problems = join === null ? [...check.problems] : [join, ...check.problems];
      const transactions = check.transactions!;
      for (let index = 0; index < transactions.seqs.length; index++) {
        const seq = transactions.seqs[index]!;
        const offsetBytes = transactions.offsets[index]!;
        const txid = transactions.txids[index]!;
        const repeat = repeats.see(seq, txid, transactions.keys[index]!);
        if (repeat !== null) {
          const message = recoveryMessages.repeat(plan.book, seq, check.file, offsetBytes, repeat);
          problems.push({ row: 'R20', kind: 'corrupt', book: plan.book, file: check.file, offsetBytes, message });
        }
        const first = bookOfTxid.get(txid);
        if (first === undefined) bookOfTxid.set(txid, ordinal);
        else if (first !== ordinal) shared.push(sharedTxidFinding(plans[first]!.book, plan.book, txid, seq, check.file, offsetBytes));
      }
      check.transactions = null; // the finders hold what they need; the plan outlives this loop
      problems.sort((left, right) => left.offsetBytes - right.offsetBytes); // V3
      for (const problem of problems) {
        if (problem.kind === 'unbalanced') {
          unbalancedCount++;
          if (!options.all && unbalancedCount > UNBALANCED_LISTED_MAX) continue;
        }
        report.findings.push(problemFinding(problem));
        if (problem.kind === 'corrupt' && !options.all) return true;
      }
      if (check.tornTail !== null) report.findings.push(tornTailFinding(plan.book, check.tornTail));
      expectedSeq = previousDamaged ? seqAfter(check.base, check) : seqAfter(expectedSeq, check);
      lastAtUs = check.lastAtUs ?? lastAtUs;
    }
    report.findings.push(...(options.all ? shared : shared.slice(0, SHARED_TXIDS_LISTED_MAX)));
    if (shared.length > SHARED_TXIDS_LISTED_MAX && !options.all) {
      const more = shared.length - SHARED_TXIDS_LISTED_MAX;
      const line = `WARNING: ${more} more txid${more === 1 ? '' : 's'} of book ${plan.book} also in earlier books (--all lists them)`;
      report.findings.push({ kind: 'warning', book: plan.book, file: null, offsetBytes: null, line });
    }
    if (unbalancedCount > UNBALANCED_LISTED_MAX && !options.all) {
      const more = unbalancedCount - UNBALANCED_LISTED_MAX;
      report.findings.push({
        kind: 'unbalanced',
        book: plan.book,
        file: null,
        offsetBytes: null,
        line: `UNBALANCED: ${more} more unbalanced transaction${more === 1 ? '' : 's'} in book ${plan.book} (--all lists them)`,
      });
    }
  }
  return false;
}

/** The replay pass (V2): recovery's check phase per book, then the trial balance per asset. */
async function replayPass(
  pool: Piscina<VerifyTask, SegmentCheck | BookReplay>,
  dir: string,
  plans: BookPlan[],
  report: VerifyReport,
  options: VerifyOptions,
): Promise<void> {
  const bytesTotal = plans.reduce((sum, plan) => sum + plan.segments.reduce((bytes, segment) => bytes + segment.lengthBytes, 0), 0);
  const progress: VerifyProgress = { phase: 'replay', bytesDone: 0, bytesTotal, eventsDone: 0 };
  options.onProgress?.({ ...progress });
  // A segment counts as replayed once recovery opens the next file of its book, or the book ends.
  const markReplayedBefore = (plan: BookPlan, index: number): void => {
    for (const segment of plan.segments.slice(0, index)) {
      if (segment.replayed) continue;
      segment.replayed = true;
      progress.bytesDone += segment.lengthBytes;
      progress.eventsDone += segment.check?.frames ?? 0;
    }
    options.onProgress?.({ ...progress });
  };
  const replays = plans.map((plan) =>
    settle(
      replayBookInPool(pool, dir, plan.book, true, (file) => {
        const index = plan.segments.findIndex((segment) => segment.target.file === file);
        if (index > 0) markReplayedBefore(plan, index);
      }),
    ),
  );
  for (let index = 0; index < plans.length; index++) {
    const plan = plans[index]!;
    const replay = unwrap(await replays[index]!);
    markReplayedBefore(plan, plan.segments.length);
    const bookReport = report.books.find((entry) => entry.book === plan.book)!;
    if (!replay.ok) {
      const { file, offsetBytes, message } = replay.error;
      const known = report.findings.some((finding) => finding.kind === 'corrupt' && finding.file === file && finding.offsetBytes === offsetBytes);
      if (!known) report.findings.push({ kind: 'corrupt', book: plan.book, file, offsetBytes, line: message });
      if (!options.all) {
        report.stoppedEarly = true;
        return;
      }
      continue;
    }
    const summary = replay.summary;
    bookReport.summary = summary;
    if (summary.tornTail !== null && !report.findings.some((finding) => finding.kind === 'repair' && finding.file === summary.tornTail!.file)) {
      report.findings.push(tornTailFinding(plan.book, summary.tornTail));
    }
    for (const { from, to } of summary.renames) {
      const line = `REPAIR: "${from}" is this package's, under a layout-1 name the Rust store also reads: open would rename it to "${path.basename(to)}" (R21)`;
      report.findings.push({ kind: 'repair', book: plan.book, file: from, offsetBytes: null, line });
    }
    for (const warning of summary.warnings) {
      report.findings.push({ kind: 'warning', book: plan.book, file: null, offsetBytes: null, line: `WARNING: ${warning}` });
    }
    report.findings.push(...cacheFileFindings(plan.book, summary.cacheFiles!));
    const bookDir = path.join(dir, 'books', plan.book);
    if (summary.sumsSaturated) {
      const line = `WARNING: trial balance of book ${plan.book} not checked: its sums saturated at the i64 bounds`;
      report.findings.push({ kind: 'warning', book: plan.book, file: bookDir, offsetBytes: null, line });
      continue;
    }
    for (const row of summary.trialBalance) {
      if (row.debits === row.credits) continue;
      const line = `UNBALANCED: trial balance of book ${plan.book} does not balance in ${row.asset}: debits ${row.debits}, credits ${row.credits}`;
      report.findings.push({ kind: 'unbalanced', book: plan.book, file: bookDir, offsetBytes: null, line });
    }
  }
}

/** What open would do with the snapshot and run files of a book it accepts (V4). */
function cacheFileFindings(book: string, cacheFiles: CacheFiles): Finding[] {
  const findings: Finding[] = [];
  const loaded = cacheFiles.snapshots.find((snapshot) => snapshot.role === 'loaded');
  for (const { file, role, reason } of cacheFiles.snapshots) {
    if (reason === null) continue;
    if (role === 'older') {
      const line = `WARNING: snapshot "${file}" ${reason}; open does not read it, as it loads the newer snapshot "${loaded!.file}"`;
      findings.push({ kind: 'warning', book, file, offsetBytes: null, line });
    } else {
      findings.push({ kind: 'repair', book, file, offsetBytes: null, line: `REPAIR: snapshot "${file}" ${reason}; open would skip it (R12)` });
    }
  }
  for (const { file, role, reason } of cacheFiles.runs) {
    if (role === 'invalid') {
      const line = `REPAIR: idempotency run "${file}" ${reason}; open would delete it and rebuild its keys from the log (R16)`;
      findings.push({ kind: 'repair', book, file, offsetBytes: null, line });
    } else if (role === 'retired') {
      const line = `REPAIR: idempotency run "${file}" is left out of the tiling (another run covers its seqs, or a gap comes before it); open would delete it (R16)`;
      findings.push({ kind: 'repair', book, file, offsetBytes: null, line });
    }
  }
  for (const hole of cacheFiles.holes) findings.push({ kind: 'repair', book, file: null, offsetBytes: null, line: `REPAIR: ${hole} (R16)` });
  return findings;
}

/** Every asset an account holds should be registered in `_system` (open does not check it). */
function checkAssetsRegistered(report: VerifyReport): void {
  const system = report.books.find((entry) => entry.book === SYSTEM_BOOK)?.summary;
  const registered = new Set(system?.assetsRegistered ?? []);
  for (const { book, summary } of report.books) {
    if (summary === null || book === SYSTEM_BOOK) continue;
    for (const asset of summary.accountAssets) {
      if (registered.has(asset)) continue;
      const line = `WARNING: book ${book} has accounts in asset ${asset}, which ${SYSTEM_BOOK} does not register`;
      report.findings.push({ kind: 'warning', book, file: null, offsetBytes: null, line });
    }
  }
}

function duplicateBaseFinding(plan: BookPlan, report: VerifyReport): boolean {
  const seen = new Map<number, string>();
  let found = false;
  for (const { target } of plan.segments) {
    const other = seen.get(target.base);
    if (other !== undefined) {
      report.findings.push({
        kind: 'corrupt',
        book: plan.book,
        file: target.file,
        offsetBytes: 0,
        line: `CORRUPT: segment "${target.file}" has the same base as "${other}"`,
      });
      found = true;
    } else {
      seen.set(target.base, target.file);
    }
  }
  return found;
}

/**
 * A txid of `book` that an earlier book in name order holds too. Not corruption: the Rust store
 * has no store-wide txid check, and each book is sound on its own; open keeps the first book's
 * transaction for transaction(txid) and refuses a new commit with that txid in any book.
 */
function sharedTxidFinding(firstBook: string, book: string, txid: string, seq: number, file: string, offsetBytes: number): Finding {
  const line =
    `WARNING: txid ${txid} of seq ${seq} of book ${book} in "${file}" at offset ${offsetBytes} is also a transaction of book ${firstBook}; ` +
    `open keeps book ${firstBook}'s for transaction(txid)`;
  return { kind: 'warning', book, file, offsetBytes, line };
}

function problemFinding(problem: SegmentProblem): Finding {
  const tag = problem.kind === 'corrupt' ? 'CORRUPT' : 'UNBALANCED';
  return { kind: problem.kind, book: problem.book, file: problem.file, offsetBytes: problem.offsetBytes, line: `${tag}: ${problem.message}` };
}

function tornTailFinding(book: string, tornTail: { file: string; offsetBytes: number; discardedBytes: number }): Finding {
  const { file, offsetBytes, discardedBytes } = tornTail;
  return {
    kind: 'repair',
    book,
    file,
    offsetBytes,
    line: `REPAIR: torn tail in final segment "${file}" at offset ${offsetBytes}: open would truncate ${discardedBytes} bytes (R2)`,
  };
}

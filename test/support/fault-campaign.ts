/**
 * The I/O-error loop (spec/log-engine.md, section 13.6): run the scripted workload of
 * fault-workload.ts with FaultyFileSystem failing the Nth call of one operation kind on one kind of
 * file of book `alpha` (segments, snapshots, idempotency runs, the book directory), once or sticky,
 * for every N up to the number of such calls a fault-free run makes; then close, reopen without
 * faults and check.
 *
 * After each case:
 *   - `beta` and `_system` answered exactly as in the fault-free run (C9);
 *   - `alpha` answered as in the fault-free run until its first BOOK_UNAVAILABLE, and every alpha
 *     write answered after that is BOOK_UNAVAILABLE too (no write resolves after the failed call);
 *     a failed segment write or fsync always ends the book (W4);
 *   - faults in snapshot and run files change no answer (an explicit snapshot() may reject IO) and
 *     the reopened log equals the fault-free log;
 *   - close() resolves; the reopened store passes verifyRecovered (C1 to C4, C6, C7), which also
 *     retries every unknown outcome and every acknowledged commit;
 *   - a second reopen gives the same logs (recovery is repeatable).
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { LogStore } from '../../src/log/log-store.js';
import type { LogStoreOptions, LogStoreWarning } from '../../src/log/options.js';
import { SYSTEM_BOOK, type SequencedEvent } from '../../src/core/types.js';
import { FAULTY_FILE_SYSTEM_MODULE, FaultPlan, FaultyFileSystem, type FaultOp } from './faulty-file-system.js';
import { FAULT_BOOKS, FAULTED_BOOK, runFaultWorkload, WORKLOAD_SETTINGS, type TranscriptEntry } from './fault-workload.js';
import { readAllEvents, verifyRecovered } from './ledger-check.js';

export interface FaultTarget {
  name: string;
  /** FaultPlan path filter. */
  pattern: string;
  ops: readonly FaultOp[];
  /** True when no fault of this target may change any answer (snapshots, spills, merges). */
  answersUnchanged: boolean;
}

export const FAULT_TARGETS: readonly FaultTarget[] = [
  { name: 'segment', pattern: `/books/${FAULTED_BOOK}/segment-`, ops: ['writev', 'fsync', 'open'], answersUnchanged: false },
  { name: 'snapshot', pattern: `/books/${FAULTED_BOOK}/snapshot-`, ops: ['writev', 'fsync', 'rename', 'open'], answersUnchanged: true },
  { name: 'run', pattern: `/books/${FAULTED_BOOK}/idem-`, ops: ['writev', 'fsync', 'rename'], answersUnchanged: true },
  // Book creation, rotation, and installing snapshots and runs: a directory fsync.
  // Listing it: numbering a new run, pruning snapshots.
  { name: 'book directory', pattern: `/books/${FAULTED_BOOK}`, ops: ['mkdir', 'fsyncDir', 'readdir'], answersUnchanged: false },
];

export type FaultMode = 'in-process' | 'workers';

export interface Reference {
  transcript: Map<string, TranscriptEntry>;
  logs: Map<string, SequencedEvent[]>;
  /** Matching calls of each op kind per target name, in a fault-free run. */
  counts: Map<string, Map<FaultOp, number>>;
}

export interface FaultCase {
  target: FaultTarget;
  op: FaultOp;
  nth: number;
  sticky: boolean;
  mode: FaultMode;
}

export interface CaseResult {
  fired: boolean;
  acknowledgedChecked: number;
  unknownRetried: number;
  warnings: number;
}

const ALL_BOOKS = [SYSTEM_BOOK, ...FAULT_BOOKS];

function storeOptions(mode: FaultMode, plan: FaultPlan, clock: BigInt64Array | null, warnings: LogStoreWarning[]): LogStoreOptions {
  const testHooks: NonNullable<LogStoreOptions['testHooks']> =
    mode === 'in-process'
      ? { inProcess: true, fileSystem: new FaultyFileSystem(plan.config()) }
      : { fileSystemModule: FAULTY_FILE_SYSTEM_MODULE, fileSystemConfig: plan.config() };
  if (clock !== null) testHooks.clockUs = clock;
  // In-process, segments are preallocated from their first byte (src/log/segment.ts G9), so every
  // fault also meets the zero tail, the fdatasyncs and the cut at rotation and close.
  if (mode === 'in-process') testHooks.preallocate = { fromBytes: 0, chunkBytes: 512 };
  return { workers: 2, ...WORKLOAD_SETTINGS, onWarning: (warning) => warnings.push(warning), testHooks };
}

function cleanOptions(): LogStoreOptions {
  return { workers: 2, ...WORKLOAD_SETTINGS, onWarning: () => undefined, testHooks: { inProcess: true } };
}

function newClock(): BigInt64Array {
  return new BigInt64Array(new SharedArrayBuffer(8));
}

async function readLogs(store: LogStore): Promise<Map<string, SequencedEvent[]>> {
  const logs = new Map<string, SequencedEvent[]>();
  for (const book of ALL_BOOKS) logs.set(book, await readAllEvents(store, book));
  return logs;
}

/** Settles like `promise`, or fails naming `what` if it takes longer than `ms` (a hang is a bug). */
export async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not settle within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function closeWithin(store: LogStore, ms: number, what: string): Promise<void> {
  return within(store.close(), ms, `${what}: close()`);
}

function tempDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'talea-fault-'));
}

/** A fault-free run in `mode`: the transcript, the final logs and the matching call counts. */
export async function buildReference(mode: FaultMode, steps: number): Promise<Reference> {
  const counts = new Map<string, Map<FaultOp, number>>();
  let first: { transcript: TranscriptEntry[]; logs: Map<string, SequencedEvent[]> } | null = null;
  for (const target of FAULT_TARGETS) {
    const dir = tempDir();
    try {
      const plan = new FaultPlan(target.pattern);
      const clock = newClock();
      const store = await LogStore.open(dir, storeOptions(mode, plan, clock, []));
      const { transcript } = await runFaultWorkload(store, clock, steps);
      // The calls of the workload itself, before this run's own reads of the final log.
      counts.set(target.name, new Map(target.ops.map((op) => [op, plan.countMatching(op)])));
      const logs = await readLogs(store);
      await closeWithin(store, 10_000, 'reference');
      if (first === null) first = { transcript, logs };
      else {
        // Answers are deterministic; the order in which concurrent calls resolve need not be.
        const answers = (entries: TranscriptEntry[]): unknown[] => entries.map(({ label, answer }) => ({ label, answer }));
        assert.deepEqual(answers(transcript), answers(first.transcript), 'two fault-free runs of the workload answered differently');
        assert.deepEqual(logs, first.logs, 'two fault-free runs of the workload left different logs');
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }
  for (const entry of first!.transcript) {
    if (entry.book !== null && entry.book !== SYSTEM_BOOK) assert(entry.answer.ok || entry.kind === 'write', `reference: ${entry.label} failed`);
  }
  return { transcript: new Map(first!.transcript.map((entry) => [entry.label, entry])), logs: first!.logs, counts };
}

function describe(faultCase: FaultCase): string {
  return `${faultCase.mode}: ${faultCase.target.name} ${faultCase.op} #${faultCase.nth}${faultCase.sticky ? ' sticky' : ''}`;
}

/** One case of the loop: the faulted run, then the checks listed at the top of this file. */
export async function runFaultCase(faultCase: FaultCase, reference: Reference, steps: number): Promise<CaseResult> {
  const what = describe(faultCase);
  const dir = tempDir();
  const warnings: LogStoreWarning[] = [];
  try {
    const plan = new FaultPlan(faultCase.target.pattern);
    plan.arm(faultCase.op, faultCase.nth, { sticky: faultCase.sticky, errno: faultCase.nth % 2 === 0 ? 'ENOSPC' : 'EIO' });
    const clock = newClock();
    const store = await LogStore.open(dir, storeOptions(faultCase.mode, plan, clock, warnings));
    let run: Awaited<ReturnType<typeof runFaultWorkload>>;
    try {
      run = await within(runFaultWorkload(store, clock, steps), 30_000, `${what}: the workload`);
    } finally {
      await closeWithin(store, 15_000, what);
    }
    const fired = plan.fired();
    plan.disarm();
    checkTranscript(faultCase, run.transcript, reference, fired, what);

    let store2 = await LogStore.open(dir, cleanOptions());
    let logs: Map<string, SequencedEvent[]>;
    let verified;
    try {
      if (faultCase.target.answersUnchanged) {
        assert.deepEqual(await readLogs(store2), reference.logs, `${what}: the reopened log differs from the fault-free log`);
      }
      verified = await verifyRecovered(store2, run.history, { books: FAULT_BOOKS, balanced: true, replay: true, context: what });
      logs = await readLogs(store2);
    } finally {
      await closeWithin(store2, 10_000, what);
    }
    // Recovery is repeatable: a second open finds the same state.
    store2 = await LogStore.open(dir, cleanOptions());
    try {
      assert.deepEqual(await readLogs(store2), logs, `${what}: a second reopen found a different log`);
    } finally {
      await closeWithin(store2, 10_000, what);
    }
    return { fired, acknowledgedChecked: verified.acknowledgedChecked, unknownRetried: verified.unknownRetried, warnings: warnings.length };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function checkTranscript(faultCase: FaultCase, transcript: TranscriptEntry[], reference: Reference, fired: boolean, what: string): void {
  assert.equal(transcript.length, reference.transcript.size, `${what}: the transcript has another shape`);
  // A read that cannot open a segment fails CORRUPT naming the file and the frame's offset, and
  // the book stops accepting writes (log-engine section 12: a latent sector error).
  for (const entry of transcript) {
    if (entry.answer.ok || entry.answer.code !== 'CORRUPT') continue;
    assert(entry.book === FAULTED_BOOK && faultCase.target.name === 'segment' && faultCase.op === 'open', `${what}: ${entry.label} failed CORRUPT`);
    const { file, offset } = entry.answer.details as { file?: unknown; offset?: unknown };
    assert(typeof file === 'string' && file.includes(faultCase.target.pattern), `${what}: ${entry.label}: CORRUPT names no segment of ${FAULTED_BOOK}`);
    assert(typeof offset === 'number' && Number.isSafeInteger(offset) && offset >= 0, `${what}: ${entry.label}: CORRUPT names no offset`);
  }
  const deadAt = Math.min(
    ...transcript
      .filter((entry) => entry.book === FAULTED_BOOK && !entry.answer.ok && (entry.answer.code === 'BOOK_UNAVAILABLE' || entry.answer.code === 'CORRUPT'))
      .map((entry) => entry.resolvedAt),
  );
  if (faultCase.target.answersUnchanged) assert.equal(deadAt, Infinity, `${what}: a ${faultCase.target.name} fault ended the book`);
  if (fired && faultCase.target.name === 'segment' && faultCase.op !== 'open') {
    assert(deadAt < Infinity, `${what}: a failed segment ${faultCase.op} did not end the book`);
  }
  for (const entry of transcript) {
    const expected = reference.transcript.get(entry.label);
    assert(expected !== undefined, `${what}: unexpected call ${entry.label}`);
    const message = `${what}: ${entry.label}`;
    if (entry.book !== FAULTED_BOOK) {
      assert.deepEqual(entry.answer, expected.answer, `${message} (another book must not notice, C9)`);
      continue;
    }
    const failed = entry.answer.ok ? null : entry.answer.code;
    if (entry.kind === 'snapshot' && (failed === 'IO' || (failed === 'BOOK_UNAVAILABLE' && deadAt < Infinity))) continue;
    if (entry.resolvedAt < deadAt) {
      assert.deepEqual(entry.answer, expected.answer, `${message} answered differently before the book failed`);
    } else if (entry.kind === 'write' && !(failed === 'CORRUPT' && entry.resolvedAt === deadAt)) {
      assert.equal(failed, 'BOOK_UNAVAILABLE', `${message} answered ${JSON.stringify(entry.answer)} after the book failed`);
    }
  }
}

export interface LoopSummary {
  cases: number;
  fired: number;
  acknowledgedChecked: number;
  unknownRetried: number;
  perTarget: Array<{ target: string; op: FaultOp; calls: number; cases: number; fired: number }>;
}

/**
 * The whole loop for one mode: every target, every op kind, every N from 1 to the number of
 * matching calls of the fault-free run, once and sticky. `nths` may thin N (e.g. first and last only).
 */
export async function runFaultLoop(
  mode: FaultMode,
  steps: number,
  options: {
    /** The (N, sticky) pairs to run for an op kind with `calls` matching calls; default every N, once and sticky. */
    cases?: (calls: number) => Array<{ nth: number; sticky: boolean }>;
    log?: (line: string) => void;
    targets?: readonly string[];
  } = {},
): Promise<LoopSummary> {
  const reference = await buildReference(mode, steps);
  const summary: LoopSummary = { cases: 0, fired: 0, acknowledgedChecked: 0, unknownRetried: 0, perTarget: [] };
  for (const target of FAULT_TARGETS) {
    if (options.targets !== undefined && !options.targets.includes(target.name)) continue;
    for (const op of target.ops) {
      const calls = reference.counts.get(target.name)!.get(op)!;
      const row = { target: target.name, op, calls, cases: 0, fired: 0 };
      summary.perTarget.push(row);
      const cases = options.cases?.(calls) ?? Array.from({ length: calls }, (_, index) => [false, true].map((sticky) => ({ nth: index + 1, sticky }))).flat();
      const unfired: string[] = [];
      for (const { nth, sticky } of cases) {
        const result = await runFaultCase({ target, op, nth, sticky, mode }, reference, steps);
        summary.cases++;
        row.cases++;
        if (result.fired) {
          summary.fired++;
          row.fired++;
        } else unfired.push(`#${nth}${sticky ? ' sticky' : ''}`);
        summary.acknowledgedChecked += result.acknowledgedChecked;
        summary.unknownRetried += result.unknownRetried;
      }
      const shown = options.cases === undefined ? `N = 1..${calls}, once and sticky` : cases.map(({ nth, sticky }) => `#${nth}${sticky ? ' sticky' : ''}`).join(', ');
      options.log?.(
        `${mode}: ${target.name} ${op}: ${calls} calls, ${shown}, ${row.fired} of ${row.cases} faults fired` +
          (unfired.length > 0 ? ` (not reached: ${unfired.join(', ')})` : ''),
      );
    }
  }
  return summary;
}

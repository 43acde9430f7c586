/**
 * The closed-loop load of one step (spec/bench.md, sections 2.1, 2.4, 2.5).
 *
 * L1. A step starts `callers` async callers together. Each holds at most one operation in flight,
 *     records its outcome and starts the next one at once (no think time), until wall time passes
 *     warm-up + window. Then nothing new starts and the step waits for every operation to settle.
 * L2. An operation counts in latency and throughput only if it started at or after the end of the
 *     warm-up; the counts used by verification cover the whole step.
 * L3. Per-operation bench work stays small: the draft is built before the timer starts
 *     (`prepare`), time is `performance.now()`, outcomes go into counters and HDR histograms.
 * L4. `OVERLOADED` is shed, never an error. Any other StoreError is an error, counted by code; a
 *     `BOOK_UNAVAILABLE` on a write is also ambiguous and stops the step. Anything that is not a
 *     StoreError is fatal: the step stops and the error is rethrown (it is a bug).
 * L5. The process's CPU time (user + system, all threads: the store's workers too) is read when
 *     the warm-up ends and when the window ends; divided by the measured successes it is the CPU
 *     cost of one operation, the figure to set beside throughput on a shared, noisy machine. A
 *     store with a server of its own (PgStore) also gives `serverCpuUs`, read at the same moments.
 * L6. `onSample` sees every measured latency (kind, ns) as it is recorded, so a process that
 *     measures for another (bench/two-process.ts) can hand its samples over exactly.
 */
import { createHistogram, type RecordableHistogram } from 'node:perf_hooks';
import { setImmediate as nextTurn } from 'node:timers/promises';

import { StoreError } from '../src/core/errors.js';

export type OpKind = 'post' | 'balance' | 'history' | 'trial-balance' | 'shed' | 'subscribe-lag';

export const OP_KINDS: readonly OpKind[] = ['post', 'balance', 'history', 'trial-balance', 'shed', 'subscribe-lag'];

/** What one operation ended with. A batch reports one count per draft. */
export interface Outcome {
  kind: OpKind;
  /** Successful operations (drafts, for a batch), deduplicated ones included. */
  ok: number;
  /** Of `ok`: replays (`Committed.txid !== draft.id`). */
  dedup: number;
  /** OVERLOADED answers (slots, for a batch). */
  shed: number;
  /** Other StoreErrors (slots, for a batch). */
  errors: readonly StoreError[];
}

const NO_ERRORS: readonly StoreError[] = Object.freeze([]);

export function okOutcome(kind: OpKind, dedup: boolean): Outcome {
  return { kind, ok: 1, dedup: dedup ? 1 : 0, shed: 0, errors: NO_ERRORS };
}

/** One kind of operation: `prepare` runs before the timer starts, `run` is timed. */
export interface Operation<Arg> {
  /** The kind a thrown StoreError is counted under. */
  kindOf(arg: Arg): OpKind;
  /** True when the operation writes (a BOOK_UNAVAILABLE is then ambiguous). */
  writes(arg: Arg): boolean;
  prepare(caller: number, n: number): Arg;
  run(arg: Arg): Promise<Outcome>;
}

export interface StepOptions {
  callers: number;
  warmupMs: number;
  windowMs: number;
  /** Called after a shed answer before the caller's next operation (default: one event-loop turn). */
  afterShed?: () => Promise<unknown>;
  /** Progress line on standard error, when it is a terminal. */
  progressLabel?: string;
  /** L5: CPU µs of the store's server processes so far, or null when not visible. */
  serverCpuUs?: () => number | null;
  /** L6. */
  onSample?: (kind: OpKind, ns: number) => void;
}

export interface StepMeasurement {
  callers: number;
  measuredS: number;
  /** Whole step, warm-up included: successful operations of every kind. */
  successes: number;
  /** Whole step, warm-up included: successful writes (drafts), the count verification uses. */
  commits: number;
  dedup: number;
  shed: number;
  errors: Record<string, number>;
  ambiguous: number;
  /** Successful operations that started after the warm-up, all kinds. */
  measuredSuccesses: number;
  histograms: Partial<Record<OpKind, RecordableHistogram>>;
  /** Shed answers that were not StoreError OVERLOADED with a `book` field (overload rule). */
  malformedShed: number;
  /** CPU time of the whole process (every thread) during the measured window, in µs (L5). */
  cpuUs: number;
  /** CPU time of the store's server processes during the window, in µs, or null (L5). */
  serverCpuUs: number | null;
}

export function newHistogram(): RecordableHistogram {
  return createHistogram({ lowest: 1, highest: 3_600_000_000_000, figures: 3 });
}

/** Records a duration in nanoseconds (at least 1, the histogram's lowest value). */
export function recordNs(histogram: RecordableHistogram, ns: number): void {
  histogram.record(Math.max(1, Math.min(3_600_000_000_000, Math.round(ns))));
}

/** A measurement with nothing counted yet. */
export function newMeasurement(callers: number, measuredS: number): StepMeasurement {
  return {
    callers,
    measuredS,
    successes: 0,
    commits: 0,
    dedup: 0,
    shed: 0,
    errors: {},
    ambiguous: 0,
    measuredSuccesses: 0,
    histograms: {},
    malformedShed: 0,
    cpuUs: 0,
    serverCpuUs: null,
  };
}

/** Runs one closed-loop step and returns its counters and histograms (L1-L5). */
export async function runClosedLoop<Arg>(operation: Operation<Arg>, options: StepOptions): Promise<StepMeasurement> {
  const measurement = newMeasurement(options.callers, options.windowMs / 1000);
  const histogramOf = (kind: OpKind): RecordableHistogram => (measurement.histograms[kind] ??= newHistogram());
  const startMs = performance.now();
  const warmEndMs = startMs + options.warmupMs;
  const endMs = warmEndMs + options.windowMs;
  let stopped = false;
  let fatal: unknown = null;
  const afterShed = options.afterShed ?? (() => nextTurn());
  const onSample = options.onSample;

  const record = (outcome: Outcome, startedMs: number, elapsedNs: number): void => {
    const measured = startedMs >= warmEndMs;
    measurement.successes += outcome.ok;
    measurement.dedup += outcome.dedup;
    measurement.shed += outcome.shed;
    for (const error of outcome.errors) measurement.errors[error.code] = (measurement.errors[error.code] ?? 0) + 1;
    if (!measured) return;
    measurement.measuredSuccesses += outcome.ok;
    if (outcome.ok > 0) {
      const histogram = histogramOf(outcome.kind);
      for (let index = 0; index < outcome.ok; index++) recordNs(histogram, elapsedNs);
      if (onSample !== undefined) for (let index = 0; index < outcome.ok; index++) onSample(outcome.kind, elapsedNs);
    }
    if (outcome.shed > 0 && outcome.ok === 0) {
      // The latency of an OVERLOADED answer; a retried success (overload pass B) is a `post`.
      const histogram = histogramOf('shed');
      for (let index = 0; index < outcome.shed; index++) recordNs(histogram, elapsedNs);
      if (onSample !== undefined) for (let index = 0; index < outcome.shed; index++) onSample('shed', elapsedNs);
    }
  };

  const caller = async (callerIndex: number): Promise<void> => {
    for (let n = 0; !stopped && performance.now() < endMs; n++) {
      const arg = operation.prepare(callerIndex, n);
      const startedMs = performance.now();
      let outcome: Outcome;
      try {
        outcome = await operation.run(arg);
      } catch (error) {
        if (!(error instanceof StoreError)) {
          fatal ??= error;
          stopped = true;
          return;
        }
        if (error.code === 'OVERLOADED') {
          if (typeof (error as { book?: unknown }).book !== 'string') measurement.malformedShed++;
          outcome = { kind: operation.kindOf(arg), ok: 0, dedup: 0, shed: 1, errors: NO_ERRORS };
        } else {
          outcome = { kind: operation.kindOf(arg), ok: 0, dedup: 0, shed: 0, errors: [error] };
          if (error.code === 'BOOK_UNAVAILABLE' && operation.writes(arg)) {
            measurement.ambiguous++;
            stopped = true; // the book is dead: issue nothing more (section 2.4)
          }
        }
      }
      record(outcome, startedMs, (performance.now() - startedMs) * 1e6);
      if (operation.writes(arg)) measurement.commits += outcome.ok;
      if (outcome.shed > 0 && outcome.ok === 0) await afterShed();
    }
  };

  // L5: the window's CPU time, read by timers at its two ends.
  const server = serverCpuWindow(options.serverCpuUs);
  let cpuAtWarmEnd = process.cpuUsage();
  let cpuWindow: NodeJS.CpuUsage | null = null;
  const warmTimer = setTimeout(() => {
    cpuAtWarmEnd = process.cpuUsage();
    server.start();
  }, options.warmupMs);
  const endTimer = setTimeout(() => {
    cpuWindow = process.cpuUsage(cpuAtWarmEnd);
    server.end();
  }, options.warmupMs + options.windowMs);
  const progress = startProgress(options.progressLabel, measurement, startMs);
  try {
    await Promise.all(Array.from({ length: options.callers }, (_, index) => caller(index)));
  } finally {
    progress?.();
    clearTimeout(warmTimer);
    clearTimeout(endTimer);
  }
  const window: NodeJS.CpuUsage = cpuWindow ?? process.cpuUsage(cpuAtWarmEnd);
  measurement.cpuUs = window.user + window.system;
  measurement.serverCpuUs = server.result();
  if (fatal !== null) throw fatal;
  return measurement;
}

/** L5 for a server: its CPU µs between `start` and `end` (or until `result`, if `end` never ran). */
export function serverCpuWindow(read: (() => number | null) | undefined): { start(): void; end(): void; result(): number | null } {
  let startUs: number | null = null;
  let endUs: number | null = null;
  return {
    start: () => void (startUs = read?.() ?? null),
    end: () => void (endUs = read?.() ?? null),
    result: () => {
      const last = endUs ?? read?.() ?? null;
      return startUs === null || last === null ? null : last - startUs;
    },
  };
}

/** One progress line on standard error, rewritten twice a second, only on a terminal. */
function startProgress(label: string | undefined, measurement: StepMeasurement, startMs: number): (() => void) | null {
  if (label === undefined || !process.stderr.isTTY) return null;
  let lastCount = 0;
  let lastMs = startMs;
  const timer = setInterval(() => {
    const nowMs = performance.now();
    const rate = ((measurement.successes - lastCount) * 1000) / Math.max(1, nowMs - lastMs);
    lastCount = measurement.successes;
    lastMs = nowMs;
    process.stderr.write(
      `\r\x1b[2K  ${label}: ${Math.round(rate).toLocaleString('en-US')} ops/s, shed ${measurement.shed}, dedup ${measurement.dedup}`,
    );
  }, 500);
  timer.unref();
  return () => {
    clearInterval(timer);
    process.stderr.write('\r\x1b[2K');
  };
}

/** Sleeps `ms` milliseconds. */
export function sleepMs(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

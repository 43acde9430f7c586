/**
 * The `/p2` steps (spec/postgres-store.md 9.1): one step's callers split over two Node processes,
 * each with its own PgStore on the same database, the way several application processes share a
 * PostgreSQL ledger. This file is both the driver's side and the child's (run as a child when it is
 * the main module).
 *
 * Q1. Caller i of the step is the same caller in one process or two: the first child runs callers
 *     0 … ⌈c/2⌉−1, the second the rest, so books and idempotency keys match the one-process step.
 * Q2. Both children open their store, report ready, and start together on one `go`; each runs the
 *     closed loop of bench/load.ts with the step's window and a warm-up of at least
 *     P2_WARMUP_MIN_MS: the children are fresh processes (cold JIT, new connections) set beside a
 *     store that has run the whole scenario, and with the default 1 s warm-up they measured half
 *     the one-process rate at twice its Node CPU per commit, against 1.01× with a 3 s warm-up.
 *     Warm-up commits still count for verification.
 * Q3. The step's measurement is the sum of both: counts, errors and Node CPU (each child's own
 *     process), and every measured latency, handed over sample by sample (load.ts L6) and recorded
 *     into one histogram per kind, so percentiles are exact. The server's CPU is read here, on the
 *     same timers relative to `go`.
 * Q4. A child that fails, or exits without its result, fails the step (a fatal error of the run).
 */
import { fork, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { PgStore } from '../src/postgres/index.js';
import { pgOptionsOf, type StoreHandle, type StoreOverrides } from './contenders.js';
import { newHistogram, newMeasurement, recordNs, runClosedLoop, serverCpuWindow, type OpKind, type StepMeasurement } from './load.js';
import { commitOperation } from './operations.js';
import type { ScenarioParams } from './scenario.js';
import { mixedOperation } from './scenarios/mixed.js';
import { benchBook, DraftFactory } from './workload.js';

type StepParams = Pick<ScenarioParams, 'runId' | 'warmupMs' | 'windowMs' | 'postingsPerTx' | 'mixedBooks' | 'mixedWeights'>;

export interface TwoProcessTask {
  scenario: 'post-one-book' | 'mixed';
  /** The key part of the step (`c64/p2`). */
  stepKey: string;
  params: StepParams;
  /** mixed: each book's seq before the load (the history cursor's bound). */
  beforeSeqs: Record<string, number>;
}

interface ChildTask extends TwoProcessTask {
  url: string;
  overrides: StoreOverrides;
  callers: number;
  callerBase: number;
}

type ChildMessage =
  | { type: 'ready' }
  | { type: 'result'; measurement: Omit<StepMeasurement, 'histograms'>; samples: Partial<Record<OpKind, Float64Array>> }
  | { type: 'fatal'; message: string };

const SELF = fileURLToPath(import.meta.url);

/** Q2. */
export const P2_WARMUP_MIN_MS = 3_000;

/** Runs one step over two processes on `handle`'s database (Q1-Q4). */
export async function runTwoProcesses(handle: StoreHandle, task: TwoProcessTask, callers: number): Promise<StepMeasurement> {
  if (handle.pgUrl === undefined) throw new Error('a /p2 step needs a postgres handle');
  const first = Math.ceil(callers / 2);
  const shares = [
    { callerBase: 0, callers: first },
    { callerBase: first, callers: callers - first },
  ];
  const children: ChildProcess[] = [];
  const server = serverCpuWindow(handle.serverCpuUs);
  task = { ...task, params: { ...task.params, warmupMs: Math.max(task.params.warmupMs, P2_WARMUP_MIN_MS) } };
  const timers: NodeJS.Timeout[] = [];
  try {
    const results = shares.map((share) => {
      const child = fork(SELF, [], { execArgv: [], serialization: 'advanced', stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
      children.push(child);
      const childTask: ChildTask = { ...task, url: handle.pgUrl!, overrides: handle.overrides, ...share };
      let readyResolve!: () => void;
      const ready = new Promise<void>((resolve) => (readyResolve = resolve));
      const result = new Promise<ChildMessage & { type: 'result' }>((resolve, reject) => {
        child.on('message', (message: ChildMessage) => {
          if (message.type === 'ready') readyResolve();
          else if (message.type === 'result') resolve(message);
          else reject(new Error(`a /p2 child failed: ${message.message}`));
        });
        child.on('exit', (code, signal) => reject(new Error(`a /p2 child exited (${signal ?? code}) without its result`)));
        child.on('error', reject);
      });
      result.catch(() => undefined); // awaited below; a child killed after a failure elsewhere must not crash the run
      child.send(childTask);
      return { ready, result };
    });
    // A child that fails before ready would leave `ready` pending: race it with its result.
    await Promise.all(results.map(({ ready, result }) => Promise.race([ready, result.then(() => undefined)])));
    for (const child of children) child.send({ type: 'go' });
    timers.push(setTimeout(() => server.start(), task.params.warmupMs));
    timers.push(setTimeout(() => server.end(), task.params.warmupMs + task.params.windowMs));
    const measured = await Promise.all(results.map(({ result }) => result));
    return merge(callers, task.params.windowMs / 1000, measured, server.result());
  } finally {
    for (const timer of timers) clearTimeout(timer);
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill();
  }
}

function merge(
  callers: number,
  measuredS: number,
  parts: Array<{ measurement: Omit<StepMeasurement, 'histograms'>; samples: Partial<Record<OpKind, Float64Array>> }>,
  serverCpuUs: number | null,
): StepMeasurement {
  const total = newMeasurement(callers, measuredS);
  for (const { measurement, samples } of parts) {
    total.successes += measurement.successes;
    total.commits += measurement.commits;
    total.dedup += measurement.dedup;
    total.shed += measurement.shed;
    total.ambiguous += measurement.ambiguous;
    total.measuredSuccesses += measurement.measuredSuccesses;
    total.malformedShed += measurement.malformedShed;
    total.cpuUs += measurement.cpuUs;
    for (const [code, count] of Object.entries(measurement.errors)) total.errors[code] = (total.errors[code] ?? 0) + count;
    for (const [kind, values] of Object.entries(samples) as Array<[OpKind, Float64Array]>) {
      const histogram = (total.histograms[kind] ??= newHistogram());
      for (const ns of values) recordNs(histogram, ns);
    }
  }
  total.serverCpuUs = serverCpuUs;
  return total;
}

// --- the child -----------------------------------------------------------------------------------

async function child(task: ChildTask): Promise<void> {
  const store = await PgStore.open(pgOptionsOf(task.url, task.overrides));
  try {
    const drafts = new DraftFactory(task.params.runId, task.scenario, task.stepKey, task.params.postingsPerTx);
    const inner =
      task.scenario === 'mixed'
        ? mixedOperation(store, drafts, task.params, new Map(Object.entries(task.beforeSeqs)))
        : commitOperation(store, drafts, () => benchBook(0));
    const operation = { ...inner, prepare: (caller: number, n: number) => inner.prepare(task.callerBase + caller, n) } as typeof inner;
    const go = new Promise<void>((resolve) => process.once('message', () => resolve()));
    process.send!({ type: 'ready' } satisfies ChildMessage);
    await go;
    const samples = new Map<OpKind, number[]>();
    const { histograms: _histograms, ...measurement } = await runClosedLoop(operation as Parameters<typeof runClosedLoop>[0], {
      callers: task.callers,
      warmupMs: task.params.warmupMs,
      windowMs: task.params.windowMs,
      onSample: (kind, ns) => {
        let list = samples.get(kind);
        if (list === undefined) samples.set(kind, (list = []));
        list.push(ns);
      },
    });
    const packed: Partial<Record<OpKind, Float64Array>> = {};
    for (const [kind, list] of samples) packed[kind] = Float64Array.from(list);
    process.send!({ type: 'result', measurement, samples: packed } satisfies ChildMessage);
  } finally {
    await store.close();
  }
}

if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === SELF && process.send !== undefined) {
  process.once('message', (task: ChildTask) => {
    child(task).then(
      () => process.disconnect(),
      (error: unknown) => {
        process.send!({ type: 'fatal', message: error instanceof Error ? (error.stack ?? error.message) : String(error) } satisfies ChildMessage, () => process.exit(1));
      },
    );
  });
}

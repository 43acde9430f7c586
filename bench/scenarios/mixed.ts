/**
 * mixed (spec/bench.md, section 2.6): caller w uses book `bench-(w mod books)`; its operation is
 * chosen by `n mod 100` against cumulative integer weights (60 post / 25 balance / 10 history /
 * 5 trial-balance by default), with no random drift. Four subscribers follow books from right
 * after their before-probe; each event's subscribe lag (now − its commit time `at`, wall clock in
 * microseconds) goes into one histogram, reported as the pseudo-step `subscribe-lag`. The
 * subscribers are aborted after the last step. The `c<N>/p2` steps (PgStore only) split the
 * callers over two Node processes (bench/two-process.ts); the subscribers stay in this one, so
 * during those steps they follow another process's commits: that lag goes into its own pseudo-step
 * `subscribe-lag/p2` (spec/postgres-store.md 9.4 sets apart floors for the same and another process).
 */
import type { Store } from '../../src/core/store.js';
import { parseTimestampUs } from '../../src/core/time.js';
import type { Transaction } from '../../src/core/types.js';
import type { StoreHandle } from '../contenders.js';
import { newHistogram, newMeasurement, recordNs, runClosedLoop, type OpKind, type Operation, type Outcome, type StepMeasurement } from '../load.js';
import { runRead, type ReadKind } from '../operations.js';
import { plainStep, type MixedWeights, type Scenario, type ScenarioParams } from '../scenario.js';
import { runTwoProcesses } from '../two-process.js';
import { benchBook, DraftFactory, seedBooks, splitmix64Below } from '../workload.js';
import { okOutcome } from '../load.js';

interface MixedArg {
  kind: OpKind;
  draft: Transaction | null;
  book: string;
  cursor: number;
}

interface SubscriberState {
  controller: AbortController;
  loops: Promise<void>[];
  /** Lag of this process's own commits. */
  lag: StepMeasurement;
  /** Lag of the commits of other processes (the `/p2` steps). */
  otherLag: StepMeasurement;
  /** Where the subscribers record now: `otherLag` while a `/p2` step runs. */
  recording: StepMeasurement;
  beforeSeqs: Map<string, number>;
}

const states = new WeakMap<StoreHandle, SubscriberState>();

/** The op kind of operation n: `n mod 100` against cumulative weights. */
export function mixedKindOf(n: number, weights: MixedWeights): OpKind {
  const slot = n % 100;
  if (slot < weights.post) return 'post';
  if (slot < weights.post + weights.balance) return 'balance';
  if (slot < weights.post + weights.balance + weights.history) return 'history';
  return 'trial-balance';
}

function wallClockUsNow(): number {
  return (performance.timeOrigin + performance.now()) * 1000;
}

async function follow(store: Store, book: string, from: number, signal: AbortSignal, state: SubscriberState): Promise<void> {
  try {
    for await (const event of store.subscribe(book, from, { signal })) {
      const atUs = parseTimestampUs(event.at)!;
      const lag = state.recording;
      recordNs((lag.histograms['subscribe-lag'] ??= newHistogram()), (wallClockUsNow() - atUs) * 1000);
      lag.successes++;
    }
  } catch (error) {
    if ((error as { name?: string }).name !== 'AbortError') throw error;
  }
}

/** The mixed operation of caller w, n: its kind by weight, on book `w mod books` (shared with bench/two-process.ts). */
export function mixedOperation(
  store: Store,
  drafts: DraftFactory,
  params: Pick<ScenarioParams, 'mixedBooks' | 'mixedWeights'>,
  beforeSeqs: ReadonlyMap<string, number>,
): Operation<MixedArg> {
  return {
    kindOf: (arg) => arg.kind,
    writes: (arg) => arg.kind === 'post',
    prepare(caller, n) {
      const book = benchBook(caller % params.mixedBooks);
      const kind = mixedKindOf(n, params.mixedWeights);
      return {
        kind,
        book,
        draft: kind === 'post' ? drafts.draft(book, caller, n) : null,
        cursor: kind === 'history' ? splitmix64Below(caller, n, beforeSeqs.get(book)!) : 0,
      };
    },
    async run(arg): Promise<Outcome> {
      if (arg.draft !== null) {
        const committed = await store.commit(arg.draft);
        return okOutcome('post', committed.txid !== arg.draft.id);
      }
      return runRead(store, { kind: arg.kind as ReadKind, account: { book: arg.book, path: 'cash' }, cursor: arg.cursor });
    },
  };
}

export const mixed: Scenario = {
  name: 'mixed',
  writes: true,

  steps: (params) => [
    ...params.mixedConcurrency.map((c) => plainStep(`c${c}`)),
    ...params.p2MixedConcurrency.map((c) => ({ ...plainStep(`c${c}/p2`), processes: 2 })),
  ],
  books: (params) => Array.from({ length: params.mixedBooks }, (_, index) => benchBook(index)),
  overrides: () => ({}),
  variants: () => [],

  async setup(handle, params) {
    await seedBooks(handle.store, this.books(params));
  },

  async afterProbes(handle, params, before) {
    const lag = newMeasurement(params.mixedSubscribers, 0);
    const state: SubscriberState = {
      controller: new AbortController(),
      loops: [],
      lag,
      otherLag: newMeasurement(params.mixedSubscribers, 0),
      recording: lag,
      beforeSeqs: new Map(before),
    };
    for (let index = 0; index < params.mixedSubscribers; index++) {
      const book = benchBook(index % params.mixedBooks);
      state.loops.push(follow(handle.store, book, before.get(book)! + 1, state.controller.signal, state));
    }
    states.set(handle, state);
  },

  async runStep(handle, step, params) {
    const state = states.get(handle)!;
    const callers = Number(/^c(\d+)/.exec(step.label)![1]);
    if (step.processes === 2) {
      state.recording = state.otherLag;
      try {
        return await runTwoProcesses(handle, { scenario: 'mixed', stepKey: step.label, params, beforeSeqs: Object.fromEntries(state.beforeSeqs) }, callers);
      } finally {
        state.recording = state.lag;
      }
    }
    const drafts = new DraftFactory(params.runId, 'mixed', step.label, params.postingsPerTx);
    return runClosedLoop(mixedOperation(handle.store, drafts, params, state.beforeSeqs), {
      callers,
      warmupMs: params.warmupMs,
      windowMs: params.windowMs,
      progressLabel: `mixed ${step.label} ${handle.contender}`,
      serverCpuUs: handle.serverCpuUs,
    });
  },

  async finish(handle: StoreHandle, _params: ScenarioParams) {
    const state = states.get(handle);
    if (state === undefined) return [];
    states.delete(handle);
    state.controller.abort();
    await Promise.all(state.loops);
    const steps = [{ label: 'subscribe-lag', kind: 'subscribe-lag' as const, measurement: state.lag }];
    if (state.otherLag.successes > 0) steps.push({ label: 'subscribe-lag/p2', kind: 'subscribe-lag', measurement: state.otherLag });
    return steps;
  },
};

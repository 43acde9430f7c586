/**
 * overload (spec/bench.md, section 2.6): two passes on `bench-0` with far more callers than the
 * book's queue holds: 4 × the per-book queue bound both stores run with here, at least 1024.
 *
 * - Pass A, `raw-overloaded`: no retries. An OVERLOADED answer is shed; the caller moves on to its
 *   next draft after one event-loop turn (a shed answer settles within the turn, so without the
 *   yield the shed callers would keep the store from ever getting a turn). The run fails if a
 *   shed answer lacks its `book` field, or if goodput is zero; it warns if nothing was shed.
 * - Pass B, `retry-to-success`: on OVERLOADED the caller waits (1 ms, doubling to 64 ms, with
 *   jitter) and resends the same draft (same key, same content); latency includes the waits. The
 *   run fails if the pass lands no commits.
 * Both report an error rate, errors ÷ (successes + shed + errors), instead of leaning on p99.
 */
import { StoreError } from '../../src/core/errors.js';
import type { Transaction } from '../../src/core/types.js';
import { runClosedLoop, sleepMs, type Operation } from '../load.js';
import { commitOperation } from '../operations.js';
import type { Scenario, StepRun } from '../scenario.js';
import { benchBook, DraftFactory, seedBooks } from '../workload.js';

const BOOK = benchBook(0);
const BACKOFF_FIRST_MS = 1;
const BACKOFF_MAX_MS = 64;

export function overloadCallers(queueDepthMax: number): number {
  return Math.max(1024, 4 * queueDepthMax);
}

export const overload: Scenario = {
  name: 'overload',
  writes: true,

  steps: () => [
    { label: 'raw-overloaded', heading: '', batchSize: 1, rawK: null, variant: '' },
    { label: 'retry-to-success', heading: '', batchSize: 1, rawK: null, variant: '' },
  ],
  books: () => [BOOK],
  overrides: (params) => ({ queueDepthMax: params.overloadQueueDepthMax }),
  variants: () => [],

  async setup(handle) {
    await seedBooks(handle.store, [BOOK]);
  },

  async runStep(handle, step, params): Promise<StepRun> {
    const drafts = new DraftFactory(params.runId, 'overload', step.label, params.postingsPerTx);
    const options = {
      callers: overloadCallers(params.overloadQueueDepthMax),
      warmupMs: params.warmupMs,
      windowMs: params.windowMs,
      progressLabel: `overload ${step.label} ${handle.contender}`,
      serverCpuUs: handle.serverCpuUs,
    };
    const notes: string[] = [];
    const failures: string[] = [];
    if (step.label === 'raw-overloaded') {
      const run = await runClosedLoop(commitOperation(handle.store, drafts, () => BOOK), options);
      if (run.malformedShed > 0) failures.push(`${run.malformedShed} OVERLOADED answers without a book field`);
      if (run.successes === 0) failures.push('goodput fell to zero');
      if (run.shed === 0) notes.push('no OVERLOADED answer: the queue bound was never reached');
      return { ...run, notes, failures };
    }
    const store = handle.store;
    const retrying: Operation<Transaction> = {
      kindOf: () => 'post',
      writes: () => true,
      prepare: (caller, n) => drafts.draft(BOOK, caller, n),
      async run(draft) {
        let shed = 0;
        for (let waitMs = BACKOFF_FIRST_MS; ; waitMs = Math.min(BACKOFF_MAX_MS, waitMs * 2)) {
          try {
            const committed = await store.commit(draft);
            return { kind: 'post', ok: 1, dedup: committed.txid !== draft.id ? 1 : 0, shed, errors: [] };
          } catch (error) {
            if (!(error instanceof StoreError) || error.code !== 'OVERLOADED') throw error;
            shed++;
            await sleepMs(waitMs * (0.5 + Math.random() / 2));
          }
        }
      },
    };
    const run = await runClosedLoop(retrying, options);
    if (run.successes === 0) failures.push('the retry pass landed no commits');
    return { ...run, notes, failures };
  },
};

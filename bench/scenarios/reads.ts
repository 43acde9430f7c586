/**
 * reads (spec/bench.md, section 2.6): `bench-read` is seeded to `depth` transactions, then per
 * concurrency three separate steps: `balance/c<N>` (balance of `cash`), `history/c<N>`
 * (`accountHistory(cash, cursor, 100)`, the cursor pseudo-random in [0, top seq) from
 * splitmix64(caller, n), computed before the timer starts) and `trial-balance/c<N>`. Nothing is
 * written during the steps, so there is no verification.
 */
import { runClosedLoop, type Operation } from '../load.js';
import { runRead, type ReadArg, type ReadKind } from '../operations.js';
import type { Scenario, StepSpec } from '../scenario.js';
import { READ_BOOK, seedBooks, seedDepth, splitmix64Below } from '../workload.js';

const KINDS: readonly ReadKind[] = ['balance', 'history', 'trial-balance'];
const CASH = { book: READ_BOOK, path: 'cash' };

export const reads: Scenario = {
  name: 'reads',
  writes: false,

  steps(params) {
    const steps: StepSpec[] = [];
    for (const c of params.readConcurrency) {
      for (const kind of KINDS) steps.push({ label: `${kind}/c${c}`, heading: '', batchSize: 1, rawK: null, variant: '' });
    }
    return steps;
  },

  books: () => [READ_BOOK],
  overrides: () => ({}),
  variants: () => [],

  async setup(handle, params) {
    await seedBooks(handle.store, [READ_BOOK]);
    await seedDepth(handle.store, READ_BOOK, params.depth, params.postingsPerTx);
  },

  async runStep(handle, step, params) {
    const [kindText, callersText] = step.label.split('/c') as [string, string];
    const kind = kindText as ReadKind;
    const topSeq = params.depth + 2; // two account_opened events, then the seeded transactions
    const operation: Operation<ReadArg> = {
      kindOf: () => kind,
      writes: () => false,
      prepare: (caller, n) => ({ kind, account: CASH, cursor: kind === 'history' ? splitmix64Below(caller, n, topSeq) : 0 }),
      run: (arg) => runRead(handle.store, arg),
    };
    return runClosedLoop(operation, {
      callers: Number(callersText),
      warmupMs: params.warmupMs,
      windowMs: params.windowMs,
      progressLabel: `reads ${step.label} ${handle.contender}`,
      serverCpuUs: handle.serverCpuUs,
    });
  },
};

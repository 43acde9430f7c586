/**
 * post-one-book (spec/bench.md, section 2.6): closed-loop `commit` on one book, `bench-0`, one
 * step per concurrency (`c<N>`); then the batch variants, where each caller iteration is one
 * `commitBatch` of N unique drafts (`c<C>` under a `batch-<N>` heading). The book keeps growing
 * across the sweep. The raw limit at k = c runs beside each step whose k is in the raw list. The
 * `c<N>/p2` steps (PgStore only) split the N callers over two Node processes, each with its own
 * PgStore on the same database (bench/two-process.ts).
 */
import { runClosedLoop } from '../load.js';
import { batchOperation, commitOperation } from '../operations.js';
import { plainStep, type Scenario, type StepSpec } from '../scenario.js';
import { runTwoProcesses } from '../two-process.js';
import { benchBook, DraftFactory, seedBooks } from '../workload.js';

const BOOK = benchBook(0);

export const postOneBook: Scenario = {
  name: 'post-one-book',
  writes: true,

  steps(params) {
    const rawK = (k: number): number | null => (params.rawSizes.includes(k) ? k : null);
    const steps: StepSpec[] = params.concurrency.map((c) => ({ label: `c${c}`, heading: '', batchSize: 1, rawK: rawK(c), variant: '' }));
    for (const size of params.batchSizes) {
      steps.push({ label: `c${params.batchCallers}`, heading: `batch-${size}`, batchSize: size, rawK: rawK(size), variant: '' });
    }
    for (const c of params.p2Concurrency) steps.push({ ...plainStep(`c${c}/p2`), processes: 2 });
    return steps;
  },

  books: () => [BOOK],
  overrides: () => ({}),
  variants: () => [],

  async setup(handle) {
    await seedBooks(handle.store, [BOOK]);
  },

  async runStep(handle, step, params) {
    const stepKey = step.heading === '' ? step.label : `${step.heading}/${step.label}`;
    const drafts = new DraftFactory(params.runId, 'post-one-book', stepKey, params.postingsPerTx);
    const callers = Number(/^c(\d+)/.exec(step.label)![1]);
    if (step.processes === 2) return runTwoProcesses(handle, { scenario: 'post-one-book', stepKey, params, beforeSeqs: {} }, callers);
    const options = {
      callers,
      warmupMs: params.warmupMs,
      windowMs: params.windowMs,
      progressLabel: `post-one-book ${stepKey} ${handle.contender}`,
      serverCpuUs: handle.serverCpuUs,
    };
    if (step.batchSize === 1) return runClosedLoop(commitOperation(handle.store, drafts, () => BOOK), options);
    return runClosedLoop(batchOperation(handle.store, drafts, BOOK, step.batchSize), options);
  },
};

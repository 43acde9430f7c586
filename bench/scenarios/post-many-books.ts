/**
 * post-many-books (spec/bench.md, section 2.6): callers = books × per-book concurrency; caller w
 * writes to `bench-(w mod n)`; step label `books<N>`. Every book of the sweep is seeded before it.
 * The `books<N>/w1` steps run the same load on a LogStore opened with `workers: 1`, to show what
 * sharding across workers buys. SQLite has one WAL writer for every book by design.
 */
import { runClosedLoop } from '../load.js';
import { commitOperation } from '../operations.js';
import type { Scenario, StepSpec } from '../scenario.js';
import { benchBook, DraftFactory, seedBooks } from '../workload.js';

function bookCountOf(label: string): number {
  return Number(/^books(\d+)/.exec(label)![1]);
}

export const postManyBooks: Scenario = {
  name: 'post-many-books',
  writes: true,

  steps(params) {
    const steps: StepSpec[] = params.books.map((n) => ({ label: `books${n}`, heading: '', batchSize: 1, rawK: null, variant: '' }));
    for (const n of params.booksW1) steps.push({ label: `books${n}/w1`, heading: '', batchSize: 1, rawK: null, variant: 'w1' });
    return steps;
  },

  books(params) {
    const count = Math.max(...params.books, ...params.booksW1);
    return Array.from({ length: count }, (_, index) => benchBook(index));
  },

  overrides: () => ({}),
  variants: (params) => (params.booksW1.length > 0 ? [{ variant: 'w1', overrides: { workers: 1 } }] : []),

  async setup(handle, params) {
    await seedBooks(handle.store, this.books(params));
  },

  async runStep(handle, step, params) {
    const bookCount = bookCountOf(step.label);
    const books = Array.from({ length: bookCount }, (_, index) => benchBook(index));
    const drafts = new DraftFactory(params.runId, 'post-many-books', step.label, params.postingsPerTx);
    return runClosedLoop(
      commitOperation(handle.store, drafts, (caller) => books[caller % bookCount]!),
      {
        callers: bookCount * params.perBookConcurrency,
        warmupMs: params.warmupMs,
        windowMs: params.windowMs,
        progressLabel: `post-many-books ${step.label} ${handle.contender}`,
      serverCpuUs: handle.serverCpuUs,
      },
    );
  },
};

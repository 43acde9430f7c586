/**
 * The bench's verifier (spec/bench.md, section 2.8, item 4): an exact count passes with no
 * warning; an over-count fails with SEQ MISMATCH; a count inside the ambiguous window passes with
 * one warning; an unbalanced row fails with UNBALANCED. Plus the same checks end to end against
 * a MemoryStore: the probes, a double post and a lost acknowledgement. And on PgStore (the server
 * in TALEA_PG_URL, or one this file starts): a `/p2` step's two processes are both counted, exactly.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { checkSeqCount, checkTrialBalance, probeBefore, verifyAfter } from '../bench/verify.js';
import { DraftFactory, seedBooks, splitmix64Below } from '../bench/workload.js';
import { mixedKindOf } from '../bench/scenarios/mixed.js';
import { MemoryStore } from '../src/memory/memory-store.js';
import { closeHandle, openHandle, usePgServer } from '../bench/contenders.js';
import { runTwoProcesses } from '../bench/two-process.js';
import { pgServer } from './support/pg-server.js';

describe('bench verifier', () => {
  test('an exact count passes with no warning', () => {
    const check = checkSeqCount(12, 10, 2, 0);
    assert.equal(check.ok, true);
    assert.deepEqual(check.warnings, []);
    assert.equal(check.expectedMin, 12);
    assert.equal(check.expectedMax, 12);
  });

  test('an over-count fails with SEQ MISMATCH', () => {
    const check = checkSeqCount(13, 10, 2, 0);
    assert.equal(check.ok, false);
    assert.match(check.error ?? '', /^SEQ MISMATCH/);
  });

  test('an under-count (a lost acknowledgement) fails with SEQ MISMATCH', () => {
    const check = checkSeqCount(11, 10, 2, 0);
    assert.equal(check.ok, false);
    assert.match(check.error ?? '', /^SEQ MISMATCH/);
  });

  test('a count inside the ambiguous window passes with one warning', () => {
    const check = checkSeqCount(14, 10, 2, 3);
    assert.equal(check.ok, true);
    assert.equal(check.warnings.length, 1);
    assert.match(check.warnings[0]!, /2 of 3 ambiguous outcomes did commit/);
    assert.equal(checkSeqCount(16, 10, 2, 3).ok, false, 'above the window fails');
  });

  test('an unbalanced row fails with UNBALANCED, a balanced one passes', () => {
    assert.equal(checkTrialBalance('b', [{ asset: 'USD', debits: 5n, credits: 5n }]), null);
    assert.match(checkTrialBalance('b', [{ asset: 'USD', debits: 5n, credits: 4n }]) ?? '', /^UNBALANCED: book b, asset USD/);
  });

  test('end to end on a MemoryStore: exact, double post, unbalanced', async () => {
    const store = new MemoryStore();
    try {
      await seedBooks(store, ['bench-0', 'bench-1']);
      const marks = await probeBefore(store, 'run', ['bench-0', 'bench-1'], 'case-r0');
      const drafts = new DraftFactory('run', 'case', 'c1', 2);
      for (let n = 0; n < 5; n++) await store.commit(drafts.draft(n % 2 === 0 ? 'bench-0' : 'bench-1', 0, n));
      const exact = await verifyAfter(store, 'run', marks, 5, 0);
      assert.equal(exact.ok, true, exact.error ?? '');
      assert.equal(exact.observed, 7);

      // Six commits acknowledged as five: the count is off by one.
      const again = await probeBefore(store, 'run', ['bench-0'], 'case-r1');
      for (let n = 0; n < 6; n++) await store.commit(drafts.draft('bench-0', 1, n));
      const doubled = await verifyAfter(store, 'run', again, 5, 0);
      assert.equal(doubled.ok, false);
      assert.match(doubled.error ?? '', /SEQ MISMATCH/);

      // An unbalanced transaction shows in the trial balance.
      const third = await probeBefore(store, 'run', ['bench-1'], 'case-r2');
      const lopsided = drafts.draft('bench-1', 2, 0);
      lopsided.postings = lopsided.postings.slice(0, 1);
      await store.commit(lopsided);
      const unbalanced = await verifyAfter(store, 'run', third, 1, 0);
      assert.equal(unbalanced.ok, false);
      assert.match(unbalanced.error ?? '', /UNBALANCED: book bench-1/);
    } finally {
      await store.close();
    }
  });
});

describe('bench workload', () => {
  test('mixed operations follow n mod 100 against cumulative weights', () => {
    const weights = { post: 60, balance: 25, history: 10, trialBalance: 5 };
    const counts = new Map<string, number>();
    for (let n = 0; n < 1000; n++) counts.set(mixedKindOf(n, weights), (counts.get(mixedKindOf(n, weights)) ?? 0) + 1);
    assert.deepEqual(Object.fromEntries(counts), { post: 600, balance: 250, history: 100, 'trial-balance': 50 });
    assert.equal(mixedKindOf(59, weights), 'post');
    assert.equal(mixedKindOf(60, weights), 'balance');
    assert.equal(mixedKindOf(94, weights), 'history');
    assert.equal(mixedKindOf(95, weights), 'trial-balance');
  });

  test('the history cursor is deterministic and below its bound', () => {
    for (let n = 0; n < 200; n++) {
      const cursor = splitmix64Below(3, n, 17);
      assert.ok(cursor >= 0 && cursor < 17);
      assert.equal(splitmix64Below(3, n, 17), cursor);
    }
    assert.notEqual(
      Array.from({ length: 20 }, (_, n) => splitmix64Below(0, n, 1000)).join(),
      Array.from({ length: 20 }, (_, n) => splitmix64Below(1, n, 1000)).join(),
    );
  });

  test('keys carry the run id and are unique per operation', () => {
    const drafts = new DraftFactory('20261124T063512.123', 'post-one-book', 'c8', 4);
    const first = drafts.draft('bench-0', 3, 7);
    assert.equal(first.idempotency_key, 'bench/20261124T063512.123/post-one-book/c8/3/7');
    assert.equal(first.postings.length, 4);
    assert.deepEqual(
      first.postings.map((posting) => `${posting.direction} ${posting.account.path} ${posting.amount.minor}`),
      ['debit cash 100', 'credit equity 100', 'debit cash 100', 'credit equity 100'],
    );
    assert.notEqual(drafts.draft('bench-0', 3, 7).id, first.id, 'a fresh UUID per draft');
  });
});

describe('bench verifier on PgStore', () => {
  test('a /p2 step: both processes commit on one database, and verification counts both exactly', async () => {
    const server = await pgServer();
    try {
      usePgServer(server.url);
      const handle = await openHandle('postgres', '', `/bench-verify-${process.pid}/p2-r0-postgres`, {});
      try {
        await seedBooks(handle.store, ['bench-0']);
        const marks = await probeBefore(handle.store, 'run', ['bench-0'], 'p2-r0');
        const params = { runId: 'run', warmupMs: 100, windowMs: 300, postingsPerTx: 2, mixedBooks: 1, mixedWeights: { post: 60, balance: 25, history: 10, trialBalance: 5 } };
        const step = await runTwoProcesses(handle, { scenario: 'post-one-book', stepKey: 'c4/p2', params, beforeSeqs: {} }, 4);
        assert.equal(step.callers, 4);
        assert.ok(step.commits > 0 && step.measuredSuccesses > 0, JSON.stringify({ commits: step.commits }));
        assert.equal(step.histograms.post?.count, step.measuredSuccesses, 'every measured latency was handed over');
        assert.ok(step.cpuUs > 0, 'both children report their CPU');
        const outcome = await verifyAfter(handle.store, 'run', marks, step.commits, step.ambiguous);
        assert.equal(outcome.ok, true, outcome.error ?? '');
        assert.equal(outcome.observed, step.commits + 1);
        // Two processes, distinct callers: keys of callers 0-1 and 2-3, no replay (the after-probe aside).
        assert.equal(step.dedup, 0);
        const events = await handle.store.readEvents('bench-0', marks.before.get('bench-0')! + 1, 10_000);
        const callers = new Set(events.flatMap((event) => (event.event.kind === 'transaction_posted' && event.event.idempotency_key.includes('/c4/p2/') ? [/\/(\d+)\/\d+$/.exec(event.event.idempotency_key)![1]!] : [])));
        assert.deepEqual([...callers].sort(), ['0', '1', '2', '3']);
      } finally {
        await closeHandle(handle, false);
      }
    } finally {
      await server.stop();
    }
  });
});

/**
 * Model-based property test (spec/conformance.md B18, spec/log-engine.md section 13.8): random
 * sequences of registerAsset, openAccount, commit, commitBatch, concurrent commits, reads,
 * durableSeq, snapshot, close-and-reopen and (on SimFileSystem) crash-and-reopen, with tiny
 * segment, snapshot and hot-cap settings, run against LogStore and MemoryStore side by side;
 * every answer must match. The long soak is `npm run soak`.
 *
 * The seed is random unless TALEA_MODEL_SEED is set; it is printed, and fast-check's report of a
 * failure carries it with the replay path and the shrunk counterexample.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { LogStore } from '../src/log/log-store.js';
import { MemoryStore } from '../src/memory/memory-store.js';
import type { Store } from '../src/core/store.js';
import { I64_MAX, type CommitResult, type Transaction } from '../src/core/types.js';
import { runModelCheck } from './support/model-check.js';

test('model-based: LogStore answers exactly like MemoryStore (25 runs of up to 60 commands)', async (t) => {
  const seed = process.env.TALEA_MODEL_SEED !== undefined ? Number(process.env.TALEA_MODEL_SEED) : (Date.now() ^ Math.floor(Math.random() * 0x7fffffff)) >>> 0;
  t.diagnostic(`seed ${seed} (rerun with TALEA_MODEL_SEED=${seed})`);
  const { stats } = await runModelCheck({ numRuns: 25, maxCommands: 60, seed });
  t.diagnostic(
    `runs ${stats.runs}, operations ${stats.ops}, reopens ${stats.reopens}, crashes ${stats.crashes}, ` +
      `backends: workers ${stats.byBackend.workers}, in-process ${stats.byBackend['in-process']}, sim ${stats.byBackend.sim}`,
  );
  assert(stats.runs >= 25);
  assert(stats.ops > 0);
});

// --- regressions the property found, kept as plain cases ------------------------------------------

async function bothStores(body: (store: Store, reopen: () => Promise<Store>) => Promise<unknown>): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'talea-model-regression-'));
  const clock = new BigInt64Array(new SharedArrayBuffer(8));
  Atomics.store(clock, 0, 1_767_225_600_000_000n);
  const options = { workers: 1, onWarning: () => undefined, testHooks: { clockUs: clock } };
  let log = await LogStore.open(dir, options);
  const memory = new MemoryStore({ clockUs: () => Number(Atomics.load(clock, 0)), onWarning: () => undefined });
  try {
    const expected = await body(memory, async () => memory);
    const actual = await body(log, async () => {
      await log.close();
      log = await LogStore.open(dir, options);
      return log;
    });
    assert.deepStrictEqual(actual, expected);
  } finally {
    await log.close();
    await memory.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function draft(book: string, key: string, txid: string, postings: Transaction['postings']): Transaction {
  return { id: txid, book, postings, idempotency_key: key, external_refs: [], metadata: null, occurred_at: '2026-01-01T00:00:00Z' };
}

function outcomes(results: CommitResult[]): unknown[] {
  return results.map((result) => (result.ok ? { seq: result.value.seq, txid: result.value.txid } : result.error.code));
}

test('a transaction whose running sum on one account leaves i64 while its final balance fits is committed, and survives a reopen', async () => {
  // Store-contract 7.3 step 7 bounds the per-account deltas and the final balance, not the sum
  // between two postings. LogStore used to validate it, fsync it, then fail to apply it.
  await bothStores(async (store, reopen) => {
    await store.registerAsset({ id: 'USD', class: 'fiat', precision: 2, name: 'US dollar' });
    await store.openAccount({ id: { book: 'a', path: 'cash' }, asset: 'USD', kind: 'asset' }, { normal_side: null, min_balance: null });
    await store.openAccount({ id: { book: 'a', path: 'rev' }, asset: 'USD', kind: 'income' }, { normal_side: null, min_balance: null });
    const cash = { book: 'a', path: 'cash' };
    const rev = { book: 'a', path: 'rev' };
    const first = await store.commit(
      draft('a', 'near-max', '00000000-0000-4000-8000-000000000001', [
        { account: cash, amount: { minor: I64_MAX - 10n, asset: 'USD' }, direction: 'debit' },
        { account: rev, amount: { minor: I64_MAX - 10n, asset: 'USD' }, direction: 'credit' },
      ]),
    );
    // cash: MAX - 10 + 20 would pass MAX before the credit of 20 brings it back.
    const second = await store.commit(
      draft('a', 'swing', '00000000-0000-4000-8000-000000000002', [
        { account: cash, amount: { minor: 20n, asset: 'USD' }, direction: 'debit' },
        { account: cash, amount: { minor: 20n, asset: 'USD' }, direction: 'credit' },
      ]),
    );
    const reopened = await reopen();
    return {
      first,
      second,
      balance: await reopened.balance(cash),
      asOf: await reopened.balance(cash, second.at),
      history: await reopened.accountHistory(cash, null, 10),
      events: await reopened.readEvents('a', 0, 10),
    };
  });
});

test('commitBatch: a txid shared by drafts of two books goes to the first draft that commits, in input order', async () => {
  // Store-contract 7.5: slots have the outcomes of sequential commits. LogStore used to reserve the
  // txid for a draft that then failed, or for a later draft whose book group was sent first.
  const X = '00000000-0000-4000-8000-00000000000a';
  const Y = '00000000-0000-4000-8000-00000000000b';
  const post = (book: string): Transaction['postings'] => [
    { account: { book, path: 'cash' }, amount: { minor: 1n, asset: 'USD' }, direction: 'debit' },
    { account: { book, path: 'cash' }, amount: { minor: 1n, asset: 'USD' }, direction: 'credit' },
  ];
  await bothStores(async (store) => {
    await store.registerAsset({ id: 'USD', class: 'fiat', precision: 2, name: 'US dollar' });
    for (const book of ['a', 'b']) {
      await store.openAccount({ id: { book, path: 'cash' }, asset: 'USD', kind: 'asset' }, { normal_side: null, min_balance: null });
    }
    // The first draft fails (no account in book "c"): the txid is still free for the second.
    const failedFirst = await store.commitBatch([draft('c', 'k', X, post('c')), draft('a', 'k', X, post('a'))]);
    // Book b's group comes first in the batch, but the draft of book a with txid Y precedes b's.
    const orderMatters = await store.commitBatch([draft('b', 'k1', '00000000-0000-4000-8000-00000000000c', post('b')), draft('a', 'k2', Y, post('a')), draft('b', 'k3', Y, post('b'))]);
    return { failedFirst: outcomes(failedFirst), orderMatters: outcomes(orderMatters), owner: await store.transaction(Y) };
  });
});

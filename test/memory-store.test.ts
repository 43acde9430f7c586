/**
 * MemoryStore: the shared conformance suite, plus what only MemoryStore can show through its
 * options (the saturation warning hook and an injectable clock).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { MemoryStore, type StoreWarning } from '../src/memory/memory-store.js';
import { formatAtUs } from '../src/core/time.js';
import { I64_MAX, type Store } from '../src/index.js';
import { draft, freshBookAndAsset, openSpec, posting, setupBook, transfer } from './conformance/fixtures.js';
import { runConformance } from './conformance/run-conformance.js';

runConformance('MemoryStore', async () => new MemoryStore());

/** Puts 2 × I64_MAX on each side of a fresh book's trial balance; returns the book. */
async function saturateBook(store: Store): Promise<string> {
  const { book, asset } = await freshBookAndAsset(store);
  for (const path of ['a', 'b', 'c']) await store.openAccount(...openSpec(book, path, asset, 'clearing'));
  await store.openAccount(...openSpec(book, 'l', asset, 'liability'));
  await store.commit(draft(book, 'ab', [posting(book, 'a', 'debit', asset, I64_MAX), posting(book, 'b', 'credit', asset, I64_MAX)]));
  await store.commit(draft(book, 'lc', [posting(book, 'l', 'credit', asset, I64_MAX), posting(book, 'c', 'debit', asset, I64_MAX)]));
  return book;
}

describe('MemoryStore specifics', () => {
  test('B3 the SUMS_SATURATED warning is emitted once per book, not once per read', async () => {
    const warnings: StoreWarning[] = [];
    const store = new MemoryStore({ onWarning: (warning) => warnings.push(warning) });
    try {
      const first = await saturateBook(store);
      assert.equal(warnings.length, 0, 'no warning before a read saturates');
      const row = { debits: I64_MAX, credits: I64_MAX };
      for (let read = 0; read < 3; read++) {
        const [now] = await store.trialBalance(first);
        assert.deepEqual({ debits: now?.debits, credits: now?.credits }, row);
        const [asOf] = await store.trialBalance(first, new Date(Date.now() + 60_000));
        assert.deepEqual({ debits: asOf?.debits, credits: asOf?.credits }, row);
      }
      assert.equal(warnings.length, 1);
      assert.equal(warnings[0]!.code, 'SUMS_SATURATED');
      assert.equal(warnings[0]!.book, first);

      // A book whose sums fit never warns.
      const { book: calm, asset } = await setupBook(store);
      await store.commit(transfer(calm, 'k', 'deposits', 'cash', asset, 5n));
      await store.trialBalance(calm);
      assert.equal(warnings.length, 1);

      // Another saturated book gets its own single warning.
      const second = await saturateBook(store);
      await store.trialBalance(second);
      await store.trialBalance(second);
      await store.trialBalance(first);
      assert.equal(warnings.length, 2);
      assert.equal(warnings[1]!.code, 'SUMS_SATURATED');
      assert.equal(warnings[1]!.book, second);
    } finally {
      await store.close();
    }
  });

  test('the clock clamp: at never decreases within a book when the clock goes backwards', async () => {
    const startUs = Date.now() * 1000 + 123;
    let nowUs = startUs;
    const store = new MemoryStore({ clockUs: () => nowUs });
    try {
      const { book, asset } = await setupBook(store); // seqs 1 and 2 at startUs
      nowUs = startUs - 5_000_000; // five seconds back
      const back = await store.commit(transfer(book, 'back', 'deposits', 'cash', asset, 1n));
      assert.equal(back.at, formatAtUs(startUs), 'clamped to the last at of the book');
      nowUs = startUs - 10_000_000;
      const [batched] = await store.commitBatch([transfer(book, 'back-batch', 'deposits', 'cash', asset, 1n)]);
      assert.ok(batched?.ok);
      assert.equal(batched.value.at, formatAtUs(startUs));
      nowUs = startUs + 1;
      const forward = await store.commit(transfer(book, 'forward', 'deposits', 'cash', asset, 1n));
      assert.equal(forward.at, formatAtUs(startUs + 1), 'follows the clock again once it passes the last at');
      nowUs = startUs - 1;
      const againBack = await store.commit(transfer(book, 'again-back', 'deposits', 'cash', asset, 1n));
      assert.equal(againBack.at, formatAtUs(startUs + 1));

      const events = await store.readEvents(book, 1, 100);
      assert.equal(events.length, 6);
      for (let index = 1; index < events.length; index++) {
        assert.ok(events[index]!.at >= events[index - 1]!.at, `at ${events[index]!.at} follows ${events[index - 1]!.at}`);
      }
      const stored = await store.transaction(againBack.txid);
      assert.equal(stored?.at, againBack.at);

      // Books are independent: a new book takes the clock as it is, behind the first book.
      nowUs = startUs - 20_000_000;
      const { book: other } = await setupBook(store);
      const [opened] = await store.readEvents(other, 1, 1);
      assert.equal(opened?.at, formatAtUs(startUs - 20_000_000));
    } finally {
      await store.close();
    }
  });
});

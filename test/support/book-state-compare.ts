/**
 * Equality of two BookStates as a snapshot must preserve it: every field a load restores, the
 * txid and hot idempotency tables in their order, and each account's whole posting history.
 */
import assert from 'node:assert/strict';
import { postingsOf, type AccountState, type BookState } from '../../src/log/book-state.js';
import type { PostingEntry } from '../../src/log/posting-index.js';

export function postingEntries(account: AccountState): PostingEntry[] {
  return Array.from({ length: postingsOf(account).length }, (_, index) => postingsOf(account).get(index));
}

export function assertSameState(actual: BookState, expected: BookState): void {
  assert.equal(actual.book, expected.book);
  assert.equal(actual.seqNext, expected.seqNext);
  assert.equal(actual.atLastUs, expected.atLastUs);
  assert.equal(actual.sumsSaturated, expected.sumsSaturated);
  assert.deepEqual(actual.sums, expected.sums);
  assert.deepEqual(actual.assets, expected.assets);
  assert.deepEqual([...actual.txids.entries()], [...expected.txids.entries()], 'txid entries and their order');
  assert.deepEqual([...actual.idempotency.hotRecords()], [...expected.idempotency.hotRecords()], 'hot records in FIFO order');
  assert.equal(actual.idempotency.spilledThroughSeq, expected.idempotency.spilledThroughSeq);
  assert.deepEqual([...actual.accounts.keys()], [...expected.accounts.keys()]);
  for (const [key, account] of expected.accounts) {
    const other = actual.accounts.get(key)!;
    assert.deepEqual(other.def, account.def, key);
    assert.deepEqual(other.cfg, account.cfg, key);
    assert.equal(other.rawBalance, account.rawBalance, key);
    assert.equal(other.updatedSeq, account.updatedSeq, key);
    assert.deepEqual(postingEntries(other), postingEntries(account), key);
  }
}

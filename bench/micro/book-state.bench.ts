/**
 * book state: validate a draft against a book with 10,000 accounts (input normalisation, then the
 * book's checks: idempotency, txid, postings, overflow, minimum balance), and apply a committed
 * two-posting transaction to that book (balances, posting index, sums, idempotency and txid
 * indexes). Apply needs consecutive seqs and fresh keys, so each sample applies 1,000 events
 * prepared before its timer starts.
 */
import { randomUUID } from 'node:crypto';

import { BatchOverlay, BookState, draftOf, validateCommit } from '../../src/log/book-state.js';
import { normaliseTransaction } from '../../src/core/input.js';
import { wallClockUs } from '../../src/core/time.js';
import type { LedgerEvent, Transaction } from '../../src/core/types.js';
import { ASSET_ID, workloadDraft } from '../workload.js';
import { addLoop, addScaled, consume, timedLoop, type MicroGroup } from './micro.js';

const BOOK = 'bench-state';
const ACCOUNTS = 10_000;
const INNER = 1000;

function transactionBetween(from: number, to: number, key: string): Transaction {
  return workloadDraft(
    BOOK,
    [
      { account: { book: BOOK, path: `acct-${to}` }, amount: { minor: 100n, asset: ASSET_ID }, direction: 'debit' },
      { account: { book: BOOK, path: `acct-${from}` }, amount: { minor: 100n, asset: ASSET_ID }, direction: 'credit' },
    ],
    key,
    new Date().toISOString(),
  );
}

export const bookStateGroup: MicroGroup = {
  group: 'book state',
  async register(bench) {
    const state = new BookState(BOOK);
    let atUs = wallClockUs();
    for (let index = 0; index < ACCOUNTS; index++) {
      const event: LedgerEvent = {
        kind: 'account_opened',
        def: { id: { book: BOOK, path: `acct-${index}` }, asset: ASSET_ID, kind: 'clearing' },
        cfg: { normal_side: null, min_balance: null },
      };
      state.apply(state.seqNext, atUs, event);
    }
    let keyCount = 0;
    const draft = transactionBetween(1, 2, 'bench/micro/validate');
    addLoop(bench, 'validate a draft (normalise + book checks), 10,000 accounts', INNER, () => {
      const { tx } = normaliseTransaction(draft);
      consume(
        validateCommit(state, new BatchOverlay(), draftOf(tx), false, () => {
          throw new Error('no original expected');
        }),
      );
    });
    addScaled(bench, 'apply a committed 2-posting transaction, 10,000 accounts', INNER, () => {
      const events: LedgerEvent[] = [];
      for (let index = 0; index < INNER; index++) {
        const from = (keyCount * 7919) % ACCOUNTS;
        const to = (from + 1 + (keyCount % (ACCOUNTS - 1))) % ACCOUNTS;
        events.push({ kind: 'transaction_posted', ...transactionBetween(from, to, `bench/micro/apply/${keyCount++}`), id: randomUUID() });
      }
      atUs += 1;
      return timedLoop(INNER, (index) => consume(state.apply(state.seqNext, atUs, events[index]!)));
    });
    return async () => undefined;
  },
};

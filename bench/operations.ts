/**
 * The operations callers run (spec/bench.md, sections 2.4-2.6): one commit, one commitBatch of N
 * drafts, and the three reads. Each builds its argument in `prepare` (before the timer) and
 * classifies its answer into an Outcome.
 *
 * O1. A commit whose `Committed.txid` differs from the draft's id is a deduplicated success.
 * O2. A batch answers per draft: ok slots (dedup counted), OVERLOADED slots (shed), other errors.
 *     A thrown StoreError (the whole call refused) is classified by the load loop.
 */
import { StoreError } from '../src/core/errors.js';
import type { Store } from '../src/core/store.js';
import type { AccountId, Transaction } from '../src/core/types.js';
import { okOutcome, type OpKind, type Operation, type Outcome } from './load.js';
import { DraftFactory } from './workload.js';

export function commitOperation(store: Store, drafts: DraftFactory, bookOf: (caller: number) => string): Operation<Transaction> {
  return {
    kindOf: () => 'post',
    writes: () => true,
    prepare: (caller, n) => drafts.draft(bookOf(caller), caller, n),
    run: async (draft) => {
      const committed = await store.commit(draft);
      return okOutcome('post', committed.txid !== draft.id);
    },
  };
}

/** Each call is one commitBatch of `batchSize` unique drafts: draft n = iteration × N + slot. */
export function batchOperation(store: Store, drafts: DraftFactory, book: string, batchSize: number): Operation<Transaction[]> {
  return {
    kindOf: () => 'post',
    writes: () => true,
    prepare: (caller, iteration) => {
      const batch: Transaction[] = new Array(batchSize);
      for (let slot = 0; slot < batchSize; slot++) batch[slot] = drafts.draft(book, caller, iteration * batchSize + slot);
      return batch;
    },
    run: async (batch) => {
      const results = await store.commitBatch(batch);
      let ok = 0;
      let dedup = 0;
      let shed = 0;
      const errors: StoreError[] = [];
      for (let index = 0; index < results.length; index++) {
        const result = results[index]!;
        if (result.ok) {
          ok++;
          if (result.value.txid !== batch[index]!.id) dedup++;
        } else if (result.error.code === 'OVERLOADED') {
          shed++;
        } else {
          errors.push(result.error);
        }
      }
      return { kind: 'post', ok, dedup, shed, errors };
    },
  };
}

export type ReadKind = Extract<OpKind, 'balance' | 'history' | 'trial-balance'>;

export interface ReadArg {
  kind: ReadKind;
  account: AccountId;
  cursor: number;
}

export async function runRead(store: Store, arg: ReadArg): Promise<Outcome> {
  switch (arg.kind) {
    case 'balance':
      await store.balance(arg.account);
      break;
    case 'history':
      await store.accountHistory(arg.account, arg.cursor, 100);
      break;
    case 'trial-balance':
      await store.trialBalance(arg.account.book);
      break;
  }
  return okOutcome(arg.kind, false);
}

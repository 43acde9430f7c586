/**
 * `npm start`: opens ./data, registers an asset, opens accounts in a few books, posts a few
 * thousand transactions concurrently, prints balances, a trial balance and the throughput it saw,
 * and closes. Running it again continues on the same data (the set-up is idempotent).
 */
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { LogStore, type Transaction } from '../src/index.js';

const BOOKS = ['onramp', 'treasury', 'payouts', 'fees'];
const TRANSACTIONS = 4000;
const CALLERS = 256;

const dir = path.resolve(process.argv[2] ?? 'data');
const store = await LogStore.open(dir);
try {
  await store.registerAsset({ id: 'USD', class: 'fiat', precision: 2, name: 'US dollar' });
  for (const book of BOOKS) {
    await store.openAccount({ id: { book, path: 'cash' }, asset: 'USD', kind: 'asset' }, { normal_side: 'debit', min_balance: 0n });
    await store.openAccount({ id: { book, path: 'deposits' }, asset: 'USD', kind: 'liability' }, { normal_side: 'credit', min_balance: null });
  }
  const run = randomUUID().slice(0, 8); // fresh keys on every run, so each run posts new transactions
  const draft = (index: number): Transaction => {
    const book = BOOKS[index % BOOKS.length]!;
    return {
      id: randomUUID(),
      book,
      postings: [
        { account: { book, path: 'deposits' }, amount: { minor: 1_00n, asset: 'USD' }, direction: 'credit' },
        { account: { book, path: 'cash' }, amount: { minor: 1_00n, asset: 'USD' }, direction: 'debit' },
      ],
      idempotency_key: `demo-${run}-${index}`,
      external_refs: [],
      metadata: { demo: true },
      occurred_at: new Date().toISOString(),
    };
  };
  let next = 0;
  const startedMs = performance.now();
  await Promise.all(
    Array.from({ length: CALLERS }, async () => {
      while (next < TRANSACTIONS) await store.commit(draft(next++));
    }),
  );
  const elapsedMs = performance.now() - startedMs;
  console.log(`data directory: ${dir}`);
  console.log(`committed ${TRANSACTIONS} transactions from ${CALLERS} concurrent callers in ${elapsedMs.toFixed(0)} ms: ${Math.round((TRANSACTIONS / elapsedMs) * 1000)} commits/s, each acknowledged after fsync`);
  for (const book of BOOKS) {
    const cash = await store.balance({ book, path: 'cash' });
    console.log(`${book.padEnd(9)} cash ${cash.amount.minor} minor units (seq ${cash.updated_seq}, durable seq ${store.durableSeq(book)})`);
  }
  for (const row of await store.trialBalance('onramp')) {
    console.log(`trial balance of onramp, ${row.asset}: debits ${row.debits}, credits ${row.credits}`);
  }
} finally {
  await store.close();
}

/**
 * Balances read from shared memory (src/shared-balances.ts): what the main thread answers without
 * asking the worker must equal what the worker would answer, under concurrent writes, for
 * credit-normal accounts, across many accounts (more than one chunk), and after a reopen.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BALANCE_SLOTS_PER_CHUNK, BalanceSlotsReader, BalanceSlotsWriter } from '../src/log/shared-balances.js';
import { LogStore } from '../src/log/log-store.js';
import type { AccountId } from '../src/core/types.js';
import { BOOK, makeTempDir, mkTx, openStore, removeDir, seed, UNSIDED, USD } from './support/log-store-fixtures.js';

const CASH: AccountId = { book: BOOK, path: 'cash' };
const REV: AccountId = { book: BOOK, path: 'rev' };

test('slots: a reader sees what the writer wrote, and nothing for a path it does not expect', () => {
  const reader = new BalanceSlotsReader();
  const writer = new BalanceSlotsWriter((chunkIndex, buffer) => reader.attach(chunkIndex, buffer));
  assert.equal(reader.read(0, 'cash'), null, 'no chunk yet');
  writer.write(0, 'cash', -5n, 7);
  writer.write(BALANCE_SLOTS_PER_CHUNK + 3, 'far', 2n ** 62n, 9);
  assert.deepEqual(reader.read(0, 'cash'), { raw: -5n, updatedSeq: 7 });
  assert.deepEqual(reader.read(BALANCE_SLOTS_PER_CHUNK + 3, 'far'), { raw: 2n ** 62n, updatedSeq: 9 });
  assert.equal(reader.read(0, 'rev'), null, 'another path in the slot: ask the worker');
  assert.equal(reader.read(1, ''), null, 'an unwritten slot holds no path');
});

test('every balance read during concurrent commits is one consistent state, and the last equals the worker', async () => {
  const dir = makeTempDir();
  let store: LogStore | undefined;
  try {
    store = await openStore(dir);
    await seed(store);
    // seqs 1 and 2 opened the accounts; each commit moves 1 from rev to cash, so a consistent
    // read of cash has minor === updated_seq - 2.
    const commits = Array.from({ length: 400 }, (_, index) => store!.commit(mkTx(`k${index}`, 1n)));
    let reads = 0;
    let settled = false;
    const all = Promise.all(commits).finally(() => (settled = true));
    while (!settled) {
      const cash = await store.balance(CASH);
      if (cash.updated_seq > 0) assert.equal(cash.amount.minor, BigInt(cash.updated_seq - 2));
      reads++;
      // Answered from shared memory, balance() resolves at once: let the worker's answers in.
      await new Promise((resolve) => setImmediate(resolve));
    }
    await all;
    assert.ok(reads > 0);
    const cash = await store.balance(CASH);
    assert.deepEqual(cash, { amount: { minor: 400n, asset: 'USD' }, updated_seq: 402 });
    // The worker's answer (a point-in-time read goes to the worker) agrees.
    const farFuture = new Date(Date.now() + 86_400_000);
    assert.deepEqual(await store.balance(CASH, farFuture), cash);
    assert.deepEqual(await store.balance(REV), { amount: { minor: -400n, asset: 'USD' }, updated_seq: 402 });
  } finally {
    await store?.close();
    removeDir(dir);
  }
});

test('credit-normal accounts, accounts beyond the first chunk, and a reopen', async () => {
  const dir = makeTempDir();
  let store: LogStore | undefined;
  try {
    store = await openStore(dir);
    await store.registerAsset(USD);
    const count = BALANCE_SLOTS_PER_CHUNK + 10;
    for (let index = 0; index < count; index++) {
      await store.openAccount({ id: { book: BOOK, path: `a${index}` }, asset: 'USD', kind: 'asset' }, index % 2 === 0 ? UNSIDED : { normal_side: 'credit', min_balance: null });
    }
    const last = { book: BOOK, path: `a${count - 1}` };
    const first = { book: BOOK, path: 'a0' };
    const tx = mkTx('move', 25n);
    tx.postings[0]!.account = last; // debit the last (credit-normal) account
    tx.postings[1]!.account = first; // credit the first (unsided) account
    const committed = await store.commit(tx);
    const expectLast = { amount: { minor: -25n, asset: 'USD' }, updated_seq: committed.seq };
    const expectFirst = { amount: { minor: -25n, asset: 'USD' }, updated_seq: committed.seq };
    assert.deepEqual(await store.balance(last), expectLast);
    assert.deepEqual(await store.balance(first), expectFirst);
    await store.close();
    store = await openStore(dir);
    assert.deepEqual(await store.balance(last), expectLast);
    assert.deepEqual(await store.balance(first), expectFirst);
    assert.deepEqual(await store.balance({ book: BOOK, path: 'a5' }), { amount: { minor: 0n, asset: 'USD' }, updated_seq: 0 });
    await assert.rejects(store.balance({ book: BOOK, path: 'nope' }), { code: 'UNKNOWN_ACCOUNT' });
  } finally {
    await store?.close();
    removeDir(dir);
  }
});

/**
 * The 30 cases of the Rust reference's conformance suite, with this project's additional checks
 * (spec/conformance.md, section 1.4). Names are the reference's snake_case names.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';

import type { Store } from '../../src/core/store.js';
import type { AssetDef, Committed } from '../../src/index.js';
import { conformanceCase, type ConformanceCase } from './case.js';
import {
  AT_PATTERN,
  accountId,
  asset,
  assertStoreError,
  balanceOf,
  draft,
  errorOf,
  expectStoreError,
  freshBookAndAsset,
  nextEvent,
  okValue,
  openSpec,
  posting,
  readAllEvents,
  setupBook,
  sleep,
  transfer,
  unique,
} from './fixtures.js';

/** cash (asset, min 0), expenses (expense), deposits (liability) at seqs 1-3. */
async function setupMinBook(store: Store): Promise<{ book: string; asset: string }> {
  const { book, asset: assetId } = await freshBookAndAsset(store);
  const [cashDef, cashCfg] = openSpec(book, 'cash', assetId, 'asset');
  await store.openAccount(cashDef, { ...cashCfg, min_balance: 0n });
  await store.openAccount(...openSpec(book, 'expenses', assetId, 'expense'));
  await store.openAccount(...openSpec(book, 'deposits', assetId, 'liability'));
  return { book, asset: assetId };
}

export const REFERENCE_CASES: readonly ConformanceCase[] = [
  // 1
  conformanceCase('registry_is_idempotent', async (store, ctx) => {
    const id = unique('USD');
    await store.registerAsset(asset(id));
    await store.registerAsset(asset(id));
    const assetError = await expectStoreError(store.registerAsset({ ...asset(id), precision: 8 }), 'ALREADY_EXISTS');
    assert.equal(assetError.what, `asset ${id}`);

    const book = unique('book');
    const [def, cfg] = openSpec(book, 'cash', id, 'asset');
    await store.openAccount(def, cfg);
    await store.openAccount(def, cfg);
    const accountError = await expectStoreError(store.openAccount(def, { ...cfg, min_balance: 10n }), 'ALREADY_EXISTS');
    assert.equal(accountError.what, `account ${book}:cash`);

    store = await ctx.reopen(store);
    await store.registerAsset(asset(id));
    await store.openAccount(def, cfg);
    assert.equal((await store.readEvents(book, 1, 10)).length, 1);
    const registrations = (await readAllEvents(store, '_system')).filter(
      (sequenced) => sequenced.event.kind === 'asset_registered' && sequenced.event.id === id,
    );
    assert.equal(registrations.length, 1);
  }),

  // 2
  conformanceCase('unknown_asset_rejected', async (store, ctx) => {
    const book = unique('book');
    const nope = unique('NOPE');
    const error = await expectStoreError(store.openAccount(...openSpec(book, 'cash', nope, 'asset')), 'UNKNOWN_ASSET');
    assert.equal(error.asset, nope);
    store = await ctx.reopen(store);
    assert.deepEqual(await store.readEvents(book, 1, 10), []);
  }),

  // 3
  conformanceCase('crypto_asset_round_trips', async (store, ctx) => {
    const id = unique('USDT-ETH');
    const def: AssetDef = {
      id,
      class: { crypto: { network: 'ethereum', native_id: '0xdac17f958d2ee523a2206206994597c13d831ec7' } },
      precision: 6,
      name: 'Tether',
    };
    await store.registerAsset(def);
    await store.registerAsset(def);
    const error = await expectStoreError(
      store.registerAsset({ ...def, class: { crypto: { network: 'tron', native_id: null } } }),
      'ALREADY_EXISTS',
    );
    assert.equal(error.what, `asset ${id}`);
    store = await ctx.reopen(store);
    assert.deepEqual(await store.asset(id), def);
    await store.registerAsset(def);
  }),

  // 4
  conformanceCase('commit_happy_path', async (store, ctx) => {
    const { book, asset: assetId } = await setupBook(store);
    const tx = transfer(book, 't1', 'deposits', 'cash', assetId, 1000n);
    const committed = await store.commit(tx);
    assert.equal(committed.txid, tx.id);
    assert.equal(committed.seq, 3);
    assert.match(committed.at, AT_PATTERN);
    store = await ctx.reopen(store);
    assert.equal(await balanceOf(store, book, 'cash'), 1000n);
    assert.deepEqual(await store.commit(tx), committed);
  }),

  // 5
  conformanceCase('unknown_account_rejected', async (store, ctx) => {
    const { book, asset: assetId } = await setupBook(store);
    const error = await expectStoreError(
      store.commit(transfer(book, 'ua', 'deposits', 'ghost', assetId, 100n)),
      'UNKNOWN_ACCOUNT',
    );
    assert.equal(error.account.path, 'ghost');
    assert.deepEqual(error.account, accountId(book, 'ghost'));
    store = await ctx.reopen(store);
    assert.deepEqual(await store.readEvents(book, 3, 10), []);
  }),

  // 6
  conformanceCase('asset_mismatch_rejected', async (store, ctx) => {
    const { book, asset: assetId } = await setupBook(store);
    const eur = unique('EUR');
    await store.registerAsset(asset(eur));
    const error = await expectStoreError(store.commit(transfer(book, 'am', 'deposits', 'cash', eur, 100n)), 'ASSET_MISMATCH');
    assert.deepEqual(error.account, accountId(book, 'deposits'));
    assert.equal(error.account_asset, assetId);
    assert.equal(error.asset, eur);
    store = await ctx.reopen(store);
    assert.deepEqual(await store.readEvents(book, 3, 10), []);
  }),

  // 7
  conformanceCase('seq_is_per_book_and_gapless', async (store, ctx) => {
    const a = await setupBook(store);
    const b = await setupBook(store);
    const a1 = await store.commit(transfer(a.book, 'a1', 'deposits', 'cash', a.asset, 1n));
    const b1 = await store.commit(transfer(b.book, 'b1', 'deposits', 'cash', b.asset, 1n));
    const a2 = await store.commit(transfer(a.book, 'a2', 'deposits', 'cash', a.asset, 1n));
    assert.equal(a1.seq, 3);
    assert.equal(a2.seq, 4);
    assert.equal(b1.seq, 3);
    store = await ctx.reopen(store);
    assert.deepEqual((await store.readEvents(a.book, 1, 10)).map((event) => event.seq), [1, 2, 3, 4]);
    assert.deepEqual((await store.readEvents(b.book, 1, 10)).map((event) => event.seq), [1, 2, 3]);
  }),

  // 8
  conformanceCase('commit_is_idempotent', async (store, ctx) => {
    const { book, asset: assetId } = await setupBook(store);
    const tx = transfer(book, 'dup', 'deposits', 'cash', assetId, 500n);
    const first = await store.commit(tx);
    store = await ctx.reopen(store);
    const second = await store.commit(tx);
    assert.deepEqual(second, first);
    assert.equal(await balanceOf(store, book, 'cash'), 500n);
    assert.equal((await store.readEvents(book, 3, 10)).length, 1);
  }),

  // 9
  conformanceCase('concurrent_same_key_commits_once', async (store, ctx) => {
    const { book, asset: assetId } = await setupBook(store);
    const tx = transfer(book, 'race', 'deposits', 'cash', assetId, 250n);
    const [first, second] = await Promise.all([store.commit(tx), store.commit(tx)]);
    assert.equal(first.seq, second.seq);
    assert.deepEqual(first, second);
    store = await ctx.reopen(store);
    assert.equal(await balanceOf(store, book, 'cash'), 250n);
  }),

  // 10
  conformanceCase('min_balance_blocks_overdraft', async (store, ctx) => {
    const { book, asset: assetId } = await freshBookAndAsset(store);
    const [cashDef, cashCfg] = openSpec(book, 'cash', assetId, 'asset');
    await store.openAccount(cashDef, { ...cashCfg, min_balance: 0n });
    await store.openAccount(...openSpec(book, 'expenses', assetId, 'expense'));
    const error = await expectStoreError(
      store.commit(transfer(book, 'od', 'cash', 'expenses', assetId, 100n)),
      'CONSTRAINT_VIOLATION',
    );
    assert.equal(error.would_be, -100n);
    assert.deepEqual(error.account, accountId(book, 'cash'));
    assert.equal(error.min_balance, 0n);
    store = await ctx.reopen(store);
    assert.equal(await balanceOf(store, book, 'expenses'), 0n);
    const cash = await store.balance(accountId(book, 'cash'));
    assert.equal(cash.amount.minor, 0n);
    assert.equal(cash.updated_seq, 0);
    assert.deepEqual(await store.readEvents(book, 3, 10), []);
  }),

  // 11
  conformanceCase('min_balance_is_normal_side_adjusted', async (store, ctx) => {
    const { book, asset: assetId } = await freshBookAndAsset(store);
    await store.openAccount(...openSpec(book, 'cash', assetId, 'asset'));
    const [depositsDef, depositsCfg] = openSpec(book, 'deposits', assetId, 'liability');
    assert.equal(depositsCfg.normal_side, 'credit');
    await store.openAccount(depositsDef, { ...depositsCfg, min_balance: 0n });
    await store.commit(transfer(book, 'fund', 'deposits', 'cash', assetId, 100n));
    assert.equal(await balanceOf(store, book, 'deposits'), 100n);
    const error = await expectStoreError(
      store.commit(transfer(book, 'over', 'cash', 'deposits', assetId, 200n)),
      'CONSTRAINT_VIOLATION',
    );
    assert.equal(error.would_be, -100n);
    assert.deepEqual(error.account, accountId(book, 'deposits'));
    store = await ctx.reopen(store);
    assert.equal(await balanceOf(store, book, 'deposits'), 100n);
  }),

  // 12
  conformanceCase('balance_as_of_point_in_time', async (store, ctx) => {
    const { book, asset: assetId } = await setupBook(store);
    await store.commit(transfer(book, 'p1', 'deposits', 'cash', assetId, 100n));
    await sleep(20);
    const mid = new Date();
    await sleep(20);
    await store.commit(transfer(book, 'p2', 'deposits', 'cash', assetId, 50n));
    store = await ctx.reopen(store);
    const now = await store.balance(accountId(book, 'cash'));
    assert.equal(now.amount.minor, 150n);
    assert.equal(now.amount.asset, assetId);
    assert.equal(await balanceOf(store, book, 'cash', mid), 100n);
  }),

  // 13
  conformanceCase('read_events_paginates_inclusively', async (store, ctx) => {
    const { book, asset: assetId } = await setupBook(store);
    for (let index = 0; index < 3; index++) {
      await store.commit(transfer(book, `e${index}`, 'deposits', 'cash', assetId, 10n));
    }
    store = await ctx.reopen(store);
    const page1 = await store.readEvents(book, 1, 2);
    assert.equal(page1.length, 2);
    assert.equal(page1[0]!.seq, 1);
    assert.equal(page1[0]!.event.kind, 'account_opened');
    assert.deepEqual(
      page1.map((event) => event.seq),
      [1, 2],
    );
    const lastSeq = page1[page1.length - 1]!.seq;
    const page2 = await store.readEvents(book, lastSeq + 1, 10);
    assert.equal(page2.length, 3);
    assert.equal(page2[0]!.event.kind, 'transaction_posted');
    assert.equal(page2[page2.length - 1]!.seq, 5);
  }),

  // 14
  conformanceCase('system_book_is_reserved', async (store, ctx) => {
    const id = unique('BTC');
    await store.registerAsset(asset(id));
    store = await ctx.reopen(store);
    let found = false;
    let from = 1;
    for (;;) {
      const page = await store.readEvents('_system', from, 500);
      if (page.length === 0) break;
      if (page.some((sequenced) => sequenced.event.kind === 'asset_registered' && sequenced.event.id === id)) found = true;
      from = page[page.length - 1]!.seq + 1;
    }
    assert.ok(found, 'the asset_registered event is in _system');

    const openError = await expectStoreError(store.openAccount(...openSpec('_sneaky', 'cash', id, 'asset')), 'INVALID_BOOK');
    assert.equal(openError.reason, 'reserved');
    assert.equal(openError.book, '_sneaky');
    const commitError = await expectStoreError(store.commit(transfer('_sneaky', 'x', 'a', 'b', id, 1n)), 'INVALID_BOOK');
    assert.equal(commitError.reason, 'reserved');
    assert.equal(commitError.book, '_sneaky');
  }),

  // 15
  conformanceCase('subscribe_catches_up_then_tails', async (store, ctx) => {
    const { book, asset: assetId } = await setupBook(store);
    await store.commit(transfer(book, 's1', 'deposits', 'cash', assetId, 10n));
    store = await ctx.reopen(store);
    const stream = store.subscribe(book, 3);
    try {
      const first = await nextEvent(stream);
      assert.equal(first.seq, 3);
      assert.equal(first.event.kind, 'transaction_posted');
      const committed = await store.commit(transfer(book, 's2', 'deposits', 'cash', assetId, 20n));
      const second = await nextEvent(stream);
      assert.equal(second.seq, 4);
      assert.deepEqual(second, (await store.readEvents(book, 4, 1))[0]);
      assert.equal(second.at, committed.at);
    } finally {
      await stream.return();
    }
  }),

  // 16
  conformanceCase('asset_lookup', async (store, ctx) => {
    const def = asset(unique('USD'));
    await store.registerAsset(def);
    store = await ctx.reopen(store);
    assert.deepEqual(await store.asset(def.id), def);
    assert.equal(await store.asset(unique('NOPE')), null);
  }),

  // 17
  conformanceCase('balance_snapshot_updated_seq', async (store, ctx) => {
    const { book, asset: assetId } = await setupBook(store);
    const cash = accountId(book, 'cash');
    const before = await store.balance(cash);
    assert.equal(before.amount.minor, 0n);
    assert.equal(before.updated_seq, 0);
    const u1 = await store.commit(transfer(book, 'u1', 'deposits', 'cash', assetId, 100n));
    await sleep(20);
    const mid = new Date();
    await sleep(20);
    const u2 = await store.commit(transfer(book, 'u2', 'deposits', 'cash', assetId, 50n));
    assert.equal(u1.seq, 3);
    assert.equal(u2.seq, 4);
    store = await ctx.reopen(store);
    const now = await store.balance(cash);
    assert.equal(now.updated_seq, 4);
    assert.equal(now.amount.minor, 150n);
    const then = await store.balance(cash, mid.toISOString());
    assert.equal(then.updated_seq, 3);
    assert.equal(then.amount.minor, 100n);
  }),

  // 18
  conformanceCase('account_history_pages_exclusively', async (store, ctx) => {
    const { book, asset: assetId } = await setupBook(store);
    const commits: Committed[] = [];
    for (let index = 0; index < 3; index++) {
      commits.push(await store.commit(transfer(book, `h${index}`, 'deposits', 'cash', assetId, 10n + BigInt(index))));
    }
    assert.deepEqual(
      commits.map((committed) => committed.seq),
      [3, 4, 5],
    );
    store = await ctx.reopen(store);
    const cash = accountId(book, 'cash');
    const bySeq = (seq: number): Committed => commits.find((committed) => committed.seq === seq)!;

    const page1 = await store.accountHistory(cash, null, 2);
    assert.equal(page1.length, 2);
    assert.deepEqual(
      page1.map((record) => record.seq),
      [3, 4],
    );
    assert.equal(page1[0]!.amount.minor, 10n);
    assert.equal(page1[0]!.direction, 'debit');
    assert.deepEqual(page1[0]!.account, cash);

    const page2 = await store.accountHistory(cash, 4, 10);
    assert.equal(page2.length, 1);
    assert.equal(page2[0]!.seq, 5);
    assert.equal(page2[0]!.amount.minor, 12n);

    const deposits = await store.accountHistory(accountId(book, 'deposits'), null, 10);
    assert.equal(deposits.length, 3);
    assert.equal(deposits[0]!.direction, 'credit');

    for (const record of [...page1, ...page2, ...deposits]) {
      assert.equal(record.txid, bySeq(record.seq).txid);
      assert.equal(record.at, bySeq(record.seq).at);
    }

    const error = await expectStoreError(store.accountHistory(accountId(book, 'ghost'), null, 10), 'UNKNOWN_ACCOUNT');
    assert.equal(error.account.path, 'ghost');
    assert.deepEqual(await store.accountHistory(cash, null, 0), []);
  }),

  // 19
  conformanceCase('account_history_never_splits_a_transaction', async (store, ctx) => {
    const { book, asset: assetId } = await setupBook(store);
    const split = await store.commit(
      draft(book, 'split', [
        posting(book, 'cash', 'debit', assetId, 30n),
        posting(book, 'cash', 'debit', assetId, 70n),
        posting(book, 'deposits', 'credit', assetId, 100n),
      ]),
    );
    assert.equal(split.seq, 3);
    const after = await store.commit(transfer(book, 'after', 'deposits', 'cash', assetId, 5n));
    assert.equal(after.seq, 4);
    store = await ctx.reopen(store);
    const cash = accountId(book, 'cash');
    const first = await store.accountHistory(cash, null, 1);
    assert.equal(first.length, 2);
    assert.ok(first.every((record) => record.seq === 3));
    assert.equal(
      first.reduce((sum, record) => sum + record.amount.minor, 0n),
      100n,
    );
    assert.deepEqual(
      first.map((record) => record.amount.minor),
      [30n, 70n],
    );
    const rest = await store.accountHistory(cash, 3, 10);
    assert.equal(rest.length, 1);
    assert.equal(rest[0]!.seq, 4);
  }),

  // 20
  conformanceCase('transaction_round_trip', async (store, ctx) => {
    const { book, asset: assetId } = await setupBook(store);
    const tx = transfer(book, 'tr1', 'deposits', 'cash', assetId, 777n);
    const committed = await store.commit(tx);
    store = await ctx.reopen(store);
    const stored = await store.transaction(tx.id);
    assert.ok(stored !== null);
    assert.equal(stored.seq, committed.seq);
    assert.ok(Math.abs(Date.parse(stored.at) - Date.parse(committed.at)) < 5);
    assert.equal(stored.transaction.id, tx.id);
    assert.equal(stored.transaction.idempotency_key, tx.idempotency_key);
    assert.equal(stored.transaction.postings.length, 2);
    assert.equal(stored.at, committed.at);
    assert.deepEqual(stored.transaction, tx);
    assert.equal(await store.transaction(randomUUID()), null);
  }),

  // 21
  conformanceCase('trial_balance_sums_per_asset', async (store, ctx) => {
    const { book, asset: usd } = await setupBook(store);
    const eur = unique('EUR');
    await store.registerAsset(asset(eur));
    await store.openAccount(...openSpec(book, 'cash-eur', eur, 'asset'));
    await store.openAccount(...openSpec(book, 'deposits-eur', eur, 'liability'));
    await store.commit(transfer(book, 'ta', 'deposits', 'cash', usd, 100n));
    await sleep(20);
    const mid = new Date();
    await sleep(20);
    await store.commit(transfer(book, 'tb', 'deposits-eur', 'cash-eur', eur, 40n));
    store = await ctx.reopen(store);

    const rows = await store.trialBalance(book);
    assert.equal(rows.length, 2);
    assert.deepEqual(
      rows.find((row) => row.asset === usd),
      { asset: usd, debits: 100n, credits: 100n },
    );
    assert.deepEqual(
      rows.find((row) => row.asset === eur),
      { asset: eur, debits: 40n, credits: 40n },
    );
    assert.deepEqual(
      rows.map((row) => row.asset),
      [eur, usd],
    );

    const then = await store.trialBalance(book, mid);
    assert.equal(then.length, 1);
    assert.equal(then[0]!.asset, usd);
    assert.deepEqual(then[0], { asset: usd, debits: 100n, credits: 100n });
  }),

  // 22
  conformanceCase('commit_batch_all_succeed', async (store, ctx) => {
    const { book, asset: assetId } = await setupBook(store);
    const txs = [0, 1, 2].map((index) => transfer(book, `batch-${index}`, 'deposits', 'cash', assetId, 100n));
    const results = await store.commitBatch(txs);
    assert.equal(results.length, 3);
    const values = results.map((result, index) => okValue(result, `batch-${index}`));
    assert.deepEqual(
      values.map((value) => value.seq),
      [3, 4, 5],
    );
    values.forEach((value, index) => assert.equal(value.txid, txs[index]!.id));
    store = await ctx.reopen(store);
    assert.equal(await balanceOf(store, book, 'cash'), 300n);
  }),

  // 23
  conformanceCase('commit_batch_isolates_failures_and_stays_gapless', async (store, ctx) => {
    const { book, asset: assetId } = await setupMinBook(store);
    const results = await store.commitBatch([
      transfer(book, 'fund', 'deposits', 'cash', assetId, 100n),
      transfer(book, 'overdraft', 'cash', 'expenses', assetId, 500n),
      transfer(book, 'spend', 'cash', 'expenses', assetId, 30n),
    ]);
    assert.equal(results.length, 3);
    const violation = assertStoreError(errorOf(results[1], 'overdraft'), 'CONSTRAINT_VIOLATION');
    assert.equal(violation.would_be, -400n);
    assert.equal(okValue(results[0], 'fund').seq, 4);
    assert.equal(okValue(results[2], 'spend').seq, 5);
    store = await ctx.reopen(store);
    assert.equal(await balanceOf(store, book, 'cash'), 70n);
    assert.equal((await store.readEvents(book, 4, 10)).length, 2);
  }),

  // 24
  conformanceCase('commit_batch_dedups_within_batch', async (store, ctx) => {
    const { book, asset: assetId } = await setupBook(store);
    const first = transfer(book, 'dup', 'deposits', 'cash', assetId, 100n);
    const second = transfer(book, 'dup', 'deposits', 'cash', assetId, 100n);
    assert.notEqual(first.id, second.id);
    const results = await store.commitBatch([first, second]);
    assert.equal(results.length, 2);
    const value0 = okValue(results[0], 'first');
    const value1 = okValue(results[1], 'second');
    assert.equal(value0.txid, first.id);
    assert.deepEqual(value0, value1);
    store = await ctx.reopen(store);
    assert.equal(await balanceOf(store, book, 'cash'), 100n);
    assert.equal((await store.readEvents(book, 3, 10)).length, 1);
  }),

  // 25
  conformanceCase('commit_batch_dedups_against_prior_commit', async (store, ctx) => {
    const { book, asset: assetId } = await setupBook(store);
    const prior = await store.commit(transfer(book, 'prior', 'deposits', 'cash', assetId, 100n));
    store = await ctx.reopen(store);
    const results = await store.commitBatch([transfer(book, 'prior', 'deposits', 'cash', assetId, 100n)]);
    assert.equal(results.length, 1);
    assert.deepEqual(okValue(results[0], 'retry'), prior);
  }),

  // 26
  conformanceCase('commit_batch_rejects_reserved_book', async (store, ctx) => {
    const { book, asset: assetId } = await setupBook(store);
    const bad = { ...transfer(book, 'bad', 'deposits', 'cash', assetId, 1n), book: '_system' };
    const good = transfer(book, 'good', 'deposits', 'cash', assetId, 1n);
    const results = await store.commitBatch([bad, good]);
    assert.equal(results.length, 2);
    const error = assertStoreError(errorOf(results[0], 'bad'), 'INVALID_BOOK');
    assert.equal(error.reason, 'reserved');
    assert.equal(okValue(results[1], 'good').seq, 3);
    store = await ctx.reopen(store);
    assert.equal((await store.readEvents(book, 3, 10)).length, 1);
  }),

  // 27
  conformanceCase('commit_batch_empty_returns_empty', async (store) => {
    assert.deepEqual(await store.commitBatch([]), []);
  }),

  // 28
  conformanceCase('commit_batch_min_balance_checks_run_sequentially', async (store, ctx) => {
    const { book, asset: assetId } = await setupMinBook(store);
    const results = await store.commitBatch([
      transfer(book, 'seq-od', 'cash', 'expenses', assetId, 100n),
      transfer(book, 'seq-cover', 'deposits', 'cash', assetId, 500n),
    ]);
    assert.equal(results.length, 2);
    const violation = assertStoreError(errorOf(results[0], 'seq-od'), 'CONSTRAINT_VIOLATION');
    assert.equal(violation.would_be, -100n);
    assert.equal(okValue(results[1], 'seq-cover').seq, 4);
    store = await ctx.reopen(store);
    assert.equal(await balanceOf(store, book, 'cash'), 500n);
    assert.equal(await balanceOf(store, book, 'expenses'), 0n);
  }),

  // 29
  conformanceCase('concurrent_cross_book_commits_all_succeed', async (store, ctx) => {
    const books = [];
    for (let index = 0; index < 4; index++) books.push(await setupBook(store));
    const commits = books.flatMap(({ book, asset: assetId }) =>
      Array.from({ length: 25 }, (_, index) => ({
        book,
        promise: store.commit(transfer(book, `x${index}`, 'deposits', 'cash', assetId, 1n)),
      })),
    );
    const results = await Promise.all(commits.map(({ promise }) => promise));
    for (const { book } of books) {
      const seqs = results.filter((_, index) => commits[index]!.book === book).map((committed) => committed.seq);
      assert.deepEqual(
        seqs.sort((left, right) => left - right),
        Array.from({ length: 25 }, (_, index) => index + 3),
      );
    }
    store = await ctx.reopen(store);
    for (const { book } of books) assert.equal(await balanceOf(store, book, 'cash'), 25n);
  }),

  // 30
  conformanceCase('committed_at_is_monotonic_per_book', async (store, ctx) => {
    const { book, asset: assetId } = await setupBook(store);
    for (let index = 0; index < 4; index++) {
      await store.commit(transfer(book, `mono-${index}`, 'deposits', 'cash', assetId, 1n));
    }
    await Promise.all([
      store.commit(transfer(book, 'burst-a', 'deposits', 'cash', assetId, 2n)),
      store.commit(transfer(book, 'burst-b', 'deposits', 'cash', assetId, 3n)),
      store.commit(transfer(book, 'burst-c', 'deposits', 'cash', assetId, 4n)),
    ]);
    store = await ctx.reopen(store);
    const events = await store.readEvents(book, 1, 100);
    assert.equal(events.length, 9);
    for (const event of events) assert.match(event.at, AT_PATTERN);
    for (let index = 1; index < events.length; index++) {
      const previous = events[index - 1]!;
      const current = events[index]!;
      assert.ok(current.seq > previous.seq, `seq ${current.seq} after ${previous.seq}`);
      assert.ok(current.at >= previous.at, `at ${current.at} after ${previous.at}`);
    }
  }),
];

/**
 * The cases this project adds to the reference suite (spec/conformance.md, Part 3), in the parts
 * that apply to every store with no fault injection, no restart and no LogStore-only feature.
 * Names start with the beyond id (B1, B2, ...).
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';

import type { Store } from '../../src/core/store.js';
import {
  I64_MAX,
  I64_MIN,
  type AccountCfg,
  type AccountDef,
  type AssetDef,
  type Committed,
  type JsonValue,
  type SequencedEvent,
  type StoreError,
  type Transaction,
} from '../../src/index.js';
import { conformanceCase, type ConformanceCase } from './case.js';
import {
  AT_PATTERN,
  accountId,
  asset,
  assertStoreError,
  balanceOf,
  draft,
  errorOf,
  expectInvalidArgument,
  expectStoreError,
  freshBookAndAsset,
  nextEvent,
  nextWithin,
  okValue,
  openSpec,
  posting,
  setupBook,
  setupNamedBook,
  settleWithin,
  sleep,
  transfer,
  unique,
} from './fixtures.js';

/** Casts a deliberately malformed value to the type a method expects. */
function malformed<T>(value: unknown): T {
  return value as T;
}

/** Settles a pending promise within `ms`, or reports that it is still pending. */
async function stillPendingAfter(promise: Promise<unknown>, ms: number): Promise<boolean> {
  const marker = Symbol('pending');
  const outcome = await Promise.race([
    promise.then(
      () => 'settled',
      () => 'settled',
    ),
    sleep(ms).then(() => marker),
  ]);
  return outcome === marker;
}

// ---------------------------------------------------------------------------------------------
// B1. Idempotency conflict

interface B1Setup {
  book: string;
  asset: string;
  t: Transaction;
  c: Committed;
}

/** setupBook, a third account `cash2` (seq 3), and the original `t` (key `k`) committed as `c`. */
async function setupB1(store: Store): Promise<B1Setup> {
  const { book, asset: assetId } = await setupBook(store);
  await store.openAccount(...openSpec(book, 'cash2', assetId, 'asset'));
  const t: Transaction = {
    ...transfer(book, 'k', 'deposits', 'cash', assetId, 100n),
    metadata: { a: 1, b: [1, 2] },
    external_refs: [{ kind: 'btc_txid', value: 'ab12' }],
  };
  const c = await store.commit(t);
  assert.equal(c.seq, 4);
  return { book, asset: assetId, t, c };
}

/** `t` with a fresh txid and the given changes. */
function retryOf(t: Transaction, changes: Partial<Transaction>): Transaction {
  return { ...structuredClone(t), id: randomUUID(), ...changes };
}

function conflictingVariants({ book, asset: assetId, t }: B1Setup): Array<[string, Transaction]> {
  const [first, second] = t.postings as [Transaction['postings'][0], Transaction['postings'][0]];
  return [
    ['a different amount', retryOf(t, { postings: transfer(book, 'k', 'deposits', 'cash', assetId, 101n).postings })],
    ['the postings in the other order', retryOf(t, { postings: [structuredClone(second), structuredClone(first)] })],
    ['a different account', retryOf(t, { postings: [structuredClone(first), { ...structuredClone(second), account: accountId(book, 'cash2') }] })],
    ['a different direction', retryOf(t, { postings: [structuredClone(first), { ...structuredClone(second), direction: 'credit' }] })],
    ['another external ref value', retryOf(t, { external_refs: [{ kind: 'btc_txid', value: 'ab13' }] })],
    ['one external ref added', retryOf(t, { external_refs: [{ kind: 'btc_txid', value: 'ab12' }, { kind: 'note', value: 'x' }] })],
    ['the external refs emptied', retryOf(t, { external_refs: [] })],
    ['metadata { a: 2, b: [1, 2] }', retryOf(t, { metadata: { a: 2, b: [1, 2] } })],
    ['metadata { a: 1, b: [2, 1] }', retryOf(t, { metadata: { a: 1, b: [2, 1] } })],
    ['metadata null', retryOf(t, { metadata: null })],
  ];
}

function assertConflict(error: StoreError, book: string, key: string, original: Committed): void {
  const conflict = assertStoreError(error, 'IDEMPOTENCY_CONFLICT');
  assert.equal(conflict.book, book);
  assert.equal(conflict.idempotency_key, key);
  assert.deepEqual(conflict.original, original);
}

const B1_CASES: ConformanceCase[] = [
  conformanceCase('B1 idempotency conflict: same content under another txid, occurred_at or key order replays', async (store, ctx) => {
    const setup = await setupB1(store);
    const { book, t, c } = setup;
    store = await ctx.reopen(store);
    assert.deepEqual(await store.commit(retryOf(t, { occurred_at: '2030-01-01T00:00:00+02:00' })), c);
    assert.deepEqual(await store.commit(retryOf(t, { metadata: { b: [1, 2], a: 1 } })), c);
    assert.deepEqual(await store.commit(retryOf(t, { metadata: { a: 1n, b: [1, 2] } })), c);
    assert.deepEqual(await store.commit(t), c);
    assert.deepEqual(await store.readEvents(book, c.seq + 1, 10), []);
    assert.equal(await balanceOf(store, book, 'cash'), 100n);
  }),

  conformanceCase('B1 idempotency conflict: different content rejects IDEMPOTENCY_CONFLICT and appends nothing', async (store, ctx) => {
    const setup = await setupB1(store);
    const { book, t, c } = setup;
    store = await ctx.reopen(store);
    for (const [what, variant] of conflictingVariants(setup)) {
      let error: unknown;
      await store.commit(variant).then(
        () => assert.fail(`${what}: expected IDEMPOTENCY_CONFLICT, resolved`),
        (caught: unknown) => {
          error = caught;
        },
      );
      assertConflict(error as StoreError, book, 'k', c);
      assert.deepEqual(await store.readEvents(book, c.seq + 1, 10), [], `${what} appended nothing`);
    }
    assert.equal(await balanceOf(store, book, 'cash'), 100n);
    assert.equal(await balanceOf(store, book, 'cash2'), 0n);
    const stored = await store.transaction(t.id);
    assert.ok(stored !== null);
    assert.deepEqual(stored.transaction, t);
    assert.equal(await store.transaction(conflictingVariants(setup)[0]![1].id), null);
  }),

  conformanceCase('B1 idempotency conflict: in a batch, against a prior commit and within the batch', async (store, ctx) => {
    const setup = await setupB1(store);
    const { book, asset: assetId, t, c } = setup;
    store = await ctx.reopen(store);
    const same = retryOf(t, { occurred_at: '2030-01-01T00:00:00+02:00' });
    const different = conflictingVariants(setup)[0]![1];
    const results = await store.commitBatch([same, different]);
    assert.equal(results.length, 2);
    assert.deepEqual(okValue(results[0], 'same content'), c);
    assertConflict(errorOf(results[1], 'different content'), book, 'k', c);
    assert.deepEqual(await store.readEvents(book, c.seq + 1, 10), []);

    const x = transfer(book, 'k2', 'deposits', 'cash', assetId, 5n);
    const xChanged = transfer(book, 'k2', 'deposits', 'cash', assetId, 6n);
    const within = await store.commitBatch([x, xChanged]);
    assert.equal(within.length, 2);
    const accepted = okValue(within[0], 'x');
    assert.equal(accepted.txid, x.id);
    assert.equal(accepted.seq, c.seq + 1);
    assertConflict(errorOf(within[1], 'xChanged'), book, 'k2', accepted);
    assert.equal((await store.readEvents(book, c.seq + 1, 10)).length, 1);
    assert.equal(await balanceOf(store, book, 'cash'), 105n);
  }),

  conformanceCase('B1 idempotency conflict: a failed original leaves no record', async (store, ctx) => {
    const { book, asset: assetId } = await freshBookAndAsset(store);
    const [cashDef, cashCfg] = openSpec(book, 'cash', assetId, 'asset');
    await store.openAccount(cashDef, { ...cashCfg, min_balance: 0n });
    await store.openAccount(...openSpec(book, 'expenses', assetId, 'expense'));
    await store.openAccount(...openSpec(book, 'deposits', assetId, 'liability'));
    const failed = transfer(book, 'k3', 'cash', 'expenses', assetId, 100n);
    await expectStoreError(store.commit(failed), 'CONSTRAINT_VIOLATION');
    store = await ctx.reopen(store);
    const other = transfer(book, 'k3', 'deposits', 'cash', assetId, 50n);
    const committed = await store.commit(other);
    assert.equal(committed.txid, other.id);
    assert.equal(committed.seq, 4);
    assert.equal(await balanceOf(store, book, 'cash'), 50n);
    // Now the key has a record, so the first content conflicts with it.
    const error = await expectStoreError(store.commit(retryOf(failed, {})), 'IDEMPOTENCY_CONFLICT');
    assert.deepEqual(error.original, committed);
  }),

  conformanceCase('B1 idempotency conflict: concurrent different contents, exactly one wins', async (store, ctx) => {
    const { book, asset: assetId } = await setupBook(store);
    const settled = await Promise.allSettled([
      store.commit(transfer(book, 'k4', 'deposits', 'cash', assetId, 7n)),
      store.commit(transfer(book, 'k4', 'deposits', 'cash', assetId, 8n)),
    ]);
    const winners = settled.filter((outcome) => outcome.status === 'fulfilled');
    const losers = settled.filter((outcome) => outcome.status === 'rejected');
    assert.equal(winners.length, 1);
    assert.equal(losers.length, 1);
    const winner = (winners[0] as PromiseFulfilledResult<Committed>).value;
    assertConflict((losers[0] as PromiseRejectedResult).reason, book, 'k4', winner);
    store = await ctx.reopen(store);
    assert.equal((await store.readEvents(book, 3, 10)).length, 1);
    const cash = await balanceOf(store, book, 'cash');
    assert.ok(cash === 7n || cash === 8n);
  }),
];

// ---------------------------------------------------------------------------------------------
// B2. Two keys sharing one txid

const B2_CASES: ConformanceCase[] = [
  conformanceCase('B2 two keys sharing one txid: ALREADY_EXISTS in the same book, another book and a batch', async (store, ctx) => {
    const a = await setupBook(store);
    const b = await setupBook(store);
    const t1 = transfer(a.book, 'k1', 'deposits', 'cash', a.asset, 10n);
    const c1 = await store.commit(t1);
    store = await ctx.reopen(store);
    const what = `transaction ${t1.id}`;

    const sameBook = await expectStoreError(
      store.commit({ ...transfer(a.book, 'k2', 'deposits', 'cash', a.asset, 10n), id: t1.id }),
      'ALREADY_EXISTS',
    );
    assert.equal(sameBook.what, what);
    assert.deepEqual(await store.readEvents(a.book, c1.seq + 1, 10), []);
    const stored = await store.transaction(t1.id);
    assert.ok(stored !== null);
    assert.equal(stored.transaction.idempotency_key, 'k1');
    assert.equal(stored.seq, c1.seq);
    assert.deepEqual(stored.transaction, t1);

    const upper = await expectStoreError(
      store.commit({ ...transfer(a.book, 'k2', 'deposits', 'cash', a.asset, 10n), id: t1.id.toUpperCase() }),
      'ALREADY_EXISTS',
    );
    assert.equal(upper.what, what);
    assert.deepEqual(await store.readEvents(a.book, c1.seq + 1, 10), []);

    const otherBook = await expectStoreError(
      store.commit({ ...transfer(b.book, 'k1', 'deposits', 'cash', b.asset, 10n), id: t1.id }),
      'ALREADY_EXISTS',
    );
    assert.equal(otherBook.what, what);
    assert.deepEqual(await store.readEvents(b.book, 3, 10), []);

    assert.deepEqual(await store.commit(t1), c1);
    assert.deepEqual((await store.transaction(t1.id))?.transaction, t1);

    const x = transfer(a.book, 'k6', 'deposits', 'cash', a.asset, 1n);
    const y = { ...transfer(a.book, 'k7', 'deposits', 'cash', a.asset, 1n), id: x.id };
    const results = await store.commitBatch([x, y]);
    assert.equal(results.length, 2);
    assert.equal(okValue(results[0], 'x').txid, x.id);
    const batchError = assertStoreError(errorOf(results[1], 'y'), 'ALREADY_EXISTS');
    assert.equal(batchError.what, `transaction ${x.id}`);
    assert.equal((await store.readEvents(a.book, c1.seq + 1, 10)).length, 1);
  }),

  conformanceCase('B2 two keys sharing one txid: concurrent first use in two books, exactly one wins', async (store, ctx) => {
    const a = await setupBook(store);
    const b = await setupBook(store);
    const id = randomUUID();
    const settled = await Promise.allSettled([
      store.commit({ ...transfer(a.book, 'k8', 'deposits', 'cash', a.asset, 1n), id }),
      store.commit({ ...transfer(b.book, 'k8', 'deposits', 'cash', b.asset, 1n), id }),
    ]);
    const winners = settled.filter((outcome) => outcome.status === 'fulfilled');
    assert.equal(winners.length, 1);
    const loser = settled.find((outcome) => outcome.status === 'rejected') as PromiseRejectedResult;
    assert.equal(assertStoreError(loser.reason, 'ALREADY_EXISTS').what, `transaction ${id}`);
    store = await ctx.reopen(store);
    const winnerBook = settled[0]!.status === 'fulfilled' ? a.book : b.book;
    const loserBook = winnerBook === a.book ? b.book : a.book;
    const stored = await store.transaction(id);
    assert.ok(stored !== null);
    assert.equal(stored.transaction.book, winnerBook);
    assert.equal((await store.readEvents(winnerBook, 3, 10)).length, 1);
    assert.deepEqual(await store.readEvents(loserBook, 3, 10), []);
  }),
];

// ---------------------------------------------------------------------------------------------
// B3. i64 overflow is typed and appends nothing

const B3_CASES: ConformanceCase[] = [
  conformanceCase('B3 overflow: typed OVERFLOW appends nothing; trial-balance sums saturate', async (store, ctx) => {
    const { book, asset: assetId } = await freshBookAndAsset(store);
    for (const path of ['a', 'b', 'c', 'd']) await store.openAccount(...openSpec(book, path, assetId, 'clearing'));
    await store.openAccount(...openSpec(book, 'l', assetId, 'liability'));
    const p = (path: string, direction: 'debit' | 'credit', minor: bigint) => posting(book, path, direction, assetId, minor);
    const balances = async (): Promise<bigint[]> =>
      Promise.all(['a', 'b', 'c', 'd', 'l'].map((path) => balanceOf(store, book, path)));

    const ab = await store.commit(draft(book, 'ab', [p('a', 'debit', I64_MAX), p('b', 'credit', I64_MAX)]));
    assert.equal(ab.seq, 6);
    assert.deepEqual(await balances(), [I64_MAX, -I64_MAX, 0n, 0n, 0n]);

    const beyond = await expectStoreError(store.commit(draft(book, 'ab1', [p('a', 'debit', 1n), p('b', 'credit', 1n)])), 'OVERFLOW');
    assert.deepEqual(beyond.account, accountId(book, 'a'));
    assert.equal((await store.readEvents(book, 1, 100)).length, 6);
    assert.deepEqual(await balances(), [I64_MAX, -I64_MAX, 0n, 0n, 0n]);

    const ownDelta = await expectStoreError(
      store.commit(draft(book, 'cc', [p('c', 'debit', I64_MAX), p('c', 'debit', 1n), p('d', 'credit', 1n), p('d', 'credit', I64_MAX)])),
      'OVERFLOW',
    );
    assert.deepEqual(ownDelta.account, accountId(book, 'c'));

    const creditMin = await expectStoreError(store.commit(draft(book, 'cmin', [p('c', 'credit', I64_MIN)])), 'OVERFLOW');
    assert.deepEqual(creditMin.account, accountId(book, 'c'));
    assert.equal((await store.readEvents(book, 1, 100)).length, 6);

    const lc = await store.commit(draft(book, 'lc', [p('l', 'credit', I64_MAX), p('c', 'debit', I64_MAX)]));
    assert.equal(lc.seq, ab.seq + 1, 'no seq gap after the rejected commits');
    assert.equal(await balanceOf(store, book, 'l'), I64_MAX);

    const effective = await expectStoreError(store.commit(draft(book, 'ld', [p('l', 'credit', 1n), p('d', 'debit', 1n)])), 'OVERFLOW');
    assert.deepEqual(effective.account, accountId(book, 'l'));

    await expectInvalidArgument(
      store.commit(draft(book, 'r1', [p('a', 'debit', 2n ** 63n), p('b', 'credit', 1n)])),
      'postings[0].amount.minor',
    );
    await expectInvalidArgument(
      store.commit(draft(book, 'r2', [p('a', 'debit', 1n), p('b', 'credit', -(2n ** 63n) - 1n)])),
      'postings[1].amount.minor',
    );

    store = await ctx.reopen(store);
    assert.equal((await store.readEvents(book, 1, 100)).length, 7);
    assert.deepEqual(await balances(), [I64_MAX, -I64_MAX, I64_MAX, 0n, I64_MAX]);
    const saturated = [{ asset: assetId, debits: I64_MAX, credits: I64_MAX }];
    assert.deepEqual(await store.trialBalance(book), saturated);
    assert.deepEqual(await store.trialBalance(book, lc.at), saturated);
    assert.deepEqual(await store.trialBalance(book, new Date(Date.parse(lc.at) + 1000)), saturated);
    assert.deepEqual(await store.trialBalance(book), saturated);
    assert.deepEqual(await store.trialBalance(book, ab.at), [{ asset: assetId, debits: I64_MAX, credits: I64_MAX }]);
    const beforeAll = new Date(Date.parse(ab.at) - 1000);
    assert.deepEqual(await store.trialBalance(book, beforeAll), []);
  }),
];

// ---------------------------------------------------------------------------------------------
// B4. Amounts beyond 2^53 are exact everywhere

const BIG = 9007199254740993n; // 2^53 + 1

async function checkBigAmounts(store: Store, book: string, assetId: string, tx: Transaction, committed: Committed): Promise<void> {
  assert.equal(await balanceOf(store, book, 'big'), BIG);
  assert.equal(await balanceOf(store, book, 'src'), -BIG);
  const history = await store.accountHistory(accountId(book, 'big'), null, 10);
  assert.equal(history.length, 1);
  assert.equal(history[0]!.amount.minor, BIG);
  const stored = await store.transaction(tx.id);
  assert.ok(stored !== null);
  assert.deepEqual(
    stored.transaction.postings.map((entry) => entry.amount.minor),
    [BIG, BIG],
  );
  const expectedMetadata = { n: BIG, m: -1180591620717411303424n, small: 5 };
  assert.deepEqual(stored.transaction.metadata, expectedMetadata);

  const events = await store.readEvents(book, 1, 10);
  const opened = events.find((sequenced) => sequenced.event.kind === 'account_opened' && sequenced.event.def.id.path === 'big');
  assert.ok(opened !== undefined && opened.event.kind === 'account_opened');
  assert.equal(opened.event.cfg.min_balance, -9223372036854775808n);
  const posted = events.find((sequenced) => sequenced.seq === committed.seq);
  assert.ok(posted !== undefined && posted.event.kind === 'transaction_posted');
  assert.deepEqual(
    posted.event.postings.map((entry) => entry.amount.minor),
    [BIG, BIG],
  );
  assert.deepEqual(posted.event.metadata, expectedMetadata);
  assert.deepEqual(await store.trialBalance(book), [{ asset: assetId, debits: BIG, credits: BIG }]);
}

const B4_CASES: ConformanceCase[] = [
  conformanceCase('B4 big amounts: values beyond 2^53 are exact in every read', async (store, ctx) => {
    const { book, asset: assetId } = await freshBookAndAsset(store);
    const [bigDef, bigCfg] = openSpec(book, 'big', assetId, 'clearing');
    await store.openAccount(bigDef, { ...bigCfg, min_balance: I64_MIN });
    await store.openAccount(...openSpec(book, 'src', assetId, 'clearing'));
    const tx: Transaction = {
      ...transfer(book, 'big', 'src', 'big', assetId, BIG),
      metadata: { n: BIG, m: -(2n ** 70n), small: 5n },
    };
    const committed = await store.commit(tx);
    await checkBigAmounts(store, book, assetId, tx, committed);
    store = await ctx.reopen(store);
    await checkBigAmounts(store, book, assetId, tx, committed);
  }),

  conformanceCase('B4 big amounts: a number amount must be a safe integer', async (store, ctx) => {
    const { book, asset: assetId } = await setupBook(store);
    await expectInvalidArgument(
      store.commit(transfer(book, 'unsafe', 'deposits', 'cash', assetId, malformed<bigint>(2 ** 53 + 2))),
      'postings[0].amount.minor',
    );
    const tx = transfer(book, 'small', 'deposits', 'cash', assetId, malformed<bigint>(100));
    const committed = await store.commit(tx);
    assert.equal(committed.seq, 3);
    store = await ctx.reopen(store);
    const cash = await balanceOf(store, book, 'cash');
    assert.equal(typeof cash, 'bigint');
    assert.equal(cash, 100n);
    const stored = await store.transaction(tx.id);
    assert.ok(stored !== null);
    assert.deepEqual(
      stored.transaction.postings.map((entry) => entry.amount.minor),
      [100n, 100n],
    );
    const history = await store.accountHistory(accountId(book, 'cash'), null, 10);
    assert.equal(history[0]!.amount.minor, 100n);
  }),
];

// ---------------------------------------------------------------------------------------------
// B5. `at` round-trips exactly

/** Every read and a replay of each key return the committed `at` strings exactly. */
async function checkAtRoundTrip(store: Store, book: string, txs: Transaction[], commits: Committed[]): Promise<void> {
  const atBySeq = new Map(commits.map((committed) => [committed.seq, committed.at]));
  const events = await store.readEvents(book, 3, 10);
  assert.equal(events.length, commits.length);
  for (const event of events) assert.equal(event.at, atBySeq.get(event.seq));
  for (const [index, tx] of txs.entries()) {
    const stored = await store.transaction(tx.id);
    assert.ok(stored !== null);
    assert.equal(stored.at, commits[index]!.at);
  }
  const history = await store.accountHistory(accountId(book, 'cash'), null, 10);
  assert.equal(history.length, commits.length);
  for (const record of history) assert.equal(record.at, atBySeq.get(record.seq));

  const stream = store.subscribe(book, 3);
  try {
    for (const committed of commits) {
      const event = await nextEvent(stream);
      assert.equal(event.seq, committed.seq);
      assert.equal(event.at, committed.at);
    }
  } finally {
    await stream.return();
  }
  for (const [index, tx] of txs.entries()) {
    assert.deepEqual(await store.commit({ ...tx, id: randomUUID() }), commits[index]);
  }
}

const B5_CASES: ConformanceCase[] = [
  conformanceCase('B5 at round-trip: every read and replay returns the committed at exactly', async (store, ctx) => {
    const { book, asset: assetId } = await setupBook(store);
    const txs: Transaction[] = [];
    const commits: Committed[] = [];
    for (let index = 0; index < 3; index++) {
      const tx = transfer(book, `at-${index}`, 'deposits', 'cash', assetId, 1n);
      txs.push(tx);
      commits.push(await store.commit(tx));
    }
    const batch = [0, 1].map((index) => transfer(book, `at-batch-${index}`, 'deposits', 'cash', assetId, 1n));
    txs.push(...batch);
    for (const [index, result] of (await store.commitBatch(batch)).entries()) commits.push(okValue(result, `batch ${index}`));
    for (const committed of commits) assert.match(committed.at, AT_PATTERN);
    await checkAtRoundTrip(store, book, txs, commits);
    store = await ctx.reopen(store);
    await checkAtRoundTrip(store, book, txs, commits);
    const lastAt = commits[commits.length - 1]!.at;
    const later = await store.commit(transfer(book, 'at-later', 'deposits', 'cash', assetId, 1n));
    assert.ok(later.at >= lastAt, `at ${later.at} after ${lastAt}`);
  }),
];

// ---------------------------------------------------------------------------------------------
// B6. Strict book-name pattern

const BAD_BOOK_NAMES = ['', '.', '..', '../evil', 'a/b', 'a\\b', 'a:b', 'a b', 'café', 'x'.repeat(129), 'a\u0000b'];

async function expectInvalidBook(promise: Promise<unknown>, book: string, reason: 'pattern' | 'reserved' | 'case_conflict'): Promise<void> {
  const error = await expectStoreError(promise, 'INVALID_BOOK');
  assert.equal(error.reason, reason, `reason for ${JSON.stringify(book)}`);
  assert.equal(error.book, book);
}

const B6_CASES: ConformanceCase[] = [
  conformanceCase('B6 book names: names that break the pattern give INVALID_BOOK pattern everywhere', async (store) => {
    const { book: goodBook, asset: assetId } = await setupBook(store);
    for (const name of BAD_BOOK_NAMES) {
      await expectInvalidBook(store.openAccount(...openSpec(name, 'cash', assetId, 'asset')), name, 'pattern');
      await expectInvalidBook(store.commit(transfer(name, 'k', 'deposits', 'cash', assetId, 1n)), name, 'pattern');
      const results = await store.commitBatch([
        transfer(name, 'k', 'deposits', 'cash', assetId, 1n),
        transfer(goodBook, `ok-${BAD_BOOK_NAMES.indexOf(name)}`, 'deposits', 'cash', assetId, 1n),
      ]);
      assert.equal(results.length, 2);
      const slotError = assertStoreError(errorOf(results[0], 'bad slot'), 'INVALID_BOOK');
      assert.equal(slotError.reason, 'pattern');
      assert.equal(slotError.book, name);
      okValue(results[1], 'good slot');
      await expectInvalidBook(store.balance(accountId(name, 'cash')), name, 'pattern');
      await expectInvalidBook(store.accountHistory(accountId(name, 'cash'), null, 10), name, 'pattern');
      await expectInvalidBook(store.trialBalance(name), name, 'pattern');
      await expectInvalidBook(store.readEvents(name, 1, 10), name, 'pattern');
      const stream = store.subscribe(name, 1);
      await expectInvalidBook(nextWithin(stream), name, 'pattern');
      assert.equal((await nextWithin(stream)).done, true, 'the stream is finished after its error');
    }
    assert.equal((await store.readEvents(goodBook, 3, 100)).length, BAD_BOOK_NAMES.length);
  }),

  conformanceCase('B6 book names: a 128-character name and names with . _ - work for writes and reads', async (store, ctx) => {
    const assetId = unique('USD');
    await store.registerAsset(asset(assetId));
    const long = (unique('long') + '-'.repeat(128)).slice(0, 127) + 'z';
    assert.equal(long.length, 128);
    const names = [long, unique('treasury.eu_main-x')];
    const commits = new Map<string, Committed>();
    for (const name of names) {
      await setupNamedBook(store, name, assetId);
      commits.set(name, await store.commit(transfer(name, 'k', 'deposits', 'cash', assetId, 5n)));
      const results = await store.commitBatch([transfer(name, 'k2', 'deposits', 'cash', assetId, 2n)]);
      assert.equal(okValue(results[0], 'batch').seq, 4);
    }
    store = await ctx.reopen(store);
    for (const name of names) {
      assert.equal(commits.get(name)!.seq, 3);
      assert.equal(await balanceOf(store, name, 'cash'), 7n);
      assert.equal((await store.readEvents(name, 1, 10)).length, 4);
      assert.deepEqual(await store.trialBalance(name), [{ asset: assetId, debits: 7n, credits: 7n }]);
      assert.equal((await store.accountHistory(accountId(name, 'deposits'), null, 10)).length, 2);
      const stream = store.subscribe(name, 1);
      try {
        assert.equal((await nextEvent(stream)).seq, 1);
      } finally {
        await stream.return();
      }
    }
  }),

  conformanceCase('B6 book names: reserved names refuse writes and allow reads', async (store) => {
    const { book, asset: assetId } = await setupBook(store);
    const reserved = `_${unique('res')}`;
    await expectInvalidBook(store.openAccount(...openSpec(reserved, 'cash', assetId, 'asset')), reserved, 'reserved');
    await expectInvalidBook(store.commit(transfer(reserved, 'k', 'deposits', 'cash', assetId, 1n)), reserved, 'reserved');
    const results = await store.commitBatch([
      transfer(reserved, 'k', 'deposits', 'cash', assetId, 1n),
      transfer(book, 'k', 'deposits', 'cash', assetId, 1n),
    ]);
    const slotError = assertStoreError(errorOf(results[0], 'reserved slot'), 'INVALID_BOOK');
    assert.equal(slotError.reason, 'reserved');
    assert.equal(slotError.book, reserved);
    assert.equal(okValue(results[1], 'good slot').seq, 3);

    assert.deepEqual(await store.readEvents(reserved, 1, 10), []);
    assert.deepEqual(await store.trialBalance(reserved), []);
    assert.deepEqual(await store.trialBalance('_system'), []);
    const unknown = await expectStoreError(store.balance(accountId(reserved, 'cash')), 'UNKNOWN_ACCOUNT');
    assert.deepEqual(unknown.account, accountId(reserved, 'cash'));
    await expectStoreError(store.accountHistory(accountId(reserved, 'cash'), null, 10), 'UNKNOWN_ACCOUNT');
    const stream = store.subscribe(reserved, 1);
    const pending = stream.next();
    pending.catch(() => undefined);
    try {
      assert.ok(await stillPendingAfter(pending, 50), 'a subscription to an empty reserved book waits');
    } finally {
      await stream.return();
    }
  }),

  conformanceCase('B6 book names: a name equal to an existing book ignoring case is case_conflict', async (store, ctx) => {
    const assetId = unique('USD');
    await store.registerAsset(asset(assetId));
    const hex = randomUUID().replaceAll('-', '');
    const lower = `onramp-${hex}`;
    const upper = `ONRAMP-${hex}`;
    await store.openAccount(...openSpec(lower, 'cash', assetId, 'asset'));
    store = await ctx.reopen(store);
    await expectInvalidBook(store.openAccount(...openSpec(upper, 'cash', assetId, 'asset')), upper, 'case_conflict');
    assert.deepEqual(await store.readEvents(upper, 1, 10), []);
    assert.deepEqual(await store.trialBalance(upper), []);
    assert.equal((await store.readEvents(lower, 1, 10)).length, 1);
    // The existing book itself still accepts writes.
    await store.openAccount(...openSpec(lower, 'deposits', assetId, 'liability'));
    assert.equal((await store.readEvents(lower, 1, 10)).length, 2);
  }),

  conformanceCase('B6 book names: a refused write never reserves a name, also while it is in flight', async (store, ctx) => {
    const assetId = unique('USD');
    await store.registerAsset(asset(assetId));
    const hex = randomUUID().replaceAll('-', '');
    // Sent together: the lower-case book fails (unknown asset), so the upper-case one may exist.
    const [refused, accepted] = await Promise.allSettled([
      store.openAccount(...openSpec(`gamma-${hex}`, 'cash', unique('NOPE'), 'asset')),
      store.openAccount(...openSpec(`GAMMA-${hex}`, 'cash', assetId, 'asset')),
    ]);
    assert.equal(refused.status, 'rejected');
    assertStoreError((refused as PromiseRejectedResult).reason, 'UNKNOWN_ASSET');
    assert.equal(accepted.status, 'fulfilled', 'GAMMA is accepted: gamma never came to exist');
    // Sent together the other way round: the first succeeds, so the second is case_conflict.
    const [first, second] = await Promise.allSettled([
      store.openAccount(...openSpec(`delta-${hex}`, 'cash', assetId, 'asset')),
      store.openAccount(...openSpec(`DELTA-${hex}`, 'cash', assetId, 'asset')),
    ]);
    assert.equal(first.status, 'fulfilled');
    assert.equal(second.status, 'rejected');
    assert.equal(assertStoreError((second as PromiseRejectedResult).reason, 'INVALID_BOOK').reason, 'case_conflict');
    // One after another: a refused write leaves the name free.
    await expectStoreError(store.openAccount(...openSpec(`omega-${hex}`, 'cash', unique('NOPE'), 'asset')), 'UNKNOWN_ASSET');
    await store.openAccount(...openSpec(`OMEGA-${hex}`, 'cash', assetId, 'asset'));
    store = await ctx.reopen(store);
    for (const book of [`GAMMA-${hex}`, `delta-${hex}`, `OMEGA-${hex}`]) assert.equal((await store.readEvents(book, 1, 10)).length, 1, book);
    for (const book of [`gamma-${hex}`, `DELTA-${hex}`, `omega-${hex}`]) assert.deepEqual(await store.readEvents(book, 1, 10), [], book);
    await expectInvalidBook(store.openAccount(...openSpec(`gamma-${hex}`, 'cash', assetId, 'asset')), `gamma-${hex}`, 'case_conflict');
  }),
];

// ---------------------------------------------------------------------------------------------
// B8. close() always resolves

const B8_CASES: ConformanceCase[] = [
  conformanceCase('B8 close: resolves with open subscriptions and a commit in flight; then every call is CLOSED', async (store) => {
    const { book, asset: assetId } = await setupBook(store);
    const s1 = store.subscribe(book, 3);
    const s1Pending = s1.next();
    s1Pending.catch(() => undefined);
    await sleep(20); // s1 has caught up and waits at the live tail
    const s2 = store.subscribe(book, 1);
    const inFlight = store.commit(transfer(book, 'in-flight', 'deposits', 'cash', assetId, 1n));
    inFlight.catch(() => undefined);

    const closed = await settleWithin(store.close(), 5000, 'close()');
    assert.equal(closed.status, 'fulfilled');
    const s1Result = await settleWithin(s1Pending, 5000, "S1's pending next()");
    assert.equal(s1Result.status, 'fulfilled');
    assert.deepEqual((s1Result as PromiseFulfilledResult<IteratorResult<SequencedEvent>>).value.done, true);
    assert.equal((await nextWithin(s2)).done, true);
    const commitResult = await settleWithin(inFlight, 5000, 'the in-flight commit');
    if (commitResult.status === 'rejected') assertStoreError(commitResult.reason, 'CLOSED');

    const cash = accountId(book, 'cash');
    const calls: Array<[string, () => Promise<unknown>]> = [
      ['registerAsset', () => store.registerAsset(asset(unique('USD')))],
      ['openAccount', () => store.openAccount(...openSpec(book, 'other', assetId, 'asset'))],
      ['commit', () => store.commit(transfer(book, 'late', 'deposits', 'cash', assetId, 1n))],
      ['commit (malformed)', () => store.commit(malformed<Transaction>(null))],
      ['commitBatch', () => store.commitBatch([transfer(book, 'late', 'deposits', 'cash', assetId, 1n)])],
      ['commitBatch (empty)', () => store.commitBatch([])],
      ['balance', () => store.balance(cash)],
      ['asset', () => store.asset(assetId)],
      ['accountHistory', () => store.accountHistory(cash, null, 10)],
      ['transaction', () => store.transaction(randomUUID())],
      ['trialBalance', () => store.trialBalance(book)],
      ['readEvents', () => store.readEvents(book, 1, 10)],
      ['readEvents (malformed book)', () => store.readEvents('../evil', 1, 10)],
    ];
    for (const [what, call] of calls) {
      const error = await expectStoreError(call(), 'CLOSED').catch((cause: unknown) => {
        throw new Error(`${what} after close()`, { cause });
      });
      assert.equal(error.code, 'CLOSED');
    }
    const late = store.subscribe(book, 1);
    await expectStoreError(nextWithin(late), 'CLOSED');
    assert.equal((await nextWithin(late)).done, true);
    const again = await settleWithin(store.close(), 5000, 'the second close()');
    assert.equal(again.status, 'fulfilled');
  }),

  conformanceCase('B8 close: aborting a subscription rejects next() with AbortError and leaves others working', async (store) => {
    const { book, asset: assetId } = await setupBook(store);
    const controller = new AbortController();
    const aborted = store.subscribe(book, 1, { signal: controller.signal });
    const other = store.subscribe(book, 1);
    try {
      assert.equal((await nextEvent(aborted)).seq, 1);
      assert.equal((await nextEvent(aborted)).seq, 2);
      assert.equal((await nextEvent(other)).seq, 1);
      const pending = aborted.next();
      pending.catch(() => undefined);
      await sleep(10);
      controller.abort();
      const outcome = await settleWithin(pending, 5000, 'the aborted next()');
      assert.equal(outcome.status, 'rejected');
      assert.equal((outcome as PromiseRejectedResult).reason.name, 'AbortError');
      assert.equal((await nextWithin(aborted)).done, true, 'the stream is finished after the abort');

      const preAborted = new AbortController();
      preAborted.abort();
      const never = store.subscribe(book, 1, { signal: preAborted.signal });
      const first = await settleWithin(nextWithin(never), 5000, 'the first next() of a pre-aborted stream');
      assert.equal(first.status, 'rejected');
      assert.equal((first as PromiseRejectedResult).reason.name, 'AbortError');

      assert.equal((await nextEvent(other)).seq, 2);
      const committed = await store.commit(transfer(book, 'after-abort', 'deposits', 'cash', assetId, 1n));
      const live = await nextEvent(other);
      assert.equal(live.seq, committed.seq);
    } finally {
      await aborted.return();
      await other.return();
    }
  }),
];

// ---------------------------------------------------------------------------------------------
// B11. Input validation

type Tx = Transaction;

function withoutField(tx: Tx, field: keyof Tx): Tx {
  const copy: Partial<Tx> = { ...tx };
  delete copy[field];
  return copy as Tx;
}

function withMinor(tx: Tx, index: number, minor: unknown): Tx {
  const copy = structuredClone(tx);
  copy.postings[index]!.amount.minor = minor as bigint;
  return copy;
}

const B11_CASES: ConformanceCase[] = [
  conformanceCase('B11 input validation: malformed input gives INVALID_ARGUMENT naming the field and changes nothing', async (store, ctx) => {
    const { book, asset: assetId } = await setupBook(store);
    await store.commit(transfer(book, 'fund', 'deposits', 'cash', assetId, 100n));
    const cash = accountId(book, 'cash');
    const snapshot = async () => ({
      events: await store.readEvents(book, 1, 100),
      cash: await store.balance(cash),
      deposits: await store.balance(accountId(book, 'deposits')),
      trial: await store.trialBalance(book),
      history: await store.accountHistory(cash, null, 100),
    });
    const before = await snapshot();
    const base = (): Tx => transfer(book, unique('key'), 'deposits', 'cash', assetId, 10n);
    const cycle: Record<string, unknown> = {};
    cycle.self = cycle;
    const badCommits: Array<[string, Tx]> = [
      ['postings[0].amount.minor', withMinor(base(), 0, 1.5)],
      ['postings[0].amount.minor', withMinor(base(), 0, Number.NaN)],
      ['postings[0].amount.minor', withMinor(base(), 0, Number.POSITIVE_INFINITY)],
      ['postings[0].amount.minor', withMinor(base(), 0, 2 ** 53)],
      ['postings[0].amount.minor', withMinor(base(), 0, 2n ** 63n)],
      ['postings[0].amount.minor', withMinor(base(), 0, -(2n ** 63n) - 1n)],
      ['postings[0].amount.minor', withMinor(base(), 0, '100')],
      ['postings[1].amount.minor', withMinor(base(), 1, 0.5)],
      ['id', { ...base(), id: 'not-a-uuid' }],
      ['id', { ...base(), id: `${randomUUID()}x` }],
      ['id', { ...base(), id: malformed<string>(42) }],
      ['occurred_at', { ...base(), occurred_at: malformed<string>(new Date()) }],
      ['occurred_at', { ...base(), occurred_at: '2026-06-05' }],
      ['occurred_at', { ...base(), occurred_at: '2026-02-30T00:00:00Z' }],
      ['occurred_at', { ...base(), occurred_at: '2026-06-05t12:00:00Z' }],
      ['metadata.u', { ...base(), metadata: malformed<JsonValue>({ u: undefined }) }],
      ['metadata.f', { ...base(), metadata: malformed<JsonValue>({ f: () => 1 }) }],
      ['metadata.n', { ...base(), metadata: { n: Number.NaN } }],
      ['metadata.d', { ...base(), metadata: malformed<JsonValue>({ d: new Date() }) }],
      ['metadata.m', { ...base(), metadata: malformed<JsonValue>({ m: new Map() }) }],
      ['metadata.c.self', { ...base(), metadata: malformed<JsonValue>({ c: cycle }) }],
      ['metadata.s', { ...base(), metadata: { s: 'a\uD800b' } }],
      ['idempotency_key', { ...base(), idempotency_key: '\uDC00' }],
      ['postings[0].account.path', (() => {
        const tx = base();
        tx.postings[0]!.account.path = 'cash\uD800';
        return tx;
      })()],
      ['external_refs[0].value', { ...base(), external_refs: [{ kind: 'btc_txid', value: '\uD83D' }] }],
      ['external_refs', withoutField(base(), 'external_refs')],
      ['metadata', withoutField(base(), 'metadata')],
      ['postings', withoutField(base(), 'postings')],
      ['occurred_at', withoutField(base(), 'occurred_at')],
      ['idempotency_key', withoutField(base(), 'idempotency_key')],
      ['id', withoutField(base(), 'id')],
      ['postings[0].direction', (() => {
        const tx = base();
        delete (tx.postings[0] as Partial<Tx['postings'][0]>).direction;
        return tx;
      })()],
    ];
    for (const [field, tx] of badCommits) {
      await expectInvalidArgument(store.commit(tx), field).catch((cause: unknown) => {
        throw new Error(`commit with a bad ${field}`, { cause });
      });
      const results = await store.commitBatch([tx]);
      const slot = assertStoreError(errorOf(results[0], field), 'INVALID_ARGUMENT');
      assert.equal(slot.field, field);
    }
    // An event above 4 MiB.
    const oversized = await expectStoreError(store.commit({ ...base(), metadata: { blob: 'x'.repeat(4 * 1024 * 1024) } }), 'INVALID_ARGUMENT');
    assert.equal(typeof oversized.field, 'string');
    assert.notEqual(oversized.field, '');
    await expectInvalidArgument(store.commitBatch(malformed<Tx[]>('nope')), 'txs');

    // Counts: negative or fractional limit, from, afterSeq.
    await expectInvalidArgument(store.readEvents(book, -1, 10), 'from');
    await expectInvalidArgument(store.readEvents(book, 1.5, 10), 'from');
    await expectInvalidArgument(store.readEvents(book, 1, -1), 'limit');
    await expectInvalidArgument(store.readEvents(book, 1, 2.5), 'limit');
    await expectInvalidArgument(store.accountHistory(cash, -1, 10), 'afterSeq');
    await expectInvalidArgument(store.accountHistory(cash, 0.5, 10), 'afterSeq');
    await expectInvalidArgument(store.accountHistory(cash, null, -1), 'limit');
    await expectInvalidArgument(store.accountHistory(cash, null, 2.5), 'limit');
    for (const from of [-1, 1.5]) {
      const stream = store.subscribe(book, from);
      await expectInvalidArgument(nextWithin(stream), 'from');
      assert.equal((await nextWithin(stream)).done, true);
    }

    // Other read arguments.
    await expectInvalidArgument(store.transaction('not-a-uuid'), 'txid');
    await expectInvalidArgument(store.asset(malformed<string>(42)), 'id');

    // asOf.
    await expectInvalidArgument(store.balance(cash, new Date(Number.NaN)), 'asOf');
    await expectInvalidArgument(store.trialBalance(book, new Date('not a date')), 'asOf');
    await expectInvalidArgument(store.balance(cash, 'yesterday'), 'asOf');
    await expectInvalidArgument(store.trialBalance(book, malformed<string>(12345)), 'asOf');

    // Assets: precision 256 or 1.5.
    for (const precision of [256, 1.5, -1]) {
      const def: AssetDef = { ...asset(unique('BAD')), precision };
      await expectInvalidArgument(store.registerAsset(def), 'def.precision');
      assert.equal(await store.asset(def.id), null);
    }
    const surrogateAsset: AssetDef = { ...asset(unique('BAD')), name: 'x\uD800' };
    await expectInvalidArgument(store.registerAsset(surrogateAsset), 'def.name');
    assert.equal(await store.asset(surrogateAsset.id), null);

    // Accounts: unknown kind, bad normal_side, bad min_balance, lone surrogate.
    const newBook = unique('book');
    const badAccounts: Array<[string, AccountDef, AccountCfg]> = [];
    for (const target of [book, newBook]) {
      const [def, cfg] = openSpec(target, 'fresh', assetId, 'asset');
      badAccounts.push(
        ['def.kind', { ...def, kind: malformed<AccountDef['kind']>('bogus') }, cfg],
        ['cfg.normal_side', def, { ...cfg, normal_side: malformed<AccountCfg['normal_side']>('up') }],
        ['cfg.min_balance', def, { ...cfg, min_balance: malformed<bigint>(1.5) }],
        ['cfg.min_balance', def, { ...cfg, min_balance: 2n ** 63n }],
        ['def.id.path', { ...def, id: accountId(target, 'x\uDBFF') }, cfg],
      );
    }
    for (const [field, def, cfg] of badAccounts) await expectInvalidArgument(store.openAccount(def, cfg), field);

    store = await ctx.reopen(store);
    assert.deepEqual(await snapshot(), before);
    assert.deepEqual(await store.readEvents(newBook, 1, 10), []);
    await expectStoreError(store.balance(accountId(book, 'fresh')), 'UNKNOWN_ACCOUNT');
    const next = await store.commit(transfer(book, 'after', 'deposits', 'cash', assetId, 1n));
    assert.equal(next.seq, 4, 'no seq was consumed');

    // A malformed draft fails only its own slot.
    const good = transfer(book, 'good', 'deposits', 'cash', assetId, 1n);
    const mixed = await store.commitBatch([withMinor(base(), 0, 1.5), good]);
    assert.equal(assertStoreError(errorOf(mixed[0], 'bad'), 'INVALID_ARGUMENT').field, 'postings[0].amount.minor');
    assert.equal(okValue(mixed[1], 'good').seq, 5);
  }),

  conformanceCase('B11 input validation: an unknown field is INVALID_ARGUMENT naming it, at every level of a write', async (store) => {
    const { book, asset: assetId } = await setupBook(store);
    const base = (): Tx => transfer(book, unique('key'), 'deposits', 'cash', assetId, 10n);
    const extra = <T extends object>(value: T, key: string): T => ({ ...value, [key]: 1 });
    const withPosting = (tx: Tx, change: (p: Tx['postings'][number]) => Tx['postings'][number]): Tx => ({
      ...tx,
      postings: [change(tx.postings[0]!), ...tx.postings.slice(1)],
    });
    const cases: Array<[string, Tx]> = [
      ['memo', extra(base(), 'memo')],
      ['postings[0].note', withPosting(base(), (p) => extra(p, 'note'))],
      ['postings[0].account.asset', withPosting(base(), (p) => ({ ...p, account: extra(p.account, 'asset') }))],
      ['postings[0].amount.precision', withPosting(base(), (p) => ({ ...p, amount: extra(p.amount, 'precision') }))],
      ['external_refs[0].url', { ...base(), external_refs: [{ kind: 'invoice', value: '7', url: 'x' } as Tx['external_refs'][number]] }],
    ];
    const before = await store.readEvents(book, 1, 100);
    for (const [field, tx] of cases) await expectInvalidArgument(store.commit(tx), field);
    const slots = await store.commitBatch(cases.map(([, tx]) => tx));
    slots.forEach((slot, index) => assert.equal(assertStoreError(errorOf(slot, cases[index]![0]), 'INVALID_ARGUMENT').field, cases[index]![0]));
    const [def, cfg] = openSpec(book, unique('acct'), assetId, 'asset');
    await expectInvalidArgument(store.openAccount(extra(def, 'owner'), cfg), 'def.owner');
    await expectInvalidArgument(store.openAccount({ ...def, id: extra(def.id, 'kind') }, cfg), 'def.id.kind');
    await expectInvalidArgument(store.openAccount(def, extra(cfg, 'max_balance')), 'cfg.max_balance');
    await expectInvalidArgument(store.registerAsset(extra(asset(unique('EUR')), 'symbol')), 'def.symbol');
    await expectInvalidArgument(
      store.registerAsset({ ...asset(unique('BTC')), class: { crypto: { network: 'btc', native_id: null, chain: 1 } } as never }),
      'def.class.crypto.chain',
    );
    // A bad known field is reported before an unknown one.
    await expectInvalidArgument(store.commit({ ...extra(base(), 'memo'), occurred_at: 'yesterday' }), 'occurred_at');
    // Symbol keys and non-enumerable properties are not fields: the write goes through without them.
    const hidden = base();
    Object.defineProperty(hidden, 'note', { value: 'invisible', enumerable: false });
    (hidden as unknown as Record<symbol, unknown>)[Symbol('tag')] = 1;
    const metadata: Record<string | symbol, unknown> = { visible: 1, [Symbol('secret')]: 2 };
    Object.defineProperty(metadata, 'hidden', { value: 3, enumerable: false });
    hidden.metadata = metadata as JsonValue;
    const committed = await store.commit(hidden);
    const stored = await store.transaction(hidden.id);
    assert.deepEqual(stored?.transaction.metadata, { visible: 1 }, 'only enumerable string keys of metadata are stored');
    assert.equal((await store.readEvents(book, 1, 100)).length, before.length + 1);
    assert.equal(committed.seq, before.length + 1);
  }),

  conformanceCase("B11 input validation: an exception from the caller's own object is INVALID_ARGUMENT with it as the cause", async (store) => {
    const { book, asset: assetId } = await setupBook(store);
    const before = await store.readEvents(book, 1, 100);
    const boom = new RangeError('getter exploded');
    const throwing = { ...transfer(book, unique('key'), 'deposits', 'cash', assetId, 10n) };
    Object.defineProperty(throwing, 'metadata', { enumerable: true, get: () => { throw boom; } });
    const revocable = Proxy.revocable(transfer(book, unique('key'), 'deposits', 'cash', assetId, 10n), {});
    revocable.revoke();
    const trap = new Proxy(transfer(book, unique('key'), 'deposits', 'cash', assetId, 10n), {
      get() {
        throw boom;
      },
    });
    for (const [what, tx, cause] of [
      ['a throwing getter', throwing, boom],
      ['a revoked proxy', revocable.proxy, null],
      ['a throwing get trap', trap, boom],
    ] as const) {
      const error = await expectStoreError(store.commit(tx as Tx), 'INVALID_ARGUMENT');
      assert.equal(error.field, 'tx', what);
      if (cause !== null) assert.equal(error.cause, cause, `${what}: the caller's error is the cause`);
      else assert.ok(error.cause instanceof TypeError, `${what}: the TypeError is the cause`);
      const [slot] = await store.commitBatch([tx as Tx]);
      assert.equal(assertStoreError(errorOf(slot, what), 'INVALID_ARGUMENT').field, 'tx', `${what} in a batch`);
    }
    const batchProxy = new Proxy([] as Tx[], {
      get(target, key, receiver) {
        if (key === 'length') throw boom;
        return Reflect.get(target, key, receiver);
      },
    });
    assert.equal((await expectStoreError(store.commitBatch(batchProxy), 'INVALID_ARGUMENT')).field, 'txs');
    const [def, cfg] = openSpec(book, unique('acct'), assetId, 'asset');
    const badCfg = Object.defineProperty({ ...cfg }, 'min_balance', { enumerable: true, get: () => { throw boom; } });
    assert.equal((await expectStoreError(store.openAccount(def, badCfg), 'INVALID_ARGUMENT')).cause, boom);
    const badAsset = Object.defineProperty({ ...asset(unique('EUR')) }, 'name', { enumerable: true, get: () => { throw boom; } });
    assert.equal((await expectStoreError(store.registerAsset(badAsset), 'INVALID_ARGUMENT')).cause, boom);
    const badAccount = Object.defineProperty({ book }, 'path', { enumerable: true, get: () => { throw boom; } });
    assert.equal((await expectStoreError(store.balance(badAccount as never), 'INVALID_ARGUMENT')).cause, boom);
    assert.deepEqual(await store.readEvents(book, 1, 100), before, 'nothing was appended');
  }),

  conformanceCase('B11 input validation: U+0000 in an account path, asset id or idempotency key is INVALID_ARGUMENT (A1)', async (store) => {
    const { book, asset: assetId } = await setupBook(store);
    const before = await store.readEvents(book, 1, 100);
    await expectInvalidArgument(store.registerAsset(asset(`NUL\0${unique('X')}`)), 'def.id');
    await expectInvalidArgument(store.openAccount(...openSpec(book, 'a\0b', assetId, 'asset')), 'def.id.path');
    await expectInvalidArgument(store.openAccount(...openSpec(book, unique('acct'), `${assetId}\0`, 'asset')), 'def.asset');
    await expectInvalidArgument(store.commit({ ...transfer(book, unique('key'), 'deposits', 'cash', assetId, 1n), idempotency_key: 'k\0' }), 'idempotency_key');
    const tx = transfer(book, unique('key'), 'deposits', 'cash', assetId, 1n);
    await expectInvalidArgument(
      store.commit({ ...tx, postings: [{ ...tx.postings[0]!, account: { book, path: 'cash\0' } }, tx.postings[1]!] }),
      'postings[0].account.path',
    );
    await expectInvalidArgument(store.balance({ book, path: 'cash\0' }), 'account.path');
    await expectInvalidArgument(store.asset('USD\0'), 'id');
    // Elsewhere (metadata, external refs) U+0000 is ordinary data.
    const committed = await store.commit({ ...transfer(book, unique('key'), 'deposits', 'cash', assetId, 1n), metadata: { note: 'a\0b' } });
    assert.equal(committed.seq, before.length + 1);
  }),

  conformanceCase('B11 input validation: a __proto__ metadata key round-trips as an ordinary key', async (store, ctx) => {
    const { book, asset: assetId } = await setupBook(store);
    const metadata = JSON.parse('{"__proto__":{"polluted":1},"a":1}') as JsonValue;
    const tx: Transaction = { ...transfer(book, 'proto', 'deposits', 'cash', assetId, 1n), metadata };
    const committed = await store.commit(tx);
    store = await ctx.reopen(store);

    const check = (value: JsonValue, where: string): void => {
      assert.ok(typeof value === 'object' && value !== null && !Array.isArray(value), where);
      assert.ok(Object.hasOwn(value, '__proto__'), `${where}: __proto__ is an own key`);
      assert.deepEqual(Object.getOwnPropertyDescriptor(value, '__proto__')?.value, { polluted: 1 });
      assert.equal((value as { polluted?: unknown }).polluted, undefined, `${where}: the prototype is unchanged`);
      assert.deepEqual(Object.keys(value).sort(), ['__proto__', 'a']);
      assert.equal((value as { a?: unknown }).a, 1);
    };
    const stored = await store.transaction(tx.id);
    assert.ok(stored !== null);
    check(stored.transaction.metadata, 'transaction()');
    const [event] = await store.readEvents(book, committed.seq, 1);
    assert.ok(event !== undefined && event.event.kind === 'transaction_posted');
    check(event.event.metadata, 'readEvents()');
    assert.equal(({} as { polluted?: unknown }).polluted, undefined, 'Object.prototype is untouched');
    assert.deepEqual(await store.commit({ ...tx, id: randomUUID() }), committed);
    await expectStoreError(
      store.commit({ ...tx, id: randomUUID(), metadata: JSON.parse('{"__proto__":{"polluted":2},"a":1}') as JsonValue }),
      'IDEMPOTENCY_CONFLICT',
    );
  }),
];

// ---------------------------------------------------------------------------------------------
// B12. Posting to another book's account

const B12_CASES: ConformanceCase[] = [
  conformanceCase("B12 cross-book posting: a posting on another book's account is UNKNOWN_ACCOUNT", async (store, ctx) => {
    const a = await setupBook(store);
    const bBook = unique('book');
    await store.openAccount(...openSpec(bBook, 'cash', a.asset, 'asset'));
    await store.openAccount(...openSpec(bBook, 'deposits', a.asset, 'liability'));
    const other = accountId(bBook, 'cash');
    const tx = draft(a.book, 'cross', [posting(a.book, 'deposits', 'credit', a.asset, 5n), posting(bBook, 'cash', 'debit', a.asset, 5n)]);
    const error = await expectStoreError(store.commit(tx), 'UNKNOWN_ACCOUNT');
    assert.deepEqual(error.account, other);
    const first = draft(a.book, 'cross-first', [posting(bBook, 'cash', 'debit', a.asset, 5n), posting(a.book, 'deposits', 'credit', a.asset, 5n)]);
    assert.deepEqual((await expectStoreError(store.commit(first), 'UNKNOWN_ACCOUNT')).account, other);
    const results = await store.commitBatch([tx]);
    assert.deepEqual(assertStoreError(errorOf(results[0], 'cross'), 'UNKNOWN_ACCOUNT').account, other);
    store = await ctx.reopen(store);
    assert.deepEqual(await store.readEvents(a.book, 3, 10), []);
    assert.deepEqual(await store.readEvents(bBook, 3, 10), []);
    assert.equal(await balanceOf(store, bBook, 'cash'), 0n);
    assert.equal(await balanceOf(store, a.book, 'deposits'), 0n);
  }),
];

// ---------------------------------------------------------------------------------------------
// B13. Deterministic violation report

const B13_CASES: ConformanceCase[] = [
  conformanceCase('B13 violation report: the first violator in posting order is reported', async (store, ctx) => {
    const { book, asset: assetId } = await freshBookAndAsset(store);
    for (const path of ['zeta', 'alpha']) {
      const [def, cfg] = openSpec(book, path, assetId, 'asset');
      await store.openAccount(def, { ...cfg, min_balance: 0n });
    }
    await store.openAccount(...openSpec(book, 'src', assetId, 'clearing'));
    const p = (path: string, direction: 'debit' | 'credit', minor: bigint) => posting(book, path, direction, assetId, minor);
    const zetaFirst = draft(book, 'zf', [p('zeta', 'credit', 10n), p('alpha', 'credit', 20n), p('src', 'debit', 30n)]);
    const alphaFirst = draft(book, 'af', [p('alpha', 'credit', 20n), p('zeta', 'credit', 10n), p('src', 'debit', 30n)]);

    const zeta = await expectStoreError(store.commit(zetaFirst), 'CONSTRAINT_VIOLATION');
    assert.deepEqual(zeta.account, accountId(book, 'zeta'));
    assert.equal(zeta.would_be, -10n);
    assert.equal(zeta.min_balance, 0n);
    const alpha = await expectStoreError(store.commit(alphaFirst), 'CONSTRAINT_VIOLATION');
    assert.deepEqual(alpha.account, accountId(book, 'alpha'));
    assert.equal(alpha.would_be, -20n);

    const results = await store.commitBatch([zetaFirst, alphaFirst]);
    assert.deepEqual(assertStoreError(errorOf(results[0], 'zeta first'), 'CONSTRAINT_VIOLATION').account, accountId(book, 'zeta'));
    assert.deepEqual(assertStoreError(errorOf(results[1], 'alpha first'), 'CONSTRAINT_VIOLATION').account, accountId(book, 'alpha'));
    store = await ctx.reopen(store);
    assert.deepEqual(await store.readEvents(book, 4, 10), []);
  }),
];

// ---------------------------------------------------------------------------------------------
// B14. Subscriptions

const B14_CASES: ConformanceCase[] = [
  conformanceCase('B14 subscriptions: a book that does not exist yet is waited for and not created', async (store) => {
    const book = unique('book');
    const assetId = unique('USD');
    await store.registerAsset(asset(assetId));
    const stream = store.subscribe(book, 1);
    try {
      const pending = stream.next();
      pending.catch(() => undefined);
      assert.ok(await stillPendingAfter(pending, 50), 'the stream waits for the book');
      assert.deepEqual(await store.readEvents(book, 1, 10), []);
      assert.deepEqual(await store.trialBalance(book), []);
      await setupNamedBook(store, book, assetId);
      const first = await settleWithin(pending, 5000, 'the first event of the new book');
      assert.equal(first.status, 'fulfilled');
      const result = (first as PromiseFulfilledResult<IteratorResult<SequencedEvent>>).value;
      assert.equal(result.done, false);
      assert.equal(result.value?.seq, 1);
      assert.equal(result.value?.event.kind, 'account_opened');
      assert.equal((await nextEvent(stream)).seq, 2);
      const committed = await store.commit(transfer(book, 'k', 'deposits', 'cash', assetId, 1n));
      const live = await nextEvent(stream);
      assert.equal(live.seq, 3);
      assert.equal(live.at, committed.at);
    } finally {
      await stream.return();
    }
  }),

  conformanceCase('B14 subscriptions: a commit racing the start of a subscription is delivered exactly once', async (store) => {
    const { book, asset: assetId } = await setupBook(store);
    let seqNext = 3;
    for (let round = 0; round < 12; round++) {
      const tx = transfer(book, `race-${round}`, 'deposits', 'cash', assetId, 1n);
      let stream;
      let racing: Promise<Committed>;
      if (round % 3 === 0) {
        // The commit starts first, the subscription right after it.
        racing = store.commit(tx);
        stream = store.subscribe(book, seqNext);
      } else {
        // The subscription starts first; in every third round its first next() races the commit.
        stream = store.subscribe(book, seqNext);
        racing = store.commit(tx);
      }
      try {
        const firstNext = round % 3 === 2 ? nextEvent(stream) : undefined;
        const committed = await racing;
        assert.equal(committed.seq, seqNext);
        const marker = await store.commit(transfer(book, `marker-${round}`, 'deposits', 'cash', assetId, 1n));
        const first = firstNext === undefined ? await nextEvent(stream) : await firstNext;
        assert.equal(first.seq, committed.seq, `round ${round}: the racing commit`);
        assert.equal(first.at, committed.at);
        const second = await nextEvent(stream);
        assert.equal(second.seq, marker.seq, `round ${round}: then the marker, with no duplicate`);
        seqNext = marker.seq + 1;
      } finally {
        await stream.return();
      }
    }
  }),

  conformanceCase('B14 subscriptions: a stalled consumer gets every event in order after far more than the live buffer', async (store) => {
    const { book, asset: assetId } = await setupBook(store);
    const stream = store.subscribe(book, 1);
    try {
      assert.equal((await nextEvent(stream)).seq, 1);
      assert.equal((await nextEvent(stream)).seq, 2);
      const pending = nextEvent(stream); // waits at the live tail
      await store.commit(transfer(book, 'live', 'deposits', 'cash', assetId, 1n));
      assert.equal((await pending).seq, 3);

      // The consumer stalls while 1,500 events are committed.
      const batchCount = 3;
      const batchSize = 500;
      for (let batch = 0; batch < batchCount; batch++) {
        const txs = Array.from({ length: batchSize }, (_, index) =>
          transfer(book, `stall-${batch}-${index}`, 'deposits', 'cash', assetId, 1n),
        );
        const results = await store.commitBatch(txs);
        results.forEach((result, index) => okValue(result, `stall-${batch}-${index}`));
      }
      const lastSeq = 3 + batchCount * batchSize;
      for (let seq = 4; seq <= lastSeq; seq++) {
        const event = await nextEvent(stream);
        assert.equal(event.seq, seq, 'in order, without gaps or duplicates');
      }
      const after = await store.commit(transfer(book, 'after-stall', 'deposits', 'cash', assetId, 1n));
      assert.equal((await nextEvent(stream)).seq, after.seq, 'live again after catching up');
    } finally {
      await stream.return();
    }
  }),
];

export const BEYOND_CASES: readonly ConformanceCase[] = [
  ...B1_CASES,
  ...B2_CASES,
  ...B3_CASES,
  ...B4_CASES,
  ...B5_CASES,
  ...B6_CASES,
  ...B8_CASES,
  ...B11_CASES,
  ...B12_CASES,
  ...B13_CASES,
  ...B14_CASES,
];

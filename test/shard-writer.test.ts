/**
 * The book writer (spec/conformance.md 2.9; spec/log-engine.md sections 1.7 and 6), exercised
 * through LogStore with the fault-injecting file system: fsyncs are counted, held back or failed
 * for book `b` only, and what reached the disk is read from the segment files directly.
 *
 * The reference's fixture inserts the accounts straight into the book state, so its commits start
 * at seq 1. Through LogStore the accounts are opened by events, so here commits start at seq 3.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, test } from 'node:test';

import type { LogStore } from '../src/log/log-store.js';
import type { FaultOp } from './support/faulty-file-system.js';
import { SYSTEM_BOOK, type Committed, type SequencedEvent } from '../src/core/types.js';
import {
  AT_PATTERN,
  assertStoreError,
  errorOf,
  expectStoreError,
  nextEvent,
  okValue,
  readAllEvents,
  sleep,
  unique,
} from './conformance/fixtures.js';
import {
  BOOK,
  CASH_DEF,
  FaultPlan,
  UNSIDED,
  USD,
  committedKeysOnDisk,
  faultOptions,
  framesOnDisk,
  ghostTx,
  mkTx,
  observe,
  openStore,
  seed,
  waitUntil,
  withDir,
} from './support/log-store-fixtures.js';

const CASH = { book: BOOK, path: 'cash' };

/** Failures of steps 5 and 6 of a batch (log-engine 6.2, 6.6), injected into one book's paths. */
const FAILURE_SCENARIOS: ReadonlyArray<{ name: string; op: FaultOp; newBook: boolean; segmentMax?: number }> = [
  { name: 'write (ENOSPC)', op: 'writev', newBook: false },
  { name: 'rotation: fsync of the sealed segment', op: 'fsync', newBook: false, segmentMax: 0 },
  { name: 'rotation: creating the new segment', op: 'open', newBook: false, segmentMax: 0 },
  { name: 'rotation: directory fsync', op: 'fsyncDir', newBook: false, segmentMax: 0 },
  { name: 'book creation: mkdir', op: 'mkdir', newBook: true },
  { name: 'book creation: creating the first segment', op: 'open', newBook: true },
  { name: 'book creation: directory fsync', op: 'fsyncDir', newBook: true },
];

/** A seeded store (USD; `b:cash` seq 1, `b:rev` seq 2) whose file operations go through `plan`. */
async function withSeededStore(body: (store: LogStore, plan: FaultPlan, dir: string) => Promise<void>): Promise<void> {
  await withDir(async (dir, track) => {
    const plan = new FaultPlan(`/books/${BOOK}/`);
    const store = track(await openStore(dir, faultOptions(plan)));
    await seed(store);
    try {
      await body(store, plan, dir);
    } finally {
      plan.disarm();
      plan.releaseFsyncs();
    }
  });
}

/** Resolves when a batch fsync has started (and, with holdFsyncs, is blocked) since `before`. */
function fsyncStarted(plan: FaultPlan, before: number): Promise<void> {
  return waitUntil(() => plan.count('fsync') > before, 5000, 'a batch fsync to start');
}

describe('book writer (conformance 2.9)', () => {
  test('commits_assign_gapless_seq_and_monotonic_at', async () => {
    await withSeededStore(async (store) => {
      const committed: Committed[] = [];
      for (const key of ['k1', 'k2', 'k3']) committed.push(await store.commit(mkTx(key, 10n)));
      assert.deepEqual(
        committed.map((c) => c.seq),
        [3, 4, 5],
      );
      for (const c of committed) assert.match(c.at, AT_PATTERN);
      assert.ok(committed[0]!.at <= committed[1]!.at && committed[1]!.at <= committed[2]!.at);
    });
  });

  test('duplicate_idem_returns_prior_committed', async () => {
    await withSeededStore(async (store, plan, dir) => {
      const tx = mkTx('dup', 10n);
      const first = await store.commit(tx);
      const fsyncs = plan.count('fsync');
      const second = await store.commit({ ...tx, id: randomUUID() });
      assert.deepEqual(second, first);
      assert.equal(plan.count('fsync'), fsyncs, 'a replay alone does no fsync');
      assert.deepEqual(committedKeysOnDisk(dir, BOOK), ['dup']);
    });
  });

  test('rejected_draft_does_not_poison_batchmates_or_consume_seq', async () => {
    await withSeededStore(async (store, _plan, dir) => {
      const results = await store.commitBatch([ghostTx('ghost'), mkTx('good', 10n)]);
      const error = assertStoreError(errorOf(results[0], 'ghost'), 'UNKNOWN_ACCOUNT');
      assert.deepEqual(error.account, { book: BOOK, path: 'ghost' });
      assert.equal(okValue(results[1], 'good').seq, 3);
      // The same with concurrent single commits, which also share one batch.
      const [ghost, good] = await Promise.allSettled([store.commit(ghostTx('ghost2')), store.commit(mkTx('good2', 10n))]);
      assert.equal(ghost!.status, 'rejected');
      assertStoreError((ghost as PromiseRejectedResult).reason, 'UNKNOWN_ACCOUNT');
      assert.equal(good!.status, 'fulfilled');
      assert.equal((good as PromiseFulfilledResult<Committed>).value.seq, 4);
      assert.deepEqual(committedKeysOnDisk(dir, BOOK), ['good', 'good2']);
    });
  });

  test('rejected_draft_produces_no_broadcast', async () => {
    await withSeededStore(async (store) => {
      const subscription = store.subscribe(BOOK, 3);
      try {
        const results = await store.commitBatch([ghostTx('ghost'), mkTx('good', 10n)]);
        const good = okValue(results[1], 'good');
        const event = await nextEvent(subscription);
        assert.equal(event.seq, good.seq);
        const nothing = observe(subscription.next());
        await sleep(100);
        assert.equal(nothing.settled(), false, 'a second event was published');
      } finally {
        await subscription.return();
      }
    });
  });

  test('concurrent_commits_all_land_durably_and_gapless (64)', async () => {
    await withDir(async (dir, track) => {
      const plan = new FaultPlan(`/books/${BOOK}/`);
      const store = track(await openStore(dir, faultOptions(plan)));
      await seed(store);
      const fsyncs = plan.count('fsync');
      const txs = Array.from({ length: 64 }, (_, index) => mkTx(`c${index}`, BigInt(index + 1)));
      const committed = await Promise.all(txs.map((tx) => store.commit(tx)));
      assert.deepEqual(
        committed.map((c) => c.seq).sort((left, right) => left - right),
        Array.from({ length: 64 }, (_, index) => index + 3),
      );
      // Submitted in one turn, they travel in one message and share one batch: one fsync.
      assert.equal(plan.count('fsync') - fsyncs, 1, 'group commit');
      assert.equal(store.durableSeq(BOOK), 66);
      await store.close();
      // Scanning the segment files gives the 64 frames, each at the seq its commit was given.
      const frames = framesOnDisk(dir, BOOK).filter((frame) => frame.decoded.event.event.kind === 'transaction_posted');
      assert.equal(frames.length, 64);
      const keyOf = (frame: (typeof frames)[number]) => (frame.decoded.event.event as { idempotency_key: string }).idempotency_key;
      const seqByKey = new Map(frames.map((frame) => [keyOf(frame), frame.decoded.seq]));
      for (const [index, tx] of txs.entries()) assert.equal(seqByKey.get(tx.idempotency_key), committed[index]!.seq);
      const reopened = track(await openStore(dir));
      const events = await readAllEvents(reopened, BOOK);
      assert.deepEqual(
        events.map((event) => event.seq),
        Array.from({ length: 66 }, (_, index) => index + 1),
      );
      assert.equal((await reopened.balance(CASH)).amount.minor, BigInt((64 * 65) / 2));
    });
  });

  test('subscribers_see_events_post_fsync_in_seq_order', async () => {
    await withSeededStore(async (store) => {
      const subscription = store.subscribe(BOOK, 3);
      try {
        const first = await store.commit(mkTx('k1', 10n));
        const second = await store.commit(mkTx('k2', 10n));
        const events: SequencedEvent[] = [await nextEvent(subscription), await nextEvent(subscription)];
        assert.deepEqual(
          events.map((event) => [event.seq, event.at]),
          [
            [first.seq, first.at],
            [second.seq, second.at],
          ],
        );
      } finally {
        await subscription.return();
      }
    });
  });

  test('duplicate_idem_within_one_batch_resolves_to_first_txid', async () => {
    await withSeededStore(async (store, plan, dir) => {
      const fsyncs = plan.count('fsync');
      const first = mkTx('same', 10n);
      const second = { ...first, id: randomUUID(), occurred_at: new Date(Date.now() + 1000).toISOString() };
      const [a, b] = await Promise.all([store.commit(first), store.commit(second)]);
      assert.deepEqual(a, { txid: first.id, seq: 3, at: a!.at });
      assert.deepEqual(b, a, "the second draft gets the first draft's txid, seq and at");
      assert.equal(plan.count('fsync') - fsyncs, 1, 'one batch');
      assert.deepEqual(committedKeysOnDisk(dir, BOOK), ['same'], 'exactly 1 frame on disk');
      assert.equal(store.durableSeq(BOOK), 3);
      assert.equal(await store.transaction(second.id), null);
      assert.equal((await store.transaction(first.id))?.seq, 3);
      // The same inside one commitBatch.
      const third = mkTx('same-batch', 5n);
      const results = await store.commitBatch([third, { ...third, id: randomUUID() }]);
      assert.deepEqual(okValue(results[1], 'second'), okValue(results[0], 'first'));
      assert.equal(okValue(results[0], 'first').txid, third.id);
      assert.deepEqual(committedKeysOnDisk(dir, BOOK), ['same', 'same-batch']);
    });
  });

  test('open_account_idempotent_same_def_no_event', async () => {
    await withSeededStore(async (store, plan, dir) => {
      const fsyncs = plan.count('fsync');
      await store.openAccount(CASH_DEF, UNSIDED);
      await store.openAccount(structuredClone(CASH_DEF), { normal_side: null, min_balance: null });
      assert.equal(plan.count('fsync'), fsyncs, 'nothing to append, no fsync');
      assert.equal(framesOnDisk(dir, BOOK).length, 2);
      assert.equal(store.durableSeq(BOOK), 2);
      assert.equal((await store.commit(mkTx('next', 1n))).seq, 3, 'next_seq is still 3');
    });
  });

  test('open_account_different_def_already_exists', async () => {
    await withSeededStore(async (store, _plan, dir) => {
      for (const [def, cfg] of [
        [CASH_DEF, { normal_side: 'debit', min_balance: null }],
        [CASH_DEF, { normal_side: null, min_balance: 0n }],
        [{ ...CASH_DEF, kind: 'expense' }, UNSIDED],
      ] as const) {
        const error = await expectStoreError(store.openAccount(def, cfg), 'ALREADY_EXISTS');
        assert.equal(error.what, 'account b:cash');
      }
      assert.equal(framesOnDisk(dir, BOOK).length, 2);
    });
  });

  test('register_asset_appends_to_log', async () => {
    await withDir(async (dir, track) => {
      const store = track(await openStore(dir));
      await store.registerAsset(USD);
      const frames = framesOnDisk(dir, SYSTEM_BOOK);
      assert.equal(frames.length, 1);
      assert.deepEqual(frames[0]!.decoded.event.event, { kind: 'asset_registered', ...USD });
      assert.equal(frames[0]!.decoded.seq, 1);
      await store.registerAsset(USD);
      assert.equal(framesOnDisk(dir, SYSTEM_BOOK).length, 1, 'an identical registration appends nothing');
      assert.deepEqual(await store.readEvents(SYSTEM_BOOK, 1, 10), [frames[0]!.decoded.event]);
    });
  });

  test('ack_only_after_sync_returns', async () => {
    await withSeededStore(async (store, plan) => {
      for (const key of ['a1', 'a2']) {
        const before = plan.count('fsync');
        const durable = store.durableSeq(BOOK);
        plan.holdFsyncs();
        let durableAtReply = -1;
        const pending = observe(
          store.commit(mkTx(key, 10n)).then((committed) => {
            durableAtReply = store.durableSeq(BOOK);
            return committed;
          }),
        );
        await fsyncStarted(plan, before);
        await sleep(100);
        assert.equal(pending.settled(), false, 'the commit resolved while its fsync had not returned');
        assert.equal(store.durableSeq(BOOK), durable, 'the watermark moved before the fsync returned');
        plan.releaseFsyncs();
        const committed = await pending.promise;
        assert.ok(plan.count('fsync') > before);
        assert.ok(durableAtReply >= committed.seq, 'the watermark was stored before the reply');
      }
    });
  });

  test('a rejection sharing a batch with appended frames is answered only after the fsync', async () => {
    await withSeededStore(async (store, plan) => {
      await store.commit(mkTx('old', 1n));
      const before = plan.count('fsync');
      plan.holdFsyncs();
      const ghost = observe(store.commit(ghostTx('ghost')));
      const replay = observe(store.commit(mkTx('old', 1n)));
      const good = observe(store.commit(mkTx('new', 1n)));
      await fsyncStarted(plan, before);
      await sleep(100);
      assert.deepEqual([ghost.settled(), replay.settled(), good.settled()], [false, false, false]);
      plan.releaseFsyncs();
      await expectStoreError(ghost.promise, 'UNKNOWN_ACCOUNT');
      assert.equal((await replay.promise).seq, 3);
      assert.equal((await good.promise).seq, 4);
    });
  });

  test('no_broadcast_before_sync', async () => {
    await withSeededStore(async (store, plan) => {
      const start = plan.count('fsync');
      for (let index = 1; index <= 3; index++) {
        const subscription = store.subscribe(BOOK, 2 + index);
        try {
          const before = plan.count('fsync');
          plan.holdFsyncs();
          const commit = observe(store.commit(mkTx(`n${index}`, 10n)));
          const next = observe(subscription.next());
          await fsyncStarted(plan, before);
          await sleep(100);
          assert.equal(next.settled(), false, 'the event was delivered before its fsync returned');
          plan.releaseFsyncs();
          const result = await next.promise;
          assert.equal(result.done, false);
          assert.equal(result.value!.seq, 2 + index);
          assert.ok(plan.count('fsync') - start > index - 1);
          assert.ok(store.durableSeq(BOOK) >= 2 + index);
          await commit.promise;
        } finally {
          plan.releaseFsyncs();
          await subscription.return();
        }
      }
      assert.ok(plan.count('fsync') - start >= 1);
    });
  });

  test('reject_only_batch_skips_sync', async () => {
    await withSeededStore(async (store, plan, dir) => {
      await store.commit(mkTx('old', 1n));
      const fsyncs = plan.count('fsync');
      const writes = plan.count('writev');
      await expectStoreError(store.commit(ghostTx('ghost')), 'UNKNOWN_ACCOUNT');
      const results = await store.commitBatch([ghostTx('g1'), mkTx('old', 1n), ghostTx('g2')]);
      assert.deepEqual(
        results.map((result) => (result.ok ? result.value.seq : result.error.code)),
        ['UNKNOWN_ACCOUNT', 3, 'UNKNOWN_ACCOUNT'],
      );
      assert.equal(plan.count('fsync'), fsyncs, 'a batch with nothing to append does no fsync');
      assert.equal(plan.count('writev'), writes, 'nor any write');
      assert.deepEqual(committedKeysOnDisk(dir, BOOK), ['old']);
    });
  });

  test('fsync_failure_fails_the_batch', async () => {
    await withSeededStore(async (store, plan) => {
      plan.arm('fsync', 1, { sticky: true });
      const error = await expectStoreError(store.commit(mkTx('k', 10n)), 'BOOK_UNAVAILABLE');
      assert.equal(error.book, BOOK);
      assert.ok(plan.fired());
      assert.ok(error.cause !== undefined, 'the cause is kept');
    });
  });

  test('fsync_failure_kills_the_writer_permanently', async () => {
    await withSeededStore(async (store, plan) => {
      await store.commit(mkTx('before', 5n));
      const durable = store.durableSeq(BOOK);
      const balance = await store.balance(CASH);
      plan.arm('fsync', 1, { sticky: true });
      await expectStoreError(store.commit(mkTx('k1', 10n)), 'BOOK_UNAVAILABLE');
      await sleep(50);
      await expectStoreError(store.commit(mkTx('k2', 10n)), 'BOOK_UNAVAILABLE');
      // Permanent: even with the fault gone, the book stays dead and is never fsynced again.
      plan.disarm();
      const fsyncs = plan.count('fsync');
      await expectStoreError(store.commit(mkTx('k3', 10n)), 'BOOK_UNAVAILABLE');
      const [slot] = await store.commitBatch([mkTx('k4', 10n)]);
      assertStoreError(errorOf(slot, 'k4'), 'BOOK_UNAVAILABLE');
      assert.equal(plan.count('fsync'), fsyncs, 'a dead book is never fsynced again');
      // next_seq and the idempotency index are unchanged: nothing of the failed batch was applied.
      assert.equal(store.durableSeq(BOOK), durable);
      assert.deepEqual(await store.balance(CASH), balance);
      assert.deepEqual(
        (await store.readEvents(BOOK, 1, 100)).map((event) => event.seq),
        [1, 2, 3],
      );
    });
  });

  for (const scenario of FAILURE_SCENARIOS) {
    test(`a failed ${scenario.name} ends the book too; other books go on; a reopen recovers it`, async () => {
      await withDir(async (dir, track) => {
        const book = unique('bk');
        const plan = new FaultPlan(`/books/${book}`);
        const options = { ...faultOptions(plan), ...(scenario.segmentMax === undefined ? {} : { segmentMax: scenario.segmentMax }) };
        const store = track(await openStore(dir, options));
        await seed(store, 'other');
        if (!scenario.newBook) {
          await seed(store, book);
          await store.commit(mkTx('before', 1n, book));
        }
        const durable = store.durableSeq(book);
        plan.arm(scenario.op, 1, { sticky: true, errno: 'ENOSPC' });
        const write = scenario.newBook
          ? store.openAccount({ ...CASH_DEF, id: { book, path: 'cash' } }, UNSIDED)
          : store.commit(mkTx('fails', 2n, book));
        const error = await expectStoreError(write, 'BOOK_UNAVAILABLE');
        assert.equal(error.book, book);
        assert.ok(plan.fired(), 'the fault fired');
        plan.disarm();
        await expectStoreError(store.commit(mkTx('later', 3n, book)), 'BOOK_UNAVAILABLE');
        assert.equal(store.durableSeq(book), durable);
        assert.equal((await store.readEvents(book, 1, 100)).length, durable);
        assert.equal((await store.commit(mkTx('fine', 4n, 'other'))).seq, 3, 'another book keeps working');
        await store.close();

        const reopened = track(await openStore(dir, scenario.segmentMax === undefined ? {} : { segmentMax: scenario.segmentMax }));
        if (scenario.newBook) {
          await seed(reopened, book);
          assert.equal(reopened.durableSeq(book), 2);
        } else {
          const retried = await reopened.commit(mkTx('fails', 2n, book));
          assert.ok(retried.seq === 4, `the retried key took seq ${retried.seq}`);
        }
        const next = await reopened.commit(mkTx('after', 5n, book));
        const events = await readAllEvents(reopened, book);
        assert.deepEqual(
          events.map((event) => event.seq),
          Array.from({ length: events.length }, (_, index) => index + 1),
        );
        assert.equal(next.seq, events.length);
        const keys = events.flatMap((event) => (event.event.kind === 'transaction_posted' ? [event.event.idempotency_key] : []));
        assert.deepEqual(keys, scenario.newBook ? ['after'] : ['before', 'fails', 'after']);
        assert.equal((await reopened.balance({ book: 'other', path: 'cash' })).amount.minor, 4n);
      });
    });
  }

  test('the watermark never moves when the fsync fails', async () => {
    await withSeededStore(async (store, plan, dir) => {
      await store.commit(mkTx('before', 5n));
      assert.equal(store.durableSeq(BOOK), 3);
      const before = plan.count('fsync');
      plan.holdFsyncs();
      plan.arm('fsync', 1);
      const failing = observe(store.commit(mkTx('fails', 10n)));
      await fsyncStarted(plan, before);
      // The frame is written, the fsync is in progress: the watermark stays.
      assert.equal(framesOnDisk(dir, BOOK).length, 4);
      assert.equal(store.durableSeq(BOOK), 3);
      plan.releaseFsyncs();
      await expectStoreError(failing.promise, 'BOOK_UNAVAILABLE');
      assert.equal(store.durableSeq(BOOK), 3);
      await sleep(50);
      assert.equal(store.durableSeq(BOOK), 3);
      assert.deepEqual(
        (await store.readEvents(BOOK, 1, 100)).map((event) => event.seq),
        [1, 2, 3],
      );
      assert.deepEqual(await store.trialBalance(BOOK), [{ asset: 'USD', debits: 5n, credits: 5n }]);
    });
  });
});

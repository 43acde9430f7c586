/**
 * LogStore's own tests (spec/conformance.md, Part 2 section 2.10, and the LogStore parts of Part 3:
 * B5, B7, B8, B9, B15, B16), through real files in fresh temporary directories. Faults are
 * injected through the file-system layer (test/support/faulty-file-system.ts), never by mocking
 * the engine.
 *
 * Not here (snapshots and the idempotency spill belong to a later change):
 * open_uses_snapshot_plus_tail and snapshot_interplay_hot_and_spilled_keys_dedup.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { describe, test, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';

import { StoreError } from '../src/core/errors.js';
import { encodeSequencedPayload, encodeTransactionPosted } from '../src/core/event-codec.js';
import { encodeFrameFromText } from '../src/log/frame.js';
import type { LogStore } from '../src/log/log-store.js';
import { workerIndexOf } from '../src/log/sharding.js';
import { formatAtUs, parseTimestampUs } from '../src/core/time.js';
import { I64_MAX, SYSTEM_BOOK, type Committed, type SequencedEvent, type Transaction } from '../src/core/types.js';
import {
  AT_PATTERN,
  asset,
  assertStoreError,
  errorOf,
  expectStoreError,
  nextEvent,
  nextWithin,
  okValue,
  openSpec,
  readAllEvents,
  settleWithin,
  sleep,
  transfer,
  unique,
} from './conformance/fixtures.js';
import {
  BOOK,
  CASH_DEF,
  FaultPlan,
  UNSIDED,
  USD,
  bookDirs,
  committedKeysOnDisk,
  faultOptions,
  framesOnDisk,
  ghostTx,
  mkTx,
  observe,
  openStore,
  seed,
  segmentFiles,
  waitUntil,
  withDir,
} from './support/log-store-fixtures.js';

const CASH = { book: BOOK, path: 'cash' };
const LOCK_CHILD = fileURLToPath(new URL('./support/lock-holder-child.js', import.meta.url));

function seqsOf(events: readonly { seq: number }[]): number[] {
  return events.map((event) => event.seq);
}

function range(first: number, last: number): number[] {
  return Array.from({ length: last - first + 1 }, (_, index) => first + index);
}

function usOf(at: string): number {
  const us = parseTimestampUs(at);
  assert.ok(us !== null, `not a timestamp: ${at}`);
  return us;
}

function frozenClock(): BigInt64Array {
  return new BigInt64Array(new SharedArrayBuffer(BigInt64Array.BYTES_PER_ELEMENT));
}

/** Asserts that a call returns a promise (never throws synchronously) that rejects CLOSED. */
async function expectClosed(call: () => Promise<unknown>, what: string): Promise<void> {
  let promise: Promise<unknown> | undefined;
  assert.doesNotThrow(() => {
    promise = call();
  }, `${what} threw synchronously`);
  assert.ok(promise instanceof Promise, `${what} did not return a promise`);
  await expectStoreError(promise, 'CLOSED');
}

/** Within one book's events: seqs 1..N without gaps and `at` never decreasing. */
function assertGaplessAndMonotonic(events: readonly SequencedEvent[], what: string): void {
  assert.deepEqual(seqsOf(events), range(1, events.length), `${what}: seqs are not 1..N`);
  for (let index = 1; index < events.length; index++) {
    assert.match(events[index]!.at, AT_PATTERN);
    assert.ok(events[index - 1]!.at <= events[index]!.at, `${what}: at decreases at seq ${events[index]!.seq}`);
  }
}

// --- the history fixture (2.10) ------------------------------------------------------------------

interface History {
  t1: string;
  t2: string;
  t3: string;
  tx1: Transaction;
  tx2: Transaction;
  tx3: Transaction;
}

/** Seeded store plus tx1 = 10n, tx2 = 20n, tx3 = 30n at seqs 3, 4, 5, sleeping 2 ms after each. */
async function buildHistory(store: LogStore): Promise<History> {
  await seed(store);
  const tx1 = mkTx('tx1', 10n);
  const tx2 = mkTx('tx2', 20n);
  const tx3 = mkTx('tx3', 30n);
  const ats: string[] = [];
  for (const [index, tx] of [tx1, tx2, tx3].entries()) {
    const committed = await store.commit(tx);
    assert.equal(committed.seq, 3 + index);
    ats.push(committed.at);
    await sleep(2);
  }
  return { t1: ats[0]!, t2: ats[1]!, t3: ats[2]!, tx1, tx2, tx3 };
}

async function checkHistory(t: TestContext, store: LogStore, h: History): Promise<void> {
  await t.test('balance_as_of_binary_searches_posting_entries', async () => {
    const before = await store.balance(CASH, formatAtUs(usOf(h.t1) - 1));
    assert.deepEqual(before, { amount: { minor: 0n, asset: 'USD' }, updated_seq: 0 });
    assert.deepEqual(await store.balance(CASH, h.t2), { amount: { minor: 30n, asset: 'USD' }, updated_seq: 4 });
    assert.deepEqual(await store.balance(CASH, h.t3), { amount: { minor: 60n, asset: 'USD' }, updated_seq: 5 });
    assert.deepEqual(await store.balance(CASH), { amount: { minor: 60n, asset: 'USD' }, updated_seq: 5 });
  });

  await t.test('account_history_pages_by_distinct_seq_after_seq_exclusive', async () => {
    const record = (seq: number, tx: Transaction, minor: bigint, at: string) => ({
      seq,
      txid: tx.id,
      account: CASH,
      amount: { minor, asset: 'USD' },
      direction: 'debit',
      at,
    });
    assert.deepEqual(await store.accountHistory(CASH, null, 2), [record(3, h.tx1, 10n, h.t1), record(4, h.tx2, 20n, h.t2)]);
    assert.deepEqual(await store.accountHistory(CASH, 4, 10), [record(5, h.tx3, 30n, h.t3)]);
    assert.deepEqual(await store.accountHistory(CASH, null, 0), []);
  });

  await t.test('transaction_round_trips_through_disk', async () => {
    const stored = await store.transaction(h.tx2.id);
    assert.ok(stored !== null);
    assert.equal(stored.seq, 4);
    assert.equal(stored.at, h.t2);
    assert.equal(stored.transaction.idempotency_key, 'tx2');
    assert.deepEqual(stored.transaction, h.tx2);
    assert.equal(await store.transaction(randomUUID()), null);
  });

  await t.test('trial_balance_none_and_as_of', async () => {
    assert.deepEqual(await store.trialBalance(BOOK), [{ asset: 'USD', debits: 60n, credits: 60n }]);
    assert.deepEqual(await store.trialBalance(BOOK, h.t2), [{ asset: 'USD', debits: 30n, credits: 30n }]);
    assert.deepEqual(await store.trialBalance('ghost'), []);
  });

  await t.test('read_events_from_inclusive_pages', async () => {
    assert.deepEqual(seqsOf(await store.readEvents(BOOK, 2, 2)), [2, 3]);
    assert.deepEqual(seqsOf(await store.readEvents(BOOK, 5, 10)), [5]);
    assert.deepEqual(await store.readEvents(BOOK, 999, 10), []);
    assert.deepEqual(await store.readEvents('ghost', 1, 10), []);
  });

  await t.test('read_events_excludes_frames_beyond_ceiling', async () => {
    const all = await store.readEvents(BOOK, 1, 100);
    assert.deepEqual(seqsOf(all), [1, 2, 3, 4, 5]);
    assert.deepEqual(
      all.slice(2).map((event) => event.at),
      [h.t1, h.t2, h.t3],
    );
    assert.deepEqual(seqsOf(await store.readEvents(BOOK, 4, 100)), [4, 5]);
    assert.equal(store.durableSeq(BOOK), 5);
  });
}

// --- 2.10 ------------------------------------------------------------------------------------------

describe('LogStore (conformance 2.10)', () => {
  test('open_recovers_state_by_replay', async () => {
    await withDir(async (dir, track) => {
      const first = track(await openStore(dir));
      await seed(first);
      const k1 = mkTx('k1', 25n);
      const original = await first.commit(k1);
      assert.equal(original.seq, 3);
      await first.close();

      const store = track(await openStore(dir));
      assert.deepEqual(await store.balance(CASH), { amount: { minor: 25n, asset: 'USD' }, updated_seq: 3 });
      assert.deepEqual(await store.asset('USD'), USD);
      assert.equal(store.durableSeq(BOOK), 3);
      const replay = await store.commit({ ...k1, id: randomUUID(), occurred_at: new Date().toISOString() });
      assert.deepEqual(replay, original);
      assert.equal((await store.balance(CASH)).amount.minor, 25n);
      assert.equal(store.durableSeq(BOOK), 3);
    });
  });

  test('second_open_on_same_dir_is_refused (same process)', async () => {
    await withDir(async (dir, track) => {
      const first = track(await openStore(dir));
      await seed(first);
      for (let attempt = 0; attempt < 2; attempt++) {
        const error = await expectStoreError(openStore(dir), 'IO');
        assert.ok(error.message.includes(dir), `the message names the directory: ${error.message}`);
        assert.match(error.message, /already locked/);
      }
      // The refused opens did not disturb the first store or its lock.
      assert.equal((await first.commit(mkTx('k1', 1n))).seq, 3);
      await first.close();
      const second = track(await openStore(dir));
      assert.equal((await second.balance(CASH)).amount.minor, 1n);
    });
  });

  test('second_open_on_same_dir_is_refused (another process; reopen right after SIGKILL)', async () => {
    await withDir(async (dir, track) => {
      // The parent holds the lock: the child's open fails with IO naming the directory.
      const parent = track(await openStore(dir));
      await seed(parent);
      const tried = await runChild(['try', dir]);
      assert.equal(tried.ok, false, 'the child opened a locked directory');
      assert.equal(tried.code, 'IO');
      assert.ok(String(tried.message).includes(dir), `the message names the directory: ${tried.message}`);
      await parent.close();

      // The child holds the lock: the parent's open fails; after SIGKILL it succeeds at once.
      const child = spawn(process.execPath, [LOCK_CHILD, 'hold', dir], { stdio: ['pipe', 'pipe', 'inherit'] });
      try {
        await waitForLine(child, 'locked');
        const error = await expectStoreError(openStore(dir), 'IO');
        assert.ok(error.message.includes(dir));
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGKILL');
        await exited;
        const reopened = track(await openStore(dir));
        assert.equal(reopened.durableSeq(BOOK), 2);
        assert.deepEqual(await reopened.asset('USD'), USD);
      } finally {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      }
    });
  });

  test('register_asset_idempotent_same_def_conflict_different', async () => {
    await withDir(async (dir, track) => {
      const store = track(await openStore(dir));
      await store.registerAsset(USD);
      await store.registerAsset({ ...USD });
      const error = await expectStoreError(store.registerAsset({ ...USD, precision: 8 }), 'ALREADY_EXISTS');
      assert.equal(error.what, 'asset USD');
      assert.deepEqual(await store.asset('USD'), USD);
      assert.equal((await store.readEvents(SYSTEM_BOOK, 1, 10)).length, 1);
    });
  });

  test('open_account_requires_registered_asset_and_real_book', async () => {
    await withDir(async (dir, track) => {
      const store = track(await openStore(dir));
      const unknown = await expectStoreError(store.openAccount(CASH_DEF, UNSIDED), 'UNKNOWN_ASSET');
      assert.equal(unknown.asset, 'USD');
      assert.deepEqual(bookDirs(dir), [], 'a rejected open creates no book');
      await store.registerAsset(USD);
      const reserved = await expectStoreError(
        store.openAccount({ ...CASH_DEF, id: { book: SYSTEM_BOOK, path: 'cash' } }, UNSIDED),
        'INVALID_BOOK',
      );
      assert.equal(reserved.reason, 'reserved');
      assert.equal(reserved.book, SYSTEM_BOOK);
      await store.openAccount(CASH_DEF, UNSIDED);
      assert.equal(store.durableSeq(BOOK), 1);
    });
  });

  test('commit_batch_is_positional_and_isolates_failures', async () => {
    await withDir(async (dir, track) => {
      const store = track(await openStore(dir));
      await seed(store);
      const results = await store.commitBatch([mkTx('a', 1n), ghostTx('bad'), mkTx('b', 2n)]);
      assert.equal(results.length, 3);
      const a = okValue(results[0], 'a');
      const bad = assertStoreError(errorOf(results[1], 'bad'), 'UNKNOWN_ACCOUNT');
      assert.deepEqual(bad.account, { book: BOOK, path: 'ghost' });
      const b = okValue(results[2], 'b');
      assert.equal(a.seq, 3);
      assert.equal(b.seq, a.seq + 1);
      assert.deepEqual(committedKeysOnDisk(dir, BOOK), ['a', 'b']);
    });
  });

  test('store_use_after_shutdown_fails_cleanly', async () => {
    await withDir(async (dir, track) => {
      const store = track(await openStore(dir));
      await seed(store);
      await store.close();
      await expectClosed(() => store.commit(mkTx('late', 1n)), 'commit');
      await expectClosed(() => store.openAccount({ ...CASH_DEF, id: { book: BOOK, path: 'other' } }, UNSIDED), 'openAccount');
      await expectClosed(() => store.balance(CASH), 'balance');
    });
  });

  test('empty_book_name_is_rejected', async () => {
    await withDir(async (dir, track) => {
      const store = track(await openStore(dir));
      await seed(store);
      const error = await expectStoreError(store.commit(mkTx('k', 1n, '')), 'INVALID_BOOK');
      assert.equal(error.reason, 'pattern');
      assert.equal(error.book, '');
      assert.deepEqual(bookDirs(dir), [SYSTEM_BOOK, BOOK].sort());
    });
  });

  test('balance_on_unknown_book_creates_nothing', async () => {
    await withDir(async (dir, track) => {
      const store = track(await openStore(dir));
      const error = await expectStoreError(store.balance({ book: 'typo', path: 'cash' }), 'UNKNOWN_ACCOUNT');
      assert.deepEqual(error.account, { book: 'typo', path: 'cash' });
      assert.equal(fs.existsSync(path.join(dir, 'books', 'typo')), false);
      assert.deepEqual(bookDirs(dir), []);
    });
  });

  test('replay_of_overflowing_log_errors_not_panics', async () => {
    await withDir(async (dir, track) => {
      const store = track(await openStore(dir));
      await seed(store);
      const k1 = await store.commit(mkTx('k1', 100n));
      await store.close();

      const file = path.join(dir, 'books', BOOK, 'segment-00000000000000000001.log');
      assert.deepEqual(segmentFiles(dir, BOOK), [file]);
      const offset = fs.statSync(file).size;
      const overflowing = mkTx('k-overflow', I64_MAX);
      const at = formatAtUs(usOf(k1.at) + 1); // later than k1, so only the arithmetic is wrong
      fs.appendFileSync(file, encodeFrameFromText(encodeSequencedPayload(4, at, encodeTransactionPosted(overflowing))));

      for (let attempt = 0; attempt < 2; attempt++) {
        // The second attempt also shows that the failed open released the lock.
        const error = await expectStoreError(openStore(dir), 'CORRUPT');
        assert.equal(error.book, BOOK);
        assert.equal(path.resolve(error.file), file);
        assert.equal(error.offset, offset);
      }
    });
  });

  test('history fixture, live', async (t) => {
    await withDir(async (dir, track) => {
      const store = track(await openStore(dir));
      const history = await buildHistory(store);
      await checkHistory(t, store, history);
    });
  });

  test('history fixture, after close and reopen', async (t) => {
    await withDir(async (dir, track) => {
      const first = track(await openStore(dir));
      const history = await buildHistory(first);
      await first.close();
      const store = track(await openStore(dir));
      await checkHistory(t, store, history);
    });
  });

  test('read_events_excludes_frames_beyond_ceiling: a frame whose fsync is held back is on disk but not readable', async () => {
    await withDir(async (dir, track) => {
      const plan = new FaultPlan(`/books/${BOOK}/`);
      const store = track(await openStore(dir, faultOptions(plan)));
      const history = await buildHistory(store);
      const durableBefore = store.durableSeq(BOOK);
      assert.equal(durableBefore, 5);
      // Every read result is checked at the moment it arrives: nothing above the durable seq.
      const reads: Array<{ name: string; result: ReturnType<typeof observe<void>> }> = [];
      const checkRead = <T>(name: string, promise: Promise<T>, maxSeqOf: (value: T) => number) => {
        reads.push({
          name,
          result: observe(
            promise.then((value) => {
              const durable = store.durableSeq(BOOK);
              assert.ok(maxSeqOf(value) <= durable, `${name} returned seq ${maxSeqOf(value)} above the durable seq ${durable}`);
            }),
          ),
        });
      };
      const subscription = store.subscribe(BOOK, 1);
      plan.holdFsyncs();
      try {
        const fsyncsBefore = plan.count('fsync');
        const pending = observe(store.commit(mkTx('tx4', 40n)));
        await waitUntil(() => plan.count('fsync') > fsyncsBefore, 5000, 'the batch fsync to start');

        // The frame is on disk...
        const frames = framesOnDisk(dir, BOOK);
        assert.equal(frames.length, 6);
        assert.equal(frames[5]!.decoded.seq, 6);
        // ...but the watermark does not cover it, and nothing reads it.
        assert.equal(store.durableSeq(BOOK), 5);
        const maxEventSeq = (events: SequencedEvent[]) => Math.max(0, ...seqsOf(events));
        checkRead('readEvents', store.readEvents(BOOK, 1, 100), maxEventSeq);
        checkRead('readEvents from 6', store.readEvents(BOOK, 6, 100), maxEventSeq);
        const seqOfRows = (rows: Array<{ debits: bigint }>) => (rows[0]?.debits === 100n ? 6 : 5); // 60n through seq 5, 100n with seq 6
        checkRead('trialBalance', store.trialBalance(BOOK), seqOfRows);
        checkRead('trialBalance as of the future', store.trialBalance(BOOK, new Date(Date.now() + 3_600_000)), seqOfRows);
        checkRead('balance', store.balance(CASH), (snapshot) => snapshot.updated_seq);
        const delivered: SequencedEvent[] = [];
        const collect = (async () => {
          for (let count = 0; count < 6; count++) {
            const event = await nextEvent(subscription, 10_000);
            assert.ok(event.seq <= store.durableSeq(BOOK), `subscription delivered seq ${event.seq} before it was durable`);
            delivered.push(event);
          }
        })();
        checkRead('subscription', collect, () => 0);

        await sleep(200);
        assert.equal(pending.settled(), false, 'the commit resolved before its fsync returned');
        assert.equal(store.durableSeq(BOOK), 5);
        assert.ok(delivered.every((event) => event.seq <= 5), 'the subscription delivered the held frame');
        assert.equal(framesOnDisk(dir, BOOK).length, 6);

        plan.releaseFsyncs();
        const committed = await pending.promise;
        assert.equal(committed.seq, 6);
        assert.ok(store.durableSeq(BOOK) >= 6);
        for (const read of reads) await read.result.promise;
        assert.deepEqual(seqsOf(delivered), [1, 2, 3, 4, 5, 6]);
        assert.deepEqual(seqsOf(await store.readEvents(BOOK, 1, 100)), [1, 2, 3, 4, 5, 6]);
        assert.deepEqual(await store.trialBalance(BOOK, history.t3), [{ asset: 'USD', debits: 60n, credits: 60n }]);
        assert.deepEqual(await store.trialBalance(BOOK), [{ asset: 'USD', debits: 100n, credits: 100n }]);
      } finally {
        plan.releaseFsyncs();
        await subscription.return();
      }
    });
  });

  test('subscribe_invalid_book_yields_err_and_creates_nothing', async () => {
    await withDir(async (dir, track) => {
      const store = track(await openStore(dir));
      await seed(store);
      const before = bookDirs(dir);
      const stream = store.subscribe('../evil', 1);
      const error = await expectStoreError(stream.next(), 'INVALID_BOOK');
      assert.equal(error.reason, 'pattern');
      assert.equal(error.book, '../evil');
      assert.deepEqual(await nextWithin(stream), { done: true, value: undefined });
      assert.equal(fs.existsSync(path.join(dir, 'evil')), false);
      assert.equal(fs.existsSync(path.join(dir, 'books', 'evil')), false);
      assert.deepEqual(bookDirs(dir), before);
    });
  });

  test('subscribe_catch_up_then_live', async () => {
    await withDir(async (dir, track) => {
      const store = track(await openStore(dir));
      await seed(store);
      await store.commit(mkTx('h1', 1n));
      const first = store.subscribe(BOOK, 1);
      try {
        assert.deepEqual([(await nextEvent(first)).seq, (await nextEvent(first)).seq, (await nextEvent(first)).seq], [1, 2, 3]);
        const live = await store.commit(mkTx('h2', 2n));
        const fourth = await nextEvent(first);
        assert.equal(fourth.seq, 4);
        assert.equal(fourth.at, live.at);
        const second = store.subscribe(BOOK, 3);
        try {
          assert.equal((await nextEvent(second)).seq, 3);
          assert.equal((await nextEvent(second)).seq, 4);
        } finally {
          await second.return();
        }
      } finally {
        await first.return();
      }
    });
  });

  test('a stream that begins while commits are in flight gets each of them without waiting for a later one (U6)', async () => {
    await withDir(async (dir, track) => {
      const store = track(await openStore(dir));
      await seed(store);
      for (let round = 0; round < 5; round++) {
        const from = (await store.readEvents(BOOK, 1, 1000)).length + 1;
        // Sent before the book has a stream: the store keeps no copy of these transactions, and
        // the stream's catch-up read may be answered before they are durable.
        const commits = Array.from({ length: 8 }, (_, index) => store.commit(mkTx(`u6-${round}-${index}`, 1n)));
        const stream = store.subscribe(BOOK, from);
        try {
          const seqs: number[] = [];
          for (let index = 0; index < commits.length; index++) seqs.push((await nextEvent(stream, 5_000)).seq);
          const committed = await Promise.all(commits);
          assert.deepEqual(seqs, committed.map((c) => c.seq).sort((a, b) => a - b));
        } finally {
          await stream.return();
        }
      }
    });
  });

  test('as_of_boundary_includes_all_commits_sharing_the_timestamp (frozen clock)', async () => {
    await withDir(async (dir, track) => {
      const clock = frozenClock();
      const store = track(await openStore(dir, { testHooks: { clockUs: clock } }));
      await seed(store);
      const frozenUs = Date.now() * 1000 + 1_000_000; // ahead of every earlier at of the book
      Atomics.store(clock, 0, BigInt(frozenUs));
      const results = await store.commitBatch([mkTx('tb1', 50n), mkTx('tb2', 75n)]);
      const tb1 = okValue(results[0], 'tb1');
      const tb2 = okValue(results[1], 'tb2');
      assert.equal(tb1.at, formatAtUs(frozenUs));
      assert.equal(tb2.at, tb1.at, 'the frozen clock gives both commits one at');
      assert.deepEqual(await store.trialBalance(BOOK, tb1.at), [{ asset: 'USD', debits: 125n, credits: 125n }]);
      assert.deepEqual(await store.trialBalance(BOOK, formatAtUs(frozenUs - 1)), []);
      assert.deepEqual(await store.balance(CASH, tb1.at), { amount: { minor: 125n, asset: 'USD' }, updated_seq: tb2.seq });
      assert.deepEqual(await store.balance(CASH, new Date(Math.floor(frozenUs / 1000))), {
        amount: { minor: 125n, asset: 'USD' },
        updated_seq: tb2.seq,
      });
    });
  });
});

// --- B5 --------------------------------------------------------------------------------------------

describe('B5 LogStore: at round-trips exactly through restart', () => {
  test('commits after reopening never go behind the last at, even with the clock behind', async () => {
    await withDir(async (dir, track) => {
      const clock = frozenClock();
      const first = track(await openStore(dir, { testHooks: { clockUs: clock } }));
      await seed(first);
      const txs = [mkTx('c1', 1n), mkTx('c2', 2n), mkTx('c3', 3n)];
      const committed: Committed[] = [];
      for (const tx of txs) committed.push(await first.commit(tx));
      for (const c of committed) assert.match(c.at, AT_PATTERN);
      const eventsBefore = await first.readEvents(BOOK, 1, 100);
      const systemAt = (await first.readEvents(SYSTEM_BOOK, 1, 1))[0]!.at;
      const lastAt = committed[2]!.at;
      await first.close();

      const store = track(await openStore(dir, { testHooks: { clockUs: clock } }));
      assert.deepEqual(await store.readEvents(BOOK, 1, 100), eventsBefore);
      for (const [index, tx] of txs.entries()) {
        assert.deepEqual(await store.commit({ ...tx, id: randomUUID() }), committed[index]);
        assert.equal((await store.transaction(tx.id))?.at, committed[index]!.at);
      }
      assert.deepEqual(
        (await store.accountHistory(CASH, null, 10)).map((record) => record.at),
        committed.map((c) => c.at),
      );
      const subscription = store.subscribe(BOOK, 3);
      try {
        for (const c of committed) assert.equal((await nextEvent(subscription)).at, c.at);
      } finally {
        await subscription.return();
      }
      Atomics.store(clock, 0, BigInt(usOf(systemAt) - 10_000_000)); // ten seconds behind _system too
      await store.registerAsset({ ...USD, id: 'EUR', name: 'Euro' });
      const registered = await store.readEvents(SYSTEM_BOOK, 1, 10);
      assert.equal(registered.length, 2);
      assert.ok(registered[1]!.at >= systemAt, `_system went back: ${registered[1]!.at} < ${systemAt}`);
      Atomics.store(clock, 0, BigInt(usOf(lastAt) - 10_000_000)); // ten seconds behind
      const behind = await store.commit(mkTx('after-reopen', 4n));
      assert.equal(behind.seq, 6);
      assert.match(behind.at, AT_PATTERN);
      assert.ok(behind.at >= lastAt, `${behind.at} is before ${lastAt}`);
      Atomics.store(clock, 0, BigInt(usOf(lastAt) + 7));
      const ahead = await store.commit(mkTx('clock-ahead', 5n));
      assert.equal(ahead.at, formatAtUs(usOf(lastAt) + 7), 'the clock is followed again once it passes the last at');
      assertGaplessAndMonotonic(await store.readEvents(BOOK, 1, 100), BOOK);
    });
  });
});

// --- B7 --------------------------------------------------------------------------------------------

describe('B7 a dead book fails its writes, ends its subscribers, and leaves other books working', () => {
  test('an fsync failure in book A only', async () => {
    await withDir(async (dir, track) => {
      const bookA = unique('bookA');
      const bookB = unique('bookB');
      const plan = new FaultPlan(`/books/${bookA}/`);
      const store = track(await openStore(dir, faultOptions(plan)));
      const assetId = unique('USD');
      await store.registerAsset(asset(assetId));
      for (const book of [bookA, bookB]) {
        await store.openAccount(...openSpec(book, 'cash', assetId, 'asset'));
        await store.openAccount(...openSpec(book, 'deposits', assetId, 'liability'));
        await store.commit(transfer(book, 'fund', 'deposits', 'cash', assetId, 100n));
      }
      const subA = store.subscribe(bookA, 1);
      const subB = store.subscribe(bookB, 1);
      try {
        for (const sub of [subA, subB]) {
          const seqs: number[] = [];
          for (let count = 0; count < 3; count++) seqs.push((await nextEvent(sub)).seq);
          assert.deepEqual(seqs, [1, 2, 3]);
        }
        const cashA = { book: bookA, path: 'cash' };
        const balanceBefore = await store.balance(cashA);
        const eventsBefore = await store.readEvents(bookA, 1, 100);
        const trialBefore = await store.trialBalance(bookA);
        const historyBefore = await store.accountHistory(cashA, null, 100);
        assert.equal(store.durableSeq(bookA), 3);

        plan.arm('fsync', 1, { sticky: true });
        const failing = ['k1', 'k2', 'k3'].map((key) => transfer(bookA, key, 'deposits', 'cash', assetId, 7n));
        const settled = await Promise.allSettled(failing.map((tx) => store.commit(tx)));
        assert.ok(plan.fired(), 'the fault fired');
        for (const outcome of settled) {
          assert.equal(outcome.status, 'rejected');
          const error = assertStoreError((outcome as PromiseRejectedResult).reason, 'BOOK_UNAVAILABLE');
          assert.equal(error.book, bookA);
        }
        // Later writes to A fail at once, without a round trip to the worker.
        const quick = [
          observe(store.commit(transfer(bookA, 'k4', 'deposits', 'cash', assetId, 1n))),
          observe(store.openAccount(...openSpec(bookA, 'quick', assetId, 'asset'))),
        ];
        await new Promise((resolve) => setImmediate(resolve));
        assert.deepEqual(
          quick.map((write) => write.settled()),
          [true, true],
          'a write to a dead book waited for a reply',
        );
        for (const write of quick) await expectStoreError(write.promise, 'BOOK_UNAVAILABLE');
        const later = await settleWithin(store.commit(transfer(bookA, 'k4', 'deposits', 'cash', assetId, 1n)), 2000, 'a later commit');
        assert.equal(later.status, 'rejected');
        assert.equal(assertStoreError((later as PromiseRejectedResult).reason, 'BOOK_UNAVAILABLE').book, bookA);
        const open = await settleWithin(store.openAccount(...openSpec(bookA, 'more', assetId, 'asset')), 2000, 'a later openAccount');
        assert.equal(open.status, 'rejected');
        assertStoreError((open as PromiseRejectedResult).reason, 'BOOK_UNAVAILABLE');
        const [slot] = await store.commitBatch([transfer(bookA, 'k5', 'deposits', 'cash', assetId, 1n)]);
        assertStoreError(errorOf(slot, 'batch slot in A'), 'BOOK_UNAVAILABLE');

        // A's subscriber gets no new event: its next next() rejects, then the stream is over.
        const ended = await expectStoreError(nextWithin(subA), 'BOOK_UNAVAILABLE');
        assert.equal(ended.book, bookA);
        assert.deepEqual(await nextWithin(subA), { done: true, value: undefined });
        // A new subscriber of A drains what is durable, then ends the same way.
        const lateSub = store.subscribe(bookA, 1);
        assert.deepEqual([(await nextEvent(lateSub)).seq, (await nextEvent(lateSub)).seq, (await nextEvent(lateSub)).seq], [1, 2, 3]);
        await expectStoreError(nextWithin(lateSub), 'BOOK_UNAVAILABLE');

        // Reads of A answer from its last durable state.
        assert.deepEqual(await store.balance(cashA), balanceBefore);
        assert.deepEqual(await store.readEvents(bookA, 1, 100), eventsBefore);
        assert.deepEqual(await store.trialBalance(bookA), trialBefore);
        assert.deepEqual(await store.trialBalance(bookA, new Date(Date.now() + 3_600_000)), trialBefore);
        assert.deepEqual(await store.accountHistory(cashA, null, 100), historyBefore);
        assert.equal(store.durableSeq(bookA), 3);
        for (const tx of failing) assert.equal(await store.transaction(tx.id), null);

        // B keeps working, subscriber included.
        const okB = await store.commit(transfer(bookB, 'k1', 'deposits', 'cash', assetId, 9n));
        assert.equal(okB.seq, 4);
        assert.equal((await store.balance({ book: bookB, path: 'cash' })).amount.minor, 109n);
        assert.equal(store.durableSeq(bookB), 4);
        const liveB = await nextEvent(subB);
        assert.equal(liveB.seq, 4);
        assert.equal(liveB.at, okB.at);
      } finally {
        await subA.return();
        await subB.return();
      }
      const closed = await settleWithin(store.close(), 5000, 'close() with a dead book');
      assert.equal(closed.status, 'fulfilled');

      // Reopen without faults: A accepts writes; each failed key lands exactly once.
      const reopened = track(await openStore(dir));
      const before = reopened.durableSeq(bookA);
      assert.ok(before >= 3 && before <= 6, `book A has ${before} events`);
      const failingTxs = ['k1', 'k2', 'k3'].map((key) => transfer(bookA, key, 'deposits', 'cash', assetId, 7n));
      for (const tx of failingTxs) {
        const committed = await reopened.commit(tx);
        assert.ok(committed.seq > 3);
      }
      const fresh = await reopened.commit(transfer(bookA, 'k6', 'deposits', 'cash', assetId, 1n));
      const events = await reopened.readEvents(bookA, 1, 100);
      assertGaplessAndMonotonic(events, bookA);
      assert.equal(fresh.seq, events.length);
      const keys = events.flatMap((event) => (event.event.kind === 'transaction_posted' ? [event.event.idempotency_key] : []));
      assert.deepEqual([...keys].sort(), ['fund', 'k1', 'k2', 'k3', 'k6']);
      assert.equal((await reopened.balance({ book: bookA, path: 'cash' })).amount.minor, 100n + 3n * 7n + 1n);
      assert.equal((await reopened.balance({ book: bookB, path: 'cash' })).amount.minor, 109n);
    });
  });

  test('the same with _system: registerAsset fails, user books keep working', async () => {
    await withDir(async (dir, track) => {
      const plan = new FaultPlan(`/books/${SYSTEM_BOOK}/`);
      const store = track(await openStore(dir, faultOptions(plan)));
      await seed(store);
      await store.commit(mkTx('before', 1n));
      plan.arm('fsync', 1, { sticky: true });
      const eur = { id: 'EUR', class: 'fiat' as const, precision: 2, name: 'Euro' };
      const error = await expectStoreError(store.registerAsset(eur), 'BOOK_UNAVAILABLE');
      assert.equal(error.book, SYSTEM_BOOK);
      assert.ok(plan.fired());
      assert.equal(await store.asset('EUR'), null);
      const again = await expectStoreError(store.registerAsset({ ...eur, id: 'GBP' }), 'BOOK_UNAVAILABLE');
      assert.equal(again.book, SYSTEM_BOOK);
      assert.equal(store.durableSeq(SYSTEM_BOOK), 1);
      assert.deepEqual(seqsOf(await store.readEvents(SYSTEM_BOOK, 1, 10)), [1]);
      // User books keep working, new ones included.
      assert.equal((await store.commit(mkTx('after', 2n))).seq, 4);
      await seed(store, 'other');
      assert.equal((await store.commit(mkTx('other-1', 3n, 'other'))).seq, 3);
      assert.equal((await store.balance(CASH)).amount.minor, 3n);
      const closed = await settleWithin(store.close(), 5000, 'close() with a dead _system');
      assert.equal(closed.status, 'fulfilled');

      const reopened = track(await openStore(dir));
      await reopened.registerAsset(eur); // lands now, or its frame landed and this is identical
      assert.deepEqual(await reopened.asset('EUR'), eur);
      const systemEvents = await reopened.readEvents(SYSTEM_BOOK, 1, 10);
      assertGaplessAndMonotonic(systemEvents, SYSTEM_BOOK);
      const ids = systemEvents.map((event) => (event.event.kind === 'asset_registered' ? event.event.id : '?'));
      assert.equal(ids.filter((id) => id === 'EUR').length, 1);
      assert.equal(ids[0], 'USD');
    });
  });
});

// --- B8 --------------------------------------------------------------------------------------------

describe('B8 LogStore: close() always resolves', () => {
  test('with a commit in flight, a pending subscription and one never iterated', async () => {
    await withDir(async (dir, track) => {
      const store = track(await openStore(dir));
      const { book, asset: assetId } = await setupFresh(store);
      const s1 = store.subscribe(book, 1);
      assert.equal((await nextEvent(s1)).seq, 1);
      assert.equal((await nextEvent(s1)).seq, 2);
      const pendingNext = observe(s1.next());
      const s2 = store.subscribe(book, 1);
      const inFlightTx = transfer(book, 'in-flight', 'deposits', 'cash', assetId, 5n);
      const inFlight = observe(store.commit(inFlightTx));

      const closing = await settleWithin(store.close(), 5000, 'close()');
      assert.equal(closing.status, 'fulfilled');
      const next1 = await settleWithin(pendingNext.promise, 5000, "S1's pending next()");
      assert.deepEqual(next1, { status: 'fulfilled', value: { done: true, value: undefined } });
      assert.deepEqual(await nextWithin(s2), { done: true, value: undefined });
      const commitOutcome = await settleWithin(inFlight.promise, 5000, 'the in-flight commit');
      if (commitOutcome.status === 'rejected') assertStoreError(commitOutcome.reason, 'CLOSED');

      // After close: every method rejects CLOSED, subscribe's first next() too; durableSeq throws.
      const id = { book, path: 'cash' };
      await expectClosed(() => store.registerAsset(asset(unique('USD'))), 'registerAsset');
      await expectClosed(() => store.openAccount(...openSpec(book, 'x', assetId, 'asset')), 'openAccount');
      await expectClosed(() => store.commit(transfer(book, 'late', 'deposits', 'cash', assetId, 1n)), 'commit');
      await expectClosed(() => store.commitBatch([]), 'commitBatch');
      await expectClosed(() => store.balance(id), 'balance');
      await expectClosed(() => store.asset(assetId), 'asset');
      await expectClosed(() => store.accountHistory(id, null, 10), 'accountHistory');
      await expectClosed(() => store.transaction(randomUUID()), 'transaction');
      await expectClosed(() => store.trialBalance(book), 'trialBalance');
      await expectClosed(() => store.readEvents(book, 1, 10), 'readEvents');
      await expectStoreError(store.subscribe(book, 1).next(), 'CLOSED');
      assert.throws(() => store.durableSeq(book), (error: unknown) => error instanceof StoreError && error.code === 'CLOSED');
      assert.equal((await settleWithin(store.close(), 5000, 'a second close()')).status, 'fulfilled');

      // The same directory opens again at once; the in-flight commit is there exactly when it resolved.
      const reopened = track(await openStore(dir));
      const keys = (await reopened.readEvents(book, 1, 100)).flatMap((event) =>
        event.event.kind === 'transaction_posted' ? [event.event.idempotency_key] : [],
      );
      assert.deepEqual(keys, commitOutcome.status === 'fulfilled' ? ['in-flight'] : []);
      if (commitOutcome.status === 'fulfilled') {
        assert.deepEqual(await reopened.commit(inFlightTx), commitOutcome.value);
      }
    });
  });

  test('with a dead book', async () => {
    await withDir(async (dir, track) => {
      const plan = new FaultPlan(`/books/${BOOK}/`);
      const store = track(await openStore(dir, faultOptions(plan)));
      await seed(store);
      const sub = store.subscribe(BOOK, 3);
      const pendingNext = observe(sub.next());
      plan.arm('fsync', 1, { sticky: true });
      await expectStoreError(store.commit(mkTx('dies', 1n)), 'BOOK_UNAVAILABLE');
      const queued = observe(store.commit(mkTx('after-death', 1n)));
      const closing = await settleWithin(store.close(), 5000, 'close() with a dead book');
      assert.equal(closing.status, 'fulfilled');
      const next = await settleWithin(pendingNext.promise, 5000, 'the pending next()');
      assert.equal(next.status, 'rejected');
      assertStoreError((next as PromiseRejectedResult).reason, 'BOOK_UNAVAILABLE');
      const late = await settleWithin(queued.promise, 5000, 'a write after the death');
      assert.equal(late.status, 'rejected');
      assertStoreError((late as PromiseRejectedResult).reason, 'BOOK_UNAVAILABLE');
      const reopened = track(await openStore(dir));
      assert.ok(reopened.durableSeq(BOOK) >= 2);
      const retried = await reopened.commit(mkTx('dies', 1n));
      assert.equal(retried.seq, 3);
    });
  });

  test('with a batch being made durable: the write gets its real outcome; the lock is held until the workers stop', async () => {
    await withDir(async (dir, track) => {
      const plan = new FaultPlan(`/books/${BOOK}/`);
      const store = track(await openStore(dir, faultOptions(plan)));
      await seed(store);
      const before = plan.count('fsync');
      plan.holdFsyncs();
      try {
        const write = observe(store.commit(mkTx('during-close', 3n)));
        await waitUntil(() => plan.count('fsync') > before, 5000, 'the batch fsync to start');
        const closing = observe(store.close());
        await sleep(100);
        assert.equal(closing.settled(), false, 'close() resolved while a batch was being made durable');
        assert.equal(write.settled(), false);
        const locked = await expectStoreError(openStore(dir), 'IO');
        assert.match(locked.message, /already locked/);
        plan.releaseFsyncs();
        const committed = await write.promise;
        assert.equal(committed.seq, 3);
        assert.equal((await settleWithin(closing.promise, 5000, 'close()')).status, 'fulfilled');
        const reopened = track(await openStore(dir));
        assert.equal((await reopened.balance(CASH)).amount.minor, 3n);
        assert.deepEqual(await reopened.commit(mkTx('during-close', 3n)), committed);
      } finally {
        plan.releaseFsyncs();
      }
    });
  });

  test('with a subscription whose consumer is stalled mid-iteration', async () => {
    await withDir(async (dir, track) => {
      const store = track(await openStore(dir));
      await seed(store);
      const stalled = store.subscribe(BOOK, 1);
      assert.equal((await nextEvent(stalled)).seq, 1);
      await Promise.all(Array.from({ length: 50 }, (_, index) => store.commit(mkTx(`s${index}`, 1n))));
      const closing = await settleWithin(store.close(), 5000, 'close() with a stalled consumer');
      assert.equal(closing.status, 'fulfilled');
      assert.deepEqual(await nextWithin(stalled), { done: true, value: undefined });
      const reopened = track(await openStore(dir));
      assert.equal(reopened.durableSeq(BOOK), 52);
    });
  });
});

/** A fresh book and asset with `cash` (seq 1) and `deposits` (seq 2), as the suite's setupBook. */
async function setupFresh(store: LogStore): Promise<{ book: string; asset: string }> {
  const book = unique('book');
  const assetId = unique('USD');
  await store.registerAsset(asset(assetId));
  await store.openAccount(...openSpec(book, 'cash', assetId, 'asset'));
  await store.openAccount(...openSpec(book, 'deposits', assetId, 'liability'));
  return { book, asset: assetId };
}

// --- B9 --------------------------------------------------------------------------------------------

/** `perWorker` fresh book names for each of `workerCount` workers. */
function booksSpreadOverWorkers(workerCount: number, perWorker: number): string[] {
  const byWorker: string[][] = Array.from({ length: workerCount }, () => []);
  while (byWorker.some((books) => books.length < perWorker)) {
    const book = unique('book');
    const books = byWorker[workerIndexOf(book, workerCount)]!;
    if (books.length < perWorker) books.push(book);
  }
  return byWorker.flat();
}

describe('B9 case 29 across real workers', () => {
  test('workers: 4; 4 books x 25, then 8 books x 200 concurrent commits with keys reused across books', async () => {
    await withDir(async (dir, track) => {
      const WORKERS = 4;
      const store = track(await openStore(dir, { workers: WORKERS }));
      const assetId = unique('USD');
      await store.registerAsset(asset(assetId));

      // Case 29 as specified, on books owned by four different workers.
      const small = booksSpreadOverWorkers(WORKERS, 1);
      assert.equal(new Set(small.map((book) => workerIndexOf(book, WORKERS))).size, 4);
      for (const book of small) {
        await store.openAccount(...openSpec(book, 'cash', assetId, 'asset'));
        await store.openAccount(...openSpec(book, 'deposits', assetId, 'liability'));
      }
      const smallResults = await Promise.all(
        small.flatMap((book) => range(0, 24).map((index) => store.commit(transfer(book, `x${index}`, 'deposits', 'cash', assetId, 1n)))),
      );
      for (const [bookIndex, book] of small.entries()) {
        assert.equal((await store.balance({ book, path: 'cash' })).amount.minor, 25n);
        const seqs = smallResults.slice(bookIndex * 25, bookIndex * 25 + 25).map((committed) => committed.seq);
        assert.deepEqual([...seqs].sort((left, right) => left - right), range(3, 27));
      }

      // The heavier form: 8 books (two per worker) x 200 concurrent commits.
      const books = booksSpreadOverWorkers(WORKERS, 2);
      assert.ok(new Set(books.map((book) => workerIndexOf(book, WORKERS))).size >= 2);
      for (const book of books) {
        await store.openAccount(...openSpec(book, 'cash', assetId, 'asset'));
        await store.openAccount(...openSpec(book, 'deposits', assetId, 'liability'));
      }
      const COMMITS = 200;
      const all = await Promise.all(
        books.flatMap((book) =>
          range(0, COMMITS - 1).map((index) => store.commit(transfer(book, `k${index}`, 'deposits', 'cash', assetId, BigInt(index + 1)))),
        ),
      );
      const expectedCash = BigInt((COMMITS * (COMMITS + 1)) / 2);
      const check = async (current: LogStore) => {
        for (const [bookIndex, book] of books.entries()) {
          assert.equal((await current.balance({ book, path: 'cash' })).amount.minor, expectedCash, `cash of ${book}`);
          assert.equal((await current.balance({ book, path: 'deposits' })).amount.minor, expectedCash);
          const events = await readAllEvents(current, book);
          assert.equal(events.length, COMMITS + 2);
          assertGaplessAndMonotonic(events, book);
          const keys = events.slice(2).map((event) => (event.event.kind === 'transaction_posted' ? event.event.idempotency_key : '?'));
          assert.equal(new Set(keys).size, COMMITS, `every key of ${book} exactly once`);
          assert.equal(current.durableSeq(book), COMMITS + 2);
          const seqs = all.slice(bookIndex * COMMITS, (bookIndex + 1) * COMMITS).map((committed) => committed.seq);
          assert.deepEqual([...seqs].sort((left, right) => left - right), range(3, COMMITS + 2));
        }
      };
      await check(store);
      await store.close();
      await check(track(await openStore(dir, { workers: WORKERS })));
    });
  });
});

// --- B15 -------------------------------------------------------------------------------------------

describe('B15 LogStore: reads, rejected writes and subscriptions create nothing', () => {
  test('on unknown, reserved and malformed books, books/ is unchanged', async () => {
    await withDir(async (dir, track) => {
      const store = track(await openStore(dir));
      await seed(store);
      const before = bookDirs(dir);
      assert.deepEqual(before, [SYSTEM_BOOK, BOOK].sort());
      const unknownBooks = ['typo', 'fresh', '_sneaky', SYSTEM_BOOK];
      const later = new Date(Date.now() + 60_000);

      // Rejected writes.
      await expectStoreError(store.commit(mkTx('k', 1n, 'typo')), 'UNKNOWN_ACCOUNT');
      assert.equal((await expectStoreError(store.commit(mkTx('k', 1n, '_sneaky')), 'INVALID_BOOK')).reason, 'reserved');
      await expectStoreError(store.commit(mkTx('k', 1n, '../evil')), 'INVALID_BOOK');
      await expectStoreError(store.openAccount({ ...CASH_DEF, id: { book: '_sneaky', path: 'cash' } }, UNSIDED), 'INVALID_BOOK');
      await expectStoreError(store.openAccount({ ...CASH_DEF, id: { book: 'fresh', path: 'cash' }, asset: 'NOPE' }, UNSIDED), 'UNKNOWN_ASSET');
      const batch = await store.commitBatch([mkTx('k', 1n, 'typo'), mkTx('k', 1n, '_sneaky'), ghostTx('g', 'fresh'), mkTx('k', 1n, 'a/b')]);
      assert.deepEqual(
        batch.map((result) => (result.ok ? 'ok' : result.error.code)),
        ['UNKNOWN_ACCOUNT', 'INVALID_BOOK', 'UNKNOWN_ACCOUNT', 'INVALID_BOOK'],
      );

      // Reads.
      for (const book of unknownBooks) {
        await expectStoreError(store.balance({ book, path: 'cash' }), 'UNKNOWN_ACCOUNT');
        await expectStoreError(store.balance({ book, path: 'cash' }, later), 'UNKNOWN_ACCOUNT');
        await expectStoreError(store.accountHistory({ book, path: 'cash' }, null, 10), 'UNKNOWN_ACCOUNT');
        assert.deepEqual(await store.readEvents(book, 1, 10), book === SYSTEM_BOOK ? await store.readEvents(SYSTEM_BOOK, 1, 10) : []);
        assert.deepEqual(await store.trialBalance(book), []);
        assert.deepEqual(await store.trialBalance(book, later), []);
        assert.equal(store.durableSeq(book), book === SYSTEM_BOOK ? 1 : 0);
      }
      await expectStoreError(store.readEvents('../evil', 1, 10), 'INVALID_BOOK');
      await expectStoreError(store.trialBalance('../evil'), 'INVALID_BOOK');
      assert.throws(() => store.durableSeq('../evil'), (error: unknown) => error instanceof StoreError && error.code === 'INVALID_BOOK');

      // Subscriptions.
      for (const book of ['typo', 'fresh', '_sneaky']) {
        const stream = store.subscribe(book, 1);
        const next = observe(stream.next());
        await sleep(50);
        assert.equal(next.settled(), false, `a subscription to the empty book ${book} waits`);
        await stream.return();
      }
      const evil = store.subscribe('../evil', 1);
      await expectStoreError(evil.next(), 'INVALID_BOOK');

      assert.deepEqual(bookDirs(dir), before);
      assert.equal(fs.existsSync(path.join(dir, 'evil')), false);
      // Nothing was reserved either: a book differing from a rejected one only in case is free.
      await store.openAccount({ ...CASH_DEF, id: { book: 'FRESH', path: 'cash' } }, UNSIDED);
      assert.deepEqual(bookDirs(dir), [...before, 'FRESH'].sort());
      await store.close();

      const reopened = track(await openStore(dir));
      assert.deepEqual(bookDirs(dir), [...before, 'FRESH'].sort());
      assert.equal(reopened.durableSeq('typo'), 0);
      assert.deepEqual(await reopened.readEvents('typo', 1, 10), []);
    });
  });
});

// --- B16 -------------------------------------------------------------------------------------------

describe('B16 LogStore: OVERLOADED', () => {
  test('a flood with queueDepthMax 2: some OVERLOADED, nothing lost or doubled, retries succeed', async () => {
    await withDir(async (dir, track) => {
      const store = track(await openStore(dir, { queueDepthMax: 2 }));
      await seed(store);
      await seed(store, 'c');
      const FLOOD = 100;
      const txs = range(0, FLOOD - 1).map((index) => mkTx(`f${index}`, BigInt(index + 1)));
      const other = store.commit(mkTx('other', 1n, 'c')); // another book's queue is its own
      const first = await Promise.allSettled(txs.map((tx) => store.commit(tx)));
      assert.equal((await other).seq, 3);
      const accepted = new Map<string, Committed>();
      let overloaded = txs.filter((tx, index) => {
        const outcome = first[index]!;
        if (outcome.status === 'fulfilled') {
          accepted.set(tx.idempotency_key, outcome.value);
          return false;
        }
        const error = assertStoreError(outcome.reason, 'OVERLOADED');
        assert.equal(error.book, BOOK);
        return true;
      });
      assert.ok(overloaded.length > 0, 'the flood met the queue bound');
      assert.ok(accepted.size > 0, 'the flood was not refused entirely');
      assert.equal(store.durableSeq(BOOK), 2 + accepted.size, 'an OVERLOADED write appended nothing');

      for (let round = 0; overloaded.length > 0; round++) {
        assert.ok(round < 500, 'retries keep being OVERLOADED');
        const outcomes = await Promise.allSettled(overloaded.map((tx) => store.commit(tx)));
        overloaded = overloaded.filter((tx, index) => {
          const outcome = outcomes[index]!;
          if (outcome.status === 'fulfilled') {
            accepted.set(tx.idempotency_key, outcome.value);
            return false;
          }
          assertStoreError(outcome.reason, 'OVERLOADED');
          return true;
        });
      }
      assert.equal(accepted.size, FLOOD);
      // A retry of an accepted key is a replay.
      assert.deepEqual(await store.commit({ ...txs[0]!, id: randomUUID() }), accepted.get('f0'));

      const events = await readAllEvents(store, BOOK);
      assertGaplessAndMonotonic(events, BOOK);
      assert.equal(events.length, 2 + FLOOD);
      const keys = events.slice(2).map((event) => (event.event.kind === 'transaction_posted' ? event.event.idempotency_key : '?'));
      assert.deepEqual([...keys].sort(), txs.map((tx) => tx.idempotency_key).sort());
      assert.equal((await store.balance(CASH)).amount.minor, BigInt((FLOOD * (FLOOD + 1)) / 2));
      for (const event of events.slice(2)) {
        const { idempotency_key } = event.event as { idempotency_key: string };
        assert.equal(accepted.get(idempotency_key)?.seq, event.seq);
      }
    });
  });

  test("commitBatch admits a book's part whole or not at all", async () => {
    await withDir(async (dir, track) => {
      const store = track(await openStore(dir, { queueDepthMax: 2 }));
      await seed(store);
      // More drafts than the bound are admitted when nothing is in flight.
      const big = await store.commitBatch(range(0, 4).map((index) => mkTx(`big${index}`, 1n)));
      assert.deepEqual(big.map((result) => result.ok), [true, true, true, true, true]);
      // On top of a write in flight, a part that does not fit is OVERLOADED in every slot.
      const inFlight = store.commit(mkTx('in-flight', 1n));
      const refused = await store.commitBatch([mkTx('r0', 1n), mkTx('r1', 1n)]);
      for (const result of refused) assertStoreError(errorOf(result, 'refused slot'), 'OVERLOADED');
      assert.equal((await inFlight).seq, 8);
      const retried = await store.commitBatch([mkTx('r0', 1n), mkTx('r1', 1n)]);
      assert.deepEqual(retried.map((result) => (result.ok ? result.value.seq : -1)), [9, 10]);
    });
  });
});

// --- child processes -------------------------------------------------------------------------------

async function runChild(args: string[]): Promise<{ ok: boolean; code?: string; message?: string }> {
  const child = spawn(process.execPath, [LOCK_CHILD, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  let output = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  const exitCode = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  assert.equal(exitCode, 0, `the child failed: ${output}`);
  return JSON.parse(output.trim()) as { ok: boolean; code?: string; message?: string };
}

async function waitForLine(child: ChildProcess, line: string): Promise<void> {
  let output = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the child did not print "${line}" within 10 s`)), 10_000);
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      output += chunk;
      if (output.split('\n').includes(line)) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the child exited (${code}) before printing "${line}"`));
    });
  });
}

describe('LogStore#writeStats: the group commit seen from the caller', () => {
  test('every fsynced frame is counted once, in fewer batches than frames under concurrency', async () => {
    await withDir(async (dir, track) => {
      const store = track(await openStore(dir, { workers: 2 }));
      assert.deepEqual(store.writeStats(), { batches: 0, frames: 0 });
      await seed(store);
      const books = ['b', 'c'];
      await seed(store, 'c');
      const commits = books.flatMap((book) => Array.from({ length: 50 }, (_, index) => store.commit(mkTx(`k${index}`, 1n, book))));
      await Promise.all(commits);
      const stats = store.writeStats();
      const framesDurable = store.durableSeq(SYSTEM_BOOK) + store.durableSeq('b') + store.durableSeq('c');
      assert.equal(stats.frames, framesDurable, 'each durable event was counted once');
      assert.ok(stats.batches >= 3 && stats.batches < stats.frames, `${stats.batches} batches for ${stats.frames} frames`);
      // A rejected write appends nothing and fsyncs nothing.
      await expectStoreError(store.commit({ ...mkTx('bad', 1n), postings: [] , idempotency_key: 'k0', id: randomUUID() }), 'IDEMPOTENCY_CONFLICT');
      assert.deepEqual(store.writeStats(), stats);
    });
  });
});

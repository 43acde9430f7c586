/**
 * Regression: a segment holding a frame over 64 KiB followed by a larger frame (spec/log-engine.md,
 * section 4.5, scan step 2). The chunked scan used to refill its buffer for the next header without
 * growing it to that frame's real length, so it reported the sound log as `CORRUPT … (torn
 * payload)` and ended the book's writes with BOOK_UNAVAILABLE, again after every reopen.
 *
 * The log below is sound; every reading path must return it whole and leave the book writable:
 * readEvents, subscription catch-up, point-in-time trial balance, transaction(), the positioned read
 * of an idempotent retry, recovery at open, verifyDataDir, and the CLI's dump and verify.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { LogStore } from '../src/log/log-store.js';
import { verifyDataDir } from '../src/log/verify.js';
import type { SequencedEvent } from '../src/core/types.js';
import { BOOK, catchUp, metadataTx, seed, withDir } from './support/log-store-fixtures.js';

const CLI = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));


function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
      resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : -1, stdout, stderr });
    });
  });
}

/** The metadata of each transaction among `events`, in seq order. */
function metadataOf(events: readonly SequencedEvent[]): unknown[] {
  return events.flatMap(({ event }) => (event.kind === 'transaction_posted' ? [event.metadata] : []));
}


/** Every reading path over the book; `expected` is the metadata of its transactions in order. */
async function readEverywhere(store: LogStore, lastSeq: number, expected: unknown[], txids: string[]): Promise<void> {
  const events = await store.readEvents(BOOK, 1, 100);
  assert.deepEqual(events.map((event) => event.seq), Array.from({ length: lastSeq }, (_, index) => index + 1));
  assert.deepEqual(metadataOf(events), expected);
  // Starting at the larger frame, and one frame at a time.
  assert.deepEqual(await store.readEvents(BOOK, 4, 1), [events[3]]);
  for (const event of events) assert.deepEqual(await store.readEvents(BOOK, event.seq, 1), [event]);
  assert.deepEqual(await catchUp(store, 1, lastSeq), events);
  assert.deepEqual(await catchUp(store, 4, lastSeq - 3), events.slice(3));
  assert.deepEqual(await store.trialBalance(BOOK, new Date(Date.now() + 60_000)), await store.trialBalance(BOOK));
  // As of the first transaction: it and any batchmate sharing its commit time.
  const asOf = events[2]!.at;
  const upTo = BigInt(events.filter((event) => event.event.kind === 'transaction_posted' && event.at <= asOf).length);
  assert.deepEqual(await store.trialBalance(BOOK, asOf), [{ asset: 'USD', debits: upTo, credits: upTo }]);
  for (const [index, txid] of txids.entries()) {
    const stored = await store.transaction(txid);
    assert.equal(stored?.transaction.metadata, expected[index]);
  }
}

test('a frame over 64 KiB followed by a larger one reads back on every path, and the book stays writable', async () => {
  await withDir(async (dir, track) => {
    let store = track(await LogStore.open(dir, { workers: 1 }));
    await seed(store); // _system seq 1; book b: cash (seq 1), rev (seq 2)
    const first = metadataTx('x'.repeat(70_000));
    const second = metadataTx('y'.repeat(80_000));
    await store.commit(first);
    const committed = await store.commit(second);
    assert.equal(committed.seq, 4);
    const expected: unknown[] = [first.metadata, second.metadata];
    const txids = [first.id, second.id];

    await readEverywhere(store, 4, expected, txids);
    // The positioned read of an idempotent retry compares content with the frame on disk.
    assert.deepEqual(await store.commit(second), committed);
    // The book still accepts writes after all of those reads.
    const third = metadataTx(null);
    assert.equal((await store.commit(third)).seq, 5);
    expected.push(null);
    txids.push(third.id);
    await readEverywhere(store, 5, expected, txids);

    // Recovery at open replays the same log, and the reads that failed before keep working.
    await store.close();
    store = track(await LogStore.open(dir, { workers: 1 }));
    await readEverywhere(store, 5, expected, txids);
    const fourth = metadataTx('z'.repeat(90_000));
    assert.equal((await store.commit(fourth)).seq, 6);
    expected.push(fourth.metadata);
    txids.push(fourth.id);
    await readEverywhere(store, 6, expected, txids);
    await store.close();

    const report = await verifyDataDir(dir, { all: true, threads: 1 });
    assert.deepEqual(report.findings, []);
    assert.equal(report.books.find((entry) => entry.book === BOOK)?.frames, 6);
    const verified = await cli('verify', dir, '--progress', 'none');
    assert.equal(verified.code, 0, verified.stdout + verified.stderr);
    const dumped = await cli('dump', dir, BOOK);
    assert.equal(dumped.code, 0, dumped.stderr);
    const lines = dumped.stdout.trim().split('\n');
    assert.deepEqual(lines.map((line) => (JSON.parse(line) as { seq: number }).seq), [1, 2, 3, 4, 5, 6]);
  });
});

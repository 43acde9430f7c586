/**
 * The descriptor budget (src/log/fd-budget.ts; spec/log-engine.md sections 4.1 and 6.6): the
 * workers together stay inside the process's open-files limit, and a missing descriptor (EMFILE,
 * ENFILE) refuses a job OVERLOADED instead of ending its book.
 *
 * The limit is real: the child-process cases run under `ulimit -n 256`. The in-process cases
 * inject EMFILE and ENFILE through the file-system layer (test/support/faulty-file-system.ts).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { derivedFdsMax, parseOpenFilesLimit, workerFdShare } from '../src/log/fd-budget.js';
import type { LogStore } from '../src/log/log-store.js';
import type { LogStoreWarning } from '../src/log/options.js';
import { assertStoreError, expectStoreError } from './conformance/fixtures.js';
import type { FdPressureReport } from './support/fd-pressure-child.js';
import {
  BOOK,
  CASH_DEF,
  FaultPlan,
  UNSIDED,
  committedKeysOnDisk,
  faultOptions,
  framesOnDisk,
  makeTempDir,
  mkTx,
  openStore,
  removeDir,
  seed,
  segmentFiles,
  withDir,
} from './support/log-store-fixtures.js';

const CHILD = fileURLToPath(new URL('./support/fd-pressure-child.js', import.meta.url));

/** Runs the child under `ulimit -n <limit>` (soft and hard, so Node cannot raise it) and parses its report. */
async function runUnderLimit(limit: number, args: { books: number; workers: number; squeeze: boolean }): Promise<FdPressureReport> {
  const dir = makeTempDir();
  try {
    const child = spawn('bash', ['-c', `ulimit -n ${limit} && exec "$0" "$@"`, process.execPath, CHILD, JSON.stringify({ dir, ...args })], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    let errors = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (errors += chunk));
    const exitCode = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    assert.equal(exitCode, 0, `the child failed:\n${errors}\n${output}`);
    return JSON.parse(output.trim()) as FdPressureReport;
  } finally {
    removeDir(dir);
  }
}

function openFds(): number {
  return fs.readdirSync('/proc/self/fd').length - 1; // less the listing's own
}

describe('sizing the budget from the open-files limit', () => {
  test('the soft "Max open files" of /proc/self/limits is read; unlimited and garbage are told apart', () => {
    const limits = (soft: string, hard: string) =>
      `Limit                     Soft Limit           Hard Limit           Units     \n` +
      `Max processes             96362                96362                processes \n` +
      `Max open files            ${soft.padEnd(20)} ${hard.padEnd(20)} files     \n`;
    assert.equal(parseOpenFilesLimit(limits('1024', '524288')), 1024, 'the soft column, not the hard one');
    assert.equal(parseOpenFilesLimit(limits('unlimited', 'unlimited')), Number.POSITIVE_INFINITY);
    assert.equal(parseOpenFilesLimit(limits('12x', '20000')), null);
    assert.equal(parseOpenFilesLimit('Max processes 5 5 processes\n'), null);
    assert.equal(parseOpenFilesLimit(fs.readFileSync('/proc/self/limits', 'utf8')), Number(/^Max open files\s+(\d+)/m.exec(fs.readFileSync('/proc/self/limits', 'utf8'))![1]));
  });

  test('a quarter (at least 64) for the application, 4 per worker thread, 1 for the LOCK; shares of 4 to 256', () => {
    assert.equal(derivedFdsMax(1024, 8), 1024 - 256 - 32 - 1);
    assert.equal(workerFdShare(derivedFdsMax(1024, 8), 8), 91);
    assert.equal(derivedFdsMax(256, 4), 256 - 64 - 16 - 1);
    assert.equal(workerFdShare(derivedFdsMax(256, 4), 4), 43);
    assert.equal(workerFdShare(derivedFdsMax(20_000, 2), 2), 256, 'never more than SEGMENT_FDS_OPEN_MAX per worker');
    assert.equal(workerFdShare(derivedFdsMax(Number.POSITIVE_INFINITY, 8), 8), 256);
    assert.equal(derivedFdsMax(64, 8), 0);
    assert.equal(workerFdShare(0, 8), 4, 'a worker gets its minimum even when the limit leaves nothing');
  });

  test('a limit that leaves less than 4 descriptors a worker warns FD_LIMIT_LOW at open, and writes still succeed', async () => {
    // 128 with 8 workers: 128 - 64 - 32 - 1 leaves 31, less than 4 for each; each takes 4 anyway.
    // (Limits this tight barely let the worker threads load their modules, so it is assumed.)
    const warnings: LogStoreWarning[] = [];
    await withDir(async (dir, track) => {
      const onWarning = (warning: LogStoreWarning) => void warnings.push(warning);
      const store = track(await openStore(dir, { workers: 8, onWarning, testHooks: { openFilesLimit: 128 } }));
      assert.deepEqual(warnings.map((warning) => warning.code), ['FD_LIMIT_LOW']);
      assert.match(warnings[0]!.message, /open-files limit \(128\) leaves 31 descriptors for 8 workers/);
      await seed(store);
      for (let index = 0; index < 10; index++) await store.commit(mkTx(`k${index}`, 1n));
      assert.equal(store.durableSeq(BOOK), 12);
      warnings.length = 0;
      track(await openStore(path.join(dir, 'second'), { workers: 2, fdsMax: 8, onWarning, testHooks: { openFilesLimit: 16 } }));
      assert.deepEqual(warnings, [], 'an explicit fdsMax is not derived, so nothing warns');
    });
  });
});

describe('the workers stay inside their budget', () => {
  test('fdsMax 8 with 2 workers: 60 books, periodic snapshots; every write succeeds and the store holds at most 8 more descriptors', async () => {
    await withDir(async (dir, track) => {
      const warnings: LogStoreWarning[] = [];
      const store = track(await openStore(dir, { workers: 2, fdsMax: 8, snapshotEvery: 2, onWarning: (warning) => warnings.push(warning) }));
      await seed(store);
      const baseline = openFds();
      let peak = baseline;
      const books = Array.from({ length: 60 }, (_, index) => `fd-${index}`);
      for (let round = 0; round < 3; round++) {
        await Promise.all(
          books.map(async (book) => {
            if (round === 0) {
              await store.openAccount({ ...CASH_DEF, id: { book, path: 'cash' } }, UNSIDED);
              await store.openAccount({ ...CASH_DEF, id: { book, path: 'rev' }, kind: 'income' }, UNSIDED);
            }
            await store.commit(mkTx(`k${round}`, 1n, book));
            peak = Math.max(peak, openFds());
          }),
        );
      }
      for (const book of books) assert.equal(store.durableSeq(book), 5, `book ${book}`);
      assert.ok(peak - baseline <= 8, `the store held ${peak - baseline} descriptors beyond its idle baseline, more than fdsMax 8`);
      // Snapshot files take at most a quarter of a share (1 here): the others wait for a later turn.
      for (const warning of warnings) assert.equal(warning.code, 'SNAPSHOT_WRITE_FAILED', warning.message);
      await store.close();
      const reopened = track(await openStore(dir, { workers: 2, fdsMax: 8 }));
      for (const book of books) assert.equal(reopened.durableSeq(book), 5, `book ${book} after reopening`);
    });
  });

  test('600 books with 4 workers under ulimit -n 256: every write succeeds, no book dies, new books work, all survive a reopen', async (t) => {
    const report = await runUnderLimit(256, { books: 600, workers: 4, squeeze: false });
    t.diagnostic(`peak descriptors ${report.peakFds} of ${report.limit}; OVERLOADED ${report.overloaded}`);
    assert.equal(report.limit, 256);
    assert.deepEqual(report.failures, {}, 'writes failed (before the budget: BOOK_UNAVAILABLE with cause EMFILE)');
    assert.deepEqual(report.wrong, [], 'books with missing or doubled events');
    assert.deepEqual(report.wrongAfterReopen, [], 'books with missing or doubled events after reopening');
    assert.ok(report.peakFds < report.limit);
    assert.deepEqual(report.warnings, [], 'the limit is ample for 4 workers');
  });
});

describe('EMFILE and ENFILE are pressure: OVERLOADED, never a dead book', () => {
  test('an application that takes nearly every descriptor under ulimit -n 256: OVERLOADED at worst, and every retry succeeds once it lets go', async (t) => {
    const report = await runUnderLimit(256, { books: 600, workers: 4, squeeze: true });
    t.diagnostic(`peak descriptors ${report.peakFds} of ${report.limit}; OVERLOADED ${report.overloaded}, ${report.overloadedByDescriptors} for want of a descriptor`);
    assert.ok(report.peakFds >= report.limit - 3, 'the application did squeeze the store');
    assert.deepEqual(report.failures, {}, 'anything but OVERLOADED (before: BOOK_UNAVAILABLE with cause EMFILE)');
    assert.equal(report.overloadedByDescriptors, report.overloaded, 'no queue was full: every OVERLOADED was for a descriptor');
    assert.deepEqual(report.wrong, [], 'a refused write changed something, or a book stayed dead');
    assert.deepEqual(report.wrongAfterReopen, []);
  });

  test('a segment that cannot be opened at rotation: the commit is OVERLOADED, nothing reaches the disk, the retry commits once', async () => {
    await withDir(async (dir, track) => {
      const plan = new FaultPlan(`/books/${BOOK}/`);
      // segmentMax 0: every batch opens a new segment.
      const store = track(await openStore(dir, { workers: 1, segmentMax: 0, ...faultOptions(plan) }));
      await seed(store);
      await store.commit(mkTx('before', 5n));
      const framesBefore = framesOnDisk(dir, BOOK).length;
      const segmentsBefore = segmentFiles(dir, BOOK).length;
      plan.arm('open', 1, { sticky: true, errno: 'EMFILE' });
      const tx = mkTx('pressed', 7n);
      const refused = await expectStoreError(store.commit(tx), 'OVERLOADED');
      assert.ok(plan.fired());
      assert.equal(refused.book, BOOK);
      assert.equal((refused.cause as { code?: string }).code, 'EMFILE');
      assert.match(refused.message, /^OVERLOADED: .*file descriptor.*nothing was written/);
      await expectStoreError(store.commit(tx), 'OVERLOADED'); // still refused, still alive
      assert.equal(store.durableSeq(BOOK), 3);
      assert.equal(framesOnDisk(dir, BOOK).length, framesBefore, 'a refused write wrote nothing');
      assert.equal(segmentFiles(dir, BOOK).length, segmentsBefore, 'a refused write created no file');
      assert.equal((await store.balance({ book: BOOK, path: 'cash' })).amount.minor, 5n);
      plan.disarm();
      const committed = await store.commit(tx);
      assert.equal(committed.seq, 4);
      assert.deepEqual(committedKeysOnDisk(dir, BOOK), ['before', 'pressed']);
      assert.equal((await store.commit(tx)).seq, 4, 'a later retry is a replay');
    });
  });

  test('a new book whose first segment cannot be opened is refused whole (openAccount and commit of one batch) and created on retry', async () => {
    await withDir(async (dir, track) => {
      const book = 'fresh';
      const plan = new FaultPlan(`/books/${book}/`);
      const store = track(await openStore(dir, { workers: 1, ...faultOptions(plan) }));
      await seed(store);
      plan.arm('open', 1, { sticky: true, errno: 'ENFILE' });
      const writes = [
        store.openAccount({ ...CASH_DEF, id: { book, path: 'cash' } }, UNSIDED),
        store.openAccount({ ...CASH_DEF, id: { book, path: 'rev' }, kind: 'income' }, UNSIDED),
        store.commit(mkTx('first', 3n, book)),
      ];
      for (const outcome of await Promise.allSettled(writes)) {
        assert.equal(outcome.status, 'rejected');
        const error = assertStoreError((outcome as PromiseRejectedResult).reason, 'OVERLOADED');
        assert.equal((error.cause as { code?: string }).code, 'ENFILE');
      }
      assert.equal(store.durableSeq(book), 0);
      assert.equal(segmentFiles(dir, book).length, 0);
      plan.disarm();
      await store.openAccount({ ...CASH_DEF, id: { book, path: 'cash' } }, UNSIDED);
      await store.openAccount({ ...CASH_DEF, id: { book, path: 'rev' }, kind: 'income' }, UNSIDED);
      assert.equal((await store.commit(mkTx('first', 3n, book))).seq, 3);
      await store.close();
      const reopened = track(await openStore(dir, { workers: 1 }));
      assert.equal(reopened.durableSeq(book), 3);
      assert.deepEqual(committedKeysOnDisk(dir, book), ['first']);
    });
  });

  test('reads that find no descriptor fail IO, replays that must read their original are OVERLOADED; the book lives', async () => {
    await withDir(async (dir, track) => {
      const plan = new FaultPlan(`/books/${BOOK}/`);
      const store = track(await openStore(dir, { workers: 1, ...faultOptions(plan) }));
      await seed(store);
      const tx = mkTx('original', 9n);
      await store.commit(tx);
      plan.arm('open', 1, { sticky: true, errno: 'EMFILE' });
      const read = await expectStoreError(store.readEvents(BOOK, 1, 10), 'IO');
      assert.equal((read.cause as { code?: string }).code, 'EMFILE');
      await expectStoreError(store.transaction(tx.id), 'IO');
      await expectStoreError(store.trialBalance(BOOK, new Date()), 'IO');
      // Comparing a retry's content needs the original frame from disk.
      const replay = await expectStoreError(store.commit(tx), 'OVERLOADED');
      assert.equal((replay.cause as { code?: string }).code, 'EMFILE');
      assert.equal(store.durableSeq(BOOK), 3);
      plan.disarm();
      assert.equal((await store.readEvents(BOOK, 1, 10)).length, 3);
      assert.equal((await store.commit(tx)).seq, 3, 'the replay now finds its original');
      assert.equal((await store.commit(mkTx('after', 1n))).seq, 4);
      assert.deepEqual(committedKeysOnDisk(dir, BOOK), ['original', 'after']);
    });
  });

  test('one EMFILE while idle segments are open is absorbed: they are closed and the open succeeds', async () => {
    await withDir(async (dir, track) => {
      const plan = new FaultPlan('/books/late/');
      const store = track(await openStore(dir, { workers: 1, ...faultOptions(plan) }));
      await seed(store);
      for (const book of ['idle-a', 'idle-b', 'idle-c']) await store.openAccount({ ...CASH_DEF, id: { book, path: 'cash' } }, UNSIDED);
      plan.arm('open', 1, { errno: 'EMFILE' });
      await store.openAccount({ ...CASH_DEF, id: { book: 'late', path: 'cash' } }, UNSIDED);
      assert.ok(plan.fired());
      assert.equal(store.durableSeq('late'), 1);
      for (const book of ['idle-a', 'idle-b', 'idle-c']) {
        await store.openAccount({ ...CASH_DEF, id: { book, path: 'rev' }, kind: 'income' }, UNSIDED); // reopened in append mode
        assert.equal(store.durableSeq(book), 2);
      }
    });
  });

  test('an open that finds no descriptor for recovery fails IO, changes nothing, and the next open works', async () => {
    await withDir(async (dir, track) => {
      const first = await openStore(dir, { workers: 1 });
      await seed(first);
      await first.commit(mkTx('kept', 2n));
      await first.close();
      const plan = new FaultPlan(`/books/${BOOK}/`);
      plan.arm('open', 1, { sticky: true, errno: 'EMFILE' });
      const error = await expectStoreError(openStore(dir, { workers: 1, ...faultOptions(plan) }), 'IO');
      assert.ok(plan.fired());
      assert.equal((error.cause as { code?: string }).code, 'EMFILE');
      const reopened = track(await openStore(dir, { workers: 1 }));
      assert.equal(reopened.durableSeq(BOOK), 3);
      assert.deepEqual(committedKeysOnDisk(dir, BOOK), ['kept']);
    });
  });

  test('a failed fsync still ends the book: the fsync is never retried', async () => {
    await withDir(async (dir, track) => {
      const plan = new FaultPlan(`/books/${BOOK}/`);
      const store: LogStore = track(await openStore(dir, { workers: 1, ...faultOptions(plan) }));
      await seed(store);
      plan.arm('fsync', 1, { sticky: true, errno: 'EIO' });
      await expectStoreError(store.commit(mkTx('lost', 1n)), 'BOOK_UNAVAILABLE');
      plan.disarm();
      await expectStoreError(store.commit(mkTx('later', 1n)), 'BOOK_UNAVAILABLE');
    });
  });
});

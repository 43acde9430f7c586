/**
 * LogStore configuration (spec/conformance.md 2.11; spec/log-engine.md section 11): the three
 * environment tunables, the options that override them, and the checks on both. The environment
 * is always passed through the `env` option; process.env is never changed.
 *
 * TALEA_LOG_SEGMENT_MAX is observed on disk through segment rotation and TALEA_LOG_SNAPSHOT_EVERY
 * through periodic snapshot files. The idempotency spill is not implemented yet, so
 * TALEA_LOG_IDEM_HOT_CAP is observed through the resolved options only.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, test } from 'node:test';

import type { LogStore } from '../src/log/log-store.js';
import { resolveOptions, type LogStoreOptions } from '../src/log/options.js';
import { expectStoreError } from './conformance/fixtures.js';
import { BOOK, framesOnDisk, mkTx, openStore, seed, segmentFiles, waitUntil, withDir } from './support/log-store-fixtures.js';

const VARIABLES = ['TALEA_LOG_SNAPSHOT_EVERY', 'TALEA_LOG_IDEM_HOT_CAP', 'TALEA_LOG_SEGMENT_MAX', 'TALEA_LOG_WRITER_SPIN_US', 'TALEA_LOG_FDS_MAX'] as const;

const BAD_VALUES = [
  '',
  'abc',
  '10k',
  ' 5',
  '5 ',
  '-1',
  '+5',
  '1e3',
  '5.0',
  '0x10',
  '1_000',
  '1,000',
  '\u0661\u0662', // Arabic-Indic digits are not ASCII digits
  '9007199254740992', // 2^53: above the accepted range
  '99999999999999999999',
];

/** Expects LogStore.open to reject INVALID_ARGUMENT naming `field`, without creating `dir`. */
async function expectOpenRefused(options: LogStoreOptions, field: string, mention: string = field): Promise<void> {
  const parent = fs.mkdtempSync(path.join(os.tmpdir(), 'talea-'));
  try {
    const dir = path.join(parent, 'data');
    const error = await expectStoreError(openStore(dir, options), 'INVALID_ARGUMENT');
    assert.equal(error.field, field, `wrong field in ${error.message}`);
    assert.ok(error.message.includes(mention), `the message names ${mention}: ${error.message}`);
    assert.equal(fs.existsSync(dir), false, 'options are checked before the data directory is touched');
  } finally {
    fs.rmSync(parent, { recursive: true, force: true });
  }
}

/** Seeds book `b` and commits `count` transactions in batches of 100 (one commitBatch each). */
async function commitInBatches(store: LogStore, count: number): Promise<void> {
  await seed(store);
  for (let first = 0; first < count; first += 100) {
    const drafts = Array.from({ length: Math.min(100, count - first) }, (_, index) => mkTx(`k${first + index}`, 1n));
    for (const result of await store.commitBatch(drafts)) assert.ok(result.ok);
  }
}

/** The seqs of the snapshot files of a book, ascending. */
function snapshotSeqs(dir: string, book: string): number[] {
  const bookDir = path.join(dir, 'books', book);
  return fs
    .readdirSync(bookDir)
    .flatMap((name) => {
      const match = /^snapshot-(\d+)\.tsnap$/.exec(name);
      return match === null ? [] : [Number(match[1])];
    })
    .sort((left, right) => left - right);
}

/** Seeds book `b` and commits `count` transactions one after another (one batch each). */
async function commitSequentially(store: LogStore, count: number): Promise<void> {
  await seed(store);
  for (let index = 0; index < count; index++) await store.commit(mkTx(`k${index}`, 1n));
}

describe('options and environment (conformance 2.11)', () => {
  for (const variable of VARIABLES) {
    test(`a ${variable} that does not parse is INVALID_ARGUMENT naming it`, async () => {
      for (const value of BAD_VALUES) {
        await expectOpenRefused({ env: { [variable]: value } }, variable);
      }
      const error = await expectStoreError(openStore('/nonexistent-talea', { env: { [variable]: '10k' } }), 'INVALID_ARGUMENT');
      assert.ok(error.message.includes('"10k"'), `the message shows the value: ${error.message}`);
      assert.throws(
        () => resolveOptions({ env: { [variable]: '12 ' } }),
        (thrown: unknown) => (thrown as { field?: string }).field === variable,
      );
    });
  }

  test('the writer spin is 100 µs by default, 0 to 10,000 by option or variable, and commits work at both ends', async () => {
    assert.equal(resolveOptions({ env: {} }).writerSpinUs, 100);
    assert.equal(resolveOptions({ env: { TALEA_LOG_WRITER_SPIN_US: '0' } }).writerSpinUs, 0);
    assert.equal(resolveOptions({ env: { TALEA_LOG_WRITER_SPIN_US: '10000' } }).writerSpinUs, 10_000);
    assert.equal(resolveOptions({ writerSpinUs: 7, env: { TALEA_LOG_WRITER_SPIN_US: '9' } }).writerSpinUs, 7);
    await expectOpenRefused({ env: { TALEA_LOG_WRITER_SPIN_US: '10001' } }, 'TALEA_LOG_WRITER_SPIN_US', '10000');
    await expectOpenRefused({ writerSpinUs: 10_001 }, 'options.writerSpinUs');
    await expectOpenRefused({ writerSpinUs: -1 }, 'options.writerSpinUs');
    for (const writerSpinUs of [0, 10_000]) {
      await withDir(async (dir, track) => {
        const store = track(await openStore(dir, { writerSpinUs }));
        await commitSequentially(store, 20);
        assert.equal(store.durableSeq(BOOK), 22);
      });
    }
  });

  test('the descriptor budget is derived by default; fdsMax or TALEA_LOG_FDS_MAX sets it, 4 per worker to 1048576', async () => {
    assert.equal(resolveOptions({ env: {} }).fdsMax, null, 'unset: derived at open from the open-files limit');
    assert.equal(resolveOptions({ workers: 2, env: { TALEA_LOG_FDS_MAX: '8' } }).fdsMax, 8);
    assert.equal(resolveOptions({ workers: 2, env: { TALEA_LOG_FDS_MAX: '1048576' } }).fdsMax, 1_048_576);
    assert.equal(resolveOptions({ workers: 2, fdsMax: 9, env: { TALEA_LOG_FDS_MAX: 'x' } }).fdsMax, 9, 'the option wins; the variable is not parsed');
    // The floor follows the worker count: 4 descriptors for each.
    await expectOpenRefused({ workers: 2, env: { TALEA_LOG_FDS_MAX: '7' } }, 'TALEA_LOG_FDS_MAX', 'from 8 to 1048576');
    await expectOpenRefused({ workers: 4, env: { TALEA_LOG_FDS_MAX: '15' } }, 'TALEA_LOG_FDS_MAX', 'from 16 to 1048576');
    await expectOpenRefused({ workers: 2, env: { TALEA_LOG_FDS_MAX: '1048577' } }, 'TALEA_LOG_FDS_MAX');
    for (const fdsMax of [7, 1_048_577, 8.5, '8', null, Number.NaN]) {
      await expectOpenRefused({ workers: 2, fdsMax } as LogStoreOptions, 'options.fdsMax');
    }
    // Used: with 8 descriptors for 2 workers, 20 books are written through a cache of a few.
    await withDir(async (dir, track) => {
      const store = track(await openStore(dir, { workers: 2, env: { TALEA_LOG_FDS_MAX: '8' } }));
      await seed(store);
      const books = Array.from({ length: 20 }, (_, index) => `fds-${index}`);
      await Promise.all(books.map((book) => store.openAccount({ id: { book, path: 'cash' }, asset: 'USD', kind: 'asset' }, { normal_side: null, min_balance: null })));
      for (const book of books) assert.equal(store.durableSeq(book), 1);
    });
  });

  test('500, 2000 and 65536 are parsed and used; 65536 shows as segment rotation', async () => {
    const env = { TALEA_LOG_SNAPSHOT_EVERY: '500', TALEA_LOG_IDEM_HOT_CAP: '2000', TALEA_LOG_SEGMENT_MAX: '65536' };
    const resolved = resolveOptions({ env });
    assert.equal(resolved.snapshotEvery, 500);
    assert.equal(resolved.idemHotCap, 2000);
    assert.equal(resolved.segmentMax, 65536);
    await withDir(async (dir, track) => {
      const store = track(await openStore(dir, { env }));
      await commitSequentially(store, 200);
      const files = segmentFiles(dir, BOOK);
      assert.ok(files.length >= 2, `expected a rotation above 65536 bytes, found ${files.length} segment(s)`);
      const frames = framesOnDisk(dir, BOOK);
      assert.equal(frames.length, 202);
      // Every sealed segment crossed the bound with its last batch (here: its last frame), not earlier.
      for (const file of files.slice(0, -1)) {
        const inFile = frames.filter((frame) => frame.file === file);
        const sizeBytes = fs.statSync(file).size;
        assert.ok(sizeBytes >= 65536, `${file} was sealed at ${sizeBytes} bytes`);
        assert.ok(sizeBytes - inFile[inFile.length - 1]!.frameBytes < 65536, `${file} should have been sealed earlier`);
      }
      const reopenedSeqs = (await store.readEvents(BOOK, 1, 300)).map((event) => event.seq);
      assert.equal(reopenedSeqs.length, 202);
      assert.deepEqual(snapshotSeqs(dir, BOOK), [], 'no snapshot before 500 events');
    });
  });

  test('TALEA_LOG_SNAPSHOT_EVERY=500 shows as a periodic snapshot after 500 events', async () => {
    await withDir(async (dir, track) => {
      const store = track(await openStore(dir, { env: { TALEA_LOG_SNAPSHOT_EVERY: '500' } }));
      await commitInBatches(store, 600);
      await waitUntil(() => snapshotSeqs(dir, BOOK).length > 0, 5000, 'a periodic snapshot');
      const [seq] = snapshotSeqs(dir, BOOK);
      assert.ok(seq! >= 500 && seq! <= 602, `snapshot at seq ${seq}`);
    });
  });

  test('TALEA_LOG_SNAPSHOT_EVERY=0 is valid', async () => {
    assert.equal(resolveOptions({ env: { TALEA_LOG_SNAPSHOT_EVERY: '0' } }).snapshotEvery, 0);
    assert.equal(resolveOptions({ env: { TALEA_LOG_IDEM_HOT_CAP: '0' } }).idemHotCap, 0);
    await withDir(async (dir, track) => {
      const store = track(await openStore(dir, { env: { TALEA_LOG_SNAPSHOT_EVERY: '0' } }));
      await commitInBatches(store, 600);
      assert.equal(store.durableSeq(BOOK), 602);
      await store.close();
      assert.deepEqual(snapshotSeqs(dir, BOOK), [], 'snapshots are disabled');
    });
  });

  test('TALEA_LOG_SEGMENT_MAX=0 starts a new segment for every batch', async () => {
    await withDir(async (dir, track) => {
      const store = track(await openStore(dir, { env: { TALEA_LOG_SEGMENT_MAX: '0' } }));
      await commitSequentially(store, 3);
      assert.equal(segmentFiles(dir, BOOK).length, 5);
    });
  });

  test('unset variables take the defaults', async () => {
    const resolved = resolveOptions({ env: {} });
    assert.equal(resolved.snapshotEvery, 100_000);
    assert.equal(resolved.idemHotCap, 1_000_000);
    assert.equal(resolved.segmentMax, 134_217_728);
    assert.equal(resolved.queueDepthMax, 4096);
    assert.equal(resolved.workers, Math.min(256, Math.max(1, os.availableParallelism())));
    // Unrelated variables are ignored.
    assert.equal(resolveOptions({ env: { TALEA_LOG_SEGMENT: '1', PATH: 'x' } }).segmentMax, 134_217_728);
    await withDir(async (dir, track) => {
      const store = track(await openStore(dir, { env: {} }));
      await commitSequentially(store, 200);
      assert.equal(segmentFiles(dir, BOOK).length, 1, 'no rotation below 128 MiB');
    });
  });

  test('an option overrides its variable, which is then not even parsed', async () => {
    const garbage = { TALEA_LOG_SNAPSHOT_EVERY: 'x', TALEA_LOG_IDEM_HOT_CAP: '-1', TALEA_LOG_SEGMENT_MAX: '1e9' };
    const resolved = resolveOptions({ env: garbage, snapshotEvery: 7, idemHotCap: 8, segmentMax: 9 });
    assert.equal(resolved.snapshotEvery, 7);
    assert.equal(resolved.idemHotCap, 8);
    assert.equal(resolved.segmentMax, 9);
    // An option that is present but undefined does not override.
    await expectOpenRefused({ env: garbage, snapshotEvery: 7, idemHotCap: 8, segmentMax: undefined }, 'TALEA_LOG_SEGMENT_MAX');
    await withDir(async (dir, track) => {
      const env = { ...garbage, TALEA_LOG_SEGMENT_MAX: '134217728' };
      const store = track(await openStore(dir, { env, snapshotEvery: 1, idemHotCap: 1, segmentMax: 0 }));
      await commitSequentially(store, 3);
      assert.equal(segmentFiles(dir, BOOK).length, 5, 'segmentMax 0 from the option, not 128 MiB from the variable');
    });
  });

  test('the environment is read once, at open', async () => {
    await withDir(async (dir, track) => {
      const env: Record<string, string | undefined> = {};
      const store = track(await openStore(dir, { env }));
      env.TALEA_LOG_SEGMENT_MAX = '0';
      await commitSequentially(store, 3);
      assert.equal(segmentFiles(dir, BOOK).length, 1);
    });
  });

  test('an unknown option name is INVALID_ARGUMENT naming it', async () => {
    for (const name of ['segmentMaxBytes', 'worker', 'snapshot_every', 'TALEA_LOG_SEGMENT_MAX']) {
      await expectOpenRefused({ [name]: 1 } as LogStoreOptions, `options.${name}`);
    }
  });

  test('out-of-range and mistyped options are INVALID_ARGUMENT naming options.<name>', async () => {
    const cases: Array<[string, unknown]> = [
      ['workers', 0],
      ['workers', 257],
      ['workers', 1.5],
      ['workers', '2'],
      ['workers', Number.NaN],
      ['workers', null],
      ['queueDepthMax', 0],
      ['queueDepthMax', 1_048_577],
      ['queueDepthMax', -1],
      ['snapshotEvery', -1],
      ['snapshotEvery', 2 ** 53],
      ['snapshotEvery', 0.5],
      ['snapshotEvery', Number.POSITIVE_INFINITY],
      ['snapshotEvery', '100'],
      ['idemHotCap', -1],
      ['idemHotCap', 10n],
      ['segmentMax', -1],
      ['segmentMax', 2 ** 53],
      ['segmentMax', '65536'],
    ];
    for (const [name, value] of cases) {
      await expectOpenRefused({ [name]: value } as LogStoreOptions, `options.${name}`);
    }
    // The non-numeric options are checked too; null is a present (and wrong) value, not "absent".
    const shapes: Array<[string, unknown]> = [
      ['env', 'TALEA_LOG_SEGMENT_MAX=0'],
      ['env', 5],
      ['env', null],
      ['onWarning', 'warn'],
      ['onWarning', null],
      ['testHooks', 'x'],
      ['testHooks', null],
    ];
    for (const [name, value] of shapes) {
      await expectOpenRefused({ [name]: value } as LogStoreOptions, `options.${name}`);
    }
    // The bounds themselves are accepted.
    const high = resolveOptions({
      workers: 256,
      queueDepthMax: 1_048_576,
      snapshotEvery: 2 ** 53 - 1,
      idemHotCap: 0,
      segmentMax: 2 ** 53 - 1,
      env: {},
    });
    assert.deepEqual(
      [high.workers, high.queueDepthMax, high.snapshotEvery, high.idemHotCap, high.segmentMax],
      [256, 1_048_576, 2 ** 53 - 1, 0, 2 ** 53 - 1],
    );
    const low = resolveOptions({ workers: 1, queueDepthMax: 1, env: {} });
    assert.deepEqual([low.workers, low.queueDepthMax], [1, 1]);
    await withDir(async (dir, track) => {
      const store = track(await openStore(dir, { workers: 1, queueDepthMax: 1, env: {} }));
      await commitSequentially(store, 2);
      assert.equal(store.durableSeq(BOOK), 4);
    });
  });
});

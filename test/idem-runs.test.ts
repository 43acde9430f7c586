/**
 * Idempotency run (spill) unit tests (spec/conformance.md, Part 2, section 2.8; log-engine.md,
 * section 9): Bloom filters and their hash, the hot map, spills to run files, one-block lookups,
 * merges, rebuilds from the log, and the rule that a damaged or unreadable run never counts as a
 * miss. Pure modules run on the main thread against real files in fresh temporary directories;
 * the items that need the worker's automatic spills and merges go through a real LogStore.
 */
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { describe, test } from 'node:test';
import { BloomFilter, murmur3x86_32 } from '../src/log/bloom.js';
import { StoreError } from '../src/core/errors.js';
import { RealFileSystem, type FileSystem, type OpenFlags } from '../src/log/file-system.js';
import { IdemIndex, type IdemRecord } from '../src/log/idem-index.js';
import {
  IdemRuns,
  mergeRecords,
  readRun,
  RUN_BLOCK_RECORDS_MAX,
  runFileName,
  RunInvalid,
  sortByKey,
  writeRun,
  type RunRecord,
} from '../src/log/idem-runs.js';
import { attachRunsAtOpen, IdemMaintenance, spillNow, spillUnit } from '../src/log/idem-spill.js';
import { LogStore } from '../src/log/log-store.js';
import type { LogStoreOptions, LogStoreWarning } from '../src/log/options.js';
import { recoverBook } from '../src/log/recovery.js';
import { bookDirectory, SegmentLog } from '../src/log/segment.js';
import { listSnapshots, loadSnapshot, snapshotFileName } from '../src/log/snapshot.js';
import { parseTimestampUs } from '../src/core/time.js';
import type { Committed, Transaction } from '../src/core/types.js';
import { makeTempDir, mkTx, removeDir, seed, uuidV7, waitUntil } from './support/log-store-fixtures.js';
import { xorByte } from './support/segment-files.js';

const realFs = new RealFileSystem();
const BOOK = 'b';
const AT_BASE_US = 1_700_000_000_000_000;

// --- fixtures ---------------------------------------------------------------------------------

/** Runs `body` with a fresh temporary directory, removed afterwards. */
async function withTemp(body: (dir: string) => Promise<void> | void): Promise<void> {
  const dir = makeTempDir();
  try {
    await body(dir);
  } finally {
    removeDir(dir);
  }
}

/**
 * conformance.md 2.8 `makeTiered(dir, cap)`: an index attached to an empty book directory, with
 * an empty rebuild source. Frame positions are synthetic (the log has no files): spills only need
 * them to be recorded. `insert` adds the next key at the next seq and spills whenever the hot map
 * is over the cap, as recovery does (section 9.8 step 6); `spill: false` inserts without spilling.
 */
function makeTiered(dir: string, cap: number, fileSystem: FileSystem = realFs) {
  const bookDir = bookDirectory(dir, BOOK);
  fs.mkdirSync(bookDir, { recursive: true });
  const log = new SegmentLog(fileSystem, dir, BOOK);
  log.adoptSegment(1, 0);
  const attached = attachRunsAtOpen(fileSystem, BOOK, bookDir);
  assert.equal(attached.runs.runs.length, 0);
  const index = new IdemIndex();
  index.runs = attached.runs;
  const records = new Map<string, IdemRecord>();
  const insert = (key: string, options: { spill?: boolean } = {}): IdemRecord => {
    const seq = log.lastSeq + 1;
    log.recordFrame(seq, seq * 100);
    const record: IdemRecord = { txid: randomUUID(), seq, atUs: AT_BASE_US + seq * 7 };
    assert(index.insert(key, record));
    records.set(key, record);
    if (options.spill !== false) spillNow(fileSystem, log, index, cap);
    return record;
  };
  return { bookDir, log, index, runs: attached.runs, records, insert };
}

function runFiles(bookDir: string): string[] {
  return fs
    .readdirSync(bookDir)
    .filter((name) => /^idem-\d+\.trun$/.test(name))
    .sort()
    .map((name) => path.join(bookDir, name));
}

function runRecord(key: string, seq: number): RunRecord {
  return { key, txid: randomUUID(), seq, atUs: AT_BASE_US + seq, segmentBase: 1, offsetBytes: seq * 100 };
}

/** A FileSystem that counts the bytes read through it. */
class CountingFileSystem extends RealFileSystem {
  bytesRead = 0;
  reads = 0;
  override readSync(fd: number, target: Uint8Array, positionBytes: number): number {
    const count = super.readSync(fd, target, positionBytes);
    this.bytesRead += count;
    this.reads++;
    return count;
  }
}

function assertCorruptRun(error: unknown, file: string, offset?: number): true {
  assert(error instanceof StoreError, `expected a StoreError, got ${String(error)}`);
  assert.equal(error.code, 'CORRUPT', error.message);
  const details = error as StoreError & { book: string; file: string; offset: number };
  assert.equal(details.book, BOOK);
  assert.equal(details.file, file, error.message);
  if (offset !== undefined) assert.equal(details.offset, offset, error.message);
  assert(error.message.includes(file), `the message names the run file: ${error.message}`);
  return true;
}

/** An independent MurmurHash3 x86_32 on BigInt arithmetic, written from the published algorithm. */
function referenceMurmur(bytes: Uint8Array, seed: number): number {
  const M = 0xffffffffn;
  const mul = (a: bigint, b: bigint): bigint => (a * b) & M;
  const rotl = (x: bigint, r: bigint): bigint => ((x << r) | (x >> (32n - r))) & M;
  const c1 = 0xcc9e2d51n;
  const c2 = 0x1b873593n;
  let h = BigInt(seed >>> 0);
  const whole = bytes.length - (bytes.length % 4);
  for (let i = 0; i < whole; i += 4) {
    let k = BigInt(bytes[i]!) | (BigInt(bytes[i + 1]!) << 8n) | (BigInt(bytes[i + 2]!) << 16n) | (BigInt(bytes[i + 3]!) << 24n);
    k = mul(rotl(mul(k, c1), 15n), c2);
    h = rotl(h ^ k, 13n);
    h = (h * 5n + 0xe6546b64n) & M;
  }
  let k = 0n;
  for (let i = bytes.length - 1; i >= whole; i--) k = (k << 8n) | BigInt(bytes[i]!);
  if (bytes.length > whole) h ^= mul(rotl(mul(k, c1), 15n), c2);
  h ^= BigInt(bytes.length);
  h ^= h >> 16n;
  h = mul(h, 0x85ebca6bn);
  h ^= h >> 13n;
  h = mul(h, 0xc2b2ae35n);
  h ^= h >> 16n;
  return Number(h);
}

// --- LogStore fixtures ------------------------------------------------------------------------

interface Opened {
  store: LogStore;
  warnings: LogStoreWarning[];
}

async function open(dir: string, options: LogStoreOptions): Promise<Opened> {
  const warnings: LogStoreWarning[] = [];
  const store = await LogStore.open(dir, { workers: 2, ...options, onWarning: (warning) => warnings.push(warning) });
  return { store, warnings };
}

async function eventCount(store: LogStore): Promise<number> {
  return (await store.readEvents(BOOK, 1, 100_000)).length;
}

/** A retry of `tx`: the same content under a fresh txid. */
function retryOf(tx: Transaction): Transaction {
  return { ...tx, id: uuidV7() };
}

// --- murmur3 and Bloom filters (section 9.5) ---------------------------------------------------

describe('murmur3x86_32', () => {
  test('known vectors', () => {
    const vectors: Array<[string, number, number]> = [
      ['', 0, 0],
      ['hello', 0, 0x248bfa47],
      ['test', 0, 0xba6bd213],
      // Also checked against a separate Python implementation of the published algorithm.
      ['', 1, 0x514e28b7],
      ['abc', 0, 0xb3dd93fa],
      ['The quick brown fox jumps over the lazy dog', 0x9747b28c, 0x2fa826cd],
      ['Hello, world!', 1234, 0xfaf6cdb3],
      ['\u{1F600}', 42, 0x6fef0513],
    ];
    for (const [text, seed, expected] of vectors) {
      const bytes = Buffer.from(text, 'utf8');
      assert.equal(referenceMurmur(bytes, seed), expected, `reference for ${JSON.stringify(text)} seed ${seed}`);
      assert.equal(murmur3x86_32(bytes, seed), expected, `${JSON.stringify(text)} seed ${seed}`);
    }
  });

  test('agrees with an independent BigInt implementation on random inputs, every tail length', () => {
    for (let trial = 0; trial < 2000; trial++) {
      const bytes = randomBytes(trial % 23);
      const seed = randomBytes(4).readUInt32LE(0);
      const hash = murmur3x86_32(bytes, seed);
      assert(Number.isInteger(hash) && hash >= 0 && hash <= 0xffffffff);
      assert.equal(hash, referenceMurmur(bytes, seed), `bytes ${bytes.toString('hex')} seed ${seed}`);
    }
  });
});

describe('Bloom filter', () => {
  test('bloom_no_false_negatives', () => {
    const bloom = new BloomFilter(1000);
    const keys = Array.from({ length: 500 }, (_, index) => Buffer.from(`key-${index}`, 'utf8'));
    for (const key of keys) bloom.add(key);
    for (const key of keys) assert(bloom.mayContain(key), `${key.toString()} tests maybe-present`);
  });

  test('bloom_mostly_no_false_positives_for_unseen_keys', () => {
    const bloom = new BloomFilter(10_000);
    for (let index = 0; index < 5000; index++) bloom.add(Buffer.from(`present-${index}`, 'utf8'));
    let positives = 0;
    for (let index = 0; index < 5000; index++) if (bloom.mayContain(Buffer.from(`absent-${index}`, 'utf8'))) positives++;
    assert(positives < 100, `${positives} false positives out of 5000`);
  });

  test('a filter sized for its exact count stays near 1.2 % false positives, and an empty filter says absent', () => {
    const bloom = new BloomFilter(2000);
    for (let index = 0; index < 2000; index++) bloom.add(Buffer.from(`in-${index}`, 'utf8'));
    let positives = 0;
    for (let index = 0; index < 20_000; index++) if (bloom.mayContain(Buffer.from(`out-${index}`, 'utf8'))) positives++;
    assert(positives < 20_000 * 0.03, `${positives} false positives out of 20000 at 10 bits per key`);
    const empty = new BloomFilter(0);
    assert(!empty.mayContain(Buffer.from('anything', 'utf8')));
  });
});

// --- the hot map, spills and lookups (sections 9.2, 9.3, 9.6) ---------------------------------

describe('idempotency index', () => {
  test('hot_lookup_hits', () => {
    const index = new IdemIndex();
    const record: IdemRecord = { txid: randomUUID(), seq: 3, atUs: AT_BASE_US };
    assert(index.insert('k', record));
    assert.deepEqual(index.get('k'), record);
    // The first record of a key is kept: a second insert is refused and changes nothing.
    assert.equal(index.insert('k', { txid: randomUUID(), seq: 4, atUs: AT_BASE_US + 1 }), false);
    assert.deepEqual(index.get('k'), record);
    assert.deepEqual([...index.hotRecords()].map(([key]) => key), ['k']);
  });

  test('hot_miss_returns_none', async () => {
    const index = new IdemIndex();
    assert.equal(index.get('nope'), undefined);
    index.insert('k', { txid: randomUUID(), seq: 1, atUs: AT_BASE_US });
    assert.equal(index.get('nope'), undefined);
    // Also with runs attached: a key in no run and not hot is a miss.
    await withTemp((dir) => {
      const tiered = makeTiered(dir, 4);
      for (let key = 0; key < 10; key++) tiered.insert(`key-${key}`);
      assert(tiered.runs.runs.length > 0);
      assert.equal(tiered.index.get('never-inserted'), undefined);
      assert.equal(tiered.index.get('key-10'), undefined);
    });
  });

  test('spilled_key_still_dedups_with_original_committed', async () => {
    await withTemp((dir) => {
      const tiered = makeTiered(dir, 4);
      for (let key = 0; key < 10; key++) {
        tiered.insert(`key-${key}`);
        assert(tiered.index.hotSize <= 4, 'the hot map is back within the cap after each insert');
      }
      assert(!tiered.index.hasHot('key-0'), 'key 0 was spilled');
      assert(runFiles(tiered.bookDir).length > 0);
      // Prefix property: every key at or below H is in a run, every later one is hot.
      const spilledThrough = tiered.index.spilledThroughSeq;
      assert(spilledThrough > 0);
      for (const [key, record] of tiered.records) {
        assert.equal(tiered.index.hasHot(key), record.seq > spilledThrough, key);
        assert.deepEqual(tiered.index.get(key), record, `${key} resolves to its exact seq, txid and at`);
      }
      assert.deepEqual(tiered.index.get('key-0'), tiered.records.get('key-0'));
      // The run records carry the original frame's position, for the content comparison.
      const onDisk = runFiles(tiered.bookDir).flatMap((file, number) => readRun(realFs, file, number).records);
      const first = onDisk.find((record) => record.key === 'key-0')!;
      assert.deepEqual(first, { key: 'key-0', ...tiered.records.get('key-0')!, segmentBase: 1, offsetBytes: 100 });
    });
  });

  test('bloom_negative_skips_disk', async () => {
    await withTemp((dir) => {
      const tiered = makeTiered(dir, 4);
      for (let key = 0; key < 8; key++) tiered.insert(`key-${key}`);
      const runs = tiered.runs;
      assert(runs.runs.length > 0, 'runs exist');
      // A never-inserted key inside a run's key range (so the range check alone cannot skip it)
      // that every run's filter rejects.
      let absent: string | null = null;
      for (let candidate = 0; candidate < 10_000 && absent === null; candidate++) {
        const key = `key-0-absent-${candidate}`;
        const bytes = Buffer.from(key, 'utf8');
        const inRange = runs.runs.some((run) => Buffer.compare(bytes, run.keyMin) > 0 && Buffer.compare(bytes, run.keyMax) < 0);
        if (inRange && runs.runs.every((run) => !run.bloom.mayContain(bytes))) absent = key;
      }
      assert(absent !== null, 'found an in-range Bloom-negative key');
      assert.equal(runs.blockReads, 0);
      assert.equal(tiered.index.get(absent), undefined);
      assert.equal(runs.blockReads, 0, 'a Bloom negative never touches the disk');
      // A spilled key is Bloom-positive, and its lookup reads a block.
      assert(!tiered.index.hasHot('key-0'));
      assert(runs.runs.some((run) => run.bloom.mayContain(Buffer.from('key-0', 'utf8'))));
      assert.deepEqual(tiered.index.get('key-0'), tiered.records.get('key-0'));
      assert(runs.blockReads > 0);
      // A hot key never reaches the runs.
      const reads = runs.blockReads;
      assert.deepEqual(tiered.index.get('key-7'), tiered.records.get('key-7'));
      assert.equal(runs.blockReads, reads);
    });
  });

  test('bloom_rebuilt_from_runs_on_attach_never_stale', async () => {
    await withTemp((dir) => {
      const tiered = makeTiered(dir, 4);
      for (let key = 0; key < 10; key++) tiered.insert(`key-${key}`);
      const spilled = [...tiered.records].filter(([key]) => !tiered.index.hasHot(key));
      assert(spilled.length > 0 && spilled.length < 10, 'some keys spilled, some hot');
      // No Bloom file exists: the book directory holds run files only.
      for (const name of fs.readdirSync(tiered.bookDir)) assert.match(name, /^idem-\d{6}\.trun$/);
      const attached = attachRunsAtOpen(realFs, BOOK, tiered.bookDir);
      assert.deepEqual(attached.warnings, []);
      assert.deepEqual(attached.obsolete, []);
      assert.equal(attached.tiledThrough, tiered.index.spilledThroughSeq);
      const fresh = new IdemIndex();
      fresh.runs = attached.runs;
      fresh.spilledThroughSeq = attached.tiledThrough;
      for (const [key, record] of spilled) {
        const keyBytes = Buffer.from(key, 'utf8');
        const holder = attached.runs.runs.find((run) => record.seq > run.start && record.seq <= run.end)!;
        assert(holder.bloom.mayContain(keyBytes), `${key} is Bloom-positive in its run after attach`);
        assert.deepEqual(fresh.get(key), record);
      }
      // Each attached filter is sized for its run and built from its keys.
      for (const run of attached.runs.runs) {
        const original = tiered.runs.runs.find((candidate) => candidate.file === run.file)!;
        assert.equal(run.recordCount, original.recordCount);
        assert.deepEqual(run.blocks, original.blocks);
        assert(run.keyMin.equals(original.keyMin) && run.keyMax.equals(original.keyMax));
      }
    });
  });

  test('runs_rebuild_from_log_when_deleted (recoverBook rebuilds the snapshot-required prefix from the log)', async () => {
    await withTemp(async (tmp) => {
      const dir = path.join(tmp, 'data');
      const txs = Array.from({ length: 10 }, (_, index) => mkTx(`key-${index}`, BigInt(index + 1)));
      const committed: Committed[] = [];
      const { store } = await open(dir, { idemHotCap: 4, snapshotEvery: 0 });
      try {
        await seed(store);
        for (const tx of txs) committed.push(await store.commit(tx));
        await store.snapshot(BOOK);
      } finally {
        await store.close();
      }
      const bookDir = bookDirectory(dir, BOOK);
      const snapshotSeq = listSnapshots(realFs, bookDir)[0]!;
      const snapshot = loadSnapshot(realFs, path.join(bookDir, snapshotFileName(snapshotSeq)), BOOK, snapshotSeq);
      const required = snapshot.state.idempotency.spilledThroughSeq;
      assert(required > 0, 'the snapshot requires spilled keys to be on disk');
      assert(snapshot.state.idempotency.hotSize <= 4);
      const deleted = runFiles(bookDir);
      assert(deleted.length > 0);
      for (const file of deleted) fs.unlinkSync(file);

      const recovered = recoverBook(realFs, dir, BOOK, { idemHotCap: 4, writeRuns: true });
      assert(recovered.warnings.some((warning) => warning.code === 'RUN_REBUILT'), JSON.stringify(recovered.warnings));
      const index = recovered.state.idempotency;
      for (let position = 0; position < txs.length; position++) {
        const key = txs[position]!.idempotency_key;
        assert.deepEqual(index.get(key), { txid: committed[position]!.txid, seq: committed[position]!.seq, atUs: parseTimestampUs(committed[position]!.at) }, key);
      }
      assert(index.spilledThroughSeq >= required);
      // The rebuilt runs are new, valid files of at most one spill unit each, tiling (0, H].
      const rebuilt = runFiles(bookDir).map((file) => readRun(realFs, file, Number(/(\d+)\.trun$/.exec(file)![1])).meta);
      assert(rebuilt.length > 0);
      rebuilt.sort((left, right) => left.start - right.start);
      let point = 0;
      for (const run of rebuilt) {
        assert.equal(run.start, point);
        assert(run.recordCount <= spillUnit(4));
        point = run.end;
      }
      assert(point >= required);
      // And a LogStore opened on the repaired directory still answers every retry as a replay.
      const reopened = await open(dir, { idemHotCap: 4, snapshotEvery: 0 });
      try {
        for (let position = 0; position < txs.length; position++) {
          assert.deepEqual(await reopened.store.commit(retryOf(txs[position]!)), committed[position]);
        }
        assert.equal(await eventCount(reopened.store), 12);
      } finally {
        await reopened.store.close();
      }
    });
  });
});

// --- merges (section 9.7) ---------------------------------------------------------------------

describe('merges', () => {
  test('merge_compacts_runs', async () => {
    await withTemp((dir) => {
      const tiered = makeTiered(dir, 2);
      for (let key = 0; key < 30; key++) tiered.insert(`key-${key}`);
      const inputs = [...tiered.runs.runs];
      assert(inputs.length > 8, `${inputs.length} runs before the merge`);
      assert.equal(runFiles(tiered.bookDir).length, inputs.length, 'spilling by hand never merges');
      const { sorted, conflicts } = mergeRecords(inputs.map((run) => readRun(realFs, run.file, run.number).records));
      assert.equal(conflicts, 0);
      const number = tiered.runs.nextNumber();
      assert.equal(number, Math.max(...inputs.map((run) => run.number)) + 1, 'the output takes highest + 1');
      const merged = writeRun(realFs, tiered.bookDir, number, inputs[0]!.start, inputs[inputs.length - 1]!.end, sorted);
      tiered.runs.runs = [];
      tiered.runs.install(merged);
      for (const run of inputs) fs.unlinkSync(run.file);
      assert.deepEqual(runFiles(tiered.bookDir), [path.join(tiered.bookDir, runFileName(number))]);
      assert.equal(tiered.runs.runs.length, 1);
      assert.equal(merged.start, 0);
      assert.equal(merged.end, tiered.index.spilledThroughSeq);
      for (const [key, record] of tiered.records) assert.deepEqual(tiered.index.get(key), record, key);
      // The merged file is valid on its own and holds every spilled key once, in UTF-8 order.
      const reread = readRun(realFs, merged.file, number);
      assert.equal(reread.records.length, [...tiered.records.values()].filter((record) => record.seq <= merged.end).length);
    });
  });

  test('mergeRecords keeps duplicate keys once, the lower seq winning, and counts differing duplicates', () => {
    const older = runRecord('dup', 3);
    const newer = runRecord('dup', 9);
    const same = runRecord('same', 4);
    const { sorted, conflicts } = mergeRecords([[runRecord('z', 1), newer, same], [older, { ...same }, runRecord('a', 2)]]);
    assert.deepEqual(
      sorted.map(({ record }) => record.key),
      ['a', 'dup', 'same', 'z'],
    );
    assert.equal(sorted[1]!.record, older);
    assert.equal(conflicts, 1);
  });

  test('second_merge_does_not_clobber_output (automatic merges through LogStore)', async () => {
    await withTemp(async (tmp) => {
      const dir = path.join(tmp, 'data');
      const options: LogStoreOptions = { idemHotCap: 2, snapshotEvery: 0 };
      const txs = [mkTx('first-key-ever', 1n), ...Array.from({ length: 41 }, (_, index) => mkTx(`bulk-${index + 1}`, 1n))];
      const committed: Committed[] = [];
      const bookDir = bookDirectory(dir, BOOK);
      let { store, warnings } = await open(dir, options);
      try {
        await seed(store);
        for (const tx of txs) committed.push(await store.commit(tx));
        // A snapshot starts only when no spill or merge is due or in flight: a barrier.
        await store.snapshot(BOOK);
        const files = runFiles(bookDir);
        const numbers = files.map((file) => Number(/(\d+)\.trun$/.exec(file)![1]));
        const merges = (Math.max(...numbers) + 1 - files.length) / 4;
        assert(merges >= 2, `${merges} automatic merges (run numbers ${numbers.join(', ')})`);
        // Every live run file exists, is valid, and the runs tile (0, H] of the snapshot.
        const snapshotSeq = listSnapshots(realFs, bookDir)[0]!;
        const spilledThrough = loadSnapshot(realFs, path.join(bookDir, snapshotFileName(snapshotSeq)), BOOK, snapshotSeq).state.idempotency.spilledThroughSeq;
        const metas = files.map((file, position) => readRun(realFs, file, numbers[position]!).meta).sort((left, right) => left.start - right.start);
        let point = 0;
        for (const meta of metas) {
          assert.equal(meta.start, point, `runs tile without gaps: ${metas.map((run) => `(${run.start}, ${run.end}]`).join(' ')}`);
          point = meta.end;
        }
        assert.equal(point, spilledThrough);
        assert(spilledThrough > 3, 'first-key-ever was spilled');
        // The first key still resolves, with the live store's in-memory runs.
        assert.deepEqual(await store.commit(retryOf(txs[0]!)), committed[0]);
        await assert.rejects(store.commit({ ...txs[0]!, id: uuidV7(), postings: mkTx('x', 2n).postings }), (error) => error instanceof StoreError && error.code === 'IDEMPOTENCY_CONFLICT');
        assert(!warnings.some((warning) => /FAILED|RUN_/.test(warning.code)), JSON.stringify(warnings));
      } finally {
        await store.close();
      }
      ({ store, warnings } = await open(dir, options));
      try {
        assert(!warnings.some((warning) => warning.code.startsWith('RUN_')), JSON.stringify(warnings));
        for (let position = 0; position < txs.length; position++) assert.deepEqual(await store.commit(retryOf(txs[position]!)), committed[position]);
        assert.equal(await eventCount(store), 44);
      } finally {
        await store.close();
      }
    });
  });
});

// --- a damaged run never counts as a miss (sections 9.1, 9.6) ---------------------------------

describe('damaged runs', () => {
  test('a corrupt block fails the lookup with CORRUPT naming the run, until the run is replaced', async () => {
    await withTemp((dir) => {
      const tiered = makeTiered(dir, 4);
      for (let key = 0; key < 10; key++) tiered.insert(`key-${key}`);
      const run = tiered.runs.runs.find((candidate) => candidate.bloom.mayContain(Buffer.from('key-0', 'utf8')) && candidate.start === 0)!;
      assert(run !== undefined);
      const original = fs.readFileSync(run.file);
      const damaged = Buffer.from(original);
      damaged[run.blocks[0]!.offset + 8 + 2]! ^= 0xff; // inside the first block's payload
      fs.writeFileSync(run.file, damaged);
      assert.throws(() => tiered.index.get('key-0'), (error) => assertCorruptRun(error, run.file, run.blocks[0]!.offset));
      assert(run.damaged);
      // The damage is remembered: restoring the bytes does not make the run trusted again.
      fs.writeFileSync(run.file, original);
      assert.throws(() => tiered.index.get('key-0'), (error) => assertCorruptRun(error, run.file));
      // Hot keys, and keys the damaged run cannot hold (Bloom-negative or out of range), still resolve.
      const hot = [...tiered.index.hotRecords()][0]![0];
      assert.deepEqual(tiered.index.get(hot), tiered.records.get(hot));
      assert.equal(tiered.index.get('zzz-out-of-every-range'), undefined);
    });
  });

  test('an unreadable run (gone from disk) fails the lookup with CORRUPT, never a miss', async () => {
    await withTemp((dir) => {
      const tiered = makeTiered(dir, 4);
      for (let key = 0; key < 10; key++) tiered.insert(`key-${key}`);
      const run = tiered.runs.runs[0]!;
      const key = [...tiered.records].find(([, record]) => record.seq > run.start && record.seq <= run.end)![0];
      fs.unlinkSync(run.file);
      assert.throws(() => tiered.index.get(key), (error) => assertCorruptRun(error, run.file));
      assert.throws(() => tiered.index.get(key), (error) => assertCorruptRun(error, run.file));
    });
  });

  test('a run that cannot be opened for a reason that says nothing about its bytes fails the lookup and stays trusted (K2)', async () => {
    await withTemp((dir) => {
      // Not damage, so no rebuild either: access withdrawn (isNotDamage) fails the lookup IO; out of
      // descriptors passes through as it is, for the shard to refuse the job OVERLOADED (fd-budget.ts).
      class FailingOpens extends RealFileSystem {
        code: string | null = null;
        override openSync(file: string, flags: OpenFlags): number {
          if (this.code !== null && file.endsWith('.trun')) throw Object.assign(new Error(`${this.code}: cannot open '${file}'`), { code: this.code });
          return super.openSync(file, flags);
        }
      }
      const fileSystem = new FailingOpens();
      const tiered = makeTiered(dir, 4, fileSystem);
      for (let key = 0; key < 10; key++) tiered.insert(`key-${key}`);
      const run = tiered.runs.runs[0]!;
      const key = [...tiered.records].find(([, record]) => record.seq > run.start && record.seq <= run.end)![0];
      fileSystem.code = 'EACCES';
      assert.throws(
        () => tiered.index.get(key),
        (error) => error instanceof StoreError && error.code === 'IO' && error.message.includes(run.file) && /EACCES/.test(error.message),
      );
      fileSystem.code = 'EMFILE';
      assert.throws(() => tiered.index.get(key), (error) => !(error instanceof StoreError) && (error as { code?: string }).code === 'EMFILE');
      assert.equal(run.damaged, false);
      fileSystem.code = null;
      assert.deepEqual(tiered.index.get(key), tiered.records.get(key));
    });
  });

  test('a block that decodes badly under a correct CRC is damage too', async () => {
    await withTemp((dir) => {
      const tiered = makeTiered(dir, 4);
      for (let key = 0; key < 10; key++) tiered.insert(`key-${key}`);
      const run = tiered.runs.runs[0]!;
      const key = [...tiered.records].find(([, record]) => record.seq > run.start && record.seq <= run.end)![0];
      const bytes = fs.readFileSync(run.file);
      const block = run.blocks[0]!;
      const payload = bytes.subarray(block.offset + 8, block.offset + block.length);
      payload.fill(0xc1); // 0xc1 is never used in MessagePack
      bytes.writeUInt32LE(zlib.crc32(payload), block.offset + 4);
      fs.writeFileSync(run.file, bytes);
      assert.throws(() => tiered.index.get(key), (error) => assertCorruptRun(error, run.file, block.offset));
    });
  });

  test('a run damaged while it is an input of a merge is replaced by the merge, not rebuilt beside it', async () => {
    await withTemp(async (tmp) => {
      const dir = path.join(tmp, 'data');
      const { store } = await open(dir, { idemHotCap: 1000, snapshotEvery: 0 });
      try {
        await seed(store);
        for (let index = 0; index < 9; index++) await store.commit(mkTx(`key-${index}`, 1n));
      } finally {
        await store.close();
      }
      // The real log, with every key hot; then four runs of two keys each by hand (cap 2).
      const recovered = recoverBook(realFs, dir, BOOK, { idemHotCap: 1000, writeRuns: true });
      const bookDir = bookDirectory(dir, BOOK);
      const index = new IdemIndex();
      const runs = new IdemRuns(realFs, BOOK, bookDir);
      index.runs = runs;
      const records = [...recovered.state.idempotency.hotRecords()];
      for (const [key, record] of records) {
        index.insert(key, record);
        spillNow(realFs, recovered.log, index, 2);
      }
      assert.equal(runs.runs.length, 4);
      const warnings: unknown[] = [];
      const maintenance = new IdemMaintenance(realFs, recovered.log, index, 2, (warning) => warnings.push(warning));
      assert(maintenance.start(), 'a merge of the four tier-0 runs starts');
      // While the merge is in flight, a lookup meets damage in one of its inputs.
      const victim = runs.runs[1]!;
      const key = records.find(([, record]) => record.seq > victim.start && record.seq <= victim.end)![0];
      xorByte(victim.file, victim.blocks[0]!.offset + 10);
      assert.throws(() => index.get(key), (error) => assertCorruptRun(error, victim.file));
      maintenance.markDamaged(victim.file);
      while (!maintenance.slice(Number.POSITIVE_INFINITY));
      assert.equal(runs.runs.length, 1, 'the merged run replaced its inputs');
      assert(!fs.existsSync(victim.file));
      // Nothing is left to rebuild: the damaged run is gone, its keys are in the merged run.
      while (maintenance.start()) while (!maintenance.slice(Number.POSITIVE_INFINITY));
      assert.deepEqual(
        runs.runs.map((run) => [run.start, run.end]),
        [[0, index.spilledThroughSeq]],
        'the runs still tile (0, H] without overlaps',
      );
      assert.deepEqual(runFiles(bookDir), [runs.runs[0]!.file]);
      for (const [key, record] of records) assert.deepEqual(index.get(key), record, key);
      assert.deepEqual(warnings, [], 'no rebuild tried to delete the merged-away file');
    });
  });

  test('through LogStore: the commit rejects CORRUPT and appends nothing; after the rebuild a retry is a replay', async () => {
    await withTemp(async (tmp) => {
      const dir = path.join(tmp, 'data');
      const options: LogStoreOptions = { idemHotCap: 2, snapshotEvery: 0 };
      const txs = Array.from({ length: 12 }, (_, index) => mkTx(`key-${index}`, BigInt(index + 1)));
      const committed: Committed[] = [];
      const bookDir = bookDirectory(dir, BOOK);
      let { store, warnings } = await open(dir, options);
      try {
        await seed(store);
        for (const tx of txs) committed.push(await store.commit(tx));
        await store.snapshot(BOOK); // barrier: no spill or merge in flight
        // The run holding key-0, damaged on disk after the store attached it.
        const holder = runFiles(bookDir).find((file) => readRun(realFs, file, 0).records.some((record) => record.key === 'key-0'))!;
        assert(holder !== undefined, 'key-0 was spilled');
        const { meta } = readRun(realFs, holder, 0);
        const block = meta.blocks.findLast((candidate) => Buffer.compare(candidate.keyFirst, Buffer.from('key-0')) <= 0)!;
        const bytes = fs.readFileSync(holder);
        bytes[block.offset + 8 + 3]! ^= 0xff;
        fs.writeFileSync(holder, bytes);
        const eventsBefore = await eventCount(store);
        const durableBefore = store.durableSeq(BOOK);

        await assert.rejects(store.commit(retryOf(txs[0]!)), (error) => assertCorruptRun(error, holder, block.offset));
        assert.equal(await eventCount(store), eventsBefore, 'nothing was appended');
        assert.equal(store.durableSeq(BOOK), durableBefore);
        // The worker rebuilds the run's interval from the log and deletes the damaged file.
        await waitUntil(() => !fs.existsSync(holder), 10_000, 'the damaged run to be replaced');
        assert.deepEqual(await store.commit(retryOf(txs[0]!)), committed[0], 'a retry after the rebuild is a replay');
        for (let position = 0; position < txs.length; position++) assert.deepEqual(await store.commit(retryOf(txs[position]!)), committed[position]);
        assert.equal(await eventCount(store), eventsBefore);
        assert.equal((await store.commit(mkTx('after', 1n))).seq, eventsBefore + 1);
        for (const file of runFiles(bookDir)) readRun(realFs, file, 0); // every run on disk is valid
      } finally {
        await store.close();
      }
      ({ store, warnings } = await open(dir, options));
      try {
        assert(!warnings.some((warning) => warning.code.startsWith('RUN_')), JSON.stringify(warnings));
        for (let position = 0; position < txs.length; position++) assert.deepEqual(await store.commit(retryOf(txs[position]!)), committed[position]);
      } finally {
        await store.close();
      }
    });
  });
});

// --- run files: UTF-8 order and one-block lookups (sections 9.4, 9.6) -------------------------

describe('run files', () => {
  test('keys are sorted and searched in UTF-8 byte order (an emoji next to a BMP character above U+E000)', async () => {
    await withTemp((dir) => {
      const emoji = '\u{1F600}'; // UTF-16 D83D DE00, UTF-8 F0 9F 98 80
      const high = '\uFF21'; // UTF-16 FF21, UTF-8 EF BC A1
      assert(emoji < high, 'JavaScript orders the emoji first');
      assert(Buffer.compare(Buffer.from(high), Buffer.from(emoji)) < 0, 'UTF-8 orders U+FF21 first');
      assert.deepEqual(
        sortByKey([runRecord(emoji, 1), runRecord(high, 2)]).map(({ record }) => record.key),
        [high, emoji],
      );
      // Enough keys on both sides of the boundary to spread over several blocks.
      const keys: string[] = [];
      for (let index = 0; index < 300; index++) keys.push(`${emoji}${String(index).padStart(3, '0')}`, `${high}${String(index).padStart(3, '0')}`, `a${emoji}${index}`, `a${high}${index}`);
      keys.push(emoji, high, `${emoji}${high}`, `${high}${emoji}`, '\uE000', '\uD7FF');
      const bookDir = path.join(dir, 'run');
      fs.mkdirSync(bookDir);
      const records = keys.map((key, index) => runRecord(key, index + 1));
      const meta = writeRun(realFs, bookDir, 0, 0, records.length, sortByKey(records));
      assert(meta.blocks.length > 1, `${meta.blocks.length} blocks`);
      const reread = readRun(realFs, meta.file, 0);
      assert.deepEqual(reread.meta.blocks, meta.blocks);
      const order = reread.records.map((record) => Buffer.from(record.key, 'utf8'));
      for (let index = 1; index < order.length; index++) assert(Buffer.compare(order[index - 1]!, order[index]!) < 0);
      const runs = new IdemRuns(realFs, BOOK, bookDir);
      runs.install(meta);
      for (const record of records) {
        assert.deepEqual(runs.get(record.key), { txid: record.txid, seq: record.seq, atUs: record.atUs }, JSON.stringify(record.key));
      }
      // A run sorted in JavaScript's UTF-16 order is invalid at attach.
      const jsSorted = records.map((record) => ({ record, keyBytes: Buffer.from(record.key, 'utf8') })).sort((left, right) => (left.record.key < right.record.key ? -1 : 1));
      const bad = writeRun(realFs, bookDir, 1, 0, records.length, jsSorted);
      assert.throws(() => readRun(realFs, bad.file, 1), (error) => error instanceof RunInvalid && /out of order/.test(error.message));
    });
  });

  test('through LogStore: emoji and U+FF21 keys spill, merge and still deduplicate after a reopen', async () => {
    await withTemp(async (tmp) => {
      const dir = path.join(tmp, 'data');
      const options: LogStoreOptions = { idemHotCap: 2, snapshotEvery: 0 };
      const txs: Transaction[] = [];
      for (let index = 0; index < 8; index++) txs.push(mkTx(`\u{1F600}${index}`, 1n), mkTx(`\uFF21${index}`, 2n));
      const committed: Committed[] = [];
      let { store } = await open(dir, options);
      try {
        await seed(store);
        for (const tx of txs) committed.push(await store.commit(tx));
        await store.snapshot(BOOK);
        assert(runFiles(bookDirectory(dir, BOOK)).length > 0);
        for (let position = 0; position < txs.length; position++) assert.deepEqual(await store.commit(retryOf(txs[position]!)), committed[position]);
      } finally {
        await store.close();
      }
      ({ store } = await open(dir, options));
      try {
        for (let position = 0; position < txs.length; position++) assert.deepEqual(await store.commit(retryOf(txs[position]!)), committed[position]);
        assert.equal(await eventCount(store), 2 + txs.length);
      } finally {
        await store.close();
      }
    });
  });

  test('a lookup reads one block: blockReads grows by at most 1 per run per lookup, never a whole file', async () => {
    await withTemp((dir) => {
      const counting = new CountingFileSystem();
      const bookDir = path.join(dir, 'run');
      fs.mkdirSync(bookDir);
      // One large run of four blocks or more.
      const records = Array.from({ length: 4 * RUN_BLOCK_RECORDS_MAX + 17 }, (_, index) => runRecord(`key-${String(index).padStart(5, '0')}`, index + 1));
      const meta = writeRun(realFs, bookDir, 0, 0, records.length, sortByKey(records));
      assert(meta.blocks.length >= 5);
      const fileBytes = fs.statSync(meta.file).size;
      const runs = new IdemRuns(counting, BOOK, bookDir);
      runs.install(meta);
      for (const record of records) {
        const reads = runs.blockReads;
        const bytes = counting.bytesRead;
        assert.deepEqual(runs.get(record.key), { txid: record.txid, seq: record.seq, atUs: record.atUs });
        assert.equal(runs.blockReads - reads, 1, 'one block per lookup');
        const block = meta.blocks.findLast((candidate) => Buffer.compare(candidate.keyFirst, Buffer.from(record.key)) <= 0)!;
        assert.equal(counting.bytesRead - bytes, block.length, 'exactly that block was read');
        assert(block.length < fileBytes / 3);
      }
      // Several runs: a lookup costs at most one block read per run it reaches.
      const tiered = makeTiered(path.join(dir, 'tiered'), 4, counting);
      for (let key = 0; key < 60; key++) tiered.insert(`k${key % 7}-${key}`);
      const runCount = tiered.runs.runs.length;
      assert(runCount > 3);
      for (let probe = 0; probe < 200; probe++) {
        const key = probe < 60 ? `k${probe % 7}-${probe}` : `k${probe % 7}-${probe}-absent`;
        const reads = tiered.runs.blockReads;
        const found = tiered.index.get(key);
        if (probe < 60) assert.deepEqual(found, tiered.records.get(key));
        else assert.equal(found, undefined);
        assert(tiered.runs.blockReads - reads <= runCount, `${tiered.runs.blockReads - reads} block reads over ${runCount} runs`);
        if (probe < 60 && !tiered.index.hasHot(key)) assert(tiered.runs.blockReads - reads >= 1);
      }
    });
  });

  test('a run file checks out: interval, counts, whole-file CRC; damage anywhere makes it invalid at attach', async () => {
    await withTemp((dir) => {
      const records = Array.from({ length: 300 }, (_, index) => runRecord(`key-${index}`, index + 11));
      const meta = writeRun(realFs, dir, 7, 10, 400, sortByKey(records));
      assert.equal(path.basename(meta.file), 'idem-000007.trun');
      const bytes = fs.readFileSync(meta.file);
      assert.equal(bytes.subarray(0, 8).toString('ascii'), 'TALEARUN');
      assert.equal(bytes.readUInt32LE(8), 1);
      assert.equal(bytes.readUInt32LE(12), 0);
      assert.equal(bytes.readBigUInt64LE(16), 10n);
      assert.equal(bytes.readBigUInt64LE(24), 400n);
      assert.equal(bytes.readUInt32LE(bytes.length - 16), meta.blocks.length);
      assert.equal(bytes.readBigUInt64LE(bytes.length - 12), 300n);
      assert.equal(bytes.readUInt32LE(bytes.length - 4), zlib.crc32(bytes.subarray(0, bytes.length - 4)));
      assert.equal(readRun(realFs, meta.file, 7).records.length, 300);
      for (const offset of [0, 8, 12, 20, 28, 40, bytes.length - 14, bytes.length - 8, bytes.length - 1]) {
        const damaged = Buffer.from(bytes);
        damaged[offset]! ^= 0x01;
        fs.writeFileSync(meta.file, damaged);
        assert.throws(() => readRun(realFs, meta.file, 7), RunInvalid, `a flipped byte at offset ${offset}`);
      }
      fs.writeFileSync(meta.file, bytes.subarray(0, bytes.length - 1));
      assert.throws(() => readRun(realFs, meta.file, 7), RunInvalid, 'a truncated run');
      // A record outside the interval is refused even with every CRC correct.
      const outside = writeRun(realFs, dir, 8, 0, 5, sortByKey([runRecord('a', 1)]));
      const rewritten = fs.readFileSync(outside.file);
      rewritten.writeBigUInt64LE(1n, 16); // interval (1, 5] no longer holds seq 1
      rewritten.writeUInt32LE(zlib.crc32(rewritten.subarray(0, rewritten.length - 4)), rewritten.length - 4);
      fs.writeFileSync(outside.file, rewritten);
      assert.throws(() => readRun(realFs, outside.file, 8), (error) => error instanceof RunInvalid && /outside/.test(error.message));
    });
  });
});

/**
 * The replay property test (spec/conformance.md, Part 2, section 2.2) with fast-check: random
 * sequences of OpenAccount and Commit operations on book `b` with an idempotency hot cap of 4 and
 * periodic snapshots disabled; after a restart every observable must be unchanged:
 *
 *   (a)       close and reopen: pure log replay;
 *   (b)       snapshot('b') after all ops, close, reopen: snapshot plus an empty tail;
 *   (c)       like (b), but every idempotency run file of `b` is deleted first (rebuild path);
 *   (corrupt) like (b), but one run file is damaged (the rebuild must use the whole log);
 *   (mid)     snapshot('b') in the middle of the sequence, so the replayed tail is not empty; and
 *             (mid) with every run deleted, and with one run damaged.
 *
 * Before the snapshot of (b) the test asserts that run files exist whenever more keys than the cap
 * were committed (the cap applies to books created at run time). After every reopen each recorded
 * key is resubmitted with a fresh txid: the same content gives the original (seq, txid); changed
 * content is IDEMPOTENCY_CONFLICT naming the original.
 *
 * 16 cases by default; `PROPTEST_CASES=n` overrides, `PROPTEST_SEED=s` replays a seed that
 * fast-check printed with a failure.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import fc from 'fast-check';
import { StoreError } from '../src/core/errors.js';
import { LogStore } from '../src/log/log-store.js';
import type { LogStoreOptions, LogStoreWarning } from '../src/log/options.js';
import { RealFileSystem } from '../src/log/file-system.js';
import { bookDirectory } from '../src/log/segment.js';
import { listSnapshots, loadSnapshot, snapshotFileName } from '../src/log/snapshot.js';
import type { Committed, Transaction, TrialBalanceRow } from '../src/core/types.js';
import { makeTempDir, removeDir, USD, uuidV7, waitUntil } from './support/log-store-fixtures.js';

const BOOK = 'b';
const PATHS = ['acct0', 'acct1', 'acct2', 'acct3'];
const HOT_CAP = 4;
const realFs = new RealFileSystem();
const OPTIONS: LogStoreOptions = { workers: 1, idemHotCap: HOT_CAP, snapshotEvery: 0 };

function numRuns(): number {
  const text = process.env.PROPTEST_CASES;
  if (text === undefined || text === '') return 16;
  const value = Number(text);
  assert(Number.isSafeInteger(value) && value > 0, `PROPTEST_CASES must be a positive integer, not ${JSON.stringify(text)}`);
  return value;
}

function seedOverride(): { seed?: number } {
  const text = process.env.PROPTEST_SEED;
  if (text === undefined || text === '') return {};
  const value = Number(text);
  assert(Number.isSafeInteger(value), `PROPTEST_SEED must be an integer, not ${JSON.stringify(text)}`);
  return { seed: value };
}

// --- operations ---------------------------------------------------------------------------------

type Op =
  | { kind: 'open'; pathIdx: number; minBalance: number | null; normal: boolean | null }
  | { kind: 'commit'; fromIdx: number; toIdx: number; minor: number; idemReuse: number | null };

const openArb: fc.Arbitrary<Op> = fc.record({
  kind: fc.constant('open' as const),
  pathIdx: fc.integer({ min: 0, max: 3 }),
  minBalance: fc.option(fc.integer({ min: -100, max: 100 }), { nil: null }),
  normal: fc.option(fc.boolean(), { nil: null }),
});

const commitArb: fc.Arbitrary<Op> = fc.record({
  kind: fc.constant('commit' as const),
  fromIdx: fc.integer({ min: 0, max: 3 }),
  toIdx: fc.integer({ min: 0, max: 3 }),
  minor: fc.integer({ min: 1, max: 1000 }),
  idemReuse: fc.option(fc.integer({ min: 0, max: 255 }), { nil: null }),
});

const opsArb = fc.array(fc.oneof(openArb, commitArb), { minLength: 1, maxLength: 119 });

interface Recorded {
  draft: Transaction;
  committed: Committed;
}

/** What the driver learned while applying operations. */
class Run {
  readonly opened = new Set<string>();
  /** Recorded keys in commit order, with their original draft and result. */
  readonly recorded = new Map<string, Recorded>();
  readonly committedKeys: string[] = [];

  async apply(store: LogStore, ops: readonly Op[]): Promise<void> {
    for (const op of ops) {
      if (op.kind === 'open') {
        const pathName = PATHS[op.pathIdx]!;
        try {
          await store.openAccount(
            { id: { book: BOOK, path: pathName }, asset: 'USD', kind: 'asset' },
            { normal_side: op.normal === null ? null : op.normal ? 'debit' : 'credit', min_balance: op.minBalance === null ? null : BigInt(op.minBalance) },
          );
          this.opened.add(pathName);
        } catch (error) {
          if (!(error instanceof StoreError) || error.code !== 'ALREADY_EXISTS') throw error;
        }
        continue;
      }
      const count = this.committedKeys.length;
      const key = op.idemReuse !== null && count > 0 ? this.committedKeys[op.idemReuse % count]! : `idem-${2 * count}`;
      const draft = transaction(key, PATHS[op.fromIdx]!, PATHS[op.toIdx]!, BigInt(op.minor));
      try {
        const committed = await store.commit(draft);
        if (!this.recorded.has(key)) {
          this.recorded.set(key, { draft, committed });
          this.committedKeys.push(key);
        }
      } catch (error) {
        if (!(error instanceof StoreError)) throw error; // any store error is acceptable
      }
    }
  }
}

function transaction(key: string, from: string, to: string, minor: bigint): Transaction {
  return {
    id: uuidV7(),
    book: BOOK,
    postings: [
      { account: { book: BOOK, path: from }, amount: { minor, asset: 'USD' }, direction: 'debit' },
      { account: { book: BOOK, path: to }, amount: { minor, asset: 'USD' }, direction: 'credit' },
    ],
    idempotency_key: key,
    external_refs: [],
    metadata: null,
    occurred_at: new Date().toISOString(),
  };
}

// --- observables ----------------------------------------------------------------------------------

interface Observed {
  balances: Array<[string, string, number]>;
  trialBalance: TrialBalanceRow[];
  seqs: number[];
}

async function observe(store: LogStore, run: Run): Promise<Observed> {
  const balances: Array<[string, string, number]> = [];
  for (const pathName of [...run.opened].sort()) {
    const balance = await store.balance({ book: BOOK, path: pathName });
    balances.push([pathName, balance.amount.minor.toString(), balance.updated_seq]);
  }
  return {
    balances,
    trialBalance: await store.trialBalance(BOOK),
    seqs: (await store.readEvents(BOOK, 1, 100_000)).map((event) => event.seq),
  };
}

function assertGapless(seqs: number[], when: string): void {
  assert.deepEqual(seqs, Array.from({ length: seqs.length }, (_, index) => index + 1), `seqs ${when} start at 1 without gaps`);
}

/**
 * Resubmits every recorded key: the same content under a fresh txid must give the original
 * (seq, txid); changed content must be IDEMPOTENCY_CONFLICT naming the original. Errors become
 * sentinel strings so a failing diff shows them.
 */
async function assertResubmissions(store: LogStore, run: Run, when: string): Promise<void> {
  const expected: Array<[string, number, string] | string> = [];
  const actual: Array<[string, number, string] | string> = [];
  for (const [key, { draft, committed }] of run.recorded) {
    expected.push([key, committed.seq, committed.txid]);
    try {
      const result = await store.commit({ ...draft, id: uuidV7(), occurred_at: new Date().toISOString() });
      actual.push([key, result.seq, result.txid]);
    } catch (error) {
      actual.push(`${key}: ${error instanceof StoreError ? error.code : String(error)}`);
    }
    const changed: Transaction = {
      ...draft,
      id: uuidV7(),
      postings: draft.postings.map((posting) => ({ ...posting, amount: { ...posting.amount, minor: posting.amount.minor + 1n } })),
    };
    expected.push(`${key}: IDEMPOTENCY_CONFLICT at ${committed.seq}`);
    try {
      const result = await store.commit(changed);
      actual.push(`${key}: changed content committed at ${result.seq}`);
    } catch (error) {
      if (error instanceof StoreError && error.code === 'IDEMPOTENCY_CONFLICT') {
        const original = (error as StoreError & { original: Committed }).original;
        assert.deepEqual(original, committed, `${when}: the conflict names the original of ${key}`);
        actual.push(`${key}: IDEMPOTENCY_CONFLICT at ${original.seq}`);
      } else {
        actual.push(`${key}: ${error instanceof StoreError ? error.code : String(error)}`);
      }
    }
  }
  assert.deepEqual(actual, expected, `${when}: every recorded key deduplicates`);
}

// --- scenarios ------------------------------------------------------------------------------------

function runFiles(dataDir: string): string[] {
  const bookDir = bookDirectory(dataDir, BOOK);
  if (!fs.existsSync(bookDir)) return [];
  return fs
    .readdirSync(bookDir)
    .filter((name) => /^idem-\d+\.trun$/.test(name))
    .sort()
    .map((name) => path.join(bookDir, name));
}

async function open(dir: string): Promise<{ store: LogStore; warnings: LogStoreWarning[] }> {
  const warnings: LogStoreWarning[] = [];
  const store = await LogStore.open(dir, { ...OPTIONS, onWarning: (warning) => warnings.push(warning) });
  return { store, warnings };
}

async function withStore<T>(dir: string, body: (store: LogStore, warnings: LogStoreWarning[]) => Promise<T>): Promise<T> {
  const { store, warnings } = await open(dir);
  try {
    return await body(store, warnings);
  } finally {
    await store.close();
  }
}

async function snapshotIgnoringErrors(store: LogStore): Promise<void> {
  await store.snapshot(BOOK).catch(() => undefined);
}

/** Reopens `dir` and checks every observable against `before`. */
async function checkAfterReopen(dir: string, run: Run, before: Observed, when: string, extra?: (warnings: LogStoreWarning[]) => void): Promise<void> {
  await withStore(dir, async (store, warnings) => {
    extra?.(warnings);
    const after = await observe(store, run);
    assert.deepEqual(after.balances, before.balances, `${when}: balances`);
    assert.deepEqual(after.trialBalance, before.trialBalance, `${when}: trial balance`);
    assertGapless(after.seqs, `after ${when}`);
    assert.equal(after.seqs.length, before.seqs.length, `${when}: event count`);
    await assertResubmissions(store, run, when);
    assert.equal((await store.readEvents(BOOK, 1, 100_000)).length, before.seqs.length, `${when}: resubmissions appended nothing`);
  });
}

/**
 * Reopens three copies of `dir`: as it is, with every run file of `b` deleted, and with one run
 * file (chosen by `pick`) damaged, which must be reported and rebuilt from the whole log.
 */
async function checkVariants(tmp: string, dir: string, run: Run, before: Observed, pick: number, asIs: string, deleted: string, corrupt: string): Promise<void> {
  const name = path.basename(dir);
  const copyA = path.join(tmp, `${name}-as-is`);
  fs.cpSync(dir, copyA, { recursive: true });
  await checkAfterReopen(copyA, run, before, asIs);

  const copyC = path.join(tmp, `${name}-deleted`);
  fs.cpSync(dir, copyC, { recursive: true });
  for (const file of runFiles(copyC)) fs.unlinkSync(file);
  const required = requiredCoverage(copyC);
  await checkAfterReopen(copyC, run, before, deleted, (warnings) => {
    if (required === 0) return;
    // The snapshot requires keys on disk that no run holds any more: the rebuild path ran.
    assert(warnings.some((warning) => warning.code === 'RUN_REBUILT'), `${deleted}: ${JSON.stringify(warnings)}`);
    rebuilds++;
  });

  const copyD = path.join(tmp, `${name}-corrupt`);
  fs.cpSync(dir, copyD, { recursive: true });
  const runs = runFiles(copyD);
  const damaged = runs.length === 0 ? null : runs[pick % runs.length]!;
  if (damaged !== null) {
    const bytes = fs.readFileSync(damaged);
    bytes[Math.floor(bytes.length / 2)]! ^= 0xff;
    fs.writeFileSync(damaged, bytes);
  }
  await checkAfterReopen(copyD, run, before, corrupt, (warnings) => {
    if (damaged !== null) assert(warnings.some((warning) => warning.code === 'RUN_INVALID' && warning.file === damaged), `${corrupt}: ${JSON.stringify(warnings)}`);
  });
}

/** The spilledThroughSeq of the newest snapshot of `b` (0 without one): keys required on disk. */
function requiredCoverage(dataDir: string): number {
  const bookDir = bookDirectory(dataDir, BOOK);
  if (!fs.existsSync(bookDir)) return 0;
  const newest = listSnapshots(realFs, bookDir)[0];
  if (newest === undefined) return 0;
  return loadSnapshot(realFs, path.join(bookDir, snapshotFileName(newest)), BOOK, newest).state.idempotency.spilledThroughSeq;
}

/** Counts how many cases had keys in run files before the snapshot of (b). */
let casesWithRuns = 0;
/** Counts the reopens that rebuilt runs required by a snapshot from the log. */
let rebuilds = 0;

async function checkCase(ops: readonly Op[], pick: number): Promise<void> {
  const tmp = makeTempDir();
  try {
    // (a) pure log replay.
    {
      const dir = path.join(tmp, 'a');
      const run = new Run();
      const before = await withStore(dir, async (store) => {
        await store.registerAsset(USD);
        await run.apply(store, ops);
        return observe(store, run);
      });
      assertGapless(before.seqs, 'before (a)');
      await checkAfterReopen(dir, run, before, '(a) close and reopen');
    }

    // (b), (c) and (corrupt) share one application of the ops, copied before each reopen.
    {
      const dir = path.join(tmp, 'b');
      const run = new Run();
      const before = await withStore(dir, async (store) => {
        await store.registerAsset(USD);
        await run.apply(store, ops);
        const observed = await observe(store, run);
        if (run.recorded.size > HOT_CAP) {
          // Every book gets the hot cap, also one created at run time: keys spilled to runs
          // before the snapshot is taken.
          await waitUntil(() => runFiles(dir).length > 0, 10_000, 'run files before the snapshot');
          casesWithRuns++;
        }
        await assertResubmissions(store, run, 'live, before the snapshot');
        await snapshotIgnoringErrors(store);
        return observed;
      });
      assertGapless(before.seqs, 'before (b)');
      await checkVariants(tmp, dir, run, before, pick, '(b) snapshot after all ops', '(c) runs deleted before reopening', '(corrupt) one run damaged');
    }

    // (mid) a snapshot in the middle, so the replayed tail is not empty; with the runs deleted
    // or one damaged too (runs spilled after the snapshot then lie beyond its coverage).
    {
      const dir = path.join(tmp, 'mid');
      const run = new Run();
      const split = Math.floor(ops.length / 2);
      const before = await withStore(dir, async (store) => {
        await store.registerAsset(USD);
        await run.apply(store, ops.slice(0, split));
        await snapshotIgnoringErrors(store);
        await run.apply(store, ops.slice(split));
        return observe(store, run);
      });
      assertGapless(before.seqs, 'before (mid)');
      await checkVariants(tmp, dir, run, before, pick, '(mid) snapshot in the middle', '(mid-c) runs deleted', '(mid-corrupt) one run damaged');
    }
  } finally {
    removeDir(tmp);
  }
}

/** A sequence that always spills: two accounts, then more commits than the hot cap. */
const SPILLING_EXAMPLE: Op[] = [
  { kind: 'open', pathIdx: 0, minBalance: null, normal: null },
  { kind: 'open', pathIdx: 1, minBalance: null, normal: true },
  ...Array.from({ length: 12 }, (_, index): Op => ({ kind: 'commit', fromIdx: index % 2, toIdx: (index + 1) % 2, minor: index + 1, idemReuse: index % 5 === 4 ? index : null })),
];

test('replay property: snapshots, spills, rebuilds and restarts change no observable (conformance 2.2)', async () => {
  casesWithRuns = 0;
  rebuilds = 0;
  await fc.assert(
    fc.asyncProperty(opsArb, fc.nat({ max: 1000 }), async (ops, pick) => {
      await checkCase(ops, pick);
    }),
    { numRuns: numRuns(), examples: [[SPILLING_EXAMPLE, 3]], ...seedOverride() },
  );
  assert(casesWithRuns > 0, 'at least one case spilled keys to run files');
  assert(rebuilds > 0, 'at least one reopen rebuilt deleted runs from the log');
});

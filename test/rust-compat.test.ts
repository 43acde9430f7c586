/**
 * Compatibility with the Rust reference store, proven on data directories it wrote
 * (../shared/fixtures/rust-written, whose README says what each holds) and on frames this package
 * writes (docs/rust-compatibility.md):
 *
 * - `plain/` reads back exactly what the Rust store reads (`plain.read.json`): balances,
 *   `updated_seq`, trial balances and events, commit times compared as instants;
 * - `segments/` (21 segments per book) and `snapshot-and-runs/` read the same, commit times aside
 *   (they are other runs of the same workload);
 * - `torn-tail/` is truncated where the Rust store truncates it;
 * - `snapshot-and-runs/`: the Rust snapshot and runs are never read, deleted or rewritten, and this
 *   package's own files take names the Rust store does not read;
 * - `double-posted/` is refused (row R20), and `talea-log verify --all` lists every repeat;
 * - a txid held by two books is kept for the first book, with a warning;
 * - every frame this package writes is one the Rust format allows, checked by the frame reader and
 *   an independent description of that format (test/support/rust-frame-format.ts);
 * - a data directory written by this package's 0.1.0 (layout 1, test/fixtures/layout-1) still opens
 *   from its snapshot and runs.
 *
 * The fixtures are read-only: every test opens a writable copy.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, test } from 'node:test';
import { StoreError } from '../src/core/errors.js';
import { parseJson, stringifyJson } from '../src/core/json.js';
import { METADATA_DEPTH_MAX } from '../src/core/limits.js';
import { parseTimestampUs } from '../src/core/time.js';
import type { JsonValue, LedgerEvent, SequencedEvent, Transaction } from '../src/core/types.js';
import { RealFileSystem } from '../src/log/file-system.js';
import { isOwnLegacyRun, type IdemRuns } from '../src/log/idem-runs.js';
import { LogStore } from '../src/log/log-store.js';
import type { LogStoreOptions, LogStoreWarning } from '../src/log/options.js';
import { recoverBook } from '../src/log/recovery.js';
import { isOwnLegacySnapshot } from '../src/log/snapshot.js';
import { verifyDataDir } from '../src/log/verify.js';
import {
  assertCorrupt,
  assertSameTree,
  eventFrame,
  makeTempDir,
  re,
  readFrames,
  removeTempDir,
  segmentFiles,
  snapshotTree,
  splitPayload,
} from './support/segment-files.js';
import { rustFrameProblems, SERDE_JSON_DEPTH_MAX } from './support/rust-frame-format.js';

// This file runs as dist/test/rust-compat.test.js: the package root is two levels up, and CI
// clones the shared fixtures beside it (as test/layout.test.ts finds the root).
const packageRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const RUST_WRITTEN = path.join(packageRoot, '..', 'shared', 'fixtures', 'rust-written');
const LAYOUT_1 = path.join(packageRoot, 'test', 'fixtures', 'layout-1');
const CLI = path.join(packageRoot, 'dist', 'src', 'cli', 'main.js');

/** The Rust store's own names for snapshots and runs (layout 1). */
const RUST_NAMES = /^(?:snapshot-\d+\.snap|idem-\d+\.run)(?:\.tmp)?$/;

const scratch: string[] = [];
after(() => {
  for (const dir of scratch.splice(0)) removeTempDir(dir);
});

/** A writable copy of a fixture directory (the fixtures themselves are read-only). */
function copyOf(source: string): string {
  const tmp = makeTempDir();
  scratch.push(tmp);
  const dir = path.join(tmp, 'data');
  fs.cpSync(source, dir, { recursive: true });
  const makeWritable = (target: string): void => {
    const directory = fs.statSync(target).isDirectory();
    fs.chmodSync(target, directory ? 0o755 : 0o644);
    if (directory) for (const name of fs.readdirSync(target)) makeWritable(path.join(target, name));
  };
  makeWritable(dir);
  return dir;
}

function rustCopy(name: string): string {
  return copyOf(path.join(RUST_WRITTEN, name));
}

async function open(dir: string, options: LogStoreOptions = {}): Promise<{ store: LogStore; warnings: LogStoreWarning[] }> {
  const warnings: LogStoreWarning[] = [];
  const store = await LogStore.open(dir, { workers: 1, onWarning: (warning) => warnings.push(warning), ...options });
  return { store, warnings };
}

function bookDir(dir: string, book: string): string {
  return path.join(dir, 'books', book);
}

// --- what the Rust store reads back from plain/ -------------------------------------------------

interface RustAccount {
  path: string;
  asset: string;
  balance_minor: string;
  updated_seq: number;
  normal_side: string | null;
  min_balance: string | null;
}

interface RustBook {
  accounts: RustAccount[];
  events: Array<{ seq: number; at: string; event: JsonValue }>;
  trial_balance: Array<{ asset: string; debits: string; credits: string }>;
}

/** plain.read.json, read with the bigint-safe parser (its metadata holds 2^53 + 1 and u64 max). */
const rustRead = (parseJson(fs.readFileSync(path.join(RUST_WRITTEN, 'plain.read.json'), 'utf8')) as unknown as { books: Record<string, RustBook> }).books;
const BOOKS = Object.keys(rustRead).sort();

/** An event as JSON data, with the typing plain.read.json has after the same parser. */
function asJson(event: LedgerEvent): JsonValue {
  return parseJson(stringifyJson(event as unknown as JsonValue));
}

function instant(at: string): number {
  const atUs = parseTimestampUs(at);
  assert(atUs !== null, `${at} is a timestamp`);
  return atUs;
}

/**
 * The store reads `book` as the Rust store did: every account's balance and updated seq, the trial
 * balance, and every event (the first `eventCount`); commit times as instants, or, for another run
 * of the same workload (`ownCommitTimes`), only non-decreasing.
 */
async function assertReadsLikeRust(store: LogStore, book: string, { ownCommitTimes = false, eventCount }: { ownCommitTimes?: boolean; eventCount?: number } = {}): Promise<void> {
  const expected = rustRead[book]!;
  const wanted = expected.events.slice(0, eventCount ?? expected.events.length);
  const events = await store.readEvents(book, 1, 10_000);
  assert.equal(events.length, wanted.length, `book ${book}: the number of events`);
  let previousUs = 0;
  events.forEach((actual: SequencedEvent, index) => {
    const rust = wanted[index]!;
    assert.equal(actual.seq, rust.seq);
    assert.match(actual.at, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/, 'this package returns six fractional digits');
    if (!ownCommitTimes) assert.equal(instant(actual.at), instant(rust.at), `book ${book} seq ${rust.seq}: ${actual.at} is the instant ${rust.at}`);
    assert(instant(actual.at) >= previousUs, 'commit times never decrease');
    previousUs = instant(actual.at);
    assert.deepEqual(asJson(actual.event), rust.event, `book ${book} seq ${rust.seq}`);
  });
  if (eventCount !== undefined) return; // balances of a truncated book are not the Rust store's read of plain/
  for (const account of expected.accounts) {
    const balance = await store.balance({ book, path: account.path });
    assert.deepEqual(
      { minor: balance.amount.minor.toString(), asset: balance.amount.asset, updated_seq: balance.updated_seq },
      { minor: account.balance_minor, asset: account.asset, updated_seq: account.updated_seq },
      `${book}:${account.path}`,
    );
    const opened = events.find((event) => event.event.kind === 'account_opened' && event.event.def.id.path === account.path)!.event;
    assert(opened.kind === 'account_opened');
    assert.deepEqual([opened.cfg.normal_side, opened.cfg.min_balance?.toString() ?? null], [account.normal_side, account.min_balance]);
  }
  const trialBalance = (await store.trialBalance(book)).map((row) => ({ asset: row.asset, debits: row.debits.toString(), credits: row.credits.toString() }));
  assert.deepEqual(trialBalance, expected.trial_balance.map(({ asset, debits, credits }) => ({ asset, debits, credits })), `trial balance of ${book}`);
}

/** A transaction as the Rust store wrote it, to retry it. */
function transactionOf(event: SequencedEvent): Transaction {
  assert.equal(event.event.kind, 'transaction_posted');
  const { kind: _kind, ...tx } = event.event as Extract<LedgerEvent, { kind: 'transaction_posted' }>;
  return tx;
}

function cli(...args: string[]): Promise<{ code: number; stdout: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 }, (error, stdout) => {
      resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : -1, stdout });
    });
  });
}

describe('data directories written by the Rust store', () => {
  test('the fixtures are there, beside the package', () => {
    for (const name of ['plain', 'segments', 'torn-tail', 'snapshot-and-runs', 'double-posted', 'plain.read.json']) {
      assert(fs.existsSync(path.join(RUST_WRITTEN, name)), `${path.join(RUST_WRITTEN, name)} exists`);
    }
    assert.deepEqual(BOOKS, ['_system', 'alpha', 'beta']);
  });

  test('plain/ reads back exactly what the Rust store reads from it, and opening it changes nothing', async () => {
    const dir = rustCopy('plain');
    const before = snapshotTree(dir);
    const { store, warnings } = await open(dir);
    try {
      assert.deepEqual(warnings, []);
      for (const book of BOOKS) await assertReadsLikeRust(store, book);
      assert.deepEqual(await store.asset('BTC'), { id: 'BTC', class: { crypto: { network: 'bitcoin', native_id: null } }, precision: 8, name: 'Bitcoin ₿' });
      // The Rust store writes three fractional digits for a whole millisecond; this package six.
      const first = (await store.readEvents('alpha', 1, 1))[0]!;
      assert.equal(rustRead.alpha!.events[0]!.at, '2026-12-03T08:37:44.586Z');
      assert.equal(first.at, '2026-12-03T08:37:44.586000Z');
      const stored = await store.transaction('00000000-0000-4000-8000-000000000001');
      assert.equal(stored?.seq, 5);
      assert.equal(stored?.transaction.occurred_at, '2026-01-02T03:04:05.123456Z');
    } finally {
      await store.close();
    }
    assertSameTree(snapshotTree(dir), before);
  });

  test('segments/ (21 segments per book) reads the same as plain/', async () => {
    const dir = rustCopy('segments');
    assert.equal(segmentFiles(bookDir(dir, 'alpha')).length, 21);
    assert.equal(segmentFiles(bookDir(dir, 'beta')).length, 21);
    const { store, warnings } = await open(dir);
    try {
      assert.deepEqual(warnings, []);
      for (const book of BOOKS) await assertReadsLikeRust(store, book, { ownCommitTimes: true });
    } finally {
      await store.close();
    }
  });

  test("torn-tail/ is truncated where the Rust store truncates it: 88,444 bytes, 103 events in alpha", async () => {
    const dir = rustCopy('torn-tail');
    const file = segmentFiles(bookDir(dir, 'alpha'))[0]!;
    const { store, warnings } = await open(dir);
    try {
      assert.deepEqual(
        warnings.map(({ code, file: where }) => [code, where]),
        [['TORN_TAIL_TRUNCATED', file]],
      );
      assert.equal(store.durableSeq('alpha'), 103);
      await assertReadsLikeRust(store, 'alpha', { eventCount: 103 });
      await assertReadsLikeRust(store, 'beta');
    } finally {
      await store.close();
    }
    assert.equal(fs.statSync(file).size, 88_444);
  });

  test('snapshot-and-runs/: the Rust snapshot and runs stay byte for byte; this package writes its own beside them', async () => {
    const dir = rustCopy('snapshot-and-runs');
    const rustFiles = (tree: Map<string, Buffer | null>): Map<string, Buffer | null> =>
      new Map([...tree].filter(([name]) => RUST_NAMES.test(path.basename(name))));
    const original = rustFiles(snapshotTree(dir));
    assert.equal(original.size, 2 * 9, 'a snapshot and eight runs per book');
    const before = snapshotTree(dir);
    let retried: { tx: Transaction; committed: { txid: string; seq: number; at: string } };
    {
      const { store, warnings } = await open(dir);
      try {
        // One warning per book, naming what is left alone; nothing read as this package's.
        assert.deepEqual(
          warnings.map(({ code, book }) => [code, book]),
          [['FOREIGN_FILES', 'alpha'], ['FOREIGN_FILES', 'beta']],
        );
        assert.match(warnings[0]!.message, /^book alpha: 9 files at snapshot or run names without this package's magic .* left alone and not read: idem-000018\.run, /);
        for (const book of BOOKS) await assertReadsLikeRust(store, book, { ownCommitTimes: true });
        const original5 = (await store.readEvents('alpha', 5, 1))[0]!;
        retried = { tx: transactionOf(original5), committed: { txid: transactionOf(original5).id, seq: 5, at: original5.at } };
      } finally {
        await store.close();
      }
    }
    assertSameTree(snapshotTree(dir), before); // opening wrote nothing
    // Append, snapshot and spill with the Rust store's own hot cap, then reopen.
    let appended: { txid: string; seq: number; at: string };
    {
      const { store } = await open(dir, { idemHotCap: 8 });
      try {
        assert.deepEqual(await store.commit(retried.tx), retried.committed, 'a retry of a Rust-written commit is a replay');
        const tx: Transaction = { ...retried.tx, id: '00000000-0000-4000-8000-0000000001f5', idempotency_key: 'appended by talea-store-log (TypeScript)', occurred_at: '2026-12-03T10:00:00+01:00' };
        appended = await store.commit(tx);
        assert.equal(appended.seq, 105);
        await store.snapshot('alpha');
      } finally {
        await store.close();
      }
    }
    {
      const { store, warnings } = await open(dir);
      try {
        assert.deepEqual(warnings.map(({ code }) => code), ['FOREIGN_FILES', 'FOREIGN_FILES']);
        assert.equal(store.durableSeq('alpha'), 105);
        assert.deepEqual(await store.commit(retried.tx), retried.committed);
        assert.equal((await store.transaction(appended.txid))?.seq, 105);
        assert.equal((await store.transaction(appended.txid))?.transaction.occurred_at, '2026-12-03T10:00:00+01:00');
        assert.deepEqual(await store.balance({ book: 'alpha', path: 'a:b' }), {
          amount: { minor: BigInt(rustRead.alpha!.accounts.find((account) => account.path === 'a:b')!.balance_minor) + 9_007_199_254_740_993n, asset: 'USD' },
          updated_seq: 105,
        });
      } finally {
        await store.close();
      }
    }
    const after = snapshotTree(dir);
    assertSameTree(rustFiles(after), original);
    // This package's files: names the Rust store does not read, runs numbered past every run name.
    const ours = [...after.keys()].map((name) => path.basename(name)).filter((name) => /\.(?:tsnap|trun)$/.test(name));
    assert(ours.includes('snapshot-00000000000000000105.tsnap'), ours.join(', '));
    const runNumbers = ours.filter((name) => name.endsWith('.trun')).map((name) => Number(/^idem-(\d+)\.trun$/.exec(name)![1]));
    assert(runNumbers.length > 0 && Math.min(...runNumbers) > 25, `runs ${runNumbers.join(', ')} are numbered past idem-000025.run`);
    for (const name of after.keys()) {
      const base = path.basename(name);
      if (RUST_NAMES.test(base)) assert(original.has(name), `${name} is a Rust file that was there before`);
    }
  });

  test('double-posted/ is refused: CORRUPT naming the file, the offset and both seqs; the directory is left as found', async () => {
    const dir = rustCopy('double-posted');
    // The first repeat, found here without the package's decoder: alpha's seq 105 repeats seq 5.
    const file = segmentFiles(bookDir(dir, 'alpha'))[0]!;
    const seen = new Map<string, number>();
    let first: { seq: number; offset: number; txid: string; key: string; earlier: number } | null = null;
    for (const frame of readFrames(file)) {
      const event = (JSON.parse(frame.payload) as { event: { kind: string; id: string; idempotency_key: string } }).event;
      if (event.kind !== 'transaction_posted') continue;
      const earlier = seen.get(event.id);
      if (earlier !== undefined) {
        first = { seq: frame.seq, offset: frame.offset, txid: event.id, key: event.idempotency_key, earlier };
        break;
      }
      seen.set(event.id, frame.seq);
    }
    assert.deepEqual(first && [first.seq, first.earlier], [105, 5]);
    const before = snapshotTree(dir);
    await assert.rejects(open(dir), (error) =>
      assertCorrupt(error, {
        book: 'alpha',
        file,
        offset: first!.offset,
        message: new RegExp(
          `^CORRUPT: repeated transaction in book alpha: seq 105 in "${re(file)}" at offset ${first!.offset} repeats the txid ${first!.txid} and the idempotency key ${re(JSON.stringify(first!.key))} of seq 5$`,
        ),
      }),
    );
    assertSameTree(snapshotTree(dir), before);
  });

  test('talea-log verify lists every repeat of double-posted/ with --all, and stops at the first without', async () => {
    const dir = rustCopy('double-posted');
    const all = await cli('verify', dir, '--all', '--progress', 'none');
    assert.equal(all.code, 1);
    for (const book of ['alpha', 'beta']) {
      const repeats = all.stdout.split('\n').filter((line) => line.startsWith(`CORRUPT: repeated transaction in book ${book}: `));
      assert.equal(repeats.length, 50, `${book}: seqs 105 to 154 each repeat one of seqs 5 to 54`);
      repeats.forEach((line, index) => assert.match(line, new RegExp(`: seq ${105 + index} in ".*" at offset \\d+ repeats the txid \\S+ and the idempotency key ".*" of seq ${5 + index}$`)));
    }
    assert.match(all.stdout, /^verify: CORRUPT: open would refuse this directory; 100 corruptions found/m);
    const first = await cli('verify', dir, '--progress', 'none');
    assert.equal(first.code, 1);
    assert.deepEqual(
      first.stdout.split('\n').filter((line) => line.startsWith('CORRUPT:')).map((line) => line.replace(/ in ".*" at offset \d+ /, ' … ')),
      ['CORRUPT: repeated transaction in book alpha: seq 105 … repeats the txid 00000000-0000-4000-8000-000000000001 and the idempotency key "key ü/000000" of seq 5'],
    );
  });
});

// --- a txid in two books ---------------------------------------------------------------------------

describe('a txid that two books hold (the Rust store does not check txids across books)', () => {
  test('opens with a warning; the first book in name order keeps it; no book takes it for a new commit', async () => {
    const dir = rustCopy('plain');
    // Beta's last transaction gets the txid of alpha's seq 5, as a Rust client reusing ids could.
    const alpha5 = (await readAll(dir, 'alpha'))[4]!;
    const shared = transactionOf(alpha5).id;
    const betaFile = segmentFiles(bookDir(dir, 'beta'))[0]!;
    const frames = readFrames(betaFile);
    const last = frames[frames.length - 1]!;
    const { at, eventJson } = splitPayload(last.payload);
    const beta104 = JSON.parse(eventJson) as { id: string };
    const bytes = fs.readFileSync(betaFile).subarray(0, last.offset);
    fs.writeFileSync(betaFile, Buffer.concat([bytes, eventFrame(last.seq, at, eventJson.replace(`"id":"${beta104.id}"`, `"id":"${shared}"`))]));
    const { store, warnings } = await open(dir, { workers: 2 });
    try {
      assert.deepEqual(warnings.map(({ code, book }) => [code, book]), [['TXID_SHARED', 'beta']]);
      assert.match(warnings[0]!.message, new RegExp(`^book beta holds 1 txid that book alpha holds too \\(the first: ${shared}\\)`));
      assert.equal((await store.transaction(shared))?.transaction.book, 'alpha');
      const retry = { ...transactionOf((await store.readEvents('beta', 104, 1))[0]!) };
      assert.deepEqual((await store.commit(retry)).seq, 104, 'its own retry is still a replay');
      await assert.rejects(store.commit({ ...retry, idempotency_key: 'new key' }), (error) => error instanceof StoreError && error.code === 'ALREADY_EXISTS');
    } finally {
      await store.close();
    }
    const report = await verifyDataDir(dir, { all: true, threads: 1 });
    assert.deepEqual(report.findings.map((finding) => finding.kind), ['warning']);
    assert.match(report.findings[0]!.line, new RegExp(`^WARNING: txid ${shared} of seq 104 of book beta in ".*" at offset ${last.offset} is also a transaction of book alpha`));
  });
});

async function readAll(dir: string, book: string): Promise<SequencedEvent[]> {
  const { store } = await open(dir);
  try {
    return await store.readEvents(book, 1, 10_000);
  } finally {
    await store.close();
  }
}

// --- frames this package writes, against the Rust format -------------------------------------------

/** Metadata nested `levels` deep: `{"d":{"d":…{"d":0}…}}`. */
function nested(levels: number): JsonValue {
  let value: JsonValue = 0;
  for (let level = 0; level < levels; level++) value = { d: value };
  return value;
}

describe('frames written by this package', () => {
  test('the Rust-format check itself refuses what the Rust store cannot read exactly', () => {
    const frame = (event: string, at = '2026-06-05T12:00:00.123456Z'): string => `{"seq":1,"at":"${at}","event":${event}}`;
    const tx = (metadata: string): string =>
      frame(
        `{"kind":"transaction_posted","id":"0190f3c2-8c1e-7a4b-9d2e-3f1a2b3c4d5e","book":"b","postings":[],"idempotency_key":"k","external_refs":[],"metadata":${metadata},"occurred_at":"2026-06-05T12:00:00Z"}`,
      );
    assert.deepEqual(rustFrameProblems(tx('{"u64_max":18446744073709551615,"i64_min":-9223372036854775808,"f":1e+300}')), []);
    const refused: Array<[string, RegExp]> = [
      [tx('18446744073709551616'), /cannot hold exactly/],
      [tx('-9223372036854775809'), /cannot hold exactly/],
      [tx('1e400'), /not a finite f64/],
      [tx(JSON.stringify(nested(SERDE_JSON_DEPTH_MAX))), /beyond serde_json's 128/],
      [tx('"\\ud800"'), /lone surrogate/],
      [tx('"raw \u0001"'), /raw control character/],
      [tx('01'), /not strict JSON/],
      [frame('{"kind":"asset_registered","id":"X","class":"fiat","precision":256,"name":"x"}'), /precision 256 is outside/],
      [frame('{"kind":"asset_registered","id":"X","id":"Y","class":"fiat","precision":2,"name":"x"}'), /event\.id appears twice/],
      [frame('{"kind":"account_opened","def":{"id":{"book":"b","path":"p"},"asset":"USD","kind":"asset"},"cfg":{"normal_side":null,"min_balance":9223372036854775808}}'), /min_balance .* is outside/],
      [frame('{"kind":"account_opened","def":{"id":{"book":"b","path":"p"},"asset":"USD","kind":"asset"},"cfg":{"normal_side":null}}'), /min_balance is missing/],
      [frame('{"kind":"account_closed"}'), /not an event of the Rust store/],
      [frame('{"kind":"asset_registered","id":"X","class":"fiat","precision":2,"name":"x"}', '2026-02-30T12:00:00.000000Z'), /not a valid date/],
    ];
    for (const [payload, problem] of refused) {
      const problems = rustFrameProblems(payload);
      assert(problems.some((text) => problem.test(text)), `${payload.slice(0, 120)}: ${problems.join('; ') || 'accepted'}`);
    }
  });

  test('every frame of a directory this package writes is one the Rust format allows', async () => {
    const tmp = makeTempDir();
    scratch.push(tmp);
    const dir = path.join(tmp, 'data');
    const store = await LogStore.open(dir, { workers: 1, segmentMax: 2048 });
    const I64_MIN = -(2n ** 63n);
    const I64_MAX = 2n ** 63n - 1n;
    try {
      await store.registerAsset({ id: 'USD', class: 'fiat', precision: 2, name: 'US dollar' });
      await store.registerAsset({ id: 'BTC', class: { crypto: { network: 'bitcoin', native_id: null } }, precision: 8, name: 'Bitcoin ₿' });
      await store.registerAsset({ id: 'L-USDT', class: { crypto: { network: 'liquid', native_id: 'ce09"\\\u0001' } }, precision: 255, name: '' });
      const kinds = ['asset', 'liability', 'income', 'expense', 'equity', 'clearing'] as const;
      const cfgs = [
        { normal_side: null, min_balance: null },
        { normal_side: 'debit', min_balance: 0n },
        { normal_side: 'credit', min_balance: I64_MIN },
        { normal_side: 'debit', min_balance: -5n },
        { normal_side: 'credit', min_balance: null },
        { normal_side: null, min_balance: I64_MAX },
      ] as const;
      for (const [index, kind] of kinds.entries()) {
        await store.openAccount({ id: { book: 'b', path: `${kind} ü:x/${index}` }, asset: 'USD', kind }, { ...cfgs[index]! });
      }
      await store.openAccount({ id: { book: 'b', path: 'big' }, asset: 'USD', kind: 'asset' }, { normal_side: null, min_balance: null });
      await store.openAccount({ id: { book: 'b', path: 'small' }, asset: 'USD', kind: 'asset' }, { normal_side: null, min_balance: null });
      const metadata: JsonValue = {
        z_first: 1,
        a_second: null,
        safe: 9_007_199_254_740_991,
        big: 9_007_199_254_740_993n,
        u64_max: 18_446_744_073_709_551_615n,
        i64_min: I64_MIN,
        floats: [1.5, -2.5e-10, 1e300, 5e-324, -0, 0.1, 1e21],
        text: 'quote" backslash\\ tab\t nl\n ctl\u0001\u001f del\u007f sep\u2028 emoji 🙂 日本語',
        ['__proto__']: { nested: [true, false, [], {}] },
        '': 'empty key',
        deepest: nested(METADATA_DEPTH_MAX - 1),
      };
      let txids = 0;
      // Debits `to`, credits `from`.
      const tx = (key: string, minor: bigint, extra: Partial<Transaction> = {}, to = 'big', from = 'small'): Transaction => ({
        id: `00000000-0000-7000-8000-${String(++txids).padStart(12, '0')}`,
        book: 'b',
        postings: [
          { account: { book: 'b', path: to }, amount: { minor, asset: 'USD' }, direction: 'debit' },
          { account: { book: 'b', path: from }, amount: { minor, asset: 'USD' }, direction: 'credit' },
        ],
        idempotency_key: key,
        external_refs: [{ kind: 'memo', value: 'ref «ü» €' }],
        metadata: null,
        occurred_at: '2026-06-05T12:00:00Z',
        ...extra,
      });
      await store.commit(tx('max', I64_MAX, { metadata, occurred_at: '2026-06-05T14:00:00.123456789+02:00' }));
      await store.commit(tx('no postings', 1n, { postings: [], external_refs: [], occurred_at: '2026-06-05T12:00:00.5-03:30' }));
      for (let index = 0; index < 30; index++) await store.commit(tx(`k${index}`, BigInt(index), { metadata: { index, list: [index, `${index}`] } }, 'small', 'big'));
      await assert.rejects(store.commit(tx('too deep', 1n, { metadata: nested(METADATA_DEPTH_MAX + 1) })), (error) => error instanceof StoreError && error.code === 'INVALID_ARGUMENT');
    } finally {
      await store.close();
    }
    let frames = 0;
    for (const book of ['_system', 'b']) {
      const files = segmentFiles(bookDir(dir, book));
      if (book === 'b') assert(files.length > 1, 'rotated segments');
      for (const file of files) {
        for (const frame of readFrames(file)) {
          frames++;
          const problems = rustFrameProblems(frame.payload);
          assert.deepEqual(problems, [], `${file} seq ${frame.seq}: ${frame.payload.slice(0, 200)}`);
        }
      }
    }
    assert.equal(frames, 3 + 8 + 32);
  });
});

// --- directories written by this package's 0.1.0 (layout 1) ----------------------------------------

describe("a data directory of this package's 0.1.0 (layout 1: snapshot-*.snap, idem-*.run)", () => {
  const key = (n: number): string => `k${String(n).padStart(2, '0')}`;

  test('opens from its snapshot and runs, renames them to layout-2 names (R21); keys spilled to its runs still deduplicate', async () => {
    const dir = copyOf(LAYOUT_1);
    const book = bookDir(dir, 'b');
    const fileSystem = new RealFileSystem();
    assert.deepEqual(fs.readdirSync(book).filter((name) => /\.(?:snap|run)$/.test(name)), ['idem-000004.run', 'idem-000005.run', 'snapshot-00000000000000000008.snap', 'snapshot-00000000000000000012.snap']);
    for (const name of fs.readdirSync(book)) {
      if (name.endsWith('.snap')) assert(isOwnLegacySnapshot(fileSystem, path.join(book, name)));
      if (name.endsWith('.run')) assert(isOwnLegacyRun(fileSystem, path.join(book, name)));
    }
    // The check phase loads the newest layout-1 snapshot and attaches the layout-1 runs, which hold
    // the keys of seqs 3 to 10 the snapshot needs (its spilled-through seq is 10).
    const recovered = recoverBook(fileSystem, dir, 'b');
    assert.equal(recovered.snapshotFile, path.join(book, 'snapshot-00000000000000000012.snap'));
    assert.deepEqual((recovered.state.idempotency.runs as IdemRuns).runs.map((run) => [path.basename(run.file), run.start, run.end]), [
      ['idem-000004.run', 0, 10],
      ['idem-000005.run', 10, 12],
    ]);
    assert.deepEqual(recovered.warnings, []);
    assert.deepEqual(recovered.repair.obsoleteFiles, []);
    const renames = [
      ['idem-000004.run', 'idem-000004.trun'],
      ['idem-000005.run', 'idem-000005.trun'],
      ['snapshot-00000000000000000008.snap', 'snapshot-00000000000000000008.tsnap'],
      ['snapshot-00000000000000000012.snap', 'snapshot-00000000000000000012.tsnap'],
    ];
    assert.deepEqual(
      recovered.repair.renames.map(({ from, to }) => [path.basename(from), path.basename(to)]).sort(),
      renames,
    );
    // verify predicts the renames (and nothing else) without making them.
    const predicted = await verifyDataDir(dir, { all: true, threads: 1 });
    assert.deepEqual(predicted.findings.map(({ kind, file }) => [kind, path.basename(file ?? '')]).sort(), renames.map(([from]) => ['repair', from]));
    const before = snapshotTree(dir);
    const { store, warnings } = await open(dir);
    try {
      assert.deepEqual(warnings.map(({ code, book: name }) => [code, name]), [['FILES_RENAMED', 'b']]);
      assert.equal(store.durableSeq('b'), 14);
      assert.deepEqual(await store.balance({ book: 'b', path: 'cash' }), { amount: { minor: 7800n, asset: 'USD' }, updated_seq: 14 });
      for (let n = 0; n < 12; n++) {
        const original = (await store.readEvents('b', n + 3, 1))[0]!;
        const retry = { ...transactionOf(original), id: `00000000-0000-7000-9000-${String(n).padStart(12, '0')}` };
        assert.deepEqual(await store.commit(retry), { txid: transactionOf(original).id, seq: n + 3, at: original.at }, key(n));
      }
    } finally {
      await store.close();
    }
    // The same bytes under the new names; nothing else changed.
    const renamed = new Map([...before].map(([name, bytes]) => {
      const to = renames.find(([from]) => path.basename(name) === from)?.[1];
      return [to === undefined ? name : path.join(path.dirname(name), to), bytes];
    }));
    assertSameTree(snapshotTree(dir), renamed);
    assert.deepEqual((await verifyDataDir(dir, { all: true, threads: 1 })).findings, []);
    // Opened again: layout 2 throughout, nothing to rename or warn about.
    const again = await open(dir);
    try {
      assert.deepEqual(again.warnings, []);
      assert.equal((await again.store.commit({ ...transactionOf((await again.store.readEvents('b', 3, 1))[0]!), id: '00000000-0000-7000-9000-00000000ffff' })).seq, 3);
    } finally {
      await again.store.close();
    }
    assertSameTree(snapshotTree(dir), renamed);
  });

  test('new snapshots prune the old ones; keys in old and new runs deduplicate after a reopen', async () => {
    const dir = copyOf(LAYOUT_1);
    const book = bookDir(dir, 'b');
    const { store, warnings } = await open(dir, { idemHotCap: 2 });
    try {
      const tx = transactionOf((await store.readEvents('b', 3, 1))[0]!);
      for (let n = 12; n < 16; n++) await store.commit({ ...tx, id: `00000000-0000-7000-8000-${String(n).padStart(12, '0')}`, idempotency_key: key(n) });
      await store.snapshot('b');
      await store.commit({ ...tx, id: '00000000-0000-7000-8000-000000000016', idempotency_key: key(16) });
      await store.snapshot('b');
      assert.deepEqual(warnings.filter(({ code }) => code !== 'FILES_RENAMED'), []);
    } finally {
      await store.close();
    }
    const names = fs.readdirSync(book);
    assert.deepEqual(names.filter((name) => name.includes('snapshot-')), ['snapshot-00000000000000000018.tsnap', 'snapshot-00000000000000000019.tsnap']);
    assert.deepEqual(names.filter((name) => RUST_NAMES.test(name)), [], 'no file of this package under a name the Rust store reads');
    assert(names.filter((name) => name.endsWith('.trun')).length > 0, names.join(', '));
    // Reopened: every key, in layout-1 runs or layout-2 ones, still deduplicates.
    const again = await open(dir);
    try {
      assert.deepEqual(again.warnings, []);
      for (let n = 0; n < 17; n++) {
        const original = (await again.store.readEvents('b', n + 3, 1))[0]!;
        assert.equal((await again.store.commit({ ...transactionOf(original), id: `00000000-0000-7000-9000-${String(n).padStart(12, '0')}` })).seq, n + 3);
      }
    } finally {
      await again.store.close();
    }
  });
});

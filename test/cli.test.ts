/**
 * The operator CLI (`talea-log`, docs/cli.md), run as a child process exactly as an
 * operator runs it (node dist/src/cli/main.js), against real data directories written by LogStore
 * and then damaged by hand: healthy, torn tail, corrupt sealed segment, corrupt final segment,
 * unbalanced transactions, snapshots and idempotency runs that are corrupt or beyond the end of
 * the log. Every test checks output and exit code; every verify run, and the other read-only
 * commands, are checked to leave every byte of the directory as it was.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { formatBytes } from '../src/cli/units.js';
import { isStoreError } from '../src/core/errors.js';
import { RealFileSystem } from '../src/log/file-system.js';
import { parseRunFileName, readRun } from '../src/log/idem-runs.js';
import { LogStore } from '../src/log/log-store.js';
import type { LogStoreWarning } from '../src/log/options.js';
import { parseSnapshotFileName } from '../src/log/snapshot.js';
import type { AssetDef, Transaction } from '../src/core/types.js';
import {
  assertCorrupt,
  assertSameTree,
  copyDir,
  frameOffsets,
  makeTempDir,
  re,
  removeTempDir,
  segmentFiles,
  snapshotTree,
  xorByte,
} from './support/segment-files.js';
import { assertExit, runCli, type Run } from './support/cli-run.js';

// The documented exit codes (src/cli/exit-codes.ts, README).
const EXIT = { ok: 0, corrupt: 1, usage: 2, repairable: 3, unbalanced: 4, notFound: 5, locked: 6, failure: 8 } as const;

function cli(...args: string[]): Promise<Run> {
  return runCli(args);
}

/** Runs `verify <dir> --progress none [args]` and checks that it left every byte of `dir` as it was. */
async function verifyReadOnly(dir: string, ...args: string[]): Promise<Run> {
  const tree = snapshotTree(dir);
  const run = await cli('verify', dir, '--progress', 'none', ...args);
  assertSameTree(snapshotTree(dir), tree);
  return run;
}

/** The lines of `run`'s stdout that start with `tag`. */
function linesTagged(run: Run, tag: string): string[] {
  return run.stdout.split('\n').filter((line) => line.startsWith(tag));
}

/** Exactly one line on stderr, matching `pattern`. */
function assertOneErrorLine(run: Run, pattern: RegExp): void {
  const lines = run.stderr.split('\n').filter((line) => line.length > 0);
  assert.equal(lines.length, 1, run.stderr);
  assert.match(lines[0]!, pattern);
}

const USD: AssetDef = { id: 'USD', class: 'fiat', precision: 2, name: 'Dollar' };

function transfer(book: string, key: string, minor: bigint, balanced = true): Transaction {
  return {
    id: randomUUID(),
    book,
    postings: [
      { account: { book, path: 'cash' }, amount: { minor, asset: 'USD' }, direction: 'debit' },
      ...(balanced ? [{ account: { book, path: 'rev' }, amount: { minor, asset: 'USD' }, direction: 'credit' as const }] : []),
    ],
    idempotency_key: key,
    external_refs: [],
    metadata: { big: 2n ** 60n },
    occurred_at: new Date().toISOString(),
  };
}

/** Registers USD, opens `cash` and `rev` in `book`, commits `count` transfers. */
async function populate(store: LogStore, book: string, count: number, balanced = true): Promise<void> {
  await store.registerAsset(USD);
  await store.openAccount({ id: { book, path: 'cash' }, asset: 'USD', kind: 'asset' }, { normal_side: null, min_balance: null });
  await store.openAccount({ id: { book, path: 'rev' }, asset: 'USD', kind: 'income' }, { normal_side: null, min_balance: null });
  await commitTransfers(store, book, 0, count, balanced);
}

/** Commits transfers of 100 + index minor units with keys k<first> … k<first + count - 1>. */
async function commitTransfers(store: LogStore, book: string, first: number, count: number, balanced = true): Promise<void> {
  for (let index = first; index < first + count; index++) await store.commit(transfer(book, `k${index}`, 100n + BigInt(index), balanced));
}

// One healthy directory, written once; every test works on its own copy.
let template: string;
// A healthy directory whose book b also has snapshots and idempotency runs.
let cacheTemplate: string;
const copies: string[] = [];
const BOOK = 'b';
const EVENTS = 8; // seqs of book b: 2 account_opened + 6 transactions
// Book b of cacheTemplate: snapshots at seqs 8 and 14, 16 events in all.
const SNAPSHOT_SEQS = [8, 14];
const CACHE_EVENTS = 16;

function freshCopy(source = template): string {
  const dir = makeTempDir();
  copies.push(dir);
  copyDir(source, dir);
  return dir;
}

before(async () => {
  template = makeTempDir();
  // Small segments: book b spans several, each holding two or three frames.
  const store = await LogStore.open(template, { workers: 2, segmentMax: 600 });
  try {
    await populate(store, BOOK, EVENTS - 2);
  } finally {
    await store.close();
  }
  assert(segmentFiles(path.join(template, 'books', BOOK)).length >= 3, 'book b has sealed segments');

  // Two hot idempotency keys at most: the others are spilled to run files as commits go on.
  cacheTemplate = makeTempDir();
  const cached = await LogStore.open(cacheTemplate, { workers: 1, idemHotCap: 2, snapshotEvery: 0 });
  try {
    await populate(cached, BOOK, 6);
    await cached.snapshot(BOOK);
    await commitTransfers(cached, BOOK, 6, 6);
    await cached.snapshot(BOOK);
    await commitTransfers(cached, BOOK, 12, 2);
    assert.equal(cached.durableSeq(BOOK), CACHE_EVENTS);
  } finally {
    await cached.close();
  }
  assert.deepEqual(snapshotsOf(path.join(cacheTemplate, 'books', BOOK)).map(({ seq }) => seq), SNAPSHOT_SEQS);
  assert(runsOf(path.join(cacheTemplate, 'books', BOOK)).length >= 2, 'book b has idempotency runs');
});

after(() => {
  for (const dir of [template, cacheTemplate, ...copies]) removeTempDir(dir);
});

/** The snapshot files of a book directory, oldest first. */
function snapshotsOf(bookDirectory: string): Array<{ file: string; seq: number }> {
  return fs
    .readdirSync(bookDirectory)
    .flatMap((name) => {
      const seq = parseSnapshotFileName(name);
      return seq === null ? [] : [{ file: path.join(bookDirectory, name), seq }];
    })
    .sort((left, right) => left.seq - right.seq);
}

/** The idempotency runs of a book directory in name order, with the intervals the engine reads from them. */
function runsOf(bookDirectory: string): Array<{ file: string; start: number; end: number; recordCount: number }> {
  return fs
    .readdirSync(bookDirectory)
    .sort()
    .flatMap((name) => {
      const number = parseRunFileName(name);
      if (number === null) return [];
      const file = path.join(bookDirectory, name);
      const { start, end, recordCount } = readRun(new RealFileSystem(), file, number).meta;
      return [{ file, start, end, recordCount }];
    });
}

/** Cuts the final (only) segment of book b cleanly after its first `frames` frames; returns the segment and its new length. */
function keepFrames(dir: string, frames: number): { file: string; lengthBytes: number } {
  const files = segmentFiles(bookDir(dir));
  assert.equal(files.length, 1);
  const file = files[0]!;
  const lengthBytes = frameOffsets(file)[frames]!;
  fs.truncateSync(file, lengthBytes);
  return { file, lengthBytes };
}

function bookDir(dir: string): string {
  return path.join(dir, 'books', BOOK);
}

describe('talea-log: help and arguments', () => {
  test('--help lists every command and the exit codes', async () => {
    const run = await cli('--help');
    assertExit(run, EXIT.ok);
    for (const command of ['verify', 'inspect', 'dump', 'stats', 'snapshot', 'pg-import', 'pg-export', 'pg-compare', 'pg-verify', 'pg-migrate']) assert.match(run.stdout, new RegExp(`^  ${command} `, 'm'));
    assert.match(run.stdout, /Exit codes:/);
    assert.match(run.stdout, /^ {2}3 {2}verify: no corruption, but open would repair/m);
  });

  test('each command has its own --help', async () => {
    for (const command of ['verify', 'inspect', 'dump', 'stats', 'snapshot', 'pg-import', 'pg-export', 'pg-compare', 'pg-verify', 'pg-migrate']) {
      const run = await cli(command, '--help');
      assertExit(run, EXIT.ok);
      assert.match(run.stdout, new RegExp(`^Usage: talea-log ${command} `), command);
      assert.match(run.stdout, /Exit codes:/, command);
      const viaHelp = await cli('help', command);
      assert.equal(viaHelp.stdout, run.stdout);
    }
  });

  test('no command prints the usage to stderr and exits 2', async () => {
    const run = await cli();
    assertExit(run, EXIT.usage);
    assert.match(run.stderr, /^Usage: talea-log <command>/);
  });

  test('bad arguments: one clear line, exit 2', async () => {
    const dir = freshCopy();
    const cases: Array<[string[], RegExp]> = [
      [['frob'], /^talea-log: unknown command "frob"; commands: verify, inspect, dump, stats, snapshot/],
      [['verify'], /^talea-log verify: missing <dir>; usage: talea-log verify <dir>/],
      [['verify', dir, 'extra'], /^talea-log verify: unexpected argument "extra"/],
      [['verify', dir, '--bogus'], /^talea-log verify: unknown option --bogus/],
      [['verify', dir, '--progress', 'loud'], /^talea-log verify: --progress must be one of auto, bar, lines, none, got "loud"/],
      [['verify', dir, '--threads', '0'], /^talea-log verify: --threads must be an integer from 1 to 256, got "0"/],
      [['dump', dir], /^talea-log dump: missing <book>/],
      [['dump', dir, BOOK, '--from', '0'], /^talea-log dump: --from must be an integer >= 1, got "0"/],
      [['dump', dir, BOOK, '--limit', '-1'], /^talea-log dump: Option '--limit' argument is ambiguous \(see talea-log dump --help\)$/],
      [['dump', dir, BOOK, '--limit=-1'], /^talea-log dump: --limit must be an integer >= 0, got "-1"$/],
      [['dump', dir, BOOK, '--format', 'xml'], /^talea-log dump: --format must be one of ndjson, json, got "xml"/],
      [['dump', dir, 'a/b'], /^talea-log dump: invalid book name "a\/b"/],
      [['snapshot', dir], /^talea-log snapshot: missing <book>/],
    ];
    for (const [args, pattern] of cases) {
      const run = await cli(...args);
      assertExit(run, EXIT.usage);
      assertOneErrorLine(run, pattern);
      assert.equal(run.stdout, '', args.join(' '));
    }
  });

  test('a missing directory, a directory that is not a data directory, a missing book: exit 5', async () => {
    const dir = freshCopy();
    const missing = path.join(dir, 'nowhere');
    for (const command of ['verify', 'inspect', 'stats']) {
      const run = await cli(command, missing);
      assertExit(run, EXIT.notFound);
      assertOneErrorLine(run, new RegExp(`^talea-log ${command}: no such directory: ${re(missing)}$`));
    }
    const notData = await cli('verify', path.join(dir, 'books'));
    assertExit(notData, EXIT.notFound);
    assertOneErrorLine(notData, /not a talea-log data directory \(it has no books\/ folder\)/);
    for (const args of [['dump', dir, 'zz'], ['stats', dir, 'zz'], ['inspect', dir, 'zz'], ['snapshot', dir, 'zz']]) {
      const run = await cli(...args);
      assertExit(run, EXIT.notFound);
      assertOneErrorLine(run, new RegExp(`^talea-log ${args[0]}: no book zz in ${re(dir)}$`));
    }
    assert.equal(fs.existsSync(missing), false, 'nothing was created');
  });
});

describe('talea-log on a healthy directory', () => {
  test('verify: every book checked, exit 0, nothing changed', async () => {
    const dir = freshCopy();
    fs.rmSync(path.join(dir, 'LOCK')); // verify must not create it either
    const run = await verifyReadOnly(dir);
    assertExit(run, EXIT.ok);
    assert.equal(run.stderr, '');
    assert.match(run.stdout, /^verify .* \(read-only; the write lock is not taken\)$/m);
    assert.match(run.stdout, /^lock: not held$/m);
    assert.match(run.stdout, new RegExp(`^book ${BOOK}: \\d+ segments, .*, seqs 1\\.\\.${EVENTS}, last at \\d{4}-.*Z; trial balance USD balanced$`, 'm'));
    assert.match(run.stdout, /^book _system: 1 segment, .*, seqs 1\.\.1, .*; no postings$/m);
    assert.match(run.stdout, /^verify: OK \(2 books, \d+ segments, .*, 9 events\)$/m);
  });

  test('verify: no progress when stderr is not a terminal; plain lines or a bar when asked, each ending its line', async () => {
    const dir = freshCopy();
    const tree = snapshotTree(dir);
    const quiet = await cli('verify', dir);
    assertExit(quiet, EXIT.ok);
    assert.equal(quiet.stderr, '');
    const lines = await cli('verify', dir, '--progress', 'lines');
    assertExit(lines, EXIT.ok);
    assert.match(lines.stderr, /^verify: frames 100% .*B\/s, [\d,]+ events\/s$/m);
    assert.match(lines.stderr, /^verify: replay 100% .*B\/s, [\d,]+ events\/s$/m);
    assert.doesNotMatch(lines.stderr, /\r/);
    assert.ok(lines.stderr.endsWith('\n'), 'the last progress line ends with a newline');
    const bar = await cli('verify', dir, '--progress', 'bar');
    assertExit(bar, EXIT.ok);
    assert.match(bar.stderr, /\r\x1b\[2Kverify frames \[#+\] 100%/);
    assert.match(bar.stderr, /events\/s/);
    assert.ok(bar.stderr.endsWith('\n'), 'the bar leaves the cursor on a fresh line');
    assert.equal(bar.stdout, quiet.stdout);
    assert.equal(lines.stdout, quiet.stdout);
    assertSameTree(snapshotTree(dir), tree);
  });

  test('inspect: books, segments with sizes and seq ranges, last seq and commit time', async () => {
    const dir = freshCopy();
    const run = await cli('inspect', dir);
    assertExit(run, EXIT.ok);
    assert.match(run.stdout, /^2 books$/m);
    const segments = segmentFiles(bookDir(dir));
    assert.match(run.stdout, new RegExp(`^book ${BOOK}: ${segments.length} segments, .*, last seq ${EVENTS}, last at \\d{4}-.*Z$`, 'm'));
    for (const [index, file] of segments.entries()) {
      const size = re(formatBytes(fs.statSync(file).size));
      const role = index === segments.length - 1 ? 'final' : 'sealed \\(seq range from file names\\)';
      assert.match(run.stdout, new RegExp(`^  ${path.basename(file)} +${size}  seq \\d+\\.\\.\\d+  ${role}$`, 'm'));
    }
    const json = await cli('inspect', dir, BOOK, '--json');
    assertExit(json, EXIT.ok);
    const document = JSON.parse(json.stdout) as { books: Array<{ book: string; lastSeq: number; files: Array<{ kind: string }> }> };
    assert.equal(document.books.length, 1);
    assert.equal(document.books[0]!.book, BOOK);
    assert.equal(document.books[0]!.lastSeq, EVENTS);
    assert.equal(document.books[0]!.files.filter((file) => file.kind === 'segment').length, segments.length);
  });

  test('dump: every event as one JSON line, exact integers; --from, --limit, --format json', async () => {
    const dir = freshCopy();
    const run = await cli('dump', dir, BOOK);
    assertExit(run, EXIT.ok);
    assert.equal(run.stderr, '');
    const lines = run.stdout.trimEnd().split('\n');
    assert.equal(lines.length, EVENTS);
    lines.forEach((line, index) => assert.match(line, new RegExp(`^\\{"seq":${index + 1},"at":"\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{6}Z","event":\\{"kind":"`)));
    assert.match(lines[2]!, /"kind":"transaction_posted"/);
    assert.match(lines[2]!, /"metadata":\{"big":1152921504606846976\}/); // 2^60, not rounded
    const window = await cli('dump', dir, BOOK, '--from', '4', '--limit', '3');
    assertExit(window, EXIT.ok);
    assert.deepEqual(window.stdout.trimEnd().split('\n'), lines.slice(3, 6));
    const json = await cli('dump', dir, BOOK, '--format', 'json', '--limit', '2');
    assertExit(json, EXIT.ok);
    const events = JSON.parse(json.stdout) as Array<{ seq: number }>;
    assert.deepEqual(events.map((event) => event.seq), [1, 2]);
    const none = await cli('dump', dir, BOOK, '--format', 'json', '--from', String(EVENTS + 1));
    assertExit(none, EXIT.ok);
    assert.equal(none.stdout, '[]\n');
  });

  test('stats: accounts, transactions, postings and the trial balance', async () => {
    const dir = freshCopy();
    const run = await cli('stats', dir);
    assertExit(run, EXIT.ok);
    assert.match(run.stdout, /^book _system: seqs 1\.\.1, .*; 0 accounts, 0 transactions, 0 postings$/m);
    assert.match(run.stdout, /^ {2}assets registered: USD$/m);
    assert.match(run.stdout, new RegExp(`^book ${BOOK}: seqs 1\\.\\.${EVENTS}, .*; 2 accounts, 6 transactions, 12 postings$`, 'm'));
    assert.match(run.stdout, /^ {4}USD +615 +615 {2}balanced$/m); // 100 + 101 + … + 105
    const json = await cli('stats', dir, BOOK, '--json');
    assertExit(json, EXIT.ok);
    const document = JSON.parse(json.stdout) as { books: Array<{ trialBalance: Array<{ asset: string; debits: number; credits: number }> }> };
    assert.deepEqual(document.books[0]!.trialBalance, [{ asset: 'USD', debits: 615, credits: 615 }]);
  });

  test('snapshot: writes a durable snapshot of the book and names it (exit 0); verify and open then use it', async () => {
    const dir = freshCopy();
    const run = await cli('snapshot', dir, BOOK);
    assertExit(run, EXIT.ok);
    assert.equal(run.stderr, '');
    const file = path.join(bookDir(dir), `snapshot-${String(EVENTS).padStart(20, '0')}.tsnap`);
    assert.equal(run.stdout, `snapshot of book ${BOOK} at seq ${EVENTS} written: ${file}\n`);
    assert.deepEqual(snapshotsOf(bookDir(dir)), [{ file, seq: EVENTS }]);
    const verify = await verifyReadOnly(dir);
    assertExit(verify, EXIT.ok);
    assert.match(verify.stdout, new RegExp(`^book ${BOOK}: .*, seqs 1\\.\\.${EVENTS}, .*; 1 snapshot \\(open loads seq ${EVENTS}\\); trial balance USD balanced$`, 'm'));
    // The lock was released: a store opens the directory, from the snapshot, with nothing to warn about.
    const warnings: LogStoreWarning[] = [];
    const store = await LogStore.open(dir, { workers: 1, onWarning: (warning) => warnings.push(warning) });
    try {
      assert.deepEqual(warnings, []);
      assert.equal(store.durableSeq(BOOK), EVENTS);
    } finally {
      await store.close();
    }
  });

  test('snapshot: a snapshot that cannot be written is exit 8 with the error line of the engine', async () => {
    const dir = freshCopy();
    // A non-empty directory where the snapshot file must go: the rename into place fails.
    const target = path.join(bookDir(dir), `snapshot-${String(EVENTS).padStart(20, '0')}.tsnap`);
    fs.mkdirSync(path.join(target, 'occupied'), { recursive: true });
    const run = await cli('snapshot', dir, BOOK);
    assertExit(run, EXIT.failure);
    assert.equal(run.stdout, '');
    const lines = run.stderr.trimEnd().split('\n');
    assert.match(lines.at(-1)!, new RegExp(`^talea-log snapshot: IO: snapshot of book ${BOOK} could not be written`));
    for (const line of lines.slice(0, -1)) assert.match(line, /^talea-log snapshot: warning: /);
    assert.deepEqual(fs.readdirSync(target), ['occupied']);
  });

  test('snapshot of an empty book: says so, writes nothing, exit 0', async () => {
    const dir = freshCopy();
    fs.mkdirSync(path.join(dir, 'books', 'empty'));
    const run = await cli('snapshot', dir, 'empty');
    assertExit(run, EXIT.ok);
    assert.equal(run.stdout, 'book empty is empty: there is nothing to snapshot, and no file was written\n');
    assert.deepEqual(fs.readdirSync(path.join(dir, 'books', 'empty')), []);
  });
});

describe('talea-log on a locked directory', () => {
  test('snapshot refuses with the lock message (exit 6); verify, inspect and stats still read it', async () => {
    const dir = freshCopy();
    const store = await LogStore.open(dir, { workers: 1 });
    try {
      const snapshot = await cli('snapshot', dir, BOOK);
      assertExit(snapshot, EXIT.locked);
      assertOneErrorLine(snapshot, new RegExp(`^talea-log snapshot: IO: data dir already locked by another process: ${re(dir)}$`));
      assert.equal(snapshot.stdout, '');
      assert.deepEqual(snapshotsOf(bookDir(dir)), [], 'no snapshot was written');
      const verify = await verifyReadOnly(dir);
      assertExit(verify, EXIT.ok);
      assert.match(verify.stdout, new RegExp(`^lock: held by process ${process.pid}: a store has the directory open`, 'm'));
      assert.match(verify.stdout, /^verify: OK /m);
      const inspect = await cli('inspect', dir);
      assertExit(inspect, EXIT.ok);
      assert.match(inspect.stdout, new RegExp(`^lock: held by process ${process.pid}$`, 'm'));
      assertExit(await cli('stats', dir), EXIT.ok);
      // The store is unaffected: it still writes.
      await store.commit(transfer(BOOK, 'while-verified', 1n));
    } finally {
      await store.close();
    }
  });
});

describe('talea-log on a torn tail', () => {
  test('verify reports what open would truncate (exit 3) and changes nothing; open then repairs it', async () => {
    const dir = freshCopy();
    const final = segmentFiles(bookDir(dir)).at(-1)!;
    const length = fs.statSync(final).size;
    fs.appendFileSync(final, Buffer.from([0x40, 0, 0, 0, 1, 2, 3])); // a frame header claiming 64 bytes, cut short
    const tree = snapshotTree(dir);
    const run = await verifyReadOnly(dir);
    assertExit(run, EXIT.repairable);
    assert.match(run.stdout, new RegExp(`^REPAIR: torn tail in final segment "${re(final)}" at offset ${length}: open would truncate 7 bytes \\(R2\\)$`, 'm'));
    assert.match(run.stdout, /^verify: REPAIRABLE: no corruption; open would repair 1 thing listed above/m);
    assertSameTree(snapshotTree(dir), tree);

    const inspect = await cli('inspect', dir, BOOK);
    assertExit(inspect, EXIT.ok);
    assert.match(inspect.stdout, new RegExp(`final, torn tail: 7 bytes at offset ${length} that open would truncate$`, 'm'));
    const dump = await cli('dump', dir, BOOK);
    assertExit(dump, EXIT.ok);
    assert.equal(dump.stdout.trimEnd().split('\n').length, EVENTS);
    assertOneErrorLine(dump, new RegExp(`^talea-log dump: note: stopped at a torn tail of 7 bytes in "${re(final)}" at offset ${length}; open would truncate it$`));
    const stats = await cli('stats', dir, BOOK);
    assertExit(stats, EXIT.ok);
    assert.match(stats.stdout, /^ {2}note: torn tail of 7 bytes in ".*" at offset \d+; open would truncate it/m);
    assertSameTree(snapshotTree(dir), tree);

    // What verify predicted is what open does.
    await (await LogStore.open(dir, { workers: 1, onWarning: () => undefined })).close();
    assert.equal(fs.statSync(final).size, length);
    assertExit(await verifyReadOnly(dir), EXIT.ok);
  });

  test('a leftover temporary file is also repairable (exit 3)', async () => {
    const dir = freshCopy();
    const leftover = path.join(bookDir(dir), 'snapshot-00000000000000000004.tsnap.tmp');
    fs.writeFileSync(leftover, 'half');
    const run = await verifyReadOnly(dir);
    assertExit(run, EXIT.repairable);
    assert.match(run.stdout, new RegExp(`^REPAIR: leftover temporary file "${re(leftover)}": open would remove it \\(R18\\)$`, 'm'));
  });
});

describe('talea-log on a corrupt sealed segment', () => {
  function damage(dir: string): { file: string; offset: number } {
    const file = segmentFiles(bookDir(dir))[0]!;
    const offset = frameOffsets(file)[1]!; // the second frame of the first (sealed) segment
    xorByte(file, offset + 20); // a payload byte: the CRC no longer matches
    return { file, offset };
  }

  test('verify names the file and offset (exit 1), as open does, and changes nothing', async () => {
    const dir = freshCopy();
    const { file, offset } = damage(dir);
    const run = await verifyReadOnly(dir);
    assertExit(run, EXIT.corrupt);
    const line = `CORRUPT: corrupt frame in sealed segment "${file}" at offset ${offset} (crc mismatch)`;
    assert.equal(run.stdout.split('\n').filter((candidate) => candidate.startsWith('CORRUPT:')).join('\n'), line);
    assert.match(run.stdout, /^verify: CORRUPT: open would refuse this directory; stopped at the first corruption/m);
    await assert.rejects(LogStore.open(dir, { workers: 1 }), (error) => {
      assertCorrupt(error, { book: BOOK, file, offset });
      assert.equal((error as Error).message, line);
      return true;
    });
  });

  test('verify --all reports every corruption; without it only the first', async () => {
    const dir = freshCopy();
    const first = damage(dir);
    const files = segmentFiles(bookDir(dir));
    const second = files[files.length - 2]!; // another sealed segment
    xorByte(second, 20);
    const all = await verifyReadOnly(dir, '--all');
    assertExit(all, EXIT.corrupt);
    const corrupt = all.stdout.split('\n').filter((line) => line.startsWith('CORRUPT:'));
    assert.deepEqual(corrupt, [
      `CORRUPT: corrupt frame in sealed segment "${first.file}" at offset ${first.offset} (crc mismatch)`,
      `CORRUPT: corrupt frame in sealed segment "${second}" at offset 0 (crc mismatch)`,
    ]);
    assert.match(all.stdout, /^verify: CORRUPT: open would refuse this directory; 2 corruptions found/m);
    const firstOnly = await verifyReadOnly(dir);
    assertExit(firstOnly, EXIT.corrupt);
    assert.deepEqual(firstOnly.stdout.split('\n').filter((line) => line.startsWith('CORRUPT:')), corrupt.slice(0, 1));
  });

  test('snapshot: open refuses the directory, so the command exits 1 with the CORRUPT line and changes nothing', async () => {
    const dir = freshCopy();
    const { file, offset } = damage(dir);
    const tree = snapshotTree(dir);
    const run = await cli('snapshot', dir, BOOK);
    assertExit(run, EXIT.corrupt);
    assertOneErrorLine(run, new RegExp(`^talea-log snapshot: CORRUPT: corrupt frame in sealed segment "${re(file)}" at offset ${offset} \\(crc mismatch\\)$`));
    assert.equal(run.stdout, '');
    assertSameTree(snapshotTree(dir), tree);
  });

  test('dump writes the events before the damage, then fails naming it; stats refuses the book', async () => {
    const dir = freshCopy();
    const { file, offset } = damage(dir);
    const dump = await cli('dump', dir, BOOK);
    assertExit(dump, EXIT.corrupt);
    assert.equal(dump.stdout.trimEnd().split('\n').length, 1); // seq 1 only
    assertOneErrorLine(dump, new RegExp(`^talea-log dump: CORRUPT: corrupt frame in sealed segment "${re(file)}" at offset ${offset} \\(crc mismatch\\)$`));
    const stats = await cli('stats', dir);
    assertExit(stats, EXIT.corrupt);
    assert.match(stats.stdout, new RegExp(`^book ${BOOK}: CORRUPT: corrupt frame in sealed segment "${re(file)}" at offset ${offset}`, 'm'));
    assert.match(stats.stdout, /^book _system: seqs 1\.\.1/m); // the other book is still shown
  });
});

describe('talea-log on snapshots and idempotency runs', () => {
  // Book b of cacheTemplate: 16 events, snapshots at seqs 8 and 14, runs spilled as commits went on.
  const [olderSeq, newestSeq] = SNAPSHOT_SEQS as [number, number];

  /** Opens `dir` as a store, checks book b's cash balance (100 + 101 + … + 113) and an idempotent retry, closes. */
  async function openAndCheck(dir: string): Promise<LogStoreWarning[]> {
    const warnings: LogStoreWarning[] = [];
    const store = await LogStore.open(dir, { workers: 1, idemHotCap: 2, snapshotEvery: 0, onWarning: (warning) => warnings.push(warning) });
    try {
      assert.equal(store.durableSeq(BOOK), CACHE_EVENTS);
      const cash = await store.balance({ book: BOOK, path: 'cash' });
      assert.equal(cash.amount.minor, 1491n);
      assert.equal(cash.updated_seq, CACHE_EVENTS);
      // k3 landed at seq 6 (after two account openings and k0 … k2); its key is in a run or the snapshot.
      await assert.rejects(store.commit(transfer(BOOK, 'k3', 1n)), (error) => isStoreError(error, 'IDEMPOTENCY_CONFLICT') && error.original.seq === 6);
      assert.equal(store.durableSeq(BOOK), CACHE_EVENTS);
    } finally {
      await store.close();
    }
    return warnings;
  }

  /**
   * R13, R17: verify reports `line` and nothing else as corruption (exit 1); open refuses with that
   * very message, naming the end of the log; inspect shows the line too, and `note` on the file.
   */
  async function assertRefusedAtLogEnd(dir: string, line: string, logEnd: { file: string; lengthBytes: number }, note: RegExp): Promise<void> {
    const verify = await verifyReadOnly(dir);
    assertExit(verify, EXIT.corrupt);
    assert.deepEqual(linesTagged(verify, 'CORRUPT:'), [line]);
    const tree = snapshotTree(dir);
    const inspect = await cli('inspect', dir, BOOK);
    assertExit(inspect, EXIT.corrupt);
    assert.match(inspect.stdout, note);
    assert.match(inspect.stdout, new RegExp(`^  ${re(line)}$`, 'm'));
    assertSameTree(snapshotTree(dir), tree);
    await assert.rejects(LogStore.open(dir, { workers: 1 }), (error) => {
      assertCorrupt(error, { book: BOOK, file: logEnd.file, offset: logEnd.lengthBytes });
      assert.equal((error as Error).message, line);
      return true;
    });
  }

  test('healthy: verify checks every snapshot and run (exit 0); inspect shows seqs, usability, intervals and record counts', async () => {
    const dir = freshCopy(cacheTemplate);
    const runs = runsOf(bookDir(dir));
    const verify = await verifyReadOnly(dir);
    assertExit(verify, EXIT.ok);
    assert.match(
      verify.stdout,
      new RegExp(`^book ${BOOK}: 1 segment, .*, seqs 1\\.\\.${CACHE_EVENTS}, .*; 2 snapshots \\(open loads seq ${newestSeq}\\); ${runs.length} idempotency runs; trial balance USD balanced$`, 'm'),
    );
    assert.deepEqual([...linesTagged(verify, 'REPAIR:'), ...linesTagged(verify, 'WARNING:'), ...linesTagged(verify, 'CORRUPT:')], []);
    assert.match(verify.stdout, /^verify: OK /m);

    const tree = snapshotTree(dir);
    const inspect = await cli('inspect', dir, BOOK);
    assertExit(inspect, EXIT.ok);
    for (const { file, seq } of snapshotsOf(bookDir(dir))) {
      assert.match(inspect.stdout, new RegExp(`^  ${re(path.basename(file))} +[\\d.]+ K?i?B  seq ${seq}  usable$`, 'm'));
    }
    for (const { file, start, end, recordCount } of runs) {
      const records = `${recordCount} record${recordCount === 1 ? '' : 's'}`;
      assert.match(inspect.stdout, new RegExp(`^  ${re(path.basename(file))} +[\\d.]+ K?i?B  seq ${start + 1}\\.\\.${end}  ${records}$`, 'm'));
    }
    const json = await cli('inspect', dir, BOOK, '--json');
    assertExit(json, EXIT.ok);
    const document = JSON.parse(json.stdout) as { books: Array<{ files: Array<{ kind: string; seqFirst: number | null; seqLast: number | null; usable: boolean | null; records: number | null }> }> };
    const files = document.books[0]!.files;
    assert.deepEqual(
      files.filter((file) => file.kind === 'snapshot').map(({ seqLast, usable }) => ({ seqLast, usable })),
      SNAPSHOT_SEQS.map((seq) => ({ seqLast: seq, usable: true })),
    );
    assert.deepEqual(
      files.filter((file) => file.kind === 'run').map(({ seqFirst, seqLast, records, usable }) => ({ seqFirst, seqLast, records, usable })),
      runs.map(({ start, end, recordCount }) => ({ seqFirst: start + 1, seqLast: end, records: recordCount, usable: true })),
    );
    assertSameTree(snapshotTree(dir), tree);
  });

  test('R12: a corrupt newest snapshot: verify exits 3 naming it; open still works, skipping it', async () => {
    const dir = freshCopy(cacheTemplate);
    const snapshot = snapshotsOf(bookDir(dir)).at(-1)!;
    assert.equal(snapshot.seq, newestSeq);
    xorByte(snapshot.file, 40); // a payload byte: the whole-file CRC no longer matches
    const verify = await verifyReadOnly(dir);
    assertExit(verify, EXIT.repairable);
    assert.deepEqual(linesTagged(verify, 'REPAIR:'), [`REPAIR: snapshot "${snapshot.file}" fails its CRC; open would skip it (R12)`]);
    assert.match(verify.stdout, new RegExp(`^book ${BOOK}: .*; 2 snapshots \\(open loads seq ${olderSeq}\\); `, 'm'));
    assert.match(verify.stdout, /^verify: REPAIRABLE: no corruption; open would repair 1 thing listed above/m);

    const tree = snapshotTree(dir);
    const inspect = await cli('inspect', dir, BOOK);
    assertExit(inspect, EXIT.ok); // a cache open can do without: not corruption
    assert.match(inspect.stdout, new RegExp(`^  ${re(path.basename(snapshot.file))} +.*  seq ${newestSeq}  unusable: fails its CRC$`, 'm'));
    assertSameTree(snapshotTree(dir), tree);

    const warnings = await openAndCheck(dir);
    assert.deepEqual(
      warnings.filter((warning) => warning.code === 'SNAPSHOT_UNUSABLE').map((warning) => warning.file),
      [snapshot.file],
    );
  });

  test('a corrupt older snapshot, which open never reads: a warning, exit 0', async () => {
    const dir = freshCopy(cacheTemplate);
    const [older, newest] = snapshotsOf(bookDir(dir)) as [{ file: string; seq: number }, { file: string; seq: number }];
    xorByte(older.file, 40);
    const verify = await verifyReadOnly(dir);
    assertExit(verify, EXIT.ok);
    assert.deepEqual(linesTagged(verify, 'WARNING:'), [
      `WARNING: snapshot "${older.file}" fails its CRC; open does not read it, as it loads the newer snapshot "${newest.file}"`,
    ]);
    assert.deepEqual(linesTagged(verify, 'REPAIR:'), []);
    const inspect = await cli('inspect', dir, BOOK);
    assertExit(inspect, EXIT.ok);
    assert.match(inspect.stdout, new RegExp(`  seq ${older.seq}  unusable: fails its CRC$`, 'm'));
  });

  test('R13: a snapshot beyond the end of the log: verify exits 1 naming the end of the log, as open does', async () => {
    const dir = freshCopy(cacheTemplate);
    const snapshot = snapshotsOf(bookDir(dir)).at(-1)!;
    const logEnd = keepFrames(dir, newestSeq - 2); // the log lost its last acknowledged events
    const line = `CORRUPT: snapshot "${snapshot.file}" covers seq ${newestSeq} but the log of book ${BOOK} ends at seq ${newestSeq - 2}`;
    await assertRefusedAtLogEnd(dir, line, logEnd, new RegExp(`  seq ${newestSeq}  beyond the end of the log: open would refuse \\(R13\\)$`, 'm'));
  });

  test('R16: an invalid idempotency run: verify exits 3 naming it; open rebuilds from the log, and verify is then clean', async () => {
    const dir = freshCopy(cacheTemplate);
    const run = runsOf(bookDir(dir))[0]!;
    xorByte(run.file, 40);
    const verify = await verifyReadOnly(dir);
    assertExit(verify, EXIT.repairable);
    const repairs = linesTagged(verify, 'REPAIR:');
    assert(repairs.includes(`REPAIR: idempotency run "${run.file}" fails its CRC; open would delete it and rebuild its keys from the log (R16)`), verify.stdout);
    assert.deepEqual(linesTagged(verify, 'CORRUPT:'), []);
    assert.match(verify.stdout, /^verify: REPAIRABLE: no corruption; open would repair \d+ things? listed above/m);

    const tree = snapshotTree(dir);
    const inspect = await cli('inspect', dir, BOOK);
    assertExit(inspect, EXIT.ok);
    assert.match(inspect.stdout, new RegExp(`^  ${re(path.basename(run.file))} +.*  seq -  invalid: fails its CRC$`, 'm'));
    assertSameTree(snapshotTree(dir), tree);

    const warnings = await openAndCheck(dir);
    assert(warnings.some((warning) => warning.code === 'RUN_INVALID' && warning.file === run.file));
    assert.equal(fs.existsSync(run.file), false, 'open deleted the invalid run');
    const after = await verifyReadOnly(dir);
    assertExit(after, EXIT.ok);
  });

  test('R17: a valid idempotency run beyond the end of the log: verify exits 1 naming the end of the log, as open does', async () => {
    const dir = freshCopy(cacheTemplate);
    for (const { file } of snapshotsOf(bookDir(dir))) fs.rmSync(file); // without snapshots R13 cannot speak first
    const last = runsOf(bookDir(dir)).reduce((highest, run) => (run.end > highest.end ? run : highest));
    const logEnd = keepFrames(dir, last.end - 1);
    const line = `CORRUPT: idempotency run "${last.file}" covers seq ${last.end} but the log of book ${BOOK} ends at seq ${last.end - 1}`;
    const note = new RegExp(`  seq ${last.start + 1}\\.\\.${last.end}  ${last.recordCount} records?; beyond the end of the log: open would refuse \\(R17\\)$`, 'm');
    await assertRefusedAtLogEnd(dir, line, logEnd, note);
  });

  test('files that are not snapshots or runs at all, under their names: open would skip or delete them (exit 3)', async () => {
    const dir = freshCopy();
    const snapshot = path.join(bookDir(dir), 'snapshot-00000000000000000004.tsnap');
    const run = path.join(bookDir(dir), 'idem-000000.trun');
    fs.writeFileSync(snapshot, 'not a snapshot at all');
    fs.writeFileSync(run, 'nor a run');
    const verify = await verifyReadOnly(dir);
    assertExit(verify, EXIT.repairable);
    assert.deepEqual(linesTagged(verify, 'REPAIR:'), [
      `REPAIR: snapshot "${snapshot}" is 21 bytes long, shorter than 36; open would skip it (R12)`,
      `REPAIR: idempotency run "${run}" is too short; open would delete it and rebuild its keys from the log (R16)`,
    ]);
    assert.match(verify.stdout, new RegExp(`^book ${BOOK}: .*; 1 snapshot \\(none usable\\); 1 idempotency run \\(0 usable\\); trial balance USD balanced$`, 'm'));
    const tree = snapshotTree(dir);
    const inspect = await cli('inspect', dir, BOOK);
    assertExit(inspect, EXIT.ok);
    assert.match(inspect.stdout, /^ {2}snapshot-00000000000000000004\.tsnap +21 B {2}seq 4 {2}unusable: is 21 bytes long, shorter than 36$/m);
    assert.match(inspect.stdout, /^ {2}idem-000000\.trun +9 B {2}seq - {2}invalid: is too short$/m);
    assertSameTree(snapshotTree(dir), tree);
  });

  test("another store's files under the names it shares with this package: open leaves them alone, verify only warns (exit 0)", async () => {
    const dir = freshCopy();
    // As the Rust store writes them: a CRC, then JSON; never this package's magic.
    const names = ['idem-000000.run', 'idem-000001.run.tmp', 'snapshot-00000000000000000004.snap'];
    for (const name of names) fs.writeFileSync(path.join(bookDir(dir), name), `\u0001\u0002\u0003\u0004{"rust":"${name}"}`);
    const tree = snapshotTree(dir);
    const verify = await verifyReadOnly(dir);
    assertExit(verify, EXIT.ok);
    assert.deepEqual(linesTagged(verify, 'REPAIR:'), []);
    assert.deepEqual(linesTagged(verify, 'WARNING:'), [
      `WARNING: book ${BOOK}: 3 files at snapshot or run names without this package's magic (written by another store, such as the Rust store) left alone and not read: ${names.join(', ')}`,
    ]);
    assert.match(verify.stdout, new RegExp(`^book ${BOOK}: .*, seqs 1\\.\\.${EVENTS}, [^;]*; trial balance USD balanced$`, 'm'));
    const inspect = await cli('inspect', dir, BOOK);
    assertExit(inspect, EXIT.ok);
    for (const name of names) assert.match(inspect.stdout, new RegExp(`^ {2}${re(name)} +\\d+ B {2}not this package's \\(no magic; another store's, such as the Rust store's\\): open leaves it alone$`, 'm'));
    assertSameTree(snapshotTree(dir), tree);
    // What verify predicted: open, a snapshot and a spill write files of their own and leave these alone.
    const store = await LogStore.open(dir, { workers: 1, idemHotCap: 1, onWarning: () => undefined });
    try {
      await store.commit(transfer(BOOK, 'beside-foreign-files', 1n));
      await store.snapshot(BOOK);
    } finally {
      await store.close();
    }
    for (const name of names) assert(fs.readFileSync(path.join(bookDir(dir), name)).equals(tree.get(path.join('books', BOOK, name))!), `${name} unchanged`);
    assert(snapshotsOf(bookDir(dir)).length > 0 && runsOf(bookDir(dir)).length > 0, 'the store wrote its own snapshot and runs');
  });
});

describe('talea-log on other damage and findings', () => {
  test('a bad frame in the final segment with an intact frame after it is corruption (R3), not a torn tail', async () => {
    const dir = makeTempDir();
    copies.push(dir);
    const store = await LogStore.open(dir, { workers: 1 }); // one segment per book
    await populate(store, BOOK, 2);
    await store.close();
    const file = segmentFiles(bookDir(dir))[0]!;
    xorByte(file, 20);
    const run = await verifyReadOnly(dir);
    assertExit(run, EXIT.corrupt);
    assert.match(run.stdout, new RegExp(`^CORRUPT: corrupt frame in final segment "${re(file)}" at offset 0 \\(crc mismatch\\); an intact frame follows at offset \\d+$`, 'm'));
    const inspect = await cli('inspect', dir, BOOK);
    assertExit(inspect, EXIT.corrupt);
    assert.match(inspect.stdout, /^ {2}CORRUPT: corrupt frame in final segment/m);
  });

  test('unbalanced transactions: the log is sound, but verify exits 4 naming them', async () => {
    const dir = makeTempDir();
    copies.push(dir);
    const store = await LogStore.open(dir, { workers: 1 });
    await populate(store, BOOK, 3, false); // the store contract allows unbalanced transactions
    await store.close();
    const run = await verifyReadOnly(dir);
    assertExit(run, EXIT.unbalanced);
    const file = segmentFiles(bookDir(dir))[0]!;
    assert.match(run.stdout, new RegExp(`^UNBALANCED: transaction [0-9a-f-]{36} at seq 3 in "${re(file)}" at offset \\d+ does not balance in USD: debits 100, credits 0$`, 'm'));
    assert.match(run.stdout, /^UNBALANCED: 2 more unbalanced transactions in book b \(--all lists them\)$/m);
    assert.match(run.stdout, /^UNBALANCED: trial balance of book b does not balance in USD: debits 303, credits 0$/m);
    const all = await verifyReadOnly(dir, '--all');
    assert.equal(all.stdout.split('\n').filter((line) => line.startsWith('UNBALANCED: transaction')).length, 3);
  });

  test('a book directory with an invalid name: open would refuse, so verify exits 1', async () => {
    const dir = freshCopy();
    fs.mkdirSync(path.join(dir, 'books', 'bad name'));
    const run = await verifyReadOnly(dir);
    assertExit(run, EXIT.corrupt);
    assert.match(run.stdout, /^INVALID_BOOK: book "bad name": must be/m);
  });
});

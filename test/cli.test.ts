/**
 * The operator CLI (`talea-log`, README "Operator CLI"), run as a child process exactly as an
 * operator runs it (node dist/src/cli/main.js), against real data directories written by LogStore
 * and then damaged by hand: healthy, torn tail, corrupt sealed segment, corrupt final segment,
 * unbalanced transactions, a fake snapshot file. Every test checks output and exit code; the
 * read-only commands are checked to leave every byte of the directory as it was.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { formatBytes } from '../src/cli/units.js';
import { LogStore } from '../src/log-store.js';
import type { AssetDef, Transaction } from '../src/types.js';
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

const CLI = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));

// The documented exit codes (src/cli/exit-codes.ts, README).
const EXIT = { ok: 0, corrupt: 1, usage: 2, repairable: 3, unbalanced: 4, notFound: 5, locked: 6, unsupported: 7 } as const;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function cli(...args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === 'number' ? error.code : -1;
      resolve({ code, stdout, stderr });
    });
  });
}

/** Asserts the exit code, showing both streams when it differs. */
function assertExit(run: Run, code: number): void {
  assert.equal(run.code, code, `exit ${run.code}, expected ${code}\n--- stdout\n${run.stdout}\n--- stderr\n${run.stderr}`);
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
  for (let index = 0; index < count; index++) await store.commit(transfer(book, `k${index}`, 100n + BigInt(index), balanced));
}

// One healthy directory, written once; every test works on its own copy.
let template: string;
const copies: string[] = [];
const BOOK = 'b';
const EVENTS = 8; // seqs of book b: 2 account_opened + 6 transactions

function freshCopy(): string {
  const dir = makeTempDir();
  copies.push(dir);
  copyDir(template, dir);
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
});

after(() => {
  for (const dir of [template, ...copies]) removeTempDir(dir);
});

function bookDir(dir: string): string {
  return path.join(dir, 'books', BOOK);
}

describe('talea-log: help and arguments', () => {
  test('--help lists every command and the exit codes', async () => {
    const run = await cli('--help');
    assertExit(run, EXIT.ok);
    for (const command of ['verify', 'inspect', 'dump', 'stats', 'snapshot']) assert.match(run.stdout, new RegExp(`^  ${command} `, 'm'));
    assert.match(run.stdout, /Exit codes:/);
    assert.match(run.stdout, /^ {2}3 {2}verify: no corruption, but open would repair/m);
  });

  test('each command has its own --help', async () => {
    for (const command of ['verify', 'inspect', 'dump', 'stats', 'snapshot']) {
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
    const tree = snapshotTree(dir);
    const run = await cli('verify', dir, '--progress', 'none');
    assertExit(run, EXIT.ok);
    assert.equal(run.stderr, '');
    assert.match(run.stdout, /^verify .* \(read-only; the write lock is not taken\)$/m);
    assert.match(run.stdout, /^lock: not held$/m);
    assert.match(run.stdout, new RegExp(`^book ${BOOK}: \\d+ segments, .*, seqs 1\\.\\.${EVENTS}, last at \\d{4}-.*Z; trial balance USD balanced$`, 'm'));
    assert.match(run.stdout, /^book _system: 1 segment, .*, seqs 1\.\.1, .*; no postings$/m);
    assert.match(run.stdout, /^verify: OK \(2 books, \d+ segments, .*, 9 events\)$/m);
    assertSameTree(snapshotTree(dir), tree);
  });

  test('verify: plain progress lines on stderr when it is not a terminal; a bar when asked', async () => {
    const dir = freshCopy();
    const lines = await cli('verify', dir);
    assertExit(lines, EXIT.ok);
    assert.match(lines.stderr, /^verify: frames 100% .*B\/s, [\d,]+ events\/s$/m);
    assert.match(lines.stderr, /^verify: replay 100% .*B\/s, [\d,]+ events\/s$/m);
    assert.doesNotMatch(lines.stderr, /\r/);
    const bar = await cli('verify', dir, '--progress', 'bar');
    assertExit(bar, EXIT.ok);
    assert.match(bar.stderr, /\r\x1b\[2Kverify frames \[#+\] 100%/);
    assert.match(bar.stderr, /events\/s/);
    assert.equal(bar.stdout, lines.stdout);
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

  test('snapshot: takes the write lock, then says it is not supported yet (exit 7) and writes nothing', async () => {
    const dir = freshCopy();
    const tree = snapshotTree(dir);
    const run = await cli('snapshot', dir, BOOK);
    assertExit(run, EXIT.unsupported);
    assertOneErrorLine(run, /^talea-log snapshot: not supported yet: .*nothing was written for book b$/);
    assert.equal(run.stdout, '');
    assertSameTree(snapshotTree(dir), tree);
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
      const verify = await cli('verify', dir, '--progress', 'none');
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
    const run = await cli('verify', dir, '--progress', 'none');
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
    assertExit(await cli('verify', dir, '--progress', 'none'), EXIT.ok);
  });

  test('a leftover temporary file is also repairable (exit 3)', async () => {
    const dir = freshCopy();
    const leftover = path.join(bookDir(dir), 'snapshot-00000000000000000004.snap.tmp');
    fs.writeFileSync(leftover, 'half');
    const run = await cli('verify', dir, '--progress', 'none');
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
    const tree = snapshotTree(dir);
    const run = await cli('verify', dir, '--progress', 'none');
    assertExit(run, EXIT.corrupt);
    const line = `CORRUPT: corrupt frame in sealed segment "${file}" at offset ${offset} (crc mismatch)`;
    assert.equal(run.stdout.split('\n').filter((candidate) => candidate.startsWith('CORRUPT:')).join('\n'), line);
    assert.match(run.stdout, /^verify: CORRUPT: open would refuse this directory; stopped at the first corruption/m);
    assertSameTree(snapshotTree(dir), tree);
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
    const all = await cli('verify', dir, '--all', '--progress', 'none');
    assertExit(all, EXIT.corrupt);
    const corrupt = all.stdout.split('\n').filter((line) => line.startsWith('CORRUPT:'));
    assert.deepEqual(corrupt, [
      `CORRUPT: corrupt frame in sealed segment "${first.file}" at offset ${first.offset} (crc mismatch)`,
      `CORRUPT: corrupt frame in sealed segment "${second}" at offset 0 (crc mismatch)`,
    ]);
    assert.match(all.stdout, /^verify: CORRUPT: open would refuse this directory; 2 corruptions found/m);
    const firstOnly = await cli('verify', dir, '--progress', 'none');
    assertExit(firstOnly, EXIT.corrupt);
    assert.deepEqual(firstOnly.stdout.split('\n').filter((line) => line.startsWith('CORRUPT:')), corrupt.slice(0, 1));
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

describe('talea-log on other damage and findings', () => {
  test('a bad frame in the final segment with an intact frame after it is corruption (R3), not a torn tail', async () => {
    const dir = makeTempDir();
    copies.push(dir);
    const store = await LogStore.open(dir, { workers: 1 }); // one segment per book
    await populate(store, BOOK, 2);
    await store.close();
    const file = segmentFiles(bookDir(dir))[0]!;
    xorByte(file, 20);
    const run = await cli('verify', dir, '--progress', 'none');
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
    const run = await cli('verify', dir, '--progress', 'none');
    assertExit(run, EXIT.unbalanced);
    const file = segmentFiles(bookDir(dir))[0]!;
    assert.match(run.stdout, new RegExp(`^UNBALANCED: transaction [0-9a-f-]{36} at seq 3 in "${re(file)}" at offset \\d+ does not balance in USD: debits 100, credits 0$`, 'm'));
    assert.match(run.stdout, /^UNBALANCED: 2 more unbalanced transactions in book b \(--all lists them\)$/m);
    assert.match(run.stdout, /^UNBALANCED: trial balance of book b does not balance in USD: debits 303, credits 0$/m);
    const all = await cli('verify', dir, '--all', '--progress', 'none');
    assert.equal(all.stdout.split('\n').filter((line) => line.startsWith('UNBALANCED: transaction')).length, 3);
  });

  test('snapshot and idempotency-run files are listed as not checked, never as checked', async () => {
    const dir = freshCopy();
    const snapshot = path.join(bookDir(dir), 'snapshot-00000000000000000004.snap');
    const run = path.join(bookDir(dir), 'idem-000000.run');
    fs.writeFileSync(snapshot, 'not a snapshot at all');
    fs.writeFileSync(run, 'nor a run');
    const tree = snapshotTree(dir);
    const verify = await cli('verify', dir, '--progress', 'none');
    assertExit(verify, EXIT.ok);
    assert.match(verify.stdout, new RegExp(`^SKIPPED: snapshot "${re(snapshot)}": not checked \\(format not implemented yet\\)$`, 'm'));
    assert.match(verify.stdout, new RegExp(`^SKIPPED: idempotency run "${re(run)}": not checked \\(format not implemented yet\\)$`, 'm'));
    assert.match(verify.stdout, /^verify: OK \(.*\); 2 files not checked$/m);
    const inspect = await cli('inspect', dir, BOOK);
    assertExit(inspect, EXIT.ok);
    assert.match(inspect.stdout, /^ {2}snapshot-00000000000000000004\.snap +\d+ B {2}not checked \(format not implemented yet\)$/m);
    assert.match(inspect.stdout, /^ {2}idem-000000\.run +\d+ B {2}not checked \(format not implemented yet\)$/m);
    assertSameTree(snapshotTree(dir), tree);
  });

  test('a book directory with an invalid name: open would refuse, so verify exits 1', async () => {
    const dir = freshCopy();
    fs.mkdirSync(path.join(dir, 'books', 'bad name'));
    const run = await cli('verify', dir, '--progress', 'none');
    assertExit(run, EXIT.corrupt);
    assert.match(run.stdout, /^INVALID_BOOK: book "bad name": must be/m);
  });
});

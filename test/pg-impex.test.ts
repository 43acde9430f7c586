/**
 * PG-IMPEX (spec/postgres-store.md 5.2-5.4): `talea-log pg-import`, `pg-export` and `pg-compare`
 * between LogStore data directories and PgStore schemas, run as child processes exactly as an
 * operator runs them, on a real PostgreSQL (TALEA_PG_URL, or a cluster this file starts).
 *
 * - A directory from a seeded random workload (amounts beyond 2^53, metadata with odd keys and
 *   bigints, four books, three assets, idempotency keys with retries, several segments) is
 *   imported, compared, exported to a new directory with other segment boundaries: verify passes,
 *   the frames equal the original's one by one, the event JSON in PostgreSQL is the frames' event
 *   bytes, and LogStore on the export answers every read as PgStore does.
 * - Refusals: a non-empty export target (2), a held lock (6), a corrupt log (1), a torn tail (3),
 *   a txid in two books and U+0000 in a key (1, naming the offender), an import into a schema that
 *   holds books (2); a tampered balance and event are found by pg-compare (1, naming them); an
 *   import interrupted after some batches is finished by --resume.
 * - The Rust store's directories (fixtures/rust-written): `at` with 3 fractional digits imports,
 *   compares and exports; a double-posted log is refused, a torn one is repairable.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';

import { encodeEvent } from '../src/core/event-codec.js';
import type { Store } from '../src/core/store.js';
import type { AccountCfg, AccountId, AccountKind, AssetDef, JsonValue, Posting, Transaction } from '../src/core/types.js';
import { LogStore } from '../src/log/log-store.js';
import { importLogDirToPg } from '../src/postgres/pg-impex.js';
import { PgStore } from '../src/postgres/index.js';
import { freshDatabase, pgServer, queryOnce } from './support/pg-server.js';
import { copyDir, eventFrame, makeTempDir, readFrames, removeTempDir, segmentFiles, splitPayload, xorByte } from './support/segment-files.js';
import { mulberry32 } from './support/prng.js';
import { assertExit, runCli, type Run } from './support/cli-run.js';

const RUST_FIXTURES = '/work/shared/fixtures/rust-written';
const EXIT = { ok: 0, corrupt: 1, usage: 2, repairable: 3, locked: 6 } as const;

const server = await pgServer();
const database = await freshDatabase(server.url, 'talea_impex');
const URL_ = database.url;
const temp = makeTempDir();
after(async () => {
  removeTempDir(temp);
  await database.drop();
  await server.stop();
});

function cli(args: string[], env: Record<string, string> = {}): Promise<Run> {
  return runCli(args, { TALEA_PG_URL: URL_, ...env });
}

function query(text: string, values: unknown[] = []): Promise<pg.QueryResult> {
  return queryOnce(URL_, text, values);
}

async function bookCount(schema: string): Promise<number> {
  const exists = (await query('SELECT to_regclass($1) IS NOT NULL AS ok', [`"${schema}".books`])).rows[0].ok as boolean;
  return exists ? Number((await query(`SELECT count(*) AS n FROM "${schema}".books`)).rows[0].n) : 0;
}

// --- the workload -----------------------------------------------------------------------------------

const BOOKS = ['alpha', 'Beta', 'c.d-e_f'];
const ASSETS: AssetDef[] = [
  { id: 'USD', class: 'fiat', precision: 2, name: 'Dollar' },
  { id: 'BTC', class: { crypto: { network: 'bitcoin', native_id: null } }, precision: 8, name: 'Bitcoin' },
  { id: 'pts µ"q"', class: { crypto: { network: 'points', native_id: 'x\\y' } }, precision: 0, name: 'Points \u00fc\t' },
];
const ACCOUNTS: Array<{ path: string; asset: string; kind: AccountKind; cfg: AccountCfg }> = [
  { path: 'cash', asset: 'USD', kind: 'asset', cfg: { normal_side: 'debit', min_balance: null } },
  { path: 'rev', asset: 'USD', kind: 'income', cfg: { normal_side: 'credit', min_balance: null } },
  { path: 'a:b', asset: 'USD', kind: 'liability', cfg: { normal_side: null, min_balance: null } },
  { path: 'ü/x', asset: 'BTC', kind: 'asset', cfg: { normal_side: null, min_balance: null } },
  { path: 'btc hot wallet', asset: 'BTC', kind: 'equity', cfg: { normal_side: 'credit', min_balance: null } },
  { path: 'x y z', asset: 'pts µ"q"', kind: 'expense', cfg: { normal_side: null, min_balance: null } },
  { path: 'w', asset: 'pts µ"q"', kind: 'clearing', cfg: { normal_side: null, min_balance: null } },
];

function metadataOf(random: () => number, index: number): JsonValue {
  switch (index % 5) {
    case 0:
      return null;
    case 1:
      return { '': 1, 'a"b': [2n ** 63n - 1n, -(2n ** 63n)], '\\': 'back\\slash', 'ü\n\t': { nested: [null, true, 1.5] } };
    case 2:
      return { '\u0001ctl': 2n ** 64n - 1n, constructor: 'not a function', '1e3': -(2n ** 53n) - 1n, 'é\u0301': '\u2028\u2029' };
    case 3:
      return [Math.floor(random() * 1000), 'x', { z: 2n ** 53n + 1n, a: [] }];
    default:
      return { order: { z: 1, a: 2, m: 3 }, emoji: '\u{1F600}', big: 123456789012345678901234567890n };
  }
}

/**
 * Writes the workload into `dir` with small segments; returns every txid committed. Retries of a
 * committed transaction (same key, same content) append nothing; a conflicting one is refused.
 */
async function writeWorkload(dir: string, seed: number, transactions: number): Promise<string[]> {
  const random = mulberry32(seed);
  const store = await LogStore.open(dir, { workers: 1, segmentMax: 16 * 1024 });
  const txids: string[] = [];
  try {
    for (const asset of ASSETS) await store.registerAsset(asset);
    for (const book of BOOKS) {
      for (const account of ACCOUNTS) await store.openAccount({ id: { book, path: account.path }, asset: account.asset, kind: account.kind }, account.cfg);
    }
    let huge = 0;
    const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
    const transfer = (book: string, asset: string, minor: bigint): Posting[] => {
      const paths = ACCOUNTS.filter((account) => account.asset === asset).map((account) => account.path);
      const from = pick(paths);
      const to = pick(paths.filter((candidate) => candidate !== from));
      return [
        { account: { book, path: from }, amount: { minor, asset }, direction: 'debit' },
        { account: { book, path: to }, amount: { minor, asset }, direction: 'credit' },
      ];
    };
    const amount = (): bigint => {
      const roll = random();
      if (roll < 0.02 && huge < 3) {
        huge++;
        return 2n ** 60n + BigInt(Math.floor(random() * 1e6));
      }
      if (roll < 0.3) return 2n ** 53n + BigInt(Math.floor(random() * 1e6));
      return BigInt(1 + Math.floor(random() * 100_000));
    };
    let pending: Array<Promise<unknown>> = [];
    for (let index = 0; index < transactions; index++) {
      const book = pick(BOOKS);
      const postings = transfer(book, pick(ASSETS).id, amount());
      if (random() < 0.25) postings.push(...transfer(book, 'BTC', amount()));
      const tx: Transaction = {
        id: randomUUID(),
        book,
        postings,
        idempotency_key: `key ${index} ü "${book}"`,
        external_refs: random() < 0.5 ? [{ kind: 'invoice', value: `INV-${index}` }] : [],
        metadata: metadataOf(random, index),
        occurred_at: index % 7 === 0 ? '2026-01-02T05:04:10.5+02:00' : '2026-12-03T10:00:00Z',
      };
      txids.push(tx.id);
      // Some commits go together, so several events share one `at`.
      pending.push(store.commit(tx));
      if (index % 10 === 0) pending.push(store.commit({ ...tx, postings: tx.postings.map((posting) => ({ ...posting })) })); // retry: nothing appended
      if (index % 23 === 0) pending.push(store.commit({ ...tx, id: randomUUID(), metadata: 'other' }).catch((error: Error) => assert.match(error.message, /IDEMPOTENCY_CONFLICT/)));
      if (pending.length >= 4 || random() < 0.5) {
        await Promise.all(pending);
        pending = [];
      }
    }
    await Promise.all(pending);
  } finally {
    await store.close();
  }
  return txids;
}

/** Every frame payload of a book, in seq order, across its segments. */
function payloads(dir: string, book: string): string[] {
  return segmentFiles(path.join(dir, 'books', book)).flatMap((file) => readFrames(file).map((frame) => frame.payload));
}

function books(dir: string): string[] {
  return fs.readdirSync(path.join(dir, 'books')).sort();
}

/** Every read of the contract, over every book, account, txid and asset, now and at some `at`s. */
async function readsOf(store: Store, dir: string, txids: readonly string[]): Promise<unknown> {
  const answers: Record<string, unknown> = {};
  const settle = async (name: string, call: () => Promise<unknown>): Promise<void> => {
    try {
      answers[name] = await call();
    } catch (error) {
      answers[name] = { error: (error as Error).message };
    }
  };
  for (const book of books(dir)) {
    const events = await store.readEvents(book, 1, 100_000);
    answers[`events ${book}`] = events;
    await settle(`trial ${book}`, () => store.trialBalance(book));
    const ats = [events[Math.floor(events.length / 3)]?.at, events[Math.floor((2 * events.length) / 3)]?.at].filter((at) => at !== undefined);
    for (const at of ats) await settle(`trial ${book} at ${at}`, () => store.trialBalance(book, at));
    const paths = new Set(events.flatMap(({ event }) => (event.kind === 'account_opened' ? [event.def.id.path] : [])));
    for (const accountPath of paths) {
      const id: AccountId = { book, path: accountPath };
      await settle(`balance ${book}/${accountPath}`, () => store.balance(id));
      for (const at of ats) await settle(`balance ${book}/${accountPath} at ${at}`, () => store.balance(id, at));
      await settle(`history ${book}/${accountPath}`, () => store.accountHistory(id, null, 1000));
      await settle(`history ${book}/${accountPath} after 20`, () => store.accountHistory(id, 20, 3));
    }
  }
  for (const txid of txids) await settle(`transaction ${txid}`, () => store.transaction(txid));
  for (const id of ['USD', 'BTC', 'pts µ"q"', 'nope']) await settle(`asset ${id}`, () => store.asset(id));
  return answers;
}

/** Appends a frame for `event JSON` to a book's final segment, at the book's next seq and last `at`. */
function appendEvent(dir: string, book: string, eventJson: (last: Transaction) => string): void {
  const files = segmentFiles(path.join(dir, 'books', book));
  const all = files.flatMap((file) => readFrames(file));
  const last = splitPayload(all[all.length - 1]!.payload);
  const lastTx = [...all].reverse().map((frame) => JSON.parse(splitPayload(frame.payload).eventJson) as Record<string, unknown>).find((event) => event.kind === 'transaction_posted');
  assert.ok(lastTx !== undefined);
  const { kind: _kind, ...tx } = lastTx;
  fs.appendFileSync(files[files.length - 1]!, eventFrame(last.seq + 1, last.at, eventJson(tx as unknown as Transaction)));
}

// --- the tests --------------------------------------------------------------------------------------

describe('PG-IMPEX: a LogStore directory through PostgreSQL and back', () => {
  const original = path.join(temp, 'original');
  let txids: string[] = [];

  before(async () => {
    txids = await writeWorkload(original, 20261203, 260);
  });

  test('import, compare, export: verify passes, frames equal one by one, reads agree', async () => {
    const schema = 'impex_main';
    const imported = await cli(['pg-import', original, '--schema', schema]);
    assertExit(imported, EXIT.ok);
    assert.match(imported.stdout, /pg-import: compare: identical \(4 books, /);
    assert.match(imported.stdout, /^book _system: 3 events, seqs 1\.\.3 imported$/m);
    assertExit(await cli(['pg-compare', original, '--url', URL_, '--schema', schema], { TALEA_PG_URL: '' }), EXIT.ok);

    // 5.1: event_json is the frames' event part, byte for byte.
    for (const book of books(original)) {
      const rows = (await query(`SELECT seq, event_json FROM "${schema}".events WHERE book = $1 ORDER BY seq`, [book])).rows as Array<{ seq: string; event_json: string }>;
      const logged = payloads(original, book).map((payload) => splitPayload(payload));
      assert.equal(rows.length, logged.length, book);
      for (const [index, row] of rows.entries()) {
        assert.equal(Number(row.seq), logged[index]!.seq);
        assert.equal(Buffer.compare(Buffer.from(row.event_json, 'utf8'), Buffer.from(logged[index]!.eventJson, 'utf8')), 0, `${book} seq ${row.seq}`);
      }
    }

    const exported = path.join(temp, 'exported');
    const run = await cli(['pg-export', exported, '--schema', schema], { TALEA_LOG_SEGMENT_MAX: '9000' });
    assertExit(run, EXIT.ok);
    assert.match(run.stdout, /pg-export: compare: identical \(4 books, /);
    assert.deepEqual(fs.readdirSync(temp).filter((name) => name.includes('.tmp-')), []);
    assertExit(await cli(['verify', exported, '--progress', 'none']), EXIT.ok);
    for (const book of books(original)) {
      assert.deepEqual(payloads(exported, book), payloads(original, book), `frames of ${book}`);
    }
    // Other segment boundaries than the original's: the frames are equal, not the files.
    assert.notDeepEqual(
      segmentFiles(path.join(exported, 'books', 'alpha')).map((file) => path.basename(file)),
      segmentFiles(path.join(original, 'books', 'alpha')).map((file) => path.basename(file)),
    );

    const logStore = await LogStore.open(exported, { workers: 1 });
    const pgStore = await PgStore.open({ url: URL_, schema, writeConnections: 1, readConnections: 2 });
    try {
      const fromLog = await readsOf(logStore, exported, txids);
      const fromPg = await readsOf(pgStore, exported, txids);
      assert.deepEqual(fromPg, fromLog);
      const failed = Object.entries(fromLog as Record<string, unknown>).filter(([, answer]) => typeof answer === 'object' && answer !== null && 'error' in answer);
      assert.deepEqual(failed, []);
      // The workload is what it claims: amounts beyond 2^53, metadata bigints, retries folded.
      const events = (fromLog as Record<string, Array<{ event: { kind: string; postings?: Posting[]; metadata?: JsonValue } }>>)['events alpha']!;
      assert.ok(events.some(({ event }) => event.postings?.some((posting) => posting.amount.minor > 2n ** 53n)));
      assert.ok(events.some(({ event }) => JSON.stringify(event.metadata ?? null, (_key, value: unknown) => (typeof value === 'bigint' ? `${value}n` : value)).includes('18446744073709551615n')));
    } finally {
      await logStore.close();
      await pgStore.close();
    }

    // Export of some books: those and _system.
    const some = path.join(temp, 'some');
    const partial = await cli(['pg-export', some, '--schema', schema, '--books', 'Beta']);
    assertExit(partial, EXIT.ok);
    assert.deepEqual(books(some), ['Beta', '_system']);
    assertExit(await cli(['verify', some, '--progress', 'none']), EXIT.ok);
    assertExit(await cli(['pg-compare', some, '--schema', schema, '--books', 'Beta,_system']), EXIT.ok);
    const unknown = await cli(['pg-export', path.join(temp, 'none'), '--schema', schema, '--books', 'nope']);
    assertExit(unknown, EXIT.usage);
    assert.match(unknown.stderr, /no book nope in schema impex_main/);
    const unknownCompared = await cli(['pg-compare', some, '--schema', schema, '--books', 'Beta,nope']);
    assertExit(unknownCompared, EXIT.usage);
    assert.match(unknownCompared.stderr, /no book nope in the log or in schema impex_main/);
    // A schema that does not exist is not found.
    assertExit(await cli(['pg-compare', some, '--schema', 'no_such_schema']), 5);
  });

  test('export refuses a non-empty directory (exit 2) and leaves it alone', async () => {
    const schema = 'impex_target';
    await importLogDirToPg({ url: URL_, schema, dir: original });
    const target = path.join(temp, 'occupied');
    fs.mkdirSync(target);
    fs.writeFileSync(path.join(target, 'note.txt'), 'mine');
    const run = await cli(['pg-export', target, '--schema', schema]);
    assertExit(run, EXIT.usage);
    assert.match(run.stderr, /^talea-log pg-export: .*occupied exists and is not an empty directory/);
    assert.deepEqual(fs.readdirSync(target), ['note.txt']);
    assert.deepEqual(fs.readdirSync(temp).filter((name) => name.includes('.tmp-')), []);
    // An empty directory is fine.
    const empty = path.join(temp, 'empty');
    fs.mkdirSync(empty);
    assertExit(await cli(['pg-export', empty, '--schema', schema]), EXIT.ok);
    assert.deepEqual(books(empty), books(original));
    // An import into a schema that holds books is refused without --resume.
    const again = await cli(['pg-import', original, '--schema', schema]);
    assertExit(again, EXIT.usage);
    assert.match(again.stderr, /schema impex_target already holds 4 books/);
  });

  test('import refuses a directory whose lock is held (exit 6), writing nothing', async () => {
    const dir = path.join(temp, 'locked');
    copyDir(original, dir);
    const holder = await LogStore.open(dir, { workers: 1 });
    try {
      const run = await cli(['pg-import', dir, '--schema', 'impex_locked']);
      assertExit(run, EXIT.locked);
      assert.match(run.stderr, /already locked by another process/);
    } finally {
      await holder.close();
    }
    assert.equal(await bookCount('impex_locked'), 0);
  });

  test('import refuses a corrupt log (exit 1) and a torn tail (exit 3), writing nothing', async () => {
    const corrupt = path.join(temp, 'corrupt');
    copyDir(original, corrupt);
    const sealed = segmentFiles(path.join(corrupt, 'books', 'alpha'))[0]!;
    xorByte(sealed, readFrames(sealed)[3]!.offset + 20);
    const run = await cli(['pg-import', corrupt, '--schema', 'impex_corrupt']);
    assertExit(run, EXIT.corrupt);
    assert.match(run.stderr, /corrupt frame in sealed segment ".*alpha\/segment-0+1\.log" at offset \d+ \(crc mismatch\)/);
    assert.equal(await bookCount('impex_corrupt'), 0);

    const torn = path.join(temp, 'torn');
    copyDir(original, torn);
    const final = segmentFiles(path.join(torn, 'books', 'Beta')).at(-1)!;
    fs.appendFileSync(final, Buffer.from([9, 0, 0]));
    const tornRun = await cli(['pg-import', torn, '--schema', 'impex_corrupt']);
    assertExit(tornRun, EXIT.repairable);
    assert.match(tornRun.stderr, /book Beta: open would repair the directory first .*torn tail/);
    assert.equal(await bookCount('impex_corrupt'), 0);
  });

  test('import refuses a txid in two books, U+0000 in a key and an account opened twice (exit 1), naming the first', async () => {
    const betaTxid = (JSON.parse(splitPayload(payloads(original, 'Beta').at(-1)!).eventJson) as { id: string }).id;
    const shared = path.join(temp, 'shared-txid');
    copyDir(original, shared);
    appendEvent(shared, 'alpha', (tx) => encodeEvent({ kind: 'transaction_posted', ...tx, id: betaTxid, idempotency_key: 'crafted' }));
    const lastAlpha = payloads(shared, 'alpha').length;
    const run = await cli(['pg-import', shared, '--schema', 'impex_refused']);
    assertExit(run, EXIT.corrupt);
    assert.equal(run.stderr.trim(), `talea-log pg-import: txid ${betaTxid} is in two books: Beta and alpha (seq ${lastAlpha}); PostgreSQL holds each txid once`);
    assert.equal(await bookCount('impex_refused'), 0);

    const nul = path.join(temp, 'nul');
    copyDir(original, nul);
    appendEvent(nul, 'c.d-e_f', (tx) => encodeEvent({ kind: 'transaction_posted', ...tx, id: randomUUID(), idempotency_key: 'nul\u0000key' }));
    const nulRun = await cli(['pg-import', nul, '--schema', 'impex_refused']);
    assertExit(nulRun, EXIT.corrupt);
    assert.match(nulRun.stderr, /book c\.d-e_f seq \d+: the idempotency key "nul\\u0000key" holds U\+0000/);
    assert.equal(await bookCount('impex_refused'), 0);

    // An account opened twice: LogStore replays it with a warning, PostgreSQL cannot hold it.
    const twice = path.join(temp, 'opened-twice');
    copyDir(original, twice);
    appendEvent(twice, 'alpha', () =>
      encodeEvent({ kind: 'account_opened', def: { id: { book: 'alpha', path: 'cash' }, asset: 'USD', kind: 'asset' }, cfg: { normal_side: 'debit', min_balance: null } }),
    );
    const twiceRun = await cli(['pg-import', twice, '--schema', 'impex_refused']);
    assertExit(twiceRun, EXIT.corrupt);
    assert.match(twiceRun.stderr, /book alpha: account .*cash.* opened again at seq \d+: PostgreSQL holds each asset and account once/);
    assert.equal(await bookCount('impex_refused'), 0);
  });

  test('pg-compare finds a tampered balance and a tampered event (exit 1), naming them', async () => {
    const schema = 'impex_tamper';
    const result = await importLogDirToPg({ url: URL_, schema, dir: original });
    assert.equal(result.compare.identical, true);
    await query(`UPDATE "${schema}".accounts SET raw = raw + 1 WHERE book = 'alpha' AND path = 'cash'`);
    const seq = Number(
      (await query(`SELECT min(seq) AS seq FROM "${schema}".events WHERE book = 'Beta' AND event_json LIKE '%INV-%'`)).rows[0].seq,
    );
    await query(`UPDATE "${schema}".events SET event_json = replace(event_json, 'INV-', 'INX-') WHERE book = 'Beta' AND seq = $1`, [seq]);
    const run = await cli(['pg-compare', original, '--schema', schema]);
    assertExit(run, EXIT.corrupt);
    assert.match(run.stdout, /^DIFFERENT: account alpha\/"cash": balance differs \(log -?\d+ USD updated at seq \d+, PostgreSQL -?\d+ USD updated at seq \d+\)$/m);
    assert.match(run.stdout, new RegExp(`^DIFFERENT: book Beta seq ${seq}: event JSON differs at character \\d+ \\(log ".*INV-.*", PostgreSQL ".*INX-.*"\\)$`, 'm'));
    assert.match(run.stdout, /^pg-compare: compare: 2 differences between the log and PostgreSQL$/m);
    // A missing event shows as a head and a seq difference.
    await query(`DELETE FROM "${schema}".events WHERE book = 'c.d-e_f' AND seq = (SELECT max(seq) FROM "${schema}".events WHERE book = 'c.d-e_f')`);
    const again = await cli(['pg-compare', original, '--schema', schema, '--books', 'c.d-e_f']);
    assertExit(again, EXIT.corrupt);
    assert.match(again.stdout, /^DIFFERENT: book c\.d-e_f seq \d+: in the log, not in PostgreSQL$/m);
  });

  test('an interrupted import is finished by --resume', async () => {
    const schema = 'impex_resume';
    await assert.rejects(
      importLogDirToPg({
        url: URL_,
        schema,
        dir: original,
        batchEvents: 25,
        onBatch: (book, lastSeq) => {
          if (book === 'alpha' && lastSeq >= 50) throw new Error('interrupted');
        },
      }),
      /interrupted/,
    );
    const heads = new Map((await query(`SELECT name, last_seq FROM "${schema}".books`)).rows.map((row: { name: string; last_seq: string }) => [row.name, Number(row.last_seq)]));
    assert.equal(heads.get('alpha'), 50);
    assert.equal(heads.has('c.d-e_f'), false);
    assertExit(await cli(['pg-import', original, '--schema', schema]), EXIT.usage);
    const run = await cli(['pg-import', original, '--schema', schema, '--resume']);
    assertExit(run, EXIT.ok);
    assert.match(run.stdout, /^book alpha: \d+ events, seqs 51\.\.\d+ imported \(seqs 1\.\.50 were there already\)$/m);
    assert.match(run.stdout, /compare: identical/);
    for (const book of books(original)) {
      const count = Number((await query(`SELECT count(*) AS n FROM "${schema}".events WHERE book = $1`, [book])).rows[0].n);
      assert.equal(count, payloads(original, book).length, book);
    }
    // A schema whose book is not a prefix of the log is refused.
    await query(`UPDATE "${schema}".events SET event_json = event_json || ' ' WHERE book = 'alpha' AND seq = 7`);
    const refused = await cli(['pg-import', original, '--schema', schema, '--resume']);
    assertExit(refused, EXIT.corrupt);
    assert.match(refused.stderr, /cannot resume: book alpha in the schema is not a prefix of the log: seq 7 differs/);
  });
});

describe('PG-IMPEX: directories written by the Rust store', () => {
  test('plain and segments: `at` with 3 fractional digits imports, compares and exports', async () => {
    let shortAts = 0;
    for (const name of ['plain', 'segments']) {
      const dir = path.join(temp, `rust-${name}`);
      copyDir(path.join(RUST_FIXTURES, name), dir);
      const schema = `rust_${name}`;
      const run = await cli(['pg-import', dir, '--schema', schema]);
      assertExit(run, EXIT.ok);
      assert.match(run.stdout, /compare: identical \(3 books, 210 events\)/);
      const exported = path.join(temp, `rust-${name}-exported`);
      assertExit(await cli(['pg-export', exported, '--schema', schema]), EXIT.ok);
      assertExit(await cli(['verify', exported, '--progress', 'none']), EXIT.ok);
      for (const book of books(dir)) {
        const before = payloads(dir, book).map(splitPayload);
        const afterExport = payloads(exported, book).map(splitPayload);
        assert.equal(afterExport.length, before.length);
        for (const [index, frame] of before.entries()) {
          assert.equal(afterExport[index]!.eventJson, frame.eventJson, `${book} seq ${frame.seq}`);
          assert.equal(Date.parse(afterExport[index]!.at), Date.parse(frame.at));
          assert.equal(afterExport[index]!.at.length, 27);
          if (frame.at.length !== 27) {
            shortAts++;
            assert.equal(afterExport[index]!.at, frame.at.replace(/Z$/, '000Z'));
          }
        }
      }
      // The Rust store's own reading of `plain` (plain.read.json) is what PgStore answers.
      if (name === 'plain') {
        type Expected = Record<string, { accounts: Array<{ path: string; asset: string; balance_minor: string; updated_seq: number }>; trial_balance: Array<{ asset: string; debits: string; credits: string }> }>;
        const expected = (JSON.parse(fs.readFileSync(path.join(RUST_FIXTURES, 'plain.read.json'), 'utf8')) as { books: Expected }).books;
        const store = await PgStore.open({ url: URL_, schema, writeConnections: 1, readConnections: 1 });
        const logStore = await LogStore.open(dir, { workers: 1 });
        try {
          assert.deepEqual(await readsOf(store, dir, []), await readsOf(logStore, dir, []));
          for (const [book, read] of Object.entries(expected)) {
            for (const account of read.accounts) {
              assert.deepEqual(await store.balance({ book, path: account.path }), { amount: { minor: BigInt(account.balance_minor), asset: account.asset }, updated_seq: account.updated_seq });
            }
            const trial = read.trial_balance.map((row) => ({ asset: row.asset, debits: BigInt(row.debits), credits: BigInt(row.credits) }));
            assert.deepEqual(await store.trialBalance(book), trial);
          }
        } finally {
          await store.close();
          await logStore.close();
        }
      }
    }
    assert.ok(shortAts > 0, 'the fixtures have Rust-style `at` values');
  });

  test('an event the store would refuse aborts the import (exit 1), leaving that book out', async () => {
    // alpha's `a:b` has min_balance 0 (debit-normal): a credit beyond its balance breaks it. The
    // log's replay does not check minimums (they were checked at commit), PgStore's validation does.
    const dir = path.join(temp, 'rust-overdrawn');
    copyDir(path.join(RUST_FIXTURES, 'plain'), dir);
    appendEvent(dir, 'alpha', (tx) =>
      encodeEvent({
        kind: 'transaction_posted',
        ...tx,
        id: randomUUID(),
        idempotency_key: 'overdraw',
        postings: [
          { account: { book: 'alpha', path: 'ü/x' }, amount: { minor: 2n ** 62n, asset: 'USD' }, direction: 'debit' },
          { account: { book: 'alpha', path: 'a:b' }, amount: { minor: 2n ** 62n, asset: 'USD' }, direction: 'credit' },
        ],
      }),
    );
    const run = await cli(['pg-import', dir, '--schema', 'rust_overdrawn']);
    assertExit(run, EXIT.corrupt);
    assert.match(run.stderr, /import refused: event 105 of book alpha fails validation: .*a:b/);
    // _system and the batch before went in; alpha's batch did not.
    const heads = (await query('SELECT name, last_seq FROM rust_overdrawn.books ORDER BY name')).rows as Array<{ name: string; last_seq: string }>;
    assert.deepEqual(heads.map((row) => [row.name, Number(row.last_seq)]), [['_system', 2]]);
  });

  test('a double-posted log is refused (exit 1); a torn one would be repaired (exit 3); foreign runs are left alone', async () => {
    const cases: Array<[string, number, RegExp]> = [
      ['double-posted', EXIT.corrupt, /repeated transaction in book alpha: seq 105 .* repeats the txid 00000000-0000-4000-8000-000000000001/],
      ['torn-tail', EXIT.repairable, /book alpha: open would repair the directory first .*torn tail .* open would truncate 802 bytes/],
      ['snapshot-and-runs', EXIT.ok, /^$/],
    ];
    for (const [name, code, stderr] of cases) {
      const dir = path.join(temp, `rust-${name}`);
      copyDir(path.join(RUST_FIXTURES, name), dir);
      const schema = `rust_${name.replaceAll('-', '_')}`;
      const run = await cli(['pg-import', dir, '--schema', schema]);
      assertExit(run, code);
      assert.match(run.stderr, stderr);
      if (code !== EXIT.ok) assert.equal(await bookCount(schema), 0);
    }
  });
});

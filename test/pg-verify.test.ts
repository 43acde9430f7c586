/**
 * PG-VERIFY (spec/postgres-store.md 5.4; src/postgres/pg-verify.ts): `talea-log pg-verify` run as a
 * child process, as an operator runs it, on a real PostgreSQL (TALEA_PG_URL, or a cluster this file
 * starts).
 *
 * - A schema written by PgStore through a varied workload (four books with `_system`, three assets,
 *   debit-, credit-normal and unsided accounts, minimums, a refused commit, an idempotent retry, a
 *   batch with a failing draft, amounts beyond 2^53, trial-balance sums saturating at i64 max)
 *   verifies clean (exit 0), also while a store keeps writing (PV1: one snapshot).
 * - Each kind of damage, made by hand with SQL on a copy of that schema, exits 1 and is named by
 *   its table, book and seq or key: a seq gap, a head that disagrees, an `at` going backwards, an
 *   account balance changed, a missing posting, an extra transaction row, a trial-balance sum
 *   changed, an event JSON that does not decode, rows of a book whose head row is gone.
 * - `--books` limits the check; an unknown book is exit 2, a missing schema exit 5.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';

import { StoreError } from '../src/core/errors.js';
import type { AccountCfg, AccountKind, Transaction } from '../src/core/types.js';
import { I64_MAX } from '../src/core/types.js';
import { PgStore } from '../src/postgres/index.js';
import { verifyPgSchema } from '../src/postgres/pg-verify.js';
import { freshDatabase, pgServer, queryOnce } from './support/pg-server.js';
import { assertExit, runCli, type Run } from './support/cli-run.js';

const EXIT = { ok: 0, corrupt: 1, usage: 2, notFound: 5 } as const;
const BASE = 'verify_base';
const TABLES = ['schema_migrations', 'books', 'events', 'assets', 'accounts', 'transactions', 'postings', 'book_assets'] as const;

const server = await pgServer();
const database = await freshDatabase(server.url, 'talea_verify');
after(async () => {
  await database.drop();
  await server.stop();
});

function cli(args: string[]): Promise<Run> {
  return runCli(args, { TALEA_PG_URL: database.url });
}

function query(text: string, values: unknown[] = []): Promise<pg.QueryResult> {
  return queryOnce(database.url, text, values);
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** A copy of the base schema, rows and all, to damage by hand. */
async function copyOfBase(schema: string): Promise<void> {
  const statements = [`DROP SCHEMA IF EXISTS "${schema}" CASCADE`, `CREATE SCHEMA "${schema}"`];
  for (const table of TABLES) {
    statements.push(`CREATE TABLE "${schema}".${table} (LIKE "${BASE}".${table} INCLUDING ALL)`);
    statements.push(`INSERT INTO "${schema}".${table} SELECT * FROM "${BASE}".${table}`);
  }
  // guard() is not a table: the flush of a store writing into the copy needs it (pg-flush.ts V3).
  const guard = String((await query(`SELECT pg_get_functiondef('"${BASE}".guard(boolean, text)'::regprocedure) AS sql`)).rows[0].sql);
  assert.ok(guard.includes(`${BASE}.guard(`));
  statements.push(guard.replace(`${BASE}.guard(`, `"${schema}".guard(`));
  await query(statements.join(';\n'));
}

// --- the workload -----------------------------------------------------------------------------------

const BOOKS = ['alpha', 'Beta', 'g.a-m_ma'];
const ACCOUNTS: Array<{ path: string; asset: string; kind: AccountKind; cfg: AccountCfg }> = [
  { path: 'cash', asset: 'USD', kind: 'asset', cfg: { normal_side: 'debit', min_balance: 0n } },
  { path: 'equity', asset: 'USD', kind: 'equity', cfg: { normal_side: 'credit', min_balance: null } },
  { path: 'fees "µ"', asset: 'USD', kind: 'income', cfg: { normal_side: 'credit', min_balance: -5n } },
  { path: 'a:b', asset: 'USD', kind: 'clearing', cfg: { normal_side: null, min_balance: null } },
  { path: 'hot', asset: 'BTC', kind: 'asset', cfg: { normal_side: null, min_balance: null } },
  { path: 'cold', asset: 'BTC', kind: 'liability', cfg: { normal_side: null, min_balance: null } },
  { path: 'never posted', asset: 'PTS', kind: 'expense', cfg: { normal_side: 'debit', min_balance: 10n } },
];

let txCount = 0;

function txid(): string {
  return `00000000-0000-4000-8000-${String(++txCount).padStart(12, '0')}`;
}

function tx(book: string, key: string, legs: Array<[path: string, direction: 'debit' | 'credit', minor: bigint]>, asset = 'USD', id = txid()): Transaction {
  return {
    id,
    book,
    postings: legs.map(([path, direction, minor]) => ({ account: { book, path }, amount: { minor, asset }, direction })),
    idempotency_key: key,
    external_refs: [{ kind: 'invoice', value: key }],
    metadata: { key, big: 2n ** 64n },
    occurred_at: '2026-12-03T10:00:00Z',
  };
}

async function refused(promise: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(promise, (error: unknown) => error instanceof StoreError && error.code === code);
}

async function writeWorkload(store: PgStore): Promise<void> {
  await store.registerAsset({ id: 'USD', class: 'fiat', precision: 2, name: 'US Dollar' });
  await store.registerAsset({ id: 'BTC', class: { crypto: { network: 'bitcoin', native_id: null } }, precision: 8, name: 'Bitcoin' });
  await store.registerAsset({ id: 'PTS', class: 'fiat', precision: 0, name: 'Points' });
  for (const book of BOOKS) {
    for (const account of ACCOUNTS) await store.openAccount({ id: { book, path: account.path }, asset: account.asset, kind: account.kind }, account.cfg);
  }
  for (const book of BOOKS) {
    const fund = tx(book, 'fund', [['equity', 'credit', 1_000_000n], ['cash', 'debit', 1_000_000n]]);
    const funded = await store.commit(fund);
    for (let index = 0; index < 6; index++) {
      // Three postings, two to one account: raw_after is the balance after the whole transaction.
      await store.commit(tx(book, `pay-${index}`, [['cash', 'credit', 700n + BigInt(index)], ['a:b', 'debit', 500n], ['a:b', 'debit', 200n + BigInt(index)]]));
      await store.commit(tx(book, `fee-${index}`, [['a:b', 'credit', 3n], ['fees "µ"', 'credit', 3n], ['cash', 'debit', 6n]]));
    }
    // Beyond 2^53, then i64 max twice: the BTC debit and credit sums saturate (book_assets).
    await store.commit(tx(book, 'big', [['hot', 'debit', 2n ** 53n + 7n], ['cold', 'credit', 2n ** 53n + 7n]], 'BTC'));
    await store.commit(tx(book, 'max-1', [['hot', 'credit', I64_MAX], ['cold', 'debit', I64_MAX]], 'BTC'));
    await store.commit(tx(book, 'max-2', [['hot', 'debit', I64_MAX], ['cold', 'credit', I64_MAX]], 'BTC'));
    // A minimum breached: refused, nothing appended. A retry of a committed key: nothing appended.
    await refused(store.commit(tx(book, 'overdraw', [['cash', 'credit', 10_000_000n], ['equity', 'debit', 10_000_000n]])), 'CONSTRAINT_VIOLATION');
    assert.deepEqual(await store.commit(structuredClone(fund)), funded);
    // A batch: one flush, one draft refused in the middle.
    const results = await store.commitBatch([
      tx(book, 'batch-1', [['cash', 'credit', 10n], ['equity', 'debit', 10n]]),
      tx(book, 'batch-2', [['cash', 'credit', 99_999_999n], ['equity', 'debit', 99_999_999n]]),
      tx(book, 'batch-3', [['fees "µ"', 'debit', 8n], ['a:b', 'credit', 8n]]),
    ]);
    assert.deepEqual(
      results.map((result) => result.ok),
      [true, false, true],
    );
  }
}

let baseEvents = 0;

before(async () => {
  const store = await PgStore.open({ url: database.url, schema: BASE, writeConnections: 2, readConnections: 1, onWarning: () => undefined });
  try {
    await writeWorkload(store);
  } finally {
    await store.close();
  }
  baseEvents = Number((await query(`SELECT count(*) AS n FROM "${BASE}".events`)).rows[0].n);
});

// --- the tests --------------------------------------------------------------------------------------

describe('pg-verify', () => {
  test('a schema written by PgStore verifies clean (exit 0)', async () => {
    const run = await cli(['pg-verify', '--schema', BASE]);
    assertExit(run, EXIT.ok);
    assert.equal(run.stdout, `pg-verify: OK (4 books, ${baseEvents} events, schema ${BASE})\n`);
    const result = await verifyPgSchema({ url: database.url, schema: BASE });
    assert.equal(result.clean, true);
    assert.equal(result.events, baseEvents);
    assert.deepEqual(
      result.books.map((book) => book.book),
      ['_system', 'Beta', 'alpha', 'g.a-m_ma'],
    );
    // The saturated trial-balance sums are what the check replays, not a finding.
    const btc = (await query(`SELECT debits, credits FROM "${BASE}".book_assets WHERE book = 'alpha' AND asset = 'BTC'`)).rows[0];
    assert.equal(BigInt(btc.debits), I64_MAX);
    assert.equal(BigInt(btc.credits), I64_MAX);
  });

  test('PV1: verifies clean while a store keeps writing (one snapshot)', async () => {
    const schema = 'verify_live';
    await copyOfBase(schema);
    const store = await PgStore.open({ url: database.url, schema, writeConnections: 2, readConnections: 1, onWarning: () => undefined });
    let writing = true;
    let commits = 0;
    const writer = (async () => {
      while (writing) {
        const book = BOOKS[commits % BOOKS.length]!;
        await store.commitBatch([
          tx(book, `live-${commits}-a`, [['cash', 'credit', 1n], ['a:b', 'debit', 1n]]),
          tx(book, `live-${commits}-b`, [['equity', 'credit', 2n], ['cash', 'debit', 2n]]),
        ]);
        commits++;
      }
    })();
    try {
      for (let round = 0; round < 2; round++) assertExit(await cli(['pg-verify', '--schema', schema]), EXIT.ok);
    } finally {
      writing = false;
      await writer;
      await store.close();
    }
    assert.ok(commits > 0);
    assertExit(await cli(['pg-verify', '--schema', schema]), EXIT.ok);
  });

  const seqOf = async (schema: string, book: string, where: string): Promise<number> =>
    Number((await query(`SELECT min(seq) AS seq FROM "${schema}".events WHERE book = $1 AND ${where}`, [book])).rows[0].seq);

  const DAMAGES: Array<{ name: string; damage: (schema: string) => Promise<RegExp> }> = [
    {
      name: 'a gap in seqs',
      async damage(schema) {
        const seq = await seqOf(schema, 'alpha', `event_json LIKE '%"pay-2"%'`);
        await query(`DELETE FROM "${schema}".events WHERE book = 'alpha' AND seq = $1`, [seq]);
        return new RegExp(`^FINDING: events book alpha seq ${seq + 1}: seqs are not gapless: expected seq ${seq}, found seq ${seq + 1} \\(seq ${seq} missing\\)$`, 'm');
      },
    },
    {
      name: 'a head that disagrees',
      async damage(schema) {
        const last = Number((await query(`UPDATE "${schema}".books SET last_seq = last_seq + 1 WHERE name = 'Beta' RETURNING last_seq`)).rows[0].last_seq);
        return new RegExp(`^FINDING: books book Beta seq ${last}: head last_seq ${last}, the last event is seq ${last - 1}$`, 'm');
      },
    },
    {
      name: 'a head whose last_at disagrees',
      async damage(schema) {
        await query(`UPDATE "${schema}".books SET last_at = last_at + interval '1 second' WHERE name = 'alpha'`);
        return /^FINDING: books book alpha seq \d+: head last_at \S+, the last event's at is \S+$/m;
      },
    },
    {
      name: 'an at that goes backwards',
      async damage(schema) {
        const seq = await seqOf(schema, 'g.a-m_ma', `kind = 'account_opened' AND seq > 1`);
        await query(`UPDATE "${schema}".events SET at = at - interval '1 hour' WHERE book = 'g.a-m_ma' AND seq = $1`, [seq]);
        return new RegExp(`^FINDING: events book g\\.a-m_ma seq ${seq}: at goes backwards: \\S+ is before seq ${seq - 1}'s \\S+$`, 'm');
      },
    },
    {
      name: 'an account balance changed',
      async damage(schema) {
        const raw = BigInt((await query(`UPDATE "${schema}".accounts SET raw = raw + 1 WHERE book = 'alpha' AND path = 'cash' RETURNING raw`)).rows[0].raw);
        return new RegExp(`^FINDING: accounts book alpha path "cash": raw ${raw}, replay gives ${raw - 1n}$`, 'm');
      },
    },
    {
      name: 'a missing posting',
      async damage(schema) {
        const seq = await seqOf(schema, 'Beta', `event_json LIKE '%"fee-4"%'`);
        await query(`DELETE FROM "${schema}".postings WHERE book = 'Beta' AND seq = $1 AND idx = 1`, [seq]);
        const key = `seq ${seq} idx 1 path ${JSON.stringify('fees "µ"')}`;
        return new RegExp(`^FINDING: postings book Beta ${escapeRegExp(key)}: missing row \\(expected .*, raw_after -15, at \\S+\\)$`, 'm');
      },
    },
    {
      name: 'an extra transaction row',
      async damage(schema) {
        const seq = await seqOf(schema, 'alpha', `kind = 'account_opened'`);
        await query(`INSERT INTO "${schema}".transactions (txid, book, idempotency_key, seq) VALUES ('ffffffff-0000-4000-8000-000000000001', 'alpha', 'ghost', $1)`, [seq]);
        return new RegExp(`^FINDING: transactions book alpha seq ${seq} txid ffffffff-0000-4000-8000-000000000001: extra row: no event makes it$`, 'm');
      },
    },
    {
      name: 'a book_assets sum changed',
      async damage(schema) {
        const debits = BigInt((await query(`UPDATE "${schema}".book_assets SET debits = debits - 5 WHERE book = 'g.a-m_ma' AND asset = 'USD' RETURNING debits`)).rows[0].debits);
        return new RegExp(`^FINDING: book_assets book g\\.a-m_ma asset "USD": debits ${debits}, replay gives ${debits + 5n}$`, 'm');
      },
    },
    {
      name: 'an undecodable event JSON',
      async damage(schema) {
        const seq = await seqOf(schema, 'Beta', `event_json LIKE '%"batch-3"%'`);
        await query(`UPDATE "${schema}".events SET event_json = left(event_json, 40) WHERE book = 'Beta' AND seq = $1`, [seq]);
        return new RegExp(`^FINDING: events book Beta seq ${seq}: event_json does not decode: .+$`, 'm');
      },
    },
    {
      name: 'a kind column that disagrees with the event',
      async damage(schema) {
        const seq = await seqOf(schema, 'alpha', `kind = 'transaction_posted'`);
        await query(`UPDATE "${schema}".events SET kind = 'account_opened' WHERE book = 'alpha' AND seq = $1`, [seq]);
        return new RegExp(`^FINDING: events book alpha seq ${seq}: kind column "account_opened", event_json holds "transaction_posted"$`, 'm');
      },
    },
    {
      name: 'rows of a book whose head row is gone',
      async damage(schema) {
        await query(`DELETE FROM "${schema}".books WHERE name = 'g.a-m_ma'`);
        return /^FINDING: postings book g\.a-m_ma all rows: \d+ rows of a book with no head row in books$/m;
      },
    },
  ];

  for (const [ordinal, { name, damage }] of DAMAGES.entries()) {
    test(`finds and names ${name} (exit 1)`, async () => {
      const schema = `verify_damage_${ordinal}`;
      await copyOfBase(schema);
      assertExit(await cli(['pg-verify', '--schema', schema]), EXIT.ok);
      const finding = await damage(schema);
      const run = await cli(['pg-verify', '--schema', schema]);
      assertExit(run, EXIT.corrupt);
      assert.match(run.stdout, finding);
      assert.match(run.stdout, /^pg-verify: \d+ findings? \(\d+ books, \d+ events, schema verify_damage_\d+\)$/m);
      const listed = run.stdout.split('\n').filter((line) => line.startsWith('FINDING: '));
      assert.ok(listed.length >= 1 && listed.length <= 20, `${listed.length} findings listed`);
    });
  }

  test('--books checks those books and _system only; an unknown book is exit 2, a missing schema exit 5', async () => {
    const schema = 'verify_books';
    await copyOfBase(schema);
    await query(`UPDATE "${schema}".accounts SET raw = raw - 1 WHERE book = 'Beta' AND path = 'a:b'`);
    assertExit(await cli(['pg-verify', '--schema', schema, '--books', 'alpha']), EXIT.ok);
    const run = await cli(['pg-verify', '--schema', schema, '--books', 'alpha,Beta']);
    assertExit(run, EXIT.corrupt);
    assert.match(run.stdout, /^FINDING: accounts book Beta path "a:b": raw -?\d+, replay gives -?\d+$/m);
    assert.match(run.stdout, /^pg-verify: 1 finding \(3 books, \d+ events, schema verify_books\)$/m);
    const unknown = await cli(['pg-verify', '--schema', schema, '--books', 'nope']);
    assertExit(unknown, EXIT.usage);
    assert.match(unknown.stderr, /no book nope in schema verify_books/);
    assertExit(await cli(['pg-verify', '--schema', 'no_such_schema']), EXIT.notFound);
    assertExit(await cli(['pg-verify', 'extra-argument']), EXIT.usage);
  });
});

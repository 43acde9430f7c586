/**
 * `talea-log pg-migrate` (spec/postgres-store.md 1.3, 2.5; src/postgres/pg-migrate.ts), run as a
 * child process against a real PostgreSQL (the cluster `npm test` starts, or one of this file's):
 * - a fresh schema: pg-migrate applies 1 and 2, then `PgStore.open({ migrate: 'verify' })` opens
 *   it, and the store works; run again, it applies nothing (exit 0 both times);
 * - a schema at migration 1 only (as the library before migration 2 left it: no `book_assets`,
 *   no row 2 in `schema_migrations`): `verify` refuses IO naming migration 2 and pg-migrate;
 *   pg-migrate applies 2 only (book_assets filled from the postings), then `verify` opens and
 *   the trial balance is what it was;
 * - a migration recorded with another checksum is exit 8 and applies nothing; no URL is exit 2.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, describe, test } from 'node:test';
import pg from 'pg';

import { StoreError } from '../src/core/errors.js';
import type { Transaction } from '../src/core/types.js';
import { PgStore } from '../src/postgres/index.js';
import { assertExit, runCli, type Run } from './support/cli-run.js';
import { freshDatabase, pgServer, queryOnce } from './support/pg-server.js';

const EXIT = { ok: 0, usage: 2, failure: 8 } as const;

const server = await pgServer();
const database = await freshDatabase(server.url, 'talea_migrate');
after(async () => {
  await database.drop();
  await server.stop();
});

function cli(args: string[], env: Record<string, string> = { TALEA_PG_URL: database.url }): Promise<Run> {
  return runCli(args, env);
}

function query(text: string, values: unknown[] = []): Promise<pg.QueryResult> {
  return queryOnce(database.url, text, values);
}

async function versions(schema: string): Promise<number[]> {
  return (await query(`SELECT version FROM "${schema}".schema_migrations ORDER BY version`)).rows.map((row: { version: number }) => row.version);
}

function transfer(key: string, minor: bigint): Transaction {
  return {
    id: randomUUID(),
    book: 'ops',
    postings: [
      { account: { book: 'ops', path: 'cash' }, amount: { minor, asset: 'USD' }, direction: 'debit' },
      { account: { book: 'ops', path: 'equity' }, amount: { minor, asset: 'USD' }, direction: 'credit' },
    ],
    idempotency_key: key,
    external_refs: [],
    metadata: null,
    occurred_at: '2026-06-05T12:00:00Z',
  };
}

async function assertVerifyRefuses(schema: string, missing: RegExp): Promise<void> {
  await assert.rejects(PgStore.open({ url: database.url, schema, migrate: 'verify' }), (error: unknown) => {
    assert(error instanceof StoreError, String(error));
    assert.equal(error.code, 'IO');
    assert.match(error.message, missing);
    assert.match(error.message, /pg-migrate/);
    return true;
  });
}

describe('talea-log pg-migrate', () => {
  test('a fresh schema: applies 1 and 2, then migrate: verify opens it; again, nothing applied', { timeout: 60_000 }, async () => {
    const schema = 'migrate_fresh';
    await assertVerifyRefuses(schema, /no migrations table/);
    const first = await cli(['pg-migrate', '--schema', schema]);
    assertExit(first, EXIT.ok);
    assert.equal(first.stdout, `applied migration 1 (initial)\napplied migration 2 (book_assets)\npg-migrate: schema ${schema} is now at migration 2\n`);
    assert.deepEqual(await versions(schema), [1, 2]);

    const store = await PgStore.open({ url: database.url, schema, migrate: 'verify' });
    try {
      await store.registerAsset({ id: 'USD', class: 'fiat', precision: 2, name: 'US Dollar' });
      await store.openAccount({ id: { book: 'ops', path: 'cash' }, asset: 'USD', kind: 'asset' }, { normal_side: 'debit', min_balance: null });
      await store.openAccount({ id: { book: 'ops', path: 'equity' }, asset: 'USD', kind: 'equity' }, { normal_side: 'credit', min_balance: null });
      await store.commit(transfer('k1', 5n));
      assert.deepEqual(await store.trialBalance('ops'), [{ asset: 'USD', debits: 5n, credits: 5n }]);
    } finally {
      await store.close();
    }

    const again = await cli(['pg-migrate', '--url', database.url, '--schema', schema], {});
    assertExit(again, EXIT.ok);
    assert.equal(again.stdout, `pg-migrate: schema ${schema} is current (migration 2); nothing applied\n`);
    assert.deepEqual(await versions(schema), [1, 2]);
  });

  test('a schema at migration 1 only: verify refuses, pg-migrate applies 2 (book_assets filled), then verify opens', { timeout: 60_000 }, async () => {
    const schema = 'migrate_one';
    const store = await PgStore.open({ url: database.url, schema });
    await store.registerAsset({ id: 'USD', class: 'fiat', precision: 2, name: 'US Dollar' });
    await store.openAccount({ id: { book: 'ops', path: 'cash' }, asset: 'USD', kind: 'asset' }, { normal_side: 'debit', min_balance: null });
    await store.openAccount({ id: { book: 'ops', path: 'equity' }, asset: 'USD', kind: 'equity' }, { normal_side: 'credit', min_balance: null });
    await store.commitBatch([transfer('a', 7n), transfer('b', 11n)]);
    const expected = await store.trialBalance('ops');
    await store.close();
    assert.deepEqual(expected, [{ asset: 'USD', debits: 18n, credits: 18n }]);
    // The database as the library of migration 1 left it.
    await query(`DROP TABLE "${schema}".book_assets`);
    await query(`DELETE FROM "${schema}".schema_migrations WHERE version = 2`);

    await assertVerifyRefuses(schema, /lacks migration 2 \(book_assets\)/);
    const run = await cli(['pg-migrate', '--schema', schema]);
    assertExit(run, EXIT.ok);
    assert.equal(run.stdout, `applied migration 2 (book_assets)\npg-migrate: schema ${schema} is now at migration 2\n`);
    assert.deepEqual(await versions(schema), [1, 2]);

    const verified = await PgStore.open({ url: database.url, schema, migrate: 'verify' });
    try {
      assert.deepEqual(await verified.trialBalance('ops'), expected);
      await verified.commit(transfer('c', 2n));
      assert.deepEqual(await verified.trialBalance('ops'), [{ asset: 'USD', debits: 20n, credits: 20n }]);
    } finally {
      await verified.close();
    }
  });

  test('a migration that differs from the one applied is exit 8 and applies nothing; no URL is exit 2', { timeout: 60_000 }, async () => {
    const schema = 'migrate_tampered';
    assertExit(await cli(['pg-migrate', '--schema', schema]), EXIT.ok);
    await query(`UPDATE "${schema}".schema_migrations SET checksum = 'x' WHERE version = 1`);
    await query(`DROP TABLE "${schema}".book_assets`);
    await query(`DELETE FROM "${schema}".schema_migrations WHERE version = 2`);
    const tampered = await cli(['pg-migrate', '--schema', schema]);
    assertExit(tampered, EXIT.failure);
    assert.match(tampered.stderr, /migration 1 \(initial\) differs from the one applied/);
    assert.deepEqual(await versions(schema), [1]);

    const noUrl = await cli(['pg-migrate', '--schema', schema], { TALEA_PG_URL: '' });
    assertExit(noUrl, EXIT.usage);
    assert.match(noUrl.stderr, /--url/);
  });
});

/**
 * The PgStore schema and its versioned migrations (spec/postgres-store.md, section 2).
 *
 * M1. Every statement names the configured schema; nothing depends on `search_path`. Key text
 *     columns are COLLATE "C": byte equality, and ORDER BY in UTF-8 byte order.
 * M2. Migrations are numbered, applied in order, one transaction each, and never edited once
 *     released: each one's SHA-256 (of its text before the schema name is substituted) is recorded
 *     in `schema_migrations` and checked at every open; a mismatch is IO.
 * M3. They run at open under a session advisory lock whose key derives from the schema name, so
 *     processes opening together take turns: the first migrates, the others find nothing to do.
 *     Every DDL also says IF NOT EXISTS.
 * M4. A database migrated by a newer library opens only if its newest migration's `readable_by`
 *     is not newer than this library's schema version; otherwise IO naming both.
 * M5. Money, balances, minimums and seqs are bigint; commit times are timestamptz (exact
 *     microseconds), written from the shared formatter and read back as integer microseconds.
 */
import { createHash } from 'node:crypto';
import type pg from 'pg';

import { StoreError } from '../core/errors.js';

export const SCHEMA_PATTERN = /^[a-z_][a-z0-9_]{0,62}$/;

interface Migration {
  version: number;
  name: string;
  /** The oldest library schema version that can read a database with this migration (M4). */
  readableBy: number;
  /** The statements, with `{S}` for the quoted schema. */
  sql: string;
}

/** The newest schema version this library knows. */
export const SCHEMA_VERSION = 2;

/** Microseconds since the epoch of a timestamptz column, exact (extract returns numeric, PG 14+). */
export const US = (column: string): string => `(extract(epoch FROM ${column}) * 1000000)::bigint`;

const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'initial',
    readableBy: 1,
    sql: `
CREATE TABLE IF NOT EXISTS {S}.books (
  name text COLLATE "C" PRIMARY KEY,
  case_key text COLLATE "C" NOT NULL,
  last_seq bigint NOT NULL,
  last_at timestamptz NOT NULL
) WITH (fillfactor = 50);
CREATE INDEX IF NOT EXISTS books_case_key ON {S}.books (case_key);
CREATE TABLE IF NOT EXISTS {S}.events (
  book text COLLATE "C" NOT NULL,
  seq bigint NOT NULL,
  at timestamptz NOT NULL,
  kind text NOT NULL CHECK (kind IN ('asset_registered', 'account_opened', 'transaction_posted')),
  event_json text NOT NULL,
  PRIMARY KEY (book, seq)
);
CREATE INDEX IF NOT EXISTS events_book_at_seq ON {S}.events (book, at, seq);
CREATE TABLE IF NOT EXISTS {S}.assets (
  id text COLLATE "C" PRIMARY KEY,
  seq bigint NOT NULL
);
CREATE TABLE IF NOT EXISTS {S}.accounts (
  book text COLLATE "C" NOT NULL,
  path text COLLATE "C" NOT NULL,
  asset text COLLATE "C" NOT NULL,
  kind text NOT NULL,
  normal_side text,
  min_balance bigint,
  opened_seq bigint NOT NULL,
  raw bigint NOT NULL,
  updated_seq bigint NOT NULL,
  PRIMARY KEY (book, path)
) WITH (fillfactor = 80);
CREATE TABLE IF NOT EXISTS {S}.transactions (
  txid text COLLATE "C" PRIMARY KEY,
  book text COLLATE "C" NOT NULL,
  idempotency_key text COLLATE "C" NOT NULL,
  seq bigint NOT NULL,
  UNIQUE (book, idempotency_key)
);
CREATE TABLE IF NOT EXISTS {S}.postings (
  book text COLLATE "C" NOT NULL,
  path text COLLATE "C" NOT NULL,
  seq bigint NOT NULL,
  idx integer NOT NULL,
  txid text COLLATE "C" NOT NULL,
  asset text COLLATE "C" NOT NULL,
  direction text NOT NULL CHECK (direction IN ('debit', 'credit')),
  minor bigint NOT NULL,
  raw_after bigint NOT NULL,
  at timestamptz NOT NULL,
  PRIMARY KEY (book, path, seq, idx)
);
`,
  },
  {
    // Trial-balance rows, kept by every flush (pg-flush.ts V4). Filled from the postings already
    // there: amounts are positive, so the saturating fold of a direction is its sum capped at i64
    // max. A library without this migration would not keep them: readable by schema 2 only.
    // guard() fails a flush's write statement whose row counts are off (SQLSTATE TL001, V3).
    version: 2,
    name: 'book_assets',
    readableBy: 2,
    sql: `
CREATE TABLE IF NOT EXISTS {S}.book_assets (
  book text COLLATE "C" NOT NULL,
  asset text COLLATE "C" NOT NULL,
  debits bigint NOT NULL,
  credits bigint NOT NULL,
  updated_seq bigint NOT NULL,
  PRIMARY KEY (book, asset)
) WITH (fillfactor = 80);
INSERT INTO {S}.book_assets (book, asset, debits, credits, updated_seq)
SELECT book, asset,
       least(coalesce(sum(minor) FILTER (WHERE direction = 'debit'), 0), 9223372036854775807)::bigint,
       least(coalesce(sum(minor) FILTER (WHERE direction = 'credit'), 0), 9223372036854775807)::bigint,
       max(seq)
  FROM {S}.postings GROUP BY book, asset
ON CONFLICT (book, asset) DO NOTHING;
CREATE OR REPLACE FUNCTION {S}.guard(ok boolean, what text) RETURNS boolean LANGUAGE plpgsql AS $guard$
BEGIN
  IF ok IS NOT TRUE THEN
    RAISE EXCEPTION USING ERRCODE = 'TL001', MESSAGE = what;
  END IF;
  RETURN true;
END
$guard$;
`,
  },
];

/** The name of each migration this library knows, by version (for pg-migrate's report). */
export const MIGRATION_NAMES: ReadonlyMap<number, string> = new Map(MIGRATIONS.map((migration) => [migration.version, migration.name]));
function checksum(migration: Migration): string {
  return createHash('sha256').update(migration.sql).digest('hex');
}

/** The advisory-lock key of a schema's migrations (M3): the first 8 bytes of a SHA-256, signed. */
export function migrationLockKey(schema: string): string {
  return createHash('sha256').update(`talea-store:migrate:${schema}`).digest().readBigInt64BE(0).toString();
}

/** Applies missing migrations (mode 'auto') or checks none is missing ('verify'); M2-M4. */
export async function migrate(client: pg.Client, schema: string, mode: 'auto' | 'verify'): Promise<{ applied: number[] }> {
  const S = `"${schema}"`;
  const key = migrationLockKey(schema);
  await client.query("SET lock_timeout = '30s'");
  await client.query('SELECT pg_advisory_lock($1::bigint)', [key]);
  try {
    if (mode === 'auto') {
      await client.query(`CREATE SCHEMA IF NOT EXISTS ${S}`);
      await client.query(
        `CREATE TABLE IF NOT EXISTS ${S}.schema_migrations (
           version integer PRIMARY KEY,
           name text NOT NULL,
           checksum text NOT NULL,
           readable_by integer NOT NULL,
           applied_at timestamptz NOT NULL DEFAULT clock_timestamp(),
           applied_by text NOT NULL
         )`,
      );
    }
    const exists = await client.query('SELECT to_regclass($1) IS NOT NULL AS ok', [`${S}.schema_migrations`]);
    if (exists.rows[0]?.ok !== true) throw StoreError.io(`schema ${schema} has no migrations table; create it with talea-log pg-migrate (or open with migrate: 'auto')`);
    const recorded = await client.query(`SELECT version, checksum, readable_by FROM ${S}.schema_migrations ORDER BY version`);
    const known = new Map(MIGRATIONS.map((migration) => [migration.version, migration]));
    for (const row of recorded.rows as Array<{ version: number; checksum: string; readable_by: number }>) {
      const migration = known.get(row.version);
      if (migration === undefined) {
        if (row.readable_by > SCHEMA_VERSION) {
          throw StoreError.io(`schema ${schema} is at migration ${row.version}, readable by library schema ${row.readable_by} and later; this library is at ${SCHEMA_VERSION}`);
        }
        continue;
      }
      if (checksum(migration) !== row.checksum) {
        throw StoreError.io(`schema ${schema}: migration ${row.version} (${migration.name}) differs from the one applied (checksum mismatch)`);
      }
    }
    const done = new Set((recorded.rows as Array<{ version: number }>).map((row) => row.version));
    const applied: number[] = [];
    for (const migration of MIGRATIONS) {
      if (done.has(migration.version)) continue;
      if (mode === 'verify') throw StoreError.io(`schema ${schema} lacks migration ${migration.version} (${migration.name}); apply it with talea-log pg-migrate`);
      await client.query('BEGIN');
      try {
        await client.query(migration.sql.replaceAll('{S}', S));
        await client.query(
          `INSERT INTO ${S}.schema_migrations (version, name, checksum, readable_by, applied_by) VALUES ($1, $2, $3, $4, $5)`,
          [migration.version, migration.name, checksum(migration), migration.readableBy, `talea-store pid ${process.pid}`],
        );
        await client.query('COMMIT');
      } catch (error) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw error;
      }
      applied.push(migration.version);
    }
    return { applied };
  } finally {
    await client.query('SELECT pg_advisory_unlock($1::bigint)', [key]).catch(() => undefined);
  }
}

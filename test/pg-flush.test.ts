/**
 * The set-based flush (src/postgres/pg-flush.ts): many jobs of one book in one transaction, one
 * state read and one write statement, answering as the same calls run one by one.
 *
 * - One turn's mixed jobs (an account opened and posted to, a replay and a conflict of a key
 *   accepted earlier in the flush, a txid taken earlier in the flush, a minimum breached by the
 *   overlay's balance, a registration and its identical repeat) form one flush whose answers are
 *   MemoryStore's, calls run one by one; the rows written match: balances and updated seqs, each
 *   posting's raw balance after, the trial-balance rows.
 * - The trial-balance rows of migration 2: a database migrated before it gets them from the
 *   postings already there.
 * - A balance changed under the book lock (a writer that ignored it) fails the flush IO at the
 *   guarded update, and nothing is committed.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import pg from 'pg';

import { StoreError } from '../src/core/errors.js';
import type { Store } from '../src/core/store.js';
import type { Transaction } from '../src/core/types.js';
import { MemoryStore } from '../src/memory/memory-store.js';
import { PgStore } from '../src/postgres/index.js';
import { freshDatabase, pgServer } from './support/pg-server.js';
import { answer } from './support/answer.js';

const server = await pgServer();
const database = await freshDatabase(server.url, 'talea_flush');
after(async () => {
  await database.drop();
  await server.stop();
});

const FROZEN_US = Date.UTC(2026, 5, 5) * 1000;
let schemas = 0;

function openPg(schema = `flush_${++schemas}`, pipeline = true): Promise<PgStore> {
  return PgStore.open({ url: database.url, schema, writeConnections: 2, readConnections: 1, clockUs: () => FROZEN_US, onWarning: () => undefined, testHooks: { pipeline } });
}

function txid(n: number): string {
  return `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;
}

function transfer(n: number, key: string, from: string, to: string, minor: bigint, asset = 'USD'): Transaction {
  return {
    id: txid(n),
    book: 'ops',
    postings: [
      { account: { book: 'ops', path: from }, amount: { minor, asset }, direction: 'credit' },
      { account: { book: 'ops', path: to }, amount: { minor, asset }, direction: 'debit' },
    ],
    idempotency_key: key,
    external_refs: [],
    metadata: null,
    occurred_at: '2026-06-05T12:00:00Z',
  };
}

async function setUp(store: Store): Promise<void> {
  await store.registerAsset({ id: 'USD', class: 'fiat', precision: 2, name: 'US Dollar' });
  await store.openAccount({ id: { book: 'ops', path: 'equity' }, asset: 'USD', kind: 'equity' }, { normal_side: 'credit', min_balance: null });
  await store.openAccount({ id: { book: 'ops', path: 'cash' }, asset: 'USD', kind: 'asset' }, { normal_side: 'debit', min_balance: 0n });
  await store.commit(transfer(1, 'fund', 'equity', 'cash', 1_000n));
}

/** The calls of one turn: issued without waiting, so that PgStore takes them as one flush. */
function mixedTurn(store: Store): Promise<unknown>[] {
  return [
    answer(store.openAccount({ id: { book: 'ops', path: 'fresh' }, asset: 'USD', kind: 'asset' }, { normal_side: 'debit', min_balance: 100n })),
    answer(store.commit(transfer(2, 'k2', 'cash', 'fresh', 300n))), // posts to the account opened just before
    answer(store.commit(transfer(2, 'k2', 'cash', 'fresh', 300n))), // replay of a key accepted in this flush
    answer(store.commit(transfer(3, 'k2', 'cash', 'fresh', 301n))), // same key, other content
    answer(store.commit(transfer(2, 'k3', 'cash', 'fresh', 5n))), // txid taken in this flush
    answer(store.commit(transfer(4, 'k4', 'cash', 'fresh', 800n))), // cash's minimum, after k2's 300
    answer(store.commit(transfer(5, 'k5', 'fresh', 'cash', 250n))), // fresh's minimum 100 (300 - 250)
    answer(store.commit(transfer(6, 'k6', 'fresh', 'cash', 200n))), // passes: fresh ends at 100
    answer(store.commit(transfer(7, 'fund', 'equity', 'cash', 1_000n))), // replay of a stored key (content decides, not the txid)
    answer(store.commit(transfer(1, 'fund', 'equity', 'cash', 999n))), // a stored key, other content
    answer(store.commit(transfer(8, 'k8', 'equity', 'nowhere', 1n))), // unknown account
    answer(store.commitBatch([transfer(9, 'k9', 'equity', 'cash', 7n), transfer(9, 'k10', 'equity', 'cash', 7n)])),
  ];
}

describe('PgStore: the set-based flush', () => {
  for (const pipeline of [true, false]) {
    test(`one turn of mixed jobs: one flush, MemoryStore answers, rows consistent with the events (${pipeline ? 'pipelined' : 'statement by statement'})`, async () => {
      const memory = new MemoryStore({ clockUs: () => FROZEN_US, onWarning: () => undefined });
      const store = await openPg(undefined, pipeline);
      try {
        await setUp(memory);
        await setUp(store);
        const expected: unknown[] = [];
        for (const call of mixedTurn(memory)) expected.push(await call);
        const before = store.stats().flushes;
        const got = await Promise.all(mixedTurn(store));
        assert.deepEqual(got, expected);
        assert.equal(store.stats().flushes - before, 1, 'the turn was one flush');
        // The rejections really were rejections (not a uniform answer).
        const codes = (got as Array<{ code?: string }>).map((one) => one.code ?? 'ok');
        assert.deepEqual(codes, ['ok', 'ok', 'ok', 'IDEMPOTENCY_CONFLICT', 'ALREADY_EXISTS', 'CONSTRAINT_VIOLATION', 'CONSTRAINT_VIOLATION', 'ok', 'ok', 'IDEMPOTENCY_CONFLICT', 'UNKNOWN_ACCOUNT', 'ok']);

        for (const path of ['equity', 'cash', 'fresh']) {
          const account = { book: 'ops', path };
          assert.deepEqual(await store.balance(account), await memory.balance(account), path);
          assert.deepEqual(await store.accountHistory(account, 0, 100), await memory.accountHistory(account, 0, 100), path);
        }
        assert.deepEqual(await store.trialBalance('ops'), await memory.trialBalance('ops'));
        assert.deepEqual(await store.readEvents('ops', 1, 100), await memory.readEvents('ops', 1, 100));

        // The stored rows against a fold of the events: balances, updated seqs, raw_after, sums.
        const client = new pg.Client({ connectionString: database.url });
        await client.connect();
        try {
          const S = `"${store.schema}"`;
          const accounts = await client.query(`SELECT path, raw::text, updated_seq::int, opened_seq::int FROM ${S}.accounts WHERE book = 'ops' ORDER BY path`);
          assert.deepEqual(accounts.rows, [
            { path: 'cash', raw: String(1_000 - 300 + 200 + 7), updated_seq: 7, opened_seq: 2 },
            { path: 'equity', raw: String(-1_000 - 7), updated_seq: 7, opened_seq: 1 },
            { path: 'fresh', raw: String(300 - 200), updated_seq: 6, opened_seq: 4 },
          ]);
          const rawAfter = await client.query(`SELECT seq::int, path, raw_after::text FROM ${S}.postings WHERE book = 'ops' ORDER BY seq, idx`);
          assert.deepEqual(rawAfter.rows, [
            { seq: 3, path: 'equity', raw_after: '-1000' },
            { seq: 3, path: 'cash', raw_after: '1000' },
            { seq: 5, path: 'cash', raw_after: '700' },
            { seq: 5, path: 'fresh', raw_after: '300' },
            { seq: 6, path: 'fresh', raw_after: '100' },
            { seq: 6, path: 'cash', raw_after: '900' },
            { seq: 7, path: 'equity', raw_after: '-1007' },
            { seq: 7, path: 'cash', raw_after: '907' },
          ]);
          const sums = await client.query(`SELECT asset, debits::text, credits::text, updated_seq::int FROM ${S}.book_assets WHERE book = 'ops'`);
          assert.deepEqual(sums.rows, [{ asset: 'USD', debits: String(1_000 + 300 + 200 + 7), credits: String(1_000 + 300 + 200 + 7), updated_seq: 7 }]);
          const head = await client.query(`SELECT last_seq::int FROM ${S}.books WHERE name = 'ops'`);
          assert.deepEqual(head.rows, [{ last_seq: 7 }]);
        } finally {
          await client.end();
        }
      } finally {
        await store.close();
        await memory.close();
      }
    });
  }

  test('a lock that waited for a writer that committed (P1): the second spender sees the first', async () => {
    const schema = `flush_${++schemas}`;
    const [a, b] = [await openPg(schema), await openPg(schema)];
    const client = new pg.Client({ connectionString: database.url });
    await client.connect();
    try {
      await setUp(a); // cash holds 1,000 with a minimum of 0
      const S = `"${schema}"`;
      for (let round = 0; round < 5; round++) {
        // Hold the book's lock so that both flushes wait for it, then let them go.
        await client.query('BEGIN');
        await client.query(`SELECT 1 FROM ${S}.books WHERE name = 'ops' FOR UPDATE`);
        const spend = (store: PgStore, n: number) =>
          answer(store.commit(transfer(100 + round * 2 + n, `spend-${round}-${n}`, 'cash', 'equity', 200n)));
        const pending = [spend(a, 0), spend(b, 1)];
        for (const deadline = Date.now() + 30_000; ; ) {
          assert.ok(Date.now() < deadline, `round ${round}: both flushes wait for the lock`);
          const waiting = await client.query(
            `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'talea-store' AND wait_event_type = 'Lock'`,
          );
          // pg_stat_activity is read once per transaction, and this client is inside one.
          await client.query('SELECT pg_stat_clear_snapshot()');
          if ((waiting.rows[0] as { n: number }).n >= 2) break;
          await new Promise((resolve) => setTimeout(resolve, 5));
        }
        await client.query('ROLLBACK');
        const answers = (await Promise.all(pending)) as Array<{ value?: unknown; code?: string }>;
        // 1,000 in cash, 200 a spend: rounds 0 and 1 both fit, round 2 only the first (the second
        // must see the first's debit, which its stale snapshot did not hold), then neither.
        const expected = round < 2 ? ['ok', 'ok'] : round === 2 ? ['CONSTRAINT_VIOLATION', 'ok'] : ['CONSTRAINT_VIOLATION', 'CONSTRAINT_VIOLATION'];
        assert.deepEqual(answers.map((one) => one.code ?? 'ok').sort(), expected, `round ${round}: ${JSON.stringify(answers)}`);
      }
      const balance = (await a.balance({ book: 'ops', path: 'cash' })).amount.minor;
      assert.ok(balance >= 0n, `cash below its minimum: ${balance}`);
      const events = await a.readEvents('ops', 1, 100);
      const spent = events.flatMap((event) => (event.event.kind === 'transaction_posted' && event.event.idempotency_key.startsWith('spend-') ? [event.event.postings[0]!.amount.minor] : []));
      assert.equal(balance, 1_000n - spent.reduce((sum, minor) => sum + minor, 0n));
      assert.equal(balance, 0n);
    } finally {
      await client.end();
      await Promise.all([a.close(), b.close()]);
    }
  });

  test('migration 2 fills the trial-balance rows of a database migrated before it from its postings', async () => {
    const schema = `flush_${++schemas}`;
    let store = await openPg(schema);
    await setUp(store);
    await store.commitBatch(Array.from({ length: 20 }, (_, index) => transfer(100 + index, `m${index}`, 'equity', 'cash', BigInt(index + 1))));
    const expected = await store.trialBalance('ops');
    await store.close();
    const client = new pg.Client({ connectionString: database.url });
    await client.connect();
    try {
      // The database as the library of migration 1 left it.
      await client.query(`DROP TABLE "${schema}".book_assets`);
      await client.query(`DELETE FROM "${schema}".schema_migrations WHERE version = 2`);
      store = await openPg(schema);
      try {
        assert.deepEqual(expected, [{ asset: 'USD', debits: 1_000n + 210n, credits: 1_000n + 210n }]);
        assert.deepEqual(await store.trialBalance('ops'), expected);
        const migrations = await client.query(`SELECT version FROM "${schema}".schema_migrations ORDER BY version`);
        assert.deepEqual(migrations.rows, [{ version: 1 }, { version: 2 }]);
        // And the flushes after it keep them.
        await store.commit(transfer(200, 'after', 'equity', 'cash', 5n));
        assert.deepEqual(await store.trialBalance('ops'), [{ asset: 'USD', debits: 1_215n, credits: 1_215n }]);
      } finally {
        await store.close();
      }
    } finally {
      await client.end();
    }
  });

  for (const pipeline of [true, false]) {
    test(`a balance changed under the lock by hand: the flush fails IO and commits nothing (${pipeline ? 'pipelined' : 'statement by statement'})`, async () => {
      const store = await openPg(undefined, pipeline);
      const client = new pg.Client({ connectionString: database.url });
      await client.connect();
      try {
        await setUp(store);
        const S = `"${store.schema}"`;
        // Another session updates cash without the book lock and holds its row: the flush reads
        // 1000 (F4), its guarded update waits for the row, and finds it changed once it is free.
        await client.query('BEGIN');
        await client.query(`UPDATE ${S}.accounts SET raw = raw + 1 WHERE book = 'ops' AND path = 'cash'`);
        const pending = store.commit(transfer(2, 'k2', 'cash', 'equity', 10n)).catch((caught: unknown) => caught);
        for (const deadline = Date.now() + 30_000; ; ) {
          assert.ok(Date.now() < deadline, 'the flush waits for the row');
          const waiting = await client.query(
            `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'talea-store' AND wait_event_type = 'Lock'`,
          );
          // pg_stat_activity is read once per transaction, and this client is inside one.
          await client.query('SELECT pg_stat_clear_snapshot()');
          if ((waiting.rows[0] as { n: number }).n > 0) break;
          await new Promise((resolve) => setTimeout(resolve, 10));
        }
        await client.query('COMMIT');
        const error = await pending;
        assert.ok(error instanceof StoreError && error.code === 'IO', JSON.stringify(error));
        assert.equal(store.stats().connectionReruns, 0, 'a failed guard is not rerun as a lost connection');
        assert.match((error as StoreError).message, /balances 1 \(2\).*lock discipline broken/);
        await client.query(`UPDATE ${S}.accounts SET raw = raw - 1 WHERE book = 'ops' AND path = 'cash'`);
        assert.equal((await store.readEvents('ops', 1, 100)).length, 3, 'nothing appended');
        assert.equal((await store.balance({ book: 'ops', path: 'cash' })).amount.minor, 1_000n);
        await store.commit(transfer(2, 'k2', 'cash', 'equity', 10n)); // the seq it would have taken is free
        assert.equal((await store.readEvents('ops', 1, 100)).length, 4);
      } finally {
        await client.end();
        await store.close();
      }
    });
  }
});

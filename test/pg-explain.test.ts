/**
 * PG-EXPLAIN (spec/postgres-store.md 2.3, 7.2): the statements PgStore runs on its write and read
 * paths use the indexes of table 2.3, on two books of 20,000 transactions each, analyzed.
 *
 * - The statements are the store's own: every query its pools send is recorded (text and
 *   parameters) while a workload of every write and read kind runs, so a statement added to the
 *   store without a rule here fails the test.
 * - The two books are set up through the store (asset, accounts, commits), then grown in SQL to
 *   20,000 transactions each (rows shaped as the flush writes them, with a hot account in every
 *   transaction and 2,000 accounts per book), and ANALYZEd; the workload then runs on them.
 * - Each statement is PREPAREd and EXPLAINed with its recorded parameters twice: with
 *   `plan_cache_mode = force_custom_plan` and `force_generic_plan`. Checks: the index its rule
 *   names is in the plan; no Seq Scan on events, postings, transactions or accounts (the trial
 *   balance, which sums a book's postings until `book_assets` exists, is the one exception and
 *   says so); no Sort in readEvents, history and the `asOf` reads.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, test } from 'node:test';
import pg from 'pg';

import { StoreError } from '../src/core/errors.js';
import type { Transaction } from '../src/core/types.js';
import { PgStore } from '../src/postgres/index.js';
import { freshDatabase, pgServer } from './support/pg-server.js';

const server = await pgServer();
const database = await freshDatabase(server.url, 'talea_explain');
after(async () => {
  await database.drop();
  await server.stop();
});

const SCHEMA = 'explain';
const BOOKS = ['e1', 'e2'];
const BULK_TRANSACTIONS = 20_000;
const BULK_ACCOUNTS = 2_000;

interface Recorded {
  text: string;
  /** Distinct parameter lists it ran with (the hot account and a quiet one, say), at most 8. */
  runs: unknown[][];
}

/** Every statement naming the schema that a pg client of this process but `ignored` sends, with its parameters. */
function recordQueries(ignored: pg.Client): { statements: Map<string, Recorded>; stop(): void } {
  const statements = new Map<string, Recorded>();
  const prototype = pg.Client.prototype as unknown as { query: (...args: unknown[]) => unknown };
  const original = prototype.query;
  prototype.query = function (this: unknown, ...args: unknown[]) {
    if (this === ignored) return original.apply(this, args);
    const [first, second] = args;
    const config = typeof first === 'string' ? { text: first, values: Array.isArray(second) ? second : [] } : (first as { text?: string; values?: unknown[] } | null);
    if (config !== null && typeof config === 'object' && typeof config.text === 'string' && config.text.includes(`"${SCHEMA}".`)) {
      const recorded = statements.get(config.text) ?? { text: config.text, runs: [] };
      statements.set(config.text, recorded);
      const values = config.values ?? [];
      const key = JSON.stringify(values, (_, value: unknown) => (typeof value === 'bigint' ? value.toString() : value));
      if (recorded.runs.length < 8 && !recorded.runs.some((run) => JSON.stringify(run, (_, value: unknown) => (typeof value === 'bigint' ? value.toString() : value)) === key)) {
        recorded.runs.push(values);
      }
    }
    return original.apply(this, args);
  };
  return { statements, stop: () => void (prototype.query = original) };
}

interface PlanNode {
  'Node Type': string;
  'Relation Name'?: string;
  'Index Name'?: string;
  Plans?: PlanNode[];
}

function nodesOf(plan: PlanNode): PlanNode[] {
  return [plan, ...(plan.Plans ?? []).flatMap(nodesOf)];
}

interface Rule {
  /** What the statement is, for messages. */
  what: string;
  match: RegExp;
  /** Indexes that must appear in the plan (all of them). */
  indexes: string[];
  /** readEvents, history, the asOf reads: the index gives the order. */
  noSort?: boolean;
  /** Tables the statement may scan sequentially, and why. */
  seqScanAllowed?: { tables: string[]; why: string };
}

const HOT_TABLES = ['events', 'postings', 'transactions', 'accounts'];

/**
 * Table 2.3: each statement of the store, the index that serves it. The `books` and `assets`
 * tables hold one row per book and per asset (a handful here, and few in any ledger), so a scan
 * of them is the cheapest plan and no index of theirs is required; they are not hot tables.
 */
const RULES: Rule[] = [
  { what: 'F2 book head insert', match: /^INSERT INTO \S+\.books \(name, case_key, last_seq, last_at\)\s+SELECT/, indexes: [] },
  { what: 'book head insert (commit creating its book)', match: /^INSERT INTO \S+\.books .* VALUES/s, indexes: [] },
  { what: 'F3 book lock', match: /^SELECT last_seq, .* FROM \S+\.books WHERE name = \$1 FOR UPDATE/, indexes: [] },
  { what: 'book head insert and lock (commit creating its book)', match: /^SELECT last_seq FROM \S+\.books WHERE name = \$1 FOR UPDATE/, indexes: [] },
  {
    what: 'F4 state read',
    match: /^SELECT\s+\(SELECT coalesce\(json_agg\(json_build_array\(t\.idempotency_key/,
    indexes: ['transactions_book_idempotency_key_key', 'events_pkey', 'transactions_pkey', 'accounts_pkey'],
  },
  { what: 'F7 write', match: /^WITH\s+events AS \(\s+INSERT INTO \S+\.events.*balances AS \(\s+UPDATE/s, indexes: ['accounts_pkey'] },
  { what: 'F7 write (no balance changes)', match: /^WITH\s+events AS \(\s+INSERT INTO \S+\.events.*balances AS \(SELECT FROM/s, indexes: [] },
  { what: 'balance', match: /^SELECT asset, normal_side, raw, updated_seq FROM \S+\.accounts WHERE book = \$1 AND path = \$2/, indexes: ['accounts_pkey'] },
  { what: 'balance asOf', match: /FROM \S+\.accounts a\s+LEFT JOIN LATERAL/, indexes: ['accounts_pkey', 'postings_pkey', 'events_book_at_seq'], noSort: true },
  { what: 'account exists (history)', match: /^SELECT 1 FROM \S+\.accounts WHERE book = \$1 AND path = \$2/, indexes: ['accounts_pkey'] },
  { what: 'history page', match: /FROM \S+\.postings\s+WHERE book = \$1 AND path = \$2 AND seq > \$3/, indexes: ['postings_pkey'], noSort: true },
  { what: 'transaction(txid)', match: /FROM \S+\.transactions t LEFT JOIN \S+\.events e ON e\.book = t\.book AND e\.seq = t\.seq\s+WHERE t\.txid = \$1/, indexes: ['transactions_pkey', 'events_pkey'] },
  { what: 'readEvents', match: /FROM \S+\.events WHERE book = \$1 AND seq >= \$2 ORDER BY seq LIMIT \$3/, indexes: ['events_pkey'], noSort: true },
  { what: 'tail read newest event', match: /FROM \S+\.books b JOIN \S+\.events e ON e\.book = b\.name AND e\.seq = b\.last_seq/, indexes: ['events_pkey'] },
  { what: 'subscription poll heads', match: /FROM \S+\.books WHERE name = ANY/, indexes: [] },
  { what: 'asset(id)', match: /FROM \S+\.assets a JOIN \S+\.events e ON e\.book = \$2 AND e\.seq = a\.seq WHERE a\.id = \$1/, indexes: ['events_pkey'] },
  { what: 'trial balance now', match: /FROM \S+\.book_assets WHERE book = \$1 ORDER BY asset/, indexes: [] },
  {
    what: 'trial balance sums',
    match: /sum\(minor\) FILTER/,
    indexes: [],
    seqScanAllowed: { tables: ['postings'], why: 'sums every posting of the book up to asOf (or when a trial-balance row reached i64 max)' },
  },
  {
    what: 'trial balance saturating fold',
    match: /SELECT p\.asset, p\.direction, p\.minor FROM \S+\.postings p/,
    indexes: [],
    seqScanAllowed: { tables: ['postings'], why: 'folds every posting of the book, only when a sum leaves i64' },
  },
];

function transfer(book: string, key: string, from: string, to: string, minor: bigint): Transaction {
  return {
    id: randomUUID(),
    book,
    postings: [
      { account: { book, path: from }, amount: { minor, asset: 'USD' }, direction: 'debit' },
      { account: { book, path: to }, amount: { minor, asset: 'USD' }, direction: 'credit' },
    ],
    idempotency_key: key,
    external_refs: [],
    metadata: null,
    occurred_at: '2026-06-05T12:00:00Z',
  };
}

/** Grows a book in SQL to BULK_TRANSACTIONS more transactions, shaped as the flush writes them. */
async function grow(admin: pg.Client, book: string): Promise<void> {
  const S = `"${SCHEMA}"`;
  await admin.query(
    `INSERT INTO ${S}.accounts (book, path, asset, kind, normal_side, min_balance, opened_seq, raw, updated_seq)
     SELECT $1, 'bulk-' || lpad(g::text, 5, '0'), 'USD', 'asset', 'debit', NULL, 1, 0, 0 FROM generate_series(1, $2::int) g`,
    [book, BULK_ACCOUNTS],
  );
  const head = (await admin.query(`SELECT last_seq, last_at FROM ${S}.books WHERE name = $1`, [book])).rows[0] as { last_seq: string; last_at: string };
  const values = [book, head.last_seq, head.last_at, BULK_TRANSACTIONS, BULK_ACCOUNTS];
  // The event JSON of a commit made through the store, with its txid and key replaced: decodable.
  const template = (
    await admin.query(
      `SELECT e.event_json, t.txid FROM ${S}.events e JOIN ${S}.transactions t ON t.book = e.book AND t.seq = e.seq WHERE e.book = $1 AND t.idempotency_key = 'setup-0'`,
      [book],
    )
  ).rows[0] as { event_json: string; txid: string };
  // One millisecond apart, after the head; every transaction moves money from `cash` to a bulk account.
  await admin.query(
    `INSERT INTO ${S}.events (book, seq, at, kind, event_json)
     SELECT $1, $2::bigint + g, $3::timestamptz + g * interval '1 millisecond', 'transaction_posted',
            replace(replace($6::text, $7::text, md5($1 || g)::uuid::text), '"setup-0"', '"bulk-' || g || '"')
       FROM generate_series(1, $4::int) g WHERE $5::int > 0`,
    [...values, template.event_json, template.txid],
  );
  await admin.query(
    `INSERT INTO ${S}.transactions (txid, book, idempotency_key, seq)
     SELECT md5($1 || g)::uuid::text, $1, 'bulk-' || g, $2::bigint + g FROM generate_series(1, $4::int) g WHERE $3::timestamptz IS NOT NULL AND $5::int > 0`,
    values,
  );
  await admin.query(
    `INSERT INTO ${S}.postings (book, path, seq, idx, txid, asset, direction, minor, raw_after, at)
     SELECT $1, CASE WHEN i = 0 THEN 'cash' ELSE 'bulk-' || lpad(((g * 7919) % $5::int + 1)::text, 5, '0') END,
            $2::bigint + g, i, md5($1 || g)::uuid::text, 'USD', CASE WHEN i = 0 THEN 'debit' ELSE 'credit' END,
            100 + g % 50, 0, $3::timestamptz + g * interval '1 millisecond'
       FROM generate_series(1, $4::int) g, generate_series(0, 1) i`,
    values,
  );
  await admin.query(
    `UPDATE ${S}.books SET last_seq = $2::bigint + $3::int, last_at = $4::timestamptz + $3::int * interval '1 millisecond' WHERE name = $1`,
    [book, head.last_seq, BULK_TRANSACTIONS, head.last_at],
  );
}

test('PG-EXPLAIN: the hot statements use their indexes on 2 × 20,000 transactions, custom and generic plans', { timeout: 300_000 }, async (t) => {
  const store = await PgStore.open({ url: database.url, schema: SCHEMA, writeConnections: 2, readConnections: 2, subscribePollMs: 100 });
  const admin = new pg.Client({ connectionString: database.url });
  await admin.connect();
  let recorder: ReturnType<typeof recordQueries> | null = null;
  try {
    // Through the store: the asset, accounts, a few commits per book.
    await store.registerAsset({ id: 'USD', class: 'fiat', precision: 2, name: 'US Dollar' });
    for (const book of BOOKS) {
      for (const path of ['cash', 'a', 'b']) {
        await store.openAccount({ id: { book, path }, asset: 'USD', kind: 'asset' }, { normal_side: 'debit', min_balance: null });
      }
      for (let index = 0; index < 5; index++) await store.commit(transfer(book, `setup-${index}`, 'a', 'b', 10n));
    }
    for (const book of BOOKS) await grow(admin, book);
    await admin.query(`ANALYZE "${SCHEMA}".books, "${SCHEMA}".events, "${SCHEMA}".assets, "${SCHEMA}".accounts, "${SCHEMA}".transactions, "${SCHEMA}".postings`);

    // The workload, on the grown books: every write and read kind, recorded.
    recorder = recordQueries(admin);
    const book = BOOKS[0]!;
    const stream = store.subscribe(book, BULK_TRANSACTIONS);
    const first = await stream.next();
    assert.equal(first.done, false);
    await store.registerAsset({ id: 'EUR', class: 'fiat', precision: 2, name: 'Euro' });
    await store.registerAsset({ id: 'EUR', class: 'fiat', precision: 2, name: 'Euro' }); // identical: nothing appended
    await store.openAccount({ id: { book, path: 'c' }, asset: 'USD', kind: 'asset' }, { normal_side: 'debit', min_balance: null });
    const isCode = (code: string) => (error: unknown) => error instanceof StoreError && error.code === code;
    await assert.rejects(store.openAccount({ id: { book: 'E1', path: 'x' }, asset: 'USD', kind: 'asset' }, { normal_side: 'debit', min_balance: null }), isCode('INVALID_BOOK')); // case conflict
    const tx = transfer(book, 'live-1', 'cash', 'bulk-00007', 25n);
    const committed = await store.commit(tx);
    await store.commit(tx); // replay: the idempotency lookup finds it
    await store.commitBatch([transfer(book, 'live-2', 'cash', 'a', 5n), transfer(book, 'live-3', 'b', 'bulk-00009', 6n)]);
    await assert.rejects(store.commit(transfer(`new-${randomUUID().slice(0, 6)}`, 'k', 'x', 'y', 1n)), isCode('UNKNOWN_ACCOUNT')); // creates no book
    const asOfAt = (await admin.query(`SELECT to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS at FROM "${SCHEMA}".events WHERE book = $1 AND seq = 10000`, [book])).rows[0].at as string;
    for (const path of ['cash', 'bulk-00007']) {
      await store.balance({ book, path });
      await store.balance({ book, path }, asOfAt);
      await store.accountHistory({ book, path }, null, 100);
      await store.accountHistory({ book, path }, 5_000, 100);
    }
    assert.equal((await store.transaction(committed.txid))?.seq, committed.seq);
    assert.equal((await store.readEvents(book, 10_000, 100)).length, 100);
    await store.trialBalance(book);
    await store.trialBalance(book, asOfAt);
    await store.asset('USD');
    await new Promise((resolve) => setTimeout(resolve, 300)); // a poll of the subscribed book
    await stream.return?.();
  } finally {
    recorder?.stop();
  }

  const statements = [...recorder!.statements.values()];
  const unmatched = statements.filter((statement) => !RULES.some((rule) => rule.match.test(statement.text)));
  assert.deepEqual(unmatched.map((statement) => statement.text), [], 'statements without a PG-EXPLAIN rule');
  const matchedRules = new Set(statements.map((statement) => RULES.find((rule) => rule.match.test(statement.text))!.what));
  for (const what of ['F3 book lock', 'F4 state read', 'F7 write', 'trial balance now', 'balance asOf', 'history page', 'readEvents', 'transaction(txid)', 'subscription poll heads']) {
    assert(matchedRules.has(what), `the workload never ran: ${what}`);
  }

  try {
    await admin.query('BEGIN'); // nothing is executed: EXPLAIN without ANALYZE, rolled back anyway
    let index = 0;
    for (const statement of statements) {
      const rule = RULES.find((candidate) => candidate.match.test(statement.text))!;
      const name = `explained_${index++}`;
      await admin.query(`PREPARE ${name} AS ${statement.text}`);
      for (const [mode, values] of [
        ...statement.runs.map((values) => ['force_custom_plan', values] as const),
        ['force_generic_plan', statement.runs[0]!] as const,
      ]) {
        const args = values.map((value) => {
          const text = prepare(value);
          return text === null ? 'NULL' : admin.escapeLiteral(String(text));
        });
        await admin.query(`SET LOCAL plan_cache_mode = ${mode}`);
        const result = await admin.query(`EXPLAIN (FORMAT JSON) EXECUTE ${name}${args.length === 0 ? '' : `(${args.join(', ')})`}`);
        const plan = (result.rows[0]['QUERY PLAN'] as Array<{ Plan: PlanNode }>)[0]!.Plan;
        const nodes = nodesOf(plan);
        const shape = JSON.stringify(nodes.map((node) => [node['Node Type'], node['Relation Name'] ?? '', node['Index Name'] ?? '']));
        const where = `${rule.what} (${mode}, ${args.join(', ').slice(0, 120)}): ${shape}`;
        if (process.env.TALEA_EXPLAIN_PRINT === '1') t.diagnostic(where);
        for (const node of nodes) {
          if (node['Node Type'] !== 'Seq Scan' || !HOT_TABLES.includes(node['Relation Name'] ?? '')) continue;
          assert(rule.seqScanAllowed?.tables.includes(node['Relation Name']!), `Seq Scan on ${node['Relation Name']} in ${where}`);
        }
        const used = new Set(nodes.map((node) => node['Index Name']).filter((name): name is string => name !== undefined));
        for (const expected of rule.indexes) assert(used.has(expected), `index ${expected} not used in ${where}`);
        if (rule.noSort === true) assert(!nodes.some((node) => node['Node Type'] === 'Sort' || node['Node Type'] === 'Incremental Sort'), `Sort in ${where}`);
      }
      await admin.query(`DEALLOCATE ${name}`);
    }
    t.diagnostic(`${statements.length} statements explained, custom and generic`);
  } finally {
    await admin.query('ROLLBACK').catch(() => undefined);
    await admin.end();
    await store.close();
  }
});

/** A parameter as pg sends it: text (arrays as array literals, bigints as digits), or null. */
function prepare(value: unknown): unknown {
  return (pg as unknown as { utils: { prepareValue(value: unknown): unknown } }).utils.prepareValue(value);
}

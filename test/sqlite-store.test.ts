/**
 * SqliteStore, the benchmark's peer (spec/bench.md, section 4.1): the shared conformance suite with
 * an empty skip list, every case in a fresh temporary directory (removed after close), then again
 * with the store closed and reopened on the same database file between each case's writes and its
 * checks. Plus the durability self-check (the pragmas read back `wal` and FULL (2)), and a
 * model-based check that SqliteStore answers exactly as MemoryStore does on random operation
 * sequences, including writes issued together (which SqliteStore runs as one group commit).
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, test } from 'node:test';
import fc from 'fast-check';

import { SQLITE_FILE_NAME, SqliteStore, type SqliteStoreOptions } from '../src/sqlite/index.js';
import { StoreError } from '../src/core/errors.js';
import { MemoryStore } from '../src/memory/memory-store.js';
import type { Store } from '../src/core/store.js';
import { I64_MAX, type Posting, type Transaction } from '../src/core/types.js';
import { runConformance } from './conformance/run-conformance.js';
import { answer } from './support/answer.js';

const directories = new WeakMap<object, { dir: string; inner: SqliteStore; options: SqliteStoreOptions }>();

/** A store whose close() also removes its directory (after the database is closed). */
function wrap(inner: SqliteStore, dir: string, options: SqliteStoreOptions): SqliteStore {
  const wrapper = new Proxy(inner, {
    get(target, property) {
      if (property === 'close') {
        return async () => {
          await target.close();
          fs.rmSync(dir, { recursive: true, force: true });
        };
      }
      const value = Reflect.get(target, property, target) as unknown;
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  directories.set(wrapper, { dir, inner, options });
  return wrapper;
}

async function openTempSqliteStore(options: SqliteStoreOptions = {}): Promise<SqliteStore> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'talea-sqlite-'));
  return wrap(await SqliteStore.open(path.join(dir, SQLITE_FILE_NAME), options), dir, options);
}

/** Closes the store (keeping its directory) and opens the same database file again. */
async function reopenSqliteStore(store: Store): Promise<SqliteStore> {
  const entry = directories.get(store);
  if (entry === undefined) throw new Error('not a temporary SqliteStore');
  await entry.inner.close();
  return wrap(await SqliteStore.open(path.join(entry.dir, SQLITE_FILE_NAME), entry.options), entry.dir, entry.options);
}

runConformance('SqliteStore', () => openTempSqliteStore(), { skip: [] });

runConformance('SqliteStore, restarted between writes and checks (B10)', () => openTempSqliteStore(), {
  skip: [],
  reopen: reopenSqliteStore,
});

describe('SqliteStore specifics', () => {
  test('admission: past queueDepthMax write jobs of one book, a write is OVERLOADED at once; a batch is admitted whole or not at all', async () => {
    const store = await openTempSqliteStore({ queueDepthMax: 2 });
    try {
      await store.registerAsset({ id: 'USD', class: 'fiat', precision: 2, name: 'US Dollar' });
      for (const path of ['cash', 'equity']) {
        await store.openAccount({ id: { book: 'q', path }, asset: 'USD', kind: 'clearing' }, { normal_side: null, min_balance: null });
      }
      const draft = (key: string): Transaction => ({
        id: randomUUID(),
        book: 'q',
        postings: [
          { account: { book: 'q', path: 'cash' }, amount: { minor: 1n, asset: 'USD' }, direction: 'debit' },
          { account: { book: 'q', path: 'equity' }, amount: { minor: 1n, asset: 'USD' }, direction: 'credit' },
        ],
        idempotency_key: key,
        external_refs: [],
        metadata: null,
        occurred_at: '2026-06-05T12:00:00Z',
      });
      const settled = await Promise.allSettled([store.commit(draft('a')), store.commit(draft('b')), store.commit(draft('c'))]);
      assert.equal(settled[0]!.status, 'fulfilled');
      assert.equal(settled[1]!.status, 'fulfilled');
      assert.equal(settled[2]!.status, 'rejected');
      const refused = (settled[2] as PromiseRejectedResult).reason as StoreError & { book?: string };
      assert.equal(refused.code, 'OVERLOADED');
      assert.equal(refused.book, 'q');
      assert.equal((await store.readEvents('q', 1, 10)).length, 4, 'the refused commit appended nothing');

      const pending = store.commit(draft('d'));
      const batch = await store.commitBatch([draft('e'), draft('f')]);
      assert.deepEqual(batch.map((result) => (result.ok ? 'ok' : result.error.code)), ['OVERLOADED', 'OVERLOADED']);
      assert.equal((await pending).seq, 5);
      const later = await store.commitBatch([draft('e'), draft('f')]);
      assert.deepEqual(later.map((result) => (result.ok ? result.value.seq : result.error.code)), [6, 7]);
    } finally {
      await store.close();
    }
  });

  test('durability self-check: WAL and synchronous=FULL read back as wal and 2', async () => {
    const store = await openTempSqliteStore();
    try {
      const durability = store.durability;
      assert.equal(durability.journal_mode, 'wal');
      assert.equal(durability.synchronous, 2);
      assert.match(durability.library_version, /^3\.\d+\.\d+$/);
      assert.ok(fs.existsSync(store.file));
    } finally {
      await store.close();
    }
  });
});

// --- SqliteStore against MemoryStore, answer for answer ------------------------------------------

const BOOKS = ['b1', 'b2', 'B1'];
const PATHS = ['a', 'b', 'c'];
const ASSETS = ['USD', 'EUR'];
const TXIDS = Array.from({ length: 12 }, (_, index) => `00000000-0000-4000-8000-${String(index).padStart(12, '0')}`);

type Op =
  | { op: 'asset'; id: string; precision: number }
  | { op: 'open'; book: string; path: string; asset: string; side: 'debit' | 'credit' | null; min: bigint | null }
  | { op: 'commit'; tx: Transaction }
  | { op: 'batch'; txs: Transaction[] }
  | { op: 'together'; txs: Transaction[] }
  | { op: 'balance'; book: string; path: string }
  | { op: 'history'; book: string; path: string; after: number | null; limit: number }
  | { op: 'trial'; book: string }
  | { op: 'events'; book: string; from: number; limit: number }
  | { op: 'transaction'; txid: string };

const bookArb = fc.constantFrom(...BOOKS);
function postingArb(book: string): fc.Arbitrary<Posting> {
  return fc.record({
    account: fc.record({
      book: fc.oneof({ weight: 9, arbitrary: fc.constant(book) }, { weight: 1, arbitrary: fc.constantFrom('b1', 'b2') }),
      path: fc.constantFrom(...PATHS),
    }),
    amount: fc.record({
      minor: fc.oneof(
        { weight: 8, arbitrary: fc.bigInt({ min: -5n, max: 200n }) },
        { weight: 1, arbitrary: fc.constantFrom(I64_MAX, I64_MAX - 1n, -I64_MAX) },
      ),
      asset: fc.oneof({ weight: 9, arbitrary: fc.constant('USD') }, { weight: 1, arbitrary: fc.constant('EUR') }),
    }),
    direction: fc.constantFrom('debit' as const, 'credit' as const),
  });
}
const txArb: fc.Arbitrary<Transaction> = fc
  .oneof({ weight: 9, arbitrary: fc.constantFrom('b1', 'b2') }, { weight: 1, arbitrary: fc.constantFrom('_sys', 'bad/name') })
  .chain((book) =>
    fc.record({
      id: fc.constantFrom(...TXIDS),
      book: fc.constant(book),
      postings: fc.array(postingArb(book), { maxLength: 3 }),
      idempotency_key: fc.constantFrom('k0', 'k1', 'k2', 'k3', 'k4', 'k5'),
      external_refs: fc.constantFrom([], [{ kind: 'ref', value: 'x' }]),
      metadata: fc.constantFrom(null, { n: 1 }, { n: 2n ** 60n }),
      occurred_at: fc.constantFrom('2026-06-05T12:00:00Z', '2026-06-05T14:00:00.123456789+02:00'),
    }),
  );
const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ op: fc.constant('asset' as const), id: fc.constantFrom(...ASSETS), precision: fc.constantFrom(2, 8) }),
  fc.record({
    op: fc.constant('open' as const),
    book: bookArb,
    path: fc.constantFrom(...PATHS),
    asset: fc.constantFrom(...ASSETS, 'XXX'),
    side: fc.constantFrom('debit' as const, 'credit' as const, null),
    min: fc.constantFrom(null, 0n, -50n),
  }),
  fc.record({ op: fc.constant('commit' as const), tx: txArb }),
  fc.record({ op: fc.constant('batch' as const), txs: fc.array(txArb, { maxLength: 4 }) }),
  fc.record({ op: fc.constant('together' as const), txs: fc.array(txArb, { minLength: 2, maxLength: 4 }) }),
  fc.record({ op: fc.constant('balance' as const), book: bookArb, path: fc.constantFrom(...PATHS) }),
  fc.record({
    op: fc.constant('history' as const),
    book: bookArb,
    path: fc.constantFrom(...PATHS),
    after: fc.constantFrom(null, 0, 2, 4),
    limit: fc.constantFrom(0, 1, 3),
  }),
  fc.record({ op: fc.constant('trial' as const), book: bookArb }),
  fc.record({ op: fc.constant('events' as const), book: fc.constantFrom(...BOOKS, '_system'), from: fc.constantFrom(0, 1, 3), limit: fc.constantFrom(0, 2, 100) }),
  fc.record({ op: fc.constant('transaction' as const), txid: fc.constantFrom(...TXIDS) }),
);

function normalised(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(normalised);
  if (value instanceof StoreError) return { code: value.code, message: value.message };
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([key, inner]) => [key, normalised(inner)]));
  }
  return value;
}

async function apply(store: Store, op: Op): Promise<unknown> {
  switch (op.op) {
    case 'asset':
      return answer(store.registerAsset({ id: op.id, class: 'fiat', precision: op.precision, name: op.id }));
    case 'open':
      return answer(
        store.openAccount({ id: { book: op.book, path: op.path }, asset: op.asset, kind: 'clearing' }, { normal_side: op.side, min_balance: op.min }),
      );
    case 'commit':
      return answer(store.commit(structuredClone(op.tx)));
    case 'batch':
      return answer(store.commitBatch(structuredClone(op.txs)));
    case 'together':
      return Promise.all(op.txs.map((tx) => answer(store.commit(structuredClone(tx)))));
    case 'balance':
      return answer(store.balance({ book: op.book, path: op.path }));
    case 'history':
      return answer(store.accountHistory({ book: op.book, path: op.path }, op.after, op.limit));
    case 'trial':
      return answer(store.trialBalance(op.book));
    case 'events':
      return answer(store.readEvents(op.book, op.from, op.limit));
    case 'transaction':
      return answer(store.transaction(op.txid));
  }
}

/** How many drafts of a write operation the model accepted (a fresh commit or a replay). */
function acceptedDrafts(op: Op, answer: unknown): number {
  const isOk = (entry: unknown): boolean => (entry as { value?: unknown }).value !== undefined;
  if (op.op === 'commit') return isOk(answer) ? 1 : 0;
  if (op.op === 'together') return (answer as unknown[]).filter(isOk).length;
  if (op.op === 'batch' && isOk(answer)) return ((answer as { value: Array<{ ok: boolean }> }).value).filter((slot) => slot.ok).length;
  return 0;
}

/** A clock that advances 7 µs per reading, so both stores stamp the same `at` for the same event. */
function steppingClock(): () => number {
  let nowUs = Date.UTC(2026, 5, 5) * 1000;
  return () => (nowUs += 7);
}

/** Assets and accounts first, so that most generated commits can succeed. */
const PRELUDE: Op[] = [
  { op: 'asset', id: 'USD', precision: 2 },
  { op: 'asset', id: 'EUR', precision: 2 },
  { op: 'open', book: 'b1', path: 'a', asset: 'USD', side: 'debit', min: null },
  { op: 'open', book: 'b1', path: 'b', asset: 'USD', side: 'credit', min: 0n },
  { op: 'open', book: 'b1', path: 'c', asset: 'USD', side: null, min: -50n },
  { op: 'open', book: 'b2', path: 'a', asset: 'USD', side: null, min: null },
  { op: 'open', book: 'b2', path: 'b', asset: 'USD', side: 'debit', min: null },
];

describe('SqliteStore against MemoryStore', () => {
  test('random operation sequences get the same answers from both stores', async () => {
    let commitsAccepted = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { minLength: 5, maxLength: 40 }), async (generated) => {
        const ops = [...PRELUDE, ...generated];
        const memory = new MemoryStore({ clockUs: steppingClock(), onWarning: () => undefined });
        const sqlite = await openTempSqliteStore({ clockUs: steppingClock(), onWarning: () => undefined });
        try {
          for (const [index, op] of ops.entries()) {
            const expected = normalised(await apply(memory, op));
            const actual = normalised(await apply(sqlite, op));
            assert.deepEqual(actual, expected, `operation ${index}: ${op.op}`);
            commitsAccepted += acceptedDrafts(op, expected);
          }
        } finally {
          await memory.close();
          await sqlite.close();
        }
      }),
      { numRuns: 60 },
    );
    assert.ok(commitsAccepted >= 40, `only ${commitsAccepted} generated drafts were accepted: the generator is too hostile`);
  });
});

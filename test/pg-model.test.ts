/**
 * PgStore against MemoryStore, answer for answer (spec/postgres-store.md 7.2, PG-MODEL), on a real
 * PostgreSQL (TALEA_PG_URL, or a cluster this file starts).
 *
 * - Random operation sequences (assets, accounts with minimums and normal sides, commits, batches,
 *   commits issued together, every read) get the same answers, errors and messages included, from
 *   both stores. Both clocks are frozen at one instant, so `at` must be equal too.
 * - A variant spreads the operations over two PgStore instances on one schema (writes and reads
 *   alternate between them), which must answer as the one MemoryStore does.
 * - Drafts issued together or in one batch are kept to one book (a book may be b1 or B1): writes to
 *   different books flush in parallel, so a txid shared by two books issued at once has no defined
 *   winner in PgStore, while MemoryStore decides in call order.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import fc from 'fast-check';

import { StoreError } from '../src/core/errors.js';
import type { Store } from '../src/core/store.js';
import { I64_MAX, type Posting, type Transaction } from '../src/core/types.js';
import { MemoryStore } from '../src/memory/memory-store.js';
import { PgStore } from '../src/postgres/index.js';
import { freshDatabase, pgServer } from './support/pg-server.js';
import { answer } from './support/answer.js';

const server = await pgServer();
const database = await freshDatabase(server.url, 'talea_model');
after(async () => {
  await database.drop();
  await server.stop();
});

const BOOKS = ['b1', 'b2', 'B1'];
const PATHS = ['a', 'b', 'c'];
const ASSETS = ['USD', 'EUR'];
const TXIDS = Array.from({ length: 12 }, (_, index) => `00000000-0000-4000-8000-${String(index).padStart(12, '0')}`);
const FROZEN_US = Date.UTC(2026, 5, 5) * 1000;

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
function txIn(book: string): fc.Arbitrary<Transaction> {
  return fc.record({
    id: fc.constantFrom(...TXIDS),
    book: fc.constant(book),
    postings: fc.array(postingArb(book), { maxLength: 3 }),
    idempotency_key: fc.constantFrom('k0', 'k1', 'k2', 'k3', 'k4', 'k5'),
    external_refs: fc.constantFrom([], [{ kind: 'ref', value: 'x' }]),
    metadata: fc.constantFrom(null, { n: 1 }, { n: 2n ** 60n }),
    occurred_at: fc.constantFrom('2026-06-05T12:00:00Z', '2026-06-05T14:00:00.123456789+02:00'),
  });
}
const writeBookArb = fc.oneof({ weight: 9, arbitrary: fc.constantFrom('b1', 'b2', 'B1') }, { weight: 1, arbitrary: fc.constantFrom('_sys', 'bad/name') });
const txArb = writeBookArb.chain(txIn);
const oneBookTxsArb = (minLength: number) => writeBookArb.chain((book) => fc.array(txIn(book), { minLength, maxLength: 4 }));
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
  fc.record({ op: fc.constant('batch' as const), txs: oneBookTxsArb(0) }),
  fc.record({ op: fc.constant('together' as const), txs: oneBookTxsArb(2) }),
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

function acceptedDrafts(op: Op, result: unknown): number {
  const isOk = (entry: unknown): boolean => (entry as { value?: unknown }).value !== undefined;
  if (op.op === 'commit') return isOk(result) ? 1 : 0;
  if (op.op === 'together') return (result as unknown[]).filter(isOk).length;
  if (op.op === 'batch' && isOk(result)) return (result as { value: Array<{ ok: boolean }> }).value.filter((slot) => slot.ok).length;
  return 0;
}

const PRELUDE: Op[] = [
  { op: 'asset', id: 'USD', precision: 2 },
  { op: 'asset', id: 'EUR', precision: 2 },
  { op: 'open', book: 'b1', path: 'a', asset: 'USD', side: 'debit', min: null },
  { op: 'open', book: 'b1', path: 'b', asset: 'USD', side: 'credit', min: 0n },
  { op: 'open', book: 'b1', path: 'c', asset: 'USD', side: null, min: -50n },
  { op: 'open', book: 'b2', path: 'a', asset: 'USD', side: null, min: null },
  { op: 'open', book: 'b2', path: 'b', asset: 'USD', side: 'debit', min: null },
];

let schemas = 0;

describe('PgStore against MemoryStore', () => {
  for (const instances of [1, 2]) {
    test(`random operation sequences get the same answers (${instances} PgStore instance${instances === 1 ? '' : 's'} on one schema)`, async () => {
      let commitsAccepted = 0;
      await fc.assert(
        fc.asyncProperty(fc.array(opArb, { minLength: 5, maxLength: 30 }), async (generated) => {
          const ops = [...PRELUDE, ...generated];
          const memory = new MemoryStore({ clockUs: () => FROZEN_US, onWarning: () => undefined });
          const schema = `model_${++schemas}`;
          const stores: PgStore[] = [];
          for (let index = 0; index < instances; index++) {
            stores.push(
              await PgStore.open({ url: database.url, schema, writeConnections: 2, readConnections: 1, clockUs: () => FROZEN_US, onWarning: () => undefined }),
            );
          }
          try {
            for (const [index, op] of ops.entries()) {
              const expected = normalised(await apply(memory, op));
              const actual = normalised(await apply(stores[index % instances]!, op));
              assert.deepEqual(actual, expected, `operation ${index}: ${op.op}`);
              commitsAccepted += acceptedDrafts(op, expected);
            }
          } finally {
            await memory.close();
            await Promise.all(stores.map((store) => store.close()));
          }
        }),
        { numRuns: 15 },
      );
      assert.ok(commitsAccepted >= 10, `only ${commitsAccepted} generated drafts were accepted: the generator is too hostile`);
    });
  }
});

/**
 * A child process with its own PgStore, for the multi-process tests (spec/postgres-store.md 7.1).
 *
 *   node pg-child.js <url> <schema> <book> <asset> <label> <count>
 *
 * Sends `count` transfers from `pool` (min_balance 0) to `sink` of 1 to 9 units, 8 at a time, with
 * the idempotency keys `<label>-<n>`, and prints one JSON line per write: the key, the amount, and
 * the seq, txid and `at` of an ok, or the error code. Then `{"done":true}`.
 */
import { randomUUID } from 'node:crypto';

import { StoreError } from '../../src/core/errors.js';
import type { Transaction } from '../../src/core/types.js';
import { PgStore } from '../../src/postgres/index.js';

const [url, schema, book, asset, label, countText] = process.argv.slice(2) as [string, string, string, string, string, string];
const store = await PgStore.open({ url, schema, writeConnections: 2, readConnections: 1 });
const count = Number(countText);
let next = 0;

function transfer(key: string, minor: bigint): Transaction {
  return {
    id: randomUUID(),
    book,
    postings: [
      { account: { book, path: 'pool' }, amount: { minor, asset }, direction: 'credit' },
      { account: { book, path: 'sink' }, amount: { minor, asset }, direction: 'debit' },
    ],
    idempotency_key: key,
    external_refs: [],
    metadata: null,
    occurred_at: '2026-06-05T12:00:00Z',
  };
}

async function caller(): Promise<void> {
  while (next < count) {
    const n = next++;
    const key = `${label}-${n}`;
    const minor = BigInt(1 + (n % 9));
    try {
      const committed = await store.commit(transfer(key, minor));
      console.log(JSON.stringify({ key, minor: Number(minor), ok: true, ...committed }));
    } catch (error) {
      console.log(JSON.stringify({ key, minor: Number(minor), ok: false, code: error instanceof StoreError ? error.code : String(error) }));
    }
  }
}

await Promise.all(Array.from({ length: 8 }, caller));
await store.close();
console.log(JSON.stringify({ done: true }));

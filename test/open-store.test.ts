/**
 * openStore and parseStoreUrl (src/open-store.ts, O1-O3): every scheme opens the store it names,
 * options reach only that store, and a bad URL is INVALID_ARGUMENT that opens and creates nothing.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';

import { isStoreError, LogStore, MemoryStore, openStore, parseStoreUrl, type Store } from '../src/index.js';
import { SqliteStore } from '../src/sqlite/index.js';

function tempDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'talea-open-store-'));
}

/** One asset, two accounts and a commit: the store works, and says so by its seq. */
async function roundTrip(store: Store): Promise<number> {
  await store.registerAsset({ id: 'USD', class: 'fiat', precision: 2, name: 'US dollar' });
  await store.openAccount({ id: { book: 'shop', path: 'cash' }, asset: 'USD', kind: 'asset' }, { normal_side: 'debit', min_balance: null });
  await store.openAccount({ id: { book: 'shop', path: 'sales' }, asset: 'USD', kind: 'income' }, { normal_side: 'credit', min_balance: null });
  const committed = await store.commit({
    id: randomUUID(),
    book: 'shop',
    idempotency_key: 'order-1',
    external_refs: [],
    metadata: null,
    occurred_at: '2026-12-03T10:00:00Z',
    postings: [
      { account: { book: 'shop', path: 'cash' }, amount: { minor: 250n, asset: 'USD' }, direction: 'debit' },
      { account: { book: 'shop', path: 'sales' }, amount: { minor: 250n, asset: 'USD' }, direction: 'credit' },
    ],
  });
  assert.equal((await store.balance({ book: 'shop', path: 'sales' })).amount.minor, 250n);
  return committed.seq;
}

test('parseStoreUrl: the schemes and their locations, taken verbatim (O3)', () => {
  assert.deepEqual(parseStoreUrl('log://./data'), { scheme: 'log', location: './data' });
  assert.deepEqual(parseStoreUrl('log:///srv/ledger'), { scheme: 'log', location: '/srv/ledger' });
  assert.deepEqual(parseStoreUrl('log://data%20dir'), { scheme: 'log', location: 'data%20dir' }, 'not URL-decoded');
  assert.deepEqual(parseStoreUrl('sqlite://./ledger.db'), { scheme: 'sqlite', location: './ledger.db' });
  assert.deepEqual(parseStoreUrl('SQLite:///var/db/ledger.sqlite'), { scheme: 'sqlite', location: '/var/db/ledger.sqlite' }, 'schemes ignore case');
  assert.deepEqual(parseStoreUrl('memory:'), { scheme: 'memory', location: '' });
  assert.deepEqual(parseStoreUrl('memory://'), { scheme: 'memory', location: '' });
  // PostgreSQL: the whole URL is the connection string (the store is opened in pg-multi.test.ts).
  assert.deepEqual(parseStoreUrl('postgres://u:p@db.internal:5432/ledger'), { scheme: 'postgres', location: 'postgres://u:p@db.internal:5432/ledger' });
  assert.deepEqual(parseStoreUrl('postgresql://localhost/db?sslmode=require'), { scheme: 'postgres', location: 'postgresql://localhost/db?sslmode=require' });
});

test('parseStoreUrl: a bad URL is INVALID_ARGUMENT on field url, naming the scheme (O1)', () => {
  const cases: Array<[unknown, RegExp]> = [
    [42, /must be a string/],
    ['', /has no scheme/],
    ['./data', /has no scheme/],
    ['mysql://localhost/db', /unknown scheme "mysql:"/],
    ['mongodb://localhost/db', /unknown scheme "mongodb:"/],
    ['postgres://', /"postgres:" needs a server/],
    ['postgresql:localhost/db', /"postgresql:" needs a server/],
    ['log://', /"log:" needs a data directory/],
    ['log:./data', /"log:" needs a data directory/],
    ['sqlite://', /"sqlite:" needs a database file/],
    ['memory:extra', /"memory:" takes nothing after it/],
  ];
  for (const [url, message] of cases) {
    assert.throws(
      () => parseStoreUrl(url as string),
      (error) => isStoreError(error, 'INVALID_ARGUMENT') && error.field === 'url' && message.test(error.message),
      String(url),
    );
  }
});

test('openStore: log://, sqlite:// and memory: open working stores of their kind', async () => {
  const dir = tempDir();
  try {
    const log = await openStore(`log://${path.join(dir, 'log-data')}`, { log: { workers: 1 } });
    assert.ok(log instanceof LogStore);
    assert.equal(await roundTrip(log), 3);
    await log.close();
    const reopened = await openStore(`log://${path.join(dir, 'log-data')}`, { log: { workers: 1 } });
    assert.equal((await reopened.balance({ book: 'shop', path: 'cash' })).amount.minor, 250n, 'the data is on disk');
    await reopened.close();

    const sqlite = await openStore(`sqlite://${path.join(dir, 'sqlite', 'ledger.db')}`);
    assert.ok(sqlite instanceof SqliteStore);
    assert.equal(await roundTrip(sqlite), 3);
    await sqlite.close();
    assert.ok(fs.existsSync(path.join(dir, 'sqlite', 'ledger.db')), 'the database file is the one the URL names');

    const memory = await openStore('memory:');
    assert.ok(memory instanceof MemoryStore);
    assert.equal(await roundTrip(memory), 3);
    await memory.close();
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("openStore: options reach only the URL's own store", async () => {
  const warnings: string[] = [];
  const memory = await openStore('memory:', {
    memory: { clockUs: () => Date.UTC(2026, 0, 1) * 1000, onWarning: (warning) => warnings.push(warning.code) },
    log: { workers: -1 }, // invalid for LogStore, and not used
  });
  await roundTrip(memory);
  assert.equal((await memory.readEvents('shop', 1, 1))[0]!.at, '2026-01-01T00:00:00.000000Z', 'the memory clock was used');
  await memory.close();
  const never = path.join(os.tmpdir(), `talea-never-created-${randomUUID()}`);
  await assert.rejects(openStore(`log://${never}`, { log: { workers: -1 } }), (error) => isStoreError(error, 'INVALID_ARGUMENT'));
  assert.equal(fs.existsSync(never), false, 'bad options touch no directory');
});

test('openStore: a bad URL rejects INVALID_ARGUMENT and creates nothing', async () => {
  const dir = tempDir();
  const cwd = process.cwd();
  try {
    process.chdir(dir);
    for (const url of ['log:data', 'sqlite:ledger.db', 'file://data', 'data']) {
      await assert.rejects(openStore(url), (error) => isStoreError(error, 'INVALID_ARGUMENT') && error.field === 'url', url);
    }
    assert.deepEqual(fs.readdirSync(dir), []);
  } finally {
    process.chdir(cwd);
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

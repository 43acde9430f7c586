/**
 * PgStore with several writers and readers on one database (spec/postgres-store.md 7.2: the
 * checks of PG-MP-GAPLESS and PG-SPECIFIC that fit a fast run, and cross-instance subscriptions
 * beside the full PG-CONF-SPLIT and PG-CONF-POLL runs of pg-conformance-split.test.ts), on a
 * real PostgreSQL (TALEA_PG_URL, or a cluster this file starts; test/support/pg-server.ts).
 *
 * - Two PgStore instances on one schema, writing one book at once, overlapping keys included.
 * - PG-MP-RACES between two instances (their pools are separate sessions, as two processes' would
 *   be): one key at once with the same and with other content; a new txid in two books at once
 *   (the loser's flush hits the unique key and reruns); registrations, account opens and two
 *   books differing only in case, created at once.
 * - A subscriber in one instance sees the other's commits once each, in order: woken by NOTIFY,
 *   and with NOTIFY off, by the poll alone.
 * - Two Node processes writing one book at once: gapless seqs, no double post, the minimum
 *   balance never breached along the account's history; a subscriber in a third process (this
 *   one) sees every commit once, in order.
 * - A writing process killed with SIGKILL: the book is writable at once from another process, and
 *   retrying every key it may have sent settles each once (the answered ones to their answers).
 * - Open: concurrent first migrations, the durability settings read back, openStore's URL;
 *   a book lock held elsewhere gives OVERLOADED within lockTimeoutMs and appends nothing.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, test } from 'node:test';
import pg from 'pg';

import { StoreError } from '../src/core/errors.js';
import type { Store } from '../src/core/store.js';
import type { Committed, SequencedEvent, Transaction } from '../src/core/types.js';
import { openStore } from '../src/open-store.js';
import { PgStore, type PgStoreOptions } from '../src/postgres/index.js';
import { freshDatabase, pgServer } from './support/pg-server.js';

const server = await pgServer();
const database = await freshDatabase(server.url, 'talea_multi');
after(async () => {
  await database.drop();
  await server.stop();
});

let schemas = 0;
function freshSchema(): string {
  return `multi_${++schemas}`;
}

function open(schema: string, options: Partial<PgStoreOptions> = {}): Promise<PgStore> {
  return PgStore.open({ url: database.url, schema, writeConnections: 4, readConnections: 2, ...options });
}

function transfer(book: string, key: string, from: string, to: string, asset: string, minor: bigint): Transaction {
  return {
    id: randomUUID(),
    book,
    postings: [
      { account: { book, path: from }, amount: { minor, asset }, direction: 'credit' },
      { account: { book, path: to }, amount: { minor, asset }, direction: 'debit' },
    ],
    idempotency_key: key,
    external_refs: [],
    metadata: null,
    occurred_at: '2026-06-05T12:00:00Z',
  };
}

/** A book with `pool` (min_balance 0) funded with `funds`, `sink`, and `equity`. */
async function fundedBook(store: Store, funds: bigint): Promise<{ book: string; asset: string }> {
  const book = `mp-${randomUUID().slice(0, 8)}`;
  const asset = `USD${randomUUID().slice(0, 4)}`;
  await store.registerAsset({ id: asset, class: 'fiat', precision: 2, name: 'US Dollar' });
  await store.openAccount({ id: { book, path: 'pool' }, asset, kind: 'asset' }, { normal_side: 'debit', min_balance: 0n });
  await store.openAccount({ id: { book, path: 'sink' }, asset, kind: 'asset' }, { normal_side: 'debit', min_balance: null });
  await store.openAccount({ id: { book, path: 'equity' }, asset, kind: 'equity' }, { normal_side: 'credit', min_balance: null });
  await store.commit(transfer(book, 'fund', 'equity', 'pool', asset, funds));
  return { book, asset };
}

async function allEvents(store: Store, book: string): Promise<SequencedEvent[]> {
  const events: SequencedEvent[] = [];
  for (;;) {
    const page = await store.readEvents(book, events.length + 1, 500);
    events.push(...page);
    if (page.length < 500) return events;
  }
}

/** Gapless seqs, non-decreasing `at`, and the pool never below 0 after any transaction. */
async function checkLedger(store: Store, book: string, funds: bigint, okMinors: bigint[]): Promise<void> {
  const events = await allEvents(store, book);
  events.forEach((event, index) => assert.equal(event.seq, index + 1, 'gapless seqs'));
  for (let index = 1; index < events.length; index++) assert.ok(events[index - 1]!.at <= events[index]!.at, 'at never decreases');
  const posted = events.filter((event) => event.event.kind === 'transaction_posted');
  assert.equal(posted.length, 1 + okMinors.length, 'one event per accepted transfer (plus the funding): no double post');
  let balance = 0n;
  let last = 0;
  for (;;) {
    const page = await store.accountHistory({ book, path: 'pool' }, last, 100);
    if (page.length === 0) break;
    for (const record of page) {
      if (record.seq !== last && last !== 0) assert.ok(balance >= 0n, `pool below its minimum after seq ${last}: ${balance}`);
      last = record.seq;
      balance += record.direction === 'debit' ? record.amount.minor : -record.amount.minor;
    }
  }
  assert.ok(balance >= 0n);
  const spent = okMinors.reduce((sum, minor) => sum + minor, 0n);
  assert.equal(balance, funds - spent, 'pool = funds - accepted transfers');
  assert.equal((await store.balance({ book, path: 'pool' })).amount.minor, funds - spent);
  assert.equal((await store.balance({ book, path: 'sink' })).amount.minor, spent);
}

describe('PgStore: two instances on one schema', () => {
  test('split and overlapping writes to one book: gapless, each key once, minimums kept', async () => {
    const schema = freshSchema();
    const [a, b] = await Promise.all([open(schema), open(schema)]);
    try {
      const funds = 500n;
      const { book, asset } = await fundedBook(a, funds);
      // 120 keys; each sent by both instances (same content), some as batches: more than the pool holds.
      const keys = Array.from({ length: 120 }, (_, index) => ({ key: `k${index}`, minor: BigInt(1 + (index % 9)) }));
      const send = (store: Store, offset: number) =>
        Promise.all(
          keys.map(async ({ key, minor }, index): Promise<[string, Committed | StoreError]> => {
            const tx = transfer(book, key, 'pool', 'sink', asset, minor);
            try {
              if ((index + offset) % 3 === 0) {
                const [result] = await store.commitBatch([tx]);
                return [key, result!.ok ? result!.value : result!.error];
              }
              return [key, await store.commit(tx)];
            } catch (error) {
              if (!(error instanceof StoreError)) throw error;
              return [key, error];
            }
          }),
        );
      const [fromA, fromB] = await Promise.all([send(a, 0), send(b, 1)]);
      const okMinors: bigint[] = [];
      const seqs = new Set<number>();
      for (let index = 0; index < keys.length; index++) {
        const [, left] = fromA[index]!;
        const [, right] = fromB[index]!;
        if (!(left instanceof StoreError) && !(right instanceof StoreError)) {
          assert.deepEqual(left, right, 'the same key from both instances: the same Committed');
        }
        const won = [left, right].find((outcome) => !(outcome instanceof StoreError)) as Committed | undefined;
        for (const outcome of [left, right]) {
          if (outcome instanceof StoreError) {
            // Only a minimum breach may refuse; if the other instance committed the key, a replay wins.
            assert.equal(outcome.code, 'CONSTRAINT_VIOLATION', outcome.message);
          }
        }
        if (won !== undefined) {
          assert.ok(!seqs.has(won.seq), 'each seq belongs to one key');
          seqs.add(won.seq);
          okMinors.push(keys[index]!.minor);
        }
      }
      assert.ok(okMinors.length > 10 && okMinors.length < keys.length, `some fit, some do not (${okMinors.length})`);
      await checkLedger(b, book, funds, okMinors);
      await checkLedger(a, book, funds, okMinors);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  test('books subscribed at once: the listener sends one statement at a time, and every book is followed', async () => {
    const schema = freshSchema();
    const writer = await open(schema);
    // A poll too slow to matter: each stream can only be woken by its LISTEN (and the wake-up after it) or a NOTIFY.
    const reader = await open(schema, { subscribePollMs: 60_000 });
    const warnings: string[] = [];
    const onWarning = (warning: Error): void => void warnings.push(`${warning.name}: ${warning.message}`);
    process.on('warning', onWarning);
    try {
      const books = [];
      for (let index = 0; index < 6; index++) books.push(await fundedBook(writer, 100n));
      const streams = books.map(({ book }) => reader.subscribe(book, 5)[Symbol.asyncIterator]());
      const nexts = streams.map((stream) => stream.next()); // six LISTENs in one turn
      await Promise.all(books.map(({ book, asset }) => writer.commit(transfer(book, 'after', 'pool', 'sink', asset, 1n))));
      let timer: NodeJS.Timeout | undefined;
      const results = await Promise.race([
        Promise.all(nexts),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error('a subscribed book was not followed')), 10_000);
        }),
      ]);
      clearTimeout(timer);
      assert.deepEqual(results.map((result) => (result.done ? null : result.value.seq)), books.map(() => 5));
      await Promise.all(streams.map((stream) => stream.return?.()));
      await new Promise((resolve) => setImmediate(resolve)); // warnings are emitted on a later tick
      assert.deepEqual(warnings.filter((warning) => warning.includes('already executing a query')), []);
    } finally {
      process.off('warning', onWarning);
      await Promise.all([writer.close(), reader.close()]);
    }
  });

  for (const variant of [
    { name: 'woken by NOTIFY', options: {} },
    { name: 'NOTIFY off: the poll alone', options: { testHooks: { notify: false }, subscribePollMs: 50 } },
  ]) {
    test(`a subscriber in one instance sees the other's commits in order, once each (${variant.name})`, async () => {
      const schema = freshSchema();
      const writer = await open(schema, variant.options);
      const reader = await open(schema, variant.options);
      try {
        const { book, asset } = await fundedBook(writer, 10_000n);
        const stream = reader.subscribe(book, 1);
        const seen: number[] = [];
        const total = 4 + 150;
        const reading = (async () => {
          for await (const event of stream) {
            seen.push(event.seq);
            if (event.seq === total) break;
          }
        })();
        // Writes while the stream catches up and after it went live: singles, turns and batches.
        for (let round = 0; round < 50; round++) {
          if (round % 10 === 0) {
            const results = await writer.commitBatch([0, 1, 2].map((index) => transfer(book, `b${round}-${index}`, 'pool', 'sink', asset, 1n)));
            assert.ok(results.every((result) => result.ok));
          } else {
            await Promise.all([0, 1, 2].map((index) => writer.commit(transfer(book, `c${round}-${index}`, 'pool', 'sink', asset, 1n))));
          }
        }
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([
          reading,
          new Promise((_, reject) => {
            timer = setTimeout(() => reject(new Error(`subscriber stalled at ${seen.length} of ${total} events`)), 10_000);
          }),
        ]);
        clearTimeout(timer);
        assert.deepEqual(seen, Array.from({ length: total }, (_, index) => index + 1), 'every seq once, in order');
      } finally {
        await Promise.all([writer.close(), reader.close()]);
      }
    });
  }
});

describe('PgStore: races between two instances (PG-MP-RACES)', () => {
  /** A settled answer: the value, or the StoreError's code (anything else fails the test). */
  async function settle<T>(promise: Promise<T>): Promise<{ ok: true; value: T } | { ok: false; error: StoreError }> {
    try {
      return { ok: true, value: await promise };
    } catch (error) {
      assert.ok(error instanceof StoreError, String(error));
      return { ok: false, error };
    }
  }

  test('one key from both at once: same content answers the same Committed, other content IDEMPOTENCY_CONFLICT naming the winner; one event each', async () => {
    const schema = freshSchema();
    const [a, b] = [await open(schema), await open(schema)];
    try {
      const { book, asset } = await fundedBook(a, 1_000_000n);
      for (let round = 0; round < 30; round++) {
        const same = transfer(book, `same-${round}`, 'pool', 'sink', asset, 1n);
        const [left, right] = await Promise.all([settle(a.commit(same)), settle(b.commit({ ...same }))]);
        assert.ok(left.ok && right.ok, 'both answered');
        assert.deepEqual(left.value, right.value, 'the same Committed');
        const [first, second] = await Promise.all([
          settle(a.commit(transfer(book, `other-${round}`, 'pool', 'sink', asset, 2n))),
          settle(b.commit(transfer(book, `other-${round}`, 'pool', 'sink', asset, 3n))),
        ]);
        const winners = [first, second].filter((answer) => answer.ok);
        const losers = [first, second].filter((answer) => !answer.ok);
        assert.equal(winners.length, 1, 'one of the two contents committed');
        assert.equal(losers[0]!.error.code, 'IDEMPOTENCY_CONFLICT');
        assert.deepEqual((losers[0]!.error as StoreError & { original: Committed }).original, winners[0]!.value, 'the conflict names the winner');
      }
      const events = await allEvents(b, book);
      events.forEach((event, index) => assert.equal(event.seq, index + 1, 'gapless'));
      const keys = events.flatMap((event) => (event.event.kind === 'transaction_posted' ? [event.event.idempotency_key] : []));
      assert.equal(new Set(keys).size, keys.length, 'each key once');
      assert.equal(keys.length, 1 + 30 * 2);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  test('a new txid in two books at once, 200 times: exactly one commits, the other is ALREADY_EXISTS; the race reruns the loser', async () => {
    const schema = freshSchema();
    const [a, b] = [await open(schema), await open(schema)];
    try {
      const left = await fundedBook(a, 1_000_000n);
      const right = await fundedBook(b, 1_000_000n);
      for (let round = 0; round < 200; round++) {
        const id = randomUUID();
        const answers = await Promise.all([
          settle(a.commit({ ...transfer(left.book, `race-${round}`, 'pool', 'sink', left.asset, 1n), id })),
          settle(b.commit({ ...transfer(right.book, `race-${round}`, 'pool', 'sink', right.asset, 1n), id })),
        ]);
        assert.equal(answers.filter((answer) => answer.ok).length, 1, `round ${round}: one success`);
        const loser = answers.find((answer) => !answer.ok)!;
        assert.equal(loser.ok ? '' : loser.error.code, 'ALREADY_EXISTS', `round ${round}`);
        const stored = await a.transaction(id);
        assert.ok(stored !== null);
      }
      // Both flushes read no such txid and insert it; the second waits for the first and fails on
      // the key, then reruns and sees it (spec 3.5): that path ran.
      assert.ok(a.stats().raceReruns + b.stats().raceReruns > 0, 'no txid race happened in 200 rounds');
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  test('registrations and account opens from both at once; Foo-x and foo-x at once: one case_conflict', async () => {
    const schema = freshSchema();
    const [a, b] = [await open(schema), await open(schema)];
    try {
      for (let round = 0; round < 20; round++) {
        const id = `R${round}`;
        const def = { id, class: 'fiat' as const, precision: 2, name: `Unit ${round}` };
        const same = await Promise.all([settle(a.registerAsset(def)), settle(b.registerAsset({ ...def }))]);
        assert.ok(same.every((answer) => answer.ok), 'identical registrations both succeed');
        const other = await Promise.all([settle(a.registerAsset({ ...def, id: `${id}x` })), settle(b.registerAsset({ ...def, id: `${id}x`, precision: 3 }))]);
        assert.deepEqual(other.map((answer) => (answer.ok ? 'ok' : answer.error.code)).sort(), ['ALREADY_EXISTS', 'ok']);

        const book = `race-book-${round}`;
        const account = { id: { book, path: 'cash' }, asset: id, kind: 'asset' as const };
        const opens = await Promise.all([
          settle(a.openAccount(account, { normal_side: 'debit', min_balance: null })),
          settle(b.openAccount({ ...account }, { normal_side: 'debit', min_balance: null })),
        ]);
        assert.ok(opens.every((answer) => answer.ok), 'identical opens both succeed');
        const conflicting = await Promise.all([
          settle(a.openAccount({ ...account, id: { book, path: 'cash2' } }, { normal_side: 'debit', min_balance: null })),
          settle(b.openAccount({ ...account, id: { book, path: 'cash2' } }, { normal_side: 'credit', min_balance: null })),
        ]);
        assert.deepEqual(conflicting.map((answer) => (answer.ok ? 'ok' : answer.error.code)).sort(), ['ALREADY_EXISTS', 'ok']);

        const twins = await Promise.all([
          settle(a.openAccount({ id: { book: `Foo-${round}`, path: 'x' }, asset: id, kind: 'asset' }, { normal_side: 'debit', min_balance: null })),
          settle(b.openAccount({ id: { book: `foo-${round}`, path: 'x' }, asset: id, kind: 'asset' }, { normal_side: 'debit', min_balance: null })),
        ]);
        assert.equal(twins.filter((answer) => answer.ok).length, 1, `round ${round}: one of the twins`);
        const refused = twins.find((answer) => !answer.ok)!;
        assert.ok(!refused.ok && refused.error.code === 'INVALID_BOOK' && (refused.error as StoreError & { reason: string }).reason === 'case_conflict', String(refused.ok ? '' : refused.error.message));
        // The assets registry and each book hold one event per success.
        assert.equal((await allEvents(a, book)).length, 2);
      }
      const system = await allEvents(b, '_system');
      assert.equal(system.length, 20 * 2, 'one registration event per asset id');
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });
});

describe('PgStore: two processes writing one book', () => {
  test('gapless seqs, no double post, minimum never breached; a subscriber in a third process sees every commit once, in order', async () => {
    const schema = freshSchema();
    const store = await open(schema);
    try {
      const funds = 1_500n;
      const { book, asset } = await fundedBook(store, funds);
      const child = path.join(path.dirname(fileURLToPath(import.meta.url)), 'support', 'pg-child.js');
      const run = (label: string) =>
        new Promise<Array<Record<string, unknown>>>((resolve, reject) => {
          const proc = spawn(process.execPath, [child, database.url, schema, book, asset, label, '250'], { stdio: ['ignore', 'pipe', 'pipe'] });
          let out = '';
          let err = '';
          proc.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
          proc.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
          proc.on('error', reject);
          proc.on('exit', (code) => {
            if (code !== 0) return reject(new Error(`child ${label} exited ${code}: ${err}`));
            resolve(out.trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>));
          });
        });
      // A subscriber in this process follows the children's commits (NOTIFY and the poll only:
      // this store writes nothing meanwhile).
      const following = new AbortController();
      const seen: SequencedEvent[] = [];
      const follower = (async () => {
        for await (const event of store.subscribe(book, 1, { signal: following.signal })) seen.push(event);
      })().catch((error: unknown) => {
        if (!following.signal.aborted) throw error;
      });
      const [left, right] = await Promise.all([run('p1'), run('p2')]);
      const okMinors: bigint[] = [];
      const seqs = new Set<number>();
      for (const lines of [left, right]) {
        assert.deepEqual(lines.at(-1), { done: true });
        const writes = lines.slice(0, -1);
        assert.equal(writes.length, 250);
        for (const write of writes) {
          if (write.ok === true) {
            const seq = write.seq as number;
            assert.ok(!seqs.has(seq), `seq ${seq} answered twice`);
            seqs.add(seq);
            okMinors.push(BigInt(write.minor as number));
          } else {
            assert.equal(write.code, 'CONSTRAINT_VIOLATION', JSON.stringify(write));
          }
        }
      }
      assert.ok(okMinors.length > 100 && okMinors.length < 500, `some fit, some do not (${okMinors.length})`);
      await checkLedger(store, book, funds, okMinors);
      // Each ok's seq holds that very transaction.
      const events = await allEvents(store, book);
      for (const write of [...left, ...right]) {
        if (write.ok !== true) continue;
        const event = events[(write.seq as number) - 1]!;
        assert.equal(event.at, write.at);
        assert.equal(event.event.kind === 'transaction_posted' && event.event.idempotency_key, write.key);
      }
      // The subscriber saw every event once, in order, as the table holds them.
      const deadline = Date.now() + 10_000;
      while (seen.length < events.length && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
      following.abort();
      await follower;
      assert.deepEqual(seen, events, 'the other processes\' commits, each once, in order');
    } finally {
      await store.close();
    }
  });
});

describe('PgStore: a writer killed with SIGKILL', () => {
  test('another process commits at once; every key settles once when retried with the same content', async () => {
    const schema = freshSchema();
    const store = await open(schema, { lockTimeoutMs: 5_000 });
    try {
      const { book, asset } = await fundedBook(store, 1_000_000n);
      const child = path.join(path.dirname(fileURLToPath(import.meta.url)), 'support', 'pg-child.js');
      const proc = spawn(process.execPath, [child, database.url, schema, book, asset, 'k', '1000000'], { stdio: ['ignore', 'pipe', 'ignore'] });
      let out = '';
      const exited = new Promise<NodeJS.Signals | null>((resolve) => proc.on('exit', (_code, signal) => resolve(signal)));
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('the child wrote nothing in 20 s')), 20_000);
        proc.stdout.on('data', (chunk: Buffer) => {
          out += chunk.toString();
          if (out.split('\n').length > 60) {
            clearTimeout(timer);
            resolve();
          }
        });
      });
      proc.kill('SIGKILL'); // mid-load: flushes in flight, maybe a COMMIT sent and unanswered
      assert.equal(await exited, 'SIGKILL');
      const answered = new Map<string, Committed>();
      for (const line of out.split('\n')) {
        let write: Record<string, unknown>;
        try {
          write = JSON.parse(line) as Record<string, unknown>;
        } catch {
          continue; // the line the kill cut
        }
        assert.equal(write.ok, true, line);
        answered.set(write.key as string, { txid: write.txid as string, seq: write.seq as number, at: write.at as string });
      }
      assert.ok(answered.size >= 50);

      // The killed process holds no lock: its transaction died with its socket.
      const started = Date.now();
      await store.commit(transfer(book, 'after-kill', 'pool', 'sink', asset, 1n));
      assert.ok(Date.now() - started < 5_000, 'the book is writable again within 5 s');

      // Retry every key the child may have sent, with the same content and a fresh txid.
      const landed = (await allEvents(store, book)).flatMap((event) =>
        event.event.kind === 'transaction_posted' && event.event.idempotency_key.startsWith('k-') ? [Number(event.event.idempotency_key.slice(2))] : [],
      );
      const highest = Math.max(...landed, ...[...answered.keys()].map((key) => Number(key.slice(2))));
      const retried = new Map<string, Committed>();
      for (let n = 0; n <= highest + 8; n++) {
        const key = `k-${n}`;
        const committed = await store.commit(transfer(book, key, 'pool', 'sink', asset, BigInt(1 + (n % 9))));
        const original = answered.get(key);
        if (original !== undefined) assert.deepEqual(committed, original, `${key}: the retry returns the answered commit`);
        retried.set(key, committed);
      }
      const events = await allEvents(store, book);
      events.forEach((event, index) => assert.equal(event.seq, index + 1, 'gapless seqs'));
      const keys = events.flatMap((event) => (event.event.kind === 'transaction_posted' ? [event.event.idempotency_key] : []));
      assert.equal(new Set(keys).size, keys.length, 'no key posted twice');
      for (const [key, committed] of retried) {
        const event = events[committed.seq - 1]!;
        assert.ok(event.event.kind === 'transaction_posted' && event.event.idempotency_key === key, `${key} is at its seq`);
      }
    } finally {
      await store.close();
    }
  });
});

describe('PgStore: open, settings, errors', () => {
  test('stores opening a new schema at once migrate it once (advisory lock); settings read back', async () => {
    const schema = freshSchema();
    const stores = await Promise.all(Array.from({ length: 4 }, () => open(schema)));
    try {
      for (const store of stores) {
        assert.equal(store.durability.synchronous_commit, 'on');
        assert.equal(store.durability.fsync, 'on');
        assert.equal(store.durability.full_page_writes, 'on');
      }
      const client = new pg.Client({ connectionString: database.url });
      await client.connect();
      try {
        const migrations = await client.query(`SELECT version FROM "${schema}".schema_migrations ORDER BY version`);
        assert.deepEqual(migrations.rows, [{ version: 1 }, { version: 2 }]);
        const sessions = await client.query(
          `SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'talea-store' AND datname = current_database()`,
        );
        // Each store's write pool keeps the connection that read the settings back.
        assert.ok((sessions.rows[0] as { n: number }).n >= stores.length);
      } finally {
        await client.end();
      }
    } finally {
      await Promise.all(stores.map((store) => store.close()));
    }
  });

  test("openStore('postgres://…') and 'postgresql://…' open a PgStore; a bad schema option is INVALID_ARGUMENT", async () => {
    const url = new URL(database.url);
    for (const scheme of ['postgres:', 'postgresql:']) {
      url.protocol = scheme;
      const store = await openStore(url.toString(), { postgres: { schema: freshSchema() } });
      try {
        assert.ok(store instanceof PgStore);
        await store.registerAsset({ id: 'EUR', class: 'fiat', precision: 2, name: 'Euro' });
        assert.equal((await store.asset('EUR'))?.name, 'Euro');
      } finally {
        await store.close();
      }
    }
    await assert.rejects(PgStore.open({ url: database.url, schema: 'Bad-Name' }), (error: unknown) => {
      assert.ok(error instanceof StoreError);
      assert.equal(error.code, 'INVALID_ARGUMENT');
      return true;
    });
  });

  test('a book lock held elsewhere: OVERLOADED within lockTimeoutMs, nothing appended; A1 NUL refused', async () => {
    const schema = freshSchema();
    const store = await open(schema, { lockTimeoutMs: 200 });
    const client = new pg.Client({ connectionString: database.url });
    await client.connect();
    try {
      const { book, asset } = await fundedBook(store, 100n);
      await client.query('BEGIN');
      await client.query(`SELECT 1 FROM "${schema}".books WHERE name = $1 FOR UPDATE`, [book]);
      const started = Date.now();
      await assert.rejects(store.commit(transfer(book, 'held', 'pool', 'sink', asset, 1n)), (error: unknown) => {
        assert.ok(error instanceof StoreError);
        assert.equal(error.code, 'OVERLOADED');
        assert.equal((error as StoreError & { book: string }).book, book);
        return true;
      });
      assert.ok(Date.now() - started < 5_000);
      await client.query('ROLLBACK');
      assert.equal((await store.readEvents(book, 1, 100)).length, 4, 'nothing appended');
      const later = await store.commit(transfer(book, 'held', 'pool', 'sink', asset, 1n));
      assert.equal(later.seq, 5, 'the same key succeeds once the lock is free');
      await assert.rejects(store.commit(transfer(book, 'nul\u0000key', 'pool', 'sink', asset, 1n)), (error: unknown) => {
        assert.ok(error instanceof StoreError);
        assert.equal(error.code, 'INVALID_ARGUMENT');
        return true;
      });
    } finally {
      await client.end();
      await store.close();
    }
  });
});

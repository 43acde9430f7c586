/**
 * Every route of the talea wire API over real HTTP on 127.0.0.1, against MemoryStore, LogStore and
 * SqliteStore: success bodies and headers, every error envelope the reference lists, the i64 round
 * trip beyond 2^53, idempotent retries, positional batches, and that bad input changes nothing.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { MemoryStore } from '../src/memory/memory-store.js';
import {
  STORE_KINDS,
  USD,
  eventCount,
  gatedStore,
  seedBook,
  SseReader,
  startServer,
  transfer,
  type TestServer,
} from './support/http-fixtures.js';

/** Test messages: JSON with bigints as digits. */
const show = (value: unknown): string => JSON.stringify(value, (_key, item: unknown) => (typeof item === 'bigint' ? item.toString() : item));

const BIG = 2n ** 53n + 1n; // 9007199254740993: not a double
const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const AT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/;

for (const kind of STORE_KINDS) {
  describe(`HTTP routes over the ${kind} store`, () => {
    let server: TestServer;
    before(async () => {
      server = await startServer(kind);
      await seedBook(server.client, 'demo');
    });
    after(() => server.stop());

    test('health: 200 ok with the backend header', async () => {
      const reply = await server.client.get('/health');
      assert.equal(reply.status, 200);
      assert.equal(reply.text, 'ok');
      assert.equal(reply.headers.get('x-talea-backend'), kind);
    });

    test('assets: identical re-registration 204, a different definition 409 already_exists, bad drafts 400', async () => {
      const { client } = server;
      assert.equal((await client.post('/v1/assets', USD)).status, 204);
      const conflict = await client.post('/v1/assets', { ...USD, precision: 3 });
      assert.equal(conflict.status, 409);
      assert.deepEqual(conflict.json, { error: 'already_exists', what: 'asset USD' });
      const btc = await client.post('/v1/assets', { id: 'BTC', class: 'crypto', network: 'bitcoin', precision: 8, name: 'Bitcoin' });
      assert.equal(btc.status, 204);
      const cases: Array<[unknown, string]> = [
        [{ ...USD, id: '' }, 'id'],
        [{ ...USD, id: 'X', class: 'gold' }, 'class'],
        [{ ...USD, id: 'X', network: 'ethereum' }, 'network'],
        [{ id: 'X', class: 'crypto', precision: 8, name: 'x' }, 'network'],
        [{ ...USD, id: 'X', precision: 256 }, 'precision'],
        [{ id: 'X', class: 'fiat', precision: 2 }, 'name'],
        [[USD], 'body'],
      ];
      for (const [body, field] of cases) {
        const reply = await client.post('/v1/assets', body);
        assert.equal(reply.status, 400, show(body));
        assert.equal(reply.json.error, 'invalid_draft');
        assert.equal(reply.json.field, field, show(body));
        assert.equal(typeof reply.json.reason, 'string');
      }
      assert.equal(await server.handle.store.asset('X'), null, 'a refused asset is not registered');
    });

    test('accounts: idempotent open 204; unknown asset 404; conflicting re-open 409; reserved or bad book 400', async () => {
      const { client, handle } = server;
      const before = await eventCount(handle.store, 'demo');
      assert.equal((await client.post('/v1/accounts', { book: 'demo', path: 'cash', asset: 'USD', kind: 'asset', normal_side: 'debit' })).status, 204);
      const unknown = await client.post('/v1/accounts', { book: 'demo', path: 'x', asset: 'EUR', kind: 'asset', normal_side: 'debit' });
      assert.equal(unknown.status, 404);
      assert.deepEqual(unknown.json, { error: 'unknown_asset', asset: 'EUR' });
      const conflict = await client.post('/v1/accounts', { book: 'demo', path: 'cash', asset: 'USD', kind: 'asset', normal_side: 'credit' });
      assert.equal(conflict.status, 409);
      assert.deepEqual(conflict.json, { error: 'already_exists', what: 'account demo:cash' });
      for (const [body, field] of [
        [{ book: '_system', path: 'x', asset: 'USD', kind: 'asset' }, 'book'],
        [{ book: '', path: 'x', asset: 'USD', kind: 'asset' }, 'book'],
        [{ book: 'no spaces', path: 'x', asset: 'USD', kind: 'asset' }, 'book'],
        [{ book: 'demo', path: '', asset: 'USD', kind: 'asset' }, 'path'],
        [{ book: 'demo', path: 'x', asset: 'USD', kind: 'wealth' }, 'kind'],
        [{ book: 'demo', path: 'x', asset: 'USD', kind: 'asset', normal_side: 'up' }, 'normal_side'],
        [{ book: 'demo', path: 'x', asset: 'USD', kind: 'asset', min_balance: 1.5 }, 'min_balance'],
        [{ book: 'demo', path: 'x', asset: 'USD', kind: 'asset', min_balance: 2n ** 63n }, 'min_balance'],
        [{ path: 'x', asset: 'USD', kind: 'asset' }, 'book'],
      ] as const) {
        const reply = await client.post('/v1/accounts', body);
        assert.equal(reply.status, 400, show(body));
        assert.equal(reply.json.error, 'invalid_draft');
        assert.equal(reply.json.field, field, `${show(body)}: ${reply.text}`);
      }
      // A clearing account without normal_side is unsided.
      assert.equal((await client.post('/v1/accounts', { book: 'demo', path: 'clearing', asset: 'USD', kind: 'clearing' })).status, 204);
      assert.equal(await eventCount(handle.store, 'demo'), before + 1, 'only the clearing account was appended');
    });

    test('post: 200 Posted with a UUIDv7, then the same key answers deduplicated with the original commit', async () => {
      const { client } = server;
      const first = await client.post('/v1/transactions', transfer('demo', 'dep-1', 100000, { occurred_at: '2026-06-04T12:00:00Z', external_refs: [{ kind: 'btc_txid', value: '4a5e' }], metadata: { channel: 'wire' } }));
      assert.equal(first.status, 200, first.text);
      assert.deepEqual(Object.keys(first.json), ['tx_id', 'seq', 'at', 'deduplicated']);
      assert.match(first.json.tx_id, UUID_V7);
      assert.match(first.json.at, AT);
      assert.equal(first.json.deduplicated, false);
      const retry = await client.post('/v1/transactions', transfer('demo', 'dep-1', 100000, { external_refs: [{ kind: 'btc_txid', value: '4a5e' }], metadata: { channel: 'wire' } }));
      assert.equal(retry.status, 200);
      assert.deepEqual(retry.json, { ...first.json, deduplicated: true });
      // The reference returns the original silently; here a different content under the same key is a 409.
      const conflict = await client.post('/v1/transactions', transfer('demo', 'dep-1', 5));
      assert.equal(conflict.status, 409);
      assert.equal(conflict.json.error, 'already_exists');
      assert.match(conflict.json.what, /idempotency key "dep-1" in book demo/);
      const tx = await client.get(`/v1/transactions/${first.json.tx_id}`);
      assert.equal(tx.status, 200);
      assert.deepEqual(tx.json, {
        tx_id: first.json.tx_id,
        book: 'demo',
        seq: first.json.seq,
        at: first.json.at,
        postings: [
          { seq: first.json.seq, tx_id: first.json.tx_id, account: 'demo:cash', amount: { minor: 100000, asset: 'USD' }, direction: 'debit', at: first.json.at },
          { seq: first.json.seq, tx_id: first.json.tx_id, account: 'demo:equity', amount: { minor: 100000, asset: 'USD' }, direction: 'credit', at: first.json.at },
        ],
        external_refs: [{ kind: 'btc_txid', value: '4a5e' }],
        metadata: { channel: 'wire' },
      });
      const stored = await server.handle.store.transaction(first.json.tx_id);
      assert.equal(stored?.transaction.occurred_at, '2026-06-04T12:00:00Z', 'occurred_at is kept as given');
    });

    test('post: every kind of bad draft gets its envelope and changes nothing', async () => {
      const { client, handle } = server;
      const before = await eventCount(handle.store, 'demo');
      const cases: Array<[string, unknown, number, Record<string, unknown>]> = [
        ['unbalanced', transfer('demo', 'u', 1, { postings: [{ account: 'cash', amount: { minor: 200, asset: 'USD' }, direction: 'debit' }] }), 400, { error: 'unbalanced', asset: 'USD', debit: 200, credit: 0 }],
        ['zero amount', transfer('demo', 'z', 0), 400, { error: 'invalid_amount', amount: 0 }],
        ['negative amount', transfer('demo', 'n', -5), 400, { error: 'invalid_amount', amount: -5 }],
        ['unknown account', { ...transfer('demo', 'ua', 5), postings: [{ account: 'nope', amount: { minor: 5, asset: 'USD' }, direction: 'debit' }, { account: 'equity', amount: { minor: 5, asset: 'USD' }, direction: 'credit' }] }, 404, { error: 'unknown_account', account: 'demo:nope' }],
        ['asset mismatch', { ...transfer('demo', 'am', 5), postings: [{ account: 'cash', amount: { minor: 5, asset: 'BTC' }, direction: 'debit' }, { account: 'equity', amount: { minor: 5, asset: 'BTC' }, direction: 'credit' }] }, 400, { error: 'asset_mismatch', account: 'demo:cash', account_asset: 'USD', asset: 'BTC' }],
        ['overdraw', { ...transfer('demo', 'od', 7), postings: [{ account: 'cash', amount: { minor: 7, asset: 'USD' }, direction: 'debit' }, { account: 'floor', amount: { minor: 7, asset: 'USD' }, direction: 'credit' }] }, 409, { error: 'constraint_violation', account: 'demo:floor', min_balance: 0, would_be: -7 }],
        ['overflow', { ...transfer('demo', 'of', 1), postings: [{ account: 'cash', amount: { minor: 2n ** 62n, asset: 'USD' }, direction: 'debit' }, { account: 'cash', amount: { minor: 2n ** 62n, asset: 'USD' }, direction: 'debit' }, { account: 'equity', amount: { minor: 2n ** 62n, asset: 'USD' }, direction: 'credit' }, { account: 'equity', amount: { minor: 2n ** 62n, asset: 'USD' }, direction: 'credit' }] }, 400, { error: 'invalid_amount', amount: 2n ** 62n }],
        ['reserved book', transfer('_system', 'r', 5), 400, { error: 'invalid_draft', field: 'book' }],
        ['bad book name', transfer('no/slash', 'r', 5), 400, { error: 'invalid_draft', field: 'book' }],
        ['empty key', transfer('demo', '', 5), 400, { error: 'invalid_draft', field: 'idempotency_key' }],
        ['no postings', { book: 'demo', idempotency_key: 'np', postings: [] }, 400, { error: 'invalid_draft', field: 'postings' }],
        ['missing postings', { book: 'demo', idempotency_key: 'mp' }, 400, { error: 'invalid_draft', field: 'postings' }],
        ['empty account', { ...transfer('demo', 'ea', 5), postings: [{ account: '', amount: { minor: 5, asset: 'USD' }, direction: 'debit' }, { account: 'equity', amount: { minor: 5, asset: 'USD' }, direction: 'credit' }] }, 400, { error: 'invalid_draft', field: 'postings.account' }],
        ['fractional amount', transfer('demo', 'fa', 1.5), 400, { error: 'invalid_draft', field: 'postings[0].amount.minor' }],
        ['amount beyond i64', transfer('demo', 'bi', 2n ** 63n), 400, { error: 'invalid_draft', field: 'postings[0].amount.minor' }],
        ['bad direction', { ...transfer('demo', 'bd', 5), postings: [{ account: 'cash', amount: { minor: 5, asset: 'USD' }, direction: 'up' }] }, 400, { error: 'invalid_draft', field: 'postings[0].direction' }],
        ['bad occurred_at', transfer('demo', 'bo', 5, { occurred_at: 'yesterday' }), 400, { error: 'invalid_draft', field: 'occurred_at' }],
        ['bad external_refs', transfer('demo', 'be', 5, { external_refs: {} }), 400, { error: 'invalid_draft', field: 'external_refs' }],
        ['not an object', [1, 2], 400, { error: 'invalid_draft', field: 'body' }],
      ];
      for (const [name, body, status, expected] of cases) {
        const reply = await client.post('/v1/transactions', body);
        assert.equal(reply.status, status, `${name}: ${reply.text}`);
        for (const [key, value] of Object.entries(expected)) assert.deepEqual(reply.json[key], value, `${name}: ${key} in ${reply.text}`);
        if (expected.error === 'invalid_draft') assert.equal(typeof reply.json.reason, 'string', name);
      }
      // Malformed JSON, a wrong or missing content type, an empty body.
      const malformed = await client.post('/v1/transactions', '{"book": "demo",');
      assert.equal(malformed.status, 400);
      assert.equal(malformed.json.error, 'invalid_draft');
      assert.equal(malformed.json.field, 'body');
      for (const headers of [{ 'content-type': 'text/plain' }, { 'content-type': 'application/x-www-form-urlencoded' }]) {
        const reply = await client.post('/v1/transactions', transfer('demo', 'ct', 5), headers);
        assert.equal(reply.status, 415, JSON.stringify(headers));
        assert.deepEqual(reply.json, { error: 'invalid_draft', field: 'body', reason: 'expected content-type: application/json' });
      }
      const noType = await client.request('POST', '/v1/transactions');
      assert.equal(noType.status, 415);
      const empty = await client.post('/v1/transactions', '');
      assert.equal(empty.status, 400);
      assert.equal(empty.json.field, 'body');
      const deep = await client.post('/v1/transactions', `${'['.repeat(200)}${']'.repeat(200)}`);
      assert.equal(deep.status, 400, 'nesting is bounded');
      const oversize = await client.post('/v1/transactions', transfer('demo', 'big', 5, { metadata: { pad: 'x'.repeat(3 * 1024 * 1024) } }));
      assert.equal(oversize.status, 400, 'bodies above 2 MiB are refused as the reference does');
      assert.equal(oversize.json.error, 'invalid_draft');
      // Prototype keys are data.
      const proto = await client.post('/v1/transactions', '{"__proto__":{"book":"demo"},"idempotency_key":"pp","postings":[]}');
      assert.equal(proto.status, 400);
      assert.equal(proto.json.field, 'book');
      assert.equal(await eventCount(handle.store, 'demo'), before, 'no refused draft appended anything');
      assert.equal(await handle.store.transaction('00000000-0000-0000-0000-000000000000'), null);
    });

    test('a minor amount of 2^53 + 1 round-trips through post, balance, history, transaction, trial balance and SSE', async () => {
      const { client } = server;
      const book = 'big';
      await seedBook(client, book);
      const posted = await client.post('/v1/transactions', transfer(book, 'big-1', BIG, { metadata: { big: BIG } }));
      assert.equal(posted.status, 200, posted.text);
      assert.match(posted.text, /"seq":\d+/);
      const balance = await client.get(`/v1/books/${book}/accounts/cash/balance`);
      assert.deepEqual(balance.json, { account: 'big:cash', asset: 'USD', balance: '90071992547409.93', as_of: null, updated_seq: posted.json.seq });
      const liability = await client.get(`/v1/books/${book}/accounts/equity/balance`);
      assert.equal(liability.json.balance, '90071992547409.93', 'normal-side adjusted');
      const history = await client.get(`/v1/books/${book}/accounts/cash/history`);
      assert.ok(history.text.includes('"minor":9007199254740993'), history.text);
      assert.equal(history.json.items[0].amount.minor, BIG);
      const tx = await client.get(`/v1/transactions/${posted.json.tx_id}`);
      assert.equal(tx.json.postings[0].amount.minor, BIG);
      assert.equal(tx.json.metadata.big, BIG);
      const trial = await client.get(`/v1/books/${book}/trial-balance`);
      assert.deepEqual(trial.json, { book, as_of: null, lines: [{ asset: 'USD', debits: BIG, credits: BIG }] });
      const response = await fetch(`${server.base}/v1/books/${book}/events?from=${posted.json.seq - 1}`);
      const reader = new SseReader(response.body!);
      assert.ok(await reader.waitFor(1));
      await reader.cancel();
      assert.ok(reader.events[0]!.data.includes('"minor":9007199254740993'));
      assert.equal(reader.events[0]!.id, String(posted.json.seq));
    });

    test('balance: as_of, unknown account 404, bad as_of and book 400; trial balance as_of', async () => {
      const { client } = server;
      const book = 'asof';
      await seedBook(client, book);
      const first = await client.post('/v1/transactions', transfer(book, 'a1', 150000));
      await new Promise((resolve) => setTimeout(resolve, 20));
      await client.post('/v1/transactions', transfer(book, 'a2', 5));
      const then = await client.get(`/v1/books/${book}/accounts/cash/balance?as_of=${encodeURIComponent(first.json.at)}`);
      assert.deepEqual(then.json, { account: `${book}:cash`, asset: 'USD', balance: '1500.00', as_of: first.json.at, updated_seq: first.json.seq });
      const offset = await client.get(`/v1/books/${book}/accounts/cash/balance?as_of=${encodeURIComponent('2000-01-01T02:00:00+02:00')}`);
      assert.deepEqual(offset.json, { account: `${book}:cash`, asset: 'USD', balance: '0.00', as_of: '2000-01-01T00:00:00.000000Z', updated_seq: 0 });
      const trial = await client.get(`/v1/books/${book}/trial-balance?as_of=${encodeURIComponent(first.json.at)}`);
      assert.deepEqual(trial.json, { book, as_of: first.json.at, lines: [{ asset: 'USD', debits: 150000, credits: 150000 }] });
      assert.deepEqual((await client.get('/v1/books/empty-book/trial-balance')).json, { book: 'empty-book', as_of: null, lines: [] });
      const unknown = await client.get(`/v1/books/${book}/accounts/nope/balance`);
      assert.equal(unknown.status, 404);
      assert.deepEqual(unknown.json, { error: 'unknown_account', account: `${book}:nope` });
      for (const url of [`/v1/books/${book}/accounts/cash/balance?as_of=yesterday`, `/v1/books/${book}/trial-balance?as_of=2026-02-30T00:00:00Z`, '/v1/books/bad%20book/accounts/cash/balance', '/v1/books/bad%20book/trial-balance']) {
        const reply = await client.get(url);
        assert.equal(reply.status, 400, url);
        assert.equal(reply.json.error, 'invalid_draft', url);
      }
    });

    test('history: pages with a next cursor, limit clamped, bad after_seq and limit 400', async () => {
      const { client } = server;
      const book = 'pages';
      await seedBook(client, book);
      const seqs: number[] = [];
      for (let index = 0; index < 3; index++) seqs.push((await client.post('/v1/transactions', transfer(book, `p${index}`, 1 + index))).json.seq);
      const page1 = await client.get(`/v1/books/${book}/accounts/cash/history?limit=2`);
      assert.deepEqual(page1.json.items.map((item: { seq: number }) => item.seq), seqs.slice(0, 2));
      assert.equal(page1.json.next, seqs[1]);
      const page2 = await client.get(`/v1/books/${book}/accounts/cash/history?limit=2&after_seq=${page1.json.next}`);
      assert.deepEqual(page2.json.items.map((item: { seq: number }) => item.seq), [seqs[2]]);
      assert.equal(page2.json.next, null);
      const item = page2.json.items[0];
      assert.deepEqual(Object.keys(item), ['seq', 'tx_id', 'account', 'amount', 'direction', 'at']);
      assert.equal(item.account, `${book}:cash`);
      const zero = await client.get(`/v1/books/${book}/accounts/cash/history?limit=0`);
      assert.equal(zero.json.items.length, 1, 'limit 0 is clamped to 1');
      const all = await client.get(`/v1/books/${book}/accounts/cash/history?limit=99999`);
      assert.equal(all.json.items.length, 3);
      for (const query of ['limit=abc', 'limit=-1', 'limit=4294967296', 'after_seq=x', 'after_seq=-1', 'after_seq=1.5']) {
        const reply = await client.get(`/v1/books/${book}/accounts/cash/history?${query}`);
        assert.equal(reply.status, 400, query);
        assert.equal(reply.json.error, 'invalid_draft', query);
        assert.equal(reply.json.field, query.split('=')[0], query);
      }
      assert.equal((await client.get(`/v1/books/${book}/accounts/nope/history`)).status, 404);
    });

    test('transaction: bad id 400, unknown 404 not_found', async () => {
      const bad = await server.client.get('/v1/transactions/not-a-uuid');
      assert.equal(bad.status, 400);
      assert.equal(bad.json.field, 'tx_id');
      const missing = await server.client.get('/v1/transactions/0190c8a4-0000-7000-8000-000000000000');
      assert.equal(missing.status, 404);
      assert.deepEqual(missing.json, { error: 'not_found', what: 'transaction 0190c8a4-0000-7000-8000-000000000000' });
    });

    test('batch: positional mixed results, duplicates deduplicated, [] answered [], over the cap 400', async () => {
      const { client, handle } = server;
      const book = 'batch';
      await seedBook(client, book);
      assert.deepEqual((await client.post('/v1/transactions/batch', [])).json, []);
      const drafts = [
        transfer(book, 'b1', 10),
        transfer(book, 'b2', 0),
        transfer(book, 'b1', 10),
        { ...transfer(book, 'b3', 7), postings: [{ account: 'cash', amount: { minor: 7, asset: 'USD' }, direction: 'debit' }, { account: 'floor', amount: { minor: 7, asset: 'USD' }, direction: 'credit' }] },
        transfer('_system', 'b4', 1),
        { book, idempotency_key: 'b5' },
        'not an object',
        transfer(book, 'b6', BIG),
      ];
      const before = await eventCount(handle.store, book);
      const reply = await client.post('/v1/transactions/batch', drafts);
      assert.equal(reply.status, 200, reply.text);
      const results = reply.json as Array<Record<string, unknown>>;
      assert.equal(results.length, drafts.length);
      assert.equal(results[0]!.deduplicated, false);
      assert.deepEqual(results[1], { error: 'invalid_amount', amount: 0 });
      assert.deepEqual(results[2], { ...results[0], deduplicated: true }, 'a repeated key in one batch resolves to the first');
      assert.deepEqual(results[3], { error: 'constraint_violation', account: `${book}:floor`, min_balance: 0, would_be: -7 });
      assert.equal(results[4]!.error, 'invalid_draft');
      assert.equal(results[5]!.error, 'invalid_draft');
      assert.equal(results[6]!.error, 'invalid_draft');
      assert.equal(results[7]!.deduplicated, false);
      assert.equal(await eventCount(handle.store, book), before + 2, 'exactly the two accepted drafts were appended');
      // Each ok slot is byte-identical to what the single route answers for a retry.
      const single = await client.post('/v1/transactions', transfer(book, 'b6', BIG));
      assert.ok(reply.text.includes(single.text.replace('"deduplicated":true', '"deduplicated":false')));
      const retry = await client.post('/v1/transactions/batch', drafts);
      assert.equal((retry.json as Array<Record<string, unknown>>)[0]!.deduplicated, true, 'retrying a whole batch is safe');
      assert.equal(await eventCount(handle.store, book), before + 2);
      const tooMany = await client.post('/v1/transactions/batch', Array.from({ length: 501 }, (_, index) => transfer(book, `m${index}`, 1)));
      assert.equal(tooMany.status, 400);
      assert.equal(tooMany.json.error, 'invalid_draft');
      assert.equal(tooMany.json.field, 'body');
      const notArray = await client.post('/v1/transactions/batch', transfer(book, 'na', 1));
      assert.equal(notArray.status, 400);
      assert.equal((await client.post('/v1/transactions/batch', [], { 'content-type': 'text/plain' })).status, 415);
      assert.equal(await eventCount(handle.store, book), before + 2);
    });

    test('unknown routes are 404 in the envelope; /openapi.json and /docs are served', async () => {
      const reply = await server.client.get('/v1/nothing-here');
      assert.equal(reply.status, 404);
      assert.equal(reply.json.error, 'not_found');
      assert.equal((await server.client.get('/openapi.json')).json.openapi, '3.0.3');
      const docs = await server.client.get('/docs');
      assert.equal(docs.status, 200);
      assert.match(docs.text, /swagger/i);
    });
  });
}

describe('HTTP deadline', () => {
  test('a request past the deadline is 408 timeout; the write lands and a retry says deduplicated', async () => {
    const inner = new MemoryStore();
    const gated = gatedStore(inner);
    const server = await startServer('memory', { requestTimeoutMs: 150 }, { store: gated.store, dir: null, dispose: () => inner.close() });
    try {
      gated.release(); // seeding goes through
      await seedBook(server.client, 'slow');
      gated.release();
      const late = await server.client.post('/v1/transactions', transfer('slow', 'late-1', 5));
      assert.equal(late.status, 408);
      assert.deepEqual(late.json, { error: 'timeout' });
      gated.release();
      await new Promise((resolve) => setTimeout(resolve, 20));
      const retryPromise = server.client.post('/v1/transactions', transfer('slow', 'late-1', 5));
      await new Promise((resolve) => setTimeout(resolve, 20));
      gated.release();
      const retry = await retryPromise;
      assert.equal(retry.status, 200, retry.text);
      assert.equal(retry.json.deduplicated, true);
      assert.equal(await eventCount(inner, 'slow'), 4, 'three accounts and one transaction');
    } finally {
      gated.release();
      await server.stop();
    }
  });
});

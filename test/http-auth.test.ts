/**
 * Bearer tokens over real HTTP: 401 for a missing or wrong token, 403 `forbidden` outside a scoped
 * token's books (in-slot in a batch), 404 for an out-of-scope transaction id, the registry only
 * for `rw` on `["*"]`, open routes, and a tokens file whose errors never echo a secret.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { bearerToken, parseTokensFile } from '../src/http/index.js';
import { Client, seedBook, startServer, transfer, USD, type TestServer } from './support/http-fixtures.js';

const TOKENS = `
[tokens.payments]
token = "pay-secret-1"
books = ["payments"]
access = "rw"

[tokens.reporting]
token = "report-secret-2"
books = ["*"]
access = "ro"

[tokens.fees_reader]
token = "fees-secret-3"
books = ["fees"]
access = "ro"
`;

describe('HTTP auth with a tokens file and TALEA_API_TOKEN', () => {
  let server: TestServer;
  let admin: Client;
  let payments: Client;
  let reporting: Client;
  let feesReader: Client;
  let feesTx: string;

  before(async () => {
    server = await startServer('log', { apiToken: 'admin-secret', tokens: parseTokensFile(TOKENS) });
    admin = new Client(server.base, 'admin-secret');
    payments = new Client(server.base, 'pay-secret-1');
    reporting = new Client(server.base, 'report-secret-2');
    feesReader = new Client(server.base, 'fees-secret-3');
    await seedBook(admin, 'payments');
    await seedBook(admin, 'fees');
    const posted = await admin.post('/v1/transactions', transfer('fees', 'fee-1', 200));
    assert.equal(posted.status, 200);
    feesTx = posted.json.tx_id;
  });
  after(() => server.stop());

  test('a missing, wrong or non-bearer token is 401 unauthorized on every /v1 route', async () => {
    const anonymous = new Client(server.base);
    for (const [method, url] of [
      ['GET', '/v1/books/payments/trial-balance'],
      ['POST', '/v1/transactions'],
      ['GET', `/v1/transactions/${feesTx}`],
      ['GET', '/v1/books/payments/events'],
    ]) {
      const reply = await anonymous.request(method!, url!, method === 'POST' ? transfer('payments', 'x', 1) : undefined);
      assert.equal(reply.status, 401, url);
      assert.deepEqual(reply.json, { error: 'unauthorized' });
    }
    assert.equal((await new Client(server.base, 'wrong').get('/v1/books/payments/trial-balance')).status, 401);
    assert.equal((await anonymous.get('/v1/books/payments/trial-balance', { authorization: 'Basic admin-secret' })).status, 401);
    for (const header of ['bearer admin-secret', 'BEARER admin-secret', 'Bearer  admin-secret']) {
      assert.equal((await anonymous.get('/v1/books/payments/trial-balance', { authorization: header })).status, 200, header);
    }
  });

  test('health, openapi.json and docs are open', async () => {
    const anonymous = new Client(server.base);
    assert.equal((await anonymous.get('/health')).status, 200);
    assert.equal((await anonymous.get('/openapi.json')).status, 200);
    assert.equal((await anonymous.get('/docs')).status, 200);
  });

  test('a scoped token writes and reads its books only: 403 forbidden names the book', async () => {
    const ok = await payments.post('/v1/transactions', transfer('payments', 'p-1', 10));
    assert.equal(ok.status, 200);
    const outside = await payments.post('/v1/transactions', transfer('fees', 'p-2', 10));
    assert.equal(outside.status, 403);
    assert.deepEqual(outside.json, { error: 'forbidden', book: 'fees' });
    assert.deepEqual((await payments.post('/v1/accounts', { book: 'fees', path: 'x', asset: 'USD', kind: 'asset' })).json, { error: 'forbidden', book: 'fees' });
    assert.equal((await payments.get('/v1/books/payments/accounts/cash/balance')).status, 200);
    for (const url of ['/v1/books/fees/accounts/cash/balance', '/v1/books/fees/accounts/cash/history', '/v1/books/fees/trial-balance', '/v1/books/fees/events']) {
      const reply = await payments.get(url);
      assert.equal(reply.status, 403, url);
      assert.deepEqual(reply.json, { error: 'forbidden', book: 'fees' });
    }
  });

  test('read-only tokens read but never write; the registry needs rw on ["*"]', async () => {
    assert.equal((await reporting.get('/v1/books/fees/trial-balance')).status, 200);
    assert.deepEqual((await reporting.post('/v1/transactions', transfer('fees', 'r-1', 1))).json, { error: 'forbidden', book: 'fees' });
    for (const client of [reporting, payments, feesReader]) {
      const reply = await client.post('/v1/assets', { ...USD, id: 'EUR' });
      assert.equal(reply.status, 403);
      assert.deepEqual(reply.json, { error: 'forbidden', book: '*' });
    }
    assert.equal((await admin.post('/v1/assets', { ...USD, id: 'EUR' })).status, 204);
  });

  test('an out-of-scope transaction id is 404 exactly like an unknown one', async () => {
    assert.equal((await feesReader.get(`/v1/transactions/${feesTx}`)).status, 200);
    const hidden = await payments.get(`/v1/transactions/${feesTx}`);
    const unknown = await payments.get('/v1/transactions/0190c8a4-0000-7000-8000-000000000000');
    assert.equal(hidden.status, 404);
    assert.deepEqual(hidden.json, { error: 'not_found', what: `transaction ${feesTx}` });
    assert.deepEqual(Object.keys(hidden.json), Object.keys(unknown.json));
  });

  test('a batch gets forbidden in the slots outside the scope and commits the others', async () => {
    const reply = await payments.post('/v1/transactions/batch', [transfer('payments', 'pb-1', 3), transfer('fees', 'pb-2', 3)]);
    assert.equal(reply.status, 200);
    assert.equal(reply.json[0].deduplicated, false);
    assert.deepEqual(reply.json[1], { error: 'forbidden', book: 'fees' });
    const fees = await admin.get('/v1/books/fees/accounts/cash/history');
    assert.equal(fees.json.items.length, 1, 'nothing was written to fees');
  });
});

describe('HTTP open mode and the tokens file parser', () => {
  test('with no token every route is open', async () => {
    const server = await startServer('memory');
    try {
      assert.equal((await server.client.post('/v1/assets', USD)).status, 204);
      assert.equal((await server.client.get('/v1/books/any/trial-balance', { authorization: 'Bearer whatever' })).status, 200);
    } finally {
      await server.stop();
    }
  });

  test('bearer header parsing', () => {
    assert.equal(bearerToken('Bearer abc'), 'abc');
    assert.equal(bearerToken('bearer   abc'), 'abc');
    assert.equal(bearerToken('Bearer'), null);
    assert.equal(bearerToken('Bearer '), null);
    assert.equal(bearerToken('Bearerabc'), null);
    assert.equal(bearerToken('Basic abc'), null);
    assert.equal(bearerToken(undefined), null);
  });

  test('bad tokens files are refused with the entry named and the secret never echoed', () => {
    const cases: Array<[string, RegExp]> = [
      ['[tokens.a]\ntoken = "SECRETX"\nbooks = []\naccess = "rw"', /books must not be empty/],
      ['[tokens.a]\ntoken = "SECRETX"\nbooks = ["*", "b"]\naccess = "rw"', /cannot be mixed/],
      ['[tokens.a]\ntoken = "SECRETX"\nbooks = ["b"]\naccess = "rwx"', /access must be "ro" or "rw"/],
      ['[tokens.a]\ntoken = ""\nbooks = ["b"]\naccess = "rw"', /token must be a non-empty string/],
      ['[tokens.a]\ntoken = "SECRETX"\nbooks = ["a"]\naccess = "rw"\n[tokens.b]\ntoken = "SECRETX"\nbooks = ["b"]\naccess = "rw"', /duplicate token/],
      ['[tokens.a]\ntoken = "SECRETX"\nbooks = ["b"]\naccess = "rw"\nextra = 1', /unknown field "extra"/],
      ['[tokens.a]\ntoken = "SECRETX" garbage\nbooks = ["b"]\naccess = "rw"', /not valid TOML/],
    ];
    for (const [text, expected] of cases) {
      assert.throws(
        () => parseTokensFile(text),
        (error: Error) => {
          assert.match(error.message, expected);
          assert.ok(!error.message.includes('SECRETX'), `secret echoed: ${error.message}`);
          return true;
        },
      );
    }
    const entries = parseTokensFile(TOKENS);
    assert.deepEqual(
      entries.map((entry) => [entry.name, entry.books, entry.access]),
      [
        ['payments', ['payments'], 'rw'],
        ['reporting', '*', 'ro'],
        ['fees_reader', ['fees'], 'ro'],
      ],
    );
  });
});

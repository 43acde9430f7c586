/**
 * The OpenAPI document at /openapi.json: valid OpenAPI 3 (checked by @apidevtools/swagger-parser),
 * and complete: every route the server answers is in it with every status its handler can give,
 * and every error response is the ApiError envelope. Also: the package root never loads Fastify,
 * and decimal rendering follows the reference's table.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import SwaggerParser from '@apidevtools/swagger-parser';
import { formatMinor } from '../src/http/index.js';
import { startServer } from './support/http-fixtures.js';

const EXPECTED: Record<string, Record<string, string[]>> = {
  '/health': { get: ['200', '503'] },
  '/v1/assets': { post: ['204', '400', '401', '403', '408', '409', '415', '500', '503'] },
  '/v1/accounts': { post: ['204', '400', '401', '403', '404', '408', '409', '415', '500', '503'] },
  '/v1/transactions': { post: ['200', '400', '401', '403', '404', '408', '409', '415', '429', '500', '503'] },
  '/v1/transactions/batch': { post: ['200', '400', '401', '408', '415', '500', '503'] },
  '/v1/transactions/{tx_id}': { get: ['200', '400', '401', '404', '408', '429', '500', '503'] },
  '/v1/books/{book}/accounts/{path}/balance': { get: ['200', '400', '401', '403', '404', '408', '429', '500', '503'] },
  '/v1/books/{book}/accounts/{path}/history': { get: ['200', '400', '401', '403', '404', '408', '429', '500', '503'] },
  '/v1/books/{book}/trial-balance': { get: ['200', '400', '401', '403', '408', '429', '500', '503'] },
  '/v1/books/{book}/events': { get: ['200', '400', '401', '403', '408', '500', '503'] },
};

test('the OpenAPI document is valid and lists every route with its statuses and the error envelope', async () => {
  const server = await startServer('memory');
  try {
    const reply = await server.client.get('/openapi.json');
    assert.equal(reply.status, 200);
    const document = JSON.parse(reply.text) as {
      openapi: string;
      paths: Record<string, Record<string, { responses: Record<string, { content?: Record<string, { schema: { $ref?: string } }> }>; security?: unknown; parameters?: Array<{ name: string; in: string }> }>>;
      components: { schemas: Record<string, unknown>; securitySchemes: Record<string, unknown> };
    };
    await SwaggerParser.validate(structuredClone(document) as never);
    assert.equal(document.openapi, '3.0.3');
    assert.deepEqual(Object.keys(document.paths).sort(), Object.keys(EXPECTED).sort());
    for (const [path, methods] of Object.entries(EXPECTED)) {
      for (const [method, statuses] of Object.entries(methods)) {
        const operation = document.paths[path]?.[method];
        assert.ok(operation, `${method} ${path}`);
        assert.deepEqual(Object.keys(operation.responses).sort(), statuses, `${method} ${path}`);
        for (const status of statuses.filter((code) => Number(code) >= 400)) {
          const schema: { $ref?: string } | undefined = operation.responses[status]!.content?.['application/json']?.schema;
          assert.equal(schema?.$ref, '#/components/schemas/ApiError', `${method} ${path} ${status}`);
        }
        if (path.startsWith('/v1/')) assert.deepEqual(operation.security, [{ bearer: [] }], `${method} ${path}`);
      }
    }
    const history = document.paths['/v1/books/{book}/accounts/{path}/history']!.get!;
    assert.deepEqual(history.parameters!.map((parameter) => `${parameter.in}:${parameter.name}`).sort(), ['path:book', 'path:path', 'query:after_seq', 'query:limit']);
    const events = document.paths['/v1/books/{book}/events']!.get!;
    assert.ok(events.parameters!.some((parameter) => parameter.in === 'header' && parameter.name === 'Last-Event-ID'));
    assert.ok(events.responses['200']!.content!['text/event-stream']);
    assert.ok(document.components.securitySchemes.bearer);
    for (const name of ['ApiError', 'AssetDraft', 'AccountDraft', 'TransactionDraft', 'Posted', 'BalanceView', 'PostingView', 'TransactionView', 'TrialBalance', 'EventEnvelope']) {
      assert.ok(document.components.schemas[name], name);
    }
  } finally {
    await server.stop();
  }
});

test('decimal rendering matches the reference table (string arithmetic, no overflow)', () => {
  const table: Array<[bigint, number, string]> = [
    [150000n, 2, '1500.00'],
    [150000n, 8, '0.00150000'],
    [-1500n, 2, '-15.00'],
    [5n, 2, '0.05'],
    [100n, 3, '0.100'],
    [0n, 2, '0.00'],
    [42n, 0, '42'],
    [-42n, 0, '-42'],
    [-9223372036854775808n, 2, '-92233720368547758.08'],
    [9223372036854775807n, 255, `0.${'0'.repeat(236)}9223372036854775807`],
  ];
  for (const [minor, precision, expected] of table) assert.equal(formatMinor(minor, precision), expected, `${minor} @ ${precision}`);
});

test('the package root does not reach Fastify; talea-store-log/http is its own export', () => {
  const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
  const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { exports: Record<string, { import: string }> };
  assert.equal(manifest.exports['./http']?.import, './dist/src/http/index.js');
  const index = readFileSync(join(root, 'src', 'index.ts'), 'utf8');
  assert.ok(!/http\//.test(index), 'src/index.ts does not import src/http');
});

/**
 * Flow control and streams over real HTTP: admission (503, health included) and the per-book queue
 * bound (429) with `Retry-After` under a flood, where every refused write changed nothing and
 * succeeds on retry with its key; Server-Sent Events: catch-up then live, reconnect with
 * `Last-Event-ID` with no gap or repeat, a book that does not exist yet, client abort, shutdown;
 * metrics on their own listener with route templates only.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { MemoryStore } from '../src/memory/memory-store.js';
import { listenMetrics } from '../src/http/index.js';
import { eventCount, gatedStore, seedBook, SseReader, startServer, transfer } from './support/http-fixtures.js';

describe('HTTP admission and queue bounds', () => {
  test('beyond TALEA_MAX_INFLIGHT every route, /health included, is 503 overloaded with Retry-After: 1', async () => {
    const inner = new MemoryStore();
    const gated = gatedStore(inner);
    const server = await startServer('memory', { maxInflight: 3 }, { store: gated.store, dir: null, dispose: () => inner.close() });
    try {
      await seedBook(server.client, 'adm');
      const held = [0, 1, 2].map((index) => server.client.post('/v1/transactions', transfer('adm', `h${index}`, 1)));
      for (let tries = 0; gated.waiting() < 3 && tries < 200; tries++) await new Promise((resolve) => setTimeout(resolve, 5));
      assert.equal(gated.waiting(), 3, 'three requests hold the three slots');
      const flood = await Promise.all(Array.from({ length: 20 }, (_, index) => server.client.post('/v1/transactions', transfer('adm', `f${index}`, 1))));
      for (const reply of [...flood, await server.client.get('/health'), await server.client.get('/openapi.json')]) {
        assert.equal(reply.status, 503);
        assert.equal(reply.headers.get('retry-after'), '1');
        assert.deepEqual(reply.json, { error: 'overloaded' });
      }
      gated.release();
      for (const reply of await Promise.all(held)) assert.equal(reply.status, 200);
      assert.equal(await eventCount(inner, 'adm'), 3 + 3, 'no shed request reached the store');
      assert.equal((await server.client.get('/health')).status, 200, 'slots are given back');
      const metrics = await server.app.talea.metrics.registry.getSingleMetricAsString('talea_shed_total');
      assert.match(metrics, /talea_shed_total 22/);
    } finally {
      gated.release();
      await server.stop();
    }
  });

  // SqliteStore commits each event-loop turn's writes synchronously, so HTTP arrivals rarely find a
  // write of the same book still in flight; the log store's fsync runs on a worker, so a flood does.
  for (const kind of ['log'] as const) {
    test(`a flood on one book beyond its queue bound is 429 overloaded with Retry-After: 1 (${kind}); retries with the same keys succeed`, async () => {
      const server = await startServer(kind, { queueDepthMax: 1, maxInflight: 1000 });
      try {
        await seedBook(server.client, 'hot');
        const before = await eventCount(server.handle.store, 'hot');
        const keys = Array.from({ length: 64 }, (_, index) => `flood-${index}`);
        const replies = await Promise.all(keys.map((key) => server.client.post('/v1/transactions', transfer('hot', key, 1))));
        const refused = keys.filter((_, index) => replies[index]!.status === 429);
        const accepted = replies.filter((reply) => reply.status === 200);
        assert.equal(accepted.length + refused.length, keys.length, replies.map((reply) => reply.status).join(','));
        assert.ok(refused.length > 0, 'the flood overran the queue of one');
        for (const reply of replies.filter((r) => r.status === 429)) {
          assert.equal(reply.headers.get('retry-after'), '1');
          assert.deepEqual(reply.json, { error: 'overloaded' });
        }
        assert.equal(await eventCount(server.handle.store, 'hot'), before + accepted.length, 'a refused write appended nothing');
        for (const key of refused) {
          let reply = await server.client.post('/v1/transactions', transfer('hot', key, 1));
          for (let attempt = 0; reply.status === 429 && attempt < 50; attempt++) reply = await server.client.post('/v1/transactions', transfer('hot', key, 1));
          assert.equal(reply.status, 200);
          assert.equal(reply.json.deduplicated, false, 'the refused attempt had done nothing');
        }
        assert.equal(await eventCount(server.handle.store, 'hot'), before + keys.length);
      } finally {
        await server.stop();
      }
    });
  }
});

describe('HTTP event stream (SSE)', () => {
  test('catch-up then live; reconnect with Last-Event-ID resumes with no gap or repeat; abort releases the subscriber', async () => {
    const server = await startServer('log', { sseKeepAliveMs: 50 });
    try {
      await seedBook(server.client, 'live'); // seqs 1..3
      await server.client.post('/v1/transactions', transfer('live', 'l1', 1)); // seq 4
      const first = await fetch(`${server.base}/v1/books/live/events`);
      assert.equal(first.status, 200);
      assert.equal(first.headers.get('content-type'), 'text/event-stream');
      const reader = new SseReader(first.body!);
      assert.ok(await reader.waitFor(4), 'catch-up delivers seqs 1..4');
      await server.client.post('/v1/transactions', transfer('live', 'l2', 2)); // seq 5, live
      assert.ok(await reader.waitFor(5));
      assert.deepEqual(reader.events.map((event) => event.id), ['1', '2', '3', '4', '5']);
      const envelope = JSON.parse(reader.events[4]!.data) as Record<string, unknown>;
      assert.deepEqual(Object.keys(envelope), ['seq', 'at', 'kind', 'payload']);
      assert.equal(envelope.kind, 'transaction_posted');
      assert.equal((envelope.payload as Record<string, unknown>).kind, 'transaction_posted');
      assert.equal((await server.app.talea.metrics.sseSubscribers.get()).values[0]!.value, 1, 'one live stream');
      await reader.cancel(); // the client goes away
      for (let tries = 0; tries < 100 && (await server.app.talea.metrics.sseSubscribers.get()).values[0]!.value !== 0; tries++) {
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      assert.equal((await server.app.talea.metrics.sseSubscribers.get()).values[0]!.value, 0, 'the aborted stream let go');
      // While nobody listens, two more commits; the client resumes after the last seq it saw.
      await server.client.post('/v1/transactions', transfer('live', 'l3', 3)); // seq 6
      await server.client.post('/v1/transactions', transfer('live', 'l4', 4)); // seq 7
      const resumed = await fetch(`${server.base}/v1/books/live/events?from=1`, { headers: { 'last-event-id': '5' } });
      const second = new SseReader(resumed.body!);
      assert.ok(await second.waitFor(2));
      await server.client.post('/v1/transactions', transfer('live', 'l5', 5)); // seq 8
      assert.ok(await second.waitFor(3));
      assert.deepEqual(second.events.map((event) => event.id), ['6', '7', '8'], 'Last-Event-ID wins over from');
      await second.cancel();
      // `from` alone means the same cursor; a malformed Last-Event-ID is ignored.
      const fromOnly = await fetch(`${server.base}/v1/books/live/events?from=7`, { headers: { 'last-event-id': 'junk' } });
      const third = new SseReader(fromOnly.body!);
      assert.ok(await third.waitFor(1));
      assert.equal(third.events[0]!.id, '8');
      assert.equal(await third.waitFor(2, 200), false, 'nothing after 8 yet: no repeat');
      await third.cancel();
    } finally {
      await server.stop();
    }
  });

  test('a book that does not exist yet waits for its first event; bad cursors and names are 400 before any output', async () => {
    const server = await startServer('memory', { sseKeepAliveMs: 30 });
    try {
      const response = await fetch(`${server.base}/v1/books/later/events`);
      assert.equal(response.status, 200);
      const reader = new SseReader(response.body!);
      assert.equal(await reader.waitFor(1, 150), false, 'only keep-alive comments so far');
      await seedBook(server.client, 'later');
      assert.ok(await reader.waitFor(3));
      assert.equal(reader.events[0]!.id, '1');
      await reader.cancel();
      for (const url of ['/v1/books/later/events?from=-1', '/v1/books/later/events?from=abc', '/v1/books/bad%20name/events', '/v1/books/later/events?from=1&from=2']) {
        const reply = await server.client.get(url);
        assert.equal(reply.status, 400, url);
        assert.equal(reply.json.error, 'invalid_draft', url);
      }
    } finally {
      await server.stop();
    }
  });

  test('closing the server ends open streams instead of waiting for them', async () => {
    const server = await startServer('memory');
    let reader: SseReader | undefined;
    try {
      await seedBook(server.client, 'closing');
      const response = await fetch(`${server.base}/v1/books/closing/events`);
      reader = new SseReader(response.body!);
      assert.ok(await reader.waitFor(3));
      const started = Date.now();
      await server.app.close();
      assert.ok(Date.now() - started < 5000);
      assert.ok(await reader.waitEnd(2000), 'the stream ended');
    } finally {
      await reader?.cancel();
      await server.handle.dispose();
    }
  });
});

describe('HTTP metrics', () => {
  test('served on their own listener, labelled by route template, never by book or path', async () => {
    const server = await startServer('memory');
    const metricsServer = await listenMetrics(server.app.talea.metrics, '127.0.0.1', 0);
    try {
      await seedBook(server.client, 'secret-book-name');
      await server.client.post('/v1/transactions', transfer('secret-book-name', 'm1', 1));
      await server.client.get('/v1/books/secret-book-name/accounts/cash/balance');
      assert.equal((await server.client.get('/metrics')).status, 404, 'not on the API port');
      const address = metricsServer.address() as { port: number };
      const response = await fetch(`http://127.0.0.1:${address.port}/metrics`);
      const text = await response.text();
      assert.equal(response.status, 200);
      assert.match(text, /talea_http_requests_total\{method="GET",route="\/v1\/books\/\{book\}\/accounts\/\{path\}\/balance",status="200"\} 1/);
      assert.match(text, /talea_commits_total\{result="committed"\} 1/);
      assert.match(text, /talea_http_request_duration_seconds_bucket/);
      assert.ok(!text.includes('secret-book-name'), 'no user-controlled label values');
      assert.equal((await fetch(`http://127.0.0.1:${address.port}/other`)).status, 404);
    } finally {
      await new Promise<void>((resolve) => metricsServer.close(() => resolve()));
      await server.stop();
    }
  });
});

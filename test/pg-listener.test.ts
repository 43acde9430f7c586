/**
 * BookListener (src/postgres/pg-listener.ts) against a server that has vanished: a real `pg`
 * client and pool aimed at a closed loopback port, so every connect is refused, as after
 * PG-OUTAGE's `refuseConnections`.
 *
 * L7: a book is reported unreachable once its window passes without reaching the server, and a
 * stream that subscribes to a book already listened to gets a whole window of its own. Before, a
 * stream resubscribed late in the window that followed a report was ended IO within milliseconds
 * (PG-OUTAGE failed that way about once in eight runs on a loaded machine).
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { BookListener } from '../src/postgres/pg-listener.js';
import { waitUntil } from './support/log-store-fixtures.js';

/** A loopback port nothing listens on: bound, then closed. */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

test('L7: reported after a window without the server; a stream subscribed later gets a whole window of its own', { timeout: 30_000 }, async () => {
  const windowMs = 400;
  const server = { host: '127.0.0.1', port: await closedPort(), user: 'nobody', database: 'nothing', connectionTimeoutMillis: 200 };
  const pool = new pg.Pool(server);
  pool.on('error', () => undefined);
  const reports: number[] = [];
  const errors: unknown[] = [];
  const listener = new BookListener({
    schema: 'talea',
    connect: () => new pg.Client(server),
    pollMs: 20,
    windowMs,
    heads: async () => {
      await pool.query('SELECT 1'); // refused: the poll does not reach the server either
      return new Map();
    },
    wake: () => undefined,
    isSubscribed: () => true,
    onError: (error) => errors.push(error),
    onUnreachable: (books) => {
      assert.deepEqual(books, ['b']);
      reports.push(Date.now());
    },
  });
  try {
    const firstAt = Date.now();
    listener.add('b');
    await waitUntil(() => reports.length === 1, 10_000, 'the first report');
    assert(reports[0]! - firstAt >= windowMs, `reported ${reports[0]! - firstAt} ms after the first stream`);
    assert(errors.length > 0, 'the refused connects and polls were reported to onError');
    for (let round = 0; round < 3; round++) {
      // Late in the window that follows the last report, another stream of the book subscribes.
      await sleep(windowMs * 0.75);
      const subscribedAt = Date.now();
      const before = reports.length;
      listener.add('b');
      await waitUntil(() => reports.length > before && reports.at(-1)! >= subscribedAt, 10_000, 'a report after the new stream');
      const after = reports.find((at) => at >= subscribedAt)!;
      assert(after - subscribedAt >= windowMs, `round ${round}: reported ${after - subscribedAt} ms after a stream subscribed, within its ${windowMs} ms window`);
    }
  } finally {
    await listener.close();
    await pool.end();
  }
});

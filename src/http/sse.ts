/**
 * The event stream: `GET /v1/books/{book}/events` as Server-Sent Events over a store subscription.
 *
 * V1. The cursor is the last seq the client saw: `Last-Event-ID` when it is a valid seq, else
 *     `?from=`, else 0; the stream starts at cursor + 1. A malformed `Last-Event-ID` is ignored as
 *     the reference does; a malformed `from` is refused before any output.
 * V2. Each event is `id: <seq>` and `data: {seq, at, kind, payload}` on one line. Within one
 *     connection seqs are strictly increasing with no gap (H6): the store's subscription already
 *     guarantees it, and the stream writes events in the order it receives them.
 * V3. Output waits for the socket (`drain`), so a slow reader holds back the subscription, whose
 *     own buffer is bounded; memory never grows with a slow client.
 * V4. A comment line (`:`) is written every keep-alive interval, so proxies keep idle streams.
 * V5. A store failure is one `event: error` with the error envelope as data, then the end of the
 *     stream. A client that goes away, or a server shutting down, ends the subscription at once.
 * V6. The stream gives its admission slot back once its headers are out: a long-lived stream is not
 *     an in-flight request (as with the reference's concurrency limit).
 */
import { once } from 'node:events';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Store } from '../core/store.js';
import { stringifyJson } from '../core/json.js';
import { toFailure } from './api-error.js';
import type { ServiceMetrics } from './metrics.js';
import { eventEnvelopeJson, integerQuery } from './wire.js';

const LAST_EVENT_ID = /^[0-9]{1,16}$/;

/** The last seq the client saw (V1). Throws ApiFailure for a malformed `from`. */
export function streamCursor(lastEventId: string | string[] | undefined, from: string | undefined): number {
  const header = Array.isArray(lastEventId) ? lastEventId[0] : lastEventId;
  if (header !== undefined && LAST_EVENT_ID.test(header.trim())) {
    const seq = Number(header.trim());
    if (Number.isSafeInteger(seq + 1)) return seq;
  }
  return Number(integerQuery(from, 'from', 0n, BigInt(Number.MAX_SAFE_INTEGER - 1)) ?? 0n);
}

export interface EventStreamOptions {
  store: Store;
  book: string;
  cursor: number;
  keepAliveMs: number;
  metrics: ServiceMetrics;
  /** Streams open now; shutdown aborts them all. */
  open: Set<AbortController>;
}

/** Takes over the reply and streams until the client, the store or the server ends it. */
export async function streamEvents(request: FastifyRequest, reply: FastifyReply, options: EventStreamOptions): Promise<void> {
  const { store, book, cursor, keepAliveMs, metrics, open } = options;
  reply.hijack();
  const raw = reply.raw;
  const controller = new AbortController();
  const { signal } = controller;
  const abort = (): void => controller.abort();
  raw.once('close', abort);
  open.add(controller);
  metrics.sseSubscribers.inc();
  raw.writeHead(200, {
    'content-type': 'text/event-stream',
    'cache-control': 'no-cache',
    connection: 'keep-alive',
    'x-accel-buffering': 'no',
  });
  raw.flushHeaders();
  request.taleaReleaseAdmission?.();
  const keepAlive = setInterval(() => {
    if (!raw.writableEnded) raw.write(':\n\n');
  }, keepAliveMs);
  keepAlive.unref();
  const stream = store.subscribe(book, cursor + 1, { signal });
  try {
    for (;;) {
      const next = await stream.next();
      if (next.done === true) break;
      const event = next.value;
      if (!raw.write(`id: ${event.seq}\ndata: ${eventEnvelopeJson(event)}\n\n`)) {
        await once(raw, 'drain', { signal });
      }
    }
  } catch (error) {
    if (!signal.aborted) {
      const failure = toFailure(error);
      if (failure.status >= 500) request.log.error({ err: error, book }, 'event stream failed');
      if (!raw.writableEnded) raw.write(`event: error\ndata: ${stringifyJson(failure.body)}\n\n`);
    }
  } finally {
    clearInterval(keepAlive);
    open.delete(controller);
    raw.off('close', abort);
    metrics.sseSubscribers.dec();
    await stream.return().catch(() => undefined);
    if (!raw.writableEnded) raw.end();
  }
}

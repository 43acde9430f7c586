/**
 * `taleaRoutes`: the reference's `/v1` routes as a Fastify plugin over a Store the caller owns.
 * Mount it with a prefix (`app.register(taleaRoutes, { prefix: '/v1', store })`); createServer
 * does, and adds admission control, `/health` and the documentation around it.
 *
 * R1. Only JSON bodies are read (`application/json` or `application/*+json`), with the package's
 *     bigint-safe reader (H1, H2: size limited by Fastify's bodyLimit, nesting by the reader);
 *     any other content type, or a POST without one, is 415. Replies are written with the same
 *     package's writer, so i64 values leave as exact JSON integers.
 * R2. Every failure leaves as the reference's envelope (api-error.ts), including Fastify's own
 *     (bad JSON, oversize body, unknown media type) and anything thrown; 5xx causes are logged,
 *     never sent.
 * R3. Auth runs first on every route of the plugin (auth.ts); the scope is checked where the book
 *     appears: the path for reads and the stream, the draft for writes, after the draft's shape
 *     was read. An out-of-scope transaction id is 404 like an unknown one.
 * R4. Each request but the stream has a deadline (30 s by default) from its arrival: past it the
 *     answer is 408 `timeout`. The store call goes on; a retry with the same key is answered with
 *     its outcome, so nothing is half-applied (H4).
 * R5. The store is never opened or closed here. On shutdown (`preClose`) every open event stream
 *     is ended, so closing the server never waits on a stream.
 */
import type { FastifyInstance, FastifyPluginAsync, FastifyReply, FastifyRequest, RouteShorthandOptions } from 'fastify';
import { isStoreError } from '../core/errors.js';
import { JsonSyntaxError, parseJson, stringifyJson } from '../core/json.js';
import type { Store } from '../core/store.js';
import type { AccountId, CommitResult, JsonValue } from '../core/types.js';
import {
  ApiFailure,
  failureFromStoreError,
  forbidden,
  internal,
  invalidDraft,
  notFound,
  timeout,
  toFailure,
  unauthorized,
  unsupportedMediaType,
} from './api-error.js';
import { allowsRead, allowsRegistry, allowsWrite, tokenTable, type TokenEntry, type TokenScope, type TokenTable } from './auth.js';
import { ServiceMetrics } from './metrics.js';
import { swaggerSchemaOf } from './openapi.js';
import { streamCursor, streamEvents } from './sse.js';
import {
  asOfQuery,
  balanceView,
  checkTxId,
  checkWireBook,
  draftBook,
  historyView,
  integerQuery,
  postedView,
  readAccountDraft,
  readAssetDraft,
  readTransactionDraft,
  transactionView,
  trialBalanceView,
  type ReadTransaction,
} from './wire.js';

export const DEFAULT_BATCH_MAX = 500;
export const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;
export const DEFAULT_SSE_KEEP_ALIVE_MS = 15_000;
export const DEFAULT_BODY_LIMIT = 2 * 1024 * 1024;

export interface TaleaRoutesOptions {
  store: Store;
  /** TALEA_API_TOKEN: an all-books `rw` token. */
  apiToken?: string;
  /** Scoped tokens (TALEA_TOKENS_FILE, parsed with parseTokensFile). */
  tokens?: readonly TokenEntry[];
  /** Most drafts in one batch request (TALEA_HTTP_BATCH_MAX); default 500. */
  batchMax?: number;
  /** The deadline of a request, in ms; default 30,000 (R4). */
  requestTimeoutMs?: number;
  /** Interval of the stream's keep-alive comments, in ms; default 15,000. */
  sseKeepAliveMs?: number;
  /** Where to count; default a fresh ServiceMetrics. */
  metrics?: ServiceMetrics;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** The caller's token scope, set by the auth hook. */
    taleaScope: TokenScope | null;
    /** performance.now() value after which the request is answered 408. */
    taleaDeadline: number;
    /** Gives the admission slot back early (the event stream does once its headers are out). */
    taleaReleaseAdmission: (() => void) | null;
  }
}

const JSON_CONTENT_TYPE = /^application\/(?:[a-z0-9!#$&^_.+-]+\+)?json\s*(?:;.*)?$/i;

function isJsonRequest(request: FastifyRequest): boolean {
  const type = request.headers['content-type'];
  return type !== undefined && JSON_CONTENT_TYPE.test(type);
}

/** Fastify's and the reader's errors as the reference's envelope (R2). */
export function failureOfRequestError(error: unknown): ApiFailure {
  if (error instanceof ApiFailure || isStoreError(error)) return toFailure(error);
  if (error instanceof JsonSyntaxError) return invalidDraft('body', `invalid JSON: ${error.message}`);
  const code = (error as { code?: unknown }).code;
  const status = (error as { statusCode?: unknown }).statusCode;
  if (code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') return unsupportedMediaType();
  if (code === 'FST_ERR_CTP_BODY_TOO_LARGE') return invalidDraft('body', 'the body is larger than the limit');
  if (typeof status === 'number' && status >= 400 && status < 500) {
    return invalidDraft('body', (error as Error).message ?? 'bad request');
  }
  return internal('internal error');
}

/** Sends a failure (R2); logs 5xx causes on the request's logger. */
export function sendFailure(request: FastifyRequest, reply: FastifyReply, failure: ApiFailure, cause?: unknown): FastifyReply {
  if (failure.status >= 500 && cause !== undefined && !(cause instanceof ApiFailure)) {
    request.log.error({ err: cause }, 'request failed');
  }
  if (failure.retryAfterSeconds !== null) reply.header('retry-after', String(failure.retryAfterSeconds));
  return reply.code(failure.status).type('application/json').send(stringifyJson(failure.body as unknown as JsonValue));
}

function sendJson(reply: FastifyReply, value: unknown): FastifyReply {
  return reply.code(200).type('application/json').send(stringifyJson(value as JsonValue));
}

export const taleaRoutes: FastifyPluginAsync<TaleaRoutesOptions> = async (app: FastifyInstance, options: TaleaRoutesOptions) => {
  const { store } = options;
  if (store === undefined || store === null) throw new TypeError('taleaRoutes: options.store is required');
  const tokens: TokenTable = tokenTable(options.apiToken, options.tokens ?? []);
  const batchMax = options.batchMax ?? DEFAULT_BATCH_MAX;
  const requestTimeoutMs = options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
  const keepAliveMs = options.sseKeepAliveMs ?? DEFAULT_SSE_KEEP_ALIVE_MS;
  const metrics = options.metrics ?? new ServiceMetrics();
  const openStreams = new Set<AbortController>();
  if (tokens.open) app.log.warn('no API token configured (TALEA_API_TOKEN, TALEA_TOKENS_FILE): every /v1 route is open');

  // R1: only JSON, read exactly.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser(JSON_CONTENT_TYPE, { parseAs: 'string' }, (_request, body, done) => {
    try {
      done(null, parseJson(body as string));
    } catch (error) {
      done(error as Error, undefined);
    }
  });

  app.decorateRequest('taleaScope', null);
  app.decorateRequest('taleaDeadline', 0);
  if (!app.hasRequestDecorator('taleaReleaseAdmission')) app.decorateRequest('taleaReleaseAdmission', null);

  app.addHook('onRequest', (request, reply, done) => {
    request.taleaDeadline = performance.now() + requestTimeoutMs;
    const scope = tokens.authenticate(request.headers.authorization);
    if (scope === null) {
      sendFailure(request, reply, unauthorized());
      return;
    }
    request.taleaScope = scope;
    done();
  });

  app.setErrorHandler((error, request, reply) => sendFailure(request, reply, failureOfRequestError(error), error));

  app.addHook('preClose', async () => {
    for (const controller of openStreams) controller.abort();
  });

  /** Waits for `work` until the request's deadline (R4); an answer after it is dropped. */
  function withinDeadline<T>(request: FastifyRequest, work: Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => reject(timeout()), Math.max(0, request.taleaDeadline - performance.now()));
      work.then(
        (value) => {
          clearTimeout(timer);
          resolve(value);
        },
        (error: unknown) => {
          clearTimeout(timer);
          reject(error);
        },
      );
    });
  }

  function scopeOf(request: FastifyRequest): TokenScope {
    return request.taleaScope!;
  }

  function requireJson(request: FastifyRequest): void {
    if (!isJsonRequest(request)) throw unsupportedMediaType();
  }

  /** Route options: the OpenAPI entry for @fastify/swagger (openapi.ts, D1). */
  function documented(key: string): RouteShorthandOptions {
    const schema = swaggerSchemaOf(key);
    return { config: { swaggerTransform: ({ url }: { url: string }) => ({ schema, url }) } } as RouteShorthandOptions;
  }

  // --- registry -------------------------------------------------------------------------------

  app.post('/assets', documented('POST /assets'), async (request, reply) => {
    requireJson(request);
    if (!allowsRegistry(scopeOf(request))) throw forbidden('*');
    const def = readAssetDraft(request.body);
    await withinDeadline(request, store.registerAsset(def));
    return reply.code(204).send();
  });

  app.post('/accounts', documented('POST /accounts'), async (request, reply) => {
    requireJson(request);
    const book = draftBook(request.body);
    if (!allowsWrite(scopeOf(request), book)) throw forbidden(book);
    const { def, cfg } = readAccountDraft(request.body);
    await withinDeadline(request, store.openAccount(def, cfg));
    return reply.code(204).send();
  });

  // --- transactions ---------------------------------------------------------------------------

  function overflowAmount(read: ReadTransaction): (account: AccountId) => bigint {
    return (account) => read.amountOfPath.get(account.path) ?? 0n;
  }

  function countOutcome(result: CommitResult, sentId: string): void {
    if (result.ok) metrics.countCommit(result.value.txid === sentId ? 'committed' : 'deduplicated');
    else metrics.countCommit(result.error.code === 'OVERLOADED' ? 'overloaded' : 'rejected');
  }

  app.post('/transactions', documented('POST /transactions'), async (request, reply) => {
    requireJson(request);
    const book = draftBook(request.body);
    if (!allowsWrite(scopeOf(request), book)) throw forbidden(book);
    const read = readTransactionDraft(request.body);
    const started = performance.now();
    let committed;
    try {
      committed = await withinDeadline(request, store.commit(read.tx));
    } catch (error) {
      if (isStoreError(error)) {
        countOutcome({ ok: false, error }, read.tx.id);
        throw failureFromStoreError(error, overflowAmount(read));
      }
      throw error;
    }
    metrics.commitDuration.observe((performance.now() - started) / 1000);
    countOutcome({ ok: true, value: committed }, read.tx.id);
    return sendJson(reply, postedView(committed, read.tx.id));
  });

  app.post('/transactions/batch', documented('POST /transactions/batch'), async (request, reply) => {
    requireJson(request);
    const body = request.body;
    if (!Array.isArray(body)) throw invalidDraft('body', 'expected a JSON array of transaction drafts');
    if (body.length > batchMax) throw invalidDraft('body', `${body.length} drafts exceed the batch limit of ${batchMax} (TALEA_HTTP_BATCH_MAX)`);
    if (body.length === 0) return sendJson(reply, []);
    const scope = scopeOf(request);
    const slots: Array<ApiFailure | ReadTransaction> = body.map((draft) => {
      try {
        const book = draftBook(draft);
        if (!allowsWrite(scope, book)) return forbidden(book);
        return readTransactionDraft(draft);
      } catch (error) {
        if (error instanceof ApiFailure) return error;
        throw error;
      }
    });
    const accepted = slots.filter((slot): slot is ReadTransaction => !(slot instanceof ApiFailure));
    const started = performance.now();
    const results = accepted.length === 0 ? [] : await withinDeadline(request, store.commitBatch(accepted.map((read) => read.tx)));
    if (accepted.length > 0) metrics.commitDuration.observe((performance.now() - started) / 1000);
    let next = 0;
    const answers = slots.map((slot) => {
      if (slot instanceof ApiFailure) {
        metrics.countCommit('rejected');
        return slot.body;
      }
      const result = results[next++]!;
      countOutcome(result, slot.tx.id);
      if (result.ok) return postedView(result.value, slot.tx.id);
      return failureFromStoreError(result.error, overflowAmount(slot)).body;
    });
    return sendJson(reply, answers);
  });

  app.get<{ Params: { tx_id: string } }>('/transactions/:tx_id', documented('GET /transactions/:tx_id'), async (request, reply) => {
    const txid = checkTxId(request.params.tx_id);
    const stored = await withinDeadline(request, store.transaction(txid));
    // An out-of-scope book answers exactly like an unknown id (R3).
    if (stored === null || !allowsRead(scopeOf(request), stored.transaction.book)) throw notFound(`transaction ${request.params.tx_id}`);
    return sendJson(reply, transactionView(stored));
  });

  // --- reads ----------------------------------------------------------------------------------

  function readableBook(request: FastifyRequest, book: string): string {
    checkWireBook(book, false);
    if (!allowsRead(scopeOf(request), book)) throw forbidden(book);
    return book;
  }

  type AccountRoute = { Params: { book: string; path: string }; Querystring: Record<string, string | undefined> };

  app.get<AccountRoute>('/books/:book/accounts/:path/balance', documented('GET /books/:book/accounts/:path/balance'), async (request, reply) => {
    const book = readableBook(request, request.params.book);
    const path = request.params.path;
    const asOf = asOfQuery(singleQuery(request.query.as_of, 'as_of'));
    const snapshot = await withinDeadline(request, store.balance({ book, path }, asOf?.asOf ?? null));
    const asset = await withinDeadline(request, store.asset(snapshot.amount.asset));
    if (asset === null) {
      request.log.error({ asset: snapshot.amount.asset }, 'an account holds an unregistered asset');
      throw internal('ledger inconsistency');
    }
    return sendJson(reply, balanceView(book, path, snapshot, asset.precision, asOf?.rendered ?? null));
  });

  app.get<AccountRoute>('/books/:book/accounts/:path/history', documented('GET /books/:book/accounts/:path/history'), async (request, reply) => {
    const book = readableBook(request, request.params.book);
    const afterSeq = integerQuery(singleQuery(request.query.after_seq, 'after_seq'), 'after_seq', 0n, BigInt(Number.MAX_SAFE_INTEGER));
    const requested = integerQuery(singleQuery(request.query.limit, 'limit'), 'limit', 0n, 4_294_967_295n);
    const limit = Math.min(1000, Math.max(1, Number(requested ?? 100n)));
    const records = await withinDeadline(request, store.accountHistory({ book, path: request.params.path }, afterSeq === null ? null : Number(afterSeq), limit));
    return sendJson(reply, historyView(records, limit));
  });

  app.get<{ Params: { book: string }; Querystring: Record<string, string | undefined> }>(
    '/books/:book/trial-balance',
    documented('GET /books/:book/trial-balance'),
    async (request, reply) => {
      const book = readableBook(request, request.params.book);
      const asOf = asOfQuery(singleQuery(request.query.as_of, 'as_of'));
      const rows = await withinDeadline(request, store.trialBalance(book, asOf?.asOf ?? null));
      return sendJson(reply, trialBalanceView(book, asOf?.rendered ?? null, rows));
    },
  );

  app.get<{ Params: { book: string }; Querystring: Record<string, string | undefined> }>(
    '/books/:book/events',
    documented('GET /books/:book/events'),
    async (request, reply) => {
      const book = readableBook(request, request.params.book);
      const cursor = streamCursor(request.headers['last-event-id'], singleQuery(request.query.from, 'from'));
      await streamEvents(request, reply, { store, book, cursor, keepAliveMs, metrics, open: openStreams });
    },
  );
};

/** A query parameter given once; a repeated one is malformed. */
function singleQuery(value: unknown, field: string): string | undefined {
  if (value === undefined || typeof value === 'string') return value;
  throw invalidDraft(field, 'given more than once');
}

Object.defineProperty(taleaRoutes, Symbol.for('fastify.display-name'), { value: 'talea-routes' });

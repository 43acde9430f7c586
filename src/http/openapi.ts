/**
 * The OpenAPI 3 description of the routes: one schema per wire shape, one entry per route.
 *
 * D1. The schemas document the wire; they do not validate it. Requests are checked by wire.ts,
 *     because JSON Schema validators see numbers as doubles and the wire's i64 amounts are exact
 *     beyond 2^53 (H1); responses are written by the package's bigint-safe writer for the same
 *     reason. Each route hands its entry to @fastify/swagger through `config.swaggerTransform`.
 * D2. Every route of the reference is listed with every status it can answer, each error with the
 *     `ApiError` envelope, and `bearer` security on the `/v1` routes.
 */
import type { FastifySchema } from 'fastify';

const i64 = { type: 'integer', format: 'int64' } as const;
const seq = { type: 'integer', format: 'int64', minimum: 1 } as const;
const timestamp = { type: 'string', format: 'date-time' } as const;

export const COMPONENT_SCHEMAS = {
  ApiError: {
    type: 'object',
    description:
      'Error envelope: `error` is the code; the other fields depend on it (invalid_draft: field, reason; unbalanced: asset, debit, credit; invalid_amount: amount; asset_mismatch: account, account_asset, asset; forbidden: book; unknown_asset: asset; unknown_account: account; not_found: what; already_exists: what; constraint_violation: account, min_balance, would_be; internal: message).',
    required: ['error'],
    properties: {
      error: {
        type: 'string',
        enum: [
          'invalid_draft',
          'unbalanced',
          'invalid_amount',
          'asset_mismatch',
          'unauthorized',
          'forbidden',
          'unknown_asset',
          'unknown_account',
          'not_found',
          'already_exists',
          'constraint_violation',
          'timeout',
          'overloaded',
          'internal',
        ],
      },
      field: { type: 'string' },
      reason: { type: 'string' },
      asset: { type: 'string' },
      debit: i64,
      credit: i64,
      amount: i64,
      account: { type: 'string' },
      account_asset: { type: 'string' },
      book: { type: 'string' },
      what: { type: 'string' },
      min_balance: i64,
      would_be: i64,
      message: { type: 'string' },
    },
  },
  AssetDraft: {
    type: 'object',
    required: ['id', 'class', 'precision', 'name'],
    properties: {
      id: { type: 'string', minLength: 1 },
      class: { type: 'string', enum: ['fiat', 'crypto'] },
      network: { type: 'string', nullable: true, description: 'required for crypto, absent for fiat' },
      native_id: { type: 'string', nullable: true, description: 'crypto only: contract address or chain asset id' },
      precision: { type: 'integer', minimum: 0, maximum: 255 },
      name: { type: 'string' },
    },
  },
  AccountDraft: {
    type: 'object',
    required: ['book', 'path', 'asset', 'kind'],
    properties: {
      book: { type: 'string', minLength: 1 },
      path: { type: 'string', minLength: 1, description: 'may contain ":"' },
      asset: { type: 'string' },
      kind: { type: 'string', enum: ['asset', 'liability', 'income', 'expense', 'equity', 'clearing'] },
      normal_side: { type: 'string', enum: ['debit', 'credit'], nullable: true, description: 'omit for clearing accounts' },
      min_balance: { ...i64, nullable: true, description: 'floor on the normal-side-adjusted balance; omit for none' },
    },
  },
  WireAmount: {
    type: 'object',
    required: ['minor', 'asset'],
    properties: { minor: { ...i64, description: 'integer minor units, exact to i64' }, asset: { type: 'string' } },
  },
  WirePosting: {
    type: 'object',
    required: ['account', 'amount', 'direction'],
    properties: {
      account: { type: 'string', description: 'account path in the draft\'s book' },
      amount: { $ref: '#/components/schemas/WireAmount' },
      direction: { type: 'string', enum: ['debit', 'credit'] },
    },
  },
  ExternalRef: {
    type: 'object',
    required: ['kind', 'value'],
    properties: { kind: { type: 'string' }, value: { type: 'string' } },
  },
  TransactionDraft: {
    type: 'object',
    required: ['book', 'idempotency_key', 'postings'],
    properties: {
      book: { type: 'string', minLength: 1 },
      idempotency_key: { type: 'string', minLength: 1 },
      postings: { type: 'array', minItems: 1, items: { $ref: '#/components/schemas/WirePosting' } },
      external_refs: { type: 'array', items: { $ref: '#/components/schemas/ExternalRef' } },
      metadata: { description: 'any JSON value' },
      occurred_at: { ...timestamp, description: 'business time; default: server now' },
    },
  },
  Posted: {
    type: 'object',
    required: ['tx_id', 'seq', 'at', 'deduplicated'],
    properties: {
      tx_id: { type: 'string', format: 'uuid' },
      seq,
      at: timestamp,
      deduplicated: { type: 'boolean', description: 'true when the key was already committed: this is the original commit' },
    },
  },
  BalanceView: {
    type: 'object',
    required: ['account', 'asset', 'balance', 'as_of', 'updated_seq'],
    properties: {
      account: { type: 'string', description: 'flat key book:path' },
      asset: { type: 'string' },
      balance: { type: 'string', description: 'normal-side adjusted, decimal at the asset\'s precision' },
      as_of: { ...timestamp, nullable: true },
      updated_seq: { type: 'integer', format: 'int64', minimum: 0 },
    },
  },
  PostingView: {
    type: 'object',
    required: ['seq', 'tx_id', 'account', 'amount', 'direction', 'at'],
    properties: {
      seq,
      tx_id: { type: 'string', format: 'uuid' },
      account: { type: 'string' },
      amount: { $ref: '#/components/schemas/WireAmount' },
      direction: { type: 'string', enum: ['debit', 'credit'] },
      at: timestamp,
    },
  },
  PagedPostingView: {
    type: 'object',
    required: ['items', 'next'],
    properties: {
      items: { type: 'array', items: { $ref: '#/components/schemas/PostingView' } },
      next: { ...seq, nullable: true, description: 'pass as after_seq for the next page; null when exhausted' },
    },
  },
  TransactionView: {
    type: 'object',
    required: ['tx_id', 'book', 'seq', 'at', 'postings', 'external_refs', 'metadata'],
    properties: {
      tx_id: { type: 'string', format: 'uuid' },
      book: { type: 'string' },
      seq,
      at: timestamp,
      postings: { type: 'array', items: { $ref: '#/components/schemas/PostingView' } },
      external_refs: { type: 'array', items: { $ref: '#/components/schemas/ExternalRef' } },
      metadata: { description: 'any JSON value', nullable: true },
    },
  },
  TrialBalance: {
    type: 'object',
    required: ['book', 'as_of', 'lines'],
    properties: {
      book: { type: 'string' },
      as_of: { ...timestamp, nullable: true },
      lines: {
        type: 'array',
        items: {
          type: 'object',
          required: ['asset', 'debits', 'credits'],
          properties: { asset: { type: 'string' }, debits: i64, credits: i64 },
        },
      },
    },
  },
  EventEnvelope: {
    type: 'object',
    required: ['seq', 'at', 'kind', 'payload'],
    properties: {
      seq,
      at: timestamp,
      kind: { type: 'string', enum: ['asset_registered', 'account_opened', 'transaction_posted'] },
      payload: { type: 'object', description: 'the whole event, tagged by kind' },
    },
  },
} as const;

const ref = (name: keyof typeof COMPONENT_SCHEMAS) => ({ $ref: `#/components/schemas/${name}` });

function error(description: string) {
  return { description, content: { 'application/json': { schema: ref('ApiError') } } };
}

function json(description: string, schema: object) {
  return { description, content: { 'application/json': { schema } } };
}

const retryAfter = { 'Retry-After': { type: 'integer', description: 'seconds to wait before retrying with the same idempotency key' } };
const overloaded429 = { ...error('per-book write queue full; retry with the same idempotency key'), headers: retryAfter };
const shed503 = { ...error('admission shed (TALEA_MAX_INFLIGHT), shutting down, or the store unavailable'), headers: retryAfter };
const common = {
  401: error('missing or invalid bearer token'),
  408: error('the 30 s server deadline passed; safe to retry with the same idempotency key'),
  503: shed503,
  500: error('server bug'),
};
const bearer = [{ bearer: [] }];

const bookParam = { name: 'book', in: 'path', required: true, schema: { type: 'string' }, description: 'book name' };
const pathParam = { name: 'path', in: 'path', required: true, schema: { type: 'string' }, description: 'account path (may contain ":")' };
const asOfParam = { name: 'as_of', in: 'query', required: false, schema: timestamp, description: 'RFC 3339; commit-time point in time, inclusive' };

type RouteDoc = Record<string, unknown>;

/** The OpenAPI operation of each route, keyed `METHOD path` with Fastify's path syntax. */
export const ROUTE_DOCS: Record<string, RouteDoc> = {
  'POST /assets': {
    tags: ['registry'],
    summary: 'Register an asset (idempotent on id)',
    security: bearer,
    body: ref('AssetDraft'),
    response: {
      204: { type: 'null', description: 'registered, or already registered identically' },
      400: error('invalid_draft'),
      403: error('forbidden: needs an rw token scoped ["*"]'),
      409: error('already_exists: same id, different definition'),
      415: error('content-type is not application/json'),
      ...common,
    },
  },
  'POST /accounts': {
    tags: ['registry'],
    summary: 'Open an account (idempotent on book and path)',
    security: bearer,
    body: ref('AccountDraft'),
    response: {
      204: { type: 'null', description: 'opened, or already open identically' },
      400: error('invalid_draft'),
      403: error('forbidden: the token does not cover the draft\'s book'),
      404: error('unknown_asset'),
      409: error('already_exists'),
      415: error('content-type is not application/json'),
      ...common,
    },
  },
  'POST /transactions': {
    tags: ['ledger'],
    summary: 'Post a balanced transaction (idempotent on book and idempotency_key)',
    security: bearer,
    body: ref('TransactionDraft'),
    response: {
      200: json('committed, or the original commit of this key (deduplicated: true)', ref('Posted')),
      400: error('unbalanced, invalid_amount, asset_mismatch or invalid_draft'),
      403: error('forbidden: the token does not cover the draft\'s book'),
      404: error('unknown_account'),
      409: error('constraint_violation, or already_exists (the key was committed with different content)'),
      415: error('content-type is not application/json'),
      429: overloaded429,
      ...common,
    },
  },
  'POST /transactions/batch': {
    tags: ['ledger'],
    summary: 'Post several drafts; one positional result per draft',
    security: bearer,
    body: { type: 'array', items: ref('TransactionDraft') },
    response: {
      200: json('result i answers draft i: a Posted object or an ApiError envelope', {
        type: 'array',
        items: { oneOf: [ref('Posted'), ref('ApiError')] },
      }),
      400: error('invalid_draft: the body is not an array of drafts, or it has more than TALEA_HTTP_BATCH_MAX drafts'),
      415: error('content-type is not application/json'),
      ...common,
    },
  },
  'GET /transactions/:tx_id': {
    tags: ['ledger'],
    summary: 'One committed transaction',
    security: bearer,
    params: [{ name: 'tx_id', in: 'path', required: true, schema: { type: 'string', format: 'uuid' } }],
    response: {
      200: json('the transaction', ref('TransactionView')),
      400: error('invalid_draft: not a UUID'),
      404: error('not_found: unknown id, or a book outside the token\'s scope'),
      429: overloaded429,
      ...common,
    },
  },
  'GET /books/:book/accounts/:path/balance': {
    tags: ['reads'],
    summary: 'Balance of an account, now or as of a commit time',
    security: bearer,
    params: [bookParam, pathParam, asOfParam],
    response: {
      200: json('normal-side adjusted balance', ref('BalanceView')),
      400: error('invalid_draft: bad book name or as_of'),
      403: error('forbidden'),
      404: error('unknown_account'),
      429: overloaded429,
      ...common,
    },
  },
  'GET /books/:book/accounts/:path/history': {
    tags: ['reads'],
    summary: 'Postings of an account, seq ascending; a transaction never splits across pages',
    security: bearer,
    params: [
      bookParam,
      pathParam,
      { name: 'after_seq', in: 'query', required: false, schema: { type: 'integer', format: 'int64', minimum: 0 }, description: 'exclusive cursor: the previous page\'s next' },
      { name: 'limit', in: 'query', required: false, schema: { type: 'integer', minimum: 0, maximum: 4294967295, default: 100 }, description: 'transactions per page, clamped to 1..1000' },
    ],
    response: {
      200: json('one page', ref('PagedPostingView')),
      400: error('invalid_draft: bad book name, after_seq or limit'),
      403: error('forbidden'),
      404: error('unknown_account'),
      429: overloaded429,
      ...common,
    },
  },
  'GET /books/:book/trial-balance': {
    tags: ['reads'],
    summary: 'Per-asset debit and credit sums of a book',
    security: bearer,
    params: [bookParam, asOfParam],
    response: {
      200: json('the trial balance', ref('TrialBalance')),
      400: error('invalid_draft: bad book name or as_of'),
      403: error('forbidden'),
      429: overloaded429,
      ...common,
    },
  },
  'GET /books/:book/events': {
    tags: ['stream'],
    summary: 'Server-Sent Events: catch-up from the cursor, then live',
    description:
      'Each event is `id: <seq>` and `data: <EventEnvelope JSON>`. `?from=` and the `Last-Event-ID` header both mean the last seq seen (the header wins); the stream starts after it. A failure is an `event: error` whose data is an ApiError, then the end of the stream. Comment lines keep idle streams alive.',
    security: bearer,
    params: [
      bookParam,
      { name: 'from', in: 'query', required: false, schema: { type: 'integer', format: 'int64', minimum: 0 }, description: 'last seq seen' },
      { name: 'Last-Event-ID', in: 'header', required: false, schema: { type: 'integer', format: 'int64', minimum: 0 }, description: 'last seq seen; wins over from' },
    ],
    response: {
      200: { description: 'the stream', content: { 'text/event-stream': { schema: ref('EventEnvelope') } } },
      400: error('invalid_draft: bad book name or from'),
      403: error('forbidden'),
      ...common,
    },
  },
};

/**
 * The Fastify schema @fastify/swagger reads for a route (D1): OpenAPI parameters are converted to
 * Fastify's `params`/`querystring`/`headers` objects, bodies and responses are passed as they are.
 */
export function swaggerSchemaOf(key: string): FastifySchema {
  const doc = ROUTE_DOCS[key];
  if (doc === undefined) throw new Error(`no OpenAPI entry for route ${key}`);
  const { params, body, response, ...rest } = doc as { params?: Array<Record<string, unknown>>; body?: object; response?: object };
  const schema: Record<string, unknown> = { ...rest };
  if (body !== undefined) schema.body = body;
  if (response !== undefined) schema.response = response;
  for (const [location, part] of [['path', 'params'], ['query', 'querystring'], ['header', 'headers']] as const) {
    const list = (params ?? []).filter((param) => param.in === location);
    if (list.length === 0) continue;
    schema[part] = {
      type: 'object',
      required: list.filter((param) => param.required === true).map((param) => param.name),
      properties: Object.fromEntries(
        list.map((param) => [param.name, { ...(param.schema as object), ...(param.description === undefined ? {} : { description: param.description }) }]),
      ),
    };
  }
  return schema as FastifySchema;
}

/**
 * createServer: the whole service as one Fastify instance (not yet listening) around a Store the
 * caller owns: admission control, `/health`, OpenAPI at `/openapi.json`, Swagger UI at `/docs`,
 * and taleaRoutes under `/v1`.
 *
 * S1. Order of the gates: admission (503) before anything, then auth (401) on `/v1`, then the
 *     route. `/health`, `/docs` and `/openapi.json` are open but inside admission (C1).
 * S2. `/health` answers `200 ok` (text/plain, the body exactly `ok`) with `x-talea-backend`.
 * S3. Every answer, unmatched routes included, is counted by method, route template and status;
 *     unmatched routes answer 404 `not_found` in the envelope.
 * S4. `app.close()` first refuses new requests (C3) and ends the event streams (R5); it never
 *     closes the store, which belongs to the caller (`talea-log serve` closes it after).
 */
import Fastify, { LogController, type FastifyInstance, type FastifyServerOptions } from 'fastify';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import { LogStore } from '../log/log-store.js';
import { MemoryStore } from '../memory/memory-store.js';
import type { Store } from '../core/store.js';
import { installAdmission, type Admission } from './admission.js';
import { notFound } from './api-error.js';
import { ServiceMetrics } from './metrics.js';
import { COMPONENT_SCHEMAS } from './openapi.js';
import { DEFAULT_BODY_LIMIT, failureOfRequestError, sendFailure, taleaRoutes, type TaleaRoutesOptions } from './routes.js';

export type Backend = 'log' | 'sqlite' | 'postgres' | 'memory';

export interface CreateServerOptions extends TaleaRoutesOptions {
  /** The `x-talea-backend` value; by default found from the store's class. */
  backend?: Backend;
  /** TALEA_MAX_INFLIGHT; default 256. */
  maxInflight?: number;
  /** Largest request body in bytes; default 2 MiB. */
  bodyLimit?: number;
  /** Fastify's (pino) logger option; default off. */
  logger?: FastifyServerOptions['logger'];
  /** Serve `/openapi.json` and `/docs`; default true. */
  docs?: boolean;
}

export interface TaleaServerState {
  readonly backend: Backend | 'unknown';
  readonly metrics: ServiceMetrics;
  readonly admission: Admission;
}

declare module 'fastify' {
  interface FastifyInstance {
    talea: TaleaServerState;
  }
}

export const DEFAULT_MAX_INFLIGHT = 256;

const HEALTH_DOC = {
  tags: ['service'],
  summary: 'Readiness: 200 ok, or 503 while shedding; wire it to readiness, not liveness',
  response: {
    200: {
      description: 'ok; the header x-talea-backend names the store',
      headers: { 'x-talea-backend': { type: 'string', enum: ['log', 'sqlite', 'postgres', 'memory'] } },
      content: { 'text/plain': { schema: { type: 'string', enum: ['ok'] } } },
    },
    503: {
      description: 'admission shed or shutting down',
      content: { 'application/json': { schema: { $ref: '#/components/schemas/ApiError' } } },
    },
  },
};

function backendOf(store: Store): Backend | 'unknown' {
  if (store instanceof LogStore) return 'log';
  if (store instanceof MemoryStore) return 'memory';
  if (store.constructor.name === 'SqliteStore') return 'sqlite';
  if (store.constructor.name === 'PgStore') return 'postgres';
  return 'unknown';
}

/** The template of a route for labels (H7): `/v1/books/{book}/events`. */
function routeLabel(url: string | undefined): string {
  return url === undefined ? 'unmatched' : url.replace(/:([A-Za-z_][A-Za-z0-9_]*)/g, '{$1}');
}

export async function createServer(options: CreateServerOptions): Promise<FastifyInstance> {
  const metrics = options.metrics ?? new ServiceMetrics();
  const backend = options.backend ?? backendOf(options.store);
  const app = Fastify({
    logger: options.logger ?? false,
    bodyLimit: options.bodyLimit ?? DEFAULT_BODY_LIMIT,
    return503OnClosing: false, // C3 answers with the envelope instead
    // Per-request lines are off: they cost throughput, and a request's failure is logged where it happens.
    logController: new LogController({ disableRequestLogging: true }),
    forceCloseConnections: 'idle',
  });
  const admission = installAdmission(app, options.maxInflight ?? DEFAULT_MAX_INFLIGHT, metrics);
  app.decorate('talea', { backend, metrics, admission } satisfies TaleaServerState);

  const routeLabels = new Map<string | undefined, string>(); // route templates are few; the regex is not free
  app.addHook('onResponse', (request, reply, done) => {
    const url = request.routeOptions.url;
    let route = routeLabels.get(url);
    if (route === undefined) routeLabels.set(url, (route = routeLabel(url)));
    metrics.httpRequests.inc({ method: request.method, route, status: String(reply.statusCode) });
    metrics.httpDuration.observe({ method: request.method, route }, reply.elapsedTime / 1000);
    done();
  });
  app.addHook('preClose', async () => admission.beginShutdown());
  app.setErrorHandler((error, request, reply) => sendFailure(request, reply, failureOfRequestError(error), error));
  app.setNotFoundHandler((request, reply) => sendFailure(request, reply, notFound(`route ${request.method} ${request.url.split('?')[0]}`)));

  if (options.docs !== false) {
    await app.register(swagger, {
      openapi: {
        openapi: '3.0.3',
        info: {
          title: 'talea ledger (talea-store-log)',
          version: '1',
          description: 'The talea HTTP API in front of a talea-store-log store. Amounts are integer minor units (i64, exact).',
        },
        components: {
          schemas: COMPONENT_SCHEMAS as never,
          securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
        },
        tags: [
          { name: 'registry', description: 'assets and accounts' },
          { name: 'ledger', description: 'transactions' },
          { name: 'reads', description: 'balances, history, trial balance' },
          { name: 'stream', description: 'Server-Sent Events' },
          { name: 'service', description: 'health' },
        ],
      },
    });
    await app.register(swaggerUi, { routePrefix: '/docs' });
    app.get('/openapi.json', { schema: { hide: true } }, async (_request, reply) => reply.type('application/json').send(app.swagger()));
  }

  app.get(
    '/health',
    { config: { swaggerTransform: ({ url }: { url: string }) => ({ schema: HEALTH_DOC, url }) } } as never,
    async (_request, reply) => reply.header('x-talea-backend', backend).type('text/plain; charset=utf-8').send('ok'),
  );

  await app.register(taleaRoutes, { ...options, metrics, prefix: '/v1' } as TaleaRoutesOptions & { prefix: string });
  return app;
}

/**
 * `talea-store-log/http`: the talea HTTP service over any store of this package. A subpath of its
 * own, so that importing the package root never loads Fastify.
 */
export { createServer, DEFAULT_MAX_INFLIGHT } from './server.js';
export type { Backend, CreateServerOptions, TaleaServerState } from './server.js';
export { taleaRoutes, DEFAULT_BATCH_MAX, DEFAULT_BODY_LIMIT, DEFAULT_REQUEST_TIMEOUT_MS, DEFAULT_SSE_KEEP_ALIVE_MS } from './routes.js';
export type { TaleaRoutesOptions } from './routes.js';
export { parseTokensFile, bearerToken } from './auth.js';
export type { Access, TokenEntry, TokenScope } from './auth.js';
export { ServiceMetrics, listenMetrics } from './metrics.js';
export { ApiFailure } from './api-error.js';
export type { ApiErrorBody } from './api-error.js';
export { readServiceConfig, loadDotEnv, parseAddress, ConfigError } from './config.js';
export type { ServiceConfig, Address, Environment } from './config.js';
export { runService } from './service.js';
export type { RunningService, RunServiceOptions } from './service.js';
export { parseSeedFile, applySeed, initLedger } from './init.js';
export type { SeedFile, SeedSummary, InitOptions, InitReport } from './init.js';
export { formatMinor } from './wire.js';

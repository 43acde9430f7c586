/**
 * runService: what `talea-log serve` does between reading its configuration and exiting: open the
 * store named by TALEA_DB_URL, serve it, and shut down gracefully.
 *
 * G1. Startup checks everything before listening: the tokens file, the store (a `log://` directory
 *     held by another process fails here, with a message that says so), the API and metrics
 *     listeners. A failure closes whatever was opened and rejects.
 * G2. Shutdown, once, on request (SIGTERM/SIGINT in `serve`): new requests are refused with 503
 *     (C3), event streams end (R5), in-flight requests get up to `graceMs` to finish, then the
 *     store is closed: a write still queued in it is refused (CLOSED, answered 503), never
 *     half-applied, and every write that was answered 200 is durable. Then the listeners close.
 * G3. The store's per-book queue bound is TALEA_WRITE_QUEUE_DEPTH (429 beyond it) for the stores
 *     that have one (log, sqlite).
 */
import { readFileSync } from 'node:fs';
import type http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance, FastifyServerOptions } from 'fastify';
import { isStoreError } from '../core/errors.js';
import type { Store } from '../core/store.js';
import { openStore } from '../open-store.js';
import { parseTokensFile, type TokenEntry } from './auth.js';
import { ConfigError, type Environment, type ServiceConfig } from './config.js';
import { listenMetrics, ServiceMetrics } from './metrics.js';
import { createServer } from './server.js';

export interface RunServiceOptions {
  /** Where the store reads its TALEA_LOG_* tunables; default process.env. */
  env?: Environment;
  /** Fastify's logger option; default pino at info on stdout. */
  logger?: FastifyServerOptions['logger'];
  /** How long in-flight requests may run on after shutdown began; default 10 s. */
  graceMs?: number;
  /** The deadline of one request; default 30 s. */
  requestTimeoutMs?: number;
}

export interface RunningService {
  readonly app: FastifyInstance;
  readonly store: Store;
  /** `http://host:port` of the API listener. */
  readonly url: string;
  /** `http://host:port` of the metrics listener, when configured. */
  readonly metricsUrl: string | null;
  /** G2; resolves when everything is closed. Idempotent. */
  shutdown(reason?: string): Promise<void>;
}

/** Thrown when the store cannot be opened; the message is for the operator. */
export class StartupError extends Error {
  override readonly name = 'StartupError';
  constructor(
    message: string,
    readonly locked: boolean = false,
  ) {
    super(message);
  }
}

const DEFAULT_GRACE_MS = 10_000;

function urlOf(address: AddressInfo | string | null): string {
  if (address === null || typeof address === 'string') return String(address);
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return `http://${host}:${address.port}`;
}

function readTokens(file: string | undefined): TokenEntry[] {
  if (file === undefined) return [];
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new ConfigError('TALEA_TOKENS_FILE', `cannot read ${JSON.stringify(file)}: ${(error as Error).message}`);
  }
  try {
    return parseTokensFile(text);
  } catch (error) {
    throw new ConfigError('TALEA_TOKENS_FILE', (error as Error).message);
  }
}

async function openConfiguredStore(config: ServiceConfig, env: Environment): Promise<Store> {
  try {
    return await openStore(config.dbUrl, {
      log: { env, queueDepthMax: config.writeQueueDepth },
      sqlite: { queueDepthMax: config.writeQueueDepth },
    });
  } catch (error) {
    if (isStoreError(error, 'IO')) {
      const code = (error.cause as NodeJS.ErrnoException | undefined)?.code;
      if (code === 'EAGAIN' || code === 'EWOULDBLOCK') {
        throw new StartupError(
          `the data directory ${JSON.stringify(config.store.location)} is locked by another process: another talea-log serve (or a program with the store open) is using it; one process per directory`,
          true,
        );
      }
    }
    if (isStoreError(error, 'INVALID_ARGUMENT')) {
      const field = (error as unknown as { field: string }).field;
      if (/^TALEA_/.test(field)) throw new ConfigError(field, error.message.replace(/^INVALID_ARGUMENT: [^:]+: /, ''));
    }
    if (isStoreError(error)) throw new StartupError(`cannot open ${config.dbUrl}: ${error.message}`);
    throw error;
  }
}

export async function runService(config: ServiceConfig, options: RunServiceOptions = {}): Promise<RunningService> {
  const env = options.env ?? process.env;
  const tokens = readTokens(config.tokensFile);
  const store = await openConfiguredStore(config, env);
  const metrics = new ServiceMetrics();
  metrics.collectProcessMetrics();
  let app: FastifyInstance | undefined;
  let metricsServer: http.Server | undefined;
  try {
    app = await createServer({
      store,
      backend: config.store.scheme,
      apiToken: config.apiToken,
      tokens,
      maxInflight: config.maxInflight,
      batchMax: config.httpBatchMax,
      metrics,
      logger: options.logger ?? { level: 'info', redact: ['req.headers.authorization'] },
      ...(options.requestTimeoutMs === undefined ? {} : { requestTimeoutMs: options.requestTimeoutMs }),
    });
    await app.listen({ host: config.bind.host, port: config.bind.port });
    if (config.metricsBind !== undefined) metricsServer = await listenMetrics(metrics, config.metricsBind.host, config.metricsBind.port);
  } catch (error) {
    await app?.close().catch(() => undefined);
    await store.close().catch(() => undefined);
    if ((error as NodeJS.ErrnoException).code === 'EADDRINUSE' || (error as NodeJS.ErrnoException).code === 'EACCES') {
      throw new StartupError(`cannot listen: ${(error as Error).message}`);
    }
    throw error;
  }
  const server = app;
  const url = urlOf(server.server.address());
  const metricsUrl = metricsServer === undefined ? null : `${urlOf(metricsServer.address())}/metrics`;
  server.log.info({ url, backend: config.store.scheme, metrics: metricsUrl }, 'talea listening');

  let stopping: Promise<void> | null = null;
  const graceMs = options.graceMs ?? DEFAULT_GRACE_MS;
  async function stop(reason: string): Promise<void> {
    server.log.info({ reason, inflight: server.talea.admission.inflight }, 'shutting down');
    server.talea.admission.beginShutdown();
    const closed = server.close();
    let timer: NodeJS.Timeout | undefined;
    const graceOver = new Promise<'grace over'>((resolve) => {
      timer = setTimeout(() => resolve('grace over'), graceMs);
    });
    // Connections that finish their last answer become idle; close them as they do.
    const sweep = setInterval(() => server.server.closeIdleConnections(), 50);
    const first = await Promise.race([closed.then(() => 'closed' as const), graceOver]);
    clearTimeout(timer);
    if (first !== 'closed') server.log.warn({ inflight: server.talea.admission.inflight }, 'requests still running after the grace period: closing the store under them');
    // Anything still queued in the store is refused (CLOSED -> 503), never half-applied.
    await store.close();
    if (first !== 'closed') {
      // The refusals above have been answered or are being written; give them a moment, then cut.
      await Promise.race([closed, new Promise((resolve) => setTimeout(resolve, 1000))]);
      server.server.closeAllConnections();
    }
    await closed;
    clearInterval(sweep);
    if (metricsServer !== undefined) await new Promise<void>((resolve) => metricsServer!.close(() => resolve()));
    server.log.info('stopped');
  }
  return {
    app: server,
    store,
    url,
    metricsUrl,
    shutdown(reason = 'shutdown') {
      stopping ??= stop(reason);
      return stopping;
    },
  };
}

/**
 * The service's configuration from the environment (spec/http-api.md section 5).
 *
 * F1. `.env` in the working directory is read first; a variable already in the environment wins
 *     over the file (loadDotEnv). The file is parsed by Node's own `util.parseEnv`.
 * F2. Every variable is checked before anything is opened; a bad value is a ConfigError whose
 *     message names the variable and says what is expected. Secrets are never echoed.
 * F3. The store's own tunables (`TALEA_LOG_*`) are left to the store, which reads them from the
 *     same environment and names them the same way when they are bad.
 */
import { existsSync, readFileSync } from 'node:fs';
import { parseEnv } from 'node:util';
import { parseStoreUrl, type StoreUrl } from '../open-store.js';
import { BATCH_DRAFTS_MAX } from '../core/limits.js';
import { isStoreError } from '../core/errors.js';

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(
    readonly variable: string,
    message: string,
    missing = false,
  ) {
    super(missing ? `${variable} ${message}` : `invalid ${variable}: ${message}`);
  }
}

export interface Address {
  host: string;
  port: number;
}

export interface ServiceConfig {
  dbUrl: string;
  store: StoreUrl;
  bind: Address;
  apiToken: string | undefined;
  tokensFile: string | undefined;
  maxInflight: number;
  writeQueueDepth: number;
  httpBatchMax: number;
  metricsBind: Address | undefined;
}

export type Environment = Readonly<Record<string, string | undefined>>;

/**
 * Merges `.env` (when present) under the real environment (F1). Returns the merged view and
 * whether a file was read; `target` (process.env by default) receives the file's new keys, so the
 * store's own tunables see them too.
 */
export function loadDotEnv(file = '.env', target: Record<string, string | undefined> = process.env): { loaded: boolean } {
  if (!existsSync(file)) return { loaded: false };
  const values = parseEnv(readFileSync(file, 'utf8'));
  for (const [key, value] of Object.entries(values)) {
    if (target[key] === undefined) target[key] = value;
  }
  return { loaded: true };
}

/** `host:port`, `[v6]:port`; port 0 asks for a free port. */
export function parseAddress(text: string, variable: string): Address {
  const match = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:\s[\]]+)):([0-9]{1,5})$/.exec(text.trim());
  if (match === null) throw new ConfigError(variable, `${JSON.stringify(text)} is not host:port (e.g. 127.0.0.1:8080)`);
  const port = Number(match[3]);
  if (port > 65_535) throw new ConfigError(variable, `port ${port} is above 65535`);
  return { host: match[1] ?? match[2]!, port };
}

function integer(env: Environment, variable: string, fallback: number, min: number, max: number): number {
  const text = env[variable];
  if (text === undefined || text === '') return fallback;
  const value = Number(text);
  if (!/^[0-9]+$/.test(text) || !Number.isSafeInteger(value) || value < min || value > max) {
    throw new ConfigError(variable, `${JSON.stringify(text)} (expected an integer from ${min} to ${max})`);
  }
  return value;
}

/** Reads and checks the configuration (F2). Throws ConfigError. */
export function readServiceConfig(env: Environment): ServiceConfig {
  const dbUrl = env.TALEA_DB_URL;
  if (dbUrl === undefined || dbUrl === '') {
    throw new ConfigError('TALEA_DB_URL', 'is required (log://<dir>, sqlite://<file>, postgres://… or memory:); set it in the environment or in .env', true);
  }
  let store: StoreUrl;
  try {
    store = parseStoreUrl(dbUrl);
  } catch (error) {
    if (isStoreError(error)) throw new ConfigError('TALEA_DB_URL', error.message.replace(/^INVALID_ARGUMENT: url: /, ''));
    throw error;
  }
  const bind = parseAddress(env.TALEA_BIND ?? '127.0.0.1:8080', 'TALEA_BIND');
  const metricsText = env.TALEA_METRICS_BIND;
  const metricsBind = metricsText === undefined || metricsText === '' ? undefined : parseAddress(metricsText, 'TALEA_METRICS_BIND');
  const tokensFile = env.TALEA_TOKENS_FILE === '' ? undefined : env.TALEA_TOKENS_FILE;
  const apiToken = env.TALEA_API_TOKEN === '' ? undefined : env.TALEA_API_TOKEN;
  return {
    dbUrl,
    store,
    bind,
    apiToken,
    tokensFile,
    maxInflight: integer(env, 'TALEA_MAX_INFLIGHT', 256, 1, 1_000_000),
    writeQueueDepth: integer(env, 'TALEA_WRITE_QUEUE_DEPTH', 256, 1, 1_048_576),
    // commitBatch takes at most BATCH_DRAFTS_MAX drafts per call.
    httpBatchMax: integer(env, 'TALEA_HTTP_BATCH_MAX', 500, 1, BATCH_DRAFTS_MAX),
    metricsBind,
  };
}

/**
 * openStore: one entry point for every store, chosen by URL, with the schemes of the talea server's
 * `TALEA_DB_URL`.
 *
 * | URL | store |
 * |---|---|
 * | `log://<dir>` | LogStore on the data directory `<dir>` (the rest of the URL, verbatim) |
 * | `sqlite://<file>` | SqliteStore on the database file `<file>` (the rest of the URL, verbatim) |
 * | `memory:` | MemoryStore (nothing is kept) |
 * | `postgres://…`, `postgresql://…` | PgStore on that server (the whole URL is the connection string) |
 *
 * O1. A URL that is not a string, has no scheme, names an unknown scheme or lacks its location is
 *     INVALID_ARGUMENT (field `url`) naming the scheme; nothing is opened or created.
 * O2. A backend with an optional peer dependency is loaded only when its scheme is opened, so the
 *     package root never loads `better-sqlite3` or `pg`.
 * O3. Paths are taken verbatim, not URL-decoded: `log://./data` is the relative directory
 *     `./data`, `log:///srv/ledger` the absolute `/srv/ledger`.
 */
import { StoreError } from './core/errors.js';
import type { Store } from './core/store.js';
import { LogStore } from './log/log-store.js';
import type { LogStoreOptions } from './log/options.js';
import { MemoryStore, type MemoryStoreOptions } from './memory/memory-store.js';
import type { PgStoreOptions } from './postgres/pg-store.js';
import type { SqliteStoreOptions } from './sqlite/sqlite-store.js';

export type StoreScheme = 'log' | 'sqlite' | 'memory' | 'postgres';

export interface StoreUrl {
  scheme: StoreScheme;
  /** The directory (log), the database file (sqlite), the whole URL (postgres), or '' (memory). */
  location: string;
}

/** Options for each backend; only those of the URL's scheme are used. */
export interface OpenStoreOptions {
  log?: LogStoreOptions;
  sqlite?: SqliteStoreOptions;
  memory?: MemoryStoreOptions;
  /** PgStore options; `url` is the URL opened. */
  postgres?: Omit<PgStoreOptions, 'url'>;
}

const SCHEMES: readonly string[] = ['log', 'sqlite', 'memory', 'postgres', 'postgresql'];

/** Splits a store URL into scheme and location (O1, O3) without opening anything. */
export function parseStoreUrl(url: string): StoreUrl {
  if (typeof url !== 'string') throw StoreError.invalidArgument('url', 'must be a string such as log://./data');
  const match = /^([A-Za-z][A-Za-z0-9+.-]*):(.*)$/s.exec(url);
  if (match === null) throw StoreError.invalidArgument('url', `${JSON.stringify(url)} has no scheme (use log://<dir>, sqlite://<file> or memory:)`);
  const scheme = match[1]!.toLowerCase();
  const rest = match[2]!;
  if (!SCHEMES.includes(scheme)) {
    throw StoreError.invalidArgument('url', `unknown scheme "${scheme}:" (known: log://<dir>, sqlite://<file>, memory:, postgres://…)`);
  }
  if (scheme === 'memory') {
    if (rest !== '' && rest !== '//') throw StoreError.invalidArgument('url', 'the scheme "memory:" takes nothing after it');
    return { scheme: 'memory', location: '' };
  }
  if (scheme === 'postgres' || scheme === 'postgresql') {
    if (!rest.startsWith('//') || rest.length === 2) {
      throw StoreError.invalidArgument('url', `the scheme "${scheme}:" needs a server, as in postgres://user@host/db`);
    }
    return { scheme: 'postgres', location: url };
  }
  if (!rest.startsWith('//') || rest.length === 2) {
    const what = scheme === 'log' ? 'a data directory, as in log://./data' : 'a database file, as in sqlite://./ledger.db';
    throw StoreError.invalidArgument('url', `the scheme "${scheme}:" needs ${what}`);
  }
  return { scheme: scheme as StoreScheme, location: rest.slice(2) };
}

/** Opens the store a URL names (O1, O2). Rejects as that store's `open` does. */
export async function openStore(url: string, options: OpenStoreOptions = {}): Promise<Store> {
  const { scheme, location } = parseStoreUrl(url);
  switch (scheme) {
    case 'log':
      return LogStore.open(location, options.log);
    case 'sqlite': {
      const { SqliteStore } = await import('./sqlite/sqlite-store.js');
      return SqliteStore.open(location, options.sqlite);
    }
    case 'memory':
      return new MemoryStore(options.memory);
    case 'postgres': {
      const { PgStore } = await import('./postgres/pg-store.js');
      return PgStore.open({ ...options.postgres, url: location });
    }
  }
}

/**
 * talea-store-log/postgres: the PostgreSQL store, many processes on one ledger (`pg`, an optional
 * peer dependency loaded when a store is opened).
 */
export { PgStore } from './pg-store.js';
export type { PgStoreOptions, PgStoreWarning, PgDurability, PgStoreStats } from './pg-store.js';
export { channelOf } from './pg-listener.js';
export { SCHEMA_VERSION } from './pg-schema.js';

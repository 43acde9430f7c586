/**
 * talea-store-log/postgres: the PostgreSQL store, many processes on one ledger (`pg`, an optional
 * peer dependency loaded when a store is opened).
 */
export { PgStore } from './pg-store.js';
export type { PgStoreOptions, PgStoreWarning, PgDurability, PgStoreStats } from './pg-store.js';
export { channelOf } from './pg-listener.js';
export { SCHEMA_VERSION } from './pg-schema.js';
export { comparePgWithLogDir, exportPgToLogDir, importLogDirToPg, ImpexError, DIFFERENCES_LISTED_MAX } from './pg-impex.js';
export type { CompareOptions, CompareResult, Difference, ExportOptions, ExportResult, ImpexRefusal, ImportOptions, ImportResult } from './pg-impex.js';
export { verifyPgSchema } from './pg-verify.js';
export type { Finding, VerifyOptions, VerifyResult } from './pg-verify.js';
export type { ImportedEvent } from './pg-store.js';

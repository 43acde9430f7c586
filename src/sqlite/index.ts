/**
 * talea-store-log/sqlite: the SQLite store, one database file for every book (better-sqlite3,
 * an optional peer dependency loaded when a store is opened).
 */
export { SqliteStore, SQLITE_FILE_NAME } from './sqlite-store.js';
export type { SqliteStoreOptions, SqliteStoreWarning, SqliteDurability } from './sqlite-store.js';

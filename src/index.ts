/**
 * talea-store-log: an embeddable, append-only event-log ledger store.
 * The public exports, nothing else.
 */
export * from './types.js';
export { StoreError, isStoreError, STORE_ERROR_CODES } from './errors.js';
export type { StoreErrorCode, StoreErrorDetails, StoreErrorOf, InvalidBookReason } from './errors.js';
export type { Store, EventStream, SubscribeOptions } from './store.js';
export { MemoryStore } from './memory-store.js';
export type { MemoryStoreOptions, StoreWarning } from './memory-store.js';
export { accountKey, parseAccountKey } from './account-key.js';
export { isValidBookName, isReservedBook, BOOK_NAME_PATTERN } from './book-name.js';
export { formatAtUs, parseTimestampUs, wallClockUs } from './time.js';
export { parseJson, stringifyJson, jsonEqual } from './json.js';
export { decodeEvent, encodeEvent, EventDecodeError } from './event-codec.js';
export { LogStore } from './log-store.js';
export type { LogStoreOptions, LogStoreWarning, LogStoreTestHooks } from './options.js';
export { workerIndexOf } from './sharding.js';

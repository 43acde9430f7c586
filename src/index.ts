/**
 * talea-store-log: an embeddable, append-only event-log ledger store.
 * The public exports, nothing else.
 */
export * from './core/types.js';
export { StoreError, isStoreError, STORE_ERROR_CODES } from './core/errors.js';
export type { StoreErrorCode, StoreErrorDetails, StoreErrorOf, InvalidBookReason } from './core/errors.js';
export type { Store, EventStream, SubscribeOptions } from './core/store.js';
export { MemoryStore } from './memory/memory-store.js';
export type { MemoryStoreOptions, StoreWarning } from './memory/memory-store.js';
export { accountKey, parseAccountKey } from './core/account-key.js';
export { isValidBookName, isReservedBook, BOOK_NAME_PATTERN } from './core/book-name.js';
export { formatAtUs, parseTimestampUs, wallClockUs } from './core/time.js';
export { parseJson, stringifyJson, jsonEqual } from './core/json.js';
export { decodeEvent, encodeEvent, EventDecodeError } from './core/event-codec.js';
export { LogStore } from './log/log-store.js';
export type { LogStoreOptions, LogStoreWarning, LogStoreTestHooks } from './log/options.js';
export { workerIndexOf } from './log/sharding.js';
export { openStore, parseStoreUrl } from './open-store.js';
export type { OpenStoreOptions, StoreScheme, StoreUrl } from './open-store.js';
export { BaseStore } from './core/base-store.js';
export type { BatchDraft, StoreLifecycle } from './core/base-store.js';
export type { NormalisedAccount, NormalisedAsset, NormalisedTransaction } from './core/input.js';

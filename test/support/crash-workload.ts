/**
 * The deterministic workload of the crash tests: the same key always means the same content, so a
 * retry after a crash can be built from the key alone.
 */
import { randomUUID } from 'node:crypto';
import type { LogStoreOptions } from '../../src/log/options.js';
import type { Store } from '../../src/core/store.js';
import type { Transaction } from '../../src/core/types.js';

/** The LogStore settings a crash campaign may vary; the child and the checker use the same. */
export interface CrashStoreOptions {
  workers?: number;
  segmentMax?: number;
  snapshotEvery?: number;
  idemHotCap?: number;
  /** Preallocate segments from their first byte, this many bytes at a time (src/log/segment.ts G9). */
  preallocateChunkBytes?: number;
  /** Precheck covered segments on helper threads at every reopen from this many bytes (src/log/segment-precheck.ts). */
  precheckFromBytes?: number;
}

export function crashStoreOptions(options: CrashStoreOptions): LogStoreOptions {
  const { preallocateChunkBytes, precheckFromBytes, ...rest } = options;
  const testHooks = {
    ...(preallocateChunkBytes === undefined ? {} : { preallocate: { fromBytes: 0, chunkBytes: preallocateChunkBytes } }),
    ...(precheckFromBytes === undefined ? {} : { precheckFromBytes }),
  };
  return { workers: 2, segmentMax: 64 * 1024, ...rest, onWarning: () => undefined, ...(Object.keys(testHooks).length === 0 ? {} : { testHooks }) };
}

export const CRASH_ASSET = 'USD';
export const CRASH_BOOKS = ['crash-a', 'crash-b', 'crash-c', 'crash-d'] as const;

export async function openCrashBooks(store: Store): Promise<void> {
  await store.registerAsset({ id: CRASH_ASSET, class: 'fiat', precision: 2, name: 'US dollar' });
  for (const book of CRASH_BOOKS) {
    await store.openAccount({ id: { book, path: 'cash' }, asset: CRASH_ASSET, kind: 'asset' }, { normal_side: 'debit', min_balance: null });
    await store.openAccount(
      { id: { book, path: 'deposits' }, asset: CRASH_ASSET, kind: 'liability' },
      { normal_side: 'credit', min_balance: null },
    );
  }
}

/** Credit deposits, debit cash, by `minor`; the txid is fresh, the content depends on the key only. */
export function crashDraft(book: string, key: string, minor: bigint): Transaction {
  return {
    id: randomUUID(),
    book,
    postings: [
      { account: { book, path: 'deposits' }, amount: { minor, asset: CRASH_ASSET }, direction: 'credit' },
      { account: { book, path: 'cash' }, amount: { minor, asset: CRASH_ASSET }, direction: 'debit' },
    ],
    idempotency_key: key,
    external_refs: [],
    metadata: { key },
    occurred_at: '2026-01-01T00:00:00Z',
  };
}

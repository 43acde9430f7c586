/**
 * Fixtures for the LogStore tests (spec/conformance.md, Part 2, section 2.0): the seeded store
 * (asset USD, book `b` with `cash` and `rev`), `mkTx`, fresh temporary data directories, and
 * readers that look at the segment files on disk directly, so a test can tell what reached the
 * disk from what the store reports.
 */
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import type { DecodedPayload } from '../../src/core/event-codec.js';
import { decodeFrame } from '../../src/log/frame.js';
import { LogStore } from '../../src/log/log-store.js';
import type { LogStoreOptions } from '../../src/log/options.js';
import { parseSegmentFileName } from '../../src/log/segment.js';
import type { AccountCfg, AccountDef, AssetDef, SequencedEvent, Transaction } from '../../src/core/types.js';
import { FAULTY_FILE_SYSTEM_MODULE, FaultPlan } from './faulty-file-system.js';

export const BOOK = 'b';
export const USD: AssetDef = { id: 'USD', class: 'fiat', precision: 2, name: 'Dollar' };
export const UNSIDED: AccountCfg = { normal_side: null, min_balance: null };
export const CASH_DEF: AccountDef = { id: { book: BOOK, path: 'cash' }, asset: 'USD', kind: 'asset' };
export const REV_DEF: AccountDef = { id: { book: BOOK, path: 'rev' }, asset: 'USD', kind: 'income' };

/** A fresh v7 UUID (48-bit millisecond time, version 7, variant 10, random rest). */
export function uuidV7(): string {
  const bytes = randomBytes(16);
  const ms = BigInt(Date.now());
  for (let index = 0; index < 6; index++) bytes[index] = Number((ms >> BigInt(8 * (5 - index))) & 0xffn);
  bytes[6] = (bytes[6]! & 0x0f) | 0x70;
  bytes[8] = (bytes[8]! & 0x3f) | 0x80;
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** Debit `book:cash` by `minor` USD, credit `book:rev` by `minor` USD; metadata null; no refs. */
export function mkTx(key: string, minor: bigint, book: string = BOOK): Transaction {
  return {
    id: uuidV7(),
    book,
    postings: [
      { account: { book, path: 'cash' }, amount: { minor, asset: 'USD' }, direction: 'debit' },
      { account: { book, path: 'rev' }, amount: { minor, asset: 'USD' }, direction: 'credit' },
    ],
    idempotency_key: key,
    external_refs: [],
    metadata: null,
    occurred_at: new Date().toISOString(),
  };
}

/** A transfer of 1 USD from `rev` to `cash` in book `b` under a fresh key, carrying `metadata` (big frames). */
export function metadataTx(metadata: string | null): Transaction {
  return { ...mkTx(randomUUID(), 1n), metadata, occurred_at: '2026-01-01T00:00:00Z' };
}

/** The first `count` events a subscription from `from` delivers (its catch-up), then ends it. */
export async function catchUp(store: LogStore, from: number, count: number, book: string = BOOK): Promise<SequencedEvent[]> {
  const stream = store.subscribe(book, from);
  const events: SequencedEvent[] = [];
  try {
    while (events.length < count) {
      const next = await stream.next();
      assert.equal(next.done, false);
      events.push(next.value!);
    }
  } finally {
    await stream.return();
  }
  return events;
}

/** A commit whose first posting names an account that was never opened. */
export function ghostTx(key: string, book: string = BOOK): Transaction {
  const tx = mkTx(key, 5n, book);
  tx.postings[0] = { account: { book, path: 'ghost' }, amount: { minor: 5n, asset: 'USD' }, direction: 'debit' };
  return tx;
}

/** Registers USD (if not yet) and opens `cash` then `rev` in `book` (seqs 1 and 2). */
export async function seed(store: LogStore, book: string = BOOK): Promise<void> {
  await store.registerAsset(USD);
  await store.openAccount({ ...CASH_DEF, id: { book, path: 'cash' } }, UNSIDED);
  await store.openAccount({ ...REV_DEF, id: { book, path: 'rev' } }, UNSIDED);
}

export function makeTempDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'talea-'));
}

export function removeDir(dir: string): void {
  fs.rmSync(dir, { recursive: true, force: true });
}

/** Opens a LogStore with 2 workers unless the options say otherwise. */
export function openStore(dir: string, options: LogStoreOptions = {}): Promise<LogStore> {
  return LogStore.open(dir, { workers: 2, ...options });
}

/** The options that route every file operation of the store through `plan`. */
export function faultOptions(plan: FaultPlan): LogStoreOptions {
  return { testHooks: { fileSystemModule: FAULTY_FILE_SYSTEM_MODULE, fileSystemConfig: plan.config() } };
}

/**
 * Runs `body` with a fresh data directory, which is removed afterwards. Every store the body
 * opens must be registered with `track`, so it is closed (and its close awaited) before removal.
 */
export async function withDir(body: (dir: string, track: (store: LogStore) => LogStore) => Promise<void>): Promise<void> {
  const dir = makeTempDir();
  const stores: LogStore[] = [];
  try {
    await body(dir, (store) => {
      stores.push(store);
      return store;
    });
  } finally {
    for (const store of stores) await store.close();
    removeDir(dir);
  }
}

/** The entries of `<dir>/books`, sorted (empty when `books/` does not exist). */
export function bookDirs(dir: string): string[] {
  const books = path.join(dir, 'books');
  return fs.existsSync(books) ? fs.readdirSync(books).sort() : [];
}

/** The segment files of a book, in base order. */
export function segmentFiles(dir: string, book: string): string[] {
  const bookDir = path.join(dir, 'books', book);
  if (!fs.existsSync(bookDir)) return [];
  return fs
    .readdirSync(bookDir)
    .filter((name) => parseSegmentFileName(name) !== null)
    .sort((left, right) => parseSegmentFileName(left)! - parseSegmentFileName(right)!)
    .map((name) => path.join(bookDir, name));
}

export interface FrameOnDisk {
  file: string;
  offsetBytes: number;
  frameBytes: number;
  decoded: DecodedPayload;
}

/** Every frame of every segment of a book, decoded straight from the files. */
export function framesOnDisk(dir: string, book: string): FrameOnDisk[] {
  const frames: FrameOnDisk[] = [];
  for (const file of segmentFiles(dir, book)) {
    const bytes = fs.readFileSync(file);
    let offset = 0;
    while (offset < bytes.length) {
      const result = decodeFrame(bytes, offset, bytes.length);
      assert.equal(result.kind, 'frame', `frame at ${file}:${offset} does not decode (${result.kind})`);
      if (result.kind !== 'frame') break;
      frames.push({ file, offsetBytes: offset, frameBytes: result.frameBytes, decoded: result.decoded });
      offset += result.frameBytes;
    }
  }
  return frames;
}

/** The idempotency keys of the `transaction_posted` frames of a book on disk, in log order. */
export function committedKeysOnDisk(dir: string, book: string): string[] {
  return framesOnDisk(dir, book).flatMap(({ decoded }) =>
    decoded.event.event.kind === 'transaction_posted' ? [decoded.event.event.idempotency_key] : [],
  );
}

/** Resolves once `condition()` holds, polling every 5 ms; fails after `ms`. */
export async function waitUntil(condition: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) assert.fail(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** Tracks whether a promise has settled, without ever letting it reject unhandled. */
export function observe<T>(promise: Promise<T>): { promise: Promise<T>; settled: () => boolean } {
  let done = false;
  promise.then(
    () => (done = true),
    () => (done = true),
  );
  return { promise, settled: () => done };
}

export { FaultPlan };

/**
 * The contenders (spec/bench.md, section 1; spec/postgres-store.md 9.1): opening `log` (LogStore)
 * and `sqlite` (SqliteStore) on fresh data directories and `postgres` (PgStore) on a fresh
 * database, all driven only through the `Store` interface; plus the helpers that act on every
 * thread of the process (garbage collection, heap per thread).
 *
 * H1. Every data directory of a run lives under one root on one file system, next to the raw-limit
 *     file and the fsync probe's file.
 * H2. Options that differ from a contender's defaults are only ever set here, and the driver
 *     records them in the report.
 * H3. `postgres` runs on the one server of the run (bench/postgres.ts), set with `usePgServer`
 *     before any handle opens; a handle's database is named after its data directory, so every
 *     scenario of every round starts on an empty one, dropped at close unless --keep.
 */
import fs from 'node:fs';
import path from 'node:path';

import { LogStore } from '../src/log/log-store.js';
import type { LogStoreOptions } from '../src/log/options.js';
import type { Store } from '../src/core/store.js';
import { SQLITE_FILE_NAME, SqliteStore, type SqliteDurability, type SqliteStoreOptions } from '../src/sqlite/index.js';
import { PgStore, type PgStoreOptions } from '../src/postgres/index.js';
import { createDatabase, databaseNameOf, databaseUrl, dropDatabase, findPostmaster, serverCpuReaderOf, type ServerCpuReader } from './postgres.js';
import { PROBE_CHANNEL, PROBE_REPLY_CHANNEL, heapOfThisThread, type ThreadHeap } from './thread-probe.js';

export type ContenderName = 'log' | 'sqlite' | 'postgres';
export type Participant = ContenderName | 'raw';
export const PARTICIPANTS: readonly Participant[] = ['log', 'sqlite', 'postgres', 'raw'];
export const CONTENDERS: readonly ContenderName[] = ['log', 'sqlite', 'postgres'];

/** Options that differ from a store's defaults, shared by both stores. */
export interface StoreOverrides {
  queueDepthMax?: number;
  /** LogStore only. */
  workers?: number;
}

export interface StoreHandle {
  contender: ContenderName;
  /** '' for the default configuration, 'w1' for LogStore with one worker. */
  variant: string;
  dir: string;
  overrides: StoreOverrides;
  store: Store;
  /** LogStore only: the durability watermark. */
  durableSeq?: (book: string) => number;
  /** Set when a write met BOOK_UNAVAILABLE: the scenario stops issuing work on this store. */
  dead: boolean;
  /** PgStore only: the URL of the handle's own database. */
  pgUrl?: string;
  /** PgStore only: CPU µs of the server's processes so far (null when not visible here). */
  serverCpuUs?: ServerCpuReader;
}

let pgServerUrl: string | null = null;

/** H3: the server every `postgres` handle of the run uses. */
export function usePgServer(url: string): void {
  pgServerUrl = url;
}

/** PgStore options of the bench: the defaults, plus the scenario's overrides (H2). */
export function pgOptionsOf(url: string, overrides: StoreOverrides): PgStoreOptions {
  const options: PgStoreOptions = { url, onWarning: warn };
  if (overrides.queueDepthMax !== undefined) options.queueDepthMax = overrides.queueDepthMax;
  return options;
}

/** Opens a contender; `dir` is the data directory, or for `postgres` the database URL. */
export async function openStore(contender: ContenderName, dir: string, overrides: StoreOverrides): Promise<Store> {
  if (contender === 'postgres') return PgStore.open(pgOptionsOf(dir, overrides));
  if (contender === 'log') {
    const options: LogStoreOptions = { onWarning: warn };
    if (overrides.queueDepthMax !== undefined) options.queueDepthMax = overrides.queueDepthMax;
    if (overrides.workers !== undefined) options.workers = overrides.workers;
    return LogStore.open(dir, options);
  }
  const options: SqliteStoreOptions = { onWarning: warn };
  if (overrides.queueDepthMax !== undefined) options.queueDepthMax = overrides.queueDepthMax;
  return SqliteStore.open(path.join(dir, SQLITE_FILE_NAME), options);
}

function warn(warning: { code: string; message: string }): void {
  process.stderr.write(`warning ${warning.code}: ${warning.message}\n`);
}

export async function openHandle(contender: ContenderName, variant: string, dir: string, overrides: StoreOverrides): Promise<StoreHandle> {
  if (contender === 'postgres') {
    if (pgServerUrl === null) throw new Error('the postgres contender has no server (usePgServer)');
    const url = await createDatabase(pgServerUrl, databaseNameOf(dir.split(path.sep).slice(-2).join('_')));
    const store = await openStore(contender, url, overrides);
    const postmaster = await findPostmaster(url);
    const handle: StoreHandle = { contender, variant, dir, overrides, store, dead: false, pgUrl: url };
    handle.serverCpuUs = postmaster === null ? () => null : serverCpuReaderOf(postmaster);
    return handle;
  }
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  const store = await openStore(contender, dir, overrides);
  return withWatermark({ contender, variant, dir, overrides, store, dead: false });
}

/** Closes the store and opens the same directory again (after BOOK_UNAVAILABLE, or --verify-reopen). */
export async function reopenHandle(handle: StoreHandle): Promise<void> {
  await handle.store.close();
  handle.store = await openStore(handle.contender, handle.pgUrl ?? handle.dir, handle.overrides);
  withWatermark(handle);
}

function withWatermark(handle: StoreHandle): StoreHandle {
  const store = handle.store;
  if (store instanceof LogStore) handle.durableSeq = (book) => store.durableSeq(book);
  else delete handle.durableSeq;
  return handle;
}

export async function closeHandle(handle: StoreHandle, keep: boolean): Promise<void> {
  await handle.store.close();
  if (keep) return;
  if (handle.pgUrl !== undefined) await dropDatabase(pgServerUrl ?? databaseUrl(handle.pgUrl, 'postgres'), new URL(handle.pgUrl).pathname.slice(1));
  else fs.rmSync(handle.dir, { recursive: true, force: true });
}

/** Opens a throwaway SqliteStore to read back the durability pragmas (bench.md 4.1 self-check). */
export async function sqliteSelfCheck(root: string): Promise<SqliteDurability> {
  const dir = path.join(root, `sqlite-self-check-${process.pid}`);
  fs.rmSync(dir, { recursive: true, force: true });
  const store = await SqliteStore.open(path.join(dir, SQLITE_FILE_NAME));
  try {
    return store.durability;
  } finally {
    await store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

let gcRequestId = 0;

/**
 * Forces a garbage collection in every thread that loaded bench/thread-probe.js and returns each
 * thread's heap after it. Waits `settleMs` for the replies. Without the probe, collects the main
 * thread only (when gc is exposed).
 */
export async function collectEveryThread(settleMs = 200): Promise<ThreadHeap[]> {
  const requestId = ++gcRequestId;
  const heaps: ThreadHeap[] = [];
  const replies = new BroadcastChannel(PROBE_REPLY_CHANNEL);
  replies.onmessage = (message: MessageEvent) => {
    const heap = message.data as ThreadHeap;
    if (heap.requestId === requestId && !heap.main) heaps.push(heap);
  };
  const request = new BroadcastChannel(PROBE_CHANNEL);
  request.postMessage({ op: 'gc', requestId });
  request.close();
  (globalThis as { gc?: () => void }).gc?.();
  await new Promise((resolve) => setTimeout(resolve, settleMs));
  replies.close();
  heaps.unshift({ threadId: 0, main: true, ...heapOfThisThread(), requestId });
  return heaps.sort((left, right) => left.threadId - right.threadId);
}

export function gcExposed(): boolean {
  return typeof (globalThis as { gc?: unknown }).gc === 'function';
}

/**
 * The descriptor budget (spec/log-engine.md, sections 4.1 and 11.4): how many files the engine's
 * workers may hold open, sized from the process's real limit, and the FileSystem wrapper that keeps
 * each worker inside its share.
 *
 * Sizing, once at open. L is the soft RLIMIT_NOFILE: on Linux the "Max open files" soft column of
 * /proc/self/limits, elsewhere FDS_LIMIT_FALLBACK (256). The application and Node keep
 * max(FDS_RESERVED_MIN, ⌊L/4⌋), each worker thread's event loop FDS_PER_WORKER_THREAD, the
 * data-directory LOCK one; the workers share the rest:
 *
 *     fdsMax = L − max(64, ⌊L/4⌋) − 4 × workers − 1          (option fdsMax / TALEA_LOG_FDS_MAX replaces it)
 *     share  = ⌊fdsMax / workers⌋, at least WORKER_FDS_MIN (4), at most SEGMENT_FDS_OPEN_MAX (256)
 *
 * With L = 1024 and 8 workers that is 735 descriptors, 91 per worker; with L = 256 and 4 workers,
 * 175, 43 per worker. Each worker counts for itself: no shared counter, no cross-thread traffic.
 *
 * F1. A worker never holds more descriptors than its share: every open, directory fsync and
 *     directory listing of its shard goes through BudgetedFileSystem, which counts them.
 * F2. When the share is in use, idle active-segment descriptors are closed first, least recently
 *     written first (every byte in them is fsynced, so closing is safe), before anything is refused.
 * F3. Descriptors held from slice to slice by snapshot and run writers ('wx' opens) are at most a
 *     quarter of the share, so the write path always finds room.
 * F4. EMFILE or ENFILE from the system (the application took more than its margin) is pressure,
 *     not a failure: idle descriptors are closed, oldest first, up to half of those the worker
 *     holds, and the open is tried once more.
 *     If it still fails, or the budget has no room, the caller gets an error with code EMFILE; an
 *     open that failed wrote nothing, so the shard refuses that job OVERLOADED and the book lives.
 * F5. A worker whose share is at least SYNC_HELPERS_SHARE_MIN may start sync helper threads
 *     (src/log/sync-pool.ts); their event loops' descriptors come out of its share, so the count
 *     stays within the process's limit. A smaller share makes its books' fsyncs one at a time.
 */
import fs from 'node:fs';
import { fsyncAll, fsyncEach, isDescriptorPressure, type FileSystem, type OpenFlags, type PendingSync, type SyncRequest } from './file-system.js';
import type { SegmentPrechecks, SegmentToPrecheck } from './segment-precheck.js';
import { SYNC_HELPERS_MAX } from './sync-pool.js';
import {
  FDS_LIMIT_FALLBACK,
  FDS_PER_WORKER_THREAD,
  FDS_RESERVED_MIN,
  SEGMENT_FDS_OPEN_MAX,
  WORKER_FDS_MIN,
} from '../core/limits.js';

/** The smallest worker share that affords sync helper threads (F5). */
export const SYNC_HELPERS_SHARE_MIN = 64;

/** The soft "Max open files" of a /proc/<pid>/limits text; Infinity for unlimited; null if absent. */
export function parseOpenFilesLimit(text: string): number | null {
  const match = /^Max open files\s+(\S+)\s+\S+/m.exec(text);
  if (match === null) return null;
  if (match[1] === 'unlimited') return Number.POSITIVE_INFINITY;
  const limit = Number(match[1]);
  return /^[0-9]+$/.test(match[1]!) && Number.isSafeInteger(limit) ? limit : null;
}

/**
 * The soft RLIMIT_NOFILE in force now. Read at open, not at load: Node raises the soft limit to the
 * hard one when it starts, so only the value read in the running process counts.
 */
export function readOpenFilesLimit(): number {
  try {
    return parseOpenFilesLimit(fs.readFileSync('/proc/self/limits', 'utf8')) ?? FDS_LIMIT_FALLBACK;
  } catch {
    return FDS_LIMIT_FALLBACK; // not Linux: assume the lowest common default
  }
}

/** The descriptors all workers together may hold under a soft limit of `limit` (the sizing rule above). */
export function derivedFdsMax(limit: number, workers: number): number {
  if (limit === Number.POSITIVE_INFINITY) return limit;
  const reserved = Math.max(FDS_RESERVED_MIN, Math.floor(limit / 4)) + FDS_PER_WORKER_THREAD * workers + 1; // + 1: the LOCK
  return Math.max(0, limit - reserved);
}

/** One worker's share of `fdsMax`, between WORKER_FDS_MIN and SEGMENT_FDS_OPEN_MAX. */
export function workerFdShare(fdsMax: number, workers: number): number {
  return Math.min(SEGMENT_FDS_OPEN_MAX, Math.max(WORKER_FDS_MIN, Math.floor(fdsMax / workers)));
}

/** The error of an open refused for want of a descriptor: code EMFILE, like the system's. */
export function descriptorsExhausted(message: string): Error {
  return Object.assign(new Error(`EMFILE: ${message}`), { code: 'EMFILE' });
}

/**
 * Counts the descriptors one worker holds and keeps them within `capacity` (F1 to F5). The shard
 * sets `reclaim` to close its idle active-segment descriptors.
 */
export class BudgetedFileSystem implements FileSystem {
  readonly #inner: FileSystem;
  readonly capacity: number;
  readonly #writersMax: number;
  /** Open descriptors, each marked true when a snapshot or run writer holds it. */
  readonly #held = new Map<number, boolean>();
  #writers = 0;
  /** Directory fsyncs and listings in progress: each holds a descriptor while it runs. */
  #transient = 0;
  /** Closes up to `count` idle descriptors, least recently used first; returns how many it closed. */
  reclaim: (count: number) => number = () => 0;

  /** Whether this worker's books may be fsynced at once by helper threads (F5). */
  readonly concurrentSyncs: boolean;

  constructor(inner: FileSystem, capacity: number) {
    this.#inner = inner;
    this.concurrentSyncs = inner.fsyncAllSync !== undefined && capacity >= SYNC_HELPERS_SHARE_MIN;
    this.capacity = this.concurrentSyncs ? capacity - SYNC_HELPERS_MAX * FDS_PER_WORKER_THREAD : capacity;
    this.#writersMax = Math.max(1, Math.floor(this.capacity / 4)); // F3
  }

  /** Descriptors held now. */
  get inUse(): number {
    return this.#held.size + this.#transient;
  }

  /** Makes `count` descriptors free, closing idle ones if needed (F2); throws EMFILE if it cannot. */
  ensureFree(count: number): void {
    const missing = this.inUse + count - this.capacity;
    if (missing > 0) this.reclaim(missing);
    if (this.inUse + count > this.capacity) {
      throw descriptorsExhausted(`the worker's ${this.capacity} descriptors are in use and none is idle`);
    }
  }

  openSync(path: string, flags: OpenFlags): number {
    const writer = flags === 'wx';
    if (writer && this.#writers >= this.#writersMax) {
      throw descriptorsExhausted(`${this.#writers} snapshot and run files are open, the most a worker's share allows`);
    }
    const fd = this.#withRoom(() => this.#inner.openSync(path, flags));
    this.#held.set(fd, writer);
    if (writer) this.#writers++;
    return fd;
  }

  closeSync(fd: number): void {
    const writer = this.#held.get(fd);
    if (writer !== undefined) {
      this.#held.delete(fd);
      if (writer) this.#writers--;
    }
    this.#inner.closeSync(fd); // a failed close still frees the descriptor (Linux)
  }

  fsyncDirSync(path: string): void {
    this.#transiently(() => this.#inner.fsyncDirSync(path));
  }

  readdirSync(path: string): string[] {
    return this.#transiently(() => this.#inner.readdirSync(path));
  }

  readSync(fd: number, target: Uint8Array, positionBytes: number): number {
    return this.#inner.readSync(fd, target, positionBytes);
  }
  writevSync(fd: number, chunks: readonly Uint8Array[], positionBytes?: number): number {
    return this.#inner.writevSync(fd, chunks, positionBytes);
  }
  fsyncSync(fd: number, dataOnly?: boolean): void {
    this.#inner.fsyncSync(fd, dataOnly);
  }
  fsyncAllSync(requests: readonly SyncRequest[]): Array<Error | null> {
    return this.concurrentSyncs ? fsyncAll(this.#inner, requests) : fsyncEach(this.#inner, requests); // F5
  }
  /** Background fsyncs of snapshot and run files use the sync helpers, so only with their share (F5). */
  fsyncStart(request: SyncRequest): PendingSync | null {
    return this.concurrentSyncs ? (this.#inner.fsyncStart?.(request) ?? null) : null;
  }
  /**
   * Segment prechecks at open run on helper threads outside the count, each an event loop and one
   * segment file: only with a share that allows sync helpers (F5), which start only after recovery,
   * so the prechecks use the room set aside for them (recovery itself holds a file or two).
   */
  precheckSegments(segments: readonly SegmentToPrecheck[], fromBytes: number, chunkBytes: number): SegmentPrechecks | null {
    return this.concurrentSyncs ? (this.#inner.precheckSegments?.(segments, fromBytes, chunkBytes) ?? null) : null;
  }
  close(): void {
    this.#inner.close?.();
  }
  fstatSizeSync(fd: number): number {
    return this.#inner.fstatSizeSync(fd);
  }
  ftruncateSync(fd: number, lengthBytes: number): void {
    this.#inner.ftruncateSync(fd, lengthBytes);
  }
  renameSync(source: string, target: string): void {
    this.#inner.renameSync(source, target);
  }
  unlinkSync(path: string): void {
    this.#inner.unlinkSync(path);
  }
  mkdirSync(path: string): void {
    this.#inner.mkdirSync(path);
  }
  statKindSync(path: string): 'file' | 'directory' | 'other' | null {
    return this.#inner.statKindSync(path);
  }

  #transiently<T>(call: () => T): T {
    return this.#withRoom(() => {
      this.#transient++;
      try {
        return call();
      } finally {
        this.#transient--;
      }
    });
  }

  /** Runs a call that allocates one descriptor: room first (F2), one more try after EMFILE (F4). */
  #withRoom<T>(call: () => T): T {
    this.ensureFree(1);
    try {
      return call();
    } catch (error) {
      if (!isDescriptorPressure(error)) throw error;
      if (this.reclaim(Math.max(1, Math.ceil(this.#held.size / 2))) === 0) throw error;
      return call();
    }
  }
}

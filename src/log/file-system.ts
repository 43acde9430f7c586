/**
 * The injectable door to the disk (spec/log-engine.md, section 13.2). Every file operation of the
 * engine goes through a FileSystem, so tests can fail the Nth write, fsync or rename for real
 * instead of mocking the engine. Only the data-directory lock bypasses it.
 *
 * Synchronous calls are deliberate: they block only the worker's own thread, while asynchronous
 * fs calls would queue on libuv's small thread pool, shared by every worker, behind other fsyncs.
 */
import fs from 'node:fs';
import type { SegmentPrechecks, SegmentToPrecheck } from './segment-precheck.js';

/**
 * 'create': read and write, the file made if absent, never truncated, not in append mode (the
 * segments, written at their offsets: src/log/segment.ts G9). The others as Node reads them.
 */
/** One descriptor to make durable, with fdatasync when `dataOnly`. */
export interface SyncRequest {
  fd: number;
  dataOnly: boolean;
}

/** An fsync running on a helper thread (FileSystem.fsyncStart). */
export interface PendingSync {
  /** Waits for the fsync; its outcome, null or the error. Call exactly once. */
  finish(): Error | null;
}

export type OpenFlags = 'r' | 'r+' | 'a' | 'wx' | 'create';

const CREATE_FLAGS = fs.constants.O_RDWR | fs.constants.O_CREAT;

export interface FileSystem {
  openSync(path: string, flags: OpenFlags): number;
  closeSync(fd: number): void;
  /** Reads up to `target.length` bytes at `positionBytes`; returns the count read. */
  readSync(fd: number, target: Uint8Array, positionBytes: number): number;
  /**
   * Writes at `positionBytes`, or without it at the file's current position (its end, in append
   * mode); may write fewer bytes.
   */
  writevSync(fd: number, chunks: readonly Uint8Array[], positionBytes?: number): number;
  /**
   * Makes the file's data durable. `dataOnly` (fdatasync) may skip timestamps; it still makes a
   * changed length durable, so it is an fsync for every purpose of this package.
   */
  fsyncSync(fd: number, dataOnly?: boolean): void;
  /**
   * Optional: fsyncs several descriptors at once and returns each one's outcome (null or the
   * error). Without it, fsyncAll calls fsyncSync for each in turn (src/log/sync-pool.ts).
   */
  fsyncAllSync?(requests: readonly SyncRequest[]): Array<Error | null>;
  /**
   * Optional: starts an fsync on a helper thread and returns at once; `finish` waits for it and
   * returns its outcome (null or the error). Null when no helper is free: the caller fsyncs itself.
   * The descriptor must stay open until `finish` returned.
   */
  fsyncStart?(request: SyncRequest): PendingSync | null;
  /**
   * Optional: starts verifying `segments` on helper threads while recovery does other work
   * (src/log/segment-precheck.ts); null when not worth it. Only the real file system has it: the
   * injectable ones serve every byte themselves.
   */
  precheckSegments?(segments: readonly SegmentToPrecheck[], fromBytes: number, chunkBytes: number): SegmentPrechecks | null;
  /** Optional: releases what the file system holds beyond descriptors (helper threads). */
  close?(): void;
  fstatSizeSync(fd: number): number;
  ftruncateSync(fd: number, lengthBytes: number): void;
  renameSync(source: string, target: string): void;
  unlinkSync(path: string): void;
  /** Creates one directory; an existing directory is not an error. */
  mkdirSync(path: string): void;
  /** Entry names, sorted. */
  readdirSync(path: string): string[];
  /** What is at `path`, or null when nothing is. */
  statKindSync(path: string): 'file' | 'directory' | 'other' | null;
  /** Makes a directory's entries durable: open it read-only, fsync, close. */
  fsyncDirSync(path: string): void;
}

export class RealFileSystem implements FileSystem {
  openSync(path: string, flags: OpenFlags): number {
    return fs.openSync(path, flags === 'create' ? CREATE_FLAGS : flags);
  }
  closeSync(fd: number): void {
    fs.closeSync(fd);
  }
  readSync(fd: number, target: Uint8Array, positionBytes: number): number {
    return fs.readSync(fd, target, 0, target.length, positionBytes);
  }
  writevSync(fd: number, chunks: readonly Uint8Array[], positionBytes?: number): number {
    return positionBytes === undefined ? fs.writevSync(fd, chunks as Uint8Array[]) : fs.writevSync(fd, chunks as Uint8Array[], positionBytes);
  }
  fsyncSync(fd: number, dataOnly = false): void {
    if (dataOnly) fs.fdatasyncSync(fd);
    else fs.fsyncSync(fd);
  }
  fstatSizeSync(fd: number): number {
    return fs.fstatSync(fd).size;
  }
  ftruncateSync(fd: number, lengthBytes: number): void {
    fs.ftruncateSync(fd, lengthBytes);
  }
  renameSync(source: string, target: string): void {
    fs.renameSync(source, target);
  }
  unlinkSync(path: string): void {
    fs.unlinkSync(path);
  }
  mkdirSync(path: string): void {
    try {
      fs.mkdirSync(path);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST' || this.statKindSync(path) !== 'directory') throw error;
    }
  }
  readdirSync(path: string): string[] {
    return fs.readdirSync(path).sort();
  }
  statKindSync(path: string): 'file' | 'directory' | 'other' | null {
    try {
      const stats = fs.statSync(path);
      return stats.isFile() ? 'file' : stats.isDirectory() ? 'directory' : 'other';
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw error;
    }
  }
  fsyncDirSync(path: string): void {
    const fd = fs.openSync(path, 'r');
    try {
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
  }
}

/**
 * True for EMFILE (this process is out of descriptors, or its worker's budget is in use) and
 * ENFILE (the system is). Only a call that allocates a descriptor fails this way, and such a call
 * has done nothing yet: it is pressure to wait out, never damage and never a failed write
 * (src/log/fd-budget.ts, F4).
 */
export function isDescriptorPressure(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === 'EMFILE' || code === 'ENFILE';
}

/**
 * Makes every descriptor of `requests` durable: at once when the file system can (fsyncAllSync),
 * else one after another. Each outcome is null or the error; every request is attempted.
 */
export function fsyncAll(fileSystem: FileSystem, requests: readonly SyncRequest[]): Array<Error | null> {
  if (requests.length > 1 && fileSystem.fsyncAllSync !== undefined) return fileSystem.fsyncAllSync(requests);
  return fsyncEach(fileSystem, requests);
}

/** fsyncAll one descriptor after another, with `fileSystem.fsyncSync`. */
export function fsyncEach(fileSystem: FileSystem, requests: readonly SyncRequest[]): Array<Error | null> {
  return requests.map((request) => {
    try {
      fileSystem.fsyncSync(request.fd, request.dataOnly);
      return null;
    } catch (error) {
      return error as Error;
    }
  });
}

/** Linux accepts at most this many buffers in one writev (IOV_MAX). */
const IOV_MAX = 1024;

/**
 * Writes every byte of `chunks` back to back, at `positionBytes` or else at the file's current
 * position, continuing after short writes (a short write is not an error) and splitting at IOV_MAX
 * buffers.
 */
export function writeAll(fileSystem: FileSystem, fd: number, chunks: readonly Uint8Array[], positionBytes?: number): void {
  let pending = chunks.length <= IOV_MAX ? chunks : [Buffer.concat(chunks as Uint8Array[])];
  let position = positionBytes;
  while (pending.length > 0) {
    let written = fileSystem.writevSync(fd, pending, position);
    if (written <= 0) {
      throw Object.assign(new Error('a write made no progress'), { code: 'EIO' });
    }
    if (position !== undefined) position += written;
    let index = 0;
    while (index < pending.length && written >= pending[index]!.length) {
      written -= pending[index]!.length;
      index++;
    }
    const rest = pending.slice(index);
    if (rest.length > 0 && written > 0) rest[0] = rest[0]!.subarray(written);
    pending = rest;
  }
}

/**
 * Errors of open, fstat or read that say nothing about a file's bytes: the process ran out of
 * descriptors or memory, a call was interrupted, access was withdrawn. A read that fails this way
 * is not evidence of damage (spec/log-engine.md, section 12 counts EIO as a latent sector error).
 */
const NOT_DAMAGE_ERRNOS: ReadonlySet<string> = new Set(['EMFILE', 'ENFILE', 'ENOMEM', 'EAGAIN', 'EINTR', 'EACCES', 'EPERM']);

/** Whether a failed open, fstat or read says nothing about the file's bytes (see NOT_DAMAGE_ERRNOS). */
export function isNotDamage(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException | null)?.code;
  return typeof code === 'string' && NOT_DAMAGE_ERRNOS.has(code);
}

/** Reads exactly `length` bytes at `positionBytes`, or fewer only at the end of the file. */
export function readFully(fileSystem: FileSystem, fd: number, target: Uint8Array, positionBytes: number): number {
  let total = 0;
  while (total < target.length) {
    const count = fileSystem.readSync(fd, target.subarray(total), positionBytes + total);
    if (count === 0) break;
    total += count;
  }
  return total;
}

/**
 * Whether the file at `file` begins with `prefix`. A file that cannot be read, or is shorter, does
 * not: callers use this to decide that a file is theirs, and "cannot tell" must mean "not mine".
 */
export function startsWithBytes(fileSystem: FileSystem, file: string, prefix: Uint8Array): boolean {
  let fd: number;
  try {
    fd = fileSystem.openSync(file, 'r');
  } catch {
    return false;
  }
  try {
    const head = Buffer.alloc(prefix.length);
    return readFully(fileSystem, fd, head, 0) === prefix.length && head.equals(prefix);
  } catch {
    return false;
  } finally {
    fileSystem.closeSync(fd);
  }
}

/**
 * Writing a file atomically, for snapshots and idempotency runs (spec/log-engine.md, sections 8.4
 * and 9.4): bytes go to `<final>.tmp` (created exclusively, so two writers never share it) with a
 * running CRC-32; `install` fsyncs it, renames it into place and fsyncs the directory; `abandon`
 * removes what was written. The log itself is never written this way.
 *
 * A large file is also fsynced every FLUSH_EVERY_BYTES while it is written: the page cache would
 * otherwise hold all of it until `install`, whose single fsync (hundreds of MiB for a big book's
 * snapshot) would stall the worker's next batches for that long at once. Where the file system
 * can (FileSystem.fsyncStart, a sync helper thread), those flushes run in the background: each is
 * collected at the next flush, at `install` or at `abandon`, and the descriptor stays open until
 * then. A failed one fails that next step, so the file is abandoned, never installed; no fsync is
 * retried.
 */
import path from 'node:path';
import zlib from 'node:zlib';
import { writeAll, type FileSystem, type PendingSync } from './file-system.js';

const FLUSH_EVERY_BYTES = 8 * 1024 * 1024;

export class AtomicFileWriter {
  readonly tmpPath: string;
  #fd: number | null = null;
  #crc = 0;
  #unflushedBytes = 0;
  #flushing: PendingSync | null = null;

  constructor(
    readonly fileSystem: FileSystem,
    readonly finalPath: string,
  ) {
    this.tmpPath = `${finalPath}.tmp`;
  }

  /** The CRC-32 of every byte written through `write` so far. */
  get crc(): number {
    return this.#crc;
  }

  /** Appends bytes covered by the running CRC. */
  write(chunks: readonly Buffer[]): void {
    for (const chunk of chunks) this.#crc = zlib.crc32(chunk, this.#crc);
    this.writeUnchecked(chunks);
  }

  /** Appends bytes the running CRC does not cover (the CRC field itself). */
  writeUnchecked(chunks: readonly Buffer[]): void {
    this.#fd ??= this.fileSystem.openSync(this.tmpPath, 'wx');
    writeAll(this.fileSystem, this.#fd, chunks);
    for (const chunk of chunks) this.#unflushedBytes += chunk.length;
    if (this.#unflushedBytes >= FLUSH_EVERY_BYTES) {
      this.#collectFlush(); // a failure throws: the caller abandons the file
      const request = { fd: this.#fd, dataOnly: false };
      this.#flushing = this.fileSystem.fsyncStart?.(request) ?? null;
      if (this.#flushing === null) this.fileSystem.fsyncSync(this.#fd);
      this.#unflushedBytes = 0;
    }
  }

  /** Waits for the background flush, if one runs; throws its error. */
  #collectFlush(): void {
    const flushing = this.#flushing;
    if (flushing === null) return;
    this.#flushing = null;
    const error = flushing.finish();
    if (error !== null) throw error;
  }

  /** fsync, close, rename into place, fsync the directory. Throws on failure (then call abandon). */
  install(): void {
    const fileSystem = this.fileSystem;
    this.#fd ??= fileSystem.openSync(this.tmpPath, 'wx');
    this.#collectFlush();
    fileSystem.fsyncSync(this.#fd);
    fileSystem.closeSync(this.#fd);
    this.#fd = null;
    fileSystem.renameSync(this.tmpPath, this.finalPath);
    fileSystem.fsyncDirSync(path.dirname(this.finalPath));
  }

  /** Gives up: closes and removes the temporary file if it can (otherwise the next open does, R18). */
  abandon(): void {
    this.#flushing?.finish(); // its outcome no longer matters, but the descriptor is in use until then
    this.#flushing = null;
    if (this.#fd !== null) {
      try {
        this.fileSystem.closeSync(this.#fd);
      } catch {
        // already gone
      }
      this.#fd = null;
    }
    try {
      if (this.fileSystem.statKindSync(this.tmpPath) !== null) this.fileSystem.unlinkSync(this.tmpPath);
    } catch {
      // left for the next open to remove
    }
  }
}

/**
 * `talea-log snapshot <dir> <book>`: takes a snapshot of one book now, through the engine itself:
 * LogStore.open, LogStore#snapshot (spec/log-engine.md, section 8.7), close.
 *
 * N1. The write lock is the store's own: LogStore.open takes it, so a directory held by a running
 *     store is EXIT_LOCKED with the engine's message, and nothing is read or written.
 * N2. Opening is a real open: it recovers every book and repairs what open repairs (a torn tail,
 *     leftover temporary files, idempotency runs), with the engine's warnings on stderr; a
 *     directory open refuses is EXIT_CORRUPT with the engine's CORRUPT line.
 * N3. Success is reported only after `snapshot(book)` resolved, which happens once the file is
 *     durable, and names that file; an empty book gets no snapshot (section 8.6) and says so.
 */
import fs from 'node:fs';
import path from 'node:path';
import { isStoreError } from '../core/errors.js';
import { LogStore } from '../log/log-store.js';
import { snapshotFileName } from '../log/snapshot.js';
import { printErr, type Command } from './command.js';
import { resolveBook, resolveDataDir } from './data-dir.js';
import { CliError, EXIT_CORRUPT, EXIT_FAILURE, EXIT_LOCKED, EXIT_NOT_FOUND, EXIT_OK } from './exit-codes.js';

export const snapshotCommand: Command = {
  name: 'snapshot',
  summary: 'take a snapshot of a book now (needs the write lock)',
  help: `Usage: talea-log snapshot <dir> <book>

Takes a snapshot of one book now: opens the data directory as a store (which needs its write
lock, so it fails at once if a store has the directory open), writes the snapshot, waits until
the file is durable, closes the store, and prints the file's path. An empty book has nothing to
snapshot: no file is written, and the command says so.

Opening recovers the directory exactly as LogStore.open does, so it also repairs what open
repairs (a torn tail, leftover *.tmp files, damaged idempotency runs); the engine's warnings
about that go to stderr.

Options:
  -h, --help    show this help

Exit codes: 0 snapshot written (or the book is empty); 1 corruption: open refuses the directory;
2 bad arguments; 5 no such data directory or book; 6 the directory is locked by a running store;
8 the snapshot could not be written, or another I/O error.`,
  options: {},
  positionals: { names: ['dir', 'book'], required: 2 },
  async run([dir, bookArgument]) {
    const root = resolveDataDir(dir!);
    const book = resolveBook(root, bookArgument!);
    let store: LogStore;
    try {
      store = await LogStore.open(root, { onWarning: (warning) => printErr(`talea-log snapshot: warning: ${warning.message}`) });
    } catch (error) {
      if (isStoreError(error, 'IO') && isLockHeld(error.cause)) throw new CliError(EXIT_LOCKED, error.message);
      if (isStoreError(error, 'INVALID_BOOK')) throw new CliError(EXIT_CORRUPT, error.message);
      throw error; // CORRUPT: EXIT_CORRUPT, anything else EXIT_FAILURE (main.ts)
    }
    let seq: number;
    try {
      await store.snapshot(book);
      seq = store.durableSeq(book);
    } catch (error) {
      if (isStoreError(error, 'INVALID_ARGUMENT')) throw new CliError(EXIT_NOT_FOUND, `no book ${book} in ${root}`);
      if (isStoreError(error)) throw new CliError(EXIT_FAILURE, error.message);
      throw error;
    } finally {
      await store.close();
    }
    if (seq === 0) {
      process.stdout.write(`book ${book} is empty: there is nothing to snapshot, and no file was written\n`);
      return EXIT_OK;
    }
    // Nothing else writes while this process holds the lock, so the snapshot covers the last seq.
    const file = path.join(root, 'books', book, snapshotFileName(seq));
    if (!fs.existsSync(file)) throw new CliError(EXIT_FAILURE, `the store reported a snapshot of book ${book} at seq ${seq}, but "${file}" does not exist`);
    process.stdout.write(`snapshot of book ${book} at seq ${seq} written: ${file}\n`);
    return EXIT_OK;
  },
};

/** The errno DataDirLock gets from flock when another open file description holds the lock (D1). */
function isLockHeld(cause: unknown): boolean {
  const code = (cause as NodeJS.ErrnoException | undefined)?.code;
  return code === 'EAGAIN' || code === 'EWOULDBLOCK';
}

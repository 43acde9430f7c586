/**
 * `talea-log snapshot <dir> <book>`: meant to take a snapshot of a book now. The command does not
 * take snapshots yet, so it checks what it can (arguments, directory, book, and that it can take
 * the write lock, which writing a snapshot needs) and then exits with EXIT_UNSUPPORTED. It never
 * claims success and writes nothing.
 *
 * N1. The lock is taken with DataDirLock, exactly as LogStore.open takes it, and released before
 *     exiting: a directory held by a running store is EXIT_LOCKED with the engine's message.
 */
import { DataDirLock } from '../data-dir-lock.js';
import { isStoreError } from '../errors.js';
import type { Command } from './command.js';
import { resolveBook, resolveDataDir } from './data-dir.js';
import { CliError, EXIT_LOCKED, EXIT_UNSUPPORTED } from './exit-codes.js';

export const snapshotCommand: Command = {
  name: 'snapshot',
  summary: 'take a snapshot of a book (not supported by this version yet)',
  help: `Usage: talea-log snapshot <dir> <book>

Takes a snapshot of one book, which needs the data directory's write lock: it fails at once if a
store has the directory open.

Not supported yet: the command does not take snapshots yet. It checks its arguments, the
directory and the book, takes and releases the write lock, and exits with code 7 without writing
anything.

Options:
  -h, --help    show this help

Exit codes: 7 not supported yet (after the checks passed); 6 the directory is locked by a running
store; 5 no such data directory or book; 2 bad arguments.`,
  options: {},
  positionals: { names: ['dir', 'book'], required: 2 },
  async run([dir, bookArgument]) {
    const root = resolveDataDir(dir!);
    const book = resolveBook(root, bookArgument!);
    let lock: DataDirLock;
    try {
      lock = DataDirLock.acquire(root);
    } catch (error) {
      if (isStoreError(error, 'IO') && error.message.includes('already locked')) throw new CliError(EXIT_LOCKED, error.message);
      throw error;
    }
    lock.release();
    throw new CliError(EXIT_UNSUPPORTED, `not supported yet: this command does not take snapshots yet; nothing was written for book ${book}`);
  },
};

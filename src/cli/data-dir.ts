/**
 * Finding the data directory and the book a command names, without changing anything: unlike
 * LogStore.open, the operator commands never create `<dir>`, `books/` or `LOCK`.
 *
 * P1. A missing path, a file where a directory belongs, or a directory without `books/` is a
 *     CliError with EXIT_NOT_FOUND and one line naming the path.
 * P2. A book name that breaks the book pattern is EXIT_USAGE (the argument is malformed); a valid
 *     name with no directory is EXIT_NOT_FOUND.
 * P3. A book directory open would refuse (D2, D3) is EXIT_CORRUPT with the engine's message.
 */
import fs from 'node:fs';
import path from 'node:path';
import { isValidBookName } from '../core/book-name.js';
import { isStoreError } from '../core/errors.js';
import { listBooks } from '../log/log-store.js';
import { CliError, EXIT_CORRUPT, EXIT_NOT_FOUND, EXIT_USAGE } from './exit-codes.js';

function kindOf(target: string): 'file' | 'directory' | 'other' | null {
  try {
    const stats = fs.statSync(target);
    return stats.isDirectory() ? 'directory' : stats.isFile() ? 'file' : 'other';
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return null;
    throw error;
  }
}

/** The absolute path of a data directory that exists and has `books/` (P1). */
export function resolveDataDir(dir: string): string {
  const root = path.resolve(dir);
  const kind = kindOf(root);
  if (kind === null) throw new CliError(EXIT_NOT_FOUND, `no such directory: ${root}`);
  if (kind !== 'directory') throw new CliError(EXIT_NOT_FOUND, `not a directory: ${root}`);
  if (kindOf(path.join(root, 'books')) !== 'directory') {
    throw new CliError(EXIT_NOT_FOUND, `not a talea-log data directory (it has no books/ folder): ${root}`);
  }
  return root;
}

/** Checks that `book` is a valid name with a directory in `root` (P2). */
export function resolveBook(root: string, book: string): string {
  if (!isValidBookName(book)) {
    throw new CliError(EXIT_USAGE, `invalid book name ${JSON.stringify(book)}: must be 1-128 characters of A-Z a-z 0-9 . _ - and not "." or ".."`);
  }
  if (kindOf(path.join(root, 'books', book)) !== 'directory') throw new CliError(EXIT_NOT_FOUND, `no book ${book} in ${root}`);
  return book;
}

/** Every book of `root`, in name order, as open lists them (P3). */
export function resolveBooks(root: string): string[] {
  try {
    return listBooks(root);
  } catch (error) {
    if (isStoreError(error, 'INVALID_BOOK')) throw new CliError(EXIT_CORRUPT, error.message);
    throw error;
  }
}

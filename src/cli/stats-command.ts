/**
 * `talea-log stats <dir> [book]`: what each book holds once replayed: accounts, transactions,
 * postings and the trial balance per asset.
 *
 * A1. Each book is replayed by recovery's own check phase (src/log/verify-tasks.ts), read-only and
 *     without the lock, books in parallel on the verification pool; the numbers are those a store
 *     opened on the directory would start from (after truncating a torn tail, which is noted).
 * A2. A book open would refuse is reported with its CORRUPT line and makes the exit code
 *     EXIT_CORRUPT; the other books are still shown.
 */
import { stringifyJson } from '../core/json.js';
import type { JsonValue } from '../core/types.js';
import { createVerifyPool, replayBookInPool } from '../log/verify.js';
import type { BookReplay, BookSummary } from '../log/verify-tasks.js';
import type { Command } from './command.js';
import { resolveBook, resolveBooks, resolveDataDir } from './data-dir.js';
import { EXIT_CORRUPT, EXIT_OK } from './exit-codes.js';
import { integerOption } from './option-values.js';
import { plural } from './units.js';

export const statsCommand: Command = {
  name: 'stats',
  summary: 'accounts, transactions, postings and trial balance per book',
  help: `Usage: talea-log stats <dir> [book] [--json] [--threads n]

Replays each book (or the one named) with the engine's own recovery code, without taking the
lock and without changing anything, and shows its last seq and commit time, the number of
accounts, transactions and postings, and the trial balance per asset (debits and credits summed
by direction). A torn tail that open would truncate is noted; the numbers are those of the log
without it. Books are replayed in parallel.

Options:
  --json        one JSON object instead of text (amounts as exact JSON integers)
  --threads N   pool threads (default: the number of cores)
  -h, --help    show this help

Exit codes: 0 shown; 1 a book is corrupt (open would refuse it; the others are still shown);
2 bad arguments; 5 no such data directory or book; 8 I/O error.`,
  options: { json: { type: 'boolean' }, threads: { type: 'string' } },
  positionals: { names: ['dir', 'book'], required: 1 },
  async run([dir, bookArgument], values) {
    const root = resolveDataDir(dir!);
    const threads = integerOption('threads', values.threads, 1, 256);
    const books = bookArgument === undefined ? resolveBooks(root) : [resolveBook(root, bookArgument)];
    const pool = createVerifyPool(Math.min(threads ?? Number.POSITIVE_INFINITY, Math.max(books.length, 1)));
    let replays: BookReplay[];
    try {
      replays = await Promise.all(books.map((book) => replayBookInPool(pool, root, book, false, null)));
    } finally {
      await pool.destroy();
    }
    if (values.json === true) {
      const document = {
        dir: root,
        books: replays.map((replay, index) => (replay.ok ? replay.summary : { book: books[index]!, error: replay.error })),
      } as unknown as JsonValue;
      process.stdout.write(`${stringifyJson(document)}\n`);
    } else {
      const lines: string[] = [];
      replays.forEach((replay, index) => {
        if (replay.ok) lines.push(...renderSummary(replay.summary));
        else lines.push(`book ${books[index]}: ${replay.error.message}`);
      });
      process.stdout.write(`${lines.join('\n')}\n`);
    }
    return replays.some((replay) => !replay.ok) ? EXIT_CORRUPT : EXIT_OK;
  },
};

function renderSummary(summary: BookSummary): string[] {
  const last = summary.lastSeq === 0 ? 'no events' : `seqs 1..${summary.lastSeq}, last at ${summary.lastAt}`;
  const counts = [plural(summary.accounts, 'account'), plural(summary.transactions, 'transaction'), plural(summary.postings, 'posting')];
  const lines = [`book ${summary.book}: ${last}; ${counts.join(', ')}`];
  if (summary.assetsRegistered.length > 0) {
    lines.push(`  assets registered: ${summary.assetsRegistered.join(', ')}`);
  }
  if (summary.trialBalance.length > 0) {
    lines.push(`  trial balance${summary.sumsSaturated ? ' (sums saturated at the i64 bounds)' : ''}:`);
    const rows = summary.trialBalance.map((row) => ({
      asset: row.asset,
      debits: row.debits.toLocaleString('en-US'),
      credits: row.credits.toLocaleString('en-US'),
      state: row.debits === row.credits ? 'balanced' : `UNBALANCED by ${(row.debits - row.credits).toLocaleString('en-US')}`,
    }));
    const assetWidth = Math.max(5, ...rows.map((row) => row.asset.length));
    const debitWidth = Math.max(6, ...rows.map((row) => row.debits.length));
    const creditWidth = Math.max(7, ...rows.map((row) => row.credits.length));
    lines.push(`    ${'asset'.padEnd(assetWidth)}  ${'debits'.padStart(debitWidth)}  ${'credits'.padStart(creditWidth)}`);
    for (const row of rows) {
      lines.push(`    ${row.asset.padEnd(assetWidth)}  ${row.debits.padStart(debitWidth)}  ${row.credits.padStart(creditWidth)}  ${row.state}`);
    }
  }
  if (summary.tornTail !== null) {
    const { file, offsetBytes, discardedBytes } = summary.tornTail;
    lines.push(`  note: torn tail of ${plural(discardedBytes, 'byte')} in "${file}" at offset ${offsetBytes}; open would truncate it, and these numbers leave it out`);
  }
  for (const warning of summary.warnings) lines.push(`  warning: ${warning}`);
  return lines;
}

/**
 * `talea-log pg-import <dir>`: a log data directory into a PgStore schema, then compared with it
 * (spec/postgres-store.md 5.3; src/postgres/pg-impex.ts).
 */
import type { Command } from './command.js';
import { resolveDataDir } from './data-dir.js';
import { PG_OPTIONS, pgTarget, reportCompare, withPgImpex } from './pg-impex-output.js';
import { plural } from './units.js';

export const pgImportCommand: Command = {
  name: 'pg-import',
  summary: 'copy a data directory into an empty PostgreSQL schema, then compare (needs the write lock)',
  help: `Usage: talea-log pg-import <dir> [--url URL] [--schema NAME] [--resume]

Copies every event of a data directory into a PgStore schema, keeping each event's seq, commit
time and JSON bytes, and fills balances, postings, idempotency keys, txids and book heads through
PgStore's own write code. Then compares the schema with the directory (as pg-compare does).

Before anything is written: takes the directory's lock (a running store keeps it); checks every
book with the engine's recovery check, repairing nothing: what LogStore.open would refuse is
refused (exit 1), what it would repair (a torn tail, leftover *.tmp files, idempotency runs) is
refused too (exit 3: open the directory with the store once, or restore it); refuses a txid held
by two books, an asset or account event repeated in the log, and U+0000 in an account path, asset
id or idempotency key, naming the first; and refuses a schema that already holds books.

_system is imported first, then the books in UTF-8 name order, 1,000 events per transaction under
the book's lock. An event PgStore would refuse aborts the import (exit 1): the log is inconsistent.
An interrupted import leaves whole transactions; --resume checks that each book already in the
schema is a byte-identical prefix of the log and continues after it.

Options:
  --url URL       postgres://user:password@host:port/database (default: TALEA_PG_URL)
  --schema NAME   the PgStore schema (default: talea); created and migrated if missing
  --resume        continue an interrupted import into a schema that holds part of this log
  -h, --help      show this help

Exit codes: 0 imported and identical; 1 corruption, a log the schema cannot hold, not a prefix
(--resume), or a difference found by the final compare; 2 bad arguments, or the schema already
holds books (without --resume); 3 open would repair the directory first; 5 no such data
directory; 6 the directory is locked by a running store; 8 PostgreSQL or I/O error.`,
  options: { ...PG_OPTIONS, resume: { type: 'boolean' } },
  positionals: { names: ['dir'], required: 1 },
  async run([dir], values) {
    const root = resolveDataDir(dir!);
    return withPgImpex(async (impex) => {
      const result = await impex.importLogDirToPg({ ...pgTarget(values), dir: root, resume: values.resume === true });
      for (const { book, lastSeq, importedFrom } of result.books) {
        const what = importedFrom > lastSeq ? 'nothing to import' : `seqs ${importedFrom}..${lastSeq} imported`;
        process.stdout.write(`book ${book}: ${plural(lastSeq, 'event')}, ${what}${importedFrom > 1 ? ` (seqs 1..${importedFrom - 1} were there already)` : ''}\n`);
      }
      process.stdout.write(`pg-import: ${plural(result.events, 'event')} written\n`);
      return reportCompare('pg-import', result.compare);
    });
  },
};

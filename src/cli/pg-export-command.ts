/**
 * `talea-log pg-export <dir>`: a PgStore schema into a new log data directory, then compared with
 * it (spec/postgres-store.md 5.2; src/postgres/pg-impex.ts).
 */
import type { Command } from './command.js';
import { booksOption, PG_OPTIONS, pgTarget, reportCompare, withPgImpex } from './pg-impex-output.js';
import { plural } from './units.js';

export const pgExportCommand: Command = {
  name: 'pg-export',
  summary: 'write a PostgreSQL schema (or some books) as a new data directory, then compare',
  help: `Usage: talea-log pg-export <dir> [--url URL] [--schema NAME] [--books a,b]

Writes the books of a PgStore schema as a new data directory that LogStore opens: every event
with its seq, commit time and JSON bytes, framed by the engine's own segment writer (CRC,
rotation at TALEA_LOG_SEGMENT_MAX). Reads one REPEATABLE READ snapshot, so all books are as of
one instant while writers go on. Writes into <dir>.tmp-<pid>, fsyncs files and directories,
renames it to <dir> and fsyncs the parent; then compares the new directory with the same snapshot
(as pg-compare does). <dir> must not exist or be an empty directory.

Options:
  --url URL       postgres://user:password@host:port/database (default: TALEA_PG_URL)
  --schema NAME   the PgStore schema (default: talea)
  --books A,B     only these books (and _system, which holds the assets they use)
  -h, --help      show this help

Exit codes: 0 exported and identical; 1 corruption in the schema, or a difference found by the
compare; 2 bad arguments, an unknown book, or <dir> is not empty; 5 no such schema or parent
directory; 8 PostgreSQL or I/O error.`,
  options: { ...PG_OPTIONS, books: { type: 'string' } },
  positionals: { names: ['dir'], required: 1 },
  async run([dir], values) {
    const books = booksOption(values);
    return withPgImpex(async (impex) => {
      const result = await impex.exportPgToLogDir({ ...pgTarget(values), dir: dir!, ...(books === undefined ? {} : { books }) });
      for (const { book, lastSeq, segments } of result.books) process.stdout.write(`book ${book}: ${plural(lastSeq, 'event')}, ${plural(segments, 'segment')}\n`);
      process.stdout.write(`pg-export: ${plural(result.events, 'event')} written to ${result.dir}\n`);
      return reportCompare('pg-export', result.compare);
    });
  },
};

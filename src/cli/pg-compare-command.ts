/**
 * `talea-log pg-compare <dir>`: a log data directory against a PgStore schema, read-only
 * (spec/postgres-store.md 5.4; src/postgres/pg-impex.ts).
 */
import type { Command } from './command.js';
import { resolveDataDir } from './data-dir.js';
import { booksOption, PG_OPTIONS, pgTarget, reportCompare, withPgImpex } from './pg-impex-output.js';

export const pgCompareCommand: Command = {
  name: 'pg-compare',
  summary: 'compare a data directory with a PostgreSQL schema (read-only)',
  help: `Usage: talea-log pg-compare <dir> [--url URL] [--schema NAME] [--books a,b]

Compares a data directory with a PgStore schema, book by book, in one REPEATABLE READ snapshot and
without taking the directory's lock: the same books and last seqs; per seq the same commit time
(as an instant: a Rust-written time with 0 or 3 fractional digits equals the 6-digit one) and the
same event JSON bytes (for a log written by another encoder, the same event after decoding and
re-encoding); per account the same balance and updated seq; the same trial balances; the same
(book, idempotency key) -> (txid, seq); the same registered assets. The log is read as
LogStore.open would serve it (a torn tail is left out); corruption stops the compare (exit 1).

Options:
  --url URL       postgres://user:password@host:port/database (default: TALEA_PG_URL)
  --schema NAME   the PgStore schema (default: talea)
  --books A,B     only these books
  -h, --help      show this help

Exit codes: 0 identical; 1 differences (the first 20 are listed) or corruption; 2 bad arguments;
5 no such data directory or schema; 8 PostgreSQL or I/O error.`,
  options: { ...PG_OPTIONS, books: { type: 'string' } },
  positionals: { names: ['dir'], required: 1 },
  async run([dir], values) {
    const root = resolveDataDir(dir!);
    const books = booksOption(values);
    return withPgImpex(async (impex) => reportCompare('pg-compare', await impex.comparePgWithLogDir({ ...pgTarget(values), dir: root, ...(books === undefined ? {} : { books }) })));
  },
};

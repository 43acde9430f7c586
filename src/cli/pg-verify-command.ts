/**
 * `talea-log pg-verify`: one PgStore schema checked against a replay of its own events, read-only
 * (spec/postgres-store.md 5.4; src/postgres/pg-verify.ts).
 *
 * Q1. Exit codes as pg-compare (pg-impex-output.ts Q1, Q2): 0 when every check holds; 1
 *     (EXIT_CORRUPT) after listing the first 20 findings; 2 bad arguments or an unknown book;
 *     5 no such schema; 8 PostgreSQL error.
 */
import type { VerifyResult } from '../postgres/pg-verify.js';
import type { Command } from './command.js';
import { EXIT_CORRUPT, EXIT_OK } from './exit-codes.js';
import { booksOption, PG_OPTIONS, pgTarget, withPgImpex } from './pg-impex-output.js';
import { plural } from './units.js';

export const pgVerifyCommand: Command = {
  name: 'pg-verify',
  summary: 'check a PostgreSQL schema against a replay of its events (read-only)',
  help: `Usage: talea-log pg-verify [--url URL] [--schema NAME] [--books a,b]

Checks one PgStore schema in one REPEATABLE READ READ ONLY snapshot, taking no lock, so it can run
while stores write:
  - per book, the seqs in events are gapless from 1, the books head (last_seq, last_at) equals the
    last event, at never goes backwards, every event_json decodes and matches its kind column;
  - every projection equals a replay of the events: assets, accounts (every column, the raw
    balance and updated seq included), transactions, postings (raw_after, at), book_assets
    (saturating sums, updated seq), both ways: missing rows and extra rows.
Each finding names its table, book and seq or key.

Options:
  --url URL       postgres://user:password@host:port/database (default: TALEA_PG_URL)
  --schema NAME   the PgStore schema (default: talea)
  --books A,B     only these books (and _system, whose assets they use); rows of books with no
                  head row are then not looked for
  -h, --help      show this help

Exit codes: 0 every check holds; 1 findings (the first 20 are listed); 2 bad arguments or no such
book; 5 no such schema; 8 PostgreSQL error.`,
  options: { ...PG_OPTIONS, books: { type: 'string' } },
  positionals: { names: [], required: 0 },
  async run(_positionals, values) {
    const books = booksOption(values);
    const target = pgTarget(values);
    return withPgImpex(async () => {
      const { verifyPgSchema } = await import('../postgres/pg-verify.js');
      return reportVerify(await verifyPgSchema({ ...target, ...(books === undefined ? {} : { books }) }), target.schema ?? 'talea');
    });
  },
};

function reportVerify(result: VerifyResult, schema: string): number {
  const summary = `${plural(result.books.filter((book) => book.lastSeq > 0).length, 'book')}, ${plural(result.events, 'event')}, schema ${schema}`;
  if (result.clean) {
    process.stdout.write(`pg-verify: OK (${summary})\n`);
    return EXIT_OK;
  }
  const lines = result.findings.map((finding) => `FINDING: ${finding.table} book ${finding.book ?? '-'} ${finding.key}: ${finding.message}`);
  if (result.findingCount > result.findings.length) lines.push(`... and ${plural(result.findingCount - result.findings.length, 'more finding')}`);
  lines.push(`pg-verify: ${plural(result.findingCount, 'finding')} (${summary})`);
  process.stdout.write(`${lines.join('\n')}\n`);
  return EXIT_CORRUPT;
}

/**
 * What `pg-import`, `pg-export` and `pg-compare` share (src/postgres/pg-impex.ts does the work):
 * the library is loaded on demand, so the other commands never load `pg`; its refusals become
 * exit codes; a comparison is printed the same way by all three.
 *
 * Q1. Refusals: bad options and a target that is not empty are EXIT_USAGE; a missing directory
 *     or schema EXIT_NOT_FOUND; a locked directory EXIT_LOCKED; a directory open would repair
 *     EXIT_REPAIRABLE; a log the schema cannot hold, or a resume over something that is not a
 *     prefix, EXIT_CORRUPT. CORRUPT from the engine is EXIT_CORRUPT (main.ts), anything else
 *     EXIT_FAILURE.
 * Q2. A comparison with differences exits EXIT_CORRUPT after listing the first 20 of them.
 */
import type { CompareResult, ImpexRefusal } from '../postgres/pg-impex.js';
import type { OptionValues } from './command.js';
import { CliError, EXIT_CORRUPT, EXIT_LOCKED, EXIT_NOT_FOUND, EXIT_OK, EXIT_REPAIRABLE, EXIT_USAGE } from './exit-codes.js';
import { plural } from './units.js';

export type PgImpex = typeof import('../postgres/pg-impex.js');

const EXIT_OF: Record<ImpexRefusal, number> = {
  usage: EXIT_USAGE,
  'not-found': EXIT_NOT_FOUND,
  'target-not-empty': EXIT_USAGE,
  locked: EXIT_LOCKED,
  repairable: EXIT_REPAIRABLE,
  refused: EXIT_CORRUPT,
};

/** Runs `body` with the library loaded, turning its refusals into CliErrors (Q1). */
export async function withPgImpex<T>(body: (impex: PgImpex) => Promise<T>): Promise<T> {
  const impex = await import('../postgres/pg-impex.js');
  try {
    return await body(impex);
  } catch (error) {
    if (error instanceof impex.ImpexError) throw new CliError(EXIT_OF[error.refusal], error.message);
    throw error;
  }
}

/** The `--url` and `--schema` options. */
export const PG_OPTIONS = {
  url: { type: 'string' },
  schema: { type: 'string' },
} as const;

export function pgTarget(values: OptionValues): { url?: string; schema?: string } {
  return {
    ...(typeof values.url === 'string' ? { url: values.url } : {}),
    ...(typeof values.schema === 'string' ? { schema: values.schema } : {}),
  };
}

/** `--books a,b` as a list; an empty name is EXIT_USAGE. */
export function booksOption(values: OptionValues): string[] | undefined {
  if (typeof values.books !== 'string') return undefined;
  const books = values.books.split(',').map((book) => book.trim());
  if (books.some((book) => book.length === 0)) throw new CliError(EXIT_USAGE, `--books must be a comma-separated list of book names, got ${JSON.stringify(values.books)}`);
  return books;
}

/** Prints a comparison and returns its exit code (Q2). */
export function reportCompare(command: string, result: CompareResult): number {
  const books = result.books.filter((book) => book.lastSeq > 0);
  if (result.identical) {
    process.stdout.write(`${command}: compare: identical (${plural(books.length, 'book')}, ${plural(books.reduce((sum, book) => sum + book.lastSeq, 0), 'event')})\n`);
    return EXIT_OK;
  }
  const lines = result.differences.map((difference) => `DIFFERENT: ${difference.message}`);
  if (result.differenceCount > result.differences.length) lines.push(`... and ${plural(result.differenceCount - result.differences.length, 'more difference')}`);
  lines.push(`${command}: compare: ${plural(result.differenceCount, 'difference')} between the log and PostgreSQL`);
  process.stdout.write(`${lines.join('\n')}\n`);
  return EXIT_CORRUPT;
}

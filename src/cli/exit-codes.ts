/**
 * Exit codes of `talea-log` (docs/cli.md), and the error that carries one.
 *
 * X1. Every code has one meaning for every command; scripts may branch on them. A code is never
 *     reused for something else once published.
 * X2. Anything that ends a command early is a CliError with a code and a one-line message;
 *     main.ts prints the message to stderr and exits with the code.
 * X3. Code 7 is retired: an earlier version of `snapshot` returned it, and by X1 it is never given
 *     another meaning.
 */
export const EXIT_OK = 0;
/** Corruption: open would refuse the directory (verify, or any command that met it). */
export const EXIT_CORRUPT = 1;
/** Bad arguments: unknown command or option, missing or extra argument, malformed value. */
export const EXIT_USAGE = 2;
/**
 * verify: no corruption, but open would repair something: truncate a torn tail, remove *.tmp, skip
 * an unusable snapshot, delete a damaged or left-over idempotency run, rebuild missing keys.
 */
export const EXIT_REPAIRABLE = 3;
/** verify: the log is sound, but a transaction or a trial balance does not balance per asset. */
export const EXIT_UNBALANCED = 4;
/** The directory is missing, is not a data directory, or has no such book. */
export const EXIT_NOT_FOUND = 5;
/** The data directory is locked by a running store (commands that need the write lock). */
export const EXIT_LOCKED = 6;
/** An I/O error or an unexpected failure; the message says which. */
export const EXIT_FAILURE = 8;

export const EXIT_CODES: ReadonlyArray<{ code: number; meaning: string }> = [
  { code: EXIT_OK, meaning: 'success; verify: every check passed' },
  { code: EXIT_CORRUPT, meaning: 'corruption: open would refuse the directory (file and offset are named); pg-*: a difference, or a log PostgreSQL cannot hold' },
  { code: EXIT_USAGE, meaning: 'bad arguments; pg-export: target not empty; pg-import: schema holds books' },
  { code: EXIT_REPAIRABLE, meaning: 'verify: no corruption, but open would repair (torn tail, leftover *.tmp, unusable snapshot, idempotency runs); pg-import refuses such a directory' },
  { code: EXIT_UNBALANCED, meaning: 'verify: the log is sound, but a transaction or trial balance does not balance' },
  { code: EXIT_NOT_FOUND, meaning: 'directory missing, not a data directory, or no such book' },
  { code: EXIT_LOCKED, meaning: 'the data directory is locked by a running store (snapshot, pg-import)' },
  { code: EXIT_FAILURE, meaning: 'I/O error or unexpected failure' },
];

export class CliError extends Error {
  override readonly name = 'CliError';

  constructor(
    readonly exitCode: number,
    message: string,
  ) {
    super(message);
  }
}

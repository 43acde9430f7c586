/**
 * The shape every `talea-log` subcommand has, and the small output helpers they share.
 *
 * M1. A command declares its options for util.parseArgs and how many positionals it takes; main.ts
 *     parses and checks both before `run` is called, so `run` gets well-formed input.
 * M2. `run` resolves with the exit code (src/cli/exit-codes.ts) or throws a CliError.
 * M3. Reports go to stdout, problems with the invocation or the directory to stderr.
 */
import type { ParseArgsConfig } from 'node:util';

export type OptionValues = Record<string, string | boolean | undefined>;

export interface Command {
  readonly name: string;
  /** One line for the command list. */
  readonly summary: string;
  /** The full `--help` text. */
  readonly help: string;
  readonly options: NonNullable<ParseArgsConfig['options']>;
  readonly positionals: { readonly names: readonly string[]; readonly required: number };
  run(positionals: string[], values: OptionValues): Promise<number>;
}

/** Writes to stdout and waits when the pipe is full (dump can write a whole log). */
export async function writeOut(text: string): Promise<void> {
  if (process.stdout.write(text)) return;
  await new Promise<void>((resolve) => process.stdout.once('drain', () => resolve()));
}

export function printErr(line: string): void {
  process.stderr.write(`${line}\n`);
}

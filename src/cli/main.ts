#!/usr/bin/env node
/**
 * `talea-log`, the operator CLI (docs/cli.md): verify, inspect, dump, stats, snapshot, the
 * service commands init and serve (docs/http-service.md), pg-import, pg-export, pg-compare
 * between a data directory and a PostgreSQL schema, pg-verify of one schema and pg-migrate of
 * one schema (docs/postgres-store.md).
 *
 * E1. Every way a command can end maps to one exit code of src/cli/exit-codes.ts; a failure prints
 *     exactly one line to stderr, `talea-log <command>: <what went wrong>`.
 * E2. Arguments are parsed with util.parseArgs, strictly: unknown options, missing values and extra
 *     positionals are EXIT_USAGE before anything is read.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { StoreError } from '../core/errors.js';
import { type Command, type OptionValues } from './command.js';
import { dumpCommand } from './dump-command.js';
import { CliError, EXIT_CODES, EXIT_CORRUPT, EXIT_FAILURE, EXIT_OK, EXIT_USAGE } from './exit-codes.js';
import { initCommand } from './init-command.js';
import { inspectCommand } from './inspect-command.js';
import { pgCompareCommand } from './pg-compare-command.js';
import { pgExportCommand } from './pg-export-command.js';
import { pgImportCommand } from './pg-import-command.js';
import { pgMigrateCommand } from './pg-migrate-command.js';
import { pgVerifyCommand } from './pg-verify-command.js';
import { serveCommand } from './serve-command.js';
import { snapshotCommand } from './snapshot-command.js';
import { statsCommand } from './stats-command.js';
import { verifyCommand } from './verify-command.js';

const COMMANDS: readonly Command[] = [
  verifyCommand,
  inspectCommand,
  dumpCommand,
  statsCommand,
  snapshotCommand,
  initCommand,
  serveCommand,
  pgImportCommand,
  pgExportCommand,
  pgCompareCommand,
  pgVerifyCommand,
  pgMigrateCommand,
];

function version(): string {
  // dist/src/cli/main.js → the package root is three levels up.
  const manifest = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
  return manifest.version;
}

function topHelp(): string {
  const width = Math.max(...COMMANDS.map((command) => command.name.length));
  return [
    'Usage: talea-log <command> [arguments] [options]',
    '',
    'Operator tools for a talea-store-log data directory, the HTTP service, and import, export and',
    'compare with a PostgreSQL schema (PgStore). verify, inspect, dump, stats, pg-compare and',
    'pg-verify read without taking the lock and change nothing.',
    '',
    'Commands:',
    ...COMMANDS.map((command) => `  ${command.name.padEnd(width)}  ${command.summary}`),
    '',
    'Run "talea-log <command> --help" for the arguments and options of a command.',
    '',
    'Exit codes:',
    ...EXIT_CODES.map(({ code, meaning }) => `  ${code}  ${meaning}`),
    '',
    'Options:',
    '  -h, --help     show this help',
    '  -V, --version  show the version',
  ].join('\n');
}

async function main(argv: string[]): Promise<number> {
  const [first, ...rest] = argv;
  if (first === undefined) {
    process.stderr.write(`${topHelp()}\n`);
    return EXIT_USAGE;
  }
  if (first === '-h' || first === '--help' || first === 'help') {
    const topic = first === 'help' ? rest[0] : undefined;
    const command = COMMANDS.find((candidate) => candidate.name === topic);
    if (topic !== undefined && command === undefined) throw new CliError(EXIT_USAGE, `unknown command "${topic}"; commands: ${COMMANDS.map((c) => c.name).join(', ')}`);
    process.stdout.write(`${command?.help ?? topHelp()}\n`);
    return EXIT_OK;
  }
  if (first === '-V' || first === '--version') {
    process.stdout.write(`${version()}\n`);
    return EXIT_OK;
  }
  const command = COMMANDS.find((candidate) => candidate.name === first);
  if (command === undefined) {
    throw new CliError(EXIT_USAGE, `unknown command "${first}"; commands: ${COMMANDS.map((c) => c.name).join(', ')} (see talea-log --help)`);
  }
  return runCommand(command, rest);
}

async function runCommand(command: Command, args: string[]): Promise<number> {
  let values: OptionValues;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args,
      options: { ...command.options, help: { type: 'boolean', short: 'h' } },
      allowPositionals: true,
      strict: true,
    }) as { values: OptionValues; positionals: string[] });
  } catch (error) {
    throw new CliError(EXIT_USAGE, `${describeParseError(error)} (see talea-log ${command.name} --help)`);
  }
  if (values.help === true) {
    process.stdout.write(`${command.help}\n`);
    return EXIT_OK;
  }
  const { names, required } = command.positionals;
  const usage = names.map((name, index) => (index < required ? `<${name}>` : `[${name}]`)).join(' ');
  if (positionals.length < required) {
    throw new CliError(EXIT_USAGE, `missing <${names[positionals.length]}>; usage: talea-log ${command.name} ${usage} (see --help)`);
  }
  if (positionals.length > names.length) {
    throw new CliError(EXIT_USAGE, `unexpected argument ${JSON.stringify(positionals[names.length])}; usage: talea-log ${command.name} ${usage} (see --help)`);
  }
  return command.run(positionals, values);
}

/** util.parseArgs messages run to several sentences; keep the first, which names the option. */
function describeParseError(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  const code = (error as { code?: string }).code;
  if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
    const option = /'([^']+)'/.exec(message)?.[1];
    return option === undefined ? message.split('. ')[0]! : `unknown option ${option}`;
  }
  return message.split('\n')[0]!.split('. ')[0]!.replace(/\.$/, '');
}

const commandName = COMMANDS.some((command) => command.name === process.argv[2]) ? ` ${process.argv[2]}` : '';
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  // A reader that went away (`talea-log dump … | head`) is not a failure of the command.
  if (error.code === 'EPIPE') process.exit(process.exitCode ?? EXIT_OK);
  throw error;
});
try {
  process.exitCode = await main(process.argv.slice(2));
} catch (error) {
  if (error instanceof CliError) {
    process.stderr.write(`talea-log${commandName}: ${error.message}\n`);
    process.exitCode = error.exitCode;
  } else if (error instanceof StoreError) {
    process.stderr.write(`talea-log${commandName}: ${error.message}\n`);
    process.exitCode = error.code === 'CORRUPT' ? EXIT_CORRUPT : EXIT_FAILURE;
  } else {
    const { code, message } = error as NodeJS.ErrnoException;
    process.stderr.write(`talea-log${commandName}: ${code === undefined ? 'unexpected error' : 'I/O error'}: ${message}\n`);
    process.exitCode = EXIT_FAILURE;
  }
}

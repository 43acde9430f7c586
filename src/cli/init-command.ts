/**
 * `talea-log init`: create or open the store, apply a seed file, write an env file
 * (src/http/init.ts; the reference's `talead init`).
 *
 * Y1. `--db-url` falls back to TALEA_DB_URL (environment, then `.env`); without either it is
 *     EXIT_USAGE. `--seed` defaults to `talea.seed.toml` when that file exists.
 * Y2. A bad seed file is EXIT_USAGE with the problem in one line, before the store is touched; a
 *     conflict with the store's content (an asset registered differently) is EXIT_FAILURE.
 * Y3. It says what it did, one line per step, on stdout; re-running it is safe.
 */
import { existsSync, readFileSync } from 'node:fs';
import { isStoreError } from '../core/errors.js';
import type { Command } from './command.js';
import { CliError, EXIT_FAILURE, EXIT_LOCKED, EXIT_OK, EXIT_USAGE } from './exit-codes.js';

const DEFAULT_SEED = 'talea.seed.toml';

export const initCommand: Command = {
  name: 'init',
  summary: 'create or open a store, apply a seed file, write .env with a fresh API token',
  help: `Usage: talea-log init [--db-url URL] [--seed FILE] [--env-out FILE] [--force]

Creates or opens the store named by URL (log://<dir> or sqlite://<file>; default TALEA_DB_URL
from the environment or .env), applies a seed file of assets and accounts idempotently, and
writes an env file with TALEA_DB_URL, a fresh 32-byte hex TALEA_API_TOKEN and TALEA_BIND. An
existing env file is left untouched unless --force. Re-running it is safe.

Seed file (TOML; unknown fields are refused):
  [[assets]]
  id = "USD"
  class = "fiat"                 # or { crypto = { network = "bitcoin", native_id = "..." } }
  precision = 2
  name = "US Dollar"

  [[accounts]]
  book = "demo"
  path = "cash"
  asset = "USD"
  kind = "asset"                 # asset liability income expense equity clearing
  normal_side = "debit"          # optional
  min_balance = 0                # optional

Options:
  --db-url URL      the store (default: TALEA_DB_URL)
  --seed FILE       the seed file (default: ${DEFAULT_SEED} when it exists)
  --env-out FILE    where to write the env file (default: .env)
  --force           replace an existing env file (and its token)
  -h, --help        show this help

Exit codes: 0 done; 2 bad arguments or a bad seed file; 6 the log:// directory is locked by a
running store; 8 the seed conflicts with the store, or another failure.`,
  options: {
    'db-url': { type: 'string' },
    seed: { type: 'string' },
    'env-out': { type: 'string' },
    force: { type: 'boolean' },
  },
  positionals: { names: [], required: 0 },
  async run(_positionals, values) {
    const { initLedger, loadDotEnv } = await import('../http/index.js');
    const { SeedError } = await import('../http/init.js');
    const envOut = (values['env-out'] as string | undefined) ?? '.env';
    let dbUrl = values['db-url'] as string | undefined;
    if (dbUrl === undefined) {
      loadDotEnv();
      dbUrl = process.env.TALEA_DB_URL;
    }
    if (dbUrl === undefined || dbUrl === '') throw new CliError(EXIT_USAGE, 'no store: give --db-url log://<dir> (or sqlite://<file>), or set TALEA_DB_URL');
    let seedFile = values.seed as string | undefined;
    if (seedFile === undefined && existsSync(DEFAULT_SEED)) seedFile = DEFAULT_SEED;
    let seed: string | undefined;
    if (seedFile !== undefined) {
      try {
        seed = readFileSync(seedFile, 'utf8');
      } catch (error) {
        throw new CliError(EXIT_USAGE, `cannot read the seed file ${JSON.stringify(seedFile)}: ${(error as Error).message}`);
      }
    }
    let report;
    try {
      report = await initLedger({ dbUrl, seed, envOut, force: values.force === true });
    } catch (error) {
      if (error instanceof SeedError) throw new CliError(/already registered|neither in the seed/.test(error.message) ? EXIT_FAILURE : EXIT_USAGE, error.message);
      if (isStoreError(error, 'INVALID_ARGUMENT')) throw new CliError(EXIT_USAGE, error.message);
      if (isStoreError(error, 'IO')) {
        const code = (error.cause as NodeJS.ErrnoException | undefined)?.code;
        if (code === 'EAGAIN' || code === 'EWOULDBLOCK') throw new CliError(EXIT_LOCKED, `${error.message} (is talea-log serve running on it?)`);
      }
      if (isStoreError(error)) throw new CliError(EXIT_FAILURE, error.message);
      throw error;
    }
    const { seed: summary } = report;
    process.stdout.write(
      summary === null
        ? 'seed: no seed file found, skipped\n'
        : `seed: ${summary.assetsCreated} assets created, ${summary.assetsExisting} already present, ${summary.accountsEnsured} accounts ensured\n`,
    );
    process.stdout.write(report.env === 'written' ? `wrote ${envOut}\n` : `kept existing ${envOut} (use --force to replace it and its token)\n`);
    process.stdout.write('ready. next: talea-log serve\n');
    return EXIT_OK;
  },
};

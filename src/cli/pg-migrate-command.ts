/**
 * `talea-log pg-migrate`: applies the migrations a PgStore schema lacks (spec/postgres-store.md
 * 2.5; src/postgres/pg-migrate.ts), for stores opened with `migrate: 'verify'`.
 *
 * Q1. Exit codes as the other pg commands (pg-impex-output.ts Q1): 0 when the schema is current
 *     afterwards (whether this run applied something or not); 2 bad arguments (no URL, a malformed
 *     schema name); 8 PostgreSQL error, a migration that differs from the one applied, or a schema
 *     newer than this library can read.
 */
import type { MigrateResult } from '../postgres/pg-migrate.js';
import type { Command } from './command.js';
import { EXIT_OK } from './exit-codes.js';
import { PG_OPTIONS, pgTarget, withPgImpex } from './pg-impex-output.js';

export const pgMigrateCommand: Command = {
  name: 'pg-migrate',
  summary: 'apply the migrations a PostgreSQL schema lacks (for stores opened with migrate: verify)',
  help: `Usage: talea-log pg-migrate [--url URL] [--schema NAME]

Applies the migrations the PgStore schema lacks, as PgStore.open with migrate: 'auto' does: under
the schema's advisory lock, each missing one in order, in a transaction of its own; the schema and
its migrations table are created if missing. The checksums of the migrations already applied are
checked, and a schema migrated by a newer library is refused unless this one can read it. Safe to
run again, or while stores open the schema: it then applies nothing.

Options:
  --url URL       postgres://user:password@host:port/database (default: TALEA_PG_URL)
  --schema NAME   the PgStore schema (default: talea)
  -h, --help      show this help

Exit codes: 0 the schema is current (applied, or nothing to apply); 2 bad arguments; 8 PostgreSQL
error, a migration that differs from the one applied, or a schema too new for this library.`,
  options: { ...PG_OPTIONS },
  positionals: { names: [], required: 0 },
  async run(_positionals, values) {
    const target = pgTarget(values);
    return withPgImpex(async () => {
      const { migratePgSchema } = await import('../postgres/pg-migrate.js');
      return reportMigrate(await migratePgSchema(target));
    });
  },
};

function reportMigrate(result: MigrateResult): number {
  if (result.applied.length === 0) {
    process.stdout.write(`pg-migrate: schema ${result.schema} is current (migration ${result.version}); nothing applied\n`);
    return EXIT_OK;
  }
  const lines = result.applied.map((migration) => `applied migration ${migration.version} (${migration.name})`);
  lines.push(`pg-migrate: schema ${result.schema} is now at migration ${result.version}`);
  process.stdout.write(`${lines.join('\n')}\n`);
  return EXIT_OK;
}

/**
 * `talea-log pg-migrate`: applies the migrations a PgStore schema lacks, as `PgStore.open` with
 * `migrate: 'auto'` would, for operators who open their stores with `migrate: 'verify'`
 * (spec/postgres-store.md 1.3, 2.5).
 *
 * G1. The work is pg-schema.ts `migrate(client, schema, 'auto')`, on one connection of its own:
 *     under the schema's advisory lock, each missing migration in order in a transaction of its
 *     own, checksums of the applied ones checked, a newer schema refused unless readable (M2-M4).
 *     Running it again, or beside stores opening the schema, applies nothing twice.
 * G2. It reports the versions it applied, in order, and the schema's newest version afterwards.
 */
import assert from 'node:assert/strict';

import { connect, target, type PgTarget, type Row } from './pg-impex.js';
import { migrate, MIGRATION_NAMES, SCHEMA_VERSION } from './pg-schema.js';

export interface MigrateResult {
  schema: string;
  /** The migrations this run applied, in order; empty when the schema was current. */
  applied: Array<{ version: number; name: string }>;
  /** The newest migration recorded in the schema after the run. */
  version: number;
}

export async function migratePgSchema(options: PgTarget): Promise<MigrateResult> {
  const { url, schema } = target(options);
  const client = await connect(url);
  try {
    const { applied } = await migrate(client, schema, 'auto');
    for (let index = 1; index < applied.length; index++) assert(applied[index]! > applied[index - 1]!);
    const newest = await client.query(`SELECT max(version) AS version FROM "${schema}".schema_migrations`);
    const version = Number((newest.rows[0] as Row).version);
    // G1: 'auto' leaves no migration of this library missing.
    assert(version >= SCHEMA_VERSION, `schema ${schema} at ${version} after migrating`);
    return { schema, applied: applied.map((applied) => ({ version: applied, name: MIGRATION_NAMES.get(applied) ?? '?' })), version };
  } finally {
    await client.end().catch(() => undefined);
  }
}

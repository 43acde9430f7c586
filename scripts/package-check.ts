/**
 * The package as a user gets it: `npm pack`, installed into an empty project, then used through
 * its public entry points only. Needs the npm registry (the package's dependencies are installed
 * from it), so it runs as `npm run package-check`, not inside `npm test`.
 *
 * K1. Without better-sqlite3 installed, the package root imports and opens `memory:` and `log://`
 *     stores (so the root never loads the optional peer: the import would fail), and
 *     `openStore('sqlite://…')` rejects IO naming what to install.
 * K2. With better-sqlite3 added, `import { SqliteStore } from 'talea-store-log/sqlite'` and
 *     `openStore('sqlite://…')` commit and read back; `npx talea-log --help` runs.
 * K3. Without pg, the package root and `talea-store-log/postgres` import (the root never loads
 *     pg) and `openStore('postgres://…')` rejects IO naming `npm install pg`. With pg added,
 *     `PgStore.open` and `openStore('postgres://…')` commit and read back on a real server: the
 *     one in TALEA_PG_URL, else an embedded cluster started here from this repository's
 *     development dependency (the empty project has none), each check in a fresh database.
 *
 *   node dist/scripts/package-check.js [--keep]
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { freshDatabase, pgServer } from '../test/support/pg-server.js';
import { parseArgs } from './args.js';

const packageRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

function run(command: string, args: string[], cwd: string): string {
  process.stdout.write(`$ ${command} ${args.join(' ')}\n`);
  return execFileSync(command, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
}

/** Commits one transfer and reads it back; shared by both checks. */
const LEDGER_ROUND_TRIP = `
async function roundTrip(store) {
  await store.registerAsset({ id: 'USD', class: 'fiat', precision: 2, name: 'US dollar' });
  await store.openAccount({ id: { book: 'shop', path: 'cash' }, asset: 'USD', kind: 'asset' }, { normal_side: 'debit', min_balance: null });
  await store.openAccount({ id: { book: 'shop', path: 'sales' }, asset: 'USD', kind: 'income' }, { normal_side: 'credit', min_balance: null });
  const committed = await store.commit({
    id: crypto.randomUUID(), book: 'shop', idempotency_key: 'order-1', external_refs: [], metadata: null,
    occurred_at: new Date().toISOString(),
    postings: [
      { account: { book: 'shop', path: 'cash' }, amount: { minor: 2n ** 53n + 1n, asset: 'USD' }, direction: 'debit' },
      { account: { book: 'shop', path: 'sales' }, amount: { minor: 2n ** 53n + 1n, asset: 'USD' }, direction: 'credit' },
    ],
  });
  const balance = await store.balance({ book: 'shop', path: 'cash' });
  if (committed.seq !== 3 || balance.amount.minor !== 2n ** 53n + 1n) throw new Error('round trip failed: ' + JSON.stringify({ seq: committed.seq, minor: String(balance.amount.minor) }));
  await store.close();
}
`;

const WITHOUT_SQLITE = `
import assert from 'node:assert/strict';
import { openStore, LogStore, MemoryStore, isStoreError } from 'talea-store-log';
${LEDGER_ROUND_TRIP}
await roundTrip(await openStore('memory:'));
await roundTrip(await openStore('log://./data-log'));
assert.ok(new MemoryStore() && LogStore);
await assert.rejects(openStore('sqlite://./ledger.db'), (error) => isStoreError(error, 'IO') && /npm install better-sqlite3/.test(error.message));
await assert.rejects(openStore('mysql://x'), (error) => isStoreError(error, 'INVALID_ARGUMENT') && /"mysql:"/.test(error.message));
await assert.rejects(openStore('postgres://talea@127.0.0.1:1/ledger'), (error) => isStoreError(error, 'IO') && /npm install pg/.test(error.message));
const postgresModule = await import('talea-store-log/postgres');
assert.equal(typeof postgresModule.PgStore.open, 'function');
const sqliteModule = await import('talea-store-log/sqlite');
assert.equal(typeof sqliteModule.SqliteStore.open, 'function');
console.log('K1 ok');
`;

const WITH_SQLITE = `
import { openStore } from 'talea-store-log';
import { SqliteStore } from 'talea-store-log/sqlite';
${LEDGER_ROUND_TRIP}
await roundTrip(await SqliteStore.open('./direct/ledger.db'));
await roundTrip(await openStore('sqlite://./by-url/ledger.db'));
console.log('K2 ok');
`;

const WITH_PG = `
import { openStore } from 'talea-store-log';
import { PgStore } from 'talea-store-log/postgres';
${LEDGER_ROUND_TRIP}
await roundTrip(await PgStore.open({ url: process.env.CHECK_PG_DIRECT, schema: 'direct' }));
await roundTrip(await openStore(process.env.CHECK_PG_URL));
console.log('K3 ok');
`;

/** K3 with pg installed: a server, two fresh databases, the script, then everything dropped. */
async function checkWithPg(project: string): Promise<void> {
  const server = await pgServer();
  const databases: Array<{ url: string; drop(): Promise<void> }> = [];
  try {
    databases.push(await freshDatabase(server.url, 'package_check_direct'), await freshDatabase(server.url, 'package_check_url'));
    fs.writeFileSync(path.join(project, 'with-pg.mjs'), WITH_PG);
    process.stdout.write('$ node with-pg.mjs\n');
    process.stdout.write(
      execFileSync('node', ['with-pg.mjs'], {
        cwd: project,
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'inherit'],
        env: { ...process.env, CHECK_PG_DIRECT: databases[0]!.url, CHECK_PG_URL: databases[1]!.url },
      }),
    );
  } finally {
    for (const database of databases) await database.drop().catch(() => undefined);
    await server.stop();
  }
}

async function main(argv: string[]): Promise<void> {
  const args = parseArgs(argv);
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'talea-package-check-'));
  try {
    const tarball = run('npm', ['pack', '--silent', '--pack-destination', work], packageRoot).trim().split('\n').pop()!;
    const project = path.join(work, 'project');
    fs.mkdirSync(project);
    fs.writeFileSync(path.join(project, 'package.json'), JSON.stringify({ name: 'package-check', private: true, type: 'module' }));
    run('npm', ['install', '--no-audit', '--no-fund', path.join(work, tarball)], project);
    if (fs.existsSync(path.join(project, 'node_modules', 'better-sqlite3'))) throw new Error('better-sqlite3 was installed although it is an optional peer');
    fs.writeFileSync(path.join(project, 'without-sqlite.mjs'), WITHOUT_SQLITE);
    process.stdout.write(run('node', ['without-sqlite.mjs'], project));
    run('npm', ['install', '--no-audit', '--no-fund', 'better-sqlite3'], project);
    fs.writeFileSync(path.join(project, 'with-sqlite.mjs'), WITH_SQLITE);
    process.stdout.write(run('node', ['with-sqlite.mjs'], project));
    const help = run('npx', ['--no-install', 'talea-log', '--help'], project);
    if (!/talea-log/.test(help)) throw new Error('talea-log --help printed no usage');
    if (fs.existsSync(path.join(project, 'node_modules', 'pg'))) throw new Error('pg was installed although it is an optional peer');
    run('npm', ['install', '--no-audit', '--no-fund', 'pg'], project);
    await checkWithPg(project);
    process.stdout.write('package check: OK\n');
  } finally {
    if (args.flag('keep')) process.stdout.write(`kept ${work}\n`);
    else fs.rmSync(work, { recursive: true, force: true });
  }
}

await main(process.argv.slice(2));

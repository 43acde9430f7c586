/**
 * Runs a command with a PostgreSQL server for it (spec/postgres-store.md 7.1):
 *
 *   node dist/scripts/with-postgres.js node --test …
 *
 * W1. With TALEA_PG_URL set, that server is used and nothing is started.
 * W2. Otherwise one embedded cluster is started (test/support/pg-server.ts: a temporary directory,
 *     127.0.0.1, a free port) and its URL passed to the command as TALEA_PG_URL.
 * W3. The cluster is stopped, and its directory removed, whatever the command did; the exit code is
 *     the command's. SIGINT and SIGTERM are passed on to the command.
 */
import { spawn } from 'node:child_process';

import { startEmbeddedPostgres, type PgServer } from '../test/support/pg-server.js';

const [command, ...args] = process.argv.slice(2);
if (command === undefined) {
  console.error('usage: with-postgres <command> [arguments…]');
  process.exit(2);
}

let server: PgServer | null = null;
let url = process.env.TALEA_PG_URL ?? '';
if (url === '') {
  const started = Date.now();
  server = await startEmbeddedPostgres();
  url = server.url;
  console.error(`with-postgres: embedded PostgreSQL started in ${Date.now() - started} ms`);
}

let code = 1;
try {
  code = await new Promise<number>((resolve) => {
    const child = spawn(command, args, { stdio: 'inherit', env: { ...process.env, TALEA_PG_URL: url } });
    const forward = (signal: NodeJS.Signals) => child.kill(signal);
    process.on('SIGINT', forward);
    process.on('SIGTERM', forward);
    child.on('error', (error) => {
      console.error(`with-postgres: cannot run ${command}: ${error.message}`);
      resolve(127);
    });
    child.on('exit', (exitCode, signal) => resolve(exitCode ?? (signal === null ? 1 : 128)));
  });
} finally {
  await server?.stop();
}
process.exit(code);

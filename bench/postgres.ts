/**
 * The `postgres` contender's server (spec/postgres-store.md 9.1): where it runs, what it is set to,
 * a fresh database per scenario per round, and the CPU time of its processes.
 *
 * G1. `--pg-url` or `TALEA_PG_URL` names an external server, used as it is. Otherwise the bench
 *     starts one embedded cluster with its data under the run's `--dir` (the same file system as the
 *     other contenders, H1), changed from the defaults only by `max_connections=200` and
 *     `shared_buffers=256MB`; the driver stops it at the end, whatever happened.
 * G2. Equal durability: `fsync`, `full_page_writes` and `synchronous_commit` are read back from the
 *     server and printed; a run whose server has any of them off fails and is never published
 *     (PgStore also refuses fsync or full_page_writes off, and runs its sessions at
 *     `synchronous_commit=on` at least).
 * G3. Server CPU is read from /proc: the postmaster (found as the parent of a backend,
 *     `pg_backend_pid()`) and every live child of it, user + system, plus the postmaster's reaped
 *     children, so a backend that exits inside a window keeps its time. Null when the server is not
 *     on this machine.
 */
import fs from 'node:fs';

import type pg from 'pg';

import { startEmbeddedPostgres } from '../test/support/pg-server.js';
import { clockTicks, procStat } from './proc-stat.js';

/** The only settings the bench changes from the server's defaults (G1). */
export const BENCH_PG_SETTINGS = ['max_connections=200', 'shared_buffers=256MB'];

export interface PgSettings {
  server_version: string;
  fsync: string;
  synchronous_commit: string;
  full_page_writes: string;
  max_connections: string;
  shared_buffers: string;
}

export interface BenchPgServer {
  /** A URL of the server's maintenance database. */
  url: string;
  embedded: boolean;
  stop(): Promise<void>;
}

async function driver(): Promise<typeof pg> {
  const module = (await import('pg')) as { default?: typeof pg };
  return (module.default ?? module) as typeof pg;
}

/** G1: the external server, or an embedded cluster under `root`. */
export async function startBenchPostgres(root: string, url: string | undefined): Promise<BenchPgServer> {
  if (url !== undefined && url !== '') return { url, embedded: false, stop: async () => {} };
  const server = await startEmbeddedPostgres({ parent: root, settings: BENCH_PG_SETTINGS });
  return { url: server.url, embedded: true, stop: () => server.stop() };
}

async function withClient<T>(url: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const { Client } = await driver();
  const client = new Client({ connectionString: url });
  client.on('error', () => undefined);
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** G2: the server's settings, read back. */
export async function readPgSettings(url: string): Promise<PgSettings> {
  return withClient(url, async (client) => {
    const settings: Record<string, string> = {};
    for (const name of ['server_version', 'fsync', 'synchronous_commit', 'full_page_writes', 'max_connections', 'shared_buffers']) {
      const result = await client.query(`SHOW ${name}`);
      settings[name] = String((result.rows[0] as Record<string, unknown>)[name]);
    }
    return settings as unknown as PgSettings;
  });
}

/** G2: why these settings are not equal durability, or null. */
export function durabilityProblem(settings: Pick<PgSettings, 'fsync' | 'synchronous_commit' | 'full_page_writes'>): string | null {
  const off: string[] = [];
  if (settings.fsync !== 'on') off.push(`fsync=${settings.fsync}`);
  if (settings.full_page_writes !== 'on') off.push(`full_page_writes=${settings.full_page_writes}`);
  if (!['on', 'remote_write', 'remote_apply'].includes(settings.synchronous_commit)) off.push(`synchronous_commit=${settings.synchronous_commit}`);
  return off.length === 0 ? null : `PostgreSQL durability is not equal to the other contenders': ${off.join(', ')}`;
}

/** A database name from free text: lower case, [a-z0-9_], at most 63 bytes. */
export function databaseNameOf(text: string): string {
  return `tb_${text.toLowerCase().replace(/[^a-z0-9_]/g, '_')}`.slice(0, 63);
}

/** The URL of database `name` on the server of `serverUrl`. */
export function databaseUrl(serverUrl: string, name: string): string {
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

/** Creates database `name` afresh (dropping a leftover of the same name) and returns its URL. */
export async function createDatabase(serverUrl: string, name: string): Promise<string> {
  await withClient(serverUrl, async (client) => {
    await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await client.query(`CREATE DATABASE ${name} ENCODING 'UTF8' TEMPLATE template0`);
  });
  return databaseUrl(serverUrl, name);
}

export async function dropDatabase(serverUrl: string, name: string): Promise<void> {
  await withClient(serverUrl, (client) => client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
}

/** G3: CPU µs of the postmaster and its children so far, or null if they are not visible here. */
export type ServerCpuReader = () => number | null;

export function serverCpuReaderOf(postmaster: number): ServerCpuReader {
  const usPerTick = 1e6 / clockTicks();
  return () => {
    const root = procStat(postmaster);
    if (root === null) return null;
    let ticks = root.own + root.children;
    for (const entry of fs.readdirSync('/proc')) {
      if (entry.charCodeAt(0) < 48 || entry.charCodeAt(0) > 57) continue; // not a pid
      const stat = procStat(entry);
      if (stat !== null && stat.ppid === postmaster) ticks += stat.own;
    }
    return ticks * usPerTick;
  };
}

/** G3: the postmaster of the server at `url`, if it runs on this machine, else null. */
export async function findPostmaster(url: string): Promise<number | null> {
  return withClient(url, async (client) => {
    const backend = Number((((await client.query('SELECT pg_backend_pid() AS pid')).rows[0]) as { pid: unknown }).pid);
    const stat = procStat(backend);
    // Another machine's pid may exist here by chance: its parent must also have our backend's name.
    if (stat === null) return null;
    const comm = fs.readFileSync(`/proc/${backend}/comm`, 'utf8').trim();
    return comm.startsWith('postgres') ? stat.ppid : null;
  });
}

/** The version of the `pg` client package the bench loads. */
export function pgClientVersion(): string {
  try {
    return (JSON.parse(fs.readFileSync('node_modules/pg/package.json', 'utf8')) as { version: string }).version;
  } catch {
    return '?';
  }
}

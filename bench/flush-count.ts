/**
 * A fixed workload for counting a contender's flush calls (spec/bench.md, section 8, rule 1):
 * seed one book, then `count` commits one after another (concurrency 1), then close. Run it under
 *
 *   strace -f -c -e trace=fsync,fdatasync,pwrite64,write,writev node dist/bench/flush-count.js log 1000
 *   strace -f -c -e trace=fsync,fdatasync,pwrite64,write,writev node dist/bench/flush-count.js sqlite 1000
 *   strace -f -c -e trace=fsync,fdatasync,pwrite64 node dist/bench/flush-count.js postgres 1000
 *
 * and compare the fsync + fdatasync count with the number of acknowledged commits: equal
 * durability means at least one flush per acknowledged commit at concurrency 1. For postgres the
 * embedded cluster is started here, a child process that `-f` follows (with TALEA_PG_URL set, that
 * server is used instead and strace sees only the client).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { openStore, type ContenderName } from './contenders.js';
import { BENCH_PG_SETTINGS, createDatabase, readPgSettings, startBenchPostgres } from './postgres.js';
import { benchBook, DraftFactory, seedBooks } from './workload.js';

async function main(argv: string[]): Promise<void> {
  const contender = argv[0] as ContenderName;
  const count = Number(argv[1] ?? 1000);
  if ((contender !== 'log' && contender !== 'sqlite' && contender !== 'postgres') || !Number.isSafeInteger(count) || count < 1) {
    throw new Error('usage: flush-count.js log|sqlite|postgres <commits>');
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `talea-flush-${contender}-`));
  if (contender === 'postgres') fs.chmodSync(dir, 0o755); // the cluster runs as the `postgres` user when we are root
  const server = contender === 'postgres' ? await startBenchPostgres(dir, process.env.TALEA_PG_URL) : null;
  let store;
  try {
    if (server !== null) {
      const settings = await readPgSettings(server.url);
      process.stdout.write(`postgres ${settings.server_version} (${server.embedded ? BENCH_PG_SETTINGS.join(', ') : 'external'}): ` +
        `fsync=${settings.fsync}, synchronous_commit=${settings.synchronous_commit}, full_page_writes=${settings.full_page_writes}\n`);
    }
    store = await openStore(contender, server === null ? dir : await createDatabase(server.url, 'flush_count'), {});
  } catch (error) {
    await server?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  const book = benchBook(0);
  try {
    await seedBooks(store, [book]);
    const drafts = new DraftFactory('flush-count', 'flush-count', 'c1', 2);
    for (let n = 0; n < count; n++) await store.commit(drafts.draft(book, 0, n));
  } finally {
    await store.close();
    await server?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
  process.stdout.write(`${contender}: ${count} commits acknowledged (plus 1 asset and 2 account events of seeding)\n`);
}

main(process.argv.slice(2)).catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});
